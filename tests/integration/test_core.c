/* SPDX-License-Identifier: MIT */
/*
 * The host runtime drives vpcie-sample in another process: config space,
 * callback / mmap / I/O BARs, the ROM, DMA on both paths, INTx/MSI/MSI-X with
 * masking and pending delivery, reset, FLR, reconnect, twin socket, posted
 * and coalesced writes, and two devices at once.
 *
 * argv[1] (or $VPCIE_SAMPLE) is the vpcie-sample program.
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

#include <vpcie/host.h>

#include "sample_regs.h"

static const char *sample_prog;

struct fixture {
	char dir[64];
	char sock[96];
	pid_t pid;
	struct vpcie_host *h;
};

static pid_t spawn(const char *sock, const char *extra)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (extra)
			execl(sample_prog, sample_prog, "--socket", sock, extra, (char *)NULL);
		else
			execl(sample_prog, sample_prog, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t pid, const char *sock)
{
	int status = 0;

	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* A clean exit on SIGTERM, socket file removed. */
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_not_equal(access(sock, F_OK), 0);
}

static struct vpcie_host *open_host(const char *sock, bool twin)
{
	struct vpcie_host_opts o;
	struct vpcie_host *h;
	int err = 0;

	vpcie_host_opts_defaults(&o);
	o.twin_socket = twin;
	h = vpcie_host_open(sock, &o, &err);
	if (!h)
		fprintf(stderr, "vpcie_host_open(%s): %s\n", sock, strerror(-err));
	assert_non_null(h);
	return h;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/vpcie-core-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/dev.sock", f->dir);
	f->pid = spawn(f->sock, NULL);
	f->h = open_host(f->sock, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->h)
		vpcie_host_close(f->h);
	stop(f->pid, f->sock);
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

static void set_reg(struct vpcie_host *h, unsigned off, uint32_t v)
{
	assert_int_equal(vpcie_host_bar_write32(h, 0, off, v), 0);
}

static void assign(struct vpcie_host *h)
{
	assert_int_equal(vpcie_host_assign_bars(h, 0xe0000000ull, 0xc000), 0);
}

/* ---- Discovery ------------------------------------------------------------ */

static void test_info_and_config(void **state)
{
	struct fixture *f = *state;
	struct vpcie_device_info info;
	const struct vpcie_host_region *r;
	uint8_t cfg[4096];
	size_t len = sizeof(cfg);

	assert_int_equal(vpcie_host_device_info(f->h, &info), 0);
	assert_true(info.flags & VFIO_DEVICE_FLAGS_PCI);
	assert_true(info.flags & VFIO_DEVICE_FLAGS_RESET);
	assert_int_equal(info.num_regions, VFIO_PCI_NUM_REGIONS);
	assert_int_equal(info.num_irqs, VFIO_PCI_MSIX_IRQ_INDEX + 1);
	/* ERR and REQ are not offered: asking about them is refused. */
	struct vpcie_irq_info ii;
	assert_int_not_equal(vpcie_host_irq_info(f->h, VFIO_PCI_ERR_IRQ_INDEX, &ii), 0);
	assert_int_equal(vpcie_host_irq_info(f->h, VFIO_PCI_MSIX_IRQ_INDEX, &ii), 0);
	assert_int_equal(ii.count, SAMPLE_MSIX_VECTORS);

	assert_int_equal(vpcie_host_region_info(f->h, VFIO_PCI_CONFIG_REGION_INDEX, &r), 0);
	assert_int_equal(r->size, 4096);
	assert_int_equal(vpcie_host_cfg_dump(f->h, cfg, &len), 0);
	assert_int_equal(len, 4096);
	assert_int_equal(cfg[0] | cfg[1] << 8, SAMPLE_VENDOR);
	assert_int_equal(cfg[2] | cfg[3] << 8, SAMPLE_DEVICE);
	assert_true(vpcie_host_find_cap(f->h, PCI_CAP_ID_PM) > 0);
	assert_true(vpcie_host_find_cap(f->h, PCI_CAP_ID_EXP) > 0);
	assert_true(vpcie_host_find_cap(f->h, PCI_CAP_ID_MSI) > 0);
	assert_true(vpcie_host_find_cap(f->h, PCI_CAP_ID_MSIX) > 0);
	assert_true(vpcie_host_find_cap(f->h, PCI_CAP_ID_VNDR) > 0);
	assert_int_equal(vpcie_host_find_cap(f->h, PCI_CAP_ID_AGP), 0);
	assert_int_equal(vpcie_host_find_ext_cap(f->h, PCI_EXT_CAP_ID_DSN), 0x100);

	/* The vendor ID register is read-only. */
	assert_int_equal(vpcie_host_cfg_write16(f->h, PCI_VENDOR_ID, 0xdead), 0);
	assert_int_equal(vpcie_host_cfg_read16(f->h, PCI_VENDOR_ID, NULL), SAMPLE_VENDOR);
}

static void test_bar_sizing(void **state)
{
	struct fixture *f = *state;
	const struct vpcie_host_bar *b;

	assign(f->h);
	b = vpcie_host_bar(f->h, 0);
	assert_true(b->present && !b->is_io && !b->is_64);
	assert_int_equal(b->size, SAMPLE_BAR0_SIZE);
	b = vpcie_host_bar(f->h, 1);
	assert_true(b->present && b->is_io);
	assert_int_equal(b->size, 256);
	b = vpcie_host_bar(f->h, 2);
	assert_true(b->present && b->is_64 && b->prefetchable);
	assert_int_equal(b->size, SAMPLE_BAR2_SIZE);
	assert_int_equal(b->addr % SAMPLE_BAR2_SIZE, 0); /* naturally aligned */
	b = vpcie_host_bar(f->h, 4);
	assert_true(b->present);
	assert_int_equal(b->size, SAMPLE_BAR4_SIZE);
	assert_false(vpcie_host_bar(f->h, 5)->present);
	/* The device sees the addresses the host programmed. */
	uint32_t lo = vpcie_host_cfg_read32(f->h, PCI_BASE_ADDRESS_2, NULL);
	assert_int_equal(lo & ~0xfu, (uint32_t)vpcie_host_bar(f->h, 2)->addr);
	assert_int_equal(lo & 0xf, PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
	assert_true(vpcie_host_cfg_read16(f->h, PCI_COMMAND, NULL) & PCI_COMMAND_MASTER);
}

/* ---- Region access --------------------------------------------------------- */

static void test_callback_bar(void **state)
{
	struct fixture *f = *state;
	uint16_t half = 0;

	/* Decode disabled: reads see all-ones, as after a master abort. */
	assert_int_equal(reg(f->h, SAMPLE_REG_ID), 0xffffffffu);
	assign(f->h);
	assert_int_equal(reg(f->h, SAMPLE_REG_ID), SAMPLE_ID_VALUE);
	set_reg(f->h, SAMPLE_REG_SCRATCH, 0xcafef00d);
	assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 0xcafef00d);
	/* The device refuses a 16-bit access to its 32-bit registers: error reply. */
	assert_int_not_equal(vpcie_host_region_read(f->h, 0, 4, &half, 2), 0);
	/* Outside the BAR: refused before anything is sent. */
	assert_int_equal(vpcie_host_region_read(f->h, 0, SAMPLE_BAR0_SIZE, &half, 2), -EINVAL);
	/* The device is still fine. */
	assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 0xcafef00d);
}

