/* SPDX-License-Identifier: MIT */
/*
 * epf_crc.h - the checksum of pci-epf-test: Linux's crc32_le(~0, buf, len).
 *
 * Linux's crc32_le(seed, p, n) is the reflected CRC-32 (polynomial
 * 0xEDB88320) run from seed, with no inversion at either end. zlib's
 * crc32(c, p, n) inverts on the way in and on the way out, so
 *
 *	crc32_le(s, p, n) == ~crc32(~s, p, n)         (32-bit arithmetic)
 *
 * and in particular crc32_le(~0, p, n) == ~crc32(0, p, n). tests/unit/
 * test_crc.c checks this against a bitwise reference and known values
 * (crc32_le(~0, "123456789", 9) == 0x340bc6d9, the inverse of the standard
 * CRC-32 check value 0xcbf43926).
 */
#ifndef VPCIE_EPF_CRC_H
#define VPCIE_EPF_CRC_H

#include <stddef.h>
#include <stdint.h>

/* Starting state for a checksum the way pci-epf-test computes it. */
#define EPF_CRC_INIT 0xffffffffu

/* Continue a crc32_le computation: returns crc32_le(crc, buf, len). */
uint32_t epf_crc32_le(uint32_t crc, const void *buf, size_t len);

/* The whole checksum: crc32_le(~0, buf, len). */
static inline uint32_t epf_checksum(const void *buf, size_t len)
{
	return epf_crc32_le(EPF_CRC_INIT, buf, len);
}

#endif
