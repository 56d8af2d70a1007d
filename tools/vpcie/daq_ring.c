/* SPDX-License-Identifier: MIT */
/* daq_ring.c - check and repost one detector channel's frames (daq_ring.h). */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "daq_ring.h"
#include "detector_regs.h"
#include "../../lib/util/le.h"

#define PAGE 4096u

static size_t ring_bytes(uint32_t size)
{
	return ((size_t)size * DET_DESC_SIZE + PAGE - 1) & ~(size_t)(PAGE - 1);
}

size_t daq_ring_mem_size(uint32_t size, uint32_t buf_size)
{
	return ring_bytes(size) + PAGE + (size_t)size * buf_size;
}

static uint8_t *desc(const struct daq_ring *r, uint32_t i)
{
	return r->ring + (size_t)(i & (r->size - 1)) * DET_DESC_SIZE;
}

/* Post descriptor i again with its own buffer; flags last (the device only
 * looks once RING_TAIL says so, but keep the order obvious). */
static void repost(struct daq_ring *r, uint32_t i)
{
	uint32_t slot = i & (r->size - 1);
	uint8_t *d = desc(r, i);

	le_put64(d + DET_DESC_ADDR, r->bufs_iova + (uint64_t)slot * r->buf_size);
	le_put32(d + DET_DESC_LEN, r->buf_size);
	le_put32(d + DET_DESC_USED, 0);
	le_put32(d + DET_DESC_STATUS, 0);
	le_put64(d + DET_DESC_SEQ, 0);
	__atomic_store_n((uint32_t *)(void *)(d + DET_DESC_FLAGS), 0, __ATOMIC_RELAXED);
}

int daq_ring_init(struct daq_ring *r, void *mem, uint64_t iova, uint32_t size,
		  uint32_t buf_size, uint32_t frame_size, uint16_t channel, bool crc)
{
	uint32_t max_segs;

	memset(r, 0, sizeof(*r));
	if (!size || size > 65536 || (size & (size - 1)) || buf_size < 64 || buf_size % 8 ||
	    frame_size < DET_FRAME_MIN || frame_size > DET_FRAME_MAX || frame_size % 8)
		return -EINVAL;
	max_segs = (frame_size + buf_size - 1) / buf_size;
	if (max_segs > size)
		return -EINVAL;
	r->ring = mem;
	r->ring_iova = iova;
	r->shadow = (uint8_t *)mem + ring_bytes(size);
	r->shadow_iova = iova + ring_bytes(size);
	memset(r->shadow, 0, DET_SHADOW_SIZE);
	r->bufs = r->shadow + PAGE;
	r->bufs_iova = r->shadow_iova + PAGE;
	r->size = size;
	r->buf_size = buf_size;
	r->frame_size = frame_size;
	r->channel = channel;
	r->crc = crc;
	r->seg = calloc(size, sizeof(*r->seg));
	r->iov = calloc(size, sizeof(*r->iov));
	if (!r->seg || !r->iov) {
		daq_ring_free(r);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < size; i++)
		repost(r, i);
	return 0;
}

void daq_ring_free(struct daq_ring *r)
{
	free(r->seg);
	free(r->iov);
	r->seg = NULL;
	r->iov = NULL;
}

void daq_ring_set_desc(struct daq_ring *r, uint32_t slot, uint64_t addr, uint32_t len)
{
	uint8_t *d = desc(r, slot);

	le_put64(d + DET_DESC_ADDR, addr);
	le_put32(d + DET_DESC_LEN, len);
}

/* The frame held by the segments: every check of the header and, with
 * r->crc, the CRC. Returns true if good; updates lost/expect. */
