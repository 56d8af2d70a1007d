/* SPDX-License-Identifier: MIT */
/* The GnuTLS priority string of vpcie's TLS streams (lib/transport/tls.c),
 * shared with the benchmark's bare-TLS floors (tools/vpcie/bench_floor_net.c)
 * so that they negotiate exactly what the runtime does. */
#ifndef VPCIE_TLS_PRIORITY_H
#define VPCIE_TLS_PRIORITY_H

/*
 * TLS 1.3 only, with a PSK (plain or with (EC)DHE for forward secrecy).
 * AES-GCM first: with "NORMAL" alone GnuTLS negotiated CHACHA20-POLY1305,
 * which this project's 2-vCPU VMs run at ~120 MB/s against 1.85 GB/s for
 * AES-128-GCM with AES-NI (`gnutls-cli --benchmark-tls-ciphers`); TLS DMA
 * over TCP went from ~50 to ~400 MB/s (`vpcie bench --only tls.dma`).
 * CHACHA20-POLY1305 stays in the list, so older peers still agree.
 */
#define VPCIE_TLS_PRIORITY \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+ECDHE-PSK:+DHE-PSK:+PSK:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305"
/* Largest TLS record payload: the runtime sends at most this per record. */
#define VPCIE_TLS_RECORD 16384

#endif