static void test_posted_and_multi_writes(void **state)
{
	struct fixture *f = *state;
	struct vpcie_write_multi_entry w[3] = {0};
	uint32_t v = 0x1111;

	assign(f->h);
	for (uint32_t i = 0; i < 100; i++) {
		v = 0x1000 + i;
		assert_int_equal(vpcie_host_region_write_posted(f->h, 0, SAMPLE_REG_SCRATCH, &v, 4), 0);
	}
	/* Commands are processed in order: the read sees the last posted write. */
	assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 0x1000 + 99);
	/* Posted writes still queued when the handle closes are delivered. */
	v = 0x5151;
	assert_int_equal(vpcie_host_region_write_posted(f->h, 0, SAMPLE_REG_SCRATCH, &v, 4), 0);
	vpcie_host_close(f->h);
	f->h = open_host(f->sock, false);
	assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 0x5151);
	/* Many more than one batch holds, interleaved with a non-posted write. */
	for (uint32_t i = 0; i < 20000; i++) {
		assert_int_equal(vpcie_host_region_write_posted(f->h, 0, SAMPLE_REG_SCRATCH, &i, 4), 0);
		if (i == 10000)
			set_reg(f->h, SAMPLE_REG_DMA_LEN, 12345);
	}
	assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 19999);
	assert_int_equal(reg(f->h, SAMPLE_REG_DMA_LEN), 12345);
	for (int i = 0; i < 3; i++) {
		w[i].region = 0;
		w[i].count = 4;
	}
	w[0].offset = SAMPLE_REG_DMA_LEN;
	v = 77;
	memcpy(w[0].data, &v, 4);
	w[1].offset = SAMPLE_REG_DMA_OFF;
	v = 4096;
	memcpy(w[1].data, &v, 4);
	w[2].offset = SAMPLE_REG_SCRATCH;
	v = 0xabc;
	memcpy(w[2].data, &v, 4);
	assert_int_equal(vpcie_host_region_write_multi(f->h, w, 3), 0);
	assert_int_equal(reg(f->h, SAMPLE_REG_DMA_LEN), 77);
	assert_int_equal(reg(f->h, SAMPLE_REG_DMA_OFF), 4096);
	assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 0xabc);
}

