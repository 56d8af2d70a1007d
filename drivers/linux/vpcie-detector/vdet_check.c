// SPDX-License-Identifier: MIT
/* vdet_check.c - frame verification of vdet-stream (vdet_check.h). */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "detector_regs.h"
#include "vdet_check.h"

static uint32_t get16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

uint32_t vdet_frame_crc(const uint8_t *frame, uint32_t len)
{
	static const uint8_t zero[4];
	uLong c = crc32(0, frame, DET_HDR_CRC);

	c = crc32(c, zero, sizeof(zero));
	return (uint32_t)crc32(c, frame + DET_HDR_SIZE, len - DET_HDR_SIZE);
}

uint8_t *vdet_counter_payload(uint32_t frame_size)
{
	uint32_t n = (frame_size - DET_HDR_SIZE) / 4;
	uint8_t *p;

	if (frame_size < DET_HDR_SIZE || !(p = malloc((size_t)n * 4 + 1)))
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t le = htole32(i);

		memcpy(p + 4 * (size_t)i, &le, 4);
	}
	return p;
}

static bool header_ok(const struct vdet_expect *e, const struct vdet_completion *c,
		      const uint8_t *f)
{
	return get32(f + DET_HDR_MAGIC) == DET_FRAME_MAGIC &&
	       get16(f + DET_HDR_CHANNEL) == e->channel &&
	       get16(f + DET_HDR_HDR_LEN) == DET_HDR_SIZE &&
	       get32(f + DET_HDR_LENGTH) == e->frame_size &&
	       get64(f + DET_HDR_SEQ) == c->seq;
}

void vdet_check_frame(struct vdet_tally *t, const struct vdet_expect *e,
		      const struct vdet_completion *c, const uint8_t *f)
{
	bool bad = false;

	if (c->status != VDET_ST_OK) {
		t->bad_status++;
		bad = true;
	}
	if (c->length != e->frame_size) {
		t->len_bad++;
		bad = true;
	}
	if (e->verify && !bad) { /* (only a complete frame has a header worth reading) */
		if (!header_ok(e, c, f)) {
			t->hdr_bad++;
			bad = true;
		} else if (vdet_frame_crc(f, e->frame_size) != get32(f + DET_HDR_CRC)) {
			t->crc_bad++;
			bad = true;
		} else if (e->counter &&
			   memcmp(f + DET_HDR_SIZE, e->counter, e->frame_size - DET_HDR_SIZE)) {
			t->payload_bad++; /* a consistent CRC over the wrong data */
			bad = true;
		}
	}
	if (bad)
		t->corrupted++;
	/* The sequence as the descriptors tell it (the header agrees when verified). */
	if (c->seq >= t->next_seq) {
		t->lost += c->seq - t->next_seq;
		t->next_seq = c->seq + 1;
	} else {
		t->reordered++;
	}
	t->frames++;
	t->bytes += c->length;
}
