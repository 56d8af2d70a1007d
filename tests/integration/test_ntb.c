/* SPDX-License-Identifier: MIT */
/*
 * vpcie-ntb between two host-runtime hosts, driven the way Linux's
 * ntb_hw_epf drives it: config handshake, link up/down, scratchpads, memory
 * window translations and data both ways, doorbells both ways with their
 * interrupts, hostile window and command settings, and a host that leaves
 * and comes back while the other stays.
 *
 * Host A is this process, host B a child process (a host must serve its
 * device's DMA messages while the other one waits on an access that needs
 * them). They keep in step over a socketpair. Every scenario runs with host
 * memory shared (fds: the device copies through mapped memory), not shared
 * (DMA messages), with the device refusing to map (--dma-messages), over
 * the ring transport, and with tcp: endpoints (no fds: DMA and interrupts
 * by messages).
 *
 * Usage: test_ntb PATH-TO-vpcie-ntb
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ntb_host.h"
#include "ntb_regs.h"

#define MEM_BASE 0x80000000ull
#define IOVA 0x100000000ull   /* each host's own bus addresses */
#define IOVA2 0x100100000ull
#define BUF 0x10000u          /* 64 KiB translation buffers */
#define WAIT_MS 5000

#define CHECK(c)                                                                              \
	do {                                                                                  \
		if (!(c)) {                                                                   \
			fprintf(stderr, "%s:%d [%s] check failed: %s\n", __FILE__, __LINE__,  \
				who, #c);                                                     \
			return -1;                                                            \
		}                                                                             \
	} while (0)

static const char *prog;
static const char *who = "A";

struct mode {
	const char *name;
	unsigned mem_flags;   /* VPCIE_HOST_MEM_SHARED or 0 */
	const char *dev_arg;  /* extra device option or NULL */
	bool ring;
	bool tcp;             /* tcp:127.0.0.1:PORT endpoints (no fds travel) */
};

struct env {
	const struct mode *m;
	char dir[64], sa[96], sb[96];
	pid_t dev;
	int sync;             /* this side's end of the socketpair */
};

/* ---- Device and the two hosts --------------------------------------------- */

static pid_t spawn_device(struct env *e)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl(prog, prog, "--socket-a", e->sa, "--socket-b", e->sb, "--log", "warn",
		      e->m->dev_arg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int start_device(struct env *e)
{
	strcpy(e->dir, "/tmp/vpcie-ntb-XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	if (!e->m->tcp) {
		snprintf(e->sa, sizeof(e->sa), "%s/a.sock", e->dir);
		snprintf(e->sb, sizeof(e->sb), "%s/b.sock", e->dir);
		e->dev = spawn_device(e);
		return e->dev > 0 ? 0 : -1;
	}
	/* Free ports found by trying: another test may hold one. */
	for (unsigned try = 0, port = 20000 + (unsigned)getpid() % 20000; try < 20;
	     try++, port = 20000 + (port + 211) % 40000) {
		int status;

		snprintf(e->sa, sizeof(e->sa), "tcp:127.0.0.1:%u", port);
		snprintf(e->sb, sizeof(e->sb), "tcp:127.0.0.1:%u", port + 1);
		e->dev = spawn_device(e);
		if (e->dev < 0)
			return -1;
		poll(NULL, 0, 300);
		if (waitpid(e->dev, &status, WNOHANG) == 0)
			return 0; /* still running: it listens */
	}
	e->dev = -1;
	return -1;
}

/* SIGTERM: a clean exit that removes both sockets. */
static int stop_device(struct env *e)
{
	struct stat st;
	int status = 0;

	kill(e->dev, SIGTERM);
	CHECK(waitpid(e->dev, &status, 0) == e->dev);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(e->m->tcp || (stat(e->sa, &st) != 0 && stat(e->sb, &st) != 0));
	rmdir(e->dir);
	return 0;
}

static void say(struct env *e, int tag)
{
	if (write(e->sync, &tag, sizeof(tag)) != sizeof(tag))
		fprintf(stderr, "[%s] sync write: %s\n", who, strerror(errno));
}

/* Wait for the other side's tag, serving our device's DMA requests. */
static int hear(struct env *e, struct ntbh *n, int tag)
{
	for (int waited = 0; waited < 4 * WAIT_MS; waited++) {
		struct pollfd p = {.fd = e->sync, .events = POLLIN};
		int got = 0;

		if (poll(&p, 1, 0) == 1) {
			if (read(e->sync, &got, sizeof(got)) != sizeof(got) || got != tag) {
				fprintf(stderr, "[%s] expected step %d, got %d\n", who, tag, got);
				return -1;
			}
			return 0;
		}
		if (n && n->h)
			vpcie_host_poll(n->h, 1);
		else
			poll(NULL, 0, 1);
	}
	fprintf(stderr, "[%s] step %d never came\n", who, tag);
	return -1;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 9)) ^ seed);
}

