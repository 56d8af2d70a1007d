/* SPDX-License-Identifier: MIT */
/*
 * vpcie-epf-test's failure paths, through raw register access with the host
 * runtime: a checksum that does not match, DMA addresses outside the host's
 * registered memory (or read-only, or wrapping), IRQ numbers beyond what is
 * enabled, an invalid IRQ type, unknown command bits, bus mastering off.
 * Each must leave the STATUS bits pci-epf-test would set, and the device
 * must keep serving afterwards. Data cases run with shared host memory and
 * with message DMA (no fd).
 *
 * argv[1] (or $VPCIE_EPF) is the vpcie-epf-test program.
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

#include "epf_crc.h"
#include "epf_regs.h"

#define IOVA 0x100000000ull    /* registered host memory */
#define MEM_SIZE (1u << 20)
#define RO_IOVA 0x200000000ull /* registered read-only */
#define OUTSIDE 0x300000000ull /* nothing registered here */
#define QUIET_MS 200           /* how long "no interrupt" is watched */

static const char *epf_prog;

struct fx {
	char dir[64];
	char sock[96];
	pid_t pid;
	struct vpcie_host *h;
	struct vpcie_host_mem *mem, *ro;
	uint8_t *buf;
	bool shared;
	unsigned nvec;
};

/* ---- Process and connection ------------------------------------------------- */

static pid_t spawn(const char *sock)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl(epf_prog, epf_prog, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static struct vpcie_host *connect_dev(const char *sock)
{
	struct vpcie_host_opts o;
	struct vpcie_host *h;
	int err = 0;

	vpcie_host_opts_defaults(&o);
	o.timeout_ms = 5000;
	h = vpcie_host_open(sock, &o, &err);
	if (!h)
		fprintf(stderr, "vpcie_host_open(%s): %s\n", sock, strerror(-err));
	assert_non_null(h);
	assert_int_equal(vpcie_host_assign_bars(h, 0x80000000ull, 0x1000), 0);
	return h;
}

static void attach_mem(struct fx *f)
{
	unsigned fl = f->shared ? VPCIE_HOST_MEM_SHARED : 0;

	f->mem = vpcie_host_mem_alloc(f->h, MEM_SIZE, IOVA, fl);
	assert_non_null(f->mem);
	f->buf = vpcie_host_mem_ptr(f->mem);
	f->ro = vpcie_host_mem_alloc(f->h, 65536, RO_IOVA, fl | VPCIE_HOST_MEM_READONLY);
	assert_non_null(f->ro);
}

static int setup_mode(void **state, bool shared)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/vpcie-epfneg-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/epf.sock", f->dir);
	f->pid = spawn(f->sock);
	f->shared = shared;
	f->h = connect_dev(f->sock);
	attach_mem(f);
	f->nvec = 32;
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSI, 32), 32);
	*state = f;
	return 0;
}

static int setup_shared(void **state) { return setup_mode(state, true); }
static int setup_msg(void **state) { return setup_mode(state, false); }

