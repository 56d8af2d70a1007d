/* SPDX-License-Identifier: MIT */
/*
 * `vpcie trace --perfetto`: Chrome trace-event JSON, which Perfetto UI and
 * chrome://tracing open. A process per traced pid (the device and the host
 * of a session are two processes of one timeline; a pid with both sides
 * gets both sets of tracks, host tids offset by TID_HOST), and in each a
 * track (tid) per BAR, config space, ROM, DMA, interrupts, and
 * one for the connection (connect, reset, faults, posted batches).
 * Transactions are complete events ("X", with their duration); interrupts
 * and connection events are instants ("i"). Timestamps are microseconds of
 * CLOCK_MONOTONIC.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <linux/vfio.h>

#include "trace_out.h"

enum {
	TID_REGION = 1,   /* + region index: BAR0 = 1 ... config = 8 */
	TID_DMA = 100,
	TID_IRQ = 101,
	TID_CONN = 102,
	TID_HOST = 1000,  /* added for host records: a process may hold both sides */
};

static unsigned track_of(const struct vpcie_trace_rec *r)
{
	switch (r->type) {
	case VPCIE_TRACE_ACCESS:
		return TID_REGION + (r->index < 64 ? r->index : 63);
	case VPCIE_TRACE_DMA:
		return TID_DMA;
	case VPCIE_TRACE_IRQ_RAISE:
	case VPCIE_TRACE_IRQ:
	case VPCIE_TRACE_IRQ_SET:
		return TID_IRQ;
	default:
		return TID_CONN;
	}
}

static void track_name(unsigned tid, char *buf)
{
	char b[24];

	if (tid == TID_DMA)
		strcpy(buf, "DMA");
	else if (tid == TID_IRQ)
		strcpy(buf, "interrupts");
	else if (tid == TID_CONN)
		strcpy(buf, "connection");
	else
		snprintf(buf, 32, "%s", trace_region_name(tid - TID_REGION, b));
}

/* Write obj followed by sep, and release it. */
static void put(FILE *f, json_object *obj, bool *first)
{
	fputs(*first ? "\n" : ",\n", f);
	*first = false;
	fputs(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN), f);
	json_object_put(obj);
}

static json_object *meta(const char *what, uint32_t pid, unsigned tid, const char *name)
{
	json_object *o = json_object_new_object(), *args = json_object_new_object();

	json_object_object_add(o, "ph", json_object_new_string("M"));
	json_object_object_add(o, "name", json_object_new_string(what));
	json_object_object_add(o, "pid", json_object_new_int64(pid));
	json_object_object_add(o, "tid", json_object_new_int64(tid));
	json_object_object_add(o, "ts", json_object_new_int(0));
	json_object_object_add(args, "name", json_object_new_string(name));
	json_object_object_add(o, "args", args);
	return o;
}

static void add_hex(json_object *args, const char *key, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "0x%" PRIx64, v);
	json_object_object_add(args, key, json_object_new_string(b));
}

