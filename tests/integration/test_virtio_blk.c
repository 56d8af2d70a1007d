/* SPDX-License-Identifier: MIT */
/*
 * vpcie-virtio-blk in another process, driven by the host runtime's virtio
 * driver: every combination of DMA path (fd-shared memory / DMA messages),
 * ring layout (split / packed), indirect descriptors and event index for
 * read, write, flush, get-id, discard and write-zeroes, checked against the
 * image file; multiqueue; interrupt suppression; INTx; the PCI_CFG window;
 * PCI reset and reconnect; and a hostile driver - descriptor loops, chains
 * past the ring, bad indirect tables, runaway indices, buffers outside host
 * memory, bad lengths and sectors, bad queue sizes and addresses, feature
 * and status misuse, writes to a read-only disk. Each ends with a failed
 * request (IOERR/UNSUPP) or DEVICE_NEEDS_RESET, and the device then serves
 * again after a reset. SIGTERM stops it cleanly with the data on disk.
 *
 * argv[1] (or $VPCIE_VIRTIO_BLK) is the vpcie-virtio-blk program.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_pci.h>

#include <vpcie/host.h>
#include <vpcie/virtio_host.h>

#define IMG_SIZE (8u << 20)
#define MEM_IOVA 0x100000000ull
#define OUTSIDE 0x300000000ull /* nothing registered here */
#define TIMEOUT_MS 5000

#define F(bit) (1ull << (bit))
#define RING_FEATURES (F(VIRTIO_F_RING_PACKED) | F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_RING_F_EVENT_IDX))
#define BLK_FEATURES (F(VIRTIO_BLK_F_SEG_MAX) | F(VIRTIO_BLK_F_BLK_SIZE) | F(VIRTIO_BLK_F_FLUSH) | \
		      F(VIRTIO_BLK_F_MQ) | F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES) | \
		      F(VIRTIO_BLK_F_RO))

static const char *blk_prog;

/* The device process and directory of the running test, for the teardown
 * after a failed assertion. */
static struct {
	pid_t pid;
	char dir[64], img[96];
	struct vpcie_host *h;
	struct vpcie_virtio_drv *d;
} live;

struct fx {
	char dir[64];
	char sock[96];
	char img[96];
	pid_t pid;
	struct vpcie_host *h;
	struct vpcie_virtio_drv *d;
	bool shared;
	enum vpcie_virtio_drv_irq irq;
	uint8_t *buf;            /* 4 MiB of host memory for data */
	uint64_t buf_iova;
	struct vpcie_virtio_blk_req {
		struct virtio_blk_outhdr hdr;
		uint8_t status;
	} *reqs;                 /* one per request slot */
	uint64_t reqs_iova;
};

#define BUF_SIZE (4u << 20)
#define NREQS 256u

/* ---- Device process and bring-up ------------------------------------------------- */

static void make_image(struct fx *f)
{
	int fd = open(f->img, O_CREAT | O_RDWR | O_TRUNC, 0600);
	uint8_t sector[512];

	assert_true(fd >= 0);
	/* Every sector starts out as its own number, so reads are checkable. */
	for (unsigned s = 0; s < IMG_SIZE / 512; s++) {
		memset(sector, (int)(s * 7 + 1), sizeof(sector));
		memcpy(sector, &s, sizeof(s));
		assert_int_equal(pwrite(fd, sector, sizeof(sector), (off_t)s * 512), 512);
	}
	close(fd);
}

static void expect_sector(const uint8_t *p, unsigned s)
{
	unsigned v;

	memcpy(&v, p, sizeof(v));
	assert_int_equal(v, s);
	assert_int_equal(p[100], (uint8_t)(s * 7 + 1));
}