static bool frame_ok(struct daq_ring *r, uint64_t dseq, size_t total)
{
	const uint8_t *h = r->bufs + (size_t)r->seg[0] * r->buf_size;
	uint64_t seq;

	if (total != r->frame_size || r->iov[0].iov_len < DET_HDR_SIZE)
		return false;
	if (le_get32(h + DET_HDR_MAGIC) != DET_FRAME_MAGIC || le_get16(h + DET_HDR_CHANNEL) != r->channel ||
	    le_get16(h + DET_HDR_HDR_LEN) != DET_HDR_SIZE || le_get32(h + DET_HDR_LENGTH) != r->frame_size)
		return false;
	seq = le_get64(h + DET_HDR_SEQ);
	if (seq != dseq || seq < r->expect)
		return false; /* disagreeing, repeated or reordered */
	r->lost += seq - r->expect;
	r->expect = seq + 1;
	if (r->crc) {
		static const uint8_t zero[4];
		uLong c = crc32(0, h, DET_HDR_CRC);

		c = crc32(c, zero, 4);
		c = crc32(c, h + DET_HDR_SIZE, (uInt)(r->iov[0].iov_len - DET_HDR_SIZE));
		for (uint32_t k = 1; k < r->nseg; k++)
			c = crc32(c, r->iov[k].iov_base, (uInt)r->iov[k].iov_len);
		if ((uint32_t)c != le_get32(h + DET_HDR_CRC))
			return false;
	}
	return true;
}

/* The frame in progress is complete (eof) or abandoned: judge, hand it to
 * on_frame, post its descriptors again. */
static void frame_end(struct daq_ring *r, bool eof, bool bad, uint64_t dseq, size_t total)
{
	bool ok = eof && !bad && frame_ok(r, dseq, total);

	r->frames++;
	if (ok) {
		r->good++;
		r->bytes += total;
		if (r->on_frame && !r->out_err)
			r->out_err = r->on_frame(r->opaque, r->channel, r->expect - 1, r->iov, r->nseg);
	} else {
		r->corrupted++;
	}
	for (uint32_t k = 0; k < r->nseg; k++)
		repost(r, r->seg[k]);
	r->in_frame = false;
	r->nseg = 0;
}

unsigned daq_ring_consume(struct daq_ring *r, unsigned max_frames)
{
	unsigned done = 0;
	/* State of the frame in progress, kept across calls in the segments. */
	while (done < max_frames) {
		uint8_t *d = desc(r, r->next);
		uint32_t flags = le32toh(__atomic_load_n((uint32_t *)(void *)(d + DET_DESC_FLAGS),
							 __ATOMIC_ACQUIRE));
		uint32_t used, status, slot = r->next & (r->size - 1);
		uint64_t dseq;

		if (!(flags & DET_DESC_F_DONE))
			break;
		used = le_get32(d + DET_DESC_USED);
		status = le_get32(d + DET_DESC_STATUS);
		dseq = le_get64(d + DET_DESC_SEQ);
		if (status == DET_DESC_ST_BAD) {
			/* Rejected by the device: no data, not part of a frame. */
			r->bad_desc++;
			repost(r, r->next);
			r->next++;
			continue;
		}
		if (flags & DET_DESC_F_SOF) {
			if (r->in_frame) { /* the previous frame never ended */
				frame_end(r, false, true, 0, 0);
				done++;
			}
			r->in_frame = true;
			r->fstart = r->next;
		} else if (!r->in_frame) {
			/* A stray piece: no frame to belong to. */
			r->frames++;
			r->corrupted++;
			repost(r, r->next);
			r->next++;
			done++;
			continue;
		}
		if (status == DET_DESC_ST_DMA_ERR)
			r->dma_err++;
		r->seg[r->nseg] = slot;
		r->iov[r->nseg].iov_base = r->bufs + (size_t)slot * r->buf_size;
		r->iov[r->nseg].iov_len = used <= r->buf_size ? used : 0;
		r->nseg++;
		r->next++;
		if ((flags & DET_DESC_F_EOF) || r->nseg == r->size) {
			size_t total = 0;
			bool bad = used > r->buf_size || status != DET_DESC_ST_OK ||
				   !(flags & DET_DESC_F_EOF);

			for (uint32_t k = 0; k < r->nseg; k++) {
				const uint8_t *dk = desc(r, r->seg[k]);

				total += r->iov[k].iov_len;
				if (le_get32(dk + DET_DESC_STATUS) != DET_DESC_ST_OK ||
				    le_get64(dk + DET_DESC_SEQ) != dseq || !r->iov[k].iov_len)
					bad = true;
			}
			frame_end(r, true, bad, dseq, total);
			done++;
		}
	}
	return done;
}
