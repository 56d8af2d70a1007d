/* SPDX-License-Identifier: MIT */
/* The trace file's chunk header and byte order (docs/trace.md); not installed. */
#ifndef VPCIE_TRACE_FMT_H
#define VPCIE_TRACE_FMT_H

#include <endian.h>
#include <stdint.h>

#include <vpcie/trace.h>

/* Chunk header, as stored (little-endian, 48 bytes, no padding). */
struct trace_chunk_hdr {
	char magic[8];         /* VPCIE_TRACE_MAGIC */
	uint16_t version;      /* VPCIE_TRACE_VERSION */
	uint16_t hdr_size;     /* VPCIE_TRACE_HDR_SIZE */
	uint16_t rec_size;     /* VPCIE_TRACE_REC_SIZE */
	uint8_t side;          /* enum vpcie_trace_side */
	uint8_t clock;         /* VPCIE_TRACE_CLOCK_MONOTONIC */
	uint32_t pid;
	uint32_t nrec;         /* records that follow */
	char name[VPCIE_TRACE_NAME_MAX]; /* program, NUL-padded */
	uint64_t reserved;     /* 0 */
};

_Static_assert(sizeof(struct trace_chunk_hdr) == VPCIE_TRACE_HDR_SIZE, "chunk header size");
_Static_assert(sizeof(struct vpcie_trace_rec) == VPCIE_TRACE_REC_SIZE, "record size");

/* Between host order and the file's little-endian order (its own inverse). */
static inline void trace_rec_swap(struct vpcie_trace_rec *r)
{
#if __BYTE_ORDER != __LITTLE_ENDIAN
	r->ts_ns = htole64(r->ts_ns);
	r->addr = htole64(r->addr);
	r->len = htole64(r->len);
	r->dur_ns = htole32(r->dur_ns);
	r->type = htole16(r->type);
	r->flags = htole16(r->flags);
	r->index = htole32(r->index);
	r->status = (int32_t)htole32((uint32_t)r->status);
	r->aux = htole32(r->aux);
#else
	(void)r;
#endif
}

static inline void trace_hdr_swap(struct trace_chunk_hdr *h)
{
#if __BYTE_ORDER != __LITTLE_ENDIAN
	h->version = htole16(h->version);
	h->hdr_size = htole16(h->hdr_size);
	h->rec_size = htole16(h->rec_size);
	h->pid = htole32(h->pid);
	h->nrec = htole32(h->nrec);
	h->reserved = htole64(h->reserved);
#else
	(void)h;
#endif
}

#endif