static void spawn(struct fx *f, const char *const *extra)
{
	const char *argv[16] = {blk_prog, "--socket", f->sock, "--image", f->img};
	unsigned n = 5;

	for (; extra && *extra && n < 15; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	f->pid = fork();
	if (f->pid == 0) {
		execv(blk_prog, (char *const *)argv);
		_exit(127);
	}
	assert_true(f->pid > 0);
	live.pid = f->pid;
	strcpy(live.dir, f->dir);
	strcpy(live.img, f->img);
}

static void attach(struct fx *f)
{
	struct vpcie_host_opts ho;
	struct vpcie_virtio_drv_opts o;
	int err = 0;

	vpcie_host_opts_defaults(&ho);
	ho.timeout_ms = TIMEOUT_MS;
	f->h = vpcie_host_open(f->sock, &ho, &err);
	if (!f->h)
		fprintf(stderr, "vpcie_host_open: %s\n", strerror(-err));
	assert_non_null(f->h);
	assert_int_equal(vpcie_host_assign_bars(f->h, 0x80000000ull, 0x1000), 0);
	vpcie_virtio_drv_opts_defaults(&o);
	o.iova = MEM_IOVA;
	o.mem_size = 16u << 20;
	o.shared = f->shared;
	o.irq = f->irq;
	f->d = vpcie_virtio_drv_open(f->h, &o, &err);
	if (!f->d)
		fprintf(stderr, "vpcie_virtio_drv_open: %s\n", strerror(-err));
	assert_non_null(f->d);
	live.h = f->h;
	live.d = f->d;
	f->buf = vpcie_virtio_drv_alloc(f->d, BUF_SIZE, 4096, &f->buf_iova);
	f->reqs = vpcie_virtio_drv_alloc(f->d, NREQS * sizeof(*f->reqs), 64, &f->reqs_iova);
	assert_non_null(f->buf);
	assert_non_null(f->reqs);
}

static void detach(struct fx *f)
{
	vpcie_virtio_drv_close(f->d);
	vpcie_host_close(f->h);
	f->d = NULL;
	f->h = NULL;
	live.d = NULL;
	live.h = NULL;
}

static void start(struct fx *f, bool shared, enum vpcie_virtio_drv_irq irq, const char *const *extra)
{
	memset(f, 0, sizeof(*f));
	strcpy(f->dir, "/tmp/vpcie-vblk-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/blk.sock", f->dir);
	snprintf(f->img, sizeof(f->img), "%s/disk.img", f->dir);
	make_image(f);
	f->shared = shared;
	f->irq = irq;
	spawn(f, extra);
	attach(f);
}

/* SIGTERM: a clean exit (status 0) and no socket left behind. */
static void stop(struct fx *f)
{
	int status = 0;

	if (f->d)
		detach(f);
	kill(f->pid, SIGTERM);
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	live.pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_not_equal(access(f->sock, F_OK), 0);
	unlink(f->img);
	rmdir(f->dir);
}

/* Negotiate want, set up nq queues, DRIVER_OK. */
static uint64_t bring_up(struct fx *f, uint64_t want, unsigned nq)
{
	uint64_t got = 0;

	assert_int_equal(vpcie_virtio_drv_negotiate(f->d, want, &got), 0);
	for (unsigned q = 0; q < nq; q++)
		assert_int_equal(vpcie_virtio_drv_setup_queue(f->d, q, 0), 0);
	assert_int_equal(vpcie_virtio_drv_driver_ok(f->d), 0);
	return got;
}

/* Interrupts of queue q so far. The device signals after publishing used
 * buffers, so the last one may still be on its way: wait up to a second. */
static uint64_t interrupts(struct fx *f, unsigned q)
{
	uint64_t n = vpcie_virtio_drv_take_interrupts(f->d, q);

	for (int i = 0; i < 100 && !n; i++) {
		assert_int_equal(vpcie_virtio_drv_idle(f->d, 10), 0);
		n = vpcie_virtio_drv_take_interrupts(f->d, q);
	}
	return n;
}

static uint8_t status(struct fx *f)
{
	uint8_t s = 0;

	assert_int_equal(vpcie_virtio_drv_status(f->d, &s), 0);
	return s;
}

/* ---- Requests ----------------------------------------------------------------------- */

struct io {
	uint32_t type;
	uint64_t sector;
	uint64_t data;       /* device address of the data */
	uint32_t len;        /* data bytes */
	unsigned nseg;       /* split the data into this many elements (default 1) */
	bool indirect;
	uint64_t status_at;  /* 0: the slot's status byte */
	unsigned slot;       /* request header/status slot */
};

/* Queue one request on q (no notify). */
static void submit(struct fx *f, unsigned q, const struct io *io)
{
	struct vpcie_virtio_blk_req *r = &f->reqs[io->slot];
	uint64_t r_iova = f->reqs_iova + (uint64_t)io->slot * sizeof(*r);
	struct vpcie_vring_buf out[12], in[12];
	unsigned nout = 0, nin = 0, nseg = io->nseg ? io->nseg : 1;
	bool to_dev = io->type != VIRTIO_BLK_T_IN && io->type != VIRTIO_BLK_T_GET_ID;

	r->hdr.type = htole32(io->type);
	r->hdr.ioprio = 0;
	r->hdr.sector = htole64(io->sector);
	r->status = 0xee;
	out[nout++] = (struct vpcie_vring_buf){r_iova, sizeof(r->hdr)};
	for (unsigned i = 0; io->len && i < nseg; i++) {
		uint32_t piece = io->len / nseg, off = piece * i;
		struct vpcie_vring_buf b = {io->data + off, i + 1 == nseg ? io->len - off : piece};

		if (to_dev)
			out[nout++] = b;
		else
			in[nin++] = b;
	}
	in[nin++] = (struct vpcie_vring_buf){io->status_at ? io->status_at
							   : r_iova + offsetof(struct vpcie_virtio_blk_req, status), 1};
	assert_int_equal(vpcie_vring_add(vpcie_virtio_drv_vring(f->d, q), out, nout, in, nin,
					 io->indirect, (void *)(uintptr_t)(io->slot + 1)), 0);
}

/* Wait for the next completion on q: its slot, used length. */
static unsigned complete(struct fx *f, unsigned q, uint32_t *len)
{
	void *tok = NULL;
	uint32_t l = 0;

	assert_int_equal(vpcie_virtio_drv_wait(f->d, q, &tok, &l, TIMEOUT_MS), 1);
	if (len)
		*len = l;
	return (unsigned)(uintptr_t)tok - 1;
}

/* One request, synchronously; returns its status byte. */
static uint8_t run(struct fx *f, unsigned q, struct io io, uint32_t *len)
{
	submit(f, q, &io);
	assert_int_equal(vpcie_virtio_drv_kick(f->d, q), 0);
	assert_int_equal(complete(f, q, len), io.slot);
	return f->reqs[io.slot].status;
}

static void pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed * 17 + (i >> 9));
}

static void check_image(struct fx *f, uint64_t off, const uint8_t *want, size_t len)
{
	uint8_t *got = malloc(len);
	int fd = open(f->img, O_RDONLY);

	assert_non_null(got);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, got, len, (off_t)off), (ssize_t)len);
	assert_memory_equal(got, want, len);
	close(fd);
	free(got);
}

