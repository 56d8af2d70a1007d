/* SPDX-License-Identifier: MIT */
/*
 * The pci-epf-test checksum: epf_crc32_le() must equal Linux's
 * crc32_le(seed, buf, len), which the host driver computes as
 * crc32_le(~0, buf, len). Checked against a bitwise reference written from
 * the definition (reflected CRC-32, polynomial 0xEDB88320, no inversions),
 * against fixed values, and against zlib through the relation
 * crc32_le(s, p, n) == ~crc32(~s, p, n).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "epf_crc.h"

/* One bit at a time, straight from the definition. */
static uint32_t ref_crc32_le(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return crc;
}

static uint8_t *pseudo_random(size_t len, uint32_t seed)
{
	uint8_t *b = malloc(len ? len : 1);
	uint32_t x = seed ? seed : 1;

	assert_non_null(b);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (uint8_t)(x >> 24);
	}
	return b;
}

/* Known values: the standard CRC-32 check value of "123456789" is 0xcbf43926
 * (inverted in and out); crc32_le(~0, ...) skips the final inversion. */
static void test_known_values(void **state)
{
	static const struct {
		const char *s;
		uint32_t crc32;   /* standard CRC-32 (zlib, IEEE 802.3) */
		uint32_t le_ff;   /* Linux crc32_le(~0, s, len) */
	} v[] = {
		{"", 0x00000000u, 0xffffffffu},
		{"a", 0xe8b7be43u, 0x174841bcu},
		{"abc", 0x352441c2u, 0xcadbbe3du},
		{"123456789", 0xcbf43926u, 0x340bc6d9u},
		{"The quick brown fox jumps over the lazy dog", 0x414fa339u, 0xbeb05cc6u},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = strlen(v[i].s);

		assert_int_equal(ref_crc32_le(0xffffffffu, (const uint8_t *)v[i].s, n), v[i].le_ff);
		assert_int_equal(epf_checksum(v[i].s, n), v[i].le_ff);
		assert_int_equal(epf_crc32_le(EPF_CRC_INIT, v[i].s, n), v[i].le_ff);
		assert_int_equal((uint32_t)crc32(0, (const Bytef *)v[i].s, (uInt)n), v[i].crc32);
		assert_int_equal(v[i].le_ff, ~v[i].crc32);
	}
	/* All-zero and all-ones inputs. */
	{
		uint8_t z[32] = {0}, o[32];

		memset(o, 0xff, sizeof(o));
		assert_int_equal(epf_checksum(z, sizeof(z)), ref_crc32_le(~0u, z, sizeof(z)));
		assert_int_equal(epf_checksum(o, sizeof(o)), ref_crc32_le(~0u, o, sizeof(o)));
		/* The standard CRC-32 of 32 zero bytes is 0x190a55ad. */
		assert_int_equal(epf_checksum(z, sizeof(z)), ~0x190a55adu);
	}
}

/* The sizes pcitest uses, on pseudo-random data, against the reference. */
static void test_pcitest_sizes(void **state)
{
	static const size_t sizes[] = {1, 2, 3, 4, 7, 8, 15, 16, 1024, 1025, 4096, 1024000, 1024001};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *b = pseudo_random(sizes[i], (uint32_t)(i + 1) * 2654435761u);

		assert_int_equal(epf_checksum(b, sizes[i]), ref_crc32_le(0xffffffffu, b, sizes[i]));
		assert_int_equal(epf_checksum(b, sizes[i]),
				 ~(uint32_t)crc32(0, b, (uInt)sizes[i]));
		free(b);
	}
}

/* Any seed: crc32_le(s, p, n) == ~crc32(~s, p, n). */
static void test_seeds(void **state)
{
	static const uint32_t seeds[] = {0, 1, 0x12345678u, 0x80000000u, 0xdeadbeefu, 0xffffffffu};
	uint8_t *b = pseudo_random(777, 42);

	(void)state;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		uint32_t s = seeds[i];

		assert_int_equal(epf_crc32_le(s, b, 777), ref_crc32_le(s, b, 777));
		assert_int_equal(epf_crc32_le(s, b, 777), ~(uint32_t)crc32(~s & 0xffffffffu, b, 777));
		/* No bytes: the seed comes back unchanged. */
		assert_int_equal(epf_crc32_le(s, b, 0), s);
	}
	/* crc32_le(0, "123456789") from the reference (no pre-inversion). */
	assert_int_equal(epf_crc32_le(0, "123456789", 9),
			 ref_crc32_le(0, (const uint8_t *)"123456789", 9));
	free(b);
}

/* Chunked computation (as the device does per DMA piece) == one shot. */
static void test_incremental(void **state)
{
	const size_t len = 1024001;
	uint8_t *b = pseudo_random(len, 7);
	uint32_t whole = epf_checksum(b, len);
	static const size_t splits[] = {0, 1, 3, 1023, 4096, 65536, 1000000, 1024000, 1024001};

	(void)state;
	for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		uint32_t c = epf_crc32_le(EPF_CRC_INIT, b, splits[i]);

		c = epf_crc32_le(c, b + splits[i], len - splits[i]);
		assert_int_equal(c, whole);
	}
	/* Many small pieces. */
	{
		uint32_t c = EPF_CRC_INIT;

		for (size_t off = 0; off < len; off += 997)
			c = epf_crc32_le(c, b + off, len - off < 997 ? len - off : 997);
		assert_int_equal(c, whole);
	}
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_pcitest_sizes),
		cmocka_unit_test(test_seeds),
		cmocka_unit_test(test_incremental),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