static bool is_fill(const uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)((i * 131u + seed * 7u + (i >> 9)) ^ seed))
			return false;
	return true;
}

static bool all_ones(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0xff)
			return false;
	return true;
}

static int host_up(struct env *e, struct ntbh *n, const char *where, unsigned nvec, bool msix)
{
	int rc = ntbh_open(n, where, MEM_BASE, e->m->ring);

	if (rc)
		fprintf(stderr, "[%s] open %s: %s\n", who, where, strerror(-rc));
	CHECK(rc == 0);
	CHECK(ntbh_init_isr(n, nvec, msix) == 0);
	CHECK(n->nvec == nvec);
	return 0;
}

/* ---- Scenario 1: everything, both ways ------------------------------------ */

static int exchange_b(struct env *e)
{
	struct ntbh n;
	struct vpcie_host_mem *m0, *m1;
	uint8_t buf[BUF];

	who = "B";
	/* MSI with 8 vectors: link + 7 doorbells. */
	CHECK(host_up(e, &n, e->sb, 8, false) == 0);
	CHECK(hear(e, &n, 1) == 0);
	CHECK(ntbh_cmd(&n, NTB_CMD_LINK_UP, 0) == 0);
	CHECK(vpcie_host_irq_wait(n.h, NTB_LINK_VECTOR, WAIT_MS) == 0);
	CHECK(ntbh_link_is_up(&n));
	say(e, 2);

	/* Scratchpads A wrote into ours; ours in A's. */
	CHECK(hear(e, &n, 3) == 0);
	for (unsigned i = 0; i < n.spad_count; i++)
		CHECK(ntbh_spad_read(&n, i) == (0xa0000000u | i));
	CHECK(ntbh_peer_spad_read(&n, 3) == 0x1234u);
	CHECK(ntbh_ctrl(&n, n.spad_offset + 4 * n.spad_count + 12) == 0x1234u);
	CHECK(ntbh_peer_spad_write(&n, 5, 0xb5u) == 0);
	say(e, 4);

	/* Our memory behind A's windows 0 and 1. */
	m0 = vpcie_host_mem_alloc(n.h, BUF, IOVA, e->m->mem_flags);
	m1 = vpcie_host_mem_alloc(n.h, BUF, IOVA2, e->m->mem_flags);
	CHECK(m0 && m1);
	memset(vpcie_host_mem_ptr(m0), 0, BUF);
	memset(vpcie_host_mem_ptr(m1), 0, BUF);
	CHECK(ntbh_mw_set_trans(&n, 0, IOVA, BUF) == 0);
	CHECK(ntbh_mw_set_trans(&n, 1, IOVA2, BUF) == 0);
	say(e, 5);
	CHECK(hear(e, &n, 6) == 0);
	CHECK(is_fill(vpcie_host_mem_ptr(m0), BUF, 10));
	CHECK(is_fill(vpcie_host_mem_ptr(m1), BUF, 11));

	/* A's memory behind our window 0: read it, write into it. */
	CHECK(hear(e, &n, 7) == 0);
	CHECK(ntbh_mw_read(&n, 0, 0, buf, BUF) == 0);
	CHECK(is_fill(buf, BUF, 20));
	fill(buf, 8192, 21);
	CHECK(ntbh_mw_write(&n, 0, 4096, buf, 8192) == 0);
	/* Window writes are posted: a read through the window flushes them
	 * (as on PCIe) before we tell A out of band. */
	CHECK(ntbh_mw_read(&n, 0, 4096, buf, 1) == 0);
	say(e, 8);

	/* Doorbells: A rings entry 9 (beyond our 8 vectors: dropped), then 2,
	 * right after writing window 1: the doorbell does not overtake it. */
	CHECK(vpcie_host_irq_wait(n.h, 2, WAIT_MS) == 0);
	CHECK(is_fill(vpcie_host_mem_ptr(m1), BUF, 12));
	for (unsigned v = 0; v < n.nvec; v++)
		CHECK(vpcie_host_irq_take(n.h, v) == 0);
	CHECK(ntbh_ring(&n, 31) == 0);
	CHECK(ntbh_ring(&n, 5) == 0);
	say(e, 9);

	/* A's hostile settings changed nothing: doorbell 3 still reaches it. */
	CHECK(hear(e, &n, 10) == 0);
	CHECK(ntbh_ring(&n, 3) == 0);

	/* Window 0 torn down: A's writes no longer land here. */
	CHECK(ntbh_mw_clear_trans(&n, 0) == 0);
	say(e, 11);
	CHECK(hear(e, &n, 12) == 0);
	CHECK(is_fill(vpcie_host_mem_ptr(m0), BUF, 10));

	/* A takes the link down: we are told. */
	CHECK(vpcie_host_irq_wait(n.h, NTB_LINK_VECTOR, WAIT_MS) == 0);
	CHECK(!ntbh_link_is_up(&n));
	say(e, 13);
	CHECK(hear(e, &n, 14) == 0);
	ntbh_close(&n);
	return 0;
}

