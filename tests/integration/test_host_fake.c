/* SPDX-License-Identifier: MIT */
/*
 * The host runtime against a fake device (a child process speaking
 * vfio-user on a socketpair), for what a real device cannot be made to do:
 *
 *  - a hostile device offers a mappable region whose memfd is not sealed
 *    against shrinking, then truncates it: the host must never map it (it
 *    would fault, SIGBUS, on the next access), warn once, and reach the
 *    region through messages;
 *  - the host shares DMA memory with the device: the device cannot shrink it;
 *  - the ordering point in front of accesses through a mapping costs a round
 *    trip only while posted writes are outstanding: the fake counts the
 *    fences (DEVICE_GET_INFO requests) it answers.
 *
 * The fake's region 0 is 16 KiB of READ|WRITE|MMAP memory; message accesses
 * to it are served from a private copy, so the fake keeps working after it
 * truncated the file it shared.
 */
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/vfio.h>

#include <vpcie/host.h>
#include <vpcie/protocol.h>
#include <vpcie/transport.h>

#define FAKE_REGION_SIZE (16u * 1024)

enum fake_mode {
	FAKE_SEALED,   /* a well-behaved device: sealed memfd */
	FAKE_UNSEALED, /* unsealed memfd, truncated at the first region write */
};

struct fake {
	enum fake_mode mode;
	struct vpcie_chan *ch;
	int memfd;
	uint8_t mem[FAKE_REGION_SIZE]; /* what message accesses see */
	unsigned fences;               /* DEVICE_GET_INFO requests answered */
	bool truncated;
	bool dma_shrunk;               /* the host's DMA memfd could be shrunk */
};

static void fake_reply(struct fake *k, struct vpcie_msg *m, const void *p, size_t len,
		       const int *fds, unsigned nfds)
{
	struct iovec iov = {(void *)p, len};

	if (m->hdr.flags & VPCIE_MSGF_NO_REPLY)
		return;
	if (vpcie_chan_reply(k->ch, &m->hdr, &iov, 1, fds, nfds, 5000))
		_exit(10);
}

static void fake_error(struct fake *k, struct vpcie_msg *m, int err)
{
	if (!(m->hdr.flags & VPCIE_MSGF_NO_REPLY) &&
	    vpcie_chan_reply_error(k->ch, &m->hdr, err, 5000))
		_exit(11);
}

static void fake_region_info(struct fake *k, struct vpcie_msg *m)
{
	struct vpcie_region_info ri;

	memcpy(&ri, m->payload, sizeof(ri));
	if (ri.index != 0) {
		fake_error(k, m, EINVAL);
		return;
	}
	ri = (struct vpcie_region_info){
		.argsz = sizeof(ri),
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
			 VFIO_REGION_INFO_FLAG_MMAP,
		.index = 0,
		.size = FAKE_REGION_SIZE,
	};
	fake_reply(k, m, &ri, sizeof(ri), &k->memfd, 1);
}

static void fake_region_access(struct fake *k, struct vpcie_msg *m)
{
	struct vpcie_region_access ra;
	uint8_t buf[sizeof(ra) + 64];

	memcpy(&ra, m->payload, sizeof(ra));
	if (ra.region != 0 || ra.count > 64 || ra.offset > FAKE_REGION_SIZE - ra.count) {
		fake_error(k, m, EINVAL);
		return;
	}
	if (m->hdr.cmd == VPCIE_CMD_REGION_WRITE) {
		if (k->mode == FAKE_UNSEALED && !k->truncated) {
			/* The attack: pull the memory from under the host's feet. */
			if (ftruncate(k->memfd, 0) < 0)
				_exit(12);
			k->truncated = true;
		}
		memcpy(k->mem + ra.offset, (const uint8_t *)m->payload + sizeof(ra), ra.count);
		fake_reply(k, m, &ra, sizeof(ra), NULL, 0);
		return;
	}
	memcpy(buf, &ra, sizeof(ra));
	memcpy(buf + sizeof(ra), k->mem + ra.offset, ra.count);
	fake_reply(k, m, buf, sizeof(ra) + ra.count, NULL, 0);
}

static void fake_dma_map(struct fake *k, struct vpcie_msg *m)
{
	int fd = vpcie_msg_take_fd(m, 0);

	/* A hostile device tries to shrink the host's memory. */
	if (fd >= 0 && ftruncate(fd, 0) == 0)
		k->dma_shrunk = true;
	if (fd >= 0)
		close(fd);
	fake_reply(k, m, NULL, 0, NULL, 0);
}

