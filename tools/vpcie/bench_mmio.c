/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: MMIO and config-space paths: region reads and writes,
 * posted and coalesced writes, the mmap'ed BAR, and the same through the
 * shared-memory ring transport.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_priv.h"

/* ---- Paths: MMIO and config space ------------------------------------------------- */

static int mmio_step(struct runner *r, double *out)
{
	struct bench *b = r->b;
	uint8_t buf[8] = {0};
	uint64_t a = vpcie_now_ns();
	int rc;

	switch (r->op) {
	case OP_READ:
		rc = vpcie_host_region_read(b->h, BENCH_NULL_BAR, NULL_OFF, buf, r->n);
		break;
	case OP_WRITE:
		rc = vpcie_host_region_write(b->h, BENCH_NULL_BAR, NULL_OFF, buf, r->n);
		break;
	default:
		rc = vpcie_host_cfg_read(b->h, 0, buf, r->n);
		break;
	}
	if (!rc)
		*out = (double)(vpcie_now_ns() - a);
	return rc;
}

void mmio_runner(struct runner *r, struct bench *b, enum mmio_op op, size_t n)
{
	runner_zero(r, b);
	r->step = mmio_step;
	r->op = op;
	r->n = n;
}

int path_mmio(struct bench *b, enum mmio_op op, size_t n)
{
	static const char *const names[] = {"mmio.read", "mmio.write", "cfg.read"};
	char name[64], what[160], tail[32];
	size_t req = op == OP_WRITE ? REQ_REGION + n : REQ_REGION;
	size_t resp = op == OP_WRITE ? REQ_REGION : REQ_REGION + n;
	struct runner path, fl, f2;
	int rc;

	snprintf(name, sizeof(name), "%s.%zu%s", names[op], n, b->suffix);
	if (!selected(b, name))
		return 0;
	snprintf(tail, sizeof(tail), "%zu.%zu", req, resp);
	if (op == OP_READ && b->mode == DEV_SOCKET) {
		/* What a shared-memory transport could reach, measured alone. */
		struct floor_spec fs;
		char sname[64];

		snprintf(sname, sizeof(sname), "floor.spin.rr.%s", tail);
		if (res_find(b->p, sname) < 0) {
			rc = spin_floor(&fl, &fs, b, req, resp, 0);
			if (!rc)
				rc = measure_floor(b, &fs, &fl, (size_t)b->lat_iters);
			if (rc < 0)
				return rc;
		}
	}
	switch (op) {
	case OP_READ:
		snprintf(what, sizeof(what),
			 "vpcie_host_region_read() of %zu B on a callback BAR (REGION_READ round trip)", n);
		break;
	case OP_WRITE:
		snprintf(what, sizeof(what),
			 "vpcie_host_region_write() of %zu B on a callback BAR, waiting for the reply", n);
		break;
	default:
		snprintf(what, sizeof(what), "vpcie_host_cfg_read() of %zu B (config space, messages)",
			 n);
	}
	if (b->mode == DEV_NOPOLL)
		strncat(what, "; polling off on both sides", sizeof(what) - strlen(what) - 1);
	struct spec sp = {
		.name = name, .what = what, .kind = K_LAT, .iters = (size_t)b->lat_iters,
		.warm = b->warm, .tkind = op == OP_READ ? T_RATIO_MAX : T_NONE, .target = 1.15,
		.disc = b->disc,
	};
	rc = sock_rr_floors(&fl, &f2, &sp, b, b->polling, "rr", tail, req, resp, 1);
	if (rc)
		return rc;
	runner_zero(&path, b);
	path.step = mmio_step;
	path.op = op;
	path.n = n;
	return measure(b, &sp, &path, &fl, &f2);
}

static int wm_step(struct runner *r, double *out)
{
	struct vpcie_write_multi_entry *e = (struct vpcie_write_multi_entry *)r->buf;
	uint64_t a = vpcie_now_ns();
	int rc = vpcie_host_region_write_multi(r->b->h, e, WM_BATCH);

	if (!rc)
		*out = (double)(vpcie_now_ns() - a) / WM_BATCH;
	return rc;
}

