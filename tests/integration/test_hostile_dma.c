/* SPDX-License-Identifier: MIT */
/*
 * DMA against a hostile client: a raw client (no host runtime) drives a
 * vpcie-sample process (argv[1]) and answers its DMA_READ/DMA_WRITE
 * requests itself, from its own copy of "guest memory".
 *
 *  - The client maps memory with an fd that is not sealed against shrinking,
 *    then truncates the file to 0 and makes the device DMA in both
 *    directions: the device must not crash (SIGBUS), and the data must move
 *    (by messages).
 *  - `--dma-messages`: the device never maps the client's memory, even a
 *    sealed memfd; without it, the same memfd is used directly.
 *  - A sealed memfd the device maps, with a hole punched in it by the client
 *    afterwards: the device reads zeros, it does not crash.
 *  - A sealed hugetlbfs memfd (hole punching there can SIGBUS the mapper):
 *    served by messages, never mapped.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <vpcie/protocol.h>
#include <vpcie/transport.h>

#include "sample_regs.h"

#define IOVA 0x100000ull
#define MEM_SIZE (64u * 1024)
#define XFER 4096u
#define BAR2_OFF 8192u /* past BAR2's trapped first page: plain memory */
#define TIMEOUT_MS 5000

static const char *sample_prog;
static pid_t device_pid = -1; /* for the teardown after a failed test */

struct client {
	char dir[64], sock[96];
	pid_t pid;
	struct vpcie_chan *ch;
	uint16_t next_id;
	uint8_t mem[MEM_SIZE];   /* the client's view of its memory at IOVA */
	unsigned dma_reads, dma_writes; /* requests the device sent us */
};

/* ---- Device process and connection ------------------------------------------ */

