/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory ring transport end to end (vpcie/ring.h), against
 * vpcie-sample and against fake devices:
 *  - negotiation and fallback: ring when both sides want it, the socket when
 *    either does not (VPCIE_DEV_RING=0 on the device);
 *  - ordering across transports: posted writes in the ring, then commands on
 *    the socket (WRITE_MULTI, large accesses), and back;
 *  - interrupts as ring notices, counted exactly, and while nobody waits;
 *  - a device that dies while the host waits on the ring;
 *  - a hostile host: a raw client that maps the rings and writes garbage
 *    indices and slots, never reads its replies; the device drops it and
 *    serves the next client;
 *  - hostile devices: fake servers whose VERSION answer is unacceptable
 *    (the host refuses to open), or that write garbage into the reply ring
 *    (the call fails, nothing crashes).
 *
 * argv[1] (or $VPCIE_SAMPLE) is the vpcie-sample program.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vpcie/host.h>
#include <vpcie/ring.h>
#include <vpcie/transport.h>

#include "sample_regs.h"

static const char *sample_prog;

struct fixture {
	char dir[64];
	char sock[96];
	pid_t pid;
	struct vpcie_host *h;
};

static pid_t spawn(const char *sock, bool ring)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (!ring)
			setenv("VPCIE_DEV_RING", "0", 1);
		execl(sample_prog, sample_prog, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t pid)
{
	int status = 0;

	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static struct vpcie_host *open_host(const char *sock, bool ring, int *err)
{
	struct vpcie_host_opts o;

	vpcie_host_opts_defaults(&o);
	o.ring = ring;
	o.timeout_ms = 3000;
	o.log_level = VPCIE_LOG_ERROR;
	return vpcie_host_open(sock, &o, err);
}

static int setup_dev(void **state, bool dev_ring)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int err = 0;

	strcpy(f->dir, "/tmp/vpcie-ring-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/dev.sock", f->dir);
	f->pid = spawn(f->sock, dev_ring);
	f->h = open_host(f->sock, true, &err);
	assert_non_null(f->h);
	assert_int_equal(vpcie_host_assign_bars(f->h, 0xe0000000ull, 0xc000), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_dev(state, true);
}

static int setup_noring(void **state)
{
	return setup_dev(state, false);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->h)
		vpcie_host_close(f->h);
	if (f->pid > 0)
		stop(f->pid);
	unlink(f->sock);
	rmdir(f->dir);
	free(f);
	return 0;
}

static uint32_t reg(struct vpcie_host *h, unsigned off)
{
	int err = 0;
	uint32_t v = vpcie_host_bar_read32(h, 0, off, &err);

	assert_int_equal(err, 0);
	return v;
}

static void posted(struct vpcie_host *h, unsigned bar, uint64_t off, const void *p, size_t len)
{
	assert_int_equal(vpcie_host_region_write_posted(h, bar, off, p, len), 0);
}

/* ---- Negotiation ---------------------------------------------------------- */

static void test_negotiation(void **state)
{
	struct fixture *f = *state;
	struct vpcie_host *h;
	int err = 0;

	assert_true(vpcie_host_ring(f->h));
	assert_true(vpcie_host_peer_caps(f->h)->ring);
	assert_true(vpcie_ring_slots_valid(vpcie_host_peer_caps(f->h)->ring_slots));
	assert_int_equal(reg(f->h, SAMPLE_REG_ID), SAMPLE_ID_VALUE);
	vpcie_host_close(f->h);
	/* A host that does not ask gets plain vfio-user. */
	h = open_host(f->sock, false, &err);
	assert_non_null(h);
	assert_false(vpcie_host_ring(h));
	assert_false(vpcie_host_peer_caps(h)->ring);
	assert_int_equal(vpcie_host_region_read(h, 0, SAMPLE_REG_ID, &err, 4), 0);
	vpcie_host_close(h);
	/* The ring with a twin socket. */
	struct vpcie_host_opts o;

	vpcie_host_opts_defaults(&o);
	o.ring = true;
	o.twin_socket = true;
	f->h = vpcie_host_open(f->sock, &o, &err);
	assert_non_null(f->h);
	assert_true(vpcie_host_ring(f->h) && vpcie_host_twin(f->h));
	assert_int_equal(reg(f->h, SAMPLE_REG_CONNECTS), 3);
}

