/* SPDX-License-Identifier: MIT */
/*
 * det_pattern.h - the frames of vpcie-detector: one frame buffer per
 * channel holding header + payload, filled for each frame by its pattern,
 * and the frame's CRC-32 (detector_regs.h: zlib's crc32 of the whole frame
 * with the crc field read as 0).
 *
 * Patterns (DET_PAT_*):
 *  - COUNTER: payload 32-bit word i = i, the same in every frame. The
 *    payload and its CRC are computed once per frame size; a frame then
 *    costs a 32-byte header and one crc32_combine_op().
 *  - PRNG: payload from xoshiro256** seeded by splitmix64(SEED, seq), so a
 *    consumer can regenerate it from the header.
 *  - FILE: the file is cut into payloads of FRAME_SIZE - 32 bytes; frame
 *    seq takes payload seq mod n (n = file size / payload size, at least 1;
 *    a file shorter than a payload is repeated to fill it). CRCs of the n
 *    payloads are cached as they are first computed.
 *
 * No global state: a struct det_frame per channel, a struct det_file shared.
 */
#ifndef DET_PATTERN_H
#define DET_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The frame file, loaded once (read-only). */
struct det_file {
	uint8_t *data;
	size_t size;
};

/* Load path into f. 0 or -errno. */
int det_file_load(struct det_file *f, const char *path);
void det_file_free(struct det_file *f);

struct det_frame {
	uint8_t *buf;          /* size bytes: header, then payload */
	uint32_t size;         /* frame size the buffer was prepared for */
	uint32_t pattern;      /* pattern the payload was prepared for */
	uint32_t payload_crc;  /* COUNTER: CRC of the payload */
	uint64_t combine_op;   /* crc32_combine_gen(payload bytes) */
	/* The CRC register moved past the payload's length in zeros, byte k
	 * of it at a time: crc32_combine_op(c, 0, combine_op) in four table
	 * lookups instead of a polynomial multiplication per frame. */
	uint32_t shift[4][256];
	uint32_t *file_crc;    /* FILE: per payload, valid where file_crc_ok */
	uint8_t *file_crc_ok;
	size_t file_frames;
	int64_t file_loaded;   /* FILE: payload index in buf, -1 none */
};

/* Prepare fr for frames of size bytes with pattern (allocates; the counter
 * payload and its CRC are computed here). If retire is not NULL and *retire
 * is NULL, the old frame buffer is handed over in *retire (still in use by
 * a transfer) instead of being freed. 0 or -errno (-EINVAL: FILE without a
 * file). */
int det_frame_prepare(struct det_frame *fr, uint32_t size, uint32_t pattern,
		      const struct det_file *file, uint8_t **retire);
void det_frame_free(struct det_frame *fr);

/* Fill the frame for (channel, seq, timestamp): payload per pattern (seed
 * for PRNG), header with its CRC. */
void det_frame_fill(struct det_frame *fr, const struct det_file *file, uint16_t channel,
		    uint64_t seq, uint64_t timestamp, uint32_t seed);

/* The PRNG payload (also used by consumers to check it): len bytes (a
 * multiple of 8) for (seed, seq). */
void det_prng_fill(uint8_t *p, size_t len, uint32_t seed, uint64_t seq);

#endif