static int hostile_a(struct ntbh *n, uint64_t cap)
{
	/* Oversized, outside our memory, unaligned, past its end, wrapping,
	 * no such window. */
	CHECK(ntbh_mw_set_trans(n, 0, IOVA, cap + 1) == -EINVAL);
	CHECK(ntbh_mw_set_trans(n, 0, IOVA, 2 * cap) == -EINVAL);
	CHECK(ntbh_mw_set_trans(n, 0, 0x700000000ull, 4096) == -EINVAL);
	CHECK(ntbh_mw_set_trans(n, 0, IOVA + 0x10, 4096) == -EINVAL);
	CHECK(ntbh_mw_set_trans(n, 0, IOVA + BUF - 4096, 8192) == -EINVAL);
	CHECK(ntbh_mw_set_trans(n, 0, 0xfffffffffffff000ull, 0x2000) == -EINVAL);
	CHECK(ntbh_mw_set_trans(n, 0, IOVA, 0) == -EINVAL);
	CHECK(ntbh_mw_set_trans(n, NTB_MAX_MWS, IOVA, 4096) == -EINVAL);
	CHECK(ntbh_mw_set_trans(n, 0xffffffffu, IOVA, 4096) == -EINVAL);
	CHECK(ntbh_cmd(n, NTB_CMD_TEARDOWN_MW, 7) == -EINVAL);
	/* Doorbells: none, too many, MSI claimed while MSI-X is on, junk bits. */
	CHECK(ntbh_cmd(n, NTB_CMD_CONFIGURE_DOORBELL, NTB_ARG_MSIX_ENABLE) == -EINVAL);
	CHECK(ntbh_cmd(n, NTB_CMD_CONFIGURE_DOORBELL, NTB_ARG_MSIX_ENABLE | 33) == -EINVAL);
	CHECK(ntbh_cmd(n, NTB_CMD_CONFIGURE_DOORBELL, 4) == -EINVAL);
	CHECK(ntbh_cmd(n, NTB_CMD_CONFIGURE_DOORBELL, 0x80000000u | NTB_ARG_MSIX_ENABLE | 4) ==
	      -EINVAL);
	CHECK(ntbh_cmd(n, 99, 0) == -EINVAL);
	CHECK(ntbh_cmd(n, 0xffffffffu, 0xffffffffu) == -EINVAL);
	/* Read-only fields stay. */
	CHECK(vpcie_host_bar_write32(n->h, NTB_BAR_CONFIG, NTB_CTRL_MW_COUNT, 0) == 0);
	CHECK(vpcie_host_bar_write32(n->h, NTB_BAR_CONFIG, NTB_CTRL_SPAD_OFFSET, 0x10) == 0);
	CHECK(ntbh_ctrl(n, NTB_CTRL_MW_COUNT) == n->mw_count);
	CHECK(ntbh_ctrl(n, NTB_CTRL_SPAD_OFFSET) == n->spad_offset);
	return 0;
}