static void test_device_declines(void **state)
{
	struct fixture *f = *state;
	uint32_t v;

	/* VPCIE_DEV_RING=0: the device does not answer the proposal. */
	assert_false(vpcie_host_ring(f->h));
	for (uint32_t i = 0; i < 1000; i++)
		posted(f->h, 0, SAMPLE_REG_SCRATCH, &i, 4);
	assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 999);
	v = 5;
	assert_int_equal(vpcie_host_region_write(f->h, 0, SAMPLE_REG_SCRATCH, &v, 4), 0);
	assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 5);
}

/* ---- Ordering ----------------------------------------------------------------- */

static void test_ordering(void **state)
{
	struct fixture *f = *state;
	uint8_t big[200], back[200];
	struct vpcie_write_multi_entry w = {.offset = SAMPLE_REG_SCRATCH, .region = 0, .count = 4};
	uint32_t v;

	/* Ring (posted) then socket (WRITE_MULTI) then ring: the last word wins. */
	for (uint32_t i = 0; i < 500; i++) {
		v = 3 * i;
		posted(f->h, 0, SAMPLE_REG_SCRATCH, &v, 4);
		v = 3 * i + 1;
		memcpy(w.data, &v, 4);
		assert_int_equal(vpcie_host_region_write_multi(f->h, &w, 1), 0);
		if (i % 2) {
			assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 3 * i + 1);
			v = 3 * i + 2;
			posted(f->h, 0, SAMPLE_REG_SCRATCH, &v, 4);
			assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 3 * i + 2);
		}
	}
	/* Small posted writes (ring) to BAR2 memory, read back by a large read
	 * (socket); large posted writes (socket) read back by small reads (ring). */
	for (unsigned i = 0; i < 300; i++) {
		uint64_t q = 0x1000000000ull + i, got = 0;
		unsigned slot = i % 16;

		posted(f->h, 2, 8192 + slot * 8, &q, 8);
		assert_int_equal(vpcie_host_region_read(f->h, 2, 8192, back, 128), 0);
		memcpy(&got, back + slot * 8, 8);
		assert_true(got == q);
		memset(big, (int)i, sizeof(big));
		posted(f->h, 2, 16384, big, sizeof(big));
		assert_int_equal(vpcie_host_region_read(f->h, 2, 16384 + 150, &got, 8), 0);
		assert_memory_equal(&got, big, 8);
		/* And a small posted write right behind the large one. */
		q = ~q;
		posted(f->h, 2, 16384, &q, 8);
		assert_int_equal(vpcie_host_region_read(f->h, 2, 16384, back, sizeof(big)), 0);
		assert_memory_equal(back, &q, 8);
		assert_memory_equal(back + 8, big + 8, sizeof(big) - 8);
	}
	/* The trapped page counts every write, whichever transport carried it. */
	uint32_t before, after, one = 1;

	assert_int_equal(vpcie_host_region_read(f->h, 2, 0, &before, 4), 0);
	for (int i = 0; i < 100; i++) {
		posted(f->h, 2, 16, &one, 4);
		posted(f->h, 2, 64, big, 64);
	}
	assert_int_equal(vpcie_host_region_read(f->h, 2, 0, &after, 4), 0);
	assert_int_equal(after - before, 200);
	/* Posted writes left in the ring at close are applied. */
	v = 0xc105ed;
	posted(f->h, 0, SAMPLE_REG_SCRATCH, &v, 4);
	vpcie_host_close(f->h);
	int err = 0;

	f->h = open_host(f->sock, true, &err);
	assert_non_null(f->h);
	assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 0xc105ed);
}

/* Error replies carry the device's errno through the ring. */
static void test_errors(void **state)
{
	struct fixture *f = *state;
	uint16_t half = 0;
	uint8_t rom[4];

	assert_int_equal(vpcie_host_region_read(f->h, 0, 4, &half, 2), -EIO);
	assert_int_equal(vpcie_host_region_write(f->h, VFIO_PCI_ROM_REGION_INDEX, 0, rom, 4), -EIO);
	assert_int_equal(vpcie_host_region_read(f->h, 0, SAMPLE_BAR0_SIZE, &half, 2), -EINVAL);
	/* A refused posted write is not reported, and nothing breaks. */
	posted(f->h, 0, 4, &half, 2);
	assert_int_equal(reg(f->h, SAMPLE_REG_ID), SAMPLE_ID_VALUE);
}

