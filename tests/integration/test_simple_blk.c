/* SPDX-License-Identifier: MIT */
/*
 * vpcie-simple-blk driven through its registers with the host runtime, as
 * docs/simple-blk.md tells a driver writer to: identity and reset values,
 * PIO reads and writes through the DATA window, DMA reads and writes with
 * shared host memory and with DMA messages, completion interrupts by MSI and
 * by INTx (level: held until acked), and the errors a hostile or buggy
 * driver provokes - sectors beyond the disk, counts that overflow, DMA
 * outside host memory or with bus mastering off, a start while busy, bad
 * register accesses. The image file is checked from here after every
 * command; an error must leave it unchanged.
 *
 * argv[1] (or $VPCIE_SIMPLE_BLK) is the vpcie-simple-blk program.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <vpcie/host.h>

#include "simple_blk_regs.h"

#define SECTORS 4096u              /* a 2 MiB image */
#define IMG_SIZE ((size_t)SECTORS * SBLK_SECTOR_SIZE)
#define XFER ((size_t)SBLK_MAX_COUNT_VALUE * SBLK_SECTOR_SIZE)
#define IOVA 0x100000000ull        /* registered host memory */
#define MEM_SIZE (4 * XFER)
#define OUTSIDE 0x300000000ull     /* nothing registered here */
#define QUIET_MS 200               /* how long "no interrupt" is watched */

static const char *prog;

struct fx {
	char dir[64], sock[96], img[96];
	pid_t pid;
	int img_fd;
	struct vpcie_host *h;
	struct vpcie_host_mem *mem;
	uint8_t *buf;
};

/* ---- Process, image and connection ------------------------------------------ */

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 9)) ^ seed);
}

static void image_read(struct fx *f, uint64_t sector, void *buf, size_t len)
{
	assert_int_equal(pread(f->img_fd, buf, len, (off_t)(sector * SBLK_SECTOR_SIZE)),
			 (ssize_t)len);
}

static void image_write(struct fx *f, uint64_t sector, const void *buf, size_t len)
{
	assert_int_equal(pwrite(f->img_fd, buf, len, (off_t)(sector * SBLK_SECTOR_SIZE)),
			 (ssize_t)len);
}

static int setup_mode(void **state, bool shared)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vpcie_host_opts o;
	uint8_t *img = malloc(IMG_SIZE);
	int err = 0;

	assert_non_null(f);
	assert_non_null(img);
	strcpy(f->dir, "/tmp/vpcie-sblk-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/sblk.sock", f->dir);
	snprintf(f->img, sizeof(f->img), "%s/disk.img", f->dir);
	/* A known image: every sector different. */
	f->img_fd = open(f->img, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(f->img_fd >= 0);
	fill(img, IMG_SIZE, 1);
	image_write(f, 0, img, IMG_SIZE);
	free(img);
	f->pid = fork();
	if (f->pid == 0) {
		execl(prog, prog, "--socket", f->sock, "--image", f->img, (char *)NULL);
		_exit(127);
	}
	vpcie_host_opts_defaults(&o);
	f->h = vpcie_host_open(f->sock, &o, &err);
	if (!f->h)
		fprintf(stderr, "vpcie_host_open(%s): %s\n", f->sock, strerror(-err));
	assert_non_null(f->h);
	assert_int_equal(vpcie_host_assign_bars(f->h, 0x80000000ull, 0x1000), 0);
	f->mem = vpcie_host_mem_alloc(f->h, MEM_SIZE, IOVA, shared ? VPCIE_HOST_MEM_SHARED : 0);
	assert_non_null(f->mem);
	f->buf = vpcie_host_mem_ptr(f->mem);
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
	close(f->img_fd);
	unlink(f->img);
	rmdir(f->dir);
	free(f);
	/* a clean exit on SIGTERM, the socket removed */
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}

/* ---- Registers ----------------------------------------------------------------- */

static uint32_t rd(struct fx *f, unsigned off)
{
	int err = 0;
	uint32_t v = vpcie_host_bar_read32(f->h, 0, off, &err);

	assert_int_equal(err, 0);
	return v;
}

static void wr(struct fx *f, unsigned off, uint32_t v)
{
	assert_int_equal(vpcie_host_bar_write32(f->h, 0, off, v), 0);
}

static void wr64(struct fx *f, unsigned lo, uint64_t v)
{
	wr(f, lo, (uint32_t)v);
	wr(f, lo + 4, (uint32_t)(v >> 32));
}

