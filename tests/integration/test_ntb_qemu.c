/* SPDX-License-Identifier: MIT */
/*
 * vpcie-ntb between two hosts that behave like QEMU with guest RAM not
 * shared: raw vfio-user clients whose "vCPU" waits for the reply to its
 * register access without serving the device's DMA requests meanwhile (QEMU's
 * vCPU holds the lock its main loop needs to serve DMA_READ/DMA_WRITE), and
 * serves them as soon as that reply came. Window writes are posted
 * (NO_REPLY), as QEMU sends them.
 *
 * Both hosts hand the device private memory (DMA_MAP without an fd), so every
 * window access becomes DMA messages to the other host. Scenarios:
 *  - crossed stores: A and B each store into their window and then read a
 *    register, both at once. Each register read must be answered promptly
 *    (before: the device delivered A's store inside A's access, waiting on B,
 *    while B's store waited on A: both hosts stalled until the device's DMA
 *    timeout, 5 s, which is also QEMU's reply timeout), and both stores
 *    must land.
 *  - read after write: A stores and reads the same bytes back at once; the
 *    read sees the store.
 *  - crossed reads: A and B each read their window at once; both must be
 *    answered promptly, each with the peer's data or all ones (a read that
 *    would wait on a host that waits on it completes as a read of nothing),
 *    and at least one with the data.
 *
 * Usage: test_ntb_qemu PATH-TO-vpcie-ntb
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <vpcie/protocol.h>
#include <vpcie/transport.h>

#include "ntb_regs.h"
#include "../../lib/util/util.h" /* vpcie_now_ns() */

#define IOVA 0x100000000ull
#define BUF 0x10000u        /* private memory behind the peer's window 1 */
#define REPLY_MS 2000       /* a register access must be answered within this */
#define STORES 64           /* 8-byte stores per host (512 bytes) */
#define MAX_HELD 64