static void test_mmap_bar_and_trap(void **state)
{
	struct fixture *f = *state;
	const struct vpcie_host_region *r;
	uint8_t *bar2, buf[256];
	uint32_t count = 0, one = 1;

	assign(f->h);
	assert_int_equal(vpcie_host_region_info(f->h, 2, &r), 0);
	assert_true(r->flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(r->nr_sparse, 1); /* everything but the trapped first page */
	assert_int_equal(r->sparse[0].offset, 4096);
	assert_int_equal(r->sparse[0].size, SAMPLE_BAR2_SIZE - 4096);
	/* The device's memory is sealed: we cannot be made to fault by a shrink. */
	assert_true(fcntl(r->fd, F_GET_SEALS) & F_SEAL_SHRINK);
	assert_int_equal(ftruncate(r->fd, 4096), -1);
	bar2 = vpcie_host_region_map(f->h, 2);
	assert_non_null(bar2);
	assert_false(vpcie_host_region_is_mapped(f->h, 2, 0, 4));
	assert_true(vpcie_host_region_is_mapped(f->h, 2, 4096, 4));

	/* Written through the mapping, read back through messages: one memory. */
	for (unsigned i = 0; i < sizeof(buf); i++)
		bar2[8192 + i] = (uint8_t)(i * 7);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(vpcie_host_region_read(f->h, 2, 8192, buf, sizeof(buf)), 0);
	for (unsigned i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], (uint8_t)(i * 7));
	/* And the other way round. */
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(vpcie_host_region_write(f->h, 2, 0x20000, buf, sizeof(buf)), 0);
	assert_memory_equal(bar2 + 0x20000, buf, sizeof(buf));

	/* The trapped page goes to the device's callbacks. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(vpcie_host_region_write(f->h, 2, 16, &one, 4), 0);
	assert_int_equal(vpcie_host_region_read(f->h, 2, 0, &count, 4), 0);
	assert_int_equal(count, 5);
}

static void test_io_bar_and_rom(void **state)
{
	struct fixture *f = *state;
	uint8_t rom[4], io[8] = {1, 2, 3, 4, 5, 6, 7, 8}, back[8] = {0};
	const struct vpcie_host_region *r;

	assign(f->h);
	assert_int_equal(vpcie_host_region_write(f->h, 1, 100, io, sizeof(io)), 0);
	assert_int_equal(vpcie_host_region_read(f->h, 1, 100, back, sizeof(back)), 0);
	assert_memory_equal(io, back, sizeof(io));

	assert_int_equal(vpcie_host_region_info(f->h, VFIO_PCI_ROM_REGION_INDEX, &r), 0);
	assert_int_equal(r->size, 2048);
	assert_int_equal(vpcie_host_region_read(f->h, VFIO_PCI_ROM_REGION_INDEX, 0, rom, 4), 0);
	assert_int_equal(rom[0], 0x55);
	assert_int_equal(rom[1], 0xaa);
	/* The ROM is read-only. */
	assert_int_not_equal(vpcie_host_region_write(f->h, VFIO_PCI_ROM_REGION_INDEX, 0, rom, 4), 0);
}

