/* SPDX-License-Identifier: MIT */
/*
 * What the device runtime does while a DMA_READ/DMA_WRITE message waits for
 * its reply, against a raw client that behaves like QEMU with guest RAM not
 * shared: it serves the device's DMA request only after the register access
 * it is itself waiting for (QEMU's vCPU holds the lock its main loop needs to
 * serve DMA), and it cannot send a DMA_READ reply bigger than its socket
 * buffer in one piece.
 *
 * The device lives in this process, on its own thread (the runtime is
 * single-threaded per device; only the device thread touches it). Its BAR0:
 *   0x00/0x04 DMA address lo/hi   0x08 length   0x10 status (read)
 *   0x0c command: 1 = DMA read from a timer, 2 = DMA read inside this write's
 *        callback, 3 = as 1 with a vpcie_dev_dma_ptr() to PTR_ADDR taken first
 *        and read after the DMA.
 *   0x14 sum of the bytes read (and, for 3, of the PTR_ADDR page)
 * The last case uses the virtio transport (vpcie/virtio.h) instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include <vpcie/device.h>
#include <vpcie/protocol.h>
#include <vpcie/transport.h>
#include <vpcie/virtio.h>

#define WAIT_MS 1000          /* how long a reply may take (all local) */
#define HOST_ADDR 0x100000ull /* message-only host memory */
#define HOST_SIZE (1u << 20)
#define PTR_ADDR 0x400000ull  /* fd-mapped host memory (command 3) */
#define PTR_SIZE 4096u

enum { R_ADDR_LO = 0x00, R_ADDR_HI = 0x04, R_LEN = 0x08, R_CMD = 0x0c, R_STATUS = 0x10, R_SUM = 0x14 };
enum { ST_IDLE, ST_BUSY, ST_DONE, ST_FAIL };

/* ---- The device (device thread only, except the atomics) ------------------- */

struct tdev {
	struct vpcie_dev *dev;
	struct vpcie_timer *timer;
	uint32_t regs[8];
	uint8_t *buf;
	bool in_dma;
	atomic_int status;
	atomic_int callbacks_during_dma; /* BAR0 accesses served while in_dma */
	atomic_int nested;               /* a BAR0 callback ran inside another */
	int depth;
	atomic_bool stop;
	pthread_t thread;
	/* virtio case */
	struct vpcie_virtio *v;
	atomic_int pops;         /* queue_notify calls finished */
	atomic_int second_pop;   /* what the second pop returned */
};

static uint64_t dma_addr(const struct tdev *t)
{
	return t->regs[R_ADDR_LO / 4] | (uint64_t)t->regs[R_ADDR_HI / 4] << 32;
}

static void run_dma(struct tdev *t, bool with_ptr)
{
	const uint8_t *p = NULL;
	uint32_t sum = 0, len = t->regs[R_LEN / 4];
	int rc;

	if (with_ptr) {
		p = vpcie_dev_dma_ptr(t->dev, PTR_ADDR, PTR_SIZE, false);
		if (!p) {
			atomic_store(&t->status, ST_FAIL);
			return;
		}
	}
	t->in_dma = true;
	rc = vpcie_dev_dma_read(t->dev, dma_addr(t), t->buf, len);
	t->in_dma = false;
	for (uint32_t i = 0; !rc && i < len; i++)
		sum += t->buf[i];
	for (uint32_t i = 0; p && i < PTR_SIZE; i++)
		sum += p[i]; /* must still be mapped, whatever the host did meanwhile */
	t->regs[R_SUM / 4] = sum;
	atomic_store(&t->status, rc ? ST_FAIL : ST_DONE);
}

static void on_timer(struct vpcie_dev *dev, void *opaque)
{
	struct tdev *t = opaque;

	(void)dev;
	run_dma(t, t->regs[R_CMD / 4] == 3);
}

