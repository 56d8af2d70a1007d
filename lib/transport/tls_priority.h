/* SPDX-License-Identifier: MIT */
/* The GnuTLS priority string of vpcie's TLS streams (lib/transport/tls.c),
 * shared with the benchmark's bare-TLS floors (tools/vpcie/bench_floor_net.c)
 * so that they negotiate exactly what the runtime does. */
#ifndef VPCIE_TLS_PRIORITY_H
#define VPCIE_TLS_PRIORITY_H

/* TLS 1.3 only, with a PSK (plain or with (EC)DHE for forward secrecy). */
#define VPCIE_TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+ECDHE-PSK:+DHE-PSK:+PSK"
/* Largest TLS record payload: the runtime sends at most this per record. */
#define VPCIE_TLS_RECORD 16384

#endif