/* Program a command and start it; returns without waiting. */
static void start(struct fx *f, uint64_t sector, uint32_t count, uint64_t addr, uint32_t how)
{
	wr64(f, SBLK_REG_SECTOR_LO, sector);
	wr(f, SBLK_REG_COUNT, count);
	wr64(f, SBLK_REG_DMA_ADDR_LO, addr);
	wr(f, SBLK_REG_STATUS, SBLK_STATUS_S | how);
}

/* Poll STATUS until B clears (the host serves the device's DMA meanwhile). */
static uint32_t wait_idle(struct fx *f)
{
	for (int i = 0; i < 20000; i++) {
		uint32_t st = rd(f, SBLK_REG_STATUS);

		if (!(st & SBLK_STATUS_B))
			return st;
		usleep(100);
	}
	fail_msg("the command never completed");
	return 0;
}

/* Run a command to completion; returns ERROR (0 when E is clear). */
static uint32_t run(struct fx *f, uint64_t sector, uint32_t count, uint64_t addr, uint32_t how)
{
	uint32_t st;

	start(f, sector, count, addr, how);
	st = wait_idle(f);
	assert_true(st & SBLK_STATUS_R);
	assert_int_equal(st & (SBLK_STATUS_RW | SBLK_STATUS_DMA), how);
	wr(f, SBLK_REG_IRQ_ACK, SBLK_IRQ_DONE);
	if (!(st & SBLK_STATUS_E)) {
		assert_int_equal(rd(f, SBLK_REG_ERROR), 0);
		return 0;
	}
	return rd(f, SBLK_REG_ERROR);
}

/* ---- Identity and reset values ------------------------------------------------------ */

static void test_identity(void **state)
{
	struct fx *f = *state;
	int err = 0;
	uint32_t id = vpcie_host_cfg_read32(f->h, PCI_VENDOR_ID, &err);
	uint32_t class = vpcie_host_cfg_read32(f->h, PCI_CLASS_REVISION, &err);
	const struct vpcie_host_bar *bar0 = vpcie_host_bar(f->h, 0);

	assert_int_equal(err, 0);
	assert_int_equal(id, (uint32_t)SBLK_DEVICE_ID << 16 | SBLK_VENDOR_ID);
	assert_int_equal(class, (uint32_t)SBLK_CLASS << 8 | SBLK_REVISION);
	assert_true(bar0->present && !bar0->is_io && !bar0->is_64);
	assert_int_equal(bar0->size, SBLK_BAR0_SIZE);
	assert_true(vpcie_host_find_cap(f->h, PCI_CAP_ID_MSI) > 0);
	assert_int_equal(rd(f, SBLK_REG_ID), SBLK_ID_VALUE);
	assert_int_equal(rd(f, SBLK_REG_VERSION), SBLK_VERSION_VALUE);
	assert_int_equal(rd(f, SBLK_REG_STATUS), SBLK_STATUS_I | SBLK_STATUS_R);
	assert_int_equal(rd(f, SBLK_REG_ERROR), 0);
	assert_int_equal(rd(f, SBLK_REG_IRQ_STATUS), 0);
	assert_int_equal(rd(f, SBLK_REG_CONTROL), 0);
	assert_int_equal(rd(f, SBLK_REG_CAPACITY_LO), SECTORS);
	assert_int_equal(rd(f, SBLK_REG_CAPACITY_HI), 0);
	assert_int_equal(rd(f, SBLK_REG_MAX_COUNT), SBLK_MAX_COUNT_VALUE);
	/* read-only registers ignore writes */
	wr(f, SBLK_REG_ID, 0);
	wr(f, SBLK_REG_CAPACITY_LO, 1);
	assert_int_equal(rd(f, SBLK_REG_ID), SBLK_ID_VALUE);
	assert_int_equal(rd(f, SBLK_REG_CAPACITY_LO), SECTORS);
}

/* Accesses the datasheet does not allow are refused; 8-byte accesses to
 * the 64-bit registers work; the DATA window takes any size. */