static int bar0_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct tdev *t = opaque;
	uint32_t v;

	(void)dev;
	if (t->in_dma)
		atomic_fetch_add(&t->callbacks_during_dma, 1);
	if (t->depth)
		atomic_store(&t->nested, 1);
	if (off % 4 || len != 4 || off >= sizeof(t->regs))
		return -EINVAL;
	v = off == R_STATUS ? (uint32_t)atomic_load(&t->status) : t->regs[off / 4];
	memcpy(buf, &v, 4);
	return 0;
}

static int bar0_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf,
		      size_t len)
{
	struct tdev *t = opaque;

	(void)dev;
	if (t->in_dma)
		atomic_fetch_add(&t->callbacks_during_dma, 1);
	if (t->depth)
		atomic_store(&t->nested, 1);
	if (off % 4 || len != 4 || off >= sizeof(t->regs))
		return -EINVAL;
	memcpy(&t->regs[off / 4], buf, 4);
	if (off != R_CMD)
		return 0;
	atomic_store(&t->status, ST_BUSY);
	if (t->regs[R_CMD / 4] == 2) {
		t->depth++;
		run_dma(t, false);
		t->depth--;
		return 0;
	}
	vpcie_dev_timer_arm(t->timer, 0, 0);
	return 0;
}

static void *device_thread(void *opaque)
{
	struct tdev *t = opaque;

	while (!atomic_load(&t->stop))
		vpcie_dev_dispatch(t->dev, 10);
	return NULL;
}

/* ---- The client ---------------------------------------------------------------- */

struct fix {
	struct tdev t;
	struct vpcie_chan *ch;
	uint16_t next_id;
	uint8_t *host;     /* HOST_SIZE bytes at HOST_ADDR, served by messages */
	int ptr_fd;        /* PTR_SIZE bytes at PTR_ADDR, mapped with this fd */
	uint32_t max_read; /* largest DMA_READ the device asked for */
};

static int send_cmd(struct fix *f, unsigned cmd, uint32_t flags, const void *p, size_t len,
		    int fd, uint16_t *id)
{
	struct vpcie_msg_hdr hdr = {.msg_id = f->next_id++, .cmd = (uint16_t)cmd, .flags = flags};
	struct iovec iov = {(void *)p, len};

	*id = hdr.msg_id;
	return vpcie_chan_send(f->ch, &hdr, &iov, 1, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, WAIT_MS);
}

/* The next message from the device, within WAIT_MS. */
static int next(struct fix *f, struct vpcie_msg *m)
{
	return vpcie_chan_recv(f->ch, m, WAIT_MS);
}

static bool is_reply(const struct vpcie_msg *m, uint16_t id)
{
	return (m->hdr.flags & VPCIE_MSGF_TYPE_MASK) == VPCIE_MSGF_REPLY && m->hdr.msg_id == id;
}

/* Serve one DMA request (DMA_READ or DMA_WRITE) as a host would. */
static void serve_dma(struct fix *f, const struct vpcie_msg *m)
{
	const struct vpcie_dma_access *a = m->payload;

	assert_int_equal(m->hdr.flags & VPCIE_MSGF_TYPE_MASK, VPCIE_MSGF_COMMAND);
	assert_true(m->payload_len >= sizeof(*a));
	assert_true(a->addr >= HOST_ADDR && a->count <= HOST_SIZE &&
		    a->addr - HOST_ADDR <= HOST_SIZE - a->count);
	if (m->hdr.cmd == VPCIE_CMD_DMA_WRITE) {
		struct vpcie_dma_write_reply wr = {.addr = a->addr, .count = (uint32_t)a->count};
		struct iovec iov = {&wr, sizeof(wr)};

		assert_true(m->payload_len - sizeof(*a) >= a->count);
		memcpy(f->host + (a->addr - HOST_ADDR), a->data, (size_t)a->count);
		assert_int_equal(vpcie_chan_reply(f->ch, &m->hdr, &iov, 1, NULL, 0, WAIT_MS), 0);
		return;
	}
	assert_int_equal(m->hdr.cmd, VPCIE_CMD_DMA_READ);
	if (a->count > f->max_read)
		f->max_read = (uint32_t)a->count;
	struct vpcie_dma_access rep = {.addr = a->addr, .count = a->count};
	struct iovec iov[2] = {{&rep, sizeof(rep)},
			       {f->host + (a->addr - HOST_ADDR), (size_t)a->count}};

	assert_int_equal(vpcie_chan_reply(f->ch, &m->hdr, iov, 2, NULL, 0, WAIT_MS), 0);
}