/* Serve until the host hangs up; exit status: fences answered (capped), or
 * 100 + n on a fake-side failure, 99 if the DMA memory could be shrunk. */
static void fake_device(int fd, enum fake_mode mode)
{
	struct vpcie_chan_limits lim = {.max_msg_size = 1u << 20, .max_fds = 16};
	struct fake *k = calloc(1, sizeof(*k));
	struct vpcie_caps caps;
	char json[512];
	int jlen;

	if (!k)
		_exit(101);
	k->mode = mode;
	k->ch = vpcie_chan_new(fd, &lim);
	k->memfd = memfd_create("fake-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (!k->ch || k->memfd < 0 || ftruncate(k->memfd, FAKE_REGION_SIZE) < 0)
		_exit(102);
	if (mode == FAKE_SEALED && fcntl(k->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		_exit(103);
	vpcie_caps_defaults(&caps);
	caps.max_msg_fds = 16;
	jlen = vpcie_caps_to_json(&caps, json, sizeof(json));
	if (jlen < 0)
		_exit(104);
	for (;;) {
		struct vpcie_msg m;
		int rc = vpcie_chan_recv(k->ch, &m, 10000);

		if (rc == -ECONNRESET)
			break;
		if (rc < 0)
			_exit(105);
		switch (m.hdr.cmd) {
		case VPCIE_CMD_VERSION: {
			struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
			struct iovec iov[2] = {{&v, sizeof(v)}, {json, (size_t)jlen}};

			if (vpcie_chan_reply(k->ch, &m.hdr, iov, 2, NULL, 0, 5000))
				_exit(106);
			break;
		}
		case VPCIE_CMD_DEVICE_GET_INFO: {
			struct vpcie_device_info info = {
				.argsz = sizeof(info), .flags = VFIO_DEVICE_FLAGS_PCI,
				.num_regions = VFIO_PCI_NUM_REGIONS, .num_irqs = 1};

			k->fences++;
			fake_reply(k, &m, &info, sizeof(info), NULL, 0);
			break;
		}
		case VPCIE_CMD_DEVICE_GET_REGION_INFO:
			fake_region_info(k, &m);
			break;
		case VPCIE_CMD_REGION_READ:
		case VPCIE_CMD_REGION_WRITE:
			fake_region_access(k, &m);
			break;
		case VPCIE_CMD_DMA_MAP:
			fake_dma_map(k, &m);
			break;
		default:
			fake_error(k, &m, ENOTSUP);
			break;
		}
		vpcie_msg_release(&m);
	}
	_exit(k->dma_shrunk ? 99 : k->fences > 98 ? 98 : (int)k->fences);
}

struct fixture {
	pid_t pid;
	struct vpcie_host *h;
	unsigned unsealed_warnings;
};

static void count_warnings(void *opaque, enum vpcie_log_level level, const char *msg)
{
	struct fixture *f = opaque;

	if (level <= VPCIE_LOG_WARN && strstr(msg, "not sealed"))
		f->unsealed_warnings++;
}

static void fake_start(struct fixture *f, enum fake_mode mode)
{
	struct vpcie_host_opts o;
	int sv[2], err = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		close(sv[0]);
		alarm(30);
		fake_device(sv[1], mode);
	}
	close(sv[1]);
	vpcie_host_opts_defaults(&o);
	o.ring = false;
	o.log_sink = count_warnings;
	o.log_opaque = f;
	f->h = vpcie_host_open_fd(sv[0], &o, &err);
	assert_non_null(f->h);
}

/* Close the host; returns the fake's exit status. */
static int fake_stop(struct fixture *f)
{
	int status = 0;

	vpcie_host_close(f->h);
	f->h = NULL;
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_unsealed_region_not_mapped(void **state)
{
	struct fixture f = {0};
	const struct vpcie_host_region *r;
	uint32_t v = 0x1234abcd;
	int err = -1;

	(void)state;
	fake_start(&f, FAKE_UNSEALED);
	assert_int_equal(vpcie_host_region_info(f.h, 0, &r), 0);
	assert_true(r->flags & VFIO_REGION_INFO_FLAG_MMAP); /* what the device said */
	assert_int_equal(r->fd, -1);                         /* what we keep: nothing */
	errno = 0;
	assert_null(vpcie_host_region_map(f.h, 0));
	assert_int_equal(errno, ENXIO);
	assert_null(vpcie_host_region_map(f.h, 0));
	assert_false(vpcie_host_region_is_mapped(f.h, 0, 4096, 4));
	/* The device truncates its memory at this write; the host, reaching
	 * the region through messages only, does not notice. */
	assert_int_equal(vpcie_host_region_write(f.h, 0, 4096, &v, 4), 0);
	assert_int_equal(vpcie_host_bar_read32(f.h, 0, 4096, &err), 0x1234abcd);
	assert_int_equal(err, 0);
	assert_int_equal(vpcie_host_bar_write32(f.h, 0, 8192, 0x55aa55aa), 0);
	assert_int_equal(vpcie_host_bar_read32(f.h, 0, 8192, &err), 0x55aa55aa);
	assert_int_equal(err, 0);
	v = 7;
	assert_int_equal(vpcie_host_region_write_posted(f.h, 0, 8192, &v, 4), 0);
	assert_int_equal(vpcie_host_bar_read32(f.h, 0, 8192, &err), 7);
	assert_int_equal(err, 0);
	assert_int_equal(f.unsealed_warnings, 1);
	assert_int_equal(fake_stop(&f), 0);
}

static void test_fence_only_when_needed(void **state)
{
	struct fixture f = {0};
	volatile uint32_t *map;
	uint32_t v = 1;
	int err = -1;

	(void)state;
	fake_start(&f, FAKE_SEALED);
	map = vpcie_host_region_map(f.h, 0);
	assert_non_null(map);
	assert_int_equal(f.unsealed_warnings, 0);
	/* Nothing outstanding: plain loads and stores, no message. */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(vpcie_host_bar_write32(f.h, 0, 4096, (uint32_t)i), 0);
		assert_int_equal(vpcie_host_bar_read32(f.h, 0, 4096, &err), (uint32_t)i);
		assert_int_equal(err, 0);
	}
	assert_int_equal(vpcie_host_flush(f.h), 0);
	/* A posted write: one fence before the next mapped read, then none. */
	assert_int_equal(vpcie_host_region_write_posted(f.h, 0, 64, &v, 4), 0);
	for (int i = 0; i < 10; i++) {
		vpcie_host_bar_read32(f.h, 0, 4096, &err);
		assert_int_equal(err, 0);
	}
	/* One before a mapped store. */
	assert_int_equal(vpcie_host_region_write_posted(f.h, 0, 64, &v, 4), 0);
	assert_int_equal(vpcie_host_bar_write32(f.h, 0, 4096, 5), 0);
	assert_int_equal(vpcie_host_bar_write32(f.h, 0, 4096, 6), 0);
	/* One in vpcie_host_flush(); a second flush has nothing to wait for. */
	assert_int_equal(vpcie_host_region_write_posted(f.h, 0, 64, &v, 4), 0);
	assert_int_equal(vpcie_host_flush(f.h), 0);
	assert_int_equal(vpcie_host_flush(f.h), 0);
	/* A request's reply orders too: no fence after it. */
	assert_int_equal(vpcie_host_region_write_posted(f.h, 0, 64, &v, 4), 0);
	assert_int_equal(vpcie_host_region_read(f.h, 0, 64, &v, 4), 0);
	assert_int_equal(v, 1);
	vpcie_host_bar_read32(f.h, 0, 4096, &err);
	assert_int_equal(err, 0);
	assert_int_equal(vpcie_host_flush(f.h), 0);
	assert_int_equal(fake_stop(&f), 3);
}

static void test_dma_memory_sealed(void **state)
{
	struct fixture f = {0};
	struct vpcie_host_mem *m;

	(void)state;
	fake_start(&f, FAKE_SEALED);
	m = vpcie_host_mem_alloc(f.h, 8192, 0x100000, VPCIE_HOST_MEM_SHARED);
	assert_non_null(m);
	/* The device tried to shrink it: our mapping is still whole. */
	memset(vpcie_host_mem_ptr(m), 0x5a, 8192);
	assert_int_equal(fake_stop(&f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unsealed_region_not_mapped),
		cmocka_unit_test(test_fence_only_when_needed),
		cmocka_unit_test(test_dma_memory_sealed),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