static void test_access(void **state)
{
	struct fx *f = *state;
	uint8_t b[8];
	uint64_t q = 0x0000000100000002ull, r = 0;

	assert_int_not_equal(vpcie_host_region_read(f->h, 0, SBLK_REG_ID, b, 1), 0);
	assert_int_not_equal(vpcie_host_region_read(f->h, 0, SBLK_REG_ID + 2, b, 4), 0);
	assert_int_not_equal(vpcie_host_region_write(f->h, 0, SBLK_REG_COUNT, b, 2), 0);
	assert_int_not_equal(vpcie_host_region_read(f->h, 0, SBLK_REG_COUNT, b, 8), 0);
	/* straddling the end of the DATA window */
	assert_int_not_equal(vpcie_host_region_read(f->h, 0, SBLK_REG_DATA + SBLK_DATA_SIZE - 4,
						    b, 8), 0);
	assert_int_equal(vpcie_host_region_write(f->h, 0, SBLK_REG_SECTOR_LO, &q, 8), 0);
	assert_int_equal(rd(f, SBLK_REG_SECTOR_LO), 2);
	assert_int_equal(rd(f, SBLK_REG_SECTOR_HI), 1);
	assert_int_equal(vpcie_host_region_read(f->h, 0, SBLK_REG_CAPACITY_LO, &r, 8), 0);
	assert_int_equal(r, SECTORS);
	assert_int_equal(vpcie_host_region_write(f->h, 0, SBLK_REG_DATA + 3, "xyz", 3), 0);
	assert_int_equal(vpcie_host_region_read(f->h, 0, SBLK_REG_DATA + 3, b, 3), 0);
	assert_memory_equal(b, "xyz", 3);
	/* still serving */
	assert_int_equal(rd(f, SBLK_REG_ID), SBLK_ID_VALUE);
}

/* ---- PIO: one sector through the DATA window ------------------------------------------ */

static void test_pio(void **state)
{
	struct fx *f = *state;
	uint8_t out[SBLK_SECTOR_SIZE], in[SBLK_SECTOR_SIZE], want[SBLK_SECTOR_SIZE];
	const uint64_t sec = 1234;

	/* write: fill the window, start with RW */
	fill(out, sizeof(out), 77);
	assert_int_equal(vpcie_host_region_write(f->h, 0, SBLK_REG_DATA, out, sizeof(out)), 0);
	assert_int_equal(run(f, sec, 1, 0, SBLK_STATUS_RW), 0);
	image_read(f, sec, in, sizeof(in));
	assert_memory_equal(in, out, sizeof(out));
	/* read: the last sector of the disk lands in the window */
	image_read(f, SECTORS - 1, want, sizeof(want));
	assert_int_equal(run(f, SECTORS - 1, 1, 0, 0), 0);
	assert_int_equal(vpcie_host_region_read(f->h, 0, SBLK_REG_DATA, in, sizeof(in)), 0);
	assert_memory_equal(in, want, sizeof(want));
	assert_int_equal(rd(f, SBLK_REG_COMMANDS), 2);
}

/* ---- DMA: up to MAX_COUNT sectors to and from host memory ------------------------------- */

static void test_dma(void **state)
{
	struct fx *f = *state;
	uint8_t *img = malloc(XFER);
	const uint32_t counts[] = {1, 7, SBLK_MAX_COUNT_VALUE};

	assert_non_null(img);
	for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		uint32_t n = counts[i];
		size_t len = (size_t)n * SBLK_SECTOR_SIZE;
		uint64_t sec = 100 + 300 * i;

		/* disk -> host, at an unaligned spot of host memory */
		memset(f->buf, 0xee, MEM_SIZE);
		assert_int_equal(run(f, sec, n, IOVA + 8, SBLK_STATUS_DMA), 0);
		image_read(f, sec, img, len);
		assert_memory_equal(f->buf + 8, img, len);
		assert_int_equal(f->buf[7], 0xee);
		assert_int_equal(f->buf[8 + len], 0xee);
		/* host -> disk, into the last sectors */
		fill(f->buf + XFER, len, 200 + i);
		assert_int_equal(run(f, SECTORS - n, n, IOVA + XFER, SBLK_STATUS_DMA | SBLK_STATUS_RW),
				 0);
		image_read(f, SECTORS - n, img, len);
		assert_memory_equal(img, f->buf + XFER, len);
	}
	free(img);
}

/* ---- Interrupts ------------------------------------------------------------------------ */

