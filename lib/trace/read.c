/* SPDX-License-Identifier: MIT */
/* Reading traces: checked parsing of chunks, merging by time (vpcie/trace.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"

static const char *const type_names[] = {
	[VPCIE_TRACE_ACCESS] = "ACCESS",       [VPCIE_TRACE_POST_BATCH] = "POST_BATCH",
	[VPCIE_TRACE_DMA] = "DMA",             [VPCIE_TRACE_IRQ_RAISE] = "IRQ_RAISE",
	[VPCIE_TRACE_IRQ] = "IRQ",             [VPCIE_TRACE_IRQ_SET] = "IRQ_SET",
	[VPCIE_TRACE_RESET] = "RESET",         [VPCIE_TRACE_CONNECT] = "CONNECT",
	[VPCIE_TRACE_DISCONNECT] = "DISCONNECT", [VPCIE_TRACE_FAULT] = "FAULT",
};

const char *vpcie_trace_type_name(unsigned type)
{
	return type >= 1 && type <= VPCIE_TRACE_TYPE_MAX ? type_names[type] : "?";
}

static int fail(char *err, size_t errlen, size_t off, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "offset %zu: %s", off, what);
	return -EPROTO;
}

static int check_hdr(const struct trace_chunk_hdr *h, size_t off, char *err, size_t errlen)
{
	if (memcmp(h->magic, VPCIE_TRACE_MAGIC, 8))
		return fail(err, errlen, off, "not a vpcie trace chunk (bad magic)");
	if (h->version != VPCIE_TRACE_VERSION)
		return fail(err, errlen, off, "unsupported trace version");
	if (h->hdr_size != VPCIE_TRACE_HDR_SIZE || h->rec_size != VPCIE_TRACE_REC_SIZE)
		return fail(err, errlen, off, "unexpected header or record size");
	if (h->side != VPCIE_TRACE_SIDE_DEVICE && h->side != VPCIE_TRACE_SIDE_HOST)
		return fail(err, errlen, off, "unknown side");
	if (h->clock != VPCIE_TRACE_CLOCK_MONOTONIC)
		return fail(err, errlen, off, "unknown clock");
	if (h->reserved)
		return fail(err, errlen, off, "reserved field not zero");
	return 0;
}

static int check_rec(const struct vpcie_trace_rec *r, size_t off, char *err, size_t errlen)
{
	if (r->type < 1 || r->type > VPCIE_TRACE_TYPE_MAX)
		return fail(err, errlen, off, "unknown record type");
	if (r->flags & ~VPCIE_TRACE_F_ALL)
		return fail(err, errlen, off, "unknown record flags");
	return 0;
}

/* The source for header h of file, added if new; -1 on ENOMEM. */
static int src_of(struct vpcie_trace_set *set, unsigned file, const struct trace_chunk_hdr *h)
{
	struct vpcie_trace_src s = {.pid = h->pid, .side = h->side, .file = file};
	struct vpcie_trace_src *n;

	memcpy(s.name, h->name, VPCIE_TRACE_NAME_MAX);
	s.name[VPCIE_TRACE_NAME_MAX] = 0;
	for (unsigned i = 0; i < set->nsrcs; i++)
		if (set->srcs[i].pid == s.pid && set->srcs[i].side == s.side &&
		    set->srcs[i].file == file && !strcmp(set->srcs[i].name, s.name))
			return (int)i;
	n = realloc(set->srcs, (set->nsrcs + 1) * sizeof(*n));
	if (!n)
		return -1;
	set->srcs = n;
	set->srcs[set->nsrcs] = s;
	return (int)set->nsrcs++;
}

int vpcie_trace_parse(struct vpcie_trace_set *set, unsigned file, const void *buf, size_t len,
		      char *err, size_t errlen)
{
	const uint8_t *p = buf;
	size_t off = 0, total = 0, old_nevs = set->nevs;
	unsigned old_nsrcs = set->nsrcs;
	struct vpcie_trace_ev *evs;

	/* First pass: check everything and count. */
	while (off < len) {
		struct trace_chunk_hdr h;
		int ret;

		if (len - off < sizeof(h))
			return fail(err, errlen, off, "truncated chunk header");
		memcpy(&h, p + off, sizeof(h));
		trace_hdr_swap(&h);
		ret = check_hdr(&h, off, err, errlen);
		if (ret)
			return ret;
		off += sizeof(h);
		if (h.nrec > (len - off) / VPCIE_TRACE_REC_SIZE)
			return fail(err, errlen, off, "chunk cut short (fewer records than its header says)");
		for (uint32_t i = 0; i < h.nrec; i++) {
			struct vpcie_trace_rec r;

			memcpy(&r, p + off, sizeof(r));
			trace_rec_swap(&r);
			ret = check_rec(&r, off, err, errlen);
			if (ret)
				return ret;
			off += sizeof(r);
		}
		total += h.nrec;
	}
	if (!total)
		return 0;
	evs = realloc(set->evs, (old_nevs + total) * sizeof(*evs));
	if (!evs)
		return -ENOMEM;
	set->evs = evs;
	/* Second pass: take them. */
	for (off = 0; off < len;) {
		struct trace_chunk_hdr h;
		int src;

		memcpy(&h, p + off, sizeof(h));
		trace_hdr_swap(&h);
		off += sizeof(h);
		src = src_of(set, file, &h);
		if (src < 0) {
			set->nevs = old_nevs;
			set->nsrcs = old_nsrcs;
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < h.nrec; i++) {
			struct vpcie_trace_ev *e = &set->evs[set->nevs++];

			memcpy(&e->rec, p + off, sizeof(e->rec));
			trace_rec_swap(&e->rec);
			e->src = (unsigned)src;
			off += VPCIE_TRACE_REC_SIZE;
		}
	}
	return 0;
}

/* qsort is not stable: sort (timestamp, position in input) pairs. */
struct sort_key {
	uint64_t ts;
	size_t pos;
};

static int cmp_key(const void *a, const void *b)
{
	const struct sort_key *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int vpcie_trace_sort(struct vpcie_trace_set *set)
{
	struct sort_key *k;
	struct vpcie_trace_ev *out;

	if (set->nevs < 2)
		return 0;
	k = malloc(set->nevs * sizeof(*k));
	out = malloc(set->nevs * sizeof(*out));
	if (!k || !out) {
		free(k);
		free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < set->nevs; i++)
		k[i] = (struct sort_key){set->evs[i].rec.ts_ns, i};
	qsort(k, set->nevs, sizeof(*k), cmp_key);
	for (size_t i = 0; i < set->nevs; i++)
		out[i] = set->evs[k[i].pos];
	free(set->evs);
	set->evs = out;
	free(k);
	return 0;
}

void vpcie_trace_set_free(struct vpcie_trace_set *set)
{
	free(set->srcs);
	free(set->evs);
	memset(set, 0, sizeof(*set));
}