#define CHECK(c)                                                                              \
	do {                                                                                  \
		if (!(c)) {                                                                   \
			fprintf(stderr, "%s:%d check failed: %s\n", __FILE__, __LINE__, #c);  \
			return -1;                                                            \
		}                                                                             \
	} while (0)

struct client {
	const char *name;
	struct vpcie_chan *ch;
	uint16_t next_id;
	uint8_t mem[BUF];          /* private memory at IOVA */
	int vcpu;                  /* id the vCPU waits for, -1: running */
	uint8_t reply[8];          /* data of the last region read */
	struct vpcie_msg held[MAX_HELD]; /* DMA requests held while the vCPU waits */
	unsigned nheld;
	unsigned long served;
};

static int send_cmd(struct client *c, unsigned cmd, uint32_t flags, const void *p, size_t len,
		    uint16_t *id)
{
	struct vpcie_msg_hdr hdr = {.msg_id = c->next_id++, .cmd = (uint16_t)cmd, .flags = flags};
	struct iovec iov = {(void *)p, len};

	if (id)
		*id = hdr.msg_id;
	return vpcie_chan_send(c->ch, &hdr, &iov, 1, NULL, 0, REPLY_MS);
}

/* Serve one DMA request from c's private memory, as QEMU's main loop does. */
static int serve_dma(struct client *c, const struct vpcie_msg *m)
{
	const struct vpcie_dma_access *a = m->payload;

	CHECK((m->hdr.flags & VPCIE_MSGF_TYPE_MASK) == VPCIE_MSGF_COMMAND);
	CHECK(m->payload_len >= sizeof(*a));
	CHECK(a->addr >= IOVA && a->count <= BUF && a->addr - IOVA <= BUF - a->count);
	c->served++;
	if (m->hdr.cmd == VPCIE_CMD_DMA_WRITE) {
		struct vpcie_dma_write_reply wr = {.addr = a->addr, .count = (uint32_t)a->count};
		struct iovec iov = {&wr, sizeof(wr)};

		CHECK(m->payload_len - sizeof(*a) >= a->count);
		memcpy(c->mem + (a->addr - IOVA), a->data, (size_t)a->count);
		CHECK(vpcie_chan_reply(c->ch, &m->hdr, &iov, 1, NULL, 0, REPLY_MS) == 0);
		return 0;
	}
	CHECK(m->hdr.cmd == VPCIE_CMD_DMA_READ);
	struct vpcie_dma_access rep = {.addr = a->addr, .count = a->count};
	struct iovec iov[2] = {{&rep, sizeof(rep)}, {c->mem + (a->addr - IOVA), (size_t)a->count}};

	CHECK(vpcie_chan_reply(c->ch, &m->hdr, iov, 2, NULL, 0, REPLY_MS) == 0);
	return 0;
}

/* One message for c: a reply ends its vCPU's wait (then held DMA is served),
 * a DMA request is served unless the vCPU waits. */
static int handle(struct client *c, struct vpcie_msg *m)
{
	if ((m->hdr.flags & VPCIE_MSGF_TYPE_MASK) == VPCIE_MSGF_REPLY) {
		const size_t hdr = sizeof(struct vpcie_region_access);

		if (c->vcpu < 0 || m->hdr.msg_id != (uint16_t)c->vcpu) {
			fprintf(stderr, "[%s] unexpected reply id %u\n", c->name, m->hdr.msg_id);
			vpcie_msg_release(m);
			return -1;
		}
		CHECK(!(m->hdr.flags & VPCIE_MSGF_ERROR));
		if (m->hdr.cmd == VPCIE_CMD_REGION_READ && m->payload_len > hdr)
			memcpy(c->reply, (uint8_t *)m->payload + hdr,
			       m->payload_len - hdr < 8 ? m->payload_len - hdr : 8);
		vpcie_msg_release(m);
		c->vcpu = -1;
		for (unsigned i = 0; i < c->nheld; i++) {
			int rc = serve_dma(c, &c->held[i]);

			vpcie_msg_release(&c->held[i]);
			CHECK(rc == 0);
		}
		c->nheld = 0;
		return 0;
	}
	if (c->vcpu >= 0) {
		CHECK(c->nheld < MAX_HELD);
		c->held[c->nheld++] = *m;
		return 0;
	}
	int rc = serve_dma(c, m);

	vpcie_msg_release(m);
	return rc;
}

/* Run both hosts' "main loops" until done(ctx) or ms pass. */
static int pump(struct client *cl[2], int ms, bool (*done)(struct client *cl[2]))
{
	uint64_t until = vpcie_now_ns() + (uint64_t)ms * 1000000u;

	while (!done(cl)) {
		struct pollfd p[2];
		int left = (int)((until - vpcie_now_ns()) / 1000000u);

		if (vpcie_now_ns() >= until)
			return -ETIMEDOUT;
		bool buffered = false;

		for (unsigned i = 0; i < 2; i++) {
			p[i] = (struct pollfd){.fd = cl[i]->ch ? vpcie_chan_fd(cl[i]->ch) : -1,
					       .events = POLLIN};
			buffered = buffered || (cl[i]->ch && vpcie_chan_has_buffered(cl[i]->ch));
		}
		if (!buffered && poll(p, 2, left > 10 ? 10 : left) <= 0)
			continue;
		for (unsigned i = 0; i < 2; i++) {
			struct vpcie_msg m;

			if (!cl[i]->ch || (!(p[i].revents & (POLLIN | POLLHUP)) &&
					   !vpcie_chan_has_buffered(cl[i]->ch)))
				continue;
			CHECK(vpcie_chan_recv(cl[i]->ch, &m, REPLY_MS) == 0);
			CHECK(handle(cl[i], &m) == 0);
		}
	}
	return 0;
}

static bool both_running(struct client *cl[2])
{
	return cl[0]->vcpu < 0 && cl[1]->vcpu < 0;
}

/* A command the vCPU waits for: sent now, answered through pump(). */
static int vcpu_send(struct client *c, unsigned cmd, const void *p, size_t len)
{
	uint16_t id;

	CHECK(c->vcpu < 0);
	CHECK(send_cmd(c, cmd, 0, p, len, &id) == 0);
	c->vcpu = id;
	return 0;
}

static int region_read(struct client *c, unsigned region, uint64_t off, unsigned count)
{
	struct vpcie_region_access a = {.offset = off, .region = region, .count = count};

	return vcpu_send(c, VPCIE_CMD_REGION_READ, &a, sizeof(a));
}

static int region_write(struct client *c, unsigned region, uint64_t off, const void *v,
			unsigned count, bool posted)
{
	uint8_t buf[sizeof(struct vpcie_region_access) + 8];
	struct vpcie_region_access a = {.offset = off, .region = region, .count = count};

	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), v, count);
	if (posted)
		return send_cmd(c, VPCIE_CMD_REGION_WRITE, VPCIE_MSGF_NO_REPLY, buf,
				sizeof(a) + count, NULL);
	return vcpu_send(c, VPCIE_CMD_REGION_WRITE, buf, sizeof(a) + count);
}