static void test_msi(void **state)
{
	struct fx *f = *state;

	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSI, 1), 1);
	/* IE clear: completion shows in IRQ_STATUS, no interrupt */
	start(f, 0, 1, 0, 0);
	wait_idle(f);
	assert_int_equal(vpcie_host_irq_wait(f->h, 0, QUIET_MS), -ETIMEDOUT);
	assert_int_equal(rd(f, SBLK_REG_IRQ_STATUS), SBLK_IRQ_DONE);
	wr(f, SBLK_REG_IRQ_ACK, SBLK_IRQ_DONE);
	assert_int_equal(rd(f, SBLK_REG_IRQ_STATUS), 0);
	/* IE set: one MSI per command */
	wr(f, SBLK_REG_CONTROL, SBLK_CTRL_IE);
	assert_int_equal(rd(f, SBLK_REG_CONTROL), SBLK_CTRL_IE);
	for (int i = 0; i < 3; i++) {
		uint64_t events = 0;

		start(f, (uint64_t)i, 4, IOVA, SBLK_STATUS_DMA);
		assert_int_equal(vpcie_host_irq_wait_events(f->h, 0, 2000, &events), 0);
		assert_int_equal(events, 1);
		assert_int_equal(rd(f, SBLK_REG_IRQ_STATUS), SBLK_IRQ_DONE);
		assert_int_equal(rd(f, SBLK_REG_STATUS) & (SBLK_STATUS_B | SBLK_STATUS_E), 0);
		wr(f, SBLK_REG_IRQ_ACK, SBLK_IRQ_DONE);
	}
	/* a failed command interrupts too */
	start(f, SECTORS, 1, IOVA, SBLK_STATUS_DMA);
	assert_int_equal(vpcie_host_irq_wait(f->h, 0, 2000), 0);
	assert_true(rd(f, SBLK_REG_STATUS) & SBLK_STATUS_E);
	wr(f, SBLK_REG_IRQ_ACK, SBLK_IRQ_DONE);
	/* enabling IE with DONE pending interrupts at once */
	wr(f, SBLK_REG_CONTROL, 0);
	start(f, 0, 1, IOVA, SBLK_STATUS_DMA);
	wait_idle(f);
	assert_int_equal(vpcie_host_irq_take(f->h, 0), 0);
	wr(f, SBLK_REG_CONTROL, SBLK_CTRL_IE);
	assert_int_equal(vpcie_host_irq_wait(f->h, 0, 2000), 0);
	assert_int_equal(vpcie_host_irq_disable(f->h), 0);
}

static bool intx_status_bit(struct fx *f)
{
	int err = 0;
	uint16_t st = vpcie_host_cfg_read16(f->h, PCI_STATUS, &err);

	assert_int_equal(err, 0);
	return st & PCI_STATUS_INTERRUPT;
}

/* INTx is a level: it stays asserted (and re-signals after each unmask)
 * until the driver acks IRQ_STATUS. */
static void test_intx(void **state)
{
	struct fx *f = *state;

	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_INTX, 1), 1);
	wr(f, SBLK_REG_CONTROL, SBLK_CTRL_IE);
	for (int i = 0; i < 2; i++) {
		start(f, 10, 2, IOVA, SBLK_STATUS_DMA | SBLK_STATUS_RW);
		assert_int_equal(vpcie_host_irq_wait(f->h, 0, 2000), 0);
		assert_true(intx_status_bit(f));
		/* not acked: the unmask done by the wait brings it again */
		assert_int_equal(vpcie_host_irq_wait(f->h, 0, 2000), 0);
		wr(f, SBLK_REG_IRQ_ACK, SBLK_IRQ_DONE);
		assert_false(intx_status_bit(f));
		vpcie_host_irq_take(f->h, 0); /* the re-signal from before the ack */
		assert_int_equal(vpcie_host_irq_wait(f->h, 0, QUIET_MS), -ETIMEDOUT);
	}
	/* clearing IE drops the line as well */
	start(f, 10, 1, 0, 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 0, 2000), 0);
	assert_true(intx_status_bit(f));
	wr(f, SBLK_REG_CONTROL, 0);
	assert_false(intx_status_bit(f));
	assert_int_equal(rd(f, SBLK_REG_IRQ_STATUS), SBLK_IRQ_DONE);
	assert_int_equal(vpcie_host_irq_disable(f->h), 0);
}

/* ---- Errors ------------------------------------------------------------------------------ */

