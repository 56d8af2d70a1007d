/* SPDX-License-Identifier: MIT */
/*
 * vpcie-virtio-blk: a virtio 1.x block device (virtio PCI modern) backed by
 * an image file, served over vfio-user. Linux's virtio_blk drives it in a
 * guest (QEMU's vfio-user-pci), the host runtime's virtio driver in tests.
 *
 * Requests: read, write, flush, get-id, discard, write-zeroes; one to
 * VPCIE_VIRTIO_MAX_QUEUES request queues (VIRTIO_BLK_F_MQ); split or packed
 * rings, indirect descriptors, event index. Capacity is the file size in
 * 512-byte sectors. Each queue is served from its notify write; a burst
 * longer than the queue is continued after other messages (a zero-delay
 * kick). SIGTERM/SIGINT end the loop; the image is flushed on exit, on
 * virtio reset and when the client leaves.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ids.h>

#include <vpcie/cli.h>
#include <vpcie/virtio.h>

#include "blk.h"

struct blkdev {
	struct vpcie_virtio *v;
	struct blk blk;
	uint16_t queue_size;
};

/* Serve queue q until it is empty, or for one queue's worth of requests. */
static void on_queue_notify(struct vpcie_virtio *v, void *opaque, unsigned q)
{
	struct blkdev *d = opaque;
	struct vpcie_virtq *vq = vpcie_virtio_queue(v, q);
	struct vpcie_virtq_req req;
	unsigned budget = d->queue_size;
	int rc = 0;

	while (budget && (rc = vpcie_virtq_pop(vq, &req)) > 0) {
		rc = vpcie_virtq_push(vq, &req, blk_request(&d->blk, vq, &req));
		if (rc < 0)
			break;
		budget--;
	}
	if (rc < 0) {
		const char *why = NULL;

		vpcie_virtq_error(vq, &why);
		vpcie_warn(d->blk.lg, "queue %u: %s (%s)", q, why ? why : "internal error",
			   strerror(-rc));
		vpcie_virtio_needs_reset(v);
	} else if (!budget) {
		vpcie_virtio_kick(v, q); /* more may be waiting: after other messages */
	}
	vpcie_virtio_notify(v, q);
}

static void on_reset(struct vpcie_virtio *v, void *opaque)
{
	struct blkdev *d = opaque;
	int rc = blk_flush(&d->blk);

	(void)v;
	if (rc)
		vpcie_err(d->blk.lg, "flush on reset: %s", strerror(-rc));
}

static bool on_features_ok(struct vpcie_virtio *v, void *opaque, uint64_t f)
{
	struct blkdev *d = opaque;

	(void)v;
	if (d->blk.readonly && !(f & (1ull << VIRTIO_BLK_F_RO)))
		vpcie_info(d->blk.lg, "driver ignores VIRTIO_BLK_F_RO: writes will fail");
	return true;
}

static void fill_config(struct blkdev *d, unsigned nq, unsigned max_chain)
{
	struct virtio_blk_config *c = vpcie_virtio_config(d->v);

	memset(c, 0, sizeof(*c));
	c->capacity = htole64(d->blk.capacity);
	c->seg_max = htole32(max_chain - 2); /* header and status take two */
	c->blk_size = htole32(BLK_SECTOR);
	c->num_queues = htole16((uint16_t)nq);
	c->max_discard_sectors = htole32(BLK_MAX_RANGE_SECTORS);
	c->max_discard_seg = htole32(BLK_MAX_RANGES);
	c->discard_sector_alignment = htole32(1);
	c->max_write_zeroes_sectors = htole32(BLK_MAX_RANGE_SECTORS);
	c->max_write_zeroes_seg = htole32(BLK_MAX_RANGES);
	c->write_zeroes_may_unmap = 1;
}