static int exchange_a(struct env *e)
{
	struct ntbh n;
	struct vpcie_host_mem *m;
	static uint8_t buf[BUF], exp[BUF];
	uint8_t *mem;

	CHECK(host_up(e, &n, e->sa, 32, true) == 0);
	CHECK(n.mw_count == NTB_DEFAULT_MWS && n.spad_count == NTB_DEFAULT_SPADS);
	CHECK(n.db_entry_size == NTB_DB_ENTRY_SIZE && n.mw1_offset == NTB_MW1_OFFSET);
	CHECK(n.spad_offset == NTB_SPAD_OFF);
	CHECK(n.bar_size[NTB_BAR_DB_MW1] == NTB_DEFAULT_MW_BAR &&
	      n.bar_size[NTB_BAR_MW(1)] == NTB_DEFAULT_MW_BAR && n.bar_size[4] == 0);
	CHECK(ntbh_ctrl(&n, NTB_CTRL_TOPOLOGY) == NTB_TOPO_B2B_USD);
	/* The link needs both. */
	CHECK(ntbh_cmd(&n, NTB_CMD_LINK_UP, 0) == 0);
	CHECK(!ntbh_link_is_up(&n));
	say(e, 1);
	CHECK(hear(e, &n, 2) == 0);
	CHECK(vpcie_host_irq_wait(n.h, NTB_LINK_VECTOR, WAIT_MS) == 0);
	CHECK(ntbh_link_is_up(&n));

	for (unsigned i = 0; i < n.spad_count; i++)
		CHECK(ntbh_peer_spad_write(&n, i, 0xa0000000u | i) == 0);
	CHECK(ntbh_spad_write(&n, 3, 0x1234u) == 0);
	CHECK(ntbh_spad_write(&n, n.spad_count, 1) == -EINVAL);
	say(e, 3);
	CHECK(hear(e, &n, 4) == 0);
	CHECK(ntbh_spad_read(&n, 5) == 0xb5u);

	/* Through B's translations. */
	CHECK(hear(e, &n, 5) == 0);
	fill(buf, BUF, 10);
	CHECK(ntbh_mw_write(&n, 0, 0, buf, BUF) == 0);
	fill(buf, BUF, 11);
	CHECK(ntbh_mw_write(&n, 1, 0, buf, BUF) == 0);
	memset(buf, 0, BUF);
	CHECK(ntbh_mw_read(&n, 0, 0, buf, BUF) == 0);
	CHECK(is_fill(buf, BUF, 10));
	CHECK(ntbh_mw_read(&n, 1, 0, buf, 4096) == 0);
	CHECK(is_fill(buf, 4096, 11));
	/* Small and unaligned accesses, as a guest's memcpy_fromio() and
	 * memcpy_toio() make them. */
	fill(exp, BUF, 10);
	for (unsigned len = 1; len <= 8; len *= 2) {
		for (unsigned off = 0; off + len <= 512; off += len == 8 ? 3 : len) {
			uint8_t small[8];

			CHECK(ntbh_mw_read(&n, 0, 4096 + off, small, len) == 0);
			CHECK(memcmp(small, exp + 4096 + off, len) == 0);
		}
	}
	for (unsigned off = 0; off < 64; off += 5) {
		uint8_t small[8];

		CHECK(ntbh_mw_write(&n, 0, 8192 + off, exp + 8192 + off, 5) == 0);
		CHECK(ntbh_mw_read(&n, 0, 8192 + off, small, 5) == 0);
		CHECK(memcmp(small, exp + 8192 + off, 5) == 0);
	}
	/* Beyond B's translation: nothing there. */
	CHECK(ntbh_mw_read(&n, 0, BUF - 8, buf, 16) == 0);
	fill(exp, BUF, 10);
	CHECK(memcmp(buf, exp + BUF - 8, 8) == 0);
	CHECK(all_ones(buf + 8, 8));
	CHECK(ntbh_mw_read(&n, 1, ntbh_peer_mw_size(&n, 1) - 16, buf, 16) == 0);
	CHECK(all_ones(buf, 16));
	say(e, 6);

	/* Our memory behind B's window 0. */
	m = vpcie_host_mem_alloc(n.h, BUF, IOVA, e->m->mem_flags);
	CHECK(m);
	mem = vpcie_host_mem_ptr(m);
	fill(mem, BUF, 20);
	CHECK(hostile_a(&n, ntbh_peer_mw_size(&n, 0)) == 0);
	CHECK(ntbh_mw_set_trans(&n, 0, IOVA, BUF) == 0);
	say(e, 7);
	CHECK(hear(e, &n, 8) == 0);
	CHECK(is_fill(mem, 4096, 20) && is_fill(mem + 4096, 8192, 21));
	fill(buf, BUF, 20);
	CHECK(memcmp(mem + 12288, buf + 12288, BUF - 12288) == 0);

	/* Doorbells to B: entry 9 is beyond B's vectors, 2 is what
	 * ntb_epf_peer_db_set() writes for db bit 0. */
	fill(buf, BUF, 12);
	CHECK(ntbh_mw_write(&n, 1, 0, buf, BUF) == 0);
	CHECK(ntbh_ring(&n, 9) == 0);
	CHECK(ntbh_ring(&n, 2) == 0);
	CHECK(hear(e, &n, 9) == 0);
	CHECK(vpcie_host_irq_wait(n.h, 31, WAIT_MS) == 0);
	CHECK(vpcie_host_irq_wait(n.h, 5, WAIT_MS) == 0);
	say(e, 10);
	CHECK(vpcie_host_irq_wait(n.h, 3, WAIT_MS) == 0);

	/* B tears its window 0 down. */
	CHECK(hear(e, &n, 11) == 0);
	fill(buf, 16, 99);
	CHECK(ntbh_mw_write(&n, 0, 0, buf, 16) == 0);
	CHECK(ntbh_mw_read(&n, 0, 0, buf, 16) == 0);
	CHECK(all_ones(buf, 16));
	say(e, 12);

	CHECK(ntbh_cmd(&n, NTB_CMD_LINK_DOWN, 0) == 0);
	CHECK(vpcie_host_irq_wait(n.h, NTB_LINK_VECTOR, WAIT_MS) == 0);
	CHECK(!ntbh_link_is_up(&n));
	CHECK(hear(e, &n, 13) == 0);
	say(e, 14);
	ntbh_close(&n);
	return 0;
}

