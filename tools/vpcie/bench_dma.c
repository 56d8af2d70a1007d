/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: DMA paths: the device reads and writes host memory through
 * shared memory (a memcpy) or DMA_READ/DMA_WRITE messages, timed inside the
 * device.
 */
#include <errno.h>
#include <stdio.h>

#include "bench_priv.h"

static long dma_iters(const struct bench *b, uint64_t size)
{
	long n = (long)(b->dma_bytes / size);

	if (n < (b->o.quick ? 5 : 20))
		n = b->o.quick ? 5 : 20;
	if (n > (b->o.quick ? 200 : 2000))
		n = b->o.quick ? 200 : 2000;
	if (b->o.iterations && b->o.iterations < n)
		n = b->o.iterations;
	return n;
}

/* One DMA in the device; over TCP its statistics are read afterwards by a
 * message (stats_sync), outside the time measured. */
int dma_step(struct runner *r, double *out)
{
	struct bench *b = r->b;
	uint64_t seq, a, h;
	int rc = stats_sync(b);

	if (rc)
		return rc;
	seq = b->st->dma_seq;
	a = vpcie_now_ns();
	rc = dev_write(b, BENCH_REG_DMA_CMD, r->cmd);
	h = vpcie_now_ns() - a;
	if (!rc)
		rc = stats_sync(b);
	if (rc)
		return rc;
	if (b->st->dma_seq != seq + 1 || b->st->dma_status) {
		fprintf(stderr, "vpcie bench: device DMA failed (%lld)\n", (long long)b->st->dma_status);
		return -EIO;
	}
	*out = (double)(b->st->dma_end_ns - b->st->dma_start_ns);
	return sm_add(&r->extra, (double)h);
}

/* Program b's device for transfers of size bytes and arm r to run them. */
int dma_runner(struct runner *r, struct bench *b, bool shm, bool to_host, uint64_t size)
{
	uint64_t iova = shm ? SHM_IOVA : MSG_IOVA;
	int rc = dev_write(b, BENCH_REG_DMA_ADDR_LO, (uint32_t)iova);

	if (!rc)
		rc = dev_write(b, BENCH_REG_DMA_ADDR_HI, (uint32_t)(iova >> 32));
	if (!rc)
		rc = dev_write(b, BENCH_REG_DMA_LEN, (uint32_t)size);
	if (rc)
		return rc;
	runner_zero(r, b);
	r->step = dma_step;
	r->cmd = to_host ? BENCH_DMA_TO_HOST : BENCH_DMA_TO_DEVICE;
	return 0;
}

/*
 * Shared memory: against memcpy back to back and memcpy in a just-woken
 * process. Messages: against AF_UNIX request/reply of the same sizes, first
 * waiting as the runtime does (the device blocks for each reply, the host
 * answering polls: "mixed"), then both blocking.
 */
int path_dma(struct bench *b, bool shm, bool to_host, uint64_t size)
{
	char name[64], what[200], tail[48];
	const char *dir = to_host ? "to_host" : "to_device";
	uint64_t iova = shm ? SHM_IOVA : MSG_IOVA;
	uint64_t chunk = size < XFER_CHUNK ? size : XFER_CHUNK;
	unsigned chunks = (unsigned)((size + chunk - 1) / chunk);
	size_t req = to_host ? REQ_DMA + chunk : REQ_DMA;
	size_t resp = to_host ? REP_DMA_WRITE : REQ_DMA + chunk;
	struct runner path, fl0, fl1;
	int rc;

	snprintf(name, sizeof(name), "dma.%s.%s.%llu", shm ? "shm" : "msg", dir,
		 (unsigned long long)size);
	if (!selected(b, name))
		return 0;
	snprintf(what, sizeof(what), "device %s %llu B %s, timed inside the device",
		 to_host ? "vpcie_dev_dma_write() to host memory," : "vpcie_dev_dma_read() of host memory,",
		 (unsigned long long)size,
		 shm ? "through shared memory (memcpy)" : "through DMA_WRITE/DMA_READ messages");
	rc = dev_write(b, BENCH_REG_DMA_ADDR_LO, (uint32_t)iova);
	if (!rc)
		rc = dev_write(b, BENCH_REG_DMA_ADDR_HI, (uint32_t)(iova >> 32));
	if (!rc)
		rc = dev_write(b, BENCH_REG_DMA_LEN, (uint32_t)size);
	if (rc)
		return rc;
	struct spec sp = {
		.name = name, .what = what, .kind = K_BW, .size = size,
		.iters = (size_t)dma_iters(b, size), .warm = 3,
		.tkind = shm ? T_RATIO_MIN : T_NONE, .target = 0.90,
		.disc = shm ? DISC_NONE : b->polling ? DISC_MIXED : b->disc,
	};
	if (shm) {
		rc = memcpy_floor(&fl0, &sp.f[0], b, size, to_host, false);
		if (rc)
			return rc;
		rc = memcpy_floor(&fl1, &sp.f[1], b, size, to_host, true);
	} else {
		snprintf(tail, sizeof(tail), "%s.%llu", dir, (unsigned long long)size);
		rc = sock_rr_floor(&fl0, &sp.f[0], b, "xfer", tail, req, resp, chunks,
				   b->polling ? W_MIXED : W_BLOCK);
		if (rc)
			return rc;
		if (b->polling)
			rc = sock_rr_floor(&fl1, &sp.f[1], b, "xfer", tail, req, resp, chunks, W_BLOCK);
		for (int j = 0; j < 2; j++) {
			sp.f[j].kind = K_BW;
			sp.f[j].size = size;
		}
	}
	if (rc) {
		runner_fini(&fl0);
		return rc;
	}
	runner_zero(&path, b);
	path.step = dma_step;
	path.cmd = to_host ? BENCH_DMA_TO_HOST : BENCH_DMA_TO_DEVICE;
	return measure(b, &sp, &path, &fl0, shm || b->polling ? &fl1 : NULL);
}
