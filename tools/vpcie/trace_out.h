/* SPDX-License-Identifier: MIT */
/*
 * `vpcie trace` output formats (docs/trace.md): each writes a merged,
 * time-ordered trace set to f and returns 0, or -errno if writing failed.
 */
#ifndef VPCIE_TOOL_TRACE_OUT_H
#define VPCIE_TOOL_TRACE_OUT_H

#include <stdio.h>

#include <vpcie/trace.h>

/* pcap link-layer type of the records: LINKTYPE_USER0 (docs/trace.md). */
#define TRACE_PCAP_LINKTYPE 147u
/* Bytes of the pseudo-header that starts every pcap packet. */
#define TRACE_PCAP_PSEUDO 16u

int trace_write_text(FILE *f, const struct vpcie_trace_set *set);
int trace_write_json(FILE *f, const struct vpcie_trace_set *set);
int trace_write_pcap(FILE *f, const struct vpcie_trace_set *set);

/* "device"/"host". */
const char *trace_side_name(unsigned side);
/* "BAR0".."BAR5", "ROM", "config", "VGA", or "region N" (buf: 24 bytes). */
const char *trace_region_name(unsigned index, char *buf);
/* "INTx", "MSI", "MSI-X" or "irq N" (buf: 24 bytes). */
const char *trace_irq_name(unsigned index, char *buf);

#endif