/* A command and its reply; DMA requests that come first are served. */
static int call(struct fix *f, unsigned cmd, const void *p, size_t len, int fd,
		struct vpcie_msg *out)
{
	uint16_t id;
	int rc = send_cmd(f, cmd, 0, p, len, fd, &id);

	while (rc == 0) {
		struct vpcie_msg m;

		rc = next(f, &m);
		if (rc)
			break;
		if (is_reply(&m, id)) {
			rc = (m.hdr.flags & VPCIE_MSGF_ERROR) ? -(int)m.hdr.error : 0;
			if (out && !rc)
				*out = m;
			else
				vpcie_msg_release(&m);
			return rc;
		}
		serve_dma(f, &m);
		vpcie_msg_release(&m);
	}
	return rc;
}

static void region_write(struct fix *f, unsigned region, uint64_t off, uint32_t v, bool posted)
{
	uint8_t buf[sizeof(struct vpcie_region_access) + 4];
	struct vpcie_region_access a = {.offset = off, .region = region, .count = 4};
	uint16_t id;

	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), &v, 4);
	if (posted)
		assert_int_equal(send_cmd(f, VPCIE_CMD_REGION_WRITE, VPCIE_MSGF_NO_REPLY, buf,
					  sizeof(buf), -1, &id), 0);
	else
		assert_int_equal(call(f, VPCIE_CMD_REGION_WRITE, buf, sizeof(buf), -1, NULL), 0);
}

static void dma_map(struct fix *f, uint64_t addr, uint64_t size, int fd)
{
	struct vpcie_dma_map m = {.argsz = sizeof(m), .addr = addr, .size = size,
				  .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE};

	assert_int_equal(call(f, VPCIE_CMD_DMA_MAP, &m, sizeof(m), fd, NULL), 0);
}

/* Host memory, the device thread, VERSION as QEMU proposes it (1 MiB
 * transfers) and the message-only map. */
static void connect_client(struct fix *f)
{
	struct vpcie_chan_limits lim = {.max_msg_size = 2u << 20, .max_fds = 4};
	int sv[2];

	f->t.buf = malloc(HOST_SIZE);
	f->host = malloc(HOST_SIZE);
	assert_non_null(f->t.buf);
	assert_non_null(f->host);
	for (unsigned i = 0; i < HOST_SIZE; i++)
		f->host[i] = (uint8_t)(i * 7 + 3);
	f->ptr_fd = -1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vpcie_dev_attach(f->t.dev, sv[0]), 0);
	f->ch = vpcie_chan_new(sv[1], &lim);
	assert_non_null(f->ch);
	f->next_id = 1;
	assert_int_equal(pthread_create(&f->t.thread, NULL, device_thread, &f->t), 0);

	struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
	struct vpcie_caps caps;
	char buf[sizeof(v) + 512];
	int n;

	vpcie_caps_defaults(&caps);
	caps.max_msg_fds = 4;
	caps.max_data_xfer_size = 1u << 20;
	caps.twin_fd_index = -1;
	n = vpcie_caps_to_json(&caps, buf + sizeof(v), sizeof(buf) - sizeof(v));
	assert_true(n > 0);
	memcpy(buf, &v, sizeof(v));
	assert_int_equal(call(f, VPCIE_CMD_VERSION, buf, sizeof(v) + (size_t)n, -1, NULL), 0);
	dma_map(f, HOST_ADDR, HOST_SIZE, -1);
}

