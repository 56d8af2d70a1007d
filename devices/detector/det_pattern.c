/* SPDX-License-Identifier: MIT */
/* det_pattern.c - frame contents and CRCs of vpcie-detector (det_pattern.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "det_pattern.h"
#include "detector_regs.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int det_file_load(struct det_file *f, const char *path)
{
	struct stat st;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	memset(f, 0, sizeof(*f));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		err = errno ? -errno : -EINVAL;
		close(fd);
		return err ? err : -EINVAL;
	}
	f->size = (size_t)st.st_size;
	f->data = malloc(f->size);
	if (!f->data) {
		close(fd);
		return -ENOMEM;
	}
	while (got < f->size) {
		ssize_t n = read(fd, f->data + got, f->size - got);

		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			close(fd);
			det_file_free(f);
			return err;
		}
		got += (size_t)n;
	}
	close(fd);
	return 0;
}

void det_file_free(struct det_file *f)
{
	free(f->data);
	f->data = NULL;
	f->size = 0;
}

void det_frame_free(struct det_frame *fr)
{
	free(fr->buf);
	free(fr->file_crc);
	free(fr->file_crc_ok);
	memset(fr, 0, sizeof(*fr));
}

/* splitmix64, to seed xoshiro256** from (seed, seq). */
static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void det_prng_fill(uint8_t *p, size_t len, uint32_t seed, uint64_t seq)
{
	uint64_t x = ((uint64_t)seed << 32) ^ seq, s[4];

	for (int i = 0; i < 4; i++)
		s[i] = splitmix(&x);
	for (size_t off = 0; off + 8 <= len; off += 8) {
		uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

		s[2] ^= s[0];
		s[3] ^= s[1];
		s[1] ^= s[2];
		s[0] ^= s[3];
		s[2] ^= t;
		s[3] = rotl(s[3], 45);
		put64(p + off, r);
	}
}

int det_frame_prepare(struct det_frame *fr, uint32_t size, uint32_t pattern,
		      const struct det_file *file, uint8_t **retire)
{
	uint32_t plen;

	if (size < DET_FRAME_MIN || size > DET_FRAME_MAX || size % 8)
		return -EINVAL;
	if (pattern > DET_PAT_FILE || (pattern == DET_PAT_FILE && (!file || !file->size)))
		return -EINVAL;
	if (fr->buf && fr->size == size && fr->pattern == pattern)
		return 0;
	if (retire && !*retire) {
		*retire = fr->buf;
		fr->buf = NULL;
	}
	det_frame_free(fr);
	fr->buf = malloc(size);
	if (!fr->buf)
		return -ENOMEM;
	fr->size = size;
	fr->pattern = pattern;
	fr->file_loaded = -1;
	plen = size - DET_HDR_SIZE;
	fr->combine_op = crc32_combine_gen((z_off_t)plen);
	/* crc32_combine_op(c, 0, op) is linear in c (over GF(2)). */
	for (unsigned k = 0; k < 4; k++)
		for (unsigned b = 0; b < 256; b++)
			fr->shift[k][b] = (uint32_t)crc32_combine_op((uLong)b << (8 * k), 0,
								     (uLong)fr->combine_op);
	memset(fr->buf, 0, DET_HDR_SIZE);
	if (pattern == DET_PAT_COUNTER) {
		for (uint32_t i = 0; i < plen / 4; i++)
			put32(fr->buf + DET_HDR_SIZE + 4 * (size_t)i, i);
		fr->payload_crc = (uint32_t)crc32(0, fr->buf + DET_HDR_SIZE, plen);
	} else if (pattern == DET_PAT_FILE) {
		fr->file_frames = file->size / plen ? file->size / plen : 1;
		fr->file_crc = calloc(fr->file_frames, sizeof(*fr->file_crc));
		fr->file_crc_ok = calloc(fr->file_frames, 1);
		if (!fr->file_crc || !fr->file_crc_ok) {
			det_frame_free(fr);
			return -ENOMEM;
		}
	}
	return 0;
}

/* FILE: payload k into the buffer (once per change of k), its CRC cached. */
static uint32_t file_payload(struct det_frame *fr, const struct det_file *file, uint64_t seq)
{
	size_t k = (size_t)(seq % fr->file_frames), plen = fr->size - DET_HDR_SIZE;
	uint8_t *p = fr->buf + DET_HDR_SIZE;

	if (fr->file_loaded != (int64_t)k) {
		if (file->size >= plen) {
			memcpy(p, file->data + k * plen, plen);
		} else {
			for (size_t off = 0; off < plen; off += file->size)
				memcpy(p + off, file->data,
				       plen - off < file->size ? plen - off : file->size);
		}
		fr->file_loaded = (int64_t)k;
	}
	if (!fr->file_crc_ok[k]) {
		fr->file_crc[k] = (uint32_t)crc32(0, p, (uInt)plen);
		fr->file_crc_ok[k] = 1;
	}
	return fr->file_crc[k];
}

/* CRC-32 of a few bytes (the header) a byte at a time with zlib's table:
 * zlib's crc32() costs several times more on 32 bytes. */
static uint32_t crc32_small(const uint8_t *p, size_t n)
{
	const z_crc_t *t = get_crc_table();
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++)
		c = (uint32_t)t[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

void det_frame_fill(struct det_frame *fr, const struct det_file *file, uint16_t channel,
		    uint64_t seq, uint64_t timestamp, uint32_t seed)
{
	uint8_t *h = fr->buf;
	uint32_t plen = fr->size - DET_HDR_SIZE, pcrc, hcrc;

	switch (fr->pattern) {
	case DET_PAT_PRNG:
		det_prng_fill(h + DET_HDR_SIZE, plen, seed, seq);
		pcrc = (uint32_t)crc32(0, h + DET_HDR_SIZE, plen);
		break;
	case DET_PAT_FILE:
		pcrc = file_payload(fr, file, seq);
		break;
	default:
		pcrc = fr->payload_crc;
	}
	put32(h + DET_HDR_MAGIC, DET_FRAME_MAGIC);
	put16(h + DET_HDR_CHANNEL, channel);
	put16(h + DET_HDR_HDR_LEN, DET_HDR_SIZE);
	put64(h + DET_HDR_SEQ, seq);
	put64(h + DET_HDR_TIMESTAMP, timestamp);
	put32(h + DET_HDR_LENGTH, fr->size);
	put32(h + DET_HDR_CRC, 0);
	hcrc = crc32_small(h, DET_HDR_SIZE);
	put32(h + DET_HDR_CRC, fr->shift[0][hcrc & 0xff] ^ fr->shift[1][(hcrc >> 8) & 0xff] ^
				       fr->shift[2][(hcrc >> 16) & 0xff] ^ fr->shift[3][hcrc >> 24] ^
				       pcrc);
}