/* ---- DMA -------------------------------------------------------------------- */

static void dma_roundtrip(struct vpcie_host *h, unsigned flags)
{
	const size_t len = 300000; /* not a multiple of anything */
	struct vpcie_host_mem *m = vpcie_host_mem_alloc(h, 512 * 1024, 0x100000000ull, flags);
	uint8_t *p, *bar2;
	uint64_t served = vpcie_host_dma_served(h);

	assert_non_null(m);
	p = vpcie_host_mem_ptr(m);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + 1);
	bar2 = vpcie_host_region_map(h, 2);
	assert_non_null(bar2);

	set_reg(h, SAMPLE_REG_DMA_ADDR_LO, 0);
	set_reg(h, SAMPLE_REG_DMA_ADDR_HI, 1);
	set_reg(h, SAMPLE_REG_DMA_LEN, (uint32_t)len);
	set_reg(h, SAMPLE_REG_DMA_OFF, 4096);
	set_reg(h, SAMPLE_REG_DMA_CMD, SAMPLE_DMA_TO_DEVICE);
	assert_int_equal((int32_t)reg(h, SAMPLE_REG_DMA_STATUS), 0);
	assert_memory_equal(bar2 + 4096, p, len);

	memset(bar2 + 4096, 0xc3, len);
	set_reg(h, SAMPLE_REG_DMA_CMD, SAMPLE_DMA_TO_HOST);
	assert_int_equal((int32_t)reg(h, SAMPLE_REG_DMA_STATUS), 0);
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0xc3)
			fail_msg("host byte %zu is %#x after DMA to host", i, p[i]);

	if (flags & VPCIE_HOST_MEM_SHARED)
		assert_int_equal(vpcie_host_dma_served(h), served); /* zero-copy: no messages */
	else /* one DMA_READ and one DMA_WRITE: a vpcie host declares that it
	      * sends whole replies up to its transfer size (vpcie_dma_read_max) */
		assert_int_equal(vpcie_host_dma_served(h), served + 2);
	assert_int_equal(vpcie_host_mem_free(m), 0);
}

static void test_dma_shared(void **state)
{
	struct fixture *f = *state;

	assign(f->h);
	dma_roundtrip(f->h, VPCIE_HOST_MEM_SHARED);
}

static void test_dma_messages(void **state)
{
	struct fixture *f = *state;

	assign(f->h);
	dma_roundtrip(f->h, 0);
}