static void dev_opts(struct vpcie_dev_opts *o)
{
	vpcie_dev_opts_defaults(o);
	o->log_level = getenv("TEST_VERBOSE") ? VPCIE_LOG_DEBUG : VPCIE_LOG_ERROR;
	o->dma_timeout_ms = 3 * WAIT_MS;
	o->offer_ring = false;
	o->poll_max_us = 0;
}

static int setup(void **state)
{
	static const struct vpcie_ids ids = {.vendor = 0x1234, .device = 0x0d3a,
					     .class_code = 0xff0000};
	struct fix *f = calloc(1, sizeof(*f));
	struct vpcie_dev_opts o;

	assert_non_null(f);
	dev_opts(&o);
	f->t.dev = vpcie_dev_new(&ids, NULL, &f->t, &o);
	assert_non_null(f->t.dev);
	static const struct vpcie_bar_ops ops = {bar0_read, bar0_write};
	struct vpcie_bar_desc bar = {.size = 4096, .kind = VPCIE_BAR_MEM32, .ops = &ops,
				     .opaque = &f->t};

	assert_int_equal(vpcie_dev_set_bar(f->t.dev, 0, &bar), 0);
	/* Armed by the command register; until then, due in ~290 years. */
	f->t.timer = vpcie_dev_timer_add(f->t.dev, UINT64_MAX / 2, 0, on_timer, &f->t);
	assert_non_null(f->t.timer);
	connect_client(f);
	f->ptr_fd = memfd_create("test-dma-wait", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(f->ptr_fd >= 0);
	assert_int_equal(ftruncate(f->ptr_fd, PTR_SIZE), 0);
	/* sealed, as QEMU's memfd RAM is: the device maps only such memory */
	assert_int_equal(fcntl(f->ptr_fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	uint8_t *p = mmap(NULL, PTR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->ptr_fd, 0);

	assert_true(p != MAP_FAILED);
	memset(p, 1, PTR_SIZE);
	munmap(p, PTR_SIZE);
	dma_map(f, PTR_ADDR, PTR_SIZE, f->ptr_fd);
	region_write(f, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND,
		     PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	atomic_store(&f->t.stop, true);
	pthread_join(f->t.thread, NULL);
	vpcie_chan_free(f->ch);
	if (f->t.v)
		vpcie_virtio_free(f->t.v); /* frees its device */
	else
		vpcie_dev_free(f->t.dev);
	if (f->ptr_fd >= 0)
		close(f->ptr_fd);
	free(f->t.buf);
	free(f->host);
	free(f);
	return 0;
}

/* Program BAR0 (posted writes, as QEMU sends them) and start command cmd. */
static void start(struct fix *f, uint32_t cmd, uint64_t addr, uint32_t len)
{
	region_write(f, 0, R_ADDR_LO, (uint32_t)addr, true);
	region_write(f, 0, R_ADDR_HI, (uint32_t)(addr >> 32), true);
	region_write(f, 0, R_LEN, len, true);
	region_write(f, 0, R_CMD, cmd, true);
}

static uint32_t expected_sum(const struct fix *f, uint64_t addr, uint32_t len)
{
	uint32_t sum = 0;

	for (uint32_t i = 0; i < len; i++)
		sum += f->host[addr - HOST_ADDR + i];
	return sum;
}

/* Non-posted REGION_READ of BAR0 (or config space) sent now; its id. */
static uint16_t send_read(struct fix *f, unsigned region, uint64_t off)
{
	struct vpcie_region_access a = {.offset = off, .region = region, .count = 4};
	uint16_t id;

	assert_int_equal(send_cmd(f, VPCIE_CMD_REGION_READ, 0, &a, sizeof(a), -1, &id), 0);
	return id;
}

/* The reply to id within WAIT_MS, without serving anything meanwhile. */
static int expect_reply(struct fix *f, uint16_t id, uint32_t *val)
{
	struct vpcie_msg m;
	int rc = next(f, &m);

	if (rc)
		return rc;
	if (!is_reply(&m, id) || (m.hdr.flags & VPCIE_MSGF_ERROR)) {
		vpcie_msg_release(&m);
		return -EPROTO;
	}
	if (val) {
		assert_int_equal(m.payload_len, sizeof(struct vpcie_region_access) + 4);
		memcpy(val, (uint8_t *)m.payload + sizeof(struct vpcie_region_access), 4);
	}
	vpcie_msg_release(&m);
	return 0;
}

static uint32_t read_reg(struct fix *f, unsigned off)
{
	uint32_t v = 0;

	assert_int_equal(expect_reply(f, send_read(f, 0, off), &v), 0);
	return v;
}

static void wait_status(struct fix *f, int want)
{
	for (int i = 0; i < 200 && atomic_load(&f->t.status) == ST_BUSY; i++)
		usleep(5000);
	assert_int_equal(read_reg(f, R_STATUS), want);
}

/*
 * The deadlock QEMU hits with private guest RAM: the device's DMA_READ is
 * outstanding, the host reads a register and serves the DMA only once that
 * read is answered.
 */
static void test_region_read_while_dma_waits(void **state)
{
	struct fix *f = *state;
	struct vpcie_msg dma;
	uint32_t v;

	start(f, 1, HOST_ADDR + 64, 4096);
	assert_int_equal(next(f, &dma), 0);
	assert_int_equal(dma.hdr.cmd, VPCIE_CMD_DMA_READ);
	/* The register and config space answer while the DMA is in flight. */
	assert_int_equal(expect_reply(f, send_read(f, 0, R_STATUS), &v), 0);
	assert_int_equal(v, ST_BUSY);
	assert_int_equal(expect_reply(f, send_read(f, VFIO_PCI_CONFIG_REGION_INDEX, 0), &v), 0);
	assert_int_equal(v, 0x0d3a1234u);
	serve_dma(f, &dma);
	vpcie_msg_release(&dma);
	wait_status(f, ST_DONE);
	assert_int_equal(read_reg(f, R_SUM), expected_sum(f, HOST_ADDR + 64, 4096));
	assert_true(atomic_load(&f->t.callbacks_during_dma) >= 1);
	assert_int_equal(atomic_load(&f->t.nested), 0);
}

/*
 * QEMU sends a DMA_READ reply with one non-blocking sendmsg() and loses what
 * does not fit into its socket buffer (208 KiB by default): the device must
 * not ask for more than fits, even though both sides accept 1 MiB.
 */
static void test_dma_read_fits_qemu_reply(void **state)
{
	struct fix *f = *state;
	const unsigned qemu_sndbuf = 212992; /* net.core.wmem_default */

	start(f, 1, HOST_ADDR, HOST_SIZE - 4096);
	for (int i = 0; i < 1000 && atomic_load(&f->t.status) <= ST_BUSY; i++) {
		struct vpcie_msg m;

		if (vpcie_chan_recv(f->ch, &m, 10) == 0) {
			serve_dma(f, &m);
			vpcie_msg_release(&m);
		}
	}
	wait_status(f, ST_DONE);
	assert_int_equal(read_reg(f, R_SUM), expected_sum(f, HOST_ADDR, HOST_SIZE - 4096));
	assert_true(f->max_read > 0);
	/* With nobody draining the socket meanwhile, one sendmsg() of QEMU's
	 * surely takes a reply that fits in half its send buffer. */
	assert_true(f->max_read + sizeof(struct vpcie_msg_hdr) + 16 <= qemu_sndbuf / 2);
}

/*
 * While the DMA waits, the host removes memory the device holds a
 * vpcie_dev_dma_ptr() into and adds maps (the table grows). The pointer stays
 * valid until the callback returns; the transfer finishes from the new table.
 */
static void test_maps_change_while_dma_waits(void **state)
{
	struct fix *f = *state;
	struct vpcie_dma_unmap u = {.argsz = sizeof(u), .addr = PTR_ADDR, .size = PTR_SIZE};
	struct vpcie_msg dma;
	uint16_t id;

	start(f, 3, HOST_ADDR, 3u << 16); /* several DMA_READ messages */
	assert_int_equal(next(f, &dma), 0);
	assert_int_equal(dma.hdr.cmd, VPCIE_CMD_DMA_READ);
	assert_int_equal(send_cmd(f, VPCIE_CMD_DMA_UNMAP, 0, &u, sizeof(u), -1, &id), 0);
	assert_int_equal(expect_reply(f, id, NULL), 0);
	for (unsigned i = 0; i < 40; i++) {
		struct vpcie_dma_map m = {.argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ,
					  .addr = 0x10000000ull + i * 0x10000ull, .size = 0x1000};

		assert_int_equal(send_cmd(f, VPCIE_CMD_DMA_MAP, 0, &m, sizeof(m), -1, &id), 0);
		assert_int_equal(expect_reply(f, id, NULL), 0);
	}
	serve_dma(f, &dma);
	vpcie_msg_release(&dma);
	for (;;) {
		struct vpcie_msg m;

		if (atomic_load(&f->t.status) != ST_BUSY || next(f, &m))
			break;
		serve_dma(f, &m);
		vpcie_msg_release(&m);
	}
	wait_status(f, ST_DONE);
	assert_int_equal(read_reg(f, R_SUM),
			 expected_sum(f, HOST_ADDR, 3u << 16) + PTR_SIZE /* the page of 1s */);
}

/*
 * A DMA started inside a BAR callback: commands wait until the callback is
 * done (no callback re-entered), so the register read is answered only
 * after the host served the DMA.
 */
static void test_dma_inside_callback_queues(void **state)
{
	struct fix *f = *state;
	struct vpcie_msg dma, m;
	uint16_t id;

	start(f, 2, HOST_ADDR, 4096);
	assert_int_equal(next(f, &dma), 0);
	assert_int_equal(dma.hdr.cmd, VPCIE_CMD_DMA_READ);
	id = send_read(f, 0, R_STATUS);
	assert_int_equal(vpcie_chan_recv(f->ch, &m, 200), -ETIMEDOUT);
	serve_dma(f, &dma);
	vpcie_msg_release(&dma);
	uint32_t v = 0;

	assert_int_equal(expect_reply(f, id, &v), 0);
	assert_int_equal(v, ST_DONE);
	assert_int_equal(read_reg(f, R_SUM), expected_sum(f, HOST_ADDR, 4096));
	assert_int_equal(atomic_load(&f->t.nested), 0);
}

/* ---- virtio: a reset while a queue's code waits for DMA ------------------- */

#define VQ_DESC (HOST_ADDR + 0x10000)
#define VQ_AVAIL (HOST_ADDR + 0x11000)
#define VQ_USED (HOST_ADDR + 0x12000)

/* Two pops: the first waits for DMA, during which the driver resets us. */
static void vq_notify(struct vpcie_virtio *v, void *opaque, unsigned q)
{
	struct tdev *t = opaque;
	struct vpcie_virtq *vq = vpcie_virtio_queue(v, q);
	struct vpcie_virtq_req req;

	t->in_dma = true;
	vpcie_virtq_pop(vq, &req);
	t->in_dma = false;
	atomic_store(&t->second_pop, vpcie_virtq_pop(vq, &req));
	atomic_fetch_add(&t->pops, 1);
}

static int setup_virtio(void **state)
{
	static const struct vpcie_virtio_ops ops = {.queue_notify = vq_notify};
	const struct vpcie_virtio_desc desc = {.device_id = 2, .class_code = 0x010000,
					       .num_queues = 1, .queue_size = 16};
	struct fix *f = calloc(1, sizeof(*f));
	struct vpcie_dev_opts o;

	assert_non_null(f);
	dev_opts(&o);
	f->t.v = vpcie_virtio_new(&desc, &ops, &f->t, &o);
	assert_non_null(f->t.v);
	f->t.dev = vpcie_virtio_dev(f->t.v);
	connect_client(f);
	memset(f->host + (VQ_DESC - HOST_ADDR), 0, 0x3000); /* empty rings */
	region_write(f, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND,
		     PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, false);
	*state = f;
	return 0;
}

static void common_write(struct fix *f, unsigned off, uint32_t v)
{
	region_write(f, VPCIE_VIRTIO_BAR, VPCIE_VIRTIO_COMMON_OFF + off, v, false);
}

static uint8_t virtio_status(struct fix *f)
{
	return (uint8_t)read_reg(f, VPCIE_VIRTIO_COMMON_OFF + VIRTIO_PCI_COMMON_STATUS);
}

/*
 * The driver writes status 0 while the device's queue code waits for a
 * DMA_READ. The reset must not free the queue under that code: it completes
 * when the code returns (status reads non-zero until then, as virtio allows),
 * and the queue refuses further work meanwhile.
 */
static void test_virtio_reset_while_dma_waits(void **state)
{
	struct fix *f = *state;
	const uint32_t ready = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	struct vpcie_msg dma;

	/* A driver's bring-up, 4-byte writes (status shares its word with
	 * config_generation, read-only, and queue_select, 0). */
	common_write(f, VIRTIO_PCI_COMMON_STATUS, ready);
	common_write(f, VIRTIO_PCI_COMMON_GFSELECT, 1);
	common_write(f, VIRTIO_PCI_COMMON_GF, 1); /* VIRTIO_F_VERSION_1 */
	common_write(f, VIRTIO_PCI_COMMON_STATUS, ready | VIRTIO_CONFIG_S_FEATURES_OK);
	common_write(f, VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)VQ_DESC);
	common_write(f, VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)VQ_AVAIL);
	common_write(f, VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)VQ_USED);
	common_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
	common_write(f, VIRTIO_PCI_COMMON_STATUS,
		     ready | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(virtio_status(f), 0x0f);

	/* Notify queue 0 (posted), then reset while its DMA is outstanding. */
	region_write(f, VPCIE_VIRTIO_BAR, VPCIE_VIRTIO_NOTIFY_OFF, 0, true);
	assert_int_equal(next(f, &dma), 0);
	assert_int_equal(dma.hdr.flags & VPCIE_MSGF_TYPE_MASK, VPCIE_MSGF_COMMAND);
	common_write(f, VIRTIO_PCI_COMMON_STATUS, 0);
	assert_int_not_equal(virtio_status(f), 0); /* reset still in progress */
	serve_dma(f, &dma);
	vpcie_msg_release(&dma);
	/* Whatever more the first pop asks for, until the callback is done. */
	for (int i = 0; i < 200 && atomic_load(&f->t.pops) == 0; i++) {
		if (vpcie_chan_recv(f->ch, &dma, 10) == 0) {
			serve_dma(f, &dma);
			vpcie_msg_release(&dma);
		}
	}
	assert_int_equal(atomic_load(&f->t.pops), 1);
	assert_int_equal(atomic_load(&f->t.second_pop), -ECANCELED);
	assert_int_equal(virtio_status(f), 0);
	assert_true(atomic_load(&f->t.callbacks_during_dma) == 0); /* BAR0 is the transport's */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_region_read_while_dma_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_read_fits_qemu_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maps_change_while_dma_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_inside_callback_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtio_reset_while_dma_waits, setup_virtio,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
