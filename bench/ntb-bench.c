/* SPDX-License-Identifier: MIT */
/*
 * vpcie-ntb-bench: two host-runtime hosts joined by vpcie-ntb (no VM).
 *
 *   window write/read  host A copies blocks through its memory window into
 *                      (out of) host B's memory, each access answered, as a
 *                      driver's memcpy_toio()/memcpy_fromio() ends; against
 *                      memcpy of the same block into a shared memfd mapping
 *                      (the copy the device itself does), sample by sample
 *                      interleaved, in the same run.
 *   doorbell           A rings B, B rings A back on the interrupt: round trip
 *                      and its half; against a round trip between the same
 *                      two kinds of processes through a pair of pipes.
 *
 * Everything blocks when it waits (VPCIE_POLL_US=0 for the hosts and the
 * device, blocking pipe reads for the floor), so the ratios compare like
 * with like. Host B's memory is shared with an fd (the device copies through
 * its mapping) or not (DMA messages); both are run.
 *
 * Usage: vpcie-ntb-bench [--device PATH] [--block BYTES] [--reps N] [--quick]
 * docs/ntb.md gives the figures and the command.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ntb_host.h"
#include "ntb_regs.h"

#define MEM_BASE 0x80000000ull
#define IOVA 0x100000000ull
#define MW_BAR (16u << 20)       /* window BAR the device is started with */
#define XLAT (8u << 20)          /* B's buffer behind A's window 0 */
#define WAIT_MS 5000

struct opts {
	const char *device;
	size_t block;
	unsigned reps, pings;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n ? v[n / 2] : 0;
}

/* ---- Host B: serves its device until told, answers ping-pongs ----------- */

enum { B_READY = 1, B_PING, B_QUIT };

static int b_main(const char *sock, unsigned flags, int ctl)
{
	struct ntbh n;
	struct vpcie_host_mem *m;
	int cmd = 0;

	if (ntbh_open(&n, sock, MEM_BASE, false) || ntbh_init_isr(&n, 4, true))
		return 1;
	m = vpcie_host_mem_alloc(n.h, XLAT, IOVA, flags);
	if (!m || ntbh_mw_set_trans(&n, 0, IOVA, XLAT) || ntbh_cmd(&n, NTB_CMD_LINK_UP, 0))
		return 1;
	cmd = B_READY;
	if (write(ctl, &cmd, sizeof(cmd)) != sizeof(cmd))
		return 1;
	for (;;) {
		struct pollfd p = {.fd = ctl, .events = POLLIN};
		unsigned count = 0;

		if (poll(&p, 1, 0) != 1) {
			vpcie_host_poll(n.h, 10); /* DMA messages from the device */
			continue;
		}
		if (read(ctl, &cmd, sizeof(cmd)) != sizeof(cmd) || cmd == B_QUIT)
			break;
		if (read(ctl, &count, sizeof(count)) != sizeof(count))
			break;
		for (unsigned i = 0; i < count; i++)
			if (vpcie_host_irq_wait(n.h, 1, WAIT_MS) || ntbh_ring(&n, 1))
				return 1;
	}
	ntbh_close(&n);
	return 0;
}

/* ---- Floors ------------------------------------------------------------------ */

/* A block into a MAP_SHARED memfd mapping, as the device copies into B. */
static uint8_t *shared_map(size_t size)
{
	int fd = memfd_create("ntb-bench", MFD_CLOEXEC);
	void *p;

	if (fd < 0 || ftruncate(fd, (off_t)size)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* Round trips through two pipes to a child that answers each byte. */
static int pipe_rtt(unsigned n, uint64_t *out)
{
	int to[2], from[2];
	pid_t pid;
	char c = 0;

	if (pipe(to) || pipe(from))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(to[1]);
		close(from[0]);
		while (read(to[0], &c, 1) == 1 && write(from[1], &c, 1) == 1)
			;
		_exit(0);
	}
	close(to[0]);
	close(from[1]);
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		if (write(to[1], &c, 1) != 1 || read(from[0], &c, 1) != 1)
			return -1;
		out[i] = now_ns() - t0;
	}
	close(to[1]);
	close(from[0]);
	waitpid(pid, NULL, 0);
	return 0;
}

