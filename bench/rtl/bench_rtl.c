/* SPDX-License-Identifier: MIT */
/*
 * vpcie-rtl-bench: what an RTL device costs, measured on pci-epf-test in
 * Verilog (rtl/epf-test/epf_test.v under Verilator) - docs/rtl.md.
 *
 * In-process (the bridge on a scripted host: memory is a malloc'd buffer):
 *   bare.idle / bare.busy   cycles/s of the bare Verilated model (no bridge):
 *                           the floor; busy = streaming DMA read beats with
 *                           the CRC running
 *   bridge.mmio             cycles/s while the host does register writes and
 *                           reads back to back (the design otherwise idle),
 *                           and the in-process read round trip
 *   bridge.read/write/copy  a 1024000-byte command through the bridge: cycles/s,
 *                           MB/s, bytes per cycle vs the 8-byte beat
 * Through the socket (device programs given on the command line):
 *   mmio.rtt.rtl / .c       REGION_READ round trip of MAGIC on
 *                           vpcie-epf-test-verilog vs vpcie-epf-test
 *   idle.cpu                the Verilog device's CPU over 2 s of idling
 *                           after traffic, in % of one core
 * Each figure is the median of --reps runs (default 5); ratios are to the
 * floor measured in the same run.
 *
 *   vpcie-rtl-bench [--reps N] [--json] VERILOG_DEVICE C_DEVICE
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <vpcie/host.h>
#include <vpcie/rtl.h>

#include "epf_regs.h"
#include "vpcie_vl.h"

#define XFER 1024000u
#define HOST_BASE 0x100000000ull /* bus address of the scripted host memory */
#define MEM_SIZE (4u << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: cycle rates per CPU second do not depend on
 * how many other processes share the machine (wall-clock rates do). */
static double cpu_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the scripted host ------------------------------------------------------- */

struct host {
	uint8_t *mem;
	unsigned irqs;
};

static int h_dma_read(void *o, uint64_t addr, void *buf, size_t len)
{
	struct host *h = o;

	if (addr < HOST_BASE || addr - HOST_BASE > MEM_SIZE || len > MEM_SIZE - (addr - HOST_BASE))
		return -EFAULT;
	memcpy(buf, h->mem + (addr - HOST_BASE), len);
	return 0;
}

static int h_dma_write(void *o, uint64_t addr, const void *buf, size_t len)
{
	struct host *h = o;

	if (addr < HOST_BASE || addr - HOST_BASE > MEM_SIZE || len > MEM_SIZE - (addr - HOST_BASE))
		return -EFAULT;
	memcpy(h->mem + (addr - HOST_BASE), buf, len);
	return 0;
}

static int h_irq(void *o, unsigned vec)
{
	(void)vec;
	((struct host *)o)->irqs++;
	return 0;
}

static void h_irq_config(void *o, uint8_t *mode, uint16_t *vectors)
{
	(void)o;
	*mode = 2; /* MSI */
	*vectors = 1;
}

static const struct vpcie_rtl_env host_env = {
	.dma_read = h_dma_read,
	.dma_write = h_dma_write,
	.irq = h_irq,
	.irq_config = h_irq_config,
};

struct rig {
	void *model;
	struct vpcie_rtl *rtl;
	struct host host;
};

static int rig_open(struct rig *g)
{
	struct vpcie_rtl_opts o = {.payload_bytes = vpcie_vl_payload_bytes(),
				   .env = &host_env, .env_opaque = &g->host};

	memset(g, 0, sizeof(*g));
	g->host.mem = malloc(MEM_SIZE);
	g->model = vpcie_vl_new();
	if (!g->host.mem || !g->model)
		return -1;
	for (unsigned i = 0; i < MEM_SIZE; i++)
		g->host.mem[i] = (uint8_t)(i * 7 + (i >> 11));
	g->rtl = vpcie_rtl_new(NULL, &vpcie_vl_model, g->model, &o);
	if (!g->rtl)
		return -1;
	while (vpcie_rtl_run(g->rtl, 1000))
		; /* reset */
	return 0;
}

static void rig_close(struct rig *g)
{
	vpcie_rtl_free(g->rtl);
	vpcie_vl_free(g->model);
	free(g->host.mem);
}

static void wr32(struct rig *g, uint32_t off, uint32_t v)
{
	vpcie_rtl_write(g->rtl, 0, off, &v, 4);
}

static uint32_t rd32(struct rig *g, uint32_t off)
{
	uint32_t v = 0;

	vpcie_rtl_read(g->rtl, 0, off, &v, 4);
	return v;
}

/* One command of XFER bytes; returns seconds, cycles in *cyc, CPU seconds
 * in *cpu, or -1 if the design did not report success. */