/* ---- Interrupts ------------------------------------------------------------------ */

static void test_irq_notices(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 5;

	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSIX, SAMPLE_MSIX_VECTORS),
			 SAMPLE_MSIX_VECTORS);
	/* More raises than the ring has slots, nobody waiting in between: the
	 * notices that do not fit go through the eventfd; none is lost. */
	for (int i = 0; i < 3000; i++)
		posted(f->h, 0, SAMPLE_REG_IRQ_RAISE, &v, 4);
	assert_int_equal(reg(f->h, SAMPLE_REG_IRQ_STATUS), 0);
	assert_int_equal(vpcie_host_irq_take(f->h, 5), 3000);
	assert_int_equal(vpcie_host_irq_take(f->h, 5), 0);
	for (unsigned n = 0; n < SAMPLE_MSIX_VECTORS; n++) {
		posted(f->h, 0, SAMPLE_REG_IRQ_RAISE, &n, 4);
		assert_int_equal(vpcie_host_irq_wait(f->h, n, 2000), 0);
	}
	assert_int_equal(vpcie_host_irq_wait(f->h, 7, 50), -ETIMEDOUT);
	/* Masked: pending, delivered on unmask (a ring command). */
	assert_int_equal(vpcie_host_irq_mask(f->h, 9, true), 0);
	v = 9;
	posted(f->h, 0, SAMPLE_REG_IRQ_RAISE, &v, 4);
	assert_int_equal(vpcie_host_irq_wait(f->h, 9, 50), -ETIMEDOUT);
	assert_int_equal(vpcie_host_irq_mask(f->h, 9, false), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 9, 2000), 0);
	/* Switching to MSI: no stale notice of the old type shows up. */
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSI, 4), 4);
	assert_int_equal(vpcie_host_irq_take(f->h, 1), 0);
	v = 1;
	posted(f->h, 0, SAMPLE_REG_IRQ_RAISE, &v, 4);
	assert_int_equal(vpcie_host_irq_wait(f->h, 1, 2000), 0);
	/* INTx with its UNMASK round trip. */
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_INTX, 1), 1);
	v = 0;
	for (int i = 0; i < 20; i++) {
		posted(f->h, 0, SAMPLE_REG_IRQ_RAISE, &v, 4);
		assert_int_equal(vpcie_host_irq_wait(f->h, 0, 2000), 0);
	}
}