/* Write, read back, check the file; flush; get-id. */
static void io_cycle(struct fx *f, unsigned q, bool indirect, unsigned seed)
{
	const uint32_t len = 64 * 1024;
	uint64_t sector = 100 + seed * 200;
	uint32_t used;

	pattern(f->buf, len, seed);
	assert_int_equal(run(f, q, (struct io){VIRTIO_BLK_T_OUT, sector, f->buf_iova, len, 4, indirect, .slot = 0}, &used),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	memset(f->buf + len, 0, len);
	assert_int_equal(run(f, q, (struct io){VIRTIO_BLK_T_IN, sector, f->buf_iova + len, len, 3, indirect, .slot = 1},
			     &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, len + 1);
	assert_memory_equal(f->buf, f->buf + len, len);
	check_image(f, sector * 512, f->buf, len);
	assert_int_equal(run(f, q, (struct io){VIRTIO_BLK_T_FLUSH, 0, .indirect = indirect, .slot = 2}, NULL),
			 VIRTIO_BLK_S_OK);
	memset(f->buf + 2 * len, 0, 32);
	assert_int_equal(run(f, q, (struct io){VIRTIO_BLK_T_GET_ID, 0, f->buf_iova + 2 * len, 20, .slot = 3},
			     &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 21);
	assert_string_equal((char *)f->buf + 2 * len, "disk.img");
	/* Untouched neighbours read as the image was made. */
	assert_int_equal(run(f, q, (struct io){VIRTIO_BLK_T_IN, sector - 1, f->buf_iova + 3 * len, 512, .slot = 4},
			     NULL), VIRTIO_BLK_S_OK);
	expect_sector(f->buf + 3 * len, (unsigned)sector - 1);
}

/* ---- The matrix ------------------------------------------------------------------------ */

static void matrix(bool shared)
{
	struct fx f;
	unsigned seed = 0;

	start(&f, shared, VPCIE_VIRTIO_DRV_MSIX, NULL);
	for (int packed = 0; packed < 2; packed++)
		for (int ind = 0; ind < 2; ind++)
			for (int ev = 0; ev < 2; ev++) {
				uint64_t want = BLK_FEATURES | (packed ? F(VIRTIO_F_RING_PACKED) : 0) |
						(ind ? F(VIRTIO_RING_F_INDIRECT_DESC) : 0) |
						(ev ? F(VIRTIO_RING_F_EVENT_IDX) : 0);
				uint64_t got = bring_up(&f, want, 1);

				assert_int_equal(got & RING_FEATURES, want & RING_FEATURES);
				io_cycle(&f, 0, ind, seed++);
				assert_true(interrupts(&f, 0) > 0);
			}
	if (!shared)
		assert_true(vpcie_host_dma_served(f.h) > 0);
	assert_int_equal(vpcie_host_dma_refused(f.h), 0);
	stop(&f);
}

static void test_matrix_shared(void **s)
{
	(void)s;
	matrix(true);
}

static void test_matrix_messages(void **s)
{
	(void)s;
	matrix(false);
}

/* Big requests: many elements, more than one bounce buffer and one DMA
 * message each (message path), data at odd element boundaries. */
static void test_large(void **s)
{
	for (int shared = 0; shared < 2; shared++) {
		struct fx f;
		const uint32_t len = 3u << 20;

		(void)s;
		start(&f, shared, VPCIE_VIRTIO_DRV_MSIX, NULL);
		bring_up(&f, BLK_FEATURES | F(VIRTIO_RING_F_INDIRECT_DESC), 1);
		pattern(f.buf, len, 9);
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_OUT, 8, f.buf_iova, len, 7, true, .slot = 0}, NULL),
				 VIRTIO_BLK_S_OK);
		check_image(&f, 8 * 512, f.buf, len);
		memset(f.buf, 0, len);
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_IN, 8, f.buf_iova, len, 10, false, .slot = 0}, NULL),
				 VIRTIO_BLK_S_OK);
		check_image(&f, 8 * 512, f.buf, len);
		stop(&f);
	}
}

static void test_config(void **s)
{
	struct fx f;
	struct virtio_blk_config c;
	uint64_t offered;
	const char *const extra[] = {"--queues", "3", "--queue-size", "64", "--serial", "S3R1AL", NULL};
	uint32_t used;

	(void)s;
	start(&f, true, VPCIE_VIRTIO_DRV_MSIX, extra);
	assert_int_equal(vpcie_virtio_drv_num_queues(f.d), 3);
	assert_int_equal(vpcie_virtio_drv_device_features(f.d, &offered), 0);
	assert_true(offered & F(VIRTIO_F_VERSION_1));
	assert_true((offered & RING_FEATURES) == RING_FEATURES);
	assert_true((offered & BLK_FEATURES) == (BLK_FEATURES & ~F(VIRTIO_BLK_F_RO)));
	bring_up(&f, BLK_FEATURES, 1);
	assert_int_equal(vpcie_virtio_drv_config_read(f.d, 0, &c, sizeof(c)), 0);
	assert_int_equal(le64toh(c.capacity), IMG_SIZE / 512);
	assert_int_equal(le32toh(c.blk_size), 512);
	assert_int_equal(le32toh(c.seg_max), 62);
	assert_int_equal(le16toh(c.num_queues), 3);
	assert_int_equal(le32toh(c.max_discard_seg), 16);
	assert_int_equal(vpcie_vring_size(vpcie_virtio_drv_vring(f.d, 0)), 64);
	assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_GET_ID, 0, f.buf_iova, 8, .slot = 0}, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 9);
	assert_memory_equal(f.buf, "S3R1AL\0\0", 8);
	stop(&f);
}