static int teardown(void **state)
{
	struct fx *f = *state;
	int status = 0;

	if (f->h)
		vpcie_host_close(f->h);
	kill(f->pid, SIGTERM);
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- Registers ------------------------------------------------------------- */

static uint32_t reg(struct fx *f, unsigned off)
{
	int err = 0;
	uint32_t v = vpcie_host_bar_read32(f->h, 0, off, &err);

	assert_int_equal(err, 0);
	return v;
}

static void set_reg(struct fx *f, unsigned off, uint32_t v)
{
	assert_int_equal(vpcie_host_bar_write32(f->h, 0, off, v), 0);
}

static void set_addrs(struct fx *f, uint64_t src, uint64_t dst, uint32_t size)
{
	set_reg(f, EPF_REG_LOWER_SRC_ADDR, (uint32_t)src);
	set_reg(f, EPF_REG_UPPER_SRC_ADDR, (uint32_t)(src >> 32));
	set_reg(f, EPF_REG_LOWER_DST_ADDR, (uint32_t)dst);
	set_reg(f, EPF_REG_UPPER_DST_ADDR, (uint32_t)(dst >> 32));
	set_reg(f, EPF_REG_SIZE, size);
}

/* Issue a command with IRQ_TYPE/IRQ_NUMBER. */
static void command(struct fx *f, uint32_t cmd, uint32_t irq_type, uint32_t irq_number)
{
	set_reg(f, EPF_REG_STATUS, 0xdead0000u); /* the device must overwrite it */
	set_reg(f, EPF_REG_IRQ_TYPE, irq_type);
	set_reg(f, EPF_REG_IRQ_NUMBER, irq_number);
	set_reg(f, EPF_REG_COMMAND, cmd);
}

/* The command has run once COMMAND reads 0 again (the device clears it
 * first and, being single-threaded, finishes before answering us). */
static void wait_done(struct fx *f)
{
	for (int i = 0; i < 5000; i++) {
		if (reg(f, EPF_REG_COMMAND) == 0)
			return;
		usleep(1000);
	}
	fail_msg("COMMAND never cleared");
}

static void expect_irq(struct fx *f, unsigned vec)
{
	assert_int_equal(vpcie_host_irq_wait(f->h, vec, 5000), 0);
}

/* No vector fires for QUIET_MS. */
static void expect_no_irq(struct fx *f)
{
	int rc = vpcie_host_poll(f->h, QUIET_MS);

	assert_true(rc >= 0 || rc == -ETIMEDOUT);
	for (unsigned i = 0; i < f->nvec; i++)
		assert_int_equal(vpcie_host_irq_take(f->h, i), 0);
}

/* A good READ afterwards: the device still serves. */
static void still_serving(struct fx *f)
{
	memset(f->buf, 0x5a, 4096);
	set_reg(f, EPF_REG_CHECKSUM, epf_checksum(f->buf, 4096));
	set_reg(f, EPF_REG_FLAGS, 0);
	set_addrs(f, IOVA, 0, 4096);
	command(f, EPF_CMD_READ, EPF_IRQ_TYPE_MSI, 1);
	expect_irq(f, 0);
	assert_int_equal(reg(f, EPF_REG_STATUS), EPF_STATUS_READ_SUCCESS | EPF_STATUS_IRQ_RAISED);
}

/* Run cmd expecting an interrupt on vector 0 and exactly this STATUS. */
static void run_expect(struct fx *f, uint32_t cmd, uint32_t want)
{
	command(f, cmd, EPF_IRQ_TYPE_MSI, 1);
	expect_irq(f, 0);
	assert_int_equal(reg(f, EPF_REG_STATUS), want);
	assert_int_equal(reg(f, EPF_REG_COMMAND), 0);
}

/* ---- Tests ------------------------------------------------------------------- */

static void test_registers(void **state)
{
	struct fx *f = *state;

	assert_int_equal(reg(f, EPF_REG_CAPS), EPF_CAP_UNALIGNED_ACCESS | EPF_CAP_MSI |
						       EPF_CAP_MSIX | EPF_CAP_INTX);
	/* Plain read/write memory, MAGIC included (the BAR test writes it). */
	set_reg(f, EPF_REG_MAGIC, 0xa0a0a0a0u);
	assert_int_equal(reg(f, EPF_REG_MAGIC), 0xa0a0a0a0u);
	set_reg(f, EPF_REG_CHECKSUM, 0x12345678u);
	assert_int_equal(reg(f, EPF_REG_CHECKSUM), 0x12345678u);
	/* A reset brings the registers back; CAPS stays. */
	assert_int_equal(vpcie_host_reset(f->h), 0);
	/* BARs (memory decoding) and interrupts must be set up again. */
	assert_int_equal(vpcie_host_assign_bars(f->h, 0x80000000ull, 0x1000), 0);
	assert_int_equal(reg(f, EPF_REG_MAGIC), 0);
	assert_int_equal(reg(f, EPF_REG_CHECKSUM), 0);
	assert_int_equal(reg(f, EPF_REG_CAPS), 0xfu);
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSI, 32), 32);
	still_serving(f);
}

static void test_bad_checksum(void **state)
{
	struct fx *f = *state;
	uint32_t crc;

	for (size_t i = 0; i < 1025; i++)
		f->buf[i] = (uint8_t)(i * 7 + 3);
	crc = epf_checksum(f->buf, 1025);
	set_addrs(f, IOVA, 0, 1025);
	set_reg(f, EPF_REG_FLAGS, 0);
	set_reg(f, EPF_REG_CHECKSUM, crc ^ 1);
	run_expect(f, EPF_CMD_READ, EPF_STATUS_READ_FAIL | EPF_STATUS_IRQ_RAISED);
	/* With the DMA flag: same data path, same answer. */
	set_reg(f, EPF_REG_FLAGS, EPF_FLAG_USE_DMA);
	run_expect(f, EPF_CMD_READ, EPF_STATUS_READ_FAIL | EPF_STATUS_IRQ_RAISED);
	/* The right checksum passes. */
	set_reg(f, EPF_REG_CHECKSUM, crc);
	run_expect(f, EPF_CMD_READ, EPF_STATUS_READ_SUCCESS | EPF_STATUS_IRQ_RAISED);
	/* Zero bytes: crc32_le(~0, nothing) is ~0. */
	set_reg(f, EPF_REG_SIZE, 0);
	set_reg(f, EPF_REG_CHECKSUM, 0xffffffffu);
	run_expect(f, EPF_CMD_READ, EPF_STATUS_READ_SUCCESS | EPF_STATUS_IRQ_RAISED);
	still_serving(f);
}