/* The device disappears while the host waits on the ring. */
static void test_device_dies(void **state)
{
	struct fixture *f = *state;
	uint64_t t0;
	struct timespec ts;
	uint32_t v = 1;
	int rc = 0, status;

	assert_int_equal(reg(f->h, SAMPLE_REG_ID), SAMPLE_ID_VALUE);
	kill(f->pid, SIGKILL);
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	f->pid = 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	/* Posted writes may still fit in the ring; a read must fail, promptly. */
	for (int i = 0; i < 10 && !rc; i++)
		rc = vpcie_host_region_write_posted(f->h, 0, SAMPLE_REG_SCRATCH, &v, 4);
	rc = vpcie_host_region_read(f->h, 0, SAMPLE_REG_ID, &v, 4);
	assert_true(rc < 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	assert_true((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 - t0 < 2000);
	assert_int_equal(vpcie_host_region_read(f->h, 0, SAMPLE_REG_ID, &v, 4), -ECONNRESET);
}

/* ---- A hostile host ------------------------------------------------------------------ */

struct raw {
	struct vpcie_chan *ch;
	void *mem;
	size_t len;
	uint32_t slots;
	int h2d_wake, d2h_wake;
	uint16_t id;
};

static volatile uint32_t *ctl_word(struct raw *r, enum vpcie_ring_dir dir, unsigned line)
{
	return (volatile uint32_t *)((uint8_t *)r->mem + 64 + dir * 256 + line * 64);
}

/* Connect, propose the ring, map what the device answers. */
static void raw_open(struct raw *r, const char *sock)
{
	struct vpcie_chan_limits lim = {.max_msg_size = 2u << 20, .max_fds = 16};
	struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
	struct vpcie_msg_hdr hdr = {.msg_id = 0, .cmd = VPCIE_CMD_VERSION};
	struct vpcie_caps caps, peer;
	char json[512];
	struct vpcie_msg m;
	int fd = vpcie_unix_connect(sock, 3000), len;

	memset(r, 0, sizeof(*r));
	assert_true(fd >= 0);
	r->ch = vpcie_chan_new(fd, &lim);
	assert_non_null(r->ch);
	vpcie_caps_defaults(&caps);
	caps.max_msg_fds = 16;
	caps.ring = true;
	caps.ring_version = 1;
	len = vpcie_caps_to_json(&caps, json, sizeof(json));
	assert_true(len > 0);
	struct iovec iov[2] = {{&v, sizeof(v)}, {json, (size_t)len}};

	assert_int_equal(vpcie_chan_send(r->ch, &hdr, iov, 2, NULL, 0, 3000), 0);
	assert_int_equal(vpcie_chan_recv(r->ch, &m, 3000), 0);
	assert_false(m.hdr.flags & VPCIE_MSGF_ERROR);
	assert_int_equal(vpcie_caps_from_json((const char *)m.payload + sizeof(v),
					      m.payload_len - sizeof(v), &peer), 0);
	assert_true(peer.ring);
	r->slots = peer.ring_slots;
	r->len = vpcie_ring_mem_size(r->slots);
	int memfd = vpcie_msg_take_fd(&m, (unsigned)peer.ring_fd_index);

	r->h2d_wake = vpcie_msg_take_fd(&m, (unsigned)peer.ring_h2d_wake_fd_index);
	r->d2h_wake = vpcie_msg_take_fd(&m, (unsigned)peer.ring_d2h_wake_fd_index);
	assert_true(memfd >= 0 && r->h2d_wake >= 0 && r->d2h_wake >= 0);
	/* Sealed: we cannot shrink it under the device. */
	assert_int_equal(ftruncate(memfd, 4096), -1);
	r->mem = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	assert_true(r->mem != MAP_FAILED);
	close(memfd);
	vpcie_msg_release(&m);
}

static void raw_close(struct raw *r)
{
	munmap(r->mem, r->len);
	close(r->h2d_wake);
	close(r->d2h_wake);
	vpcie_chan_free(r->ch);
}

static void raw_kick(struct raw *r)
{
	uint64_t one = 1;

	assert_int_equal(write(r->h2d_wake, &one, 8), 8);
}

/* Put a slot at H2D index i with seq (raw: no ring API, as a hostile host
 * would); seq i + 1 publishes it. */
static void raw_put_seq(struct raw *r, uint32_t i, const struct vpcie_ring_slot *slot,
			uint32_t seq)
{
	struct vpcie_ring_slot s = *slot;

	s.seq = seq;
	memcpy((uint8_t *)r->mem + 4096 + (size_t)(i % r->slots) * 64, &s, 64);
}

static void raw_put(struct raw *r, uint32_t i, const struct vpcie_ring_slot *slot)
{
	raw_put_seq(r, i, slot, i + 1);
}

/* The connection still answers on the socket. */
static void raw_alive(struct raw *r)
{
	struct vpcie_device_info in = {.argsz = sizeof(in)};
	struct vpcie_msg_hdr hdr = {.msg_id = 999, .cmd = VPCIE_CMD_DEVICE_GET_INFO};
	struct iovec iov = {&in, sizeof(in)};
	struct vpcie_msg m;

	assert_int_equal(vpcie_chan_send(r->ch, &hdr, &iov, 1, NULL, 0, 3000), 0);
	assert_int_equal(vpcie_chan_recv(r->ch, &m, 3000), 0);
	assert_int_equal(m.hdr.msg_id, 999);
	assert_false(m.hdr.flags & VPCIE_MSGF_ERROR);
	vpcie_msg_release(&m);
}

/* The device drops us: the socket reaches EOF. */
static void expect_dropped(struct raw *r)
{
	for (;;) {
		struct vpcie_msg m;
		int rc = vpcie_chan_recv(r->ch, &m, 3000);

		if (rc == -ECONNRESET)
			return;
		assert_int_equal(rc, 0);
		vpcie_msg_release(&m);
	}
}

/* The device is fine for the next client, over the ring. */
static void expect_device_ok(struct fixture *f)
{
	int err = 0;

	vpcie_host_close(f->h);
	f->h = open_host(f->sock, true, &err);
	assert_non_null(f->h);
	assert_true(vpcie_host_ring(f->h));
	assert_int_equal(vpcie_host_cfg_read16(f->h, PCI_VENDOR_ID, &err), SAMPLE_VENDOR);
	assert_int_equal(err, 0);
}

static void test_hostile_host(void **state)
{
	struct fixture *f = *state;
	struct vpcie_ring_slot s;
	struct raw r;

	vpcie_host_close(f->h);
	f->h = NULL;

	/* 1. Slots with seqs of other laps or junk: never taken; the socket
	 * still works; nothing was executed (a read-only register stays). */
	raw_open(&r, f->sock);
	memset(&s, 0, sizeof(s));
	s.op = VPCIE_RING_OP_WRITE;
	s.count = 4;
	s.offset = SAMPLE_REG_SCRATCH;
	s.flags = VPCIE_RING_F_POSTED;
	for (uint32_t i = 0; i < r.slots; i++)
		raw_put_seq(&r, i, &s, i == 0 ? 0 : i % 3 ? i + 1 + r.slots : 0xdeadbeef);
	raw_kick(&r);
	usleep(50000);
	raw_alive(&r);
	raw_close(&r);
	f->h = open_host(f->sock, true, NULL);
	expect_device_ok(f);
	vpcie_host_close(f->h);
	f->h = NULL;

	/* 2. Random slots (with valid indices), then random bytes over the
	 * whole shared memory while the device works: it answers or drops us. */
	raw_open(&r, f->sock);
	srand(7);
	for (uint32_t i = 0; i < r.slots / 2; i++) {
		uint8_t *b = (uint8_t *)&s;

		for (size_t k = 0; k < sizeof(s); k++)
			b[k] = (uint8_t)rand();
		if (i % 3 == 0) { /* plausible ones: known op, random region/offset */
			s.op = (uint16_t)(1 + rand() % 3);
			s.flags = (uint16_t)(rand() % 2 ? VPCIE_RING_F_POSTED : 0);
			s.count = (uint16_t)(rand() % 40);
			s.reserved = 0;
			s.error = 0;
			s.index = (uint32_t)(rand() % 12);
			s.offset = (uint64_t)(rand() % 0x200000);
		}
		raw_put(&r, i, &s);
	}
	raw_kick(&r);
	for (int round = 0; round < 200; round++) {
		uint8_t *b = r.mem;

		for (int k = 0; k < 64; k++)
			b[64 + rand() % (int)(r.len - 64)] = (uint8_t)rand();
		if (round % 20 == 0)
			raw_kick(&r);
		usleep(100);
	}
	raw_close(&r);
	f->h = open_host(f->sock, true, NULL);
	expect_device_ok(f);
	vpcie_host_close(f->h);
	f->h = NULL;

	/* 3. A host that never reads its replies fills the reply ring. */
	raw_open(&r, f->sock);
	for (uint32_t i = 0; i < r.slots; i++) {
		memset(&s, 0, sizeof(s));
		s.op = VPCIE_RING_OP_READ;
		s.id = (uint16_t)i;
		s.count = 4;
		s.index = VFIO_PCI_CONFIG_REGION_INDEX;
		raw_put(&r, i, &s);
	}
	raw_kick(&r);
	usleep(200000);
	for (uint32_t i = 0; i < 16; i++) { /* ... and keeps asking */
		memset(&s, 0, sizeof(s));
		s.op = VPCIE_RING_OP_FENCE;
		raw_put(&r, r.slots + i, &s);
	}
	raw_kick(&r);
	expect_dropped(&r);
	raw_close(&r);
	f->h = open_host(f->sock, true, NULL);
	expect_device_ok(f);
	vpcie_host_close(f->h);
	f->h = NULL;

	/* 4. The reply ring's consumer index set to garbage: caught as soon as
	 * the device needs it (its cached view of the ring says full). */
	raw_open(&r, f->sock);
	*ctl_word(&r, VPCIE_RING_D2H, 0) = 0x80000000u;
	memset(&s, 0, sizeof(s));
	s.op = VPCIE_RING_OP_FENCE;
	for (uint32_t i = 0; i < r.slots; i++)
		raw_put(&r, i, &s);
	raw_kick(&r);
	usleep(100000);
	raw_put(&r, r.slots, &s);
	raw_kick(&r);
	expect_dropped(&r);
	raw_close(&r);
	f->h = open_host(f->sock, true, NULL);
	expect_device_ok(f);
}

/* ---- Hostile devices ---------------------------------------------------------------------- */

enum fake_mode {
	FAKE_GOOD,          /* a correct ring: the host works */
	FAKE_BAD_INDEX,     /* fd_index beyond the fds sent */
	FAKE_SAME_INDEX,    /* one fd for two roles */
	FAKE_UNSEALED,      /* memfd without seals */
	FAKE_WRONG_SIZE,    /* memfd smaller than the rings */
	FAKE_NOT_EVENTFD,   /* a pipe as wake fd */
	FAKE_VERSION2,      /* a version we did not propose */
	FAKE_BAD_SLOTS,     /* 1000 slots */
	FAKE_GARBAGE_INDEX, /* good setup, then a broken consumer index */
	FAKE_GARBAGE_SLOTS, /* good setup, then junk slots before each reply */
};

/* Socket commands to the fake: region info (a 4 KiB BAR), else refused. */
static void fake_socket_cmd(struct vpcie_chan *ch, struct vpcie_msg *m)
{
	if (m->hdr.cmd == VPCIE_CMD_DEVICE_GET_REGION_INFO && m->payload_len >= 16) {
		struct vpcie_region_info ri = {
			.argsz = sizeof(ri),
			.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
			.index = ((const struct vpcie_region_info *)m->payload)->index,
			.size = 4096,
		};
		struct iovec iov = {&ri, sizeof(ri)};

		vpcie_chan_reply(ch, &m->hdr, &iov, 1, NULL, 0, 5000);
	} else {
		vpcie_chan_reply_error(ch, &m->hdr, EINVAL, 5000);
	}
	vpcie_msg_release(m);
}

/* The reply ring is full when the host stopped reading it: after it found
 * the ring broken it hangs up, but maybe not before we fill the ring. Wait
 * like a device would; the host hanging up ends the fake cleanly. */
static void fake_push_reply(struct vpcie_ring *d2h, const struct vpcie_ring_slot *r,
			    struct vpcie_chan *ch)
{
	for (int waited = 0; vpcie_ring_push(d2h, r); waited += 10) {
		struct pollfd p = {.fd = vpcie_chan_fd(ch), .events = POLLIN};
		struct vpcie_msg m;

		if (waited >= 5000)
			_exit(6); /* full for 5 s and the host still there */
		if (poll(&p, 1, 10) <= 0)
			continue;
		int rc = vpcie_chan_recv(ch, &m, 0);

		if (rc == -ECONNRESET)
			_exit(0);
		if (rc == 0)
			vpcie_msg_release(&m);
	}
}

/* A device-side VERSION answer and, for the run-time modes, a ring server. */
static void fake_device(int fd, enum fake_mode mode)
{
	struct vpcie_chan_limits lim = {.max_msg_size = 1u << 20, .max_fds = 16};
	struct vpcie_chan *ch = vpcie_chan_new(fd, &lim);
	struct vpcie_version out = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
	struct vpcie_caps caps;
	struct vpcie_msg m;
	uint32_t slots = mode == FAKE_BAD_SLOTS ? 1000 : 64;
	size_t len = vpcie_ring_mem_size(64);
	int fds[3], nfds = 3, pipefd[2], jlen;
	char json[512];
	void *mem;

	if (!ch || vpcie_chan_recv(ch, &m, 5000))
		_exit(1);
	vpcie_msg_release(&m);
	fds[0] = memfd_create("fake-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fds[0] < 0 || ftruncate(fds[0], (off_t)(mode == FAKE_WRONG_SIZE ? 4096 : len)) < 0)
		_exit(1);
	if (mode != FAKE_UNSEALED)
		fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	fds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fds[2] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (mode == FAKE_NOT_EVENTFD && pipe(pipefd) == 0)
		fds[2] = pipefd[1];
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0],
		   0); /* (fails for the short file; unused then) */
	if (mem != MAP_FAILED && mode != FAKE_WRONG_SIZE)
		vpcie_ring_mem_init(mem, 64);
	vpcie_caps_defaults(&caps);
	caps.max_msg_fds = 16;
	caps.ring = true;
	caps.ring_version = mode == FAKE_VERSION2 ? 2 : 1;
	caps.ring_slots = slots;
	caps.ring_fd_index = mode == FAKE_BAD_INDEX ? 3 : 0;
	caps.ring_h2d_wake_fd_index = 1;
	caps.ring_d2h_wake_fd_index = mode == FAKE_SAME_INDEX ? 1 : 2;
	jlen = vpcie_caps_to_json(&caps, json, sizeof(json));
	struct iovec iov[2] = {{&out, sizeof(out)}, {json, (size_t)jlen}};
	struct vpcie_msg_hdr req = {.msg_id = 0, .cmd = VPCIE_CMD_VERSION};

	if (vpcie_chan_reply(ch, &req, iov, 2, fds, (unsigned)nfds, 5000))
		_exit(1);
	if (mode != FAKE_GOOD && mode != FAKE_GARBAGE_INDEX && mode != FAKE_GARBAGE_SLOTS) {
		/* The host must hang up on us. */
		int rc = vpcie_chan_recv(ch, &m, 5000);

		_exit(rc == -ECONNRESET ? 0 : 3);
	}
	/* Serve the command ring: answer reads with their offset as data. */
	struct vpcie_ring h2d, d2h;

	vpcie_ring_open(&h2d, mem, len, 64, VPCIE_RING_H2D, false);
	vpcie_ring_open(&d2h, mem, len, 64, VPCIE_RING_D2H, true);
	for (unsigned served = 0;;) {
		struct vpcie_ring_slot s, r;
		struct pollfd p[2] = {{.fd = vpcie_chan_fd(ch), .events = POLLIN},
				      {.fd = fds[1], .events = POLLIN}};
		int rc = vpcie_ring_pop(&h2d, &s);

		if (rc == 0) {
			if (vpcie_ring_sleep_prepare(&h2d) == 0 && poll(p, 2, 5000) <= 0)
				_exit(4);
			vpcie_ring_awake(&h2d);
			if (p[0].revents) {
				rc = vpcie_chan_recv(ch, &m, 0);
				if (rc == -ECONNRESET)
					_exit(0);
				if (rc == 0)
					fake_socket_cmd(ch, &m);
			}
			if (p[1].revents) {
				uint64_t v;

				if (read(fds[1], &v, 8) < 0) {
				}
			}
			continue;
		}
		if (rc < 0)
			_exit(5);
		served++;
		if (mode == FAKE_GARBAGE_INDEX && served >= 3) {
			/* Claim to have read commands never written. */
			*(volatile uint32_t *)((uint8_t *)mem + 64) = 0x7fffffff;
		}
		if (mode == FAKE_GARBAGE_SLOTS) {
			/* Junk first: a malformed slot, a reply to nobody, an IRQ
			 * notice for a vector that does not exist. */
			memset(&r, 0xa5, sizeof(r));
			vpcie_ring_push(&d2h, &r);
			memset(&r, 0, sizeof(r));
			r.op = s.op;
			r.id = (uint16_t)(s.id + 1000);
			r.flags = VPCIE_RING_F_REPLY;
			vpcie_ring_push(&d2h, &r);
			memset(&r, 0, sizeof(r));
			r.op = VPCIE_RING_OP_IRQ;
			r.index = 2;
			r.offset = 1u << 30;
			vpcie_ring_push(&d2h, &r);
		}
		memset(&r, 0, sizeof(r));
		r.op = s.op;
		r.id = s.id;
		r.flags = VPCIE_RING_F_REPLY;
		r.index = s.index;
		r.offset = s.offset;
		if (s.op == VPCIE_RING_OP_READ) {
			r.count = s.count;
			memset(r.data, (int)(s.offset & 0xff), s.count);
		}
		fake_push_reply(&d2h, &r, ch);
		if (vpcie_ring_kick_needed(&d2h)) {
			uint64_t one = 1;

			if (write(fds[2], &one, 8) < 0) {
			}
		}
	}
}

static pid_t fake_spawn(enum fake_mode mode, int *host_fd)
{
	int sv[2];
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		alarm(20);
		fake_device(sv[1], mode);
		_exit(0);
	}
	close(sv[1]);
	*host_fd = sv[0];
	return pid;
}