/* The VIRTIO_PCI_CAP_PCI_CFG window reaches BAR0 through config space. */
static void test_pci_cfg_window(void **s)
{
	struct fx f;
	uint8_t img[4096];
	size_t len = sizeof(img);
	unsigned off = 0, win = 0;
	uint16_t numq = 0;
	int err = 0;

	(void)s;
	start(&f, true, VPCIE_VIRTIO_DRV_MSIX, (const char *const[]){"-q", "5", NULL});
	assert_int_equal(vpcie_host_cfg_dump(f.h, img, &len), 0);
	while ((off = vpcie_cfg_next_cap(img, len, off)) != 0)
		if (img[off] == PCI_CAP_ID_VNDR && img[off + 3] == VIRTIO_PCI_CAP_PCI_CFG)
			win = off;
	assert_int_not_equal(win, 0);
	assert_int_equal(vpcie_host_cfg_write32(f.h, win + 12, 2), 0);  /* length */
	assert_int_equal(vpcie_host_cfg_write32(f.h, win + 8, VIRTIO_PCI_COMMON_NUMQ), 0);
	numq = vpcie_host_cfg_read16(f.h, win + 16, &err);
	assert_int_equal(err, 0);
	assert_int_equal(numq, 5);
	/* A write through the window: device_status = ACKNOWLEDGE. */
	assert_int_equal(vpcie_host_cfg_write32(f.h, win + 12, 1), 0);
	assert_int_equal(vpcie_host_cfg_write32(f.h, win + 8, VIRTIO_PCI_COMMON_STATUS), 0);
	assert_int_equal(vpcie_host_cfg_write32(f.h, win + 16, VIRTIO_CONFIG_S_ACKNOWLEDGE), 0);
	assert_int_equal(status(&f), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	stop(&f);
}

/* ---- Discard, write zeroes, read-only -------------------------------------------------- */

static uint8_t ranges(struct fx *f, uint32_t type, uint64_t sector, uint32_t num, uint32_t flags,
		      unsigned count)
{
	struct virtio_blk_discard_write_zeroes *r = (void *)(f->buf + (1u << 20));

	for (unsigned i = 0; i < count; i++)
		r[i] = (struct virtio_blk_discard_write_zeroes){htole64(sector + i * num), htole32(num),
								htole32(flags)};
	return run(f, 0, (struct io){type, 0, f->buf_iova + (1u << 20), count * (uint32_t)sizeof(*r), .slot = 0}, NULL);
}

static void test_discard_write_zeroes(void **s)
{
	struct fx f;
	uint8_t zero[4096] = {0};

	(void)s;
	for (int shared = 0; shared < 2; shared++) {
		start(&f, shared, VPCIE_VIRTIO_DRV_MSIX, NULL);
		bring_up(&f, BLK_FEATURES, 1);
		assert_int_equal(ranges(&f, VIRTIO_BLK_T_WRITE_ZEROES, 16, 8, 0, 2), VIRTIO_BLK_S_OK);
		check_image(&f, 16 * 512, zero, 4096);
		check_image(&f, 24 * 512, zero, 4096);
		assert_int_equal(ranges(&f, VIRTIO_BLK_T_WRITE_ZEROES, 40, 8,
					VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, 1), VIRTIO_BLK_S_OK);
		check_image(&f, 40 * 512, zero, 4096);
		assert_int_equal(ranges(&f, VIRTIO_BLK_T_DISCARD, 64, 8, 0, 1), VIRTIO_BLK_S_OK);
		/* Unknown flags, discard with UNMAP, too many ranges: unsupported. */
		assert_int_equal(ranges(&f, VIRTIO_BLK_T_WRITE_ZEROES, 16, 8, 0x10, 1), VIRTIO_BLK_S_UNSUPP);
		assert_int_equal(ranges(&f, VIRTIO_BLK_T_DISCARD, 16, 8, 1, 1), VIRTIO_BLK_S_UNSUPP);
		assert_int_equal(ranges(&f, VIRTIO_BLK_T_DISCARD, 16, 1, 0, 17), VIRTIO_BLK_S_UNSUPP);
		/* Beyond the disk. */
		assert_int_equal(ranges(&f, VIRTIO_BLK_T_WRITE_ZEROES, IMG_SIZE / 512 - 4, 8, 0, 1),
				 VIRTIO_BLK_S_IOERR);
		/* A neighbour is untouched. */
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_IN, 32, f.buf_iova, 512, .slot = 0}, NULL),
				 VIRTIO_BLK_S_OK);
		expect_sector(f.buf, 32);
		stop(&f);
	}
}

static void test_readonly(void **s)
{
	struct fx f;
	uint64_t offered;
	uint8_t orig[512];

	(void)s;
	start(&f, true, VPCIE_VIRTIO_DRV_MSIX, (const char *const[]){"--readonly", NULL});
	assert_int_equal(vpcie_virtio_drv_device_features(f.d, &offered), 0);
	assert_true(offered & F(VIRTIO_BLK_F_RO));
	bring_up(&f, BLK_FEATURES, 1);
	assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_IN, 5, f.buf_iova, 512, .slot = 0}, NULL), VIRTIO_BLK_S_OK);
	memcpy(orig, f.buf, 512);
	expect_sector(orig, 5);
	memset(f.buf, 0x55, 512);
	assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_OUT, 5, f.buf_iova, 512, .slot = 0}, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(ranges(&f, VIRTIO_BLK_T_WRITE_ZEROES, 5, 1, 0, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(ranges(&f, VIRTIO_BLK_T_DISCARD, 5, 1, 0, 1), VIRTIO_BLK_S_IOERR);
	check_image(&f, 5 * 512, orig, 512);
	assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_FLUSH, 0, .slot = 0}, NULL), VIRTIO_BLK_S_OK);
	stop(&f);
}

/* ---- Queues and interrupts ----------------------------------------------------------------- */

static void test_multiqueue(void **s)
{
	const unsigned nq = 4, per = 8;
	struct fx f;

	(void)s;
	for (int packed = 0; packed < 2; packed++) {
		start(&f, packed, VPCIE_VIRTIO_DRV_MSIX, (const char *const[]){"--queues", "4", NULL});
		/* No EVENT_IDX here: this driver polls the used ring while it waits, and
		 * once it has consumed every entry, event-index suppression rightly sends
		 * no interrupt, so "each queue interrupted" would not hold. Suppression
		 * has its own test below. */
		bring_up(&f, BLK_FEATURES | (packed ? F(VIRTIO_F_RING_PACKED) : 0), nq);
		/* Several writes in flight on every queue, kicked together. */
		for (unsigned q = 0; q < nq; q++) {
			for (unsigned i = 0; i < per; i++) {
				unsigned slot = q * per + i;

				pattern(f.buf + slot * 4096, 4096, slot);
				submit(&f, q, &(struct io){VIRTIO_BLK_T_OUT, 1000 + slot * 8,
							   f.buf_iova + slot * 4096, 4096, .slot = slot});
			}
		}
		for (unsigned q = 0; q < nq; q++)
			assert_int_equal(vpcie_virtio_drv_kick(f.d, q), 0);
		for (unsigned q = 0; q < nq; q++) {
			bool seen[8] = {false};

			for (unsigned i = 0; i < per; i++) {
				unsigned slot = complete(&f, q, NULL);

				assert_true(slot >= q * per && slot < (q + 1) * per);
				assert_false(seen[slot - q * per]);
				seen[slot - q * per] = true;
				assert_int_equal(f.reqs[slot].status, VIRTIO_BLK_S_OK);
			}
			assert_true(interrupts(&f, q) > 0);
		}
		for (unsigned slot = 0; slot < nq * per; slot++)
			check_image(&f, (1000 + slot * 8) * 512ull, f.buf + slot * 4096, 4096);
		stop(&f);
	}
}

