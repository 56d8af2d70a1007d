/* SPDX-License-Identifier: MIT */
/*
 * The device the device-side fuzz targets (fuzz_device, fuzz_ring_device)
 * serve: like vpcie-sample, a callback BAR0 whose registers start DMA
 * (read 1, write 2, pointer 3 at 0x14), raise interrupts (0x18), drive INTx
 * (0x1c) and arm timers (0x20); I/O BAR1; memory BAR2 with a trapped page;
 * BAR4 holding the MSI-X table (0) and PBA (0x2000); a ROM; PM, PCIe with
 * FLR, MSI (32 vectors, maskable), MSI-X (64), vendor and DSN capabilities.
 * Callbacks abort() if the runtime ever calls them outside their BAR.
 */
#ifndef VPCIE_FUZZ_DEV_MODEL_H
#define VPCIE_FUZZ_DEV_MODEL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vpcie/device.h>
#include <vpcie/log.h>

#define BAR0_SIZE 4096u
#define BAR2_SIZE (64u * 1024)
#define BAR4_SIZE (16u * 1024)
#define DMA_BUF 8192u
#define MAX_TIMERS 8

struct fdev {
	struct vpcie_dev *dev;
	uint32_t scratch;
	uint64_t dma_addr;
	uint32_t dma_len;
	int32_t status;
	unsigned ntimers;
	uint8_t io[256];
	uint8_t bar4[BAR4_SIZE];
	uint8_t dma[DMA_BUF];
};

static void quiet(void *opaque, enum vpcie_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void timer_fire(struct vpcie_dev *dev, void *opaque)
{
	struct fdev *f = opaque;

	f->status = vpcie_dev_irq_raise(dev, 0);
}

static int bar0_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct fdev *f = opaque;
	uint32_t v;

	if (off >= 0x100)
		return -EIO;
	if (len != 4 || off % 4)
		return -EINVAL;
	switch (off) {
	case 0x00: v = 0x5a5a1234; break;
	case 0x04: v = f->scratch; break;
	case 0x08: v = (uint32_t)f->dma_addr; break;
	case 0x0c: v = (uint32_t)(f->dma_addr >> 32); break;
	case 0x10: v = f->dma_len; break;
	case 0x14: v = (uint32_t)f->status; break;
	case 0x18: v = vpcie_dev_irq_mode(dev); break;
	case 0x1c: v = vpcie_dev_irq_vectors(dev); break;
	case 0x20: v = vpcie_dev_irq_pending(dev, f->scratch & 63); break;
	default: v = 0;
	}
	memcpy(buf, &v, 4);
	return 0;
}

static int bar0_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf, size_t len)
{
	struct fdev *f = opaque;
	uint32_t v;

	if (off >= 0x100)
		return -EIO;
	if (len != 4 || off % 4)
		return -EINVAL;
	memcpy(&v, buf, 4);
	switch (off) {
	case 0x04: f->scratch = v; break;
	case 0x08: f->dma_addr = (f->dma_addr & ~0xffffffffull) | v; break;
	case 0x0c: f->dma_addr = (f->dma_addr & 0xffffffffull) | (uint64_t)v << 32; break;
	case 0x10: f->dma_len = v > DMA_BUF ? DMA_BUF : v; break;
	case 0x14: /* start a transfer */
		if (v == 1)
			f->status = vpcie_dev_dma_read(dev, f->dma_addr, f->dma, f->dma_len);
		else if (v == 2)
			f->status = vpcie_dev_dma_write(dev, f->dma_addr, f->dma, f->dma_len);
		else if (v == 3)
			f->status = vpcie_dev_dma_ptr(dev, f->dma_addr, f->dma_len, f->scratch & 1) ? 0 : -EFAULT;
		break;
	case 0x18: f->status = vpcie_dev_irq_raise(dev, v); break;
	case 0x1c: f->status = vpcie_dev_irq_intx(dev, v & 1); break;
	case 0x20:
		if (f->ntimers < MAX_TIMERS && vpcie_dev_timer_add(dev, 0, 0, timer_fire, f))
			f->ntimers++;
		break;
	default: break;
	}
	return 0;
}

static int io_rw(struct fdev *f, uint64_t off, void *buf, size_t len, bool write)
{
	if (off + len > sizeof(f->io))
		return -EINVAL; /* the runtime must never let this happen */
	if (write)
		memcpy(f->io + off, buf, len);
	else
		memcpy(buf, f->io + off, len);
	return 0;
}

static int io_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	(void)dev;
	return io_rw(opaque, off, buf, len, false);
}