/* A blocking access of one host (the other idle): sent and answered. */
static int sync_access(struct client *cl[2], int rc)
{
	CHECK(rc == 0);
	CHECK(pump(cl, REPLY_MS, both_running) == 0);
	return 0;
}

static int bar0_write32(struct client *cl[2], struct client *c, unsigned off, uint32_t v)
{
	return sync_access(cl, region_write(c, NTB_BAR_CONFIG, off, &v, 4, false));
}

/* VERSION, private memory, bus mastering, and this host's memory behind the
 * peer's window 1 (CONFIGURE_MW 0). */
static int client_up(struct client *cl[2], struct client *c, const char *path)
{
	struct vpcie_chan_limits lim = {.max_msg_size = 2u << 20, .max_fds = 4};
	struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
	struct vpcie_dma_map map = {.argsz = sizeof(map), .addr = IOVA, .size = BUF,
				    .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE};
	struct vpcie_caps caps;
	char ver[sizeof(v) + 512];
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	int fd = vpcie_unix_connect(path, 5000), n;

	CHECK(fd >= 0);
	c->ch = vpcie_chan_new(fd, &lim);
	CHECK(c->ch);
	c->next_id = 1;
	c->vcpu = -1;
	vpcie_caps_defaults(&caps);
	caps.max_msg_fds = 4;
	caps.max_data_xfer_size = 1u << 20;
	caps.twin_fd_index = -1;
	n = vpcie_caps_to_json(&caps, ver + sizeof(v), sizeof(ver) - sizeof(v));
	CHECK(n > 0);
	memcpy(ver, &v, sizeof(v));
	CHECK(sync_access(cl, vcpu_send(c, VPCIE_CMD_VERSION, ver, sizeof(v) + (size_t)n)) == 0);
	CHECK(sync_access(cl, vcpu_send(c, VPCIE_CMD_DMA_MAP, &map, sizeof(map))) == 0);
	CHECK(sync_access(cl, region_write(c, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, &cmd, 2,
					   false)) == 0);
	CHECK(bar0_write32(cl, c, NTB_CTRL_LOWER_ADDR, (uint32_t)IOVA) == 0);
	CHECK(bar0_write32(cl, c, NTB_CTRL_UPPER_ADDR, (uint32_t)(IOVA >> 32)) == 0);
	CHECK(bar0_write32(cl, c, NTB_CTRL_LOWER_SIZE, BUF) == 0);
	CHECK(bar0_write32(cl, c, NTB_CTRL_UPPER_SIZE, 0) == 0);
	CHECK(bar0_write32(cl, c, NTB_CTRL_ARGUMENT, 0) == 0);
	CHECK(bar0_write32(cl, c, NTB_CTRL_COMMAND, NTB_CMD_CONFIGURE_MW) == 0);
	CHECK(sync_access(cl, region_read(c, NTB_BAR_CONFIG, NTB_CTRL_CMD_STATUS, 2)) == 0);
	CHECK(c->reply[0] == NTB_STATUS_OK);
	return 0;
}

static uint8_t pattern(unsigned seed, size_t i)
{
	return (uint8_t)(i * 37u + seed * 101u + 1u);
}

static bool holds(const uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(seed, i))
			return false;
	return true;
}

/* 8-byte posted stores of pattern seed into c's window 1 at off. */
static int store(struct client *c, uint64_t off, unsigned n, unsigned seed)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t v[8];

		for (unsigned k = 0; k < 8; k++)
			v[k] = pattern(seed, 8 * i + k);
		CHECK(region_write(c, NTB_BAR_DB_MW1, NTB_MW1_OFFSET + off + 8 * i, v, 8, true) == 0);
	}
	return 0;
}

static struct client *landed_a, *landed_b;
static bool both_landed(struct client *cl[2])
{
	(void)cl;
	return holds(landed_b->mem, 8 * STORES, 1) && holds(landed_a->mem, 8 * STORES, 2);
}

