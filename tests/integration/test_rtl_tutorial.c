/* SPDX-License-Identifier: MIT */
/*
 * vpcie-rtl-tutorial (rtl/tutorial/tutorial.v under Verilator) or
 * vpcie-rtl-tutorial-vhdl (tutorial.vhd under GHDL), the program given as
 * the argument, behind the RTL bridge, driven by the host library, with
 * shared-memory and message DMA: registers with 1/4/8-byte accesses, the
 * doorbell's DMA write and its MSI, a design that stops answering reads
 * (the host gets an error within the bridge's timeout, not a hang), and an
 * idle device that stops its clock (its CPU time does not grow).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vpcie/host.h>

#define IOVA 0x100000000ull
#define MEM_SIZE (1u << 20)
#define OUTSIDE 0x300000000ull

enum {
	R_ID = 0x00, R_SCRATCH = 0x08, R_DMA_ADDR = 0x10, R_DMA_LEN = 0x18, R_SEED = 0x20,
	R_DOORBELL = 0x28, R_MSI_VEC = 0x30, R_STATUS = 0x38, R_MUTE = 0x40,
};

static const char *prog;

struct fx {
	char dir[64];
	char sock[96];
	pid_t pid;
	struct vpcie_host *h;
	struct vpcie_host_mem *mem;
	uint8_t *buf;
};

static int setup_mode(void **state, bool shared)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vpcie_host_opts o;
	int err = 0;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/vpcie-rtl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/rtl.sock", f->dir);
	f->pid = fork();
	if (f->pid == 0) {
		execl(prog, prog, "--socket", f->sock, (char *)NULL);
		_exit(127);
	}
	vpcie_host_opts_defaults(&o);
	o.timeout_ms = 5000;
	for (int i = 0; i < 500 && access(f->sock, F_OK); i++)
		usleep(10000);
	f->h = vpcie_host_open(f->sock, &o, &err);
	if (!f->h)
		fprintf(stderr, "vpcie_host_open(%s): %s\n", f->sock, strerror(-err));
	assert_non_null(f->h);
	assert_int_equal(vpcie_host_assign_bars(f->h, 0x80000000ull, 0x1000), 0);
	f->mem = vpcie_host_mem_alloc(f->h, MEM_SIZE, IOVA, shared ? VPCIE_HOST_MEM_SHARED : 0);
	assert_non_null(f->mem);
	f->buf = vpcie_host_mem_ptr(f->mem);
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSI, 4), 4);
	*state = f;
	return 0;
}

static int setup_shared(void **state) { return setup_mode(state, true); }
static int setup_msg(void **state) { return setup_mode(state, false); }

static int teardown(void **state)
{
	struct fx *f = *state;
	int status = 0;

	vpcie_host_close(f->h);
	kill(f->pid, SIGTERM);
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(access(f->sock, F_OK), -1); /* the socket is removed */
	rmdir(f->dir);
	free(f);
	return 0;
}

static uint64_t rd(struct fx *f, unsigned off, size_t len)
{
	uint64_t v = 0;

	assert_int_equal(vpcie_host_region_read(f->h, 0, off, &v, len), 0);
	return v;
}

static void wr(struct fx *f, unsigned off, uint64_t v, size_t len)
{
	assert_int_equal(vpcie_host_region_write(f->h, 0, off, &v, len), 0);
}

static void test_registers(void **state)
{
	struct fx *f = *state;

	assert_int_equal(rd(f, R_ID, 4), 0x52544c31);
	assert_int_equal(rd(f, R_ID + 4, 4), 1);
	assert_int_equal(rd(f, R_ID, 8), 0x0000000152544c31ull);
	wr(f, R_SCRATCH, 0x0123456789abcdefull, 8);
	assert_int_equal(rd(f, R_SCRATCH, 8), 0x0123456789abcdefull);
	wr(f, R_SCRATCH + 4, 0xdeadbeef, 4);
	assert_int_equal(rd(f, R_SCRATCH, 8), 0xdeadbeef89abcdefull);
	wr(f, R_SCRATCH + 1, 0x5a, 1);
	assert_int_equal(rd(f, R_SCRATCH, 4), 0x89ab5aef);
	assert_int_equal(rd(f, R_SCRATCH + 1, 1), 0x5a);
	assert_int_equal(rd(f, R_SCRATCH + 6, 2), 0xdead);
	/* beyond the register file: reads as zero */
	assert_int_equal(rd(f, 0x800, 4), 0);
}