static void test_dma_scattered(void **state)
{
	struct fixture *f = *state;
	/* Two adjacent maps, one shared and one message-only: one transfer spans both. */
	struct vpcie_host_mem *a = vpcie_host_mem_alloc(f->h, 65536, 0x200000, VPCIE_HOST_MEM_SHARED);
	struct vpcie_host_mem *b = vpcie_host_mem_alloc(f->h, 65536, 0x210000, 0);
	uint8_t *pa, *pb, *bar2;

	assign(f->h);
	assert_non_null(a);
	assert_non_null(b);
	pa = vpcie_host_mem_ptr(a);
	pb = vpcie_host_mem_ptr(b);
	memset(pa, 0xaa, 65536);
	memset(pb, 0xbb, 65536);
	bar2 = vpcie_host_region_map(f->h, 2);
	set_reg(f->h, SAMPLE_REG_DMA_ADDR_LO, 0x200000 + 65536 - 100);
	set_reg(f->h, SAMPLE_REG_DMA_ADDR_HI, 0);
	set_reg(f->h, SAMPLE_REG_DMA_LEN, 200);
	set_reg(f->h, SAMPLE_REG_DMA_OFF, 4096);
	set_reg(f->h, SAMPLE_REG_DMA_CMD, SAMPLE_DMA_TO_DEVICE);
	assert_int_equal((int32_t)reg(f->h, SAMPLE_REG_DMA_STATUS), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(bar2[4096 + i], 0xaa);
	for (int i = 100; i < 200; i++)
		assert_int_equal(bar2[4096 + i], 0xbb);

	/* One byte past the second map: the whole transfer is refused, nothing sent. */
	set_reg(f->h, SAMPLE_REG_DMA_ADDR_LO, 0x210000 + 65536 - 100);
	set_reg(f->h, SAMPLE_REG_DMA_LEN, 101);
	set_reg(f->h, SAMPLE_REG_DMA_CMD, SAMPLE_DMA_TO_HOST);
	assert_int_equal((int32_t)reg(f->h, SAMPLE_REG_DMA_STATUS), -EFAULT);
	assert_int_equal(pb[65535], 0xbb);

	/* A read-only map cannot be written by the device. */
	struct vpcie_host_mem *ro = vpcie_host_mem_alloc(f->h, 4096, 0x300000,
							 VPCIE_HOST_MEM_SHARED | VPCIE_HOST_MEM_READONLY);
	assert_non_null(ro);
	set_reg(f->h, SAMPLE_REG_DMA_ADDR_LO, 0x300000);
	set_reg(f->h, SAMPLE_REG_DMA_LEN, 16);
	set_reg(f->h, SAMPLE_REG_DMA_CMD, SAMPLE_DMA_TO_HOST);
	assert_int_equal((int32_t)reg(f->h, SAMPLE_REG_DMA_STATUS), -EFAULT);
	set_reg(f->h, SAMPLE_REG_DMA_CMD, SAMPLE_DMA_TO_DEVICE);
	assert_int_equal((int32_t)reg(f->h, SAMPLE_REG_DMA_STATUS), 0);

	/* Overlapping registration is refused locally. */
	assert_null(vpcie_host_mem_alloc(f->h, 4096, 0x200000, 0));

	/* Without bus mastering the device may not DMA. */
	uint16_t cmd = vpcie_host_cfg_read16(f->h, PCI_COMMAND, NULL);
	assert_int_equal(vpcie_host_cfg_write16(f->h, PCI_COMMAND, cmd & ~PCI_COMMAND_MASTER), 0);
	set_reg(f->h, SAMPLE_REG_DMA_ADDR_LO, 0x200000);
	set_reg(f->h, SAMPLE_REG_DMA_CMD, SAMPLE_DMA_TO_DEVICE);
	assert_int_equal((int32_t)reg(f->h, SAMPLE_REG_DMA_STATUS), -EPERM);

	vpcie_host_mem_free(ro);
	vpcie_host_mem_free(a);
	vpcie_host_mem_free(b);
}

/* ---- Interrupts -------------------------------------------------------------- */

static int raise_irq(struct vpcie_host *h, unsigned n)
{
	set_reg(h, SAMPLE_REG_IRQ_RAISE, n);
	return (int32_t)reg(h, SAMPLE_REG_IRQ_STATUS);
}

static void test_msi(void **state)
{
	struct fixture *f = *state;

	assign(f->h);
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSI, 32), 32);
	assert_int_equal(reg(f->h, SAMPLE_REG_IRQ_MODE), 2 /* VPCIE_IRQ_MSI */);
	assert_int_equal(reg(f->h, SAMPLE_REG_IRQ_VECTORS), 32);
	for (unsigned v = 0; v < 32; v++) {
		assert_int_equal(raise_irq(f->h, v), 0);
		assert_int_equal(vpcie_host_irq_wait(f->h, v, 2000), 0);
	}
	/* Beyond the enabled vectors. */
	assert_int_equal(raise_irq(f->h, 32), -EINVAL);
	/* Raised three times before we look: one wake-up that says three. */
	uint64_t events = 0;

	for (int i = 0; i < 3; i++)
		assert_int_equal(raise_irq(f->h, 5), 0);
	assert_int_equal(vpcie_host_irq_wait_events(f->h, 5, 2000, &events), 0);
	assert_int_equal(events, 3);
	assert_int_equal(vpcie_host_irq_wait(f->h, 5, 50), -ETIMEDOUT);

	/* Masked: the vector becomes pending, and fires on unmask. */
	assert_int_equal(vpcie_host_irq_mask(f->h, 3, true), 0);
	assert_int_equal(raise_irq(f->h, 3), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 3, 100), -ETIMEDOUT);
	int msi = vpcie_host_find_cap(f->h, PCI_CAP_ID_MSI);
	assert_true(vpcie_host_cfg_read32(f->h, (unsigned)msi + PCI_MSI_PENDING_64, NULL) & (1u << 3));
	assert_int_equal(vpcie_host_irq_mask(f->h, 3, false), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 3, 2000), 0);
	assert_false(vpcie_host_cfg_read32(f->h, (unsigned)msi + PCI_MSI_PENDING_64, NULL) & (1u << 3));

	/* No bus mastering: no MSI. */
	uint16_t cmd = vpcie_host_cfg_read16(f->h, PCI_COMMAND, NULL);
	assert_int_equal(vpcie_host_cfg_write16(f->h, PCI_COMMAND, cmd & ~PCI_COMMAND_MASTER), 0);
	assert_int_equal(raise_irq(f->h, 1), -EPERM);
	assert_int_equal(vpcie_host_irq_wait(f->h, 1, 100), -ETIMEDOUT);
}