/* Event index both ways: no interrupt until the driver's used_event is
 * reached, none at all when disabled. */
static void test_interrupt_suppression(void **s)
{
	struct fx f;

	(void)s;
	for (int packed = 0; packed < 2; packed++) {
		struct vpcie_vring *r;

		start(&f, packed, VPCIE_VIRTIO_DRV_MSIX, NULL);
		bring_up(&f, BLK_FEATURES | F(VIRTIO_RING_F_EVENT_IDX) | (packed ? F(VIRTIO_F_RING_PACKED) : 0), 1);
		r = vpcie_virtio_drv_vring(f.d, 0);
		vpcie_vring_interrupt_after(r, 0);
		for (unsigned i = 0; i < 3; i++)
			assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_FLUSH, .slot = i}, NULL),
					 VIRTIO_BLK_S_OK);
		assert_int_equal(vpcie_virtio_drv_idle(f.d, 50), 0);
		assert_int_equal(vpcie_virtio_drv_take_interrupts(f.d, 0), 0);
		/* Interrupt once the 3rd next buffer is used: one at a time. A
		 * flush takes two descriptors, which counts in a packed ring. */
		vpcie_vring_interrupt_after(r, packed ? 5 : 3);
		for (unsigned i = 0; i < 3; i++) {
			assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_FLUSH, .slot = i}, NULL),
					 VIRTIO_BLK_S_OK);
			if (i < 2) {
				assert_int_equal(vpcie_virtio_drv_idle(f.d, 30), 0);
				assert_int_equal(vpcie_virtio_drv_take_interrupts(f.d, 0), 0);
			} else {
				assert_int_equal(interrupts(&f, 0), 1);
			}
		}
		stop(&f);
	}
}

static void test_intx(void **s)
{
	struct fx f;

	(void)s;
	start(&f, false, VPCIE_VIRTIO_DRV_INTX, NULL);
	bring_up(&f, BLK_FEATURES, 1);
	io_cycle(&f, 0, false, 1);
	assert_true(interrupts(&f, 0) > 0);
	stop(&f);
}

/* ---- Reset and reconnect ----------------------------------------------------------------------- */

static void test_reset_reconnect(void **s)
{
	struct fx f;

	(void)s;
	start(&f, true, VPCIE_VIRTIO_DRV_MSIX, NULL);
	bring_up(&f, BLK_FEATURES, 1);
	io_cycle(&f, 0, false, 2);
	/* A request in flight when the PCI function is reset: forgotten. */
	submit(&f, 0, &(struct io){VIRTIO_BLK_T_FLUSH, .slot = 0});
	vpcie_virtio_drv_close(f.d);
	f.d = live.d = NULL;
	assert_int_equal(vpcie_host_reset(f.h), 0);
	vpcie_host_close(f.h);
	f.h = live.h = NULL;
	/* A new client finds a reset device and a working disk. */
	attach(&f);
	assert_int_equal(status(&f), 0);
	bring_up(&f, BLK_FEATURES | F(VIRTIO_F_RING_PACKED), 1);
	io_cycle(&f, 0, false, 3);
	detach(&f);
	/* A client that dies with the device running: the next one still
	 * starts from a reset device. */
	{
		pid_t child = fork();
		int st = 0;

		if (child == 0) {
			struct vpcie_host *h = vpcie_host_open(f.sock, NULL, NULL);
			struct vpcie_virtio_drv *d;

			if (!h || vpcie_host_assign_bars(h, 0x80000000ull, 0x1000))
				_exit(1);
			d = vpcie_virtio_drv_open(h, NULL, NULL);
			if (!d || vpcie_virtio_drv_negotiate(d, BLK_FEATURES, NULL) ||
			    vpcie_virtio_drv_setup_queue(d, 0, 0) || vpcie_virtio_drv_driver_ok(d))
				_exit(1);
			_exit(0); /* no reset, no unmap */
		}
		assert_int_equal(waitpid(child, &st, 0), child);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	attach(&f);
	assert_int_equal(status(&f), 0);
	bring_up(&f, BLK_FEATURES, 1);
	io_cycle(&f, 0, false, 4);
	stop(&f);
}

/* The data is on disk once the device exits on SIGTERM. */
static void test_shutdown_flush(void **s)
{
	struct fx f;
	char img[96];
	uint8_t want[8192];
	int fd, status = 0;

	(void)s;
	start(&f, true, VPCIE_VIRTIO_DRV_MSIX, NULL);
	bring_up(&f, BLK_FEATURES, 1);
	pattern(f.buf, sizeof(want), 77);
	memcpy(want, f.buf, sizeof(want));
	assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_OUT, 2000, f.buf_iova, sizeof(want), .slot = 0}, NULL),
			 VIRTIO_BLK_S_OK);
	detach(&f);
	kill(f.pid, SIGTERM);
	assert_int_equal(waitpid(f.pid, &status, 0), f.pid);
	live.pid = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	strcpy(img, f.img);
	fd = open(img, O_RDONLY);
	assert_true(fd >= 0);
	{
		uint8_t got[8192];

		assert_int_equal(pread(fd, got, sizeof(got), 2000 * 512), (ssize_t)sizeof(got));
		assert_memory_equal(got, want, sizeof(want));
	}
	close(fd);
	unlink(img);
	rmdir(f.dir);
}

/* ---- Hostile driver: requests that fail ---------------------------------------------------------- */

