/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk requests against an image file. The request layout is only
 * assumed as the spec fixes it (VIRTIO_F_ANY_LAYOUT is implied by
 * VERSION_1): a 16-byte struct virtio_blk_outhdr at the start of the
 * readable part, data after it (writes, discard ranges) or at the start of
 * the writable part (reads, the ID), and the status byte last - wherever the
 * descriptor boundaries fall.
 *
 * Data moves straight between the file and the driver's memory with
 * preadv/pwritev when that memory is mapped (zero-copy), through a bounce
 * buffer and DMA messages otherwise.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/falloc.h>

#include "blk.h"

#define MAX_IOV 256

int blk_open(struct blk *b, const char *path, bool readonly)
{
	struct stat st;
	off_t size;

	b->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0)
		return -errno;
	if (fstat(b->fd, &st) < 0 || (size = lseek(b->fd, 0, SEEK_END)) < 0) {
		int e = -errno;

		close(b->fd);
		b->fd = -1;
		return e;
	}
	b->readonly = readonly;
	b->capacity = (uint64_t)size / BLK_SECTOR;
	b->bounce = malloc(BLK_BOUNCE);
	if (!b->bounce) {
		close(b->fd);
		b->fd = -1;
		return -ENOMEM;
	}
	return 0;
}

int blk_flush(struct blk *b)
{
	if (b->fd < 0 || b->readonly)
		return 0;
	return fdatasync(b->fd) < 0 ? -errno : 0;
}

void blk_close(struct blk *b)
{
	if (b->fd >= 0) {
		int rc = blk_flush(b);

		if (rc)
			vpcie_err(b->lg, "flush on close: %s", strerror(-rc));
		close(b->fd);
	}
	b->fd = -1;
	free(b->bounce);
	b->bounce = NULL;
}

/* ---- File I/O -------------------------------------------------------------- */