static void test_msix(void **state)
{
	struct fixture *f = *state;
	uint64_t pba = 0;

	assign(f->h);
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSIX, SAMPLE_MSIX_VECTORS),
			 SAMPLE_MSIX_VECTORS);
	assert_int_equal(reg(f->h, SAMPLE_REG_IRQ_MODE), 3 /* VPCIE_IRQ_MSIX */);
	for (unsigned v = 0; v < SAMPLE_MSIX_VECTORS; v++) {
		assert_int_equal(raise_irq(f->h, v), 0);
		assert_int_equal(vpcie_host_irq_wait(f->h, v, 2000), 0);
	}
	assert_int_equal(raise_irq(f->h, SAMPLE_MSIX_VECTORS), -EINVAL);

	/* Per-vector mask in the table: pending bit in the PBA, delivery on unmask. */
	assert_int_equal(vpcie_host_irq_mask(f->h, 10, true), 0);
	assert_int_equal(raise_irq(f->h, 10), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 10, 100), -ETIMEDOUT);
	assert_int_equal(vpcie_host_region_read(f->h, 4, SAMPLE_MSIX_PBA_OFF, &pba, 8), 0);
	assert_int_equal(pba, 1ull << 10);
	assert_int_equal(vpcie_host_irq_mask(f->h, 10, false), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 10, 2000), 0);
	assert_int_equal(vpcie_host_region_read(f->h, 4, SAMPLE_MSIX_PBA_OFF, &pba, 8), 0);
	assert_int_equal(pba, 0);

	/* Function mask: everything pending until it is lifted. */
	assert_int_equal(vpcie_host_msix_function_mask(f->h, true), 0);
	assert_int_equal(raise_irq(f->h, 60), 0);
	assert_int_equal(raise_irq(f->h, 61), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 60, 100), -ETIMEDOUT);
	assert_int_equal(vpcie_host_msix_function_mask(f->h, false), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 60, 2000), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 61, 2000), 0);
}

