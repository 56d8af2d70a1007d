/* SPDX-License-Identifier: MIT */
/* Linux's crc32_le() on top of zlib's crc32(); see epf_crc.h for the relation. */
#include <limits.h>
#include <zlib.h>

#include "epf_crc.h"

uint32_t epf_crc32_le(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uLong z = (uLong)(~crc & 0xffffffffu);

	/* zlib's length is a uInt: feed it in pieces that fit. */
	while (len) {
		uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;

		z = crc32(z, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)(~z & 0xffffffffu);
}
