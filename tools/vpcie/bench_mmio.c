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

int path_mmio(struct bench *b, enum mmio_op op, size_t n)
{
	char name[64], what[160], fname[64], fwhat[160], sname[64], swhat[160];
	char ename[64], ewhat[200];
	struct runner fe;
	size_t req = op == OP_WRITE ? REQ_REGION + n : REQ_REGION;
	size_t resp = op == OP_WRITE ? REQ_REGION : REQ_REGION + n;
	struct runner path, fl;
	int rc, si;

	snprintf(name, sizeof(name), "%s.%zu",
		 op == OP_READ ? "mmio.read" : op == OP_WRITE ? "mmio.write" : "cfg.read", n);
	if (!selected(b, name))
		return 0;
	snprintf(fname, sizeof(fname), "floor.sock.rr.%zu.%zu", req, resp);
	snprintf(fwhat, sizeof(fwhat),
		 "AF_UNIX ping-pong between two processes, blocking write/read, %zu B request, "
		 "%zu B reply", req, resp);
	if (op == OP_READ) {
		snprintf(sname, sizeof(sname), "floor.spin.rr.%zu.%zu", req, resp);
		snprintf(swhat, sizeof(swhat),
			 "the same exchange with both processes spinning on a shared memfd page "
			 "(measured alone, and alongside ring paths with a peer that naps when idle)");
		si = res_find(b->p, sname);
		if (si < 0) {
			struct floor_spec fs = {sname, swhat, K_LAT, 0};

			rc = spin_init(&fl, b, req, resp);
			if (rc)
				return rc;
			si = measure_floor(b, &fs, &fl, (size_t)b->lat_iters);
			if (si < 0)
				return si;
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
	rc = sock_rr_init(&fl, b, req, resp, 1);
	if (rc)
		return rc;
	runner_zero(&path, b);
	path.step = mmio_step;
	path.op = op;
	path.n = n;
	struct spec sp = {
		.name = name, .what = what, .kind = K_LAT, .iters = (size_t)b->lat_iters,
		.warm = b->warm, .tkind = op == OP_READ ? T_RATIO_MAX : T_NONE, .target = 1.15,
		.f = {{fname, fwhat, K_LAT, 0}},
	};
	if (op != OP_READ)
		return measure(b, &sp, &path, &fl, NULL);
	/* Reads also run against the event-loop floor: the same exchange with
	 * the peer in epoll_wait() and us in poll(), as any non-blocking loop. */
	snprintf(ename, sizeof(ename), "floor.sock.rr_evloop.%zu.%zu", req, resp);
	snprintf(ewhat, sizeof(ewhat),
		 "the same ping-pong waiting as event loops do: peer epoll_wait()+read+write, "
		 "us write+poll()+read");
	sp.f[1] = (struct floor_spec){ename, ewhat, K_LAT, 0};
	rc = sock_rr_init2(&fe, b, req, resp, 1, true);
	if (rc) {
		runner_fini(&fl);
		return rc;
	}
	return measure(b, &sp, &path, &fl, &fe);
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
	char fwhat[160];
	struct vpcie_write_multi_entry *e;
	struct runner path, fl;
	int rc;

	if (!selected(b, "mmio.write_multi.4"))
		return 0;
	if (!vpcie_host_peer_caps(b->h)->write_multiple)
		return -ENOTSUP;
	snprintf(fwhat, sizeof(fwhat),
		 "AF_UNIX ping-pong, %u B request, %u B reply, per write (/%u)", REQ_WM, REP_WM,
		 WM_BATCH);
	rc = sock_rr_init(&fl, b, REQ_WM, REP_WM, 1);
	if (rc)
		return rc;
	fl.div = WM_BATCH;
	runner_zero(&path, b);
	path.step = wm_step;
	path.fini = wm_fini;
	path.live = true;
	path.buf = calloc(WM_BATCH, sizeof(*e));
	if (!path.buf) {
		runner_fini(&fl);
		return -ENOMEM;
	}
	e = (struct vpcie_write_multi_entry *)path.buf;
	for (unsigned i = 0; i < WM_BATCH; i++)
		e[i] = (struct vpcie_write_multi_entry){
			.offset = NULL_OFF, .region = BENCH_NULL_BAR, .count = 4};
	struct spec sp = {
		.name = "mmio.write_multi.4",
		.what = "vpcie_host_region_write_multi() of 256 x 4 B writes (one REGION_WRITE_MULTI)",
		.kind = K_RATE, .lat_samples = true, .iters = (size_t)b->lat_iters / 10 + 1,
		.warm = 10, .tkind = T_ABS_MIN, .target = 1e6,
		.f = {{"floor.sock.rr.6168.24", fwhat, K_LAT, 0}},
	};
	return measure(b, &sp, &path, &fl, NULL);
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

int path_posted(struct bench *b)
{
	char fwhat[160];
	struct runner path, fl;
	int rc;

	if (!selected(b, "mmio.posted.4"))
		return 0;
	snprintf(fwhat, sizeof(fwhat),
		 "AF_UNIX one-way stream, one write() per %u B message, the reader gulps 64 KiB",
		 REQ_REGION + 4);
	rc = oneway_init(&fl, b, REQ_REGION + 4, b->posted_count);
	if (rc)
		return rc;
	runner_zero(&path, b);
	path.step = posted_step;
	path.count = b->posted_count;
	struct spec sp = {
		.name = "mmio.posted.4",
		.what = "vpcie_host_region_write_posted() of 4 B back to back (runs ended by a read)",
		.kind = K_RATE, .iters = (size_t)b->posted_runs, .warm = 1,
		.tkind = T_ABS_MIN, .target = 1e6,
		.f = {{"floor.sock.oneway.36", fwhat, K_RATE, 0}},
	};
	return measure(b, &sp, &path, &fl, NULL);
}

/* ---- Paths: the ring transport ---------------------------------------------------------- */

/* MMIO read through the ring against the spin ping-pong it can approach. */
int path_ring_read(struct bench *b)
{
	char swhat[200];
	struct runner path, fl;
	int rc;

	if (!selected(b, "ring.mmio.read.4"))
		return 0;
	snprintf(swhat, sizeof(swhat),
		 "the same exchange with both processes spinning on a shared memfd page "
		 "(measured alone, and alongside ring paths with a peer that naps when idle)");
	rc = spin_init2(&fl, b, REQ_REGION, REQ_REGION + 4, true);
	if (rc)
		return rc;
	runner_zero(&path, b);
	path.step = mmio_step;
	path.op = OP_READ;
	path.n = 4;
	struct spec sp = {
		.name = "ring.mmio.read.4",
		.what = "vpcie_host_region_read() of 4 B on a callback BAR through the ring transport",
		.kind = K_LAT, .iters = (size_t)b->lat_iters, .warm = b->warm,
		.tkind = T_RATIO_MAX, .target = 2.0,
		.f = {{"floor.spin.rr.32.36", swhat, K_LAT, 0}},
	};
	return measure(b, &sp, &path, &fl, NULL);
}

/* Posted writes through the ring against the bare ring primitives. */
int path_ring_posted(struct bench *b)
{
	struct runner path, fl;
	int rc;

	if (!selected(b, "ring.mmio.posted.4"))
		return 0;
	rc = ringow_init(&fl, b, b->posted_count);
	if (rc)
		return rc;
	runner_zero(&path, b);
	path.step = posted_step;
	path.count = b->posted_count;
	struct spec sp = {
		.name = "ring.mmio.posted.4",
		.what = "vpcie_host_region_write_posted() of 4 B back to back through the ring "
			"transport (runs ended by a read)",
		.kind = K_RATE, .iters = (size_t)b->posted_runs, .warm = 1,
		.tkind = T_ABS_MIN, .target = 5e6,
		.f = {{"floor.spin.oneway.64",
		       "one-way stream of 64 B slots through the vpcie_ring primitives between two "
		       "processes, the reader spinning (a run ends when it has taken all)",
		       K_RATE, 0}},
	};
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
		.kind = K_LAT, .iters = (size_t)b->lat_iters / 10 + 1, .warm = 10,
		.f = {{"floor.mem.load",
		       "volatile 32-bit load through the raw BAR mapping (batches of 1000)", K_LAT, 0}},
	};
	return measure(b, &sp, &path, &fl, NULL);
}