static void start(struct client *c, const char *extra_arg)
{
	const struct vpcie_chan_limits lim = {.max_msg_size = 2u << 20, .max_fds = 16};
	int fd;

	memset(c, 0, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "/tmp/vpcie-hostile-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->sock, sizeof(c->sock), "%s/s.sock", c->dir);
	c->pid = fork();
	assert_true(c->pid >= 0);
	device_pid = c->pid;
	if (c->pid == 0) {
		setenv("VPCIE_LOG", getenv("TEST_VERBOSE") ? "debug" : "error", 1);
		execl(sample_prog, sample_prog, "--socket", c->sock, extra_arg, (char *)NULL);
		_exit(127);
	}
	fd = vpcie_unix_connect(c->sock, TIMEOUT_MS);
	if (fd < 0)
		fail_msg("cannot connect to %s %s: %s", sample_prog, extra_arg ? extra_arg : "",
			 strerror(-fd));
	c->ch = vpcie_chan_new(fd, &lim);
	assert_non_null(c->ch);
	c->next_id = 1;
}

/* Disconnect; the device must still be running (not killed by a signal). */
static void stop(struct client *c)
{
	int st;

	vpcie_chan_free(c->ch);
	c->ch = NULL;
	if (waitpid(c->pid, &st, WNOHANG) != 0)
		fail_msg("the device died: %s",
			 WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited");
	kill(c->pid, SIGTERM);
	assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
	device_pid = -1;
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	unlink(c->sock);
	rmdir(c->dir);
}

/* Answer a DMA request from the device out of c->mem. */
static void serve_dma(struct client *c, struct vpcie_msg *m)
{
	struct vpcie_dma_access a;
	bool ok;

	assert_true(m->payload_len >= sizeof(a));
	memcpy(&a, m->payload, sizeof(a));
	ok = a.addr >= IOVA && a.count <= MEM_SIZE && a.addr - IOVA <= MEM_SIZE - a.count;
	if (!ok) {
		assert_int_equal(vpcie_chan_reply_error(c->ch, &m->hdr, EFAULT, TIMEOUT_MS), 0);
		return;
	}
	if (m->hdr.cmd == VPCIE_CMD_DMA_READ) {
		struct iovec iov[2] = {{&a, sizeof(a)}, {c->mem + (a.addr - IOVA), a.count}};

		c->dma_reads++;
		assert_int_equal(vpcie_chan_reply(c->ch, &m->hdr, iov, 2, NULL, 0, TIMEOUT_MS), 0);
	} else {
		struct vpcie_dma_write_reply r = {.addr = a.addr, .count = (uint32_t)a.count};
		struct iovec iov = {&r, sizeof(r)};

		assert_int_equal(m->payload_len, sizeof(a) + a.count);
		memcpy(c->mem + (a.addr - IOVA), (uint8_t *)m->payload + sizeof(a), a.count);
		c->dma_writes++;
		assert_int_equal(vpcie_chan_reply(c->ch, &m->hdr, &iov, 1, NULL, 0, TIMEOUT_MS), 0);
	}
}

/* Send a command and wait for its reply, serving the device's DMA requests
 * meanwhile. Returns 0 (*out filled if given) or the error reply's errno. */
static int call(struct client *c, unsigned cmd, const void *payload, size_t len, const int *fds,
		unsigned nfds, struct vpcie_msg *out)
{
	struct vpcie_msg_hdr hdr = {.msg_id = c->next_id++, .cmd = (uint16_t)cmd};
	struct iovec iov = {(void *)payload, len};

	assert_int_equal(vpcie_chan_send(c->ch, &hdr, &iov, len ? 1 : 0, fds, nfds, TIMEOUT_MS), 0);
	for (;;) {
		struct vpcie_msg m;
		int rc = vpcie_chan_recv(c->ch, &m, TIMEOUT_MS);

		if (rc) {
			int st, w = 0;

			/* Say why, if the device died (it may take a moment to be reaped). */
			for (int i = 0; i < 100 && w == 0; i++) {
				w = waitpid(c->pid, &st, WNOHANG);
				if (w == 0)
					usleep(10000);
			}
			if (w == c->pid && WIFSIGNALED(st)) {
				device_pid = -1;
				fail_msg("%s: the device was killed by %s", vpcie_cmd_name(cmd),
					 strsignal(WTERMSIG(st)));
			}
			fail_msg("waiting for the %s reply: %s", vpcie_cmd_name(cmd), strerror(-rc));
		}
		if ((m.hdr.flags & VPCIE_MSGF_TYPE_MASK) == VPCIE_MSGF_COMMAND &&
		    (m.hdr.cmd == VPCIE_CMD_DMA_READ || m.hdr.cmd == VPCIE_CMD_DMA_WRITE)) {
			serve_dma(c, &m);
		} else if ((m.hdr.flags & VPCIE_MSGF_TYPE_MASK) == VPCIE_MSGF_REPLY &&
			   m.hdr.msg_id == hdr.msg_id) {
			rc = (m.hdr.flags & VPCIE_MSGF_ERROR) ? (m.hdr.error ? (int)m.hdr.error : EIO) : 0;
			if (!rc && out)
				*out = m;
			else
				vpcie_msg_release(&m);
			return rc;
		}
		vpcie_msg_release(&m);
	}
}

static void negotiate(struct client *c)
{
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":16,"
				   "\"max_data_xfer_size\":1048576}}";
	uint8_t buf[sizeof(struct vpcie_version) + sizeof(json)];
	struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};

	memcpy(buf, &v, sizeof(v));
	memcpy(buf + sizeof(v), json, sizeof(json));
	assert_int_equal(call(c, VPCIE_CMD_VERSION, buf, sizeof(buf), NULL, 0, NULL), 0);
}

static void region_write(struct client *c, unsigned region, uint64_t off, const void *data,
			 uint32_t len)
{
	struct vpcie_region_access a = {off, region, len};
	uint8_t *buf = malloc(sizeof(a) + len);

	assert_non_null(buf);
	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), data, len);
	assert_int_equal(call(c, VPCIE_CMD_REGION_WRITE, buf, sizeof(a) + len, NULL, 0, NULL), 0);
	free(buf);
}

