/* SPDX-License-Identifier: MIT */
/*
 * `vpcie trace --pcap`: a pcap file (nanosecond timestamps, link type
 * LINKTYPE_USER0) with one packet per record, laid out in docs/trace.md: a
 * 16-byte pseudo-header (who, what, how long), then a vfio-user message
 * header and body - REGION_READ/WRITE, DMA_READ/WRITE, SET_IRQS,
 * DEVICE_RESET as the vfio-user spec lays them out; records vfio-user has
 * no message for (interrupts, posted batches, connection, faults) as
 * command 0 with a vpcie body. tools/wireshark/vpcie.lua decodes it.
 */
#include <errno.h>
#include <string.h>

#include <vpcie/protocol.h>

#include "trace_out.h"

#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_SNAPLEN 256u

struct pkt {
	uint8_t b[PCAP_SNAPLEN];
	size_t n;
};

static void put8(struct pkt *p, uint8_t v) { p->b[p->n++] = v; }
static void put16(struct pkt *p, uint16_t v) { put8(p, (uint8_t)v); put8(p, (uint8_t)(v >> 8)); }
static void put32(struct pkt *p, uint32_t v) { put16(p, (uint16_t)v); put16(p, (uint16_t)(v >> 16)); }
static void put64(struct pkt *p, uint64_t v) { put32(p, (uint32_t)v); put32(p, (uint32_t)(v >> 32)); }
static void putn(struct pkt *p, const void *d, size_t n) { memcpy(p->b + p->n, d, n); p->n += n; }

static void write32(FILE *f, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	fwrite(b, 1, 4, f);
}

static unsigned command_of(const struct vpcie_trace_rec *r)
{
	switch (r->type) {
	case VPCIE_TRACE_ACCESS:
		return r->flags & VPCIE_TRACE_F_WRITE ? VPCIE_CMD_REGION_WRITE : VPCIE_CMD_REGION_READ;
	case VPCIE_TRACE_DMA:
		return r->flags & VPCIE_TRACE_F_WRITE ? VPCIE_CMD_DMA_WRITE : VPCIE_CMD_DMA_READ;
	case VPCIE_TRACE_IRQ_SET:
		return VPCIE_CMD_DEVICE_SET_IRQS;
	case VPCIE_TRACE_RESET:
		return VPCIE_CMD_DEVICE_RESET;
	default:
		return 0;
	}
}

static void encode(struct pkt *p, const struct vpcie_trace_set *set, size_t seq)
{
	const struct vpcie_trace_ev *e = &set->evs[seq];
	const struct vpcie_trace_rec *r = &e->rec;
	unsigned cmd = command_of(r);
	size_t size_at;
	uint32_t flags = VPCIE_MSGF_COMMAND;

	/* Pseudo-header. */
	put8(p, VPCIE_TRACE_VERSION);
	put8(p, set->srcs[e->src].side);
	put16(p, r->type);
	put32(p, set->srcs[e->src].pid);
	put16(p, r->flags);
	put16(p, 0);
	put32(p, r->dur_ns);
	/* vfio-user header: id, command, size, flags, error. */
	if (r->flags & VPCIE_TRACE_F_POSTED)
		flags |= VPCIE_MSGF_NO_REPLY;
	if (r->status)
		flags |= VPCIE_MSGF_ERROR;
	put16(p, (uint16_t)seq);
	put16(p, (uint16_t)cmd);
	size_at = p->n;
	put32(p, 0);
	put32(p, flags);
	put32(p, r->status < 0 && r->status > -4096 ? (uint32_t)-r->status : r->status ? 5 : 0);
	switch (cmd) {
	case VPCIE_CMD_REGION_READ:
	case VPCIE_CMD_REGION_WRITE:
		put64(p, r->addr);
		put32(p, r->index);
		put32(p, r->len > UINT32_MAX ? UINT32_MAX : (uint32_t)r->len);
		if (r->status == 0)
			putn(p, r->data, r->len < 8 ? (size_t)r->len : 8);
		break;
	case VPCIE_CMD_DMA_READ:
	case VPCIE_CMD_DMA_WRITE:
		put64(p, r->addr);
		put64(p, r->len);
		break;
	case VPCIE_CMD_DEVICE_SET_IRQS:
		put32(p, 20);              /* argsz */
		put32(p, r->aux);          /* flags */
		put32(p, r->index);
		put32(p, (uint32_t)r->addr); /* start */
		put32(p, (uint32_t)r->len);  /* count */
		break;
	case VPCIE_CMD_DEVICE_RESET:
		break;
	default:
		put32(p, r->index);
		put32(p, r->aux);
		put64(p, r->addr);
		put64(p, r->len);
		putn(p, r->data, VPCIE_TRACE_TEXT_MAX);
		break;
	}
	/* The vfio-user size counts its header and body. */
	uint32_t size = (uint32_t)(p->n - TRACE_PCAP_PSEUDO);

	p->b[size_at] = (uint8_t)size;
	p->b[size_at + 1] = (uint8_t)(size >> 8);
	p->b[size_at + 2] = (uint8_t)(size >> 16);
	p->b[size_at + 3] = (uint8_t)(size >> 24);
}

int trace_write_pcap(FILE *f, const struct vpcie_trace_set *set)
{
	/* Global header: magic, version 2.4, thiszone, sigfigs, snaplen, linktype. */
	write32(f, PCAP_MAGIC_NS);
	write32(f, 2u | 4u << 16);
	write32(f, 0);
	write32(f, 0);
	write32(f, PCAP_SNAPLEN);
	write32(f, TRACE_PCAP_LINKTYPE);
	for (size_t i = 0; i < set->nevs; i++) {
		struct pkt p = {.n = 0};
		uint64_t ts = set->evs[i].rec.ts_ns;

		encode(&p, set, i);
		write32(f, (uint32_t)(ts / 1000000000u));
		write32(f, (uint32_t)(ts % 1000000000u));
		write32(f, (uint32_t)p.n);
		write32(f, (uint32_t)p.n);
		fwrite(p.b, 1, p.n, f);
	}
	return ferror(f) ? -EIO : 0;
}
