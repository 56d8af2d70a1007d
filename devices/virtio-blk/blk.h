/* SPDX-License-Identifier: MIT */
/*
 * The virtio-blk request engine of vpcie-virtio-blk: one disk image file,
 * requests taken from a virtqueue and answered with a status byte.
 */
#ifndef VPCIE_BLK_H
#define VPCIE_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_blk.h>

#include <vpcie/virtio.h>

#define BLK_SECTOR 512u
#define BLK_BOUNCE (1u << 20)      /* bounce buffer for message DMA */
#define BLK_MAX_RANGES 16u         /* discard / write-zeroes segments per request */
#define BLK_MAX_RANGE_SECTORS (1u << 22)

struct blk {
	struct vpcie_logger *lg;
	int fd;
	bool readonly;
	uint64_t capacity;         /* sectors */
	char serial[VIRTIO_BLK_ID_BYTES];
	uint8_t *bounce;           /* BLK_BOUNCE bytes */
	uint64_t requests, errors; /* statistics */
};

/* Open the image (read-only or read-write); fills fd, capacity. Returns 0
 * or -errno. */
int blk_open(struct blk *b, const char *path, bool readonly);
/* Flush (unless read-only) and close. */
void blk_close(struct blk *b);
/* fdatasync; 0 or -errno. */
int blk_flush(struct blk *b);

/*
 * Execute one request: read its header, do the I/O, write the status byte.
 * Returns the number of bytes written into the request's writable part (the
 * used length): data, plus one for the status byte if it could be written.
 */
uint32_t blk_request(struct blk *b, struct vpcie_virtq *vq, const struct vpcie_virtq_req *req);

#endif