/* The ID: --serial, else the image's base name (20 bytes, zero padded). */
static void set_serial(struct blk *b, const char *serial, const char *image)
{
	const char *s = serial;

	if (!s) {
		s = strrchr(image, '/');
		s = s ? s + 1 : image;
	}
	memset(b->serial, 0, sizeof(b->serial));
	memcpy(b->serial, s, strlen(s) < sizeof(b->serial) ? strlen(s) : sizeof(b->serial));
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s --socket PATH --image FILE [options]\n"
		"A virtio-blk device (virtio 1.x, PCI modern) backed by FILE, served over vfio-user.\n\n"
		"  -i, --image FILE      disk image (raw); capacity = size / 512\n"
		"  -r, --readonly        open FILE read-only, offer VIRTIO_BLK_F_RO\n"
		"  -q, --queues N        request queues, 1..%u (default 1)\n"
		"      --queue-size N    largest queue size, a power of two 2..32768 (default 256)\n"
		"      --serial ID       GET_ID answer (default: FILE's base name)\n"
		"      --no-packed       do not offer VIRTIO_F_RING_PACKED\n"
		"      --no-indirect     do not offer VIRTIO_RING_F_INDIRECT_DESC\n"
		"      --no-event-idx    do not offer VIRTIO_RING_F_EVENT_IDX\n"
		"  -h, --help            this help\n",
		prog, VPCIE_VIRTIO_MAX_QUEUES);
	vpcie_cli_usage(f);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 0);
	return errno || end == s || *end || *out > max ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		VPCIE_CLI_LONGOPTS,
		{"image", required_argument, NULL, 'i'},
		{"readonly", no_argument, NULL, 'r'},
		{"queues", required_argument, NULL, 'q'},
		{"queue-size", required_argument, NULL, 'Q'},
		{"serial", required_argument, NULL, 'S'},
		{"no-packed", no_argument, NULL, 'P'},
		{"no-indirect", no_argument, NULL, 'I'},
		{"no-event-idx", no_argument, NULL, 'E'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct vpcie_virtio_ops ops = {
		.features_ok = on_features_ok,
		.queue_notify = on_queue_notify,
		.reset = on_reset,
	};
	struct blkdev d = {.blk = {.fd = -1}, .queue_size = 256};
	struct vpcie_virtio_desc desc = {
		.device_id = VIRTIO_ID_BLOCK,
		.class_code = 0x010000, /* mass storage, SCSI: what Linux and QEMU use */
		.config_size = sizeof(struct virtio_blk_config),
		.num_queues = 1,
	};
	uint64_t ring = VPCIE_VIRTIO_F_TRANSPORT;
	struct vpcie_dev_opts opts;
	struct vpcie_cli cli;
	const char *image = NULL, *serial = NULL;
	bool readonly = false;
	unsigned long n;
	int c, rc;

	vpcie_dev_opts_defaults(&opts);
	opts.name = "vpcie-virtio-blk";
	vpcie_cli_init(&cli, opts.name);
	while ((c = getopt_long(argc, argv, VPCIE_CLI_SHORTOPTS "i:rq:h", longopts, NULL)) != -1) {
		switch (vpcie_cli_option(&cli, &opts, c, optarg)) {
		case 1: continue;
		case -1: return 2;
		}
		switch (c) {
		case 'i': image = optarg; break;
		case 'r': readonly = true; break;
		case 'q':
			if (parse_uint(optarg, VPCIE_VIRTIO_MAX_QUEUES, &n) || n < 1) {
				fprintf(stderr, "vpcie-virtio-blk: --queues takes 1..%u\n",
					VPCIE_VIRTIO_MAX_QUEUES);
				return 2;
			}
			desc.num_queues = (unsigned)n;
			break;
		case 'Q':
			if (parse_uint(optarg, VPCIE_VIRTQ_MAX_SIZE, &n) || n < 2 || (n & (n - 1))) {
				fprintf(stderr, "vpcie-virtio-blk: --queue-size takes a power of two, 2..32768\n");
				return 2;
			}
			d.queue_size = (uint16_t)n;
			break;
		case 'S': serial = optarg; break;
		case 'P': ring &= ~(1ull << VIRTIO_F_RING_PACKED); break;
		case 'I': ring &= ~(1ull << VIRTIO_RING_F_INDIRECT_DESC); break;
		case 'E': ring &= ~(1ull << VIRTIO_RING_F_EVENT_IDX); break;
		case 'h': usage(stdout, argv[0]); return 0;
		default: usage(stderr, argv[0]); return 2;
		}
	}
	if (vpcie_cli_finish(&cli, argc - optind))
		return 2;
	if (!image) {
		fprintf(stderr, "%s: --image FILE is required; see --help\n", opts.name);
		return 2;
	}
	desc.queue_size = d.queue_size;
	desc.max_chain = d.queue_size;
	desc.features = ring | (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
			(1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_MQ) |
			(1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES) |
			(readonly ? 1ull << VIRTIO_BLK_F_RO : 0);

	d.v = vpcie_virtio_new(&desc, &ops, &d, &opts);
	if (!d.v) {
		perror("vpcie-virtio-blk: device set-up");
		return 1;
	}
	d.blk.lg = vpcie_dev_logger(vpcie_virtio_dev(d.v));
	rc = blk_open(&d.blk, image, readonly);
	if (rc) {
		fprintf(stderr, "vpcie-virtio-blk: %s: %s\n", image, strerror(-rc));
		vpcie_virtio_free(d.v);
		return 1;
	}
	set_serial(&d.blk, serial, image);
	fill_config(&d, desc.num_queues, desc.max_chain);

	vpcie_info(d.blk.lg, "%s: %" PRIu64 " sectors%s, %u queue(s) of %u", image,
		   d.blk.capacity, readonly ? " (read-only)" : "", desc.num_queues, d.queue_size);
	rc = vpcie_dev_serve(vpcie_virtio_dev(d.v), cli.socket, cli.fd);
	vpcie_info(d.blk.lg, "%" PRIu64 " requests served, %" PRIu64 " failed", d.blk.requests,
		   d.blk.errors);
	vpcie_virtio_free(d.v);
	blk_close(&d.blk); /* flushes */
	return rc ? 1 : 0;
}