static int io_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf, size_t len)
{
	(void)dev;
	return io_rw(opaque, off, (void *)buf, len, true);
}

static int trap_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct fdev *f = opaque;

	(void)dev;
	if (off + len > 4096)
		abort(); /* a trap callback outside its trap: runtime bug */
	memset(buf, (int)(f->scratch & 0xff), len);
	return 0;
}

static int trap_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf, size_t len)
{
	struct fdev *f = opaque;

	(void)dev;
	(void)buf;
	if (off + len > 4096)
		abort();
	f->scratch++;
	return 0;
}

static int bar4_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct fdev *f = opaque;

	(void)dev;
	if (off + len > sizeof(f->bar4))
		abort();
	memcpy(buf, f->bar4 + off, len);
	return 0;
}

static int bar4_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf, size_t len)
{
	struct fdev *f = opaque;

	(void)dev;
	if (off + len > sizeof(f->bar4))
		abort();
	memcpy(f->bar4 + off, buf, len);
	return 0;
}

static void on_reset(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind)
{
	struct fdev *f = opaque;

	(void)dev;
	(void)kind;
	f->scratch = 0;
	f->dma_addr = 0;
	f->dma_len = 0;
}

/* Create the device with opts (from vpcie_dev_opts_defaults() plus the
 * caller's changes); name, log level and DMA timeout are set here. */
static struct vpcie_dev *make_device(struct fdev *f, struct vpcie_dev_opts *opts)
{
	static const struct vpcie_bar_ops bar0_ops = {bar0_read, bar0_write};
	static const struct vpcie_bar_ops io_ops = {io_read, io_write};
	static const struct vpcie_bar_ops trap_ops = {trap_read, trap_write};
	static const struct vpcie_bar_ops bar4_ops = {bar4_read, bar4_write};
	static const struct vpcie_trap bar2_traps[] = {{0, 4096}};
	static const struct vpcie_dev_ops ops = {.reset = on_reset};
	const struct vpcie_ids ids = {
		.vendor = 0x1234, .device = 0x5650, .subsys_vendor = 0x1234, .subsys = 1,
		.class_code = 0xff0000, .revision = 1,
	};
	uint8_t rom[2048] = {0x55, 0xaa};
	uint8_t vendor[4] = {'V', 'P', 1, 2};
	uint32_t dsn[2] = {0x12345678, 0x9abcdef0};
	struct vpcie_dev *dev;
	int ret;

	opts->name = "fuzz";
	opts->log_level = VPCIE_LOG_ERROR;
	/* 20 ms for a DMA request nobody answers, unless the caller chose less. */
	if (opts->dma_timeout_ms <= 0 || opts->dma_timeout_ms > 20)
		opts->dma_timeout_ms = 20;
	dev = vpcie_dev_new(&ids, &ops, f, opts);
	if (!dev)
		abort();
	vpcie_dev_logger(dev)->sink = quiet;
	f->dev = dev;
	ret = vpcie_dev_set_bar(dev, 0, &(struct vpcie_bar_desc){
		.size = BAR0_SIZE, .kind = VPCIE_BAR_MEM32, .ops = &bar0_ops, .opaque = f});
	ret |= vpcie_dev_set_bar(dev, 1, &(struct vpcie_bar_desc){
		.size = 256, .kind = VPCIE_BAR_IO, .ops = &io_ops, .opaque = f});
	ret |= vpcie_dev_set_bar(dev, 2, &(struct vpcie_bar_desc){
		.size = BAR2_SIZE, .kind = VPCIE_BAR_MEM64, .prefetchable = true, .memory = true,
		.traps = bar2_traps, .ntraps = 1, .ops = &trap_ops, .opaque = f});
	ret |= vpcie_dev_set_bar(dev, 4, &(struct vpcie_bar_desc){
		.size = BAR4_SIZE, .kind = VPCIE_BAR_MEM32, .ops = &bar4_ops, .opaque = f});
	ret |= vpcie_dev_set_rom(dev, rom, sizeof(rom));
	if (ret ||
	    vpcie_dev_add_pm(dev) < 0 || vpcie_dev_add_pcie(dev, true) < 0 ||
	    vpcie_dev_add_msi(dev, 32, true) < 0 ||
	    vpcie_dev_add_msix(dev, 64, 4, 0, 4, 0x2000) < 0 ||
	    vpcie_dev_add_vendor_cap(dev, vendor, sizeof(vendor)) < 0 ||
	    vpcie_dev_add_ext_cap(dev, PCI_EXT_CAP_ID_DSN, 1, dsn, sizeof(dsn)) < 0)
		abort();
	return dev;
}

#endif