static void dma_and_check(struct fx *f, uint64_t off, uint32_t len, uint32_t seed, unsigned vec,
			  uint64_t done)
{
	uint64_t events = 0;

	memset(f->buf, 0, len + 64 + off);
	wr(f, R_DMA_ADDR, IOVA + off, 8);
	wr(f, R_DMA_LEN, len, 8);
	wr(f, R_SEED, seed, 4);
	wr(f, R_MSI_VEC, vec, 4);
	wr(f, R_DOORBELL, 1, 4);
	assert_int_equal(vpcie_host_irq_wait_events(f->h, vec, 5000, &events), 0);
	assert_int_equal(events, 1);
	for (uint32_t i = 0; i < len; i++) {
		uint32_t w = seed + i / 4;

		if (f->buf[off + i] != (uint8_t)(w >> (8 * (i % 4))))
			fail_msg("byte %u: %#x, want %#x", i, f->buf[off + i],
				 (uint8_t)(w >> (8 * (i % 4))));
	}
	assert_int_equal(f->buf[off + len], 0);
	assert_int_equal(rd(f, R_DOORBELL, 8), done);
	assert_int_equal(rd(f, R_STATUS, 4), 0);
}

static void test_dma_write_msi(void **state)
{
	struct fx *f = *state;

	dma_and_check(f, 0x100, 64, 0x1000, 0, 1);
	dma_and_check(f, 0x1004, 4096 + 4, 0xabcd0000, 2, 2); /* not a beat multiple */
	dma_and_check(f, 0x3000, 128 * 1024, 7, 3, 3);
}

/* DMA into memory the host never registered: refused, the device carries on. */
static void test_dma_outside(void **state)
{
	struct fx *f = *state;

	wr(f, R_DMA_ADDR, OUTSIDE, 8);
	wr(f, R_DMA_LEN, 256, 8);
	wr(f, R_MSI_VEC, 1, 4);
	wr(f, R_DOORBELL, 1, 4);
	assert_int_equal(vpcie_host_irq_wait(f->h, 1, 5000), 0);
	assert_int_equal(rd(f, R_DOORBELL, 8), 1);
	dma_and_check(f, 0, 64, 5, 0, 2);
}

/* A design that never answers: an error reply after the bridge's timeout
 * (1 s by default), and the device still serves afterwards. */
static void test_hung_read(void **state)
{
	struct fx *f = *state;
	struct timespec t0, t1;
	uint64_t v = 0;
	int rc;

	wr(f, R_MUTE, 1, 4);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = vpcie_host_region_read(f->h, 0, R_ID, &v, 4);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(rc < 0);
	assert_true(t1.tv_sec - t0.tv_sec < 4);
	wr(f, R_MUTE, 0, 4);
	assert_int_equal(rd(f, R_ID, 4), 0x52544c31);
	wr(f, R_SCRATCH, 77, 4);
	assert_int_equal(rd(f, R_SCRATCH, 4), 77);
}

static long cpu_ticks(pid_t pid)
{
	char path[64], line[1024];
	unsigned long ut = 0, st = 0;
	FILE *fp;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	p = strrchr(line, ')');
	assert_non_null(p);
	/* fields after the command: state(3) ... utime(14) stime(15) */
	assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				&ut, &st), 2);
	return (long)(ut + st);
}

/* After work, the clock stops and the device sleeps in its event loop. */
static void test_idle_sleeps(void **state)
{
	struct fx *f = *state;
	long a, b, hz = sysconf(_SC_CLK_TCK);

	dma_and_check(f, 0, 256, 1, 0, 1);
	usleep(100000);
	a = cpu_ticks(f->pid);
	sleep(1);
	b = cpu_ticks(f->pid);
	/* A free-running clock would use the whole second; allow 5%. */
	if (b - a > hz / 20)
		fail_msg("idle device used %ld ticks of %ld in 1 s", b - a, hz);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registers, setup_shared, teardown),
		cmocka_unit_test_setup_teardown(test_dma_write_msi, setup_shared, teardown),
		cmocka_unit_test_setup_teardown(test_dma_write_msi, setup_msg, teardown),
		cmocka_unit_test_setup_teardown(test_dma_outside, setup_shared, teardown),
		cmocka_unit_test_setup_teardown(test_dma_outside, setup_msg, teardown),
		cmocka_unit_test_setup_teardown(test_hung_read, setup_shared, teardown),
		cmocka_unit_test_setup_teardown(test_idle_sleeps, setup_shared, teardown),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s VPCIE_RTL_TUTORIAL\n", argv[0]);
		return 2;
	}
	prog = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
