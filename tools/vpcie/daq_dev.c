/* SPDX-License-Identifier: MIT */
/* daq_dev.c - the detectors `vpcie daq` drives, and its floors (daq.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "daq.h"

#define PROG "daq"
#define FLOOR_ROUND_NS 40000000u
/* Channel c's memory at its own bus address, above 1 TiB. */
#define DAQ_IOVA(c) ((1ull << 40) + (uint64_t)(c) * (1ull << 34))
#define DAQ_MEM_MAX (1ull << 34)

static int wr(struct daq_dev *d, unsigned c, uint32_t reg, uint32_t v)
{
	int rc = vpcie_host_bar_write32(d->h, 0, DET_CH_BASE(c) + reg, v);

	if (rc)
		fprintf(stderr, "vpcie %s: %s: register 0x%x: %s\n", PROG, d->socket,
			DET_CH_BASE(c) + reg, strerror(-rc));
	return rc;
}

static uint64_t rd64(struct daq_dev *d, unsigned c, uint32_t lo, int *err)
{
	uint32_t l = vpcie_host_bar_read32(d->h, 0, DET_CH_BASE(c) + lo, err);
	uint32_t h = vpcie_host_bar_read32(d->h, 0, DET_CH_BASE(c) + lo + 4, err);

	return (uint64_t)h << 32 | l;
}

int daq_dev_open(struct daq_dev *d, unsigned index, const struct tool_conn *conn,
		 const struct daq_cfg *cfg)
{
	uint32_t id, nch, caps;
	size_t size = daq_ring_mem_size(cfg->ring_size, cfg->buf_size);
	bool shared = cfg->shared;
	int err = 0, rc;

	(void)index;
	d->h = tool_open(conn, PROG);
	if (!d->h)
		return -1;
	if (tool_bars_ready(d->h, PROG, NULL))
		return -1;
	id = vpcie_host_bar_read32(d->h, 0, DET_REG_ID, &err);
	nch = vpcie_host_bar_read32(d->h, 0, DET_REG_CHANNELS, &err);
	caps = vpcie_host_bar_read32(d->h, 0, DET_REG_CAPS, &err);
	if (err || id != DET_ID_VALUE || !nch || nch > DET_MAX_CHANNELS) {
		fprintf(stderr, "vpcie %s: %s is not a vpcie-detector (ID 0x%08x)\n", PROG,
			d->socket, id);
		return -1;
	}
	if (cfg->channels > nch) {
		fprintf(stderr, "vpcie %s: %s has %u channel%s, %u asked\n", PROG, d->socket, nch,
			nch > 1 ? "s" : "", cfg->channels);
		return -1;
	}
	d->nch = cfg->channels ? cfg->channels : nch;
	if (size > DAQ_MEM_MAX) {
		fprintf(stderr, "vpcie %s: %zu bytes of buffers per channel: too many\n", PROG, size);
		return -1;
	}
	/* No fd travels over TCP: the device DMAs by messages. */
	if (vpcie_host_peer_caps(d->h)->max_msg_fds == 0)
		shared = false;
	d->shared = shared;
	d->shadow = cfg->shadow && (caps & DET_CAP_SHADOW);
	if (!cfg->poll) {
		rc = vpcie_host_irq_enable(d->h, VPCIE_HOST_IRQ_MSIX, 1);
		if (rc < 0) {
			fprintf(stderr, "vpcie %s: %s: MSI-X: %s\n", PROG, d->socket, strerror(-rc));
			return -1;
		}
	}
	for (unsigned c = 0; c < d->nch; c++) {
		struct daq_chan *ch = &d->ch[c];

		ch->mem = vpcie_host_mem_alloc(d->h, size, DAQ_IOVA(c),
					       shared ? VPCIE_HOST_MEM_SHARED : 0);
		if (!ch->mem) {
			fprintf(stderr, "vpcie %s: host memory (%zu bytes): %s\n", PROG, size,
				strerror(errno));
			return -1;
		}
		rc = daq_ring_init(&ch->r, vpcie_host_mem_ptr(ch->mem), DAQ_IOVA(c), cfg->ring_size,
				   cfg->buf_size, cfg->frame_size, (uint16_t)c, cfg->crc);
		if (rc) {
			fprintf(stderr, "vpcie %s: ring of %u x %u bytes for %u-byte frames: %s\n",
				PROG, cfg->ring_size, cfg->buf_size, cfg->frame_size, strerror(-rc));
			return -1;
		}
		ch->limit = cfg->frames;
	}
	return 0;
}