static void test_errors(void **state)
{
	struct fx *f = *state;
	uint8_t *before = malloc(IMG_SIZE), *after = malloc(IMG_SIZE);
	const uint32_t w = SBLK_STATUS_DMA | SBLK_STATUS_RW;
	uint16_t cmd;
	int err = 0;

	assert_non_null(before);
	assert_non_null(after);
	image_read(f, 0, before, IMG_SIZE);
	fill(f->buf, MEM_SIZE, 9);
	/* sectors beyond the disk */
	assert_int_equal(run(f, SECTORS, 1, IOVA, w), SBLK_ERR_RANGE);
	assert_int_equal(run(f, SECTORS - 1, 2, IOVA, w), SBLK_ERR_RANGE);
	assert_int_equal(run(f, UINT64_MAX, 2, IOVA, w), SBLK_ERR_RANGE);     /* wraps */
	assert_int_equal(run(f, UINT64_MAX - 1, 2, IOVA, w), SBLK_ERR_RANGE);
	assert_int_equal(run(f, 1ull << 55, 1, 0, SBLK_STATUS_RW), SBLK_ERR_RANGE); /* PIO */
	/* counts */
	assert_int_equal(run(f, 0, 0, IOVA, w), SBLK_ERR_COUNT);
	assert_int_equal(run(f, 0, SBLK_MAX_COUNT_VALUE + 1, IOVA, w), SBLK_ERR_COUNT);
	assert_int_equal(run(f, 0, UINT32_MAX, IOVA, w), SBLK_ERR_COUNT);
	assert_int_equal(run(f, 0, 2, 0, SBLK_STATUS_RW), SBLK_ERR_COUNT); /* PIO is 1 sector */
	/* host memory: outside it, partly outside, wrapping the address space */
	assert_int_equal(run(f, 0, 1, OUTSIDE, w), SBLK_ERR_DMA);
	assert_int_equal(run(f, 0, 1, OUTSIDE, SBLK_STATUS_DMA), SBLK_ERR_DMA);
	assert_int_equal(run(f, 0, 8, IOVA + MEM_SIZE - 512, w), SBLK_ERR_DMA);
	assert_int_equal(run(f, 0, 8, UINT64_MAX - 511, w), SBLK_ERR_DMA);
	/* bus mastering off: no DMA */
	cmd = vpcie_host_cfg_read16(f->h, PCI_COMMAND, &err);
	assert_int_equal(vpcie_host_cfg_write16(f->h, PCI_COMMAND, cmd & ~PCI_COMMAND_MASTER), 0);
	assert_int_equal(run(f, 0, 1, IOVA, w), SBLK_ERR_DMA);
	assert_int_equal(vpcie_host_cfg_write16(f->h, PCI_COMMAND, cmd), 0);
	/* none of it touched the image */
	image_read(f, 0, after, IMG_SIZE);
	assert_memory_equal(before, after, IMG_SIZE);
	/* E stays until the next command starts; that one succeeds */
	assert_true(rd(f, SBLK_REG_STATUS) & SBLK_STATUS_E);
	assert_int_equal(run(f, 0, 1, IOVA, w), 0);
	image_read(f, 0, after, SBLK_SECTOR_SIZE);
	assert_memory_equal(after, f->buf, SBLK_SECTOR_SIZE);
	free(before);
	free(after);
}

/*
 * S while B: with DMA by messages the command cannot finish before the host
 * serves its DMA request, which happens only while the host waits for the
 * reply to its next access - so the second start always finds B set. The
 * running command completes (its data arrives) and reports ERR_BUSY.
 */
static void test_busy(void **state)
{
	struct fx *f = *state;
	uint8_t *img = malloc(XFER);
	uint32_t st;

	assert_non_null(img);
	fill(f->buf, XFER, 31);
	start(f, 512, SBLK_MAX_COUNT_VALUE, IOVA, SBLK_STATUS_DMA | SBLK_STATUS_RW);
	wr(f, SBLK_REG_STATUS, SBLK_STATUS_S | SBLK_STATUS_DMA); /* a read, while busy */
	st = wait_idle(f);
	assert_true(st & SBLK_STATUS_E);
	assert_int_equal(st & (SBLK_STATUS_RW | SBLK_STATUS_DMA), SBLK_STATUS_DMA | SBLK_STATUS_RW);
	assert_int_equal(rd(f, SBLK_REG_ERROR), SBLK_ERR_BUSY);
	assert_int_equal(rd(f, SBLK_REG_COMMANDS), 1); /* the second never ran */
	image_read(f, 512, img, XFER);
	assert_memory_equal(img, f->buf, XFER);
	wr(f, SBLK_REG_IRQ_ACK, SBLK_IRQ_DONE);
	/* the next start is accepted and clears E */
	assert_int_equal(run(f, 512, 1, IOVA + XFER, SBLK_STATUS_DMA), 0);
	assert_memory_equal(f->buf + XFER, img, SBLK_SECTOR_SIZE);
	free(img);
}