static void test_read_outside(void **state)
{
	struct fx *f = *state;
	static const struct { uint64_t addr; uint32_t size; } bad[] = {
		{OUTSIDE, 4096},                  /* nothing there */
		{IOVA + MEM_SIZE - 100, 4096},    /* runs off the end */
		{IOVA - 4096, 8192},              /* starts below */
		{0xfffffffffffff000ull, 0x2000},  /* wraps */
		{IOVA + MEM_SIZE, 1},             /* one past the end */
	};

	set_reg(f, EPF_REG_FLAGS, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_addrs(f, bad[i].addr, 0, bad[i].size);
		run_expect(f, EPF_CMD_READ, EPF_STATUS_READ_FAIL | EPF_STATUS_SRC_ADDR_INVALID |
						    EPF_STATUS_IRQ_RAISED);
	}
	still_serving(f);
	/* Without shared memory the data really went through DMA messages. */
	if (!f->shared)
		assert_true(vpcie_host_dma_served(f->h) > 0);
	else
		assert_int_equal(vpcie_host_dma_served(f->h), 0);
}

static void test_write_outside(void **state)
{
	struct fx *f = *state;

	set_reg(f, EPF_REG_FLAGS, 0);
	set_addrs(f, 0, OUTSIDE, 1024);
	run_expect(f, EPF_CMD_WRITE, EPF_STATUS_WRITE_FAIL | EPF_STATUS_DST_ADDR_INVALID |
					     EPF_STATUS_IRQ_RAISED);
	set_addrs(f, 0, IOVA + MEM_SIZE - 1, 2);
	run_expect(f, EPF_CMD_WRITE, EPF_STATUS_WRITE_FAIL | EPF_STATUS_DST_ADDR_INVALID |
					     EPF_STATUS_IRQ_RAISED);
	/* Registered but read-only for the device. */
	set_addrs(f, 0, RO_IOVA, 64);
	run_expect(f, EPF_CMD_WRITE, EPF_STATUS_WRITE_FAIL | EPF_STATUS_DST_ADDR_INVALID |
					     EPF_STATUS_IRQ_RAISED);
	/* Reading read-only memory is fine. */
	memset(vpcie_host_mem_ptr(f->ro), 0x33, 64);
	set_reg(f, EPF_REG_CHECKSUM, epf_checksum(vpcie_host_mem_ptr(f->ro), 64));
	set_addrs(f, RO_IOVA, 0, 64);
	run_expect(f, EPF_CMD_READ, EPF_STATUS_READ_SUCCESS | EPF_STATUS_IRQ_RAISED);
	/* And a good WRITE: CHECKSUM describes what landed in host memory. */
	set_addrs(f, 0, IOVA + 3, 5000);
	run_expect(f, EPF_CMD_WRITE, EPF_STATUS_WRITE_SUCCESS | EPF_STATUS_IRQ_RAISED);
	assert_int_equal(reg(f, EPF_REG_CHECKSUM), epf_checksum(f->buf + 3, 5000));
	still_serving(f);
}

