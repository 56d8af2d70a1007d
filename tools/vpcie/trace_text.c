/* SPDX-License-Identifier: MIT */
/* `vpcie trace --text`: one readable line per transaction. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <linux/vfio.h>

#include "pciregs.h"
#include "trace_out.h"

/* Little-endian value of the first n (<= 8) data bytes. */
static uint64_t data_value(const struct vpcie_trace_rec *r, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = n; i-- > 0;)
		v = v << 8 | r->data[i];
	return v;
}

/* A record's text field, printable and terminated. */
static void rec_text(const struct vpcie_trace_rec *r, char *out)
{
	unsigned i;

	for (i = 0; i < VPCIE_TRACE_TEXT_MAX && r->data[i]; i++)
		out[i] = r->data[i] >= 0x20 && r->data[i] < 0x7f ? (char)r->data[i] : '?';
	out[i] = 0;
}

static void access_line(FILE *f, const struct vpcie_trace_rec *r)
{
	unsigned n = r->len < 8 ? (unsigned)r->len : 8;
	char b[24];

	fprintf(f, "%s%s %s+0x%" PRIx64 " len %" PRIu64, r->flags & VPCIE_TRACE_F_WRITE ? "W" : "R",
		r->flags & VPCIE_TRACE_F_POSTED ? " posted" : "", trace_region_name(r->index, b),
		r->addr, r->len);
	if (r->index == VFIO_PCI_CONFIG_REGION_INDEX && r->addr < 0x40) {
		const struct pcireg *reg = pcireg_at((unsigned)r->addr, PCIREG_HDR_NORMAL);

		if (reg)
			fprintf(f, " (%s%s)", reg->name, reg->offset == r->addr ? "" : "+");
	}
	if (r->status == 0 && n)
		fprintf(f, " = 0x%0*" PRIx64 "%s", (int)n * 2, data_value(r, n),
			r->len > 8 ? "..." : "");
	fprintf(f, " via %s", r->flags & VPCIE_TRACE_F_RING   ? "ring"
			      : r->flags & VPCIE_TRACE_F_MMAP ? "mmap"
							      : "message");
}

static void rec_line(FILE *f, const struct vpcie_trace_set *set, const struct vpcie_trace_ev *e)
{
	const struct vpcie_trace_rec *r = &e->rec;
	const struct vpcie_trace_src *s = &set->srcs[e->src];
	char b[24], text[VPCIE_TRACE_TEXT_MAX + 1];

	fprintf(f, "%" PRIu64 ".%09" PRIu64 " %-6s %s[%" PRIu32 "] %-10s ", r->ts_ns / 1000000000u,
		r->ts_ns % 1000000000u, trace_side_name(s->side), s->name[0] ? s->name : "?", s->pid,
		vpcie_trace_type_name(r->type));
	switch (r->type) {
	case VPCIE_TRACE_ACCESS:
		access_line(f, r);
		break;
	case VPCIE_TRACE_POST_BATCH:
		fprintf(f, "%" PRIu32 " posted writes, %" PRIu64 " bytes in one send", r->aux, r->len);
		break;
	case VPCIE_TRACE_DMA:
		fprintf(f, "%s 0x%" PRIx64 " len %" PRIu64 " via %s",
			r->flags & VPCIE_TRACE_F_WRITE ? "write to host" : "read from host", r->addr,
			r->len, r->flags & VPCIE_TRACE_F_MSG ? "message" : "shared memory");
		break;
	case VPCIE_TRACE_IRQ_RAISE:
		fprintf(f, "%s vector %" PRIu64 "%s", trace_irq_name(r->index, b), r->addr,
			r->flags & VPCIE_TRACE_F_PENDING ? " masked: pending" : "");
		break;
	case VPCIE_TRACE_IRQ:
		fprintf(f, "%s vector %" PRIu64 " %s%s", trace_irq_name(r->index, b), r->addr,
			s->side == VPCIE_TRACE_SIDE_DEVICE ? "sent" : "received",
			r->flags & VPCIE_TRACE_F_RING ? " (ring notice)" : "");
		if (s->side == VPCIE_TRACE_SIDE_HOST)
			fprintf(f, " x%" PRIu64, r->len);
		break;
	case VPCIE_TRACE_IRQ_SET:
		fprintf(f, "%s start %" PRIu64 " count %" PRIu64 " flags 0x%" PRIx32,
			trace_irq_name(r->index, b), r->addr, r->len, r->aux);
		break;
	case VPCIE_TRACE_RESET:
		fputs(r->aux ? "function level reset" : "device reset", f);
		break;
	case VPCIE_TRACE_CONNECT:
		fputs("client connected", f);
		break;
	case VPCIE_TRACE_DISCONNECT:
	case VPCIE_TRACE_FAULT:
		rec_text(r, text);
		if (r->type == VPCIE_TRACE_FAULT)
			fprintf(f, "region %" PRIu32 " 0x%" PRIx64 ": ", r->index, r->addr);
		fputs(text, f);
		break;
	}
	if (r->status)
		fprintf(f, " -> error %" PRId32 " (%s)", r->status,
			r->status < 0 && r->status > -4096 ? strerror(-r->status) : "?");
	fprintf(f, " [%" PRIu32 ".%03" PRIu32 " us]\n", r->dur_ns / 1000, r->dur_ns % 1000);
}

int trace_write_text(FILE *f, const struct vpcie_trace_set *set)
{
	for (size_t i = 0; i < set->nevs; i++)
		rec_line(f, set, &set->evs[i]);
	return ferror(f) ? -EIO : 0;
}