/* ---- Scenario 2: B leaves and comes back, A stays ---------------------------- */

static int comeback_b(struct env *e, unsigned round)
{
	struct ntbh n;
	struct vpcie_host_mem *m;

	who = round == 1 ? "B1" : "B2";
	CHECK(host_up(e, &n, e->sb, 4, true) == 0);
	CHECK(ntbh_cmd(&n, NTB_CMD_LINK_UP, 0) == 0);
	CHECK(vpcie_host_irq_wait(n.h, NTB_LINK_VECTOR, WAIT_MS) == 0);
	CHECK(ntbh_link_is_up(&n));
	m = vpcie_host_mem_alloc(n.h, BUF, IOVA, e->m->mem_flags);
	CHECK(m);
	memset(vpcie_host_mem_ptr(m), 0, BUF);
	CHECK(ntbh_mw_set_trans(&n, 0, IOVA, BUF) == 0);
	say(e, 10 * (int)round + 1);
	CHECK(hear(e, &n, 10 * (int)round + 2) == 0);
	CHECK(is_fill(vpcie_host_mem_ptr(m), BUF, 30 + round));
	if (round == 1) {
		ntbh_close(&n); /* gone, without LINK_DOWN */
		return 0;
	}
	say(e, 23);
	CHECK(hear(e, &n, 24) == 0);
	ntbh_close(&n);
	return 0;
}

static pid_t spawn(struct env *e, int fd_child, int fd_parent, unsigned round)
{
	pid_t pid = fork();

	if (pid == 0) {
		close(fd_parent);
		e->sync = fd_child;
		_exit(comeback_b(e, round) ? 1 : 0);
	}
	return pid;
}

