/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: what tracing costs. A second benchmark device runs beside
 * the main one with --trace, and its host handle traces too (vpcie/trace.h);
 * the same operation on the traced and the untraced device is measured in
 * alternating blocks of one run, so both see the same machine. The ratio
 * traced/untraced is the overhead: targets <= 1.10 on a socket MMIO read
 * round trip, >= 0.97 of the bandwidth on a 1 MiB shared-memory DMA.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_priv.h"

#define TRACE_DMA_SIZE (1u << 20)

static int trace_mmio(struct bench *b, struct bench *t)
{
	const char *name = "trace.mmio.read.4";
	struct runner on, off;
	struct spec sp = {
		.name = name,
		.what = "vpcie_host_region_read() of 4 B (REGION_READ round trip) with the device and "
			"the host tracing, against the same on an untraced device",
		.kind = K_LAT, .iters = (size_t)b->lat_iters, .warm = b->warm,
		.tkind = T_RATIO_MAX, .target = 1.10, .disc = b->disc,
		.f = {{.name = "floor.untraced.mmio.read.4", .kind = K_LAT, .disc = b->disc,
		       .what = "vpcie_host_region_read() of 4 B, tracing off (interleaved with "
			       "trace.mmio.read.4)"}},
	};

	if (!selected(b, name))
		return 0;
	mmio_runner(&on, t, OP_READ, 4);
	mmio_runner(&off, b, OP_READ, 4);
	return measure(b, &sp, &on, &off, NULL);
}

static int trace_dma(struct bench *b, struct bench *t)
{
	const char *name = "trace.dma.shm.to_host.1048576";
	long iters = b->o.quick ? 20 : 200;
	struct runner on, off;
	int rc;
	struct spec sp = {
		.name = name,
		.what = "device vpcie_dev_dma_write() of 1 MiB to host memory through shared memory, "
			"tracing on, against the same on an untraced device",
		.kind = K_BW, .size = TRACE_DMA_SIZE, .warm = 3,
		.tkind = T_RATIO_MIN, .target = 0.97, .disc = DISC_NONE,
		.f = {{.name = "floor.untraced.dma.shm.to_host.1048576", .kind = K_BW,
		       .size = TRACE_DMA_SIZE, .disc = DISC_NONE,
		       .what = "the same 1 MiB DMA, tracing off (interleaved with "
			       "trace.dma.shm.to_host.1048576)"}},
	};

	if (!selected(b, name))
		return 0;
	if (b->o.iterations && b->o.iterations < iters)
		iters = b->o.iterations;
	sp.iters = (size_t)iters;
	rc = dma_runner(&on, t, true, true, TRACE_DMA_SIZE);
	if (!rc)
		rc = dma_runner(&off, b, true, true, TRACE_DMA_SIZE);
	if (rc)
		return rc;
	return measure(b, &sp, &on, &off, NULL);
}

int path_trace(struct bench *b)
{
	struct bench t;
	char file[128];
	int rc;

	if (!selected(b, "trace.mmio.read.4") && !selected(b, "trace.dma.shm.to_host.1048576"))
		return 0;
	if (!b->h || b->mode != DEV_SOCKET)
		return -EINVAL;
	/* The traced device: the main one's settings, its own process, socket,
	 * host handle and trace file. */
	t = *b;
	snprintf(file, sizeof(file), "%s/trace.bin", b->tmp);
	t.trace = file;
	t.h = NULL;
	rc = setup_main_device(&t, DEV_SOCKET);
	if (!rc)
		rc = trace_mmio(b, &t);
	if (!rc)
		rc = trace_dma(b, &t);
	teardown_main_device(&t);
	unlink(file);
	return rc;
}