static void test_copy_outside(void **state)
{
	struct fx *f = *state;

	set_reg(f, EPF_REG_FLAGS, EPF_FLAG_USE_DMA);
	memset(f->buf + 8192, 0xee, 4096);
	set_addrs(f, OUTSIDE, IOVA + 8192, 4096);
	run_expect(f, EPF_CMD_COPY, EPF_STATUS_COPY_FAIL | EPF_STATUS_SRC_ADDR_INVALID |
					    EPF_STATUS_IRQ_RAISED);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(f->buf[8192 + i], 0xee); /* destination untouched */
	set_addrs(f, IOVA, OUTSIDE, 4096);
	run_expect(f, EPF_CMD_COPY, EPF_STATUS_COPY_FAIL | EPF_STATUS_DST_ADDR_INVALID |
					    EPF_STATUS_IRQ_RAISED);
	set_addrs(f, IOVA, RO_IOVA, 4096);
	run_expect(f, EPF_CMD_COPY, EPF_STATUS_COPY_FAIL | EPF_STATUS_DST_ADDR_INVALID |
					    EPF_STATUS_IRQ_RAISED);
	/* A good overlapping copy. */
	for (size_t i = 0; i < 8192; i++)
		f->buf[i] = (uint8_t)i;
	set_addrs(f, IOVA, IOVA + 1, 4096);
	run_expect(f, EPF_CMD_COPY, EPF_STATUS_COPY_SUCCESS | EPF_STATUS_IRQ_RAISED);
	assert_int_equal(f->buf[0], 0);
	assert_int_equal(f->buf[1], 0);
	assert_int_equal(f->buf[4096], 4095 & 0xff);
	still_serving(f);
}

static void test_irq_beyond(void **state)
{
	struct fx *f = *state;

	/* The host enables only 4 MSI vectors. */
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSI, 4), 4);
	f->nvec = 4;
	/* RAISE_MSI beyond what is enabled (or 0): no IRQ_RAISED, no interrupt. */
	for (uint32_t n = 0; n <= 40; n += 5) {
		if (n >= 1 && n <= 4)
			continue;
		command(f, EPF_CMD_RAISE_MSI_IRQ, EPF_IRQ_TYPE_MSI, n);
		wait_done(f);
		expect_no_irq(f);
		assert_int_equal(reg(f, EPF_REG_STATUS), 0);
	}
	/* RAISE_MSIX while MSI is in use: MSI-X has no enabled vectors. */
	command(f, EPF_CMD_RAISE_MSIX_IRQ, EPF_IRQ_TYPE_MSIX, 1);
	wait_done(f);
	expect_no_irq(f);
	assert_int_equal(reg(f, EPF_REG_STATUS), 0);
	/* The last enabled vector works. */
	command(f, EPF_CMD_RAISE_MSI_IRQ, EPF_IRQ_TYPE_MSI, 4);
	expect_irq(f, 3);
	assert_int_equal(reg(f, EPF_REG_STATUS), EPF_STATUS_IRQ_RAISED);
	/* A transfer whose IRQ number is not enabled: the status says it was
	 * raised (pci-epf-test sets IRQ_RAISED first), nothing arrives. */
	memset(f->buf, 1, 100);
	set_reg(f, EPF_REG_CHECKSUM, epf_checksum(f->buf, 100));
	set_addrs(f, IOVA, 0, 100);
	command(f, EPF_CMD_READ, EPF_IRQ_TYPE_MSI, 9);
	wait_done(f);
	expect_no_irq(f);
	assert_int_equal(reg(f, EPF_REG_STATUS), EPF_STATUS_READ_SUCCESS | EPF_STATUS_IRQ_RAISED);

	/* MSI-X with 2048 table entries: 2049 is beyond. */
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSIX, 8), 8);
	f->nvec = 8;
	command(f, EPF_CMD_RAISE_MSIX_IRQ, EPF_IRQ_TYPE_MSIX, 2049);
	wait_done(f);
	expect_no_irq(f);
	assert_int_equal(reg(f, EPF_REG_STATUS), 0);
	command(f, EPF_CMD_RAISE_MSI_IRQ, EPF_IRQ_TYPE_MSI, 1); /* MSI is off now */
	wait_done(f);
	expect_no_irq(f);
	assert_int_equal(reg(f, EPF_REG_STATUS), 0);
	command(f, EPF_CMD_RAISE_MSIX_IRQ, EPF_IRQ_TYPE_MSIX, 8);
	expect_irq(f, 7);
	assert_int_equal(reg(f, EPF_REG_STATUS), EPF_STATUS_IRQ_RAISED);

	/* Legacy: raised while INTx is not in use -> STATUS, no interrupt. */
	command(f, EPF_CMD_RAISE_LEGACY_IRQ, EPF_IRQ_TYPE_LEGACY, 0);
	wait_done(f);
	expect_no_irq(f);
	assert_int_equal(reg(f, EPF_REG_STATUS), EPF_STATUS_IRQ_RAISED);
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_INTX, 1), 1);
	f->nvec = 1;
	command(f, EPF_CMD_RAISE_LEGACY_IRQ, EPF_IRQ_TYPE_LEGACY, 0);
	expect_irq(f, 0);
	assert_int_equal(reg(f, EPF_REG_STATUS), EPF_STATUS_IRQ_RAISED);

	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSI, 32), 32);
	f->nvec = 32;
	still_serving(f);
}

