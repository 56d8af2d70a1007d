/* SPDX-License-Identifier: MIT */
/*
 * daq_out.c - `vpcie daq --output`: verified frames to a file (back to
 * back, written from the ring's buffers with one pwritev per frame,
 * O_DIRECT when frame and buffer sizes are multiples of 4 KiB) or to a
 * directory (one file per frame, chCHANNEL-SEQ.frame).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "daq.h"

struct daq_out {
	int fd;        /* the file, or the directory */
	bool dir;
	uint64_t off;  /* file: where the next frame goes */
	int err;
};

struct daq_out *daq_out_open(const char *path, uint32_t frame_size, uint32_t buf_size)
{
	struct daq_out *o = calloc(1, sizeof(*o));
	struct stat st;

	if (!o)
		return NULL;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		o->dir = true;
		o->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;

		o->fd = -1;
		/* The buffers are page aligned; O_DIRECT also needs the sizes so. */
		if (frame_size % 4096 == 0 && buf_size % 4096 == 0)
			o->fd = open(path, flags | O_DIRECT, 0644);
		if (o->fd < 0) /* not aligned, or a file system without O_DIRECT */
			o->fd = open(path, flags, 0644);
	}
	if (o->fd < 0) {
		fprintf(stderr, "vpcie daq: %s: %s\n", path, strerror(errno));
		free(o);
		return NULL;
	}
	return o;
}

/* Write the whole iovec at off (pwritev may write less). */
static int write_all(int fd, const struct iovec *iov, unsigned n, uint64_t off)
{
	struct iovec local[64];
	unsigned i = 0;
	size_t skip = 0;

	while (i < n) {
		unsigned k = 0;
		ssize_t w;

		for (unsigned j = i; j < n && k < 64; j++, k++) {
			local[k] = iov[j];
			if (j == i) {
				local[k].iov_base = (uint8_t *)local[k].iov_base + skip;
				local[k].iov_len -= skip;
			}
		}
		w = pwritev(fd, local, (int)k, (off_t)off);
		if (w < 0 && errno == EINVAL && (fcntl(fd, F_GETFL) & O_DIRECT)) {
			/* O_DIRECT refused this one: go on through the page cache. */
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_DIRECT);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		off += (uint64_t)w;
		while (w > 0) {
			size_t left = iov[i].iov_len - skip;

			if ((size_t)w >= left) {
				w -= (ssize_t)left;
				i++;
				skip = 0;
			} else {
				skip += (size_t)w;
				w = 0;
			}
		}
	}
	return 0;
}

int daq_out_frame(void *opaque, uint16_t channel, uint64_t seq, const struct iovec *iov,
		  unsigned n)
{
	struct daq_out *o = opaque;
	uint64_t len = 0;
	int rc;

	for (unsigned i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (o->dir) {
		char name[64];
		int fd;

		snprintf(name, sizeof(name), "ch%u-%016" PRIx64 ".frame", channel, seq);
		fd = openat(o->fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		rc = write_all(fd, iov, n, 0);
		if (close(fd) < 0 && !rc)
			rc = -errno;
		return rc;
	}
	rc = write_all(o->fd, iov, n, o->off);
	o->off += len;
	return rc;
}

int daq_out_close(struct daq_out *o)
{
	int rc = 0;

	if (!o)
		return 0;
	if (!o->dir && fsync(o->fd) < 0 && errno != EINVAL)
		rc = -errno;
	if (close(o->fd) < 0 && !rc)
		rc = -errno;
	free(o);
	return rc;
}