static void test_bad_requests(void **s)
{
	for (int shared = 0; shared < 2; shared++) {
		const uint64_t cap = IMG_SIZE / 512;
		struct fx f;
		uint32_t used;

		(void)s;
		start(&f, shared, VPCIE_VIRTIO_DRV_MSIX, NULL);
		bring_up(&f, BLK_FEATURES | F(VIRTIO_RING_F_INDIRECT_DESC), 1);
		/* Data outside host memory (and wrapping the address space). */
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_IN, 0, OUTSIDE, 4096, .slot = 0}, &used),
				 VIRTIO_BLK_S_IOERR);
		assert_int_equal(used, 1);
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_OUT, 0, OUTSIDE, 4096, 2, true, .slot = 0}, NULL),
				 VIRTIO_BLK_S_IOERR);
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_IN, 0, UINT64_MAX - 511, 1024, .slot = 0}, NULL),
				 VIRTIO_BLK_S_IOERR);
		/* Lengths and sectors. */
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_IN, 0, f.buf_iova, 1000, .slot = 0}, NULL),
				 VIRTIO_BLK_S_IOERR);
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_IN, cap, f.buf_iova, 512, .slot = 0}, NULL),
				 VIRTIO_BLK_S_IOERR);
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_OUT, cap - 1, f.buf_iova, 1024, .slot = 0}, NULL),
				 VIRTIO_BLK_S_IOERR);
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_IN, UINT64_MAX, f.buf_iova, 512, .slot = 0}, NULL),
				 VIRTIO_BLK_S_IOERR);
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_IN, cap - 1, f.buf_iova, 512, .slot = 0}, NULL),
				 VIRTIO_BLK_S_OK);
		expect_sector(f.buf, (unsigned)cap - 1);
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_IN, 0, f.buf_iova, 0xfffffe00u, .slot = 0}, NULL),
				 VIRTIO_BLK_S_IOERR);
		/* Unknown type; SCSI passthrough. */
		assert_int_equal(run(&f, 0, (struct io){77, 0, f.buf_iova, 512, .slot = 0}, NULL), VIRTIO_BLK_S_UNSUPP);
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_SCSI_CMD, 0, f.buf_iova, 512, .slot = 0}, NULL),
				 VIRTIO_BLK_S_UNSUPP);
		/* Status byte outside memory: completed with nothing written. */
		assert_int_equal(run(&f, 0, (struct io){VIRTIO_BLK_T_FLUSH, .status_at = OUTSIDE}, &used),
				 0xee);
		assert_int_equal(used, 0);
		/* Header shorter than 16 bytes; no writable byte at all. */
		{
			struct vpcie_vring *r = vpcie_virtio_drv_vring(f.d, 0);
			struct vpcie_vring_buf hdr = {f.reqs_iova, 8}, st = {f.reqs_iova + 16, 1};
			void *tok;
			uint32_t len;

			f.reqs[0].status = 0xee;
			assert_int_equal(vpcie_vring_add(r, &hdr, 1, &st, 1, false, (void *)1), 0);
			assert_int_equal(vpcie_virtio_drv_kick(f.d, 0), 0);
			assert_int_equal(vpcie_virtio_drv_wait(f.d, 0, &tok, &len, TIMEOUT_MS), 1);
			assert_int_equal(f.reqs[0].status, VIRTIO_BLK_S_IOERR);
			hdr.len = 16;
			assert_int_equal(vpcie_vring_add(r, &hdr, 1, NULL, 0, false, (void *)2), 0);
			assert_int_equal(vpcie_virtio_drv_kick(f.d, 0), 0);
			assert_int_equal(vpcie_virtio_drv_wait(f.d, 0, &tok, &len, TIMEOUT_MS), 1);
			assert_int_equal(len, 0);
		}
		/* And it still works. */
		assert_int_equal(status(&f) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
		io_cycle(&f, 0, true, 5);
		/* The device checked addresses against its DMA maps itself: it
		 * never asked the host for memory outside them. */
		assert_int_equal(vpcie_host_dma_refused(f.h), 0);
		stop(&f);
	}
}

/* ---- Hostile driver: the device needs a reset --------------------------------------------------- */

