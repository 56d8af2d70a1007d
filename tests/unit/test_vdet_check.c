/* SPDX-License-Identifier: MIT */
/*
 * vdet_check, the frame verification of vdet-stream (the guest backend of
 * the vpcie_detector driver): a good frame passes, and each kind of damage
 * is caught and counted where it belongs -- a flipped bit anywhere (CRC), a
 * wrong header field, a payload swapped under a recomputed CRC (counter
 * check), a bad driver status or length, sequence gaps and steps backwards.
 * Frames are built here from detector_regs.h with zlib's crc32 over the
 * frame with a zeroed crc field, the definition the device follows; and the
 * device's own frames (devices/detector/det_pattern.c) pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "det_pattern.h"
#include "detector_regs.h"
#include "vdet_check.h"

#define FS 256u /* frame size of the tests */

static void put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The CRC by the definition: the whole frame, crc field zeroed, in one go. */
static uint32_t crc_by_definition(const uint8_t *f, uint32_t len)
{
	uint8_t *copy = malloc(len);
	uint32_t c;

	assert_non_null(copy);
	memcpy(copy, f, len);
	memset(copy + DET_HDR_CRC, 0, 4);
	c = (uint32_t)crc32(0, copy, len);
	free(copy);
	return c;
}

static void seal(uint8_t *f)
{
	put(f + DET_HDR_CRC, crc_by_definition(f, FS), 4);
}

/* A valid counter frame of channel ch, sequence seq. */
static void make_frame(uint8_t *f, uint16_t ch, uint64_t seq)
{
	memset(f, 0, FS);
	put(f + DET_HDR_MAGIC, DET_FRAME_MAGIC, 4);
	put(f + DET_HDR_CHANNEL, ch, 2);
	put(f + DET_HDR_HDR_LEN, DET_HDR_SIZE, 2);
	put(f + DET_HDR_SEQ, seq, 8);
	put(f + DET_HDR_TIMESTAMP, 1000 + seq, 8);
	put(f + DET_HDR_LENGTH, FS, 4);
	for (uint32_t i = 0; i < (FS - DET_HDR_SIZE) / 4; i++)
		put(f + DET_HDR_SIZE + 4 * i, i, 4);
	seal(f);
}

struct fixture {
	struct vdet_expect e;
	struct vdet_tally t;
	uint8_t frame[FS];
	struct vdet_completion c;
};

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->e.frame_size = FS;
	x->e.channel = 3;
	x->e.verify = true;
	x->e.counter = vdet_counter_payload(FS);
	assert_non_null(x->e.counter);
	x->c.length = FS;
	x->c.status = VDET_ST_OK;
	x->c.nsegs = 1;
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *x = *state;

	free((void *)x->e.counter);
	free(x);
	return 0;
}

static void check(struct fixture *x, uint64_t seq)
{
	x->c.seq = seq;
	vdet_check_frame(&x->t, &x->e, &x->c, x->frame);
}

static void test_crc_matches_definition(void **state)
{
	struct fixture *x = *state;

	make_frame(x->frame, 3, 77);
	assert_int_equal(vdet_frame_crc(x->frame, FS), crc_by_definition(x->frame, FS));
	/* the crc field's own contents do not enter the CRC */
	put(x->frame + DET_HDR_CRC, 0xdeadbeef, 4);
	assert_int_equal(vdet_frame_crc(x->frame, FS), crc_by_definition(x->frame, FS));
}

static void test_good_frames(void **state)
{
	struct fixture *x = *state;

	for (uint64_t s = 0; s < 5; s++) {
		make_frame(x->frame, 3, s);
		check(x, s);
	}
	assert_int_equal(x->t.frames, 5);
	assert_int_equal(x->t.bytes, 5 * FS);
	assert_int_equal(x->t.corrupted, 0);
	assert_int_equal(x->t.lost, 0);
	assert_int_equal(x->t.reordered, 0);
	assert_int_equal(x->t.next_seq, 5);
}

static void test_every_bit_flip_is_caught(void **state)
{
	struct fixture *x = *state;
	uint64_t n = 0;

	/* one bit at a time, everywhere: header, crc field, payload */
	for (uint32_t bit = 0; bit < FS * 8; bit += 7) {
		make_frame(x->frame, 3, 0);
		x->frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		x->t.next_seq = 0;
		check(x, 0);
		n++;
	}
	assert_int_equal(x->t.corrupted, n);
	assert_int_equal(x->t.hdr_bad + x->t.crc_bad, n);
}