static int run(const char *sa, const char *sb)
{
	static struct client a = {.name = "A", .vcpu = -1}, b = {.name = "B", .vcpu = -1};
	struct client *cl[2] = {&a, &b};
	uint64_t t0;
	bool ok_a, ok_b;

	CHECK(client_up(cl, &a, sa) == 0);
	CHECK(client_up(cl, &b, sb) == 0);

	/* Crossed stores, each host then blocked in a register read. */
	CHECK(store(&a, 0, STORES, 1) == 0);
	CHECK(store(&b, 0, STORES, 2) == 0);
	CHECK(region_read(&a, NTB_BAR_CONFIG, NTB_CTRL_LINK_STATUS, 2) == 0);
	CHECK(region_read(&b, NTB_BAR_CONFIG, NTB_CTRL_LINK_STATUS, 2) == 0);
	t0 = vpcie_now_ns();
	CHECK(pump(cl, REPLY_MS, both_running) == 0);
	printf("# crossed stores: both register reads answered after %.1f ms\n",
	       (double)(vpcie_now_ns() - t0) / 1e6);
	landed_a = &a;
	landed_b = &b;
	CHECK(pump(cl, REPLY_MS, both_landed) == 0);
	printf("ok 1 - crossed stores answered at once and landed\n");

	/* Read after write, from one host. */
	CHECK(store(&a, 4096, 1, 3) == 0);
	CHECK(sync_access(cl, region_read(&a, NTB_BAR_DB_MW1, NTB_MW1_OFFSET + 4096, 8)) == 0);
	CHECK(holds(a.reply, 8, 3));
	CHECK(holds(b.mem + 4096, 8, 3));
	printf("ok 2 - a window read sees the store before it\n");

	/* Crossed reads. */
	CHECK(region_read(&a, NTB_BAR_DB_MW1, NTB_MW1_OFFSET, 8) == 0);
	CHECK(region_read(&b, NTB_BAR_DB_MW1, NTB_MW1_OFFSET, 8) == 0);
	t0 = vpcie_now_ns();
	CHECK(pump(cl, REPLY_MS, both_running) == 0);
	ok_a = holds(a.reply, 8, 1);
	ok_b = holds(b.reply, 8, 2);
	printf("# crossed reads: answered after %.1f ms; A %s, B %s\n",
	       (double)(vpcie_now_ns() - t0) / 1e6, ok_a ? "data" : "all ones",
	       ok_b ? "data" : "all ones");
	CHECK(ok_a || ok_b);
	CHECK(ok_a || memcmp(a.reply, "\xff\xff\xff\xff\xff\xff\xff\xff", 8) == 0);
	CHECK(ok_b || memcmp(b.reply, "\xff\xff\xff\xff\xff\xff\xff\xff", 8) == 0);
	printf("ok 3 - crossed reads answered at once\n");
	vpcie_chan_free(a.ch);
	vpcie_chan_free(b.ch);
	return 0;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/vpcie-ntbq-XXXXXX", sa[64], sb[64];
	const char *prog = argc > 1 ? argv[1] : getenv("VPCIE_NTB");
	struct stat st;
	int status = 0, rc;
	pid_t dev;

	if (!prog) {
		fprintf(stderr, "usage: %s PATH-TO-vpcie-ntb\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return 1;
	snprintf(sa, sizeof(sa), "%s/a.sock", dir);
	snprintf(sb, sizeof(sb), "%s/b.sock", dir);
	printf("1..3\n");
	fflush(stdout);
	dev = fork();
	if (dev == 0) {
		execl(prog, prog, "--socket-a", sa, "--socket-b", sb, "--log", "warn", "--no-ring",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && (stat(sa, &st) || stat(sb, &st)); i++)
		poll(NULL, 0, 10);
	rc = dev > 0 ? run(sa, sb) : -1;
	if (rc)
		printf("not ok - see above\n");
	kill(dev, SIGTERM);
	for (int i = 0; i < 1000 && waitpid(dev, &status, WNOHANG) == 0; i++)
		poll(NULL, 0, 10);
	if (waitpid(dev, &status, WNOHANG) == 0) { /* stuck: a failure already */
		kill(dev, SIGKILL);
		waitpid(dev, &status, 0);
		rc = -1;
	}
	rmdir(dir);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "device exit status 0x%x\n", status);
		rc = -1;
	}
	return rc ? 1 : 0;
}