static void fake_reap(pid_t pid, int want)
{
	int status = 0;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), want);
}

static struct vpcie_host *fake_open(int fd, int *err)
{
	struct vpcie_host_opts o;

	vpcie_host_opts_defaults(&o);
	o.ring = true;
	o.timeout_ms = 1000;
	o.log_level = VPCIE_LOG_ERROR + 1; /* quiet: every case is an error */
	return vpcie_host_open_fd(fd, &o, err);
}

static void test_hostile_device_setup(void **state)
{
	static const enum fake_mode bad[] = {
		FAKE_BAD_INDEX, FAKE_SAME_INDEX, FAKE_UNSEALED, FAKE_WRONG_SIZE,
		FAKE_NOT_EVENTFD, FAKE_VERSION2, FAKE_BAD_SLOTS,
	};
	int fd, err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pid_t pid = fake_spawn(bad[i], &fd);

		err = 0;
		assert_null(fake_open(fd, &err));
		assert_int_equal(err, -EPROTO);
		fake_reap(pid, 0);
	}
	/* A ring answer to a host that did not propose one. */
	{
		struct vpcie_host_opts o;
		pid_t pid = fake_spawn(FAKE_BAD_SLOTS, &fd);

		vpcie_host_opts_defaults(&o);
		o.ring = false;
		o.log_level = VPCIE_LOG_ERROR + 1;
		assert_null(vpcie_host_open_fd(fd, &o, &err));
		assert_int_equal(err, -EPROTO);
		fake_reap(pid, 0);
	}
}