static void test_intx(void **state)
{
	struct fixture *f = *state;
	uint16_t cmd;

	assign(f->h);
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_INTX, 1), 1);
	assert_int_equal(reg(f->h, SAMPLE_REG_IRQ_MODE), 1 /* VPCIE_IRQ_INTX */);
	assert_int_equal(raise_irq(f->h, 0), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 0, 2000), 0);
	assert_int_equal(raise_irq(f->h, 1), -EINVAL);

	/* INTx Disable holds the interrupt back; clearing it delivers. */
	cmd = vpcie_host_cfg_read16(f->h, PCI_COMMAND, NULL);
	assert_int_equal(vpcie_host_cfg_write16(f->h, PCI_COMMAND, cmd | PCI_COMMAND_INTX_DISABLE), 0);
	assert_int_equal(raise_irq(f->h, 0), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 0, 100), -ETIMEDOUT);
	assert_true(vpcie_host_cfg_read16(f->h, PCI_STATUS, NULL) & PCI_STATUS_INTERRUPT);
	assert_int_equal(vpcie_host_cfg_write16(f->h, PCI_COMMAND, cmd), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 0, 2000), 0);

	/* A level stays asserted: it fires again after each unmask until deasserted. */
	set_reg(f->h, SAMPLE_REG_INTX_LEVEL, 1);
	assert_int_equal(vpcie_host_irq_wait(f->h, 0, 2000), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 0, 2000), 0);
	set_reg(f->h, SAMPLE_REG_INTX_LEVEL, 0);
	/* One signal may already be in flight from the last unmask; then silence. */
	vpcie_host_irq_wait(f->h, 0, 200);
	assert_int_equal(vpcie_host_irq_wait(f->h, 0, 200), -ETIMEDOUT);
	assert_false(vpcie_host_cfg_read16(f->h, PCI_STATUS, NULL) & PCI_STATUS_INTERRUPT);
}

/* ---- Reset and connections ------------------------------------------------------- */

static void test_reset_and_flr(void **state)
{
	struct fixture *f = *state;
	int pcie;

	assign(f->h);
	set_reg(f->h, SAMPLE_REG_SCRATCH, 42);
	assert_int_equal(reg(f->h, SAMPLE_REG_RESETS), 0);
	assert_int_equal(vpcie_host_reset(f->h), 0);
	/* Config space is back to power-on: decoding off, BARs unassigned. */
	assert_int_equal(vpcie_host_cfg_read16(f->h, PCI_COMMAND, NULL), 0);
	assert_int_equal(vpcie_host_cfg_read32(f->h, PCI_BASE_ADDRESS_0, NULL), 0);
	assign(f->h);
	assert_int_equal(reg(f->h, SAMPLE_REG_RESETS), 1);
	assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 0);

	/* Function Level Reset through the PCIe capability. */
	pcie = vpcie_host_find_cap(f->h, PCI_CAP_ID_EXP);
	assert_true(vpcie_host_cfg_read32(f->h, (unsigned)pcie + PCI_EXP_DEVCAP, NULL) & PCI_EXP_DEVCAP_FLR);
	uint16_t ctl = vpcie_host_cfg_read16(f->h, (unsigned)pcie + PCI_EXP_DEVCTL, NULL);
	assert_int_equal(vpcie_host_cfg_write16(f->h, (unsigned)pcie + PCI_EXP_DEVCTL,
						ctl | PCI_EXP_DEVCTL_BCR_FLR), 0);
	assign(f->h);
	assert_int_equal(reg(f->h, SAMPLE_REG_RESETS), 2);
}

