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
	uint32_t id, nch;
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
		    wr(d, c, DET_CH_IRQ_VECTOR, 0) || wr(d, c, DET_CH_RING_TAIL, daq_ring_tail(&ch->r)))
			return -1;
		ch->tail_written = daq_ring_tail(&ch->r);
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

#define FLOOR_ROUNDS 7
#define FLOOR_ROUND_NS 40000000u

/* Median MB/s of FLOOR_ROUNDS rounds of op over frame_size pieces of the
 * first channel's buffers (frame after frame, wrapping). */
static double floor_run(struct daq_dev *d, uint32_t frame_size, bool crc)
{
	struct daq_ring *r = &d->ch[0].r;
	size_t area = (size_t)r->size * r->buf_size, nframes = area / frame_size, k = 0;
	uint8_t *src = malloc(frame_size);
	double mbs[FLOOR_ROUNDS];
	volatile uLong sink = 0;

	if (!src || !nframes) {
		free(src);
		return 0;
	}
	for (uint32_t i = 0; i + 4 <= frame_size; i += 4)
		memcpy(src + i, &i, 4);
	/* Warm up: fault every page in first, as the stream will have. */
	for (size_t i = 0; i < nframes; i++)
		memcpy(r->bufs + i * frame_size, src, frame_size);
	for (int round = 0; round < FLOOR_ROUNDS; round++) {
		uint64_t t0 = now_ns(), t, bytes = 0;

		do {
			uint8_t *dst = r->bufs + (k++ % nframes) * frame_size;

			if (crc)
				sink += crc32(0, dst, frame_size);
			else
				memcpy(dst, src, frame_size);
			bytes += frame_size;
			t = now_ns();
		} while (t - t0 < FLOOR_ROUND_NS);
		mbs[round] = (double)bytes * 1e3 / (double)(t - t0);
	}
	(void)sink;
	free(src);
	qsort(mbs, FLOOR_ROUNDS, sizeof(mbs[0]), cmp_double);
	return mbs[FLOOR_ROUNDS / 2];
}

double daq_memcpy_floor(struct daq_dev *d, uint32_t frame_size)
{
	return floor_run(d, frame_size, false);
}

double daq_crc_floor(struct daq_dev *d, uint32_t frame_size)
{
	return floor_run(d, frame_size, true);
}