int daq_dev_start(struct daq_dev *d, const struct daq_cfg *cfg)
{
	int err = 0;

	for (unsigned c = 0; c < d->nch; c++) {
		struct daq_chan *ch = &d->ch[c];
		uint64_t ring = ch->r.ring_iova;
		uint32_t irq_frames = cfg->poll ? 0 : cfg->irq_frames;
		uint32_t irq_usec = cfg->poll ? 0 : cfg->irq_usec;

		if (wr(d, c, DET_CH_CTRL, DET_CTRL_RESET) || wr(d, c, DET_CH_FRAME_SIZE, cfg->frame_size) ||
		    wr(d, c, DET_CH_PERIOD_NS, cfg->period_ns) || wr(d, c, DET_CH_PATTERN, cfg->pattern) ||
		    wr(d, c, DET_CH_SEED, cfg->seed) ||
		    wr(d, c, DET_CH_FRAME_LIMIT, (uint32_t)ch->limit) ||
		    wr(d, c, DET_CH_RING_LO, (uint32_t)ring) ||
		    wr(d, c, DET_CH_RING_HI, (uint32_t)(ring >> 32)) ||
		    wr(d, c, DET_CH_RING_SIZE, cfg->ring_size) ||
		    wr(d, c, DET_CH_IRQ_FRAMES, irq_frames) || wr(d, c, DET_CH_IRQ_USEC, irq_usec) ||
		    wr(d, c, DET_CH_IRQ_VECTOR, 0))
			return -1;
		/* The shadow holds the tail before the device may read it. */
		ch->tail_written = daq_ring_tail(&ch->r);
		daq_ring_publish(&ch->r, ch->tail_written);
		if (wr(d, c, DET_CH_SHADOW_LO, d->shadow ? (uint32_t)ch->r.shadow_iova : 0) ||
		    wr(d, c, DET_CH_SHADOW_HI, d->shadow ? (uint32_t)(ch->r.shadow_iova >> 32) : 0) ||
		    wr(d, c, DET_CH_RING_TAIL, ch->tail_written))
			return -1;
	}
	for (unsigned c = 0; c < d->nch; c++) {
		uint32_t sts;

		if (wr(d, c, DET_CH_CTRL, DET_CTRL_ENABLE))
			return -1;
		sts = vpcie_host_bar_read32(d->h, 0, DET_CH_BASE(c) + DET_CH_STATUS, &err);
		if (err || (sts & DET_STS_ERROR)) {
			fprintf(stderr, "vpcie %s: %s channel %u refused the settings (status 0x%x; "
					"see the device's log)\n", PROG, d->socket, c, sts);
			return -1;
		}
	}
	return 0;
}

int daq_dev_post(struct daq_dev *d)
{
	for (unsigned c = 0; c < d->nch; c++) {
		struct daq_chan *ch = &d->ch[c];
		uint32_t t = daq_ring_tail(&ch->r);

		if (t == ch->tail_written)
			continue;
		/* With the shadow, a register write only for an idle engine. */
		if (d->shadow && !daq_ring_publish(&ch->r, t)) {
			ch->tail_written = t;
			continue;
		}
		ch->doorbells++;
		int rc = vpcie_host_region_write_posted(d->h, 0, DET_CH_BASE(c) + DET_CH_RING_TAIL,
							&t, sizeof(t));
		if (rc)
			return rc;
		ch->tail_written = t;
	}
	return 0;
}