static void region_read(struct client *c, unsigned region, uint64_t off, void *data, uint32_t len)
{
	struct vpcie_region_access a = {off, region, len};
	struct vpcie_msg m;

	assert_int_equal(call(c, VPCIE_CMD_REGION_READ, &a, sizeof(a), NULL, 0, &m), 0);
	assert_int_equal(m.payload_len, sizeof(a) + len);
	memcpy(data, (uint8_t *)m.payload + sizeof(a), len);
	vpcie_msg_release(&m);
}

static void reg_write(struct client *c, unsigned reg, uint32_t v)
{
	region_write(c, 0, reg, &v, sizeof(v));
}

static uint32_t reg_read(struct client *c, unsigned reg)
{
	uint32_t v;

	region_read(c, 0, reg, &v, sizeof(v));
	return v;
}

/* Memory decoding and bus mastering on. */
static void enable(struct client *c)
{
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	region_write(c, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, &cmd, sizeof(cmd));
}

/* A memfd of MEM_SIZE holding c->mem, sealed against resizing or not. */
static int client_memfd(struct client *c, bool sealed)
{
	int fd = memfd_create("hostile-dma", MFD_CLOEXEC | (sealed ? MFD_ALLOW_SEALING : 0));

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, c->mem, MEM_SIZE, 0), MEM_SIZE);
	if (sealed)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	return fd;
}

static void dma_map(struct client *c, int fd)
{
	struct vpcie_dma_map m = {.argsz = sizeof(m),
				  .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
				  .addr = IOVA, .size = MEM_SIZE};

	assert_int_equal(call(c, VPCIE_CMD_DMA_MAP, &m, sizeof(m), &fd, 1, NULL), 0);
}

/* Run the sample's DMA engine: XFER bytes between IOVA + mem_off and
 * BAR2 + BAR2_OFF. Returns its status register. */
static int32_t run_dma(struct client *c, uint32_t dir, uint32_t mem_off)
{
	reg_write(c, SAMPLE_REG_DMA_ADDR_LO, (uint32_t)(IOVA + mem_off));
	reg_write(c, SAMPLE_REG_DMA_ADDR_HI, 0);
	reg_write(c, SAMPLE_REG_DMA_LEN, XFER);
	reg_write(c, SAMPLE_REG_DMA_OFF, BAR2_OFF);
	reg_write(c, SAMPLE_REG_DMA_CMD, dir);
	return (int32_t)reg_read(c, SAMPLE_REG_DMA_STATUS);
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

/* ---- Tests --------------------------------------------------------------------- */

static void test_unsealed_fd_shrunk_after_map(void **state)
{
	static struct client c;
	uint8_t bar[XFER];
	int fd;

	(void)state;
	start(&c, NULL);
	negotiate(&c);
	enable(&c);
	fill(c.mem, MEM_SIZE, 1);
	fd = client_memfd(&c, false);
	dma_map(&c, fd);
	/* The attack: the pages the device may have mapped go away. */
	assert_int_equal(ftruncate(fd, 0), 0);

	/* Client memory -> device: the device reads our memory. */
	assert_int_equal(run_dma(&c, SAMPLE_DMA_TO_DEVICE, 0), 0);
	region_read(&c, 2, BAR2_OFF, bar, XFER);
	assert_memory_equal(bar, c.mem, XFER);
	assert_true(c.dma_reads > 0);

	/* Device -> client memory, into another page. */
	memset(c.mem + 2 * XFER, 0, XFER);
	assert_int_equal(run_dma(&c, SAMPLE_DMA_TO_HOST, 2 * XFER), 0);
	assert_memory_equal(c.mem + 2 * XFER, bar, XFER);
	assert_true(c.dma_writes > 0);
	close(fd);
	stop(&c);
}

/* Same memory, sealed: with --dma-messages the device asks by message;
 * without, it uses the memfd (no requests) - the control that shows the
 * test tells the two apart. */
static void check_sealed(const char *arg, bool want_messages)
{
	static struct client c;
	uint8_t bar[XFER];
	int fd;

	start(&c, arg);
	negotiate(&c);
	enable(&c);
	fill(c.mem, MEM_SIZE, 3);
	fd = client_memfd(&c, true);
	dma_map(&c, fd);
	assert_int_equal(run_dma(&c, SAMPLE_DMA_TO_DEVICE, XFER), 0);
	region_read(&c, 2, BAR2_OFF, bar, XFER);
	assert_memory_equal(bar, c.mem + XFER, XFER);
	if (want_messages)
		assert_true(c.dma_reads > 0);
	else
		assert_int_equal(c.dma_reads, 0);
	close(fd);
	stop(&c);
}

/* The client punches a hole in sealed memory the device has mapped (the seal
 * stops truncation, not this): the device's next reads see zero pages. */
static void test_sealed_fd_hole_punched(void **state)
{
	static struct client c;
	uint8_t bar[XFER], zero[XFER] = {0};
	int fd;

	(void)state;
	start(&c, NULL);
	negotiate(&c);
	enable(&c);
	fill(c.mem, MEM_SIZE, 5);
	fd = client_memfd(&c, true);
	dma_map(&c, fd);
	assert_int_equal(run_dma(&c, SAMPLE_DMA_TO_DEVICE, 0), 0);
	region_read(&c, 2, BAR2_OFF, bar, XFER);
	assert_memory_equal(bar, c.mem, XFER);
	assert_int_equal(c.dma_reads, 0); /* mapped: no messages */
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, MEM_SIZE), 0);
	assert_int_equal(run_dma(&c, SAMPLE_DMA_TO_DEVICE, 0), 0);
	region_read(&c, 2, BAR2_OFF, bar, XFER);
	assert_memory_equal(bar, zero, XFER);
	/* and the device still writes into it */
	assert_int_equal(run_dma(&c, SAMPLE_DMA_TO_HOST, XFER), 0);
	close(fd);
	stop(&c);
}