static void test_reconnect_keeps_state(void **state)
{
	struct fixture *f = *state;
	struct vpcie_host_mem *m;

	assign(f->h);
	m = vpcie_host_mem_alloc(f->h, 4096, 0x400000, VPCIE_HOST_MEM_SHARED);
	assert_non_null(m);
	set_reg(f->h, SAMPLE_REG_SCRATCH, 0x77);
	assert_int_equal(reg(f->h, SAMPLE_REG_CONNECTS), 1);
	vpcie_host_close(f->h);

	f->h = open_host(f->sock, false);
	/* Device state (config space included) survives; DMA maps do not. */
	assert_int_equal(reg(f->h, SAMPLE_REG_CONNECTS), 2);
	assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 0x77);
	set_reg(f->h, SAMPLE_REG_DMA_ADDR_LO, 0x400000);
	set_reg(f->h, SAMPLE_REG_DMA_ADDR_HI, 0);
	set_reg(f->h, SAMPLE_REG_DMA_LEN, 16);
	set_reg(f->h, SAMPLE_REG_DMA_OFF, 4096);
	set_reg(f->h, SAMPLE_REG_DMA_CMD, SAMPLE_DMA_TO_DEVICE);
	assert_int_equal((int32_t)reg(f->h, SAMPLE_REG_DMA_STATUS), -EFAULT);
}

static void test_twin_socket(void **state)
{
	struct fixture *f = *state;

	vpcie_host_close(f->h);
	f->h = open_host(f->sock, true);
	assert_true(vpcie_host_twin(f->h));
	assign(f->h);
	dma_roundtrip(f->h, 0); /* DMA messages and their replies on the twin socket */
}

static void count_logs(void *opaque, enum vpcie_log_level level, const char *msg)
{
	(void)level;
	(void)msg;
	++*(int *)opaque;
}

static void test_log_sink(void **state)
{
	struct fixture *f = *state;
	struct vpcie_host_opts o;
	struct vpcie_host *h;
	int lines = 0, err = 0;

	vpcie_host_close(f->h);
	vpcie_host_opts_defaults(&o);
	o.log_level = VPCIE_LOG_DEBUG;
	o.log_sink = count_logs;
	o.log_opaque = &lines;
	/* Negotiation already logs: the sink must be in place from the start. */
	h = vpcie_host_open(f->sock, &o, &err);
	assert_non_null(h);
	assert_true(lines > 0);
	f->h = h;
}

static void test_two_devices(void **state)
{
	struct fixture *f = *state;
	char sock2[128];
	struct vpcie_host *h2;
	pid_t pid2;

	snprintf(sock2, sizeof(sock2), "%s/dev2.sock", f->dir);
	pid2 = spawn(sock2, NULL);
	h2 = open_host(sock2, false);
	assign(f->h);
	assert_int_equal(vpcie_host_assign_bars(h2, 0xf0000000ull, 0xd000), 0);
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSIX, 4), 4);
	assert_int_equal(vpcie_host_irq_enable(h2, VPCIE_HOST_IRQ_MSI, 4), 4);
	set_reg(f->h, SAMPLE_REG_SCRATCH, 1);
	set_reg(h2, SAMPLE_REG_SCRATCH, 2);
	assert_int_equal(raise_irq(h2, 2), 0);
	assert_int_equal(raise_irq(f->h, 3), 0);
	assert_int_equal(vpcie_host_irq_wait(f->h, 3, 2000), 0);
	assert_int_equal(vpcie_host_irq_wait(h2, 2, 2000), 0);
	assert_int_equal(reg(f->h, SAMPLE_REG_SCRATCH), 1);
	assert_int_equal(reg(h2, SAMPLE_REG_SCRATCH), 2);
	vpcie_host_close(h2);
	stop(pid2, sock2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_info_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_callback_bar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_posted_and_multi_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmap_bar_and_trap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_bar_and_rom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_scattered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_flr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_keeps_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_twin_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_sink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_devices, setup, teardown),
	};

	sample_prog = argc > 1 ? argv[1] : getenv("VPCIE_SAMPLE");
	if (!sample_prog) {
		fprintf(stderr, "usage: %s PATH-TO-vpcie-sample\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