/* A reset brings every register back and the device keeps working. */
static void test_reset(void **state)
{
	struct fx *f = *state;

	wr(f, SBLK_REG_CONTROL, SBLK_CTRL_IE);
	assert_int_equal(run(f, SECTORS, 1, 0, 0), SBLK_ERR_RANGE);
	assert_int_equal(vpcie_host_reset(f->h), 0);
	assert_int_equal(vpcie_host_assign_bars(f->h, 0x80000000ull, 0x1000), 0);
	assert_int_equal(rd(f, SBLK_REG_STATUS), SBLK_STATUS_I | SBLK_STATUS_R);
	assert_int_equal(rd(f, SBLK_REG_ERROR), 0);
	assert_int_equal(rd(f, SBLK_REG_CONTROL), 0);
	assert_int_equal(rd(f, SBLK_REG_COMMANDS), 0);
	assert_int_equal(rd(f, SBLK_REG_SECTOR_LO), 0);
	assert_int_equal(run(f, 3, 2, IOVA, SBLK_STATUS_DMA), 0);
}

/*
 * A reset while a write waits for its DMA (messages: it cannot finish before
 * the host serves it) drops the command: no completion, no interrupt, the
 * image untouched, and the device takes the next command.
 */
static void test_reset_in_flight(void **state)
{
	struct fx *f = *state;
	uint8_t *before = malloc(XFER), *after = malloc(XFER);

	assert_non_null(before);
	assert_non_null(after);
	image_read(f, 1024, before, XFER);
	fill(f->buf, XFER, 55);
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSI, 1), 1);
	wr(f, SBLK_REG_CONTROL, SBLK_CTRL_IE);
	start(f, 1024, SBLK_MAX_COUNT_VALUE, IOVA, SBLK_STATUS_DMA | SBLK_STATUS_RW);
	assert_int_equal(vpcie_host_reset(f->h), 0);
	assert_int_equal(vpcie_host_assign_bars(f->h, 0x80000000ull, 0x1000), 0);
	assert_int_equal(rd(f, SBLK_REG_STATUS), SBLK_STATUS_I | SBLK_STATUS_R);
	assert_int_equal(rd(f, SBLK_REG_IRQ_STATUS), 0);
	assert_int_equal(rd(f, SBLK_REG_COMMANDS), 0);
	assert_int_equal(vpcie_host_irq_take(f->h, 0), 0);
	image_read(f, 1024, after, XFER);
	assert_memory_equal(before, after, XFER);
	assert_int_equal(run(f, 1024, 1, IOVA, SBLK_STATUS_DMA | SBLK_STATUS_RW), 0);
	image_read(f, 1024, after, SBLK_SECTOR_SIZE);
	assert_memory_equal(after, f->buf, SBLK_SECTOR_SIZE);
	free(before);
	free(after);
}

/* ---- A hostile driver: random commands against a model ------------------------------ */

