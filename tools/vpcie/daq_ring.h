/* SPDX-License-Identifier: MIT */
/*
 * daq_ring.h - the consumer side of one vpcie-detector channel: a
 * descriptor ring and its buffers in host memory (detector_regs.h), the
 * frames found there checked and the buffers posted again.
 *
 * Memory only: no vfio-user call is made here, so `vpcie daq`, the tests
 * and the benchmarks share it; the caller writes daq_ring_tail() to the
 * channel's RING_TAIL register. Slot s always owns buffer s (buf_size
 * bytes at bufs_iova + s * buf_size); a frame spans consecutive slots
 * (scatter-gather), rejected descriptors in between excepted.
 *
 * What the device writes is not trusted: completion fields are read once
 * (DONE with acquire ordering, then the rest), every length is checked
 * against the buffer, and a frame is "corrupted" if anything is off:
 * header (magic, channel, header length, frame length, sequence numbers
 * going backwards), descriptor status or flags, total length, CRC.
 * Sequence numbers skipped forward are "lost" (frames the device dropped).
 */
#ifndef VPCIE_TOOL_DAQ_RING_H
#define VPCIE_TOOL_DAQ_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <endian.h>
#include <sys/uio.h>

#include "detector_regs.h"

/* A verified frame's pieces, for --output. */
typedef int (*daq_frame_fn)(void *opaque, uint16_t channel, uint64_t seq,
			    const struct iovec *iov, unsigned n);

struct daq_ring {
	/* Set by daq_ring_init(). */
	uint8_t *ring;           /* size descriptors */
	uint8_t *shadow;         /* DET_SHADOW_SIZE bytes: the tail shadow block */
	uint64_t shadow_iova;
	uint8_t *bufs;           /* size * buf_size bytes */
	uint64_t ring_iova, bufs_iova;
	uint32_t size, buf_size, frame_size;
	uint16_t channel;
	bool crc;                /* check each frame's CRC-32 */
	daq_frame_fn on_frame;   /* may be NULL */
	void *opaque;
	/* Progress. */
	uint32_t next;           /* next descriptor to look at (free-running) */
	uint32_t fstart;         /* first descriptor of the frame in progress */
	bool in_frame;
	uint32_t nseg;
	uint32_t *seg;           /* slots of the frame in progress */
	struct iovec *iov;
	uint64_t expect;         /* next sequence number expected */
	/* Results. */
	uint64_t frames;         /* complete frames seen (good or not) */
	uint64_t good, lost, corrupted, bytes, bad_desc, dma_err;
	int out_err;             /* first error of on_frame, 0 if none */
};

/* Bytes of host memory a ring of size descriptors with buf_size buffers
 * needs (ring first, page aligned, then a page for the tail shadow block,
 * then the buffers). */
size_t daq_ring_mem_size(uint32_t size, uint32_t buf_size);

/*
 * Lay the ring out in mem (at bus address iova, daq_ring_mem_size() bytes):
 * every descriptor gets its buffer, flags 0. 0 or -ENOMEM / -EINVAL (size
 * not a power of two, buf_size < 64 or not a multiple of 8, frame_size not
 * valid for the device).
 */
int daq_ring_init(struct daq_ring *r, void *mem, uint64_t iova, uint32_t size,
		  uint32_t buf_size, uint32_t frame_size, uint16_t channel, bool crc);
void daq_ring_free(struct daq_ring *r);

/* Give slot s another address and length (tests: hostile descriptors).
 * The slot gets its own buffer back when it is reposted. */
void daq_ring_set_desc(struct daq_ring *r, uint32_t slot, uint64_t addr, uint32_t len);

/* Look at completed descriptors, up to max_frames frames; returns how many
 * frames completed. Their descriptors are posted again. */
unsigned daq_ring_consume(struct daq_ring *r, unsigned max_frames);

/* RING_TAIL to write: every descriptor not held by a frame in progress is
 * posted. */
static inline uint32_t daq_ring_tail(const struct daq_ring *r)
{
	return (r->in_frame ? r->fstart : r->next) + r->size;
}

/*
 * Store tail in the shadow block (release: after the descriptors), then a
 * full barrier, then read the device's flags: true if the engine announced
 * IDLE, i.e. RING_TAIL must be written too (detector_regs.h, shadow block).
 */
static inline bool daq_ring_publish(struct daq_ring *r, uint32_t tail)
{
	__atomic_store_n((uint32_t *)(void *)(r->shadow + DET_SHADOW_TAIL), htole32(tail),
			 __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return le32toh(__atomic_load_n((uint32_t *)(void *)(r->shadow + DET_SHADOW_FLAGS),
				       __ATOMIC_RELAXED)) & DET_SHADOW_F_IDLE;
}

#endif