static double run_cmd(struct rig *g, uint32_t cmd, uint64_t *cyc, double *cpu)
{
	uint64_t src = HOST_BASE + 3, dst = HOST_BASE + (2u << 20) + 5;
	uint32_t want = cmd == EPF_CMD_READ ? EPF_STATUS_READ_SUCCESS
		      : cmd == EPF_CMD_WRITE ? EPF_STATUS_WRITE_SUCCESS : EPF_STATUS_COPY_SUCCESS;
	struct vpcie_rtl_stats s0, s1;
	double t0, t1, c0;
	uint32_t st;

	wr32(g, EPF_REG_LOWER_SRC_ADDR, (uint32_t)src);
	wr32(g, EPF_REG_UPPER_SRC_ADDR, (uint32_t)(src >> 32));
	wr32(g, EPF_REG_LOWER_DST_ADDR, (uint32_t)dst);
	wr32(g, EPF_REG_UPPER_DST_ADDR, (uint32_t)(dst >> 32));
	wr32(g, EPF_REG_SIZE, XFER);
	/* crc32_le(~0, ...) == ~zlib crc32(0, ...) (devices/epf-test/epf_crc.h) */
	wr32(g, EPF_REG_CHECKSUM, ~(uint32_t)crc32(0, g->host.mem + 3, XFER));
	wr32(g, EPF_REG_IRQ_TYPE, EPF_IRQ_TYPE_MSI);
	wr32(g, EPF_REG_IRQ_NUMBER, 1);
	while (vpcie_rtl_run(g->rtl, 1u << 20))
		;
	vpcie_rtl_get_stats(g->rtl, &s0);
	t0 = now_s();
	c0 = cpu_now_s();
	wr32(g, EPF_REG_COMMAND, cmd);
	while (vpcie_rtl_run(g->rtl, 1u << 20))
		;
	t1 = now_s();
	*cpu = cpu_now_s() - c0;
	vpcie_rtl_get_stats(g->rtl, &s1);
	st = rd32(g, EPF_REG_STATUS);
	if (!(st & want) || (cmd == EPF_CMD_COPY &&
			     memcmp(g->host.mem + 3, g->host.mem + (2u << 20) + 5, XFER))) {
		fprintf(stderr, "vpcie-rtl-bench: command 0x%x: STATUS 0x%x\n", cmd, st);
		return -1;
	}
	/* the idle tail after the command is not DMA time */
	*cyc = s1.cycles - s0.cycles - 256;
	return t1 - t0;
}

/* ---- through the socket --------------------------------------------------------- */

static pid_t spawn(const char *prog, const char *sock)
{
	pid_t p = fork();

	if (p == 0) {
		execl(prog, prog, "--socket", sock, "--log", "error", (char *)NULL);
		_exit(127);
	}
	return p;
}

static struct vpcie_host *connect_to(const char *sock)
{
	for (int i = 0; i < 500; i++) {
		struct vpcie_host *h = vpcie_host_open(sock, NULL, NULL);

		if (h)
			return h;
		usleep(10000);
	}
	return NULL;
}

