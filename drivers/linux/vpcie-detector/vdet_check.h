/* SPDX-License-Identifier: MIT */
/*
 * vdet_check.h - frame verification of vdet-stream, the guest backend of the
 * vpcie_detector driver: one completed frame, as the driver reported it
 * (struct vdet_completion) and as the device wrote it (the buffer), against
 * what the stream should be. Everything the consumer can prove:
 *
 *   status     the driver's completion status is VDET_ST_OK
 *   length     the frame is FRAME_SIZE bytes
 *   header     magic, channel, header length, frame length; the header's
 *              sequence number is the one the descriptors carry
 *   crc        CRC-32 (zlib's crc32) of the frame with the crc field read as 0
 *   payload    the counter pattern (word i = i), when asked for
 *   sequence   numbers never seen (lost) and ones that went backwards
 *              (reordered or repeated)
 *
 * A user-space module (not part of the kernel module); tests/unit/test_vdet_check.c.
 */
#ifndef VDET_CHECK_H
#define VDET_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "vpcie_detector.h"

/* What the frames of a stream must be. */
struct vdet_expect {
	uint32_t frame_size;
	uint32_t channel;
	bool verify;            /* false: only status, length and sequence */
	const uint8_t *counter; /* the counter payload (vdet_counter_payload), or NULL */
};

/* What a stream was. */
struct vdet_tally {
	uint64_t frames, bytes;
	uint64_t lost;       /* sequence numbers skipped */
	uint64_t reordered;  /* frames whose sequence number went backwards */
	uint64_t corrupted;  /* frames failing any check below */
	uint64_t bad_status, len_bad, hdr_bad, crc_bad, payload_bad;
	uint64_t next_seq;   /* the sequence number expected next */
};

/* CRC-32 of a frame of len bytes (>= DET_HDR_SIZE) with its crc field read as 0. */
uint32_t vdet_frame_crc(const uint8_t *frame, uint32_t len);

/* The counter payload of frames of frame_size bytes (malloc'ed), or NULL. */
uint8_t *vdet_counter_payload(uint32_t frame_size);

/* Check one frame (frame_size bytes at frame) and count it into t. */
void vdet_check_frame(struct vdet_tally *t, const struct vdet_expect *e,
		      const struct vdet_completion *c, const uint8_t *frame);

#endif /* VDET_CHECK_H */