/* Wait until DEVICE_NEEDS_RESET shows (with a configuration interrupt). */
static void expect_needs_reset(struct fx *f)
{
	for (int i = 0; i < 200 && !(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET); i++)
		assert_int_equal(vpcie_virtio_drv_idle(f->d, 10), 0);
	assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* After the breakage: reset, and a normal life again. */
static void recover(struct fx *f, uint64_t want)
{
	bring_up(f, want, 1);
	assert_int_equal(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	io_cycle(f, 0, want & F(VIRTIO_RING_F_INDIRECT_DESC), 6);
}

static void put_split(struct fx *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc *d = (struct vring_desc *)vpcie_vring_desc_table(vpcie_virtio_drv_vring(f->d, 0)) + i;

	d->addr = htole64(addr);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}

enum split_case { LOOP, NEXT_RANGE, HEAD_RANGE, AVAIL_JUMP, ORDER, NESTED, IND_LEN, IND_OUTSIDE,
		  RING_OUTSIDE, NCASES };

static void split_hostile(struct fx *f, enum split_case c)
{
	const uint64_t want = BLK_FEATURES | F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_RING_F_EVENT_IDX);
	struct vpcie_vring *r;
	uint64_t hdr = f->reqs_iova, table = f->buf_iova + (2u << 20);
	struct vring_desc *t = (void *)(f->buf + (2u << 20));

	bring_up(f, want, 1);
	assert_int_equal(vpcie_virtio_drv_take_config_interrupts(f->d), 0);
	r = vpcie_virtio_drv_vring(f->d, 0);
	switch (c) {
	case LOOP:
		put_split(f, 0, hdr, 16, VRING_DESC_F_NEXT, 1);
		put_split(f, 1, f->buf_iova, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
		put_split(f, 2, f->buf_iova, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
		vpcie_vring_split_publish(r, 0);
		break;
	case NEXT_RANGE:
		put_split(f, 0, hdr, 16, VRING_DESC_F_NEXT, 4000);
		vpcie_vring_split_publish(r, 0);
		break;
	case HEAD_RANGE:
		vpcie_vring_split_publish(r, 0xffff);
		break;
	case AVAIL_JUMP:
		vpcie_vring_split_set_avail_idx(r, 0x8000);
		break;
	case ORDER:
		put_split(f, 0, f->buf_iova, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
		put_split(f, 1, hdr, 16, 0, 0);
		vpcie_vring_split_publish(r, 0);
		break;
	case NESTED:
		t[0] = (struct vring_desc){htole64(hdr), htole32(16), htole16(VRING_DESC_F_NEXT), htole16(1)};
		t[1] = (struct vring_desc){htole64(table), htole32(32), htole16(VRING_DESC_F_INDIRECT), 0};
		put_split(f, 0, table, 32, VRING_DESC_F_INDIRECT, 0);
		vpcie_vring_split_publish(r, 0);
		break;
	case IND_LEN:
		put_split(f, 0, table, 0xfffffff0u, VRING_DESC_F_INDIRECT, 0);
		vpcie_vring_split_publish(r, 0);
		break;
	case IND_OUTSIDE:
		put_split(f, 0, OUTSIDE, 64, VRING_DESC_F_INDIRECT, 0);
		vpcie_vring_split_publish(r, 0);
		break;
	case RING_OUTSIDE: {
		/* Re-point the descriptor table outside host memory: needs a queue
		 * set up by hand. */
		uint16_t q = 0, one = 1;
		uint32_t lo = (uint32_t)OUTSIDE, hi = (uint32_t)(OUTSIDE >> 32);

		assert_int_equal(vpcie_virtio_drv_negotiate(f->d, want, NULL), 0);
		assert_int_equal(vpcie_virtio_drv_common_write(f->d, VIRTIO_PCI_COMMON_Q_SELECT, &q, 2), 0);
		assert_int_equal(vpcie_virtio_drv_common_write(f->d, VIRTIO_PCI_COMMON_Q_DESCLO, &lo, 4), 0);
		assert_int_equal(vpcie_virtio_drv_common_write(f->d, VIRTIO_PCI_COMMON_Q_DESCHI, &hi, 4), 0);
		lo = (uint32_t)(f->buf_iova + (3u << 20));
		hi = (uint32_t)(f->buf_iova >> 32);
		assert_int_equal(vpcie_virtio_drv_common_write(f->d, VIRTIO_PCI_COMMON_Q_AVAILLO, &lo, 4), 0);
		assert_int_equal(vpcie_virtio_drv_common_write(f->d, VIRTIO_PCI_COMMON_Q_AVAILHI, &hi, 4), 0);
		lo += 65536;
		assert_int_equal(vpcie_virtio_drv_common_write(f->d, VIRTIO_PCI_COMMON_Q_USEDLO, &lo, 4), 0);
		assert_int_equal(vpcie_virtio_drv_common_write(f->d, VIRTIO_PCI_COMMON_Q_USEDHI, &hi, 4), 0);
		assert_int_equal(vpcie_virtio_drv_common_write(f->d, VIRTIO_PCI_COMMON_Q_ENABLE, &one, 2), 0);
		assert_int_equal(vpcie_virtio_drv_driver_ok(f->d), 0);
		/* avail->idx = 1 */
		memset(f->buf + (3u << 20), 0, 8);
		f->buf[(3u << 20) + 2] = 1;
		break;
	}
	default:
		break;
	}
	assert_int_equal(vpcie_virtio_drv_notify(f->d, 0), 0);
	expect_needs_reset(f);
	if (f->irq == VPCIE_VIRTIO_DRV_MSIX)
		assert_true(vpcie_virtio_drv_take_config_interrupts(f->d) > 0);
	/* Further notifies are ignored until the reset. */
	assert_int_equal(vpcie_virtio_drv_notify(f->d, 0), 0);
	assert_int_equal(vpcie_virtio_drv_idle(f->d, 10), 0);
	recover(f, want);
}

static void test_hostile_split(void **s)
{
	(void)s;
	for (int shared = 0; shared < 2; shared++) {
		struct fx f;

		start(&f, shared, VPCIE_VIRTIO_DRV_MSIX, NULL);
		for (int c = 0; c < NCASES; c++)
			split_hostile(&f, (enum split_case)c);
		stop(&f);
	}
}

static void test_hostile_packed(void **s)
{
	const uint64_t want = BLK_FEATURES | F(VIRTIO_F_RING_PACKED) | F(VIRTIO_RING_F_INDIRECT_DESC);

	(void)s;
	for (int shared = 0; shared < 2; shared++) {
		struct fx f;

		start(&f, shared, VPCIE_VIRTIO_DRV_MSIX, NULL);
		for (int c = 0; c < 4; c++) {
			struct vpcie_vring *r;
			struct vring_packed_desc d[256];
			unsigned n = 1;

			bring_up(&f, want, 1);
			r = vpcie_virtio_drv_vring(f.d, 0);
			switch (c) {
			case 0: /* a chain that never ends */
				n = vpcie_vring_size(r);
				for (unsigned i = 0; i < n; i++)
					d[i] = (struct vring_packed_desc){htole64(f.reqs_iova), htole32(16), 0,
									  htole16(VRING_DESC_F_NEXT)};
				break;
			case 1: /* indirect table of an odd length */
				d[0] = (struct vring_packed_desc){htole64(f.buf_iova), htole32(40), 0,
								  htole16(VRING_DESC_F_INDIRECT)};
				break;
			case 2: /* indirect with NEXT */
				n = 2;
				d[0] = (struct vring_packed_desc){htole64(f.buf_iova), htole32(32), 0,
								  htole16(VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT)};
				d[1] = (struct vring_packed_desc){htole64(f.reqs_iova), htole32(1), 0,
								  htole16(VRING_DESC_F_WRITE)};
				break;
			case 3: /* indirect table outside memory */
				d[0] = (struct vring_packed_desc){htole64(OUTSIDE), htole32(32), 0,
								  htole16(VRING_DESC_F_INDIRECT)};
				break;
			}
			vpcie_vring_packed_publish(r, d, n);
			assert_int_equal(vpcie_virtio_drv_notify(f.d, 0), 0);
			expect_needs_reset(&f);
			recover(&f, want);
		}
		stop(&f);
	}
}

/* Queue and status misuse through the common configuration. */
static void test_hostile_config(void **s)
{
	const uint64_t want = BLK_FEATURES;
	struct fx f;
	uint16_t v16, q = 0;
	uint32_t v32;

	(void)s;
	start(&f, true, VPCIE_VIRTIO_DRV_MSIX, NULL);
	/* Features: not offered, or without VERSION_1 -> FEATURES_OK refused. */
	assert_int_equal(vpcie_virtio_drv_negotiate(f.d, want | F(VIRTIO_F_ACCESS_PLATFORM), NULL), 0);
	assert_int_equal(vpcie_virtio_drv_reset(f.d), 0);
	assert_int_equal(vpcie_virtio_drv_set_status(f.d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER), 0);
	v32 = 1;
	assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_GFSELECT, &v32, 4), 0);
	v32 = 1u << 20; /* bit 52: never offered, and no VERSION_1 */
	assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_GF, &v32, 4), 0);
	assert_int_equal(vpcie_virtio_drv_set_status(f.d, 0x0b), 0);
	assert_int_equal(status(&f) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
	/* Queue enabled before FEATURES_OK. */
	v16 = 1;
	assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_Q_ENABLE, &v16, 2), 0);
	assert_true(status(&f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	recover(&f, want);
	/* DRIVER_OK without FEATURES_OK. */
	assert_int_equal(vpcie_virtio_drv_reset(f.d), 0);
	assert_int_equal(vpcie_virtio_drv_set_status(f.d, 0x07), 0);
	assert_true(status(&f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	recover(&f, want);
	/* Bad queue sizes (split: 0, not a power of two, above the maximum) and
	 * misaligned rings: the queue stays disabled and the device needs a reset. */
	for (int c = 0; c < 4; c++) {
		assert_int_equal(vpcie_virtio_drv_negotiate(f.d, want, NULL), 0);
		assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_Q_SELECT, &q, 2), 0);
		if (c < 3) {
			v16 = c == 0 ? 0 : c == 1 ? 24 : 1024;
			assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_Q_SIZE, &v16, 2), 0);
			v32 = (uint32_t)f.buf_iova;
		} else {
			v32 = (uint32_t)f.buf_iova + 8;
		}
		assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_Q_DESCLO, &v32, 4), 0);
		v32 = (uint32_t)(f.buf_iova >> 32);
		assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_Q_DESCHI, &v32, 4), 0);
		v16 = 1;
		assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_Q_ENABLE, &v16, 2), 0);
		assert_int_equal(vpcie_virtio_drv_common_read(f.d, VIRTIO_PCI_COMMON_Q_ENABLE, &v16, 2), 0);
		assert_int_equal(v16, 0);
		assert_true(status(&f) & VIRTIO_CONFIG_S_NEEDS_RESET);
		recover(&f, want);
	}
	/* MSI-X vectors beyond the table read back as NO_VECTOR; a queue index
	 * beyond num_queues reads size 0 and ignores writes; notifying a queue
	 * that does not exist is ignored. */
	v16 = 99;
	assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_MSIX, &v16, 2), 0);
	assert_int_equal(vpcie_virtio_drv_common_read(f.d, VIRTIO_PCI_COMMON_MSIX, &v16, 2), 0);
	assert_int_equal(v16, VIRTIO_MSI_NO_VECTOR);
	v16 = 7;
	assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_Q_SELECT, &v16, 2), 0);
	assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_Q_SIZE, &v16, 2), 0);
	assert_int_equal(vpcie_virtio_drv_common_read(f.d, VIRTIO_PCI_COMMON_Q_SIZE, &v16, 2), 0);
	assert_int_equal(v16, 0);
	v16 = 0;
	assert_int_equal(vpcie_host_region_write_posted(f.h, 0, 0x3000 + 4 * 40, &v16, 2), 0);
	/* Addresses of an enabled queue are frozen. */
	assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_Q_SELECT, &q, 2), 0);
	v32 = 0x1234;
	assert_int_equal(vpcie_virtio_drv_common_write(f.d, VIRTIO_PCI_COMMON_Q_DESCLO, &v32, 4), 0);
	assert_int_equal(status(&f) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	io_cycle(&f, 0, false, 8);
	stop(&f);
}