/* All of len bytes through iov at off; a read past the end gives zeros. */
static int full_iov(int fd, struct iovec *iov, int n, off_t off, bool write)
{
	while (n > 0) {
		ssize_t r = write ? pwritev(fd, iov, n, off) : preadv(fd, iov, n, off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0) {
			if (write)
				return -EIO;
			for (int i = 0; i < n; i++)
				memset(iov[i].iov_base, 0, iov[i].iov_len);
			return 0;
		}
		off += r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static int full_io(int fd, void *buf, size_t len, off_t off, bool write)
{
	struct iovec iov = {buf, len};

	return full_iov(fd, &iov, 1, off, write);
}

/*
 * Move len bytes between the file at off and the request: its writable part
 * from 0 (to_guest) or its readable part after the header.
 */
static int transfer(struct blk *b, struct vpcie_virtq *vq, const struct vpcie_virtq_req *req,
		    uint64_t off, uint64_t len, bool to_guest)
{
	uint64_t part = to_guest ? 0 : sizeof(struct virtio_blk_outhdr);
	struct iovec iov[MAX_IOV];
	int n = vpcie_virtq_iov(vq, req, to_guest, part, len, iov, MAX_IOV);
	int rc;

	if (n >= 0)
		return full_iov(b->fd, iov, n, (off_t)off, !to_guest);
	if (n != -ENOENT && n != -E2BIG)
		return n;
	for (uint64_t done = 0; done < len;) {
		size_t c = len - done < BLK_BOUNCE ? (size_t)(len - done) : BLK_BOUNCE;

		if (to_guest) {
			rc = full_io(b->fd, b->bounce, c, (off_t)(off + done), false);
			if (!rc)
				rc = vpcie_virtq_write(vq, req, done, b->bounce, c);
		} else {
			rc = vpcie_virtq_read(vq, req, part + done, b->bounce, c);
			if (!rc)
				rc = full_io(b->fd, b->bounce, c, (off_t)(off + done), true);
		}
		if (rc)
			return rc;
		done += c;
	}
	return 0;
}

static bool in_range(const struct blk *b, uint64_t sector, uint64_t nsectors)
{
	return sector <= b->capacity && nsectors <= b->capacity - sector;
}

/* ---- Discard and write zeroes --------------------------------------------------- */

static int write_zeroes(struct blk *b, uint64_t off, uint64_t len, bool unmap)
{
	static const uint8_t zero[65536];

	if (unmap && fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			       (off_t)len) == 0)
		return 0;
	if (fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	for (uint64_t done = 0; done < len;) {
		size_t c = len - done < sizeof(zero) ? (size_t)(len - done) : sizeof(zero);
		int rc = full_io(b->fd, (void *)zero, c, (off_t)(off + done), true);

		if (rc)
			return rc;
		done += c;
	}
	return 0;
}

static uint8_t ranges(struct blk *b, struct vpcie_virtq *vq, const struct vpcie_virtq_req *req,
		      uint32_t type)
{
	uint64_t payload = req->out_len - sizeof(struct virtio_blk_outhdr);
	struct virtio_blk_discard_write_zeroes r[BLK_MAX_RANGES];
	unsigned n = (unsigned)(payload / sizeof(r[0]));

	if (b->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (payload == 0 || payload % sizeof(r[0]) || n > BLK_MAX_RANGES)
		return VIRTIO_BLK_S_UNSUPP;
	if (vpcie_virtq_read(vq, req, sizeof(struct virtio_blk_outhdr), r, payload))
		return VIRTIO_BLK_S_IOERR;
	/* Check every range before touching any. */
	for (unsigned i = 0; i < n; i++) {
		uint32_t flags = le32toh(r[i].flags), num = le32toh(r[i].num_sectors);

		if (flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP ||
		    (type == VIRTIO_BLK_T_DISCARD && flags))
			return VIRTIO_BLK_S_UNSUPP;
		if (num > BLK_MAX_RANGE_SECTORS || !in_range(b, le64toh(r[i].sector), num))
			return VIRTIO_BLK_S_IOERR;
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = le64toh(r[i].sector) * BLK_SECTOR;
		uint64_t len = (uint64_t)le32toh(r[i].num_sectors) * BLK_SECTOR;

		if (!len)
			continue;
		if (type == VIRTIO_BLK_T_WRITE_ZEROES) {
			if (write_zeroes(b, off, len, le32toh(r[i].flags) & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
				return VIRTIO_BLK_S_IOERR;
		} else if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				     (off_t)len) < 0 && errno != EOPNOTSUPP) {
			return VIRTIO_BLK_S_IOERR; /* discard is advisory: unsupported is fine */
		}
	}
	return VIRTIO_BLK_S_OK;
}

/* ---- Requests ---------------------------------------------------------------------- */

static const char *type_name(uint32_t t)
{
	switch (t) {
	case VIRTIO_BLK_T_IN: return "read";
	case VIRTIO_BLK_T_OUT: return "write";
	case VIRTIO_BLK_T_FLUSH: return "flush";
	case VIRTIO_BLK_T_GET_ID: return "get-id";
	case VIRTIO_BLK_T_DISCARD: return "discard";
	case VIRTIO_BLK_T_WRITE_ZEROES: return "write-zeroes";
	default: return "unknown";
	}
}

static uint8_t execute(struct blk *b, struct vpcie_virtq *vq, const struct vpcie_virtq_req *req,
		       uint32_t *data)
{
	struct virtio_blk_outhdr hdr;
	uint64_t in_data = req->in_len - 1, out_data, sector, len;
	uint32_t type;
	int rc;

	if (req->out_len < sizeof(hdr) || vpcie_virtq_read(vq, req, 0, &hdr, sizeof(hdr))) {
		vpcie_dbg(b->lg, "request without a readable header");
		return VIRTIO_BLK_S_IOERR;
	}
	out_data = req->out_len - sizeof(hdr);
	type = le32toh(hdr.type);
	sector = le64toh(hdr.sector);
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		len = type == VIRTIO_BLK_T_IN ? in_data : out_data;
		if (type == VIRTIO_BLK_T_OUT && b->readonly)
			return VIRTIO_BLK_S_IOERR;
		if (len % BLK_SECTOR || !in_range(b, sector, len / BLK_SECTOR)) {
			vpcie_dbg(b->lg, "%s of %" PRIu64 " bytes at sector %" PRIu64 " refused",
				  type_name(type), len, sector);
			return VIRTIO_BLK_S_IOERR;
		}
		rc = transfer(b, vq, req, sector * BLK_SECTOR, len, type == VIRTIO_BLK_T_IN);
		if (rc) {
			vpcie_dbg(b->lg, "%s at sector %" PRIu64 ": %s", type_name(type), sector,
				  strerror(-rc));
			return VIRTIO_BLK_S_IOERR;
		}
		if (type == VIRTIO_BLK_T_IN)
			*data = (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len);
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		return blk_flush(b) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		len = in_data < sizeof(b->serial) ? in_data : sizeof(b->serial);
		if (vpcie_virtq_write(vq, req, 0, b->serial, (size_t)len))
			return VIRTIO_BLK_S_IOERR;
		*data = (uint32_t)len;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return ranges(b, vq, req, type);
	default:
		vpcie_dbg(b->lg, "request type %" PRIu32 " unsupported", type);
		return VIRTIO_BLK_S_UNSUPP;
	}
}

uint32_t blk_request(struct blk *b, struct vpcie_virtq *vq, const struct vpcie_virtq_req *req)
{
	uint32_t data = 0;
	uint8_t status;

	b->requests++;
	if (req->in_len == 0) {
		/* Nowhere to put a status: give the buffer back untouched. */
		vpcie_warn(b->lg, "request %u has no writable status byte", req->id);
		b->errors++;
		return 0;
	}
	status = execute(b, vq, req, &data);
	if (status != VIRTIO_BLK_S_OK)
		b->errors++;
	if (vpcie_virtq_write(vq, req, req->in_len - 1, &status, 1)) {
		vpcie_dbg(b->lg, "request %u: status byte unreachable", req->id);
		return data;
	}
	return data + 1;
}