static void test_bad_type_and_command(void **state)
{
	struct fx *f = *state;

	/* IRQ_TYPE above MSI-X: the command is dropped, STATUS 0, no interrupt. */
	memset(f->buf, 2, 64);
	set_reg(f, EPF_REG_CHECKSUM, epf_checksum(f->buf, 64));
	set_addrs(f, IOVA, 0, 64);
	command(f, EPF_CMD_READ, 3, 1);
	wait_done(f);
	expect_no_irq(f);
	assert_int_equal(reg(f, EPF_REG_STATUS), 0);
	/* Doorbell commands: this EP has none, and says so with an interrupt. */
	run_expect(f, EPF_CMD_ENABLE_DOORBELL,
		   EPF_STATUS_DOORBELL_ENABLE_FAIL | EPF_STATUS_IRQ_RAISED);
	run_expect(f, EPF_CMD_DISABLE_DOORBELL,
		   EPF_STATUS_DOORBELL_DISABLE_FAIL | EPF_STATUS_IRQ_RAISED);
	/* Bits no version knows the meaning of: ignored. */
	command(f, 1u << 8, EPF_IRQ_TYPE_MSI, 1);
	wait_done(f);
	expect_no_irq(f);
	assert_int_equal(reg(f, EPF_REG_STATUS), 0);
	command(f, 1u << 31, EPF_IRQ_TYPE_MSI, 1);
	wait_done(f);
	expect_no_irq(f);
	assert_int_equal(reg(f, EPF_REG_STATUS), 0);
	/* Several bits: 6.1 takes the first in its order (WRITE before READ). */
	set_addrs(f, IOVA, IOVA + 4096, 64);
	run_expect(f, EPF_CMD_READ | EPF_CMD_WRITE,
		   EPF_STATUS_WRITE_SUCCESS | EPF_STATUS_IRQ_RAISED);
	still_serving(f);
}

static void test_bus_master_off(void **state)
{
	struct fx *f = *state;
	int err = 0;
	uint16_t cmd = vpcie_host_cfg_read16(f->h, PCI_COMMAND, &err);

	assert_int_equal(err, 0);
	assert_int_equal(vpcie_host_cfg_write16(f->h, PCI_COMMAND, cmd & ~PCI_COMMAND_MASTER), 0);
	memset(f->buf, 3, 64);
	set_reg(f, EPF_REG_CHECKSUM, epf_checksum(f->buf, 64));
	set_addrs(f, IOVA, 0, 64);
	command(f, EPF_CMD_READ, EPF_IRQ_TYPE_MSI, 1);
	wait_done(f);
	/* No DMA and no MSI without bus mastering; not an address problem. */
	expect_no_irq(f);
	assert_int_equal(reg(f, EPF_REG_STATUS), EPF_STATUS_READ_FAIL | EPF_STATUS_IRQ_RAISED);
	assert_int_equal(vpcie_host_cfg_write16(f->h, PCI_COMMAND, cmd), 0);
	still_serving(f);
}

static void test_reconnect(void **state)
{
	struct fx *f = *state;

	set_reg(f, EPF_REG_MAGIC, 0x600dcafe);
	vpcie_host_mem_free(f->ro);
	vpcie_host_mem_free(f->mem);
	vpcie_host_close(f->h);
	/* The device keeps its state and takes the next client. */
	f->h = connect_dev(f->sock);
	assert_int_equal(reg(f, EPF_REG_MAGIC), 0x600dcafe);
	attach_mem(f);
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSI, 32), 32);
	still_serving(f);
}

int main(int argc, char **argv)
{
#define BOTH(fn) cmocka_unit_test_setup_teardown(fn, setup_shared, teardown), \
		 cmocka_unit_test_setup_teardown(fn, setup_msg, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registers, setup_shared, teardown),
		BOTH(test_bad_checksum),
		BOTH(test_read_outside),
		BOTH(test_write_outside),
		BOTH(test_copy_outside),
		cmocka_unit_test_setup_teardown(test_irq_beyond, setup_shared, teardown),
		cmocka_unit_test_setup_teardown(test_bad_type_and_command, setup_shared, teardown),
		BOTH(test_bus_master_off),
		BOTH(test_reconnect),
	};

	epf_prog = argc > 1 ? argv[1] : getenv("VPCIE_EPF");
	if (!epf_prog) {
		fprintf(stderr, "usage: %s VPCIE_EPF_TEST_PROGRAM\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