/* Sealed memory on hugetlbfs: served by messages. Needs no huge pages (the
 * device never maps the file; the client serves DMA from c->mem). */
static void test_hugetlb_fd_not_mapped(void **state)
{
	static struct client c;
	uint8_t bar[XFER];
	int fd;

	(void)state;
	fd = memfd_create("hostile-huge", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
	if (fd < 0 || ftruncate(fd, 2u << 20) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		if (fd >= 0)
			close(fd);
		skip(); /* no hugetlbfs in this kernel */
	}
	start(&c, NULL);
	negotiate(&c);
	enable(&c);
	fill(c.mem, MEM_SIZE, 7);
	dma_map(&c, fd);
	assert_int_equal(run_dma(&c, SAMPLE_DMA_TO_DEVICE, 0), 0);
	region_read(&c, 2, BAR2_OFF, bar, XFER);
	assert_memory_equal(bar, c.mem, XFER);
	assert_true(c.dma_reads > 0);
	close(fd);
	stop(&c);
}

/* A failed test leaves its device running: stop it. */
static int teardown(void **state)
{
	(void)state;
	if (device_pid > 0) {
		kill(device_pid, SIGKILL);
		waitpid(device_pid, NULL, 0);
		device_pid = -1;
	}
	return 0;
}

static void test_dma_messages_flag(void **state)
{
	(void)state;
	check_sealed("--dma-messages", true);
	check_sealed(NULL, false);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_unsealed_fd_shrunk_after_map, teardown),
		cmocka_unit_test_teardown(test_dma_messages_flag, teardown),
		cmocka_unit_test_teardown(test_sealed_fd_hole_punched, teardown),
		cmocka_unit_test_teardown(test_hugetlb_fd_not_mapped, teardown),
	};

	sample_prog = argc > 1 ? argv[1] : getenv("VPCIE_SAMPLE");
	if (!sample_prog) {
		fprintf(stderr, "usage: %s path/to/vpcie-sample\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