static void test_hostile_device_runtime(void **state)
{
	struct vpcie_host *h;
	uint8_t buf[8], want[8];
	pid_t pid;
	int fd, err = 0;

	(void)state;
	/* The fake's correct ring works with the host runtime. */
	pid = fake_spawn(FAKE_GOOD, &fd);
	h = fake_open(fd, &err);
	assert_non_null(h);
	assert_true(vpcie_host_ring(h));
	for (unsigned i = 0; i < 200; i++) {
		assert_int_equal(vpcie_host_region_read(h, 0, i * 8, buf, 8), 0);
		memset(want, (int)(i * 8), 8);
		assert_memory_equal(buf, want, 8);
		assert_int_equal(vpcie_host_region_write_posted(h, 0, 0, buf, 4), 0);
	}
	vpcie_host_close(h);
	fake_reap(pid, 0);

	/* Junk in the reply ring before every reply: dropped, calls succeed. */
	pid = fake_spawn(FAKE_GARBAGE_SLOTS, &fd);
	h = fake_open(fd, &err);
	assert_non_null(h);
	for (unsigned i = 0; i < 50; i++) {
		assert_int_equal(vpcie_host_region_read(h, 0, 16, buf, 4), 0);
		assert_int_equal(buf[0], 16);
	}
	vpcie_host_close(h);
	fake_reap(pid, 0);

	/* A broken consumer index: caught when the host needs it (its view
	 * says the ring is full); the call fails, the handle is broken. */
	pid = fake_spawn(FAKE_GARBAGE_INDEX, &fd);
	h = fake_open(fd, &err);
	assert_non_null(h);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vpcie_host_region_read(h, 0, 8, buf, 4), 0);
	err = 0;
	for (int i = 0; i < 200 && !err; i++)
		err = vpcie_host_region_write_posted(h, 0, 8, buf, 4);
	assert_int_equal(err, -EPROTO);
	assert_int_equal(vpcie_host_region_read(h, 0, 8, buf, 4), -ECONNRESET);
	vpcie_host_close(h);
	fake_reap(pid, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_declines, setup_noring, teardown),
		cmocka_unit_test_setup_teardown(test_ordering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_notices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_dies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_host, setup, teardown),
		cmocka_unit_test(test_hostile_device_setup),
		cmocka_unit_test(test_hostile_device_runtime),
	};

	sample_prog = argc > 1 ? argv[1] : getenv("VPCIE_SAMPLE");
	if (!sample_prog) {
		fprintf(stderr, "usage: %s PATH-TO-vpcie-sample\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