static double cpu_s(pid_t p)
{
	char path[64], buf[1024], *s;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)p);
	f = fopen(path, "r");
	if (!f)
		return -1;
	s = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!s || !(s = strrchr(buf, ')')))
		return -1;
	/* fields 14, 15 (utime, stime); s is at the end of field 2 */
	if (sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Median REGION_READ round trip (ns) of MAGIC; idle CPU (% core) if cpu. */
static int socket_figures(const char *prog, const char *sock, unsigned n, double *rtt_ns,
			  double *idle_pct)
{
	pid_t p = spawn(prog, sock);
	struct vpcie_host *h = connect_to(sock);
	double *v = malloc(n * sizeof(*v));
	int rc = -1;

	if (h && v) {
		uint32_t x;

		rc = 0;
		for (unsigned i = 0; i < n / 10 && !rc; i++) /* warm-up */
			rc = vpcie_host_region_read(h, 0, EPF_REG_MAGIC, &x, 4);
		for (unsigned i = 0; i < n && !rc; i++) {
			double t0 = now_s();

			rc = vpcie_host_region_read(h, 0, EPF_REG_MAGIC, &x, 4);
			v[i] = (now_s() - t0) * 1e9;
		}
		if (!rc)
			*rtt_ns = median(v, n);
		if (!rc && idle_pct) {
			double c0, c1;

			usleep(100000); /* the tail after the last access */
			c0 = cpu_s(p);
			usleep(2000000);
			c1 = cpu_s(p);
			*idle_pct = (c1 - c0) / 2.0 * 100.0;
		}
	}
	if (h)
		vpcie_host_close(h);
	free(v);
	kill(p, SIGTERM);
	waitpid(p, NULL, 0);
	return rc;
}

/* ---- main --------------------------------------------------------------------------- */

enum { F_BARE_IDLE, F_BARE_BUSY, F_MMIO_CYC, F_MMIO_NS, F_RD_CYC, F_RD_MBS, F_RD_BPC,
       F_WR_CYC, F_WR_MBS, F_WR_BPC, F_CP_CYC, F_CP_MBS, F_CP_BPC, F_RTT_RTL, F_RTT_C,
       F_IDLE, F_BARE_IDLE_CPU, F_BARE_BUSY_CPU, F_RD_CPU, F_WR_CPU, F_CP_CPU, NF };
static const char *const fname[NF] = {
	"bare.idle.cycles_per_s", "bare.busy.cycles_per_s", "bridge.mmio.cycles_per_s",
	"bridge.mmio.read_ns", "bridge.read.cycles_per_s", "bridge.read.MB_per_s",
	"bridge.read.bytes_per_cycle", "bridge.write.cycles_per_s", "bridge.write.MB_per_s",
	"bridge.write.bytes_per_cycle", "bridge.copy.cycles_per_s", "bridge.copy.MB_per_s",
	"bridge.copy.bytes_per_cycle", "mmio.rtt.rtl_ns", "mmio.rtt.c_ns", "idle.cpu_percent",
	"bare.idle.cycles_per_cpu_s", "bare.busy.cycles_per_cpu_s", "bridge.read.cycles_per_cpu_s",
	"bridge.write.cycles_per_cpu_s", "bridge.copy.cycles_per_cpu_s",
};

static int one_rep(double *f, const char *vdev, const char *cdev)
{
	static const uint32_t cmds[3] = {EPF_CMD_READ, EPF_CMD_WRITE, EPF_CMD_COPY};
	const uint64_t bare_n = 4000000;
	struct rig g;
	struct vpcie_rtl_stats s0, s1;
	char sock[64];
	double t0, c0;

	if (rig_open(&g))
		return -1;
	/* bare, idle: the model as reset left it */
	t0 = now_s();
	c0 = cpu_now_s();
	vpcie_vl_bare_cycles(g.model, bare_n);
	f[F_BARE_IDLE_CPU] = (double)bare_n / (cpu_now_s() - c0);
	f[F_BARE_IDLE] = (double)bare_n / (now_s() - t0);
	/* bridge, register traffic: write + read back */
	vpcie_rtl_get_stats(g.rtl, &s0);
	t0 = now_s();
	for (uint32_t i = 0; i < 20000; i++) {
		wr32(&g, EPF_REG_MAGIC, i);
		if (rd32(&g, EPF_REG_MAGIC) != i)
			return -1;
	}
	f[F_MMIO_NS] = (now_s() - t0) / 20000 * 1e9;
	vpcie_rtl_get_stats(g.rtl, &s1);
	f[F_MMIO_CYC] = (double)(s1.cycles - s0.cycles) / (now_s() - t0);
	for (unsigned c = 0; c < 3; c++) {
		uint64_t cyc;
		double cpu, s = run_cmd(&g, cmds[c], &cyc, &cpu);

		if (s < 0)
			return -1;
		f[F_RD_CPU + c] = (double)cyc / cpu;
		f[F_RD_CYC + 3 * c] = (double)cyc / s;
		f[F_RD_MBS + 3 * c] = XFER / s / 1e6;
		f[F_RD_BPC + 3 * c] = (double)XFER / (double)cyc;
	}
	rig_close(&g);

	/* bare, busy: a READ that never ends - the model takes a completion
	 * beat every cycle and runs its CRC, inputs held */
	if (rig_open(&g))
		return -1;
	{
		struct vpcie_rtl_in in = {0};
		uint32_t regs[][2] = {{EPF_REG_LOWER_SRC_ADDR, 0}, {EPF_REG_SIZE, 0xfffffff0u},
				      {EPF_REG_IRQ_TYPE, 1}, {EPF_REG_COMMAND, EPF_CMD_READ}};

		for (unsigned i = 0; i < 4; i++) {
			in.req_en = in.req_wr = true;
			in.req_addr = regs[i][0] & ~7u;
			in.req_be = (uint8_t)(0xfu << (regs[i][0] & 4));
			in.req_data = (uint64_t)regs[i][1] << (8 * (regs[i][0] & 4));
			vpcie_vl_model.set_inputs(g.model, &in);
			vpcie_vl_model.clock(g.model);
		}
		memset(&in, 0, sizeof(in));
		in.mrd_rdy = in.mwr_rdy = in.msi_rdy = in.rep_rdy = true;
		in.cpl_en = true;
		in.cpl_size = 8;
		in.cpl_tag = 1;
		memset(in.cpl_data, 0x5a, 8);
		vpcie_vl_model.set_inputs(g.model, &in);
		for (int i = 0; i < 8; i++)
			vpcie_vl_model.clock(g.model);
		t0 = now_s();
		c0 = cpu_now_s();
		vpcie_vl_bare_cycles(g.model, bare_n);
		f[F_BARE_BUSY_CPU] = (double)bare_n / (cpu_now_s() - c0);
		f[F_BARE_BUSY] = (double)bare_n / (now_s() - t0);
	}
	rig_close(&g);

	snprintf(sock, sizeof(sock), "/tmp/vpcie-rtl-bench-%d.sock", (int)getpid());
	if (socket_figures(vdev, sock, 20000, &f[F_RTT_RTL], &f[F_IDLE]))
		return -1;
	if (socket_figures(cdev, sock, 20000, &f[F_RTT_C], NULL))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"reps", required_argument, NULL, 'n'}, {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'}, {0}};
	unsigned reps = 5;
	bool json = false;
	double (*f)[NF], m[NF], col[64];
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'n': reps = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'j': json = true; break;
		case 'h':
			printf("usage: %s [--reps N] [--json] VERILOG_DEVICE C_DEVICE\n"
			       "  vpcie-epf-test-verilog and vpcie-epf-test (see docs/rtl.md)\n", argv[0]);
			return 0;
		default: return 2;
		}
	}
	if (argc - optind != 2 || reps < 1 || reps > 64) {
		fprintf(stderr, "usage: %s [--reps N (1..64)] [--json] VERILOG_DEVICE C_DEVICE\n",
			argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	f = calloc(reps, sizeof(*f));
	if (!f)
		return 1;
	for (unsigned r = 0; r < reps; r++) {
		if (one_rep(f[r], argv[optind], argv[optind + 1])) {
			fprintf(stderr, "vpcie-rtl-bench: run %u failed\n", r);
			return 1;
		}
	}
	for (unsigned k = 0; k < NF; k++) {
		for (unsigned r = 0; r < reps; r++)
			col[r] = f[r][k];
		m[k] = median(col, reps);
	}
	if (json) {
		printf("{\"reps\": %u, \"beat_bytes\": %u", reps, vpcie_vl_payload_bytes());
		for (unsigned k = 0; k < NF; k++)
			printf(", \"%s\": %.4g", fname[k], m[k]);
		printf(", \"bridge_overhead_busy\": %.3g, \"bridge_overhead_busy_cpu\": %.3g"
		       ", \"mmio_rtt_ratio\": %.3g}\n", m[F_BARE_BUSY] / m[F_RD_CYC],
		       m[F_BARE_BUSY_CPU] / m[F_RD_CPU], m[F_RTT_RTL] / m[F_RTT_C]);
	} else {
		printf("vpcie-rtl-bench: pci-epf-test in Verilog, medians of %u runs, %u-byte DMA beats\n",
		       reps, vpcie_vl_payload_bytes());
		printf("  (M cycles/s: wall clock; per CPU-s: this thread's CPU time, what the\n"
		       "   rate would be with a core to itself)\n");
		printf("  bare model, idle            %8.2f M cycles/s, %6.2f per CPU-s (floor)\n",
		       m[F_BARE_IDLE] / 1e6, m[F_BARE_IDLE_CPU] / 1e6);
		printf("  bare model, DMA read beats  %8.2f M cycles/s, %6.2f per CPU-s (floor)\n",
		       m[F_BARE_BUSY] / 1e6, m[F_BARE_BUSY_CPU] / 1e6);
		printf("  bridge, register traffic    %8.2f M cycles/s, read %.0f ns in-process\n",
		       m[F_MMIO_CYC] / 1e6, m[F_MMIO_NS]);
		for (unsigned c2 = 0; c2 < 3; c2++)
			printf("  bridge, %-5s %7u B      %8.2f M cycles/s, %6.2f per CPU-s  %6.1f MB/s  "
			       "%.2f B/cycle (beat %u)\n",
			       c2 == 0 ? "READ" : c2 == 1 ? "WRITE" : "COPY", XFER,
			       m[F_RD_CYC + 3 * c2] / 1e6, m[F_RD_CPU + c2] / 1e6, m[F_RD_MBS + 3 * c2],
			       m[F_RD_BPC + 3 * c2], vpcie_vl_payload_bytes());
		printf("  bridge overhead during DMA read beats: bare / bridge = %.2fx (per CPU-s %.2fx)\n",
		       m[F_BARE_BUSY] / m[F_RD_CYC], m[F_BARE_BUSY_CPU] / m[F_RD_CPU]);
		printf("  MMIO read round trip (socket): Verilog %.1f us, C epf-test %.1f us, ratio %.2f\n",
		       m[F_RTT_RTL] / 1e3, m[F_RTT_C] / 1e3, m[F_RTT_RTL] / m[F_RTT_C]);
		printf("  idle Verilog device after traffic: %.2f %% of a core over 2 s\n", m[F_IDLE]);
	}
	free(f);
	return 0;
}