/* Name and arguments of one record. */
static void describe(const struct vpcie_trace_rec *r, unsigned side, char *name, json_object *args)
{
	char b[24];

	switch (r->type) {
	case VPCIE_TRACE_ACCESS: {
		unsigned n = r->len < 8 ? (unsigned)r->len : 8;
		char data[24] = "";

		snprintf(name, 64, "%s %s+0x%" PRIx64, r->flags & VPCIE_TRACE_F_WRITE ? "write" : "read",
			 trace_region_name(r->index, b), r->addr);
		add_hex(args, "offset", r->addr);
		json_object_object_add(args, "size", json_object_new_int64((int64_t)r->len));
		for (unsigned i = 0; i < n && r->status == 0; i++)
			snprintf(data + 2 * i, 3, "%02x", r->data[i]);
		json_object_object_add(args, "data", json_object_new_string(data));
		json_object_object_add(args, "path",
				       json_object_new_string(r->flags & VPCIE_TRACE_F_RING   ? "ring"
							      : r->flags & VPCIE_TRACE_F_MMAP ? "mmap"
											      : "message"));
		json_object_object_add(args, "posted",
				       json_object_new_boolean(r->flags & VPCIE_TRACE_F_POSTED));
		break;
	}
	case VPCIE_TRACE_DMA:
		snprintf(name, 64, "DMA %s %" PRIu64, r->flags & VPCIE_TRACE_F_WRITE ? "write" : "read",
			 r->len);
		add_hex(args, "address", r->addr);
		json_object_object_add(args, "size", json_object_new_int64((int64_t)r->len));
		json_object_object_add(args, "path", json_object_new_string(
			r->flags & VPCIE_TRACE_F_MSG ? "message" : "shared memory"));
		break;
	case VPCIE_TRACE_IRQ_RAISE:
	case VPCIE_TRACE_IRQ:
		snprintf(name, 64, "%s %s %" PRIu64,
			 r->type == VPCIE_TRACE_IRQ_RAISE ? "raise"
			 : side == VPCIE_TRACE_SIDE_DEVICE ? "send"
							   : "receive",
			 trace_irq_name(r->index, b), r->addr);
		json_object_object_add(args, "vector", json_object_new_int64((int64_t)r->addr));
		json_object_object_add(args, "masked",
				       json_object_new_boolean(r->flags & VPCIE_TRACE_F_MASKED));
		json_object_object_add(args, "pending",
				       json_object_new_boolean(r->flags & VPCIE_TRACE_F_PENDING));
		json_object_object_add(args, "ring", json_object_new_boolean(r->flags & VPCIE_TRACE_F_RING));
		break;
	case VPCIE_TRACE_IRQ_SET:
		snprintf(name, 64, "SET_IRQS %s", trace_irq_name(r->index, b));
		json_object_object_add(args, "start", json_object_new_int64((int64_t)r->addr));
		json_object_object_add(args, "count", json_object_new_int64((int64_t)r->len));
		add_hex(args, "flags", r->aux);
		break;
	case VPCIE_TRACE_POST_BATCH:
		snprintf(name, 64, "posted batch %" PRIu32, r->aux);
		json_object_object_add(args, "bytes", json_object_new_int64((int64_t)r->len));
		break;
	default: {
		char text[VPCIE_TRACE_TEXT_MAX + 1];

		memcpy(text, r->data, VPCIE_TRACE_TEXT_MAX);
		text[VPCIE_TRACE_TEXT_MAX] = 0;
		snprintf(name, 64, "%s", vpcie_trace_type_name(r->type));
		/* json-c escapes the text; invalid UTF-8 is its caller's problem:
		 * keep ASCII only. */
		for (char *p = text; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		json_object_object_add(args, "text", json_object_new_string(text));
		break;
	}
	}
	json_object_object_add(args, "status", json_object_new_int(r->status));
}

static bool is_instant(const struct vpcie_trace_rec *r)
{
	return r->type == VPCIE_TRACE_IRQ || r->type == VPCIE_TRACE_CONNECT ||
	       r->type == VPCIE_TRACE_DISCONNECT || r->type == VPCIE_TRACE_FAULT;
}

/* Whether another source shares pid with source i, on the other side. */
static bool both_sides(const struct vpcie_trace_set *set, unsigned i)
{
	for (unsigned j = 0; j < set->nsrcs; j++)
		if (set->srcs[j].pid == set->srcs[i].pid && set->srcs[j].side != set->srcs[i].side)
			return true;
	return false;
}

/* One process_name per pid: "device NAME", "host NAME", or both joined. */
static void process_names(FILE *f, const struct vpcie_trace_set *set, bool *first)
{
	for (unsigned i = 0; i < set->nsrcs; i++) {
		char name[160] = "";
		size_t n = 0;
		bool dup = false;

		for (unsigned j = 0; j < i && !dup; j++)
			dup = set->srcs[j].pid == set->srcs[i].pid;
		if (dup)
			continue;
		for (unsigned j = i; j < set->nsrcs && n < sizeof(name) - 1; j++) {
			const struct vpcie_trace_src *s = &set->srcs[j];
			int w;

			if (s->pid != set->srcs[i].pid)
				continue;
			w = snprintf(name + n, sizeof(name) - n, "%s%s %s", n ? " + " : "",
				     trace_side_name(s->side), s->name[0] ? s->name : "?");
			n = w < 0 ? n : n + (size_t)w >= sizeof(name) ? sizeof(name) - 1 : n + (size_t)w;
		}
		put(f, meta("process_name", set->srcs[i].pid, 0, name), first);
	}
}

int trace_write_json(FILE *f, const struct vpcie_trace_set *set)
{
	bool first = true;
	/* Tracks seen per source: bit per tid 1..64, and the three others. */
	uint64_t *seen = calloc(set->nsrcs ? set->nsrcs : 1, 2 * sizeof(uint64_t));

	if (!seen)
		return -ENOMEM;
	fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", f);
	process_names(f, set, &first);
	for (size_t i = 0; i < set->nevs; i++) {
		const struct vpcie_trace_ev *e = &set->evs[i];
		const struct vpcie_trace_rec *r = &e->rec;
		const struct vpcie_trace_src *s = &set->srcs[e->src];
		unsigned track = track_of(r);
		unsigned tid = track + (s->side == VPCIE_TRACE_SIDE_HOST ? TID_HOST : 0);
		unsigned bit = track < TID_DMA ? track - 1 : 64 + (track - TID_DMA);
		json_object *o, *args = json_object_new_object();
		char name[64], ts[32];

		if (!(seen[2 * e->src + bit / 64] & (1ull << (bit % 64)))) {
			seen[2 * e->src + bit / 64] |= 1ull << (bit % 64);
			if (both_sides(set, e->src)) {
				int w = snprintf(name, sizeof(name), "%s ", trace_side_name(s->side));

				track_name(track, name + w);
			} else {
				track_name(track, name);
			}
			put(f, meta("thread_name", s->pid, tid, name), &first);
		}
		describe(r, s->side, name, args);
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "cat", json_object_new_string(vpcie_trace_type_name(r->type)));
		json_object_object_add(o, "ph", json_object_new_string(is_instant(r) ? "i" : "X"));
		/* Microseconds with ns precision, as an exact decimal. */
		snprintf(ts, sizeof(ts), "%" PRIu64 ".%03" PRIu64, r->ts_ns / 1000, r->ts_ns % 1000);
		json_object_object_add(o, "ts", json_object_new_double_s((double)r->ts_ns / 1000.0, ts));
		if (is_instant(r)) {
			json_object_object_add(o, "s", json_object_new_string("t"));
		} else {
			snprintf(ts, sizeof(ts), "%" PRIu32 ".%03" PRIu32, r->dur_ns / 1000,
				 r->dur_ns % 1000);
			json_object_object_add(o, "dur",
					       json_object_new_double_s((double)r->dur_ns / 1000.0, ts));
		}
		json_object_object_add(o, "pid", json_object_new_int64(s->pid));
		json_object_object_add(o, "tid", json_object_new_int64(tid));
		json_object_object_add(o, "args", args);
		put(f, o, &first);
	}
	fputs("\n]}\n", f);
	free(seen);
	return ferror(f) ? -EIO : 0;
}