static int child_ok(pid_t pid)
{
	int status = 0;

	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}

static int comeback_a(struct env *e)
{
	struct ntbh n;
	uint8_t buf[BUF];
	int sv[2];
	pid_t b;

	CHECK(host_up(e, &n, e->sa, 32, true) == 0);
	CHECK(ntbh_cmd(&n, NTB_CMD_LINK_UP, 0) == 0);
	for (unsigned round = 1; round <= 2; round++) {
		CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
		b = spawn(e, sv[1], sv[0], round);
		CHECK(b > 0);
		close(sv[1]);
		e->sync = sv[0];
		CHECK(vpcie_host_irq_wait(n.h, NTB_LINK_VECTOR, WAIT_MS) == 0);
		CHECK(ntbh_link_is_up(&n));
		CHECK(hear(e, &n, 10 * (int)round + 1) == 0);
		fill(buf, BUF, 30 + round);
		CHECK(ntbh_mw_write(&n, 0, 0, buf, BUF) == 0);
		CHECK(ntbh_mw_read(&n, 0, 0, buf, 1) == 0); /* flushes the posted write */
		say(e, 10 * (int)round + 2);
		if (round == 1) {
			/* B vanished: the link goes down and we are told; its
			 * window leads nowhere, and nothing breaks. */
			CHECK(vpcie_host_irq_wait(n.h, NTB_LINK_VECTOR, WAIT_MS) == 0);
			CHECK(!ntbh_link_is_up(&n));
			CHECK(ntbh_mw_read(&n, 0, 0, buf, 64) == 0);
			CHECK(all_ones(buf, 64));
			CHECK(ntbh_ring(&n, 1) == 0);
		} else {
			CHECK(hear(e, &n, 23) == 0);
			say(e, 24);
		}
		close(sv[0]);
		CHECK(child_ok(b) == 0);
	}
	/* B is gone again: the link is down. */
	CHECK(vpcie_host_irq_wait(n.h, NTB_LINK_VECTOR, WAIT_MS) == 0);
	CHECK(!ntbh_link_is_up(&n));
	ntbh_close(&n);
	return 0;
}

/* ---- Runner ------------------------------------------------------------------- */

static int run_exchange(struct env *e)
{
	int sv[2], rc;
	pid_t b;

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	b = fork();
	CHECK(b >= 0);
	if (b == 0) {
		close(sv[0]);
		e->sync = sv[1];
		_exit(exchange_b(e) ? 1 : 0);
	}
	close(sv[1]);
	e->sync = sv[0];
	rc = exchange_a(e);
	close(sv[0]);
	CHECK(child_ok(b) == 0);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct mode modes[] = {
		{"shared memory", VPCIE_HOST_MEM_SHARED, NULL, false, false},
		{"DMA messages", 0, NULL, false, false},
		{"device --dma-messages", VPCIE_HOST_MEM_SHARED, "--dma-messages", false, false},
		{"ring transport", VPCIE_HOST_MEM_SHARED, NULL, true, false},
		{"TCP endpoints", 0, NULL, false, true},
	};
	int failed = 0, n = 0;

	prog = argc > 1 ? argv[1] : getenv("VPCIE_NTB");
	if (!prog) {
		fprintf(stderr, "usage: %s PATH-TO-vpcie-ntb\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	printf("1..%zu\n", 2 * sizeof(modes) / sizeof(modes[0]));
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		static int (*const runs[2])(struct env *) = {run_exchange, comeback_a};
		static const char *const names[2] = {"exchange", "host B leaves and returns"};

		for (unsigned r = 0; r < 2; r++) {
			struct env e = {.m = &modes[i]};
			int rc = start_device(&e);

			if (!rc)
				rc = runs[r](&e);
			if (e.dev > 0 && stop_device(&e))
				rc = -1;
			printf("%s %d - %s, %s\n", rc ? "not ok" : "ok", ++n, names[r], modes[i].name);
			fflush(stdout);
			failed |= rc != 0;
		}
	}
	return failed ? 1 : 0;
}