static void test_header_fields(void **state)
{
	struct fixture *x = *state;
	static const struct { uint32_t off; int n; uint64_t v; } bad[] = {
		{ DET_HDR_MAGIC, 4, 0x12345678 },
		{ DET_HDR_CHANNEL, 2, 4 },
		{ DET_HDR_HDR_LEN, 2, 16 },
		{ DET_HDR_LENGTH, 4, FS + 8 },
		{ DET_HDR_SEQ, 8, 1 }, /* the descriptors say 0 */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		make_frame(x->frame, 3, 0);
		put(x->frame + bad[i].off, bad[i].v, bad[i].n);
		seal(x->frame); /* a CRC that agrees: only the header check can tell */
		x->t.next_seq = 0;
		check(x, 0);
		assert_int_equal(x->t.hdr_bad, i + 1);
	}
	assert_int_equal(x->t.corrupted, 5);
	assert_int_equal(x->t.crc_bad, 0);
}

static void test_payload_under_a_good_crc(void **state)
{
	struct fixture *x = *state;

	make_frame(x->frame, 3, 0);
	put(x->frame + DET_HDR_SIZE + 40, 0xffffffff, 4);
	seal(x->frame);
	check(x, 0);
	assert_int_equal(x->t.payload_bad, 1);
	assert_int_equal(x->t.corrupted, 1);
	/* without the counter expectation (PRNG, file), the CRC is the proof */
	const uint8_t *keep = x->e.counter;

	x->e.counter = NULL;
	make_frame(x->frame, 3, 1);
	put(x->frame + DET_HDR_SIZE + 40, 0xffffffff, 4);
	seal(x->frame);
	check(x, 1);
	assert_int_equal(x->t.corrupted, 1);
	assert_int_equal(x->t.frames, 2);
	x->e.counter = keep;
}

static void test_status_and_length(void **state)
{
	struct fixture *x = *state;

	make_frame(x->frame, 3, 0);
	x->c.status = VDET_ST_DMA_ERR;
	check(x, 0);
	assert_int_equal(x->t.bad_status, 1);
	x->c.status = VDET_ST_OK;
	x->c.length = FS - 8;
	make_frame(x->frame, 3, 1);
	check(x, 1);
	assert_int_equal(x->t.len_bad, 1);
	/* not verifying frames still checks what the driver said */
	x->e.verify = false;
	x->c.length = FS;
	x->c.status = VDET_ST_FRAMING;
	memset(x->frame, 0xaa, FS);
	check(x, 2);
	assert_int_equal(x->t.bad_status, 2);
	x->c.status = VDET_ST_OK;
	check(x, 3);
	assert_int_equal(x->t.corrupted, 3);
	assert_int_equal(x->t.frames, 4);
}

static void test_sequence(void **state)
{
	struct fixture *x = *state;
	static const uint64_t seqs[] = { 0, 1, 4, 5, 3, 5, 9 };

	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		make_frame(x->frame, 3, seqs[i]);
		check(x, seqs[i]);
	}
	assert_int_equal(x->t.lost, 2 + 3);     /* 2, 3 then 6, 7, 8 */
	assert_int_equal(x->t.reordered, 2);    /* 3 after 5, 5 again */
	assert_int_equal(x->t.corrupted, 0);
	assert_int_equal(x->t.next_seq, 10);
}

static void test_first_frame_not_zero(void **state)
{
	struct fixture *x = *state;

	make_frame(x->frame, 3, 2); /* frames 0 and 1 never came */
	check(x, 2);
	assert_int_equal(x->t.lost, 2);
}

/* What vpcie-detector itself produces passes, counter and PRNG, any size. */
static void test_device_frames(void **state)
{
	static const uint32_t sizes[] = { DET_FRAME_MIN, 4096, 65536 + 8 };
	static const uint32_t pats[] = { DET_PAT_COUNTER, DET_PAT_PRNG };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t p = 0; p < sizeof(pats) / sizeof(pats[0]); p++) {
			struct det_frame fr = { 0 };
			struct vdet_tally t = { 0 };
			struct vdet_expect e = { .frame_size = sizes[i], .channel = 5, .verify = true };
			struct vdet_completion c = { .length = sizes[i], .status = VDET_ST_OK };

			if (pats[p] == DET_PAT_COUNTER)
				e.counter = vdet_counter_payload(sizes[i]);
			assert_int_equal(det_frame_prepare(&fr, sizes[i], pats[p], NULL, NULL), 0);
			for (uint64_t seq = 0; seq < 4; seq++) {
				det_frame_fill(&fr, NULL, 5, seq, 123456789 + seq, 42);
				c.seq = seq;
				vdet_check_frame(&t, &e, &c, fr.buf);
			}
			assert_int_equal(t.frames, 4);
			assert_int_equal(t.corrupted, 0);
			assert_int_equal(t.lost, 0);
			/* and a flipped payload bit of the device's frame is caught */
			c.seq = 4;
			det_frame_fill(&fr, NULL, 5, 4, 1, 42);
			fr.buf[sizes[i] - 1] ^= 0x10;
			vdet_check_frame(&t, &e, &c, fr.buf);
			assert_int_equal(t.corrupted, 1);
			free((void *)e.counter);
			det_frame_free(&fr);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crc_matches_definition, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_bit_flip_is_caught, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payload_under_a_good_crc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_and_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_frame_not_zero, setup, teardown),
		cmocka_unit_test(test_device_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