/* After a failed test: no device process or files left behind. */
static int teardown(void **state)
{
	char path[128];

	(void)state;
	vpcie_virtio_drv_close(live.d);
	vpcie_host_close(live.h);
	live.d = NULL;
	live.h = NULL;
	if (live.pid > 0) {
		kill(live.pid, SIGKILL);
		waitpid(live.pid, NULL, 0);
		live.pid = 0;
	}
	if (live.dir[0]) {
		unlink(live.img);
		snprintf(path, sizeof(path), "%s/blk.sock", live.dir);
		unlink(path);
		rmdir(live.dir);
		live.dir[0] = 0;
	}
	return 0;
}

#define T(fn) cmocka_unit_test_teardown(fn, teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_matrix_shared),
		T(test_matrix_messages),
		T(test_large),
		T(test_config),
		T(test_pci_cfg_window),
		T(test_discard_write_zeroes),
		T(test_readonly),
		T(test_multiqueue),
		T(test_interrupt_suppression),
		T(test_intx),
		T(test_reset_reconnect),
		T(test_shutdown_flush),
		T(test_bad_requests),
		T(test_hostile_split),
		T(test_hostile_packed),
		T(test_hostile_config),
	};

	blk_prog = argc > 1 ? argv[1] : getenv("VPCIE_VIRTIO_BLK");
	if (!blk_prog) {
		fprintf(stderr, "usage: %s PATH-TO-vpcie-virtio-blk\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