static void wm_fini(struct runner *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Small writes coalesced with REGION_WRITE_MULTI: per-write cost. */
int path_write_multi(struct bench *b)
{
	char tail[32], per[32];
	struct vpcie_write_multi_entry *e;
	struct runner path, fl, f2;
	int rc;

	if (!selected(b, "mmio.write_multi.4"))
		return 0;
	if (!vpcie_host_peer_caps(b->h)->write_multiple)
		return -ENOTSUP;
	struct spec sp = {
		.name = "mmio.write_multi.4",
		.what = "vpcie_host_region_write_multi() of 256 x 4 B writes (one REGION_WRITE_MULTI)",
		.kind = K_RATE, .lat_samples = true, .iters = (size_t)b->lat_iters / 10 + 1,
		.warm = 10, .tkind = T_ABS_MIN, .target = 1e6, .disc = b->disc,
	};
	snprintf(tail, sizeof(tail), "%u.%u", REQ_WM, REP_WM);
	rc = sock_rr_floors(&fl, &f2, &sp, b, b->polling, "rr", tail, REQ_WM, REP_WM, 1);
	if (rc)
		return rc;
	snprintf(per, sizeof(per), ", per write (/%u)", WM_BATCH);
	for (int j = 0; j < 2; j++)
		strncat(sp.f[j].what, per, sizeof(sp.f[j].what) - strlen(sp.f[j].what) - 1);
	fl.div = f2.div = WM_BATCH;
	runner_zero(&path, b);
	path.step = wm_step;
	path.fini = wm_fini;
	path.live = true;
	path.buf = calloc(WM_BATCH, sizeof(*e));
	if (!path.buf) {
		runner_fini(&fl);
		runner_fini(&f2);
		return -ENOMEM;
	}
	e = (struct vpcie_write_multi_entry *)path.buf;
	for (unsigned i = 0; i < WM_BATCH; i++)
		e[i] = (struct vpcie_write_multi_entry){
			.offset = NULL_OFF, .region = BENCH_NULL_BAR, .count = 4};
	return measure(b, &sp, &path, &fl, &f2);
}

static int posted_step(struct runner *r, double *out)
{
	struct bench *b = r->b;
	uint64_t t0 = vpcie_now_ns();
	uint32_t v = 0;
	int rc = 0;

	for (long k = 0; k < r->count && !rc; k++)
		rc = vpcie_host_region_write_posted(b->h, BENCH_NULL_BAR, NULL_OFF, &v, sizeof(v));
	/* A read returns after every write sent before it was handled. */
	if (!rc)
		rc = vpcie_host_region_read(b->h, BENCH_NULL_BAR, NULL_OFF, &v, sizeof(v));
	if (!rc)
		*out = (double)r->count * 1e9 / (double)(vpcie_now_ns() - t0);
	return rc;
}

/*
 * Posted writes against the batched stream they are sent as (the host
 * runtime writes them in batches of POST_FLUSH_BYTES), waiting the same way,
 * and for contrast against one write() per message.
 */
int path_posted(struct bench *b)
{
	char name[64];
	struct runner path, fl, f2;
	int rc;

	snprintf(name, sizeof(name), "mmio.posted.4%s", b->suffix);
	if (!selected(b, name))
		return 0;
	struct spec sp = {
		.name = name,
		.what = b->mode == DEV_NOPOLL
			? "vpcie_host_region_write_posted() of 4 B back to back (runs ended by a "
			  "read); polling off on both sides"
			: "vpcie_host_region_write_posted() of 4 B back to back (runs ended by a read)",
		.kind = K_RATE, .iters = (size_t)b->posted_runs, .warm = 1,
		.tkind = T_ABS_MIN, .target = 1e6, .disc = b->disc,
	};
	rc = stream_floor(&fl, &sp.f[0], b, b->posted_count, POST_BATCH,
			  b->polling ? W_POLL : W_BLOCK);
	if (rc)
		return rc;
	rc = stream_floor(&f2, &sp.f[1], b, b->posted_count, 1, W_BLOCK);
	if (rc) {
		runner_fini(&fl);
		return rc;
	}
	runner_zero(&path, b);
	path.step = posted_step;
	path.count = b->posted_count;
	return measure(b, &sp, &path, &fl, &f2);
}

/* ---- Paths: the ring transport ---------------------------------------------------------- */

/* MMIO read through the ring against the spin ping-pong it can approach. */
int path_ring_read(struct bench *b)
{
	struct runner path, fl;
	int rc;

	if (!selected(b, "ring.mmio.read.4"))
		return 0;
	struct spec sp = {
		.name = "ring.mmio.read.4",
		.what = "vpcie_host_region_read() of 4 B on a callback BAR through the ring transport",
		.kind = K_LAT, .iters = (size_t)b->lat_iters, .warm = b->warm,
		.tkind = T_RATIO_MAX, .target = 2.0, .disc = DISC_SPIN,
	};
	rc = spin_floor(&fl, &sp.f[0], b, REQ_REGION, REQ_REGION + 4, SPIN_POLITE);
	if (rc)
		return rc;
	runner_zero(&path, b);
	path.step = mmio_step;
	path.op = OP_READ;
	path.n = 4;
	return measure(b, &sp, &path, &fl, NULL);
}

/* Posted writes through the ring against the bare ring primitives. */
int path_ring_posted(struct bench *b)
{
	struct runner path, fl;
	int rc;

	if (!selected(b, "ring.mmio.posted.4"))
		return 0;
	struct spec sp = {
		.name = "ring.mmio.posted.4",
		.what = "vpcie_host_region_write_posted() of 4 B back to back through the ring "
			"transport (runs ended by a read)",
		.kind = K_RATE, .iters = (size_t)b->posted_runs, .warm = 1,
		.tkind = T_ABS_MIN, .target = 5e6, .disc = DISC_SPIN,
	};
	rc = ringow_floor(&fl, &sp.f[0], b, b->posted_count);
	if (rc)
		return rc;
	runner_zero(&path, b);
	path.step = posted_step;
	path.count = b->posted_count;
	return measure(b, &sp, &path, &fl, NULL);
}

/* mmap'ed BAR access, for contrast: timed in batches (the clock costs more
 * than the access). The floor is the same load through the raw pointer. */
#define MAP_BATCH 1000u

static int mmap_step(struct runner *r, double *out)
{
	struct bench *b = r->b;
	uint64_t a = vpcie_now_ns();
	uint32_t sink = 0;
	int rc = 0;

	for (unsigned j = 0; j < MAP_BATCH && !rc; j++)
		sink += vpcie_host_bar_read32(b->h, BENCH_MEM_BAR, MAP_OFF, &rc);
	r->k += sink;
	*out = (double)(vpcie_now_ns() - a) / MAP_BATCH;
	return rc;
}

static int rawload_step(struct runner *r, double *out)
{
	volatile uint32_t *raw = (volatile uint32_t *)(r->b->bar2 + MAP_OFF);
	uint64_t a = vpcie_now_ns();
	uint32_t sink = 0;

	for (unsigned j = 0; j < MAP_BATCH; j++)
		sink += raw[0];
	r->k += sink;
	*out = (double)(vpcie_now_ns() - a) / MAP_BATCH;
	return 0;
}

int path_mmap(struct bench *b)
{
	struct runner path, fl;

	if (!selected(b, "mmio.mmap.read.4"))
		return 0;
	if (!vpcie_host_region_is_mapped(b->h, BENCH_MEM_BAR, MAP_OFF, 4))
		return -ENXIO;
	runner_zero(&path, b);
	path.step = mmap_step;
	runner_zero(&fl, b);
	fl.step = rawload_step;
	struct spec sp = {
		.name = "mmio.mmap.read.4",
		.what = "vpcie_host_bar_read32() on the mmap'ed memory BAR (batches of 1000)",
		.kind = K_LAT, .iters = (size_t)b->lat_iters / 10 + 1, .warm = 10, .disc = DISC_NONE,
		.f = {{"floor.mem.load",
		       "volatile 32-bit load through the raw BAR mapping (batches of 1000)", K_LAT, 0,
		       DISC_NONE}},
	};
	return measure(b, &sp, &path, &fl, NULL);
}