static uint64_t rnd(uint64_t *s)
{
	/* splitmix64: a fixed seed makes every run the same sequence */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Values at and around every limit, or anything. */
static uint64_t pick(uint64_t *s, const uint64_t *edges, unsigned n)
{
	uint64_t r = rnd(s);

	return r % 4 ? edges[(r >> 8) % n] + (uint64_t)((int64_t)((r >> 32) % 5) - 2) : rnd(s);
}

/* The datasheet's rules, as the test computes them. */
static uint32_t expect(uint64_t sector, uint64_t count, uint64_t addr, bool dma)
{
	uint64_t len = count * SBLK_SECTOR_SIZE;

	if (count == 0 || count > SBLK_MAX_COUNT_VALUE || (!dma && count != 1))
		return SBLK_ERR_COUNT;
	if (sector >= SECTORS || count > SECTORS - sector)
		return SBLK_ERR_RANGE;
	if (dma && (addr < IOVA || addr > IOVA + MEM_SIZE || len > IOVA + MEM_SIZE - addr))
		return SBLK_ERR_DMA;
	return 0;
}

/* 400 commands with random (mostly edge) SECTOR, COUNT, DMA_ADDR and
 * direction: each ends with the error the model predicts, and the image
 * matches a copy kept by the model ($VPCIE_SBLK_SEED changes the sequence). */
static void test_random(void **state)
{
	struct fx *f = *state;
	uint8_t *model = malloc(IMG_SIZE), *img = malloc(IMG_SIZE);
	const uint64_t sectors[] = {0, 1, SECTORS - SBLK_MAX_COUNT_VALUE, SECTORS - 1, SECTORS,
				    UINT32_MAX, 1ull << 55, UINT64_MAX - 1};
	const uint64_t counts[] = {0, 1, 2, SBLK_MAX_COUNT_VALUE, SBLK_MAX_COUNT_VALUE + 1,
				   UINT32_MAX};
	const uint64_t addrs[] = {IOVA, IOVA + 4096, IOVA + MEM_SIZE - XFER, IOVA + MEM_SIZE - 512,
				  IOVA + MEM_SIZE, OUTSIDE, UINT64_MAX - 511, 0};
	const char *env = getenv("VPCIE_SBLK_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5b1c;
	unsigned ok = 0;

	assert_non_null(model);
	assert_non_null(img);
	image_read(f, 0, model, IMG_SIZE);
	for (int i = 0; i < 400; i++) {
		uint64_t sector = pick(&seed, sectors, 8), addr = pick(&seed, addrs, 8);
		uint32_t count = (uint32_t)pick(&seed, counts, 6), r = (uint32_t)rnd(&seed);
		bool dma = r & 1, write = r & 2;
		uint32_t want, got;
		uint8_t *host;
		size_t len;
		uint8_t window[SBLK_DATA_SIZE];

		if (r & 4) { /* half of them plausible, so the data paths run too */
			count = dma ? 1 + (uint32_t)(rnd(&seed) % SBLK_MAX_COUNT_VALUE) : 1;
			sector = rnd(&seed) % (SECTORS - count + 1);
			addr = IOVA + rnd(&seed) % (MEM_SIZE - (uint64_t)count * SBLK_SECTOR_SIZE + 1);
		}
		want = expect(sector, count, addr, dma);
		host = dma && !want ? f->buf + (addr - IOVA) : NULL;
		len = (size_t)count * SBLK_SECTOR_SIZE;

		if (write && host)
			fill(host, len, (uint32_t)i);
		if (write && !dma) {
			fill(window, sizeof(window), (uint32_t)i);
			assert_int_equal(vpcie_host_region_write(f->h, 0, SBLK_REG_DATA, window,
								 sizeof(window)), 0);
		}
		got = run(f, sector, count, addr,
			  (write ? SBLK_STATUS_RW : 0) | (dma ? SBLK_STATUS_DMA : 0));
		if (got != want)
			fail_msg("command %d: sector 0x%llx count %u addr 0x%llx %s %s: error %u, "
				 "want %u", i, (unsigned long long)sector, count,
				 (unsigned long long)addr, write ? "write" : "read",
				 dma ? "DMA" : "PIO", got, want);
		if (!want && write)
			memcpy(model + sector * SBLK_SECTOR_SIZE, dma ? host : window, len);
		if (!want && !write && host)
			assert_memory_equal(host, model + sector * SBLK_SECTOR_SIZE, len);
		if (!want && !write && !dma) {
			assert_int_equal(vpcie_host_region_read(f->h, 0, SBLK_REG_DATA, window,
								sizeof(window)), 0);
			assert_memory_equal(window, model + sector * SBLK_SECTOR_SIZE, len);
		}
		ok += !want;
	}
	image_read(f, 0, img, IMG_SIZE);
	assert_memory_equal(img, model, IMG_SIZE);
	assert_true(ok >= 40); /* the sequence does reach the data paths */
	free(model);
	free(img);
}

#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_identity, setup_shared),
		T(test_access, setup_shared),
		T(test_pio, setup_shared),
		T(test_dma, setup_shared),
		T(test_dma, setup_msg),
		T(test_msi, setup_shared),
		T(test_intx, setup_msg),
		T(test_errors, setup_shared),
		T(test_errors, setup_msg),
		T(test_busy, setup_msg),
		T(test_reset, setup_shared),
		T(test_reset_in_flight, setup_msg),
		T(test_random, setup_shared),
		T(test_random, setup_msg),
	};

	prog = argc > 1 ? argv[1] : getenv("VPCIE_SIMPLE_BLK");
	if (!prog) {
		fprintf(stderr, "usage: %s VPCIE_SIMPLE_BLK\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