int daq_dev_stop(struct daq_dev *d)
{
	int err = 0;

	for (unsigned c = 0; c < d->nch; c++) {
		struct daq_chan *ch = &d->ch[c];

		if (wr(d, c, DET_CH_CTRL, 0))
			return -1;
		ch->dev_frames = rd64(d, c, DET_CH_FRAMES_LO, &err);
		ch->dev_dropped = rd64(d, c, DET_CH_DROPPED_LO, &err);
		ch->dev_bad_desc = rd64(d, c, DET_CH_BAD_DESC_LO, &err);
		ch->dev_dma_err = rd64(d, c, DET_CH_DMA_ERR_LO, &err);
		ch->dev_irqs = rd64(d, c, DET_CH_IRQS_LO, &err);
	}
	return err ? -1 : 0;
}

void daq_dev_close(struct daq_dev *d)
{
	for (unsigned c = 0; c < DET_MAX_CHANNELS; c++) {
		if (d->ch[c].mem)
			vpcie_host_mem_free(d->ch[c].mem);
		daq_ring_free(&d->ch[c].r);
		d->ch[c].mem = NULL;
	}
	if (d->h)
		vpcie_host_close(d->h);
	d->h = NULL;
}

/* ---- Floors ------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One frame's worth of op at frame k, in buffer-sized pieces into
 * consecutive buffers, as the device places it. */
static uLong floor_frame(const struct daq_ring *r, const uint8_t *src, uint32_t frame_size,
			 size_t k, size_t nframes, bool crc)
{
	size_t segs = (frame_size + r->buf_size - 1) / r->buf_size;
	uint8_t *dst = r->bufs + (k % nframes) * segs * r->buf_size;
	uLong c = 0;

	for (uint32_t off = 0; off < frame_size; off += r->buf_size, dst += r->buf_size) {
		uint32_t n = frame_size - off < r->buf_size ? frame_size - off : r->buf_size;

		if (crc)
			c = crc32(c, dst, n);
		else
			memcpy(dst, src + off, n);
	}
	return c;
}

/* Median MB/s of DAQ_FLOOR_ROUNDS rounds of op over frames of the first
 * channel's buffers (frame after frame, wrapping), into mbs. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int floor_run(struct daq_dev *d, uint32_t frame_size, bool crc, double *mbs,
		     double *cpu_mbs)
{
	struct daq_ring *r = &d->ch[0].r;
	size_t segs = (frame_size + r->buf_size - 1) / r->buf_size, nframes = r->size / segs, k = 0;
	/* Look at the clock every MiB or so, not every (small) frame. */
	size_t batch = frame_size >= (1u << 20) ? 1 : (1u << 20) / frame_size;
	uint8_t *src = malloc(frame_size);
	volatile uLong sink = 0;

	if (!src || !nframes) {
		free(src);
		return -1;
	}
	for (uint32_t i = 0; i + 4 <= frame_size; i += 4)
		memcpy(src + i, &i, 4);
	/* Warm up: fault every page in first, as the stream will have. */
	for (size_t i = 0; i < nframes; i++)
		floor_frame(r, src, frame_size, i, nframes, false);
	for (int round = 0; round < DAQ_FLOOR_ROUNDS; round++) {
		uint64_t t0 = now_ns(), c0 = cpu_ns(), t, bytes = 0;

		do {
			for (size_t b = 0; b < batch; b++)
				sink += floor_frame(r, src, frame_size, k++, nframes, crc);
			bytes += (uint64_t)batch * frame_size;
			t = now_ns();
		} while (t - t0 < FLOOR_ROUND_NS);
		mbs[round] = (double)bytes * 1e3 / (double)(t - t0);
		if (cpu_mbs)
			cpu_mbs[round] = (double)bytes * 1e3 / (double)(cpu_ns() - c0 + 1);
	}
	(void)sink;
	free(src);
	return 0;
}

int daq_memcpy_floor(struct daq_dev *d, uint32_t frame_size, double *mbs, double *cpu_mbs)
{
	return floor_run(d, frame_size, false, mbs, cpu_mbs);
}

int daq_crc_floor(struct daq_dev *d, uint32_t frame_size, double *mbs)
{
	return floor_run(d, frame_size, true, mbs, NULL);
}

double daq_median(double *v, size_t n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}