/* ---- One mode: device, host B, host A ---------------------------------- */

struct result {
	uint64_t wr_ns, rd_ns, cp_ns, rtt_ns, floor_rtt_ns;
	bool verified;
};

static pid_t start_device(const char *prog, const char *sa, const char *sb)
{
	char mw[32];
	pid_t pid;

	snprintf(mw, sizeof(mw), "%u", MW_BAR);
	pid = fork();
	if (pid == 0) {
		execl(prog, prog, "--socket-a", sa, "--socket-b", sb, "--mw-size", mw, "--mws", "1",
		      "--log", "warn", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int a_measure(const struct opts *o, struct ntbh *n, int ctl, struct result *res)
{
	uint64_t *wr = calloc(o->reps, sizeof(uint64_t)), *rd = calloc(o->reps, sizeof(uint64_t));
	uint64_t *cp = calloc(o->reps, sizeof(uint64_t)), *rt = calloc(o->pings, sizeof(uint64_t));
	uint8_t *src = malloc(o->block), *back = malloc(o->block), *map = shared_map(o->block);
	unsigned slots = XLAT / o->block;
	int cmd[2] = {B_PING, (int)o->pings}, rc = -1;

	if (!wr || !rd || !cp || !rt || !src || !back || !map)
		goto out;
	for (size_t i = 0; i < o->block; i++)
		src[i] = (uint8_t)(i * 7 + i / 4096);
	res->verified = true;
	for (unsigned r = 0; r < o->reps; r++) {
		uint64_t off = (uint64_t)(r % slots) * o->block, t0;

		src[0] = (uint8_t)r;
		t0 = now_ns();
		memcpy(map, src, o->block);
		__asm__ __volatile__("" ::: "memory");
		cp[r] = now_ns() - t0;
		t0 = now_ns();
		if (ntbh_mw_write(n, 0, off, src, o->block))
			goto out;
		wr[r] = now_ns() - t0;
		t0 = now_ns();
		if (ntbh_mw_read(n, 0, off, back, o->block))
			goto out;
		rd[r] = now_ns() - t0;
		/* What came back through B's memory is what went in. */
		if (memcmp(src, back, o->block))
			res->verified = false;
	}
	if (write(ctl, cmd, sizeof(cmd)) != sizeof(cmd))
		goto out;
	for (unsigned i = 0; i < o->pings; i++) {
		uint64_t t0 = now_ns();

		if (ntbh_ring(n, 1) || vpcie_host_irq_wait(n->h, 1, WAIT_MS))
			goto out;
		rt[i] = now_ns() - t0;
	}
	res->wr_ns = median(wr, o->reps);
	res->rd_ns = median(rd, o->reps);
	res->cp_ns = median(cp, o->reps);
	res->rtt_ns = median(rt, o->pings);
	if (pipe_rtt(o->pings, rt))
		goto out;
	res->floor_rtt_ns = median(rt, o->pings);
	rc = 0;
out:
	free(wr);
	free(rd);
	free(cp);
	free(rt);
	free(src);
	free(back);
	if (map)
		munmap(map, o->block);
	return rc;
}

static int run_mode(const struct opts *o, unsigned flags, struct result *res)
{
	char dir[] = "/tmp/vpcie-ntb-bench-XXXXXX", sa[64], sb[64];
	int sv[2], cmd = 0, rc = -1, status = 0;
	struct ntbh n = {0};
	pid_t dev, b;

	if (!mkdtemp(dir))
		return -1;
	snprintf(sa, sizeof(sa), "%s/a.sock", dir);
	snprintf(sb, sizeof(sb), "%s/b.sock", dir);
	dev = start_device(o->device, sa, sb);
	if (dev < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	b = fork();
	if (b == 0) {
		close(sv[0]);
		_exit(b_main(sb, flags, sv[1]));
	}
	close(sv[1]);
	if (ntbh_open(&n, sa, MEM_BASE, false) || ntbh_init_isr(&n, 4, true) ||
	    ntbh_cmd(&n, NTB_CMD_LINK_UP, 0) ||
	    read(sv[0], &cmd, sizeof(cmd)) != sizeof(cmd) || cmd != B_READY ||
	    vpcie_host_irq_wait(n.h, NTB_LINK_VECTOR, WAIT_MS) || !ntbh_link_is_up(&n)) {
		fprintf(stderr, "vpcie-ntb-bench: the two hosts did not link up\n");
	} else {
		rc = a_measure(o, &n, sv[0], res);
	}
	ntbh_close(&n);
	cmd = B_QUIT;
	if (write(sv[0], &cmd, sizeof(cmd)) != sizeof(cmd))
		kill(b, SIGTERM);
	close(sv[0]);
	if (waitpid(b, &status, 0) != b || !WIFEXITED(status) || WEXITSTATUS(status))
		rc = -1;
	kill(dev, SIGTERM);
	waitpid(dev, NULL, 0);
	rmdir(dir);
	return rc;
}

/* ---- Output ------------------------------------------------------------------- */

static double gbps(size_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : 0; /* bytes/ns = GB/s */
}

static void report(const struct opts *o, const char *mode, const struct result *r)
{
	double cp = gbps(o->block, r->cp_ns);

	printf("%-22s window write %6.2f GB/s  read %6.2f GB/s  memcpy %6.2f GB/s  "
	       "write/memcpy %5.1f%%  read/memcpy %5.1f%%  data %s\n",
	       mode, gbps(o->block, r->wr_ns), gbps(o->block, r->rd_ns), cp,
	       100.0 * gbps(o->block, r->wr_ns) / cp, 100.0 * gbps(o->block, r->rd_ns) / cp,
	       r->verified ? "verified" : "MISMATCH");
	printf("%-22s doorbell round trip %7.1f us (one way %6.1f us)  pipe round trip %6.1f us"
	       "  ratio %5.1fx\n",
	       "", r->rtt_ns / 1e3, r->rtt_ns / 2e3, r->floor_rtt_ns / 1e3,
	       r->floor_rtt_ns ? (double)r->rtt_ns / (double)r->floor_rtt_ns : 0);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"device", required_argument, NULL, 'd'},
		{"block", required_argument, NULL, 'b'},
		{"reps", required_argument, NULL, 'r'},
		{"quick", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct opts o = {.device = getenv("VPCIE_NTB"), .block = 1u << 20, .reps = 200,
			 .pings = 2000};
	struct result r;
	int c, failed = 0;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o.device = optarg; break;
		case 'b': o.block = strtoul(optarg, NULL, 0); break;
		case 'r': o.reps = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'q': o.reps = 10; o.pings = 100; break;
		case 'h':
			printf("Usage: %s [--device PATH-TO-vpcie-ntb] [--block BYTES (default 1M)]\n"
			       "          [--reps N (default 200)] [--quick]\n", argv[0]);
			return 0;
		default: return 2;
		}
	}
	if (!o.device || o.block < 4096 || o.block > XLAT || XLAT % o.block || !o.reps) {
		fprintf(stderr, "vpcie-ntb-bench: need --device (or $VPCIE_NTB); --block a divisor "
				"of 8M, >= 4096; --reps > 0\n");
		return 2;
	}
	/* Block when waiting, everywhere (hosts, device): like the floors. */
	if (!getenv("NTB_BENCH_POLL"))
		setenv("VPCIE_POLL_US", "0", 1);
	signal(SIGPIPE, SIG_IGN);
	printf("vpcie-ntb-bench: block %zu bytes, %u blocks, %u doorbells per mode "
	       "(medians; blocking waits)\n", o.block, o.reps, o.pings);
	memset(&r, 0, sizeof(r));
	if (run_mode(&o, VPCIE_HOST_MEM_SHARED, &r) == 0)
		report(&o, "B memory shared (fd)", &r);
	else
		failed = 1;
	memset(&r, 0, sizeof(r));
	if (run_mode(&o, 0, &r) == 0)
		report(&o, "B memory by messages", &r);
	else
		failed = 1;
	return failed;
}
