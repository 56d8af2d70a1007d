/* SPDX-License-Identifier: MIT */
/*
 * vpcie-sample: a teaching device that uses every feature of the device
 * runtime, in the spirit of QEMU's edu device. The integration tests drive it.
 *
 * BAR0  4 KiB  memory, callbacks: the registers below
 * BAR1  256 B  I/O, callbacks: a scratch area
 * BAR2  1 MiB  64-bit prefetchable memory, shared with the host (mmap);
 *              page 0 is trapped: writes count, reads return the count
 * BAR4  16 KiB memory, callbacks; MSI-X table at 0, PBA at 0x2000
 * ROM   2 KiB  starting 55 aa
 * caps  PM, PCIe (FLR), MSI x32 maskable, MSI-X x64, vendor, DSN (extended)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vpcie/cli.h>
#include <vpcie/device.h>

#include "sample_regs.h"

struct sample {
	struct vpcie_dev *dev;
	uint32_t scratch;
	int32_t irq_status;
	uint64_t dma_addr;
	uint32_t dma_len, dma_off;
	int32_t dma_status;
	uint32_t resets, connects;
	uint32_t trap_writes;
	uint8_t io[256];
	uint8_t bar4[SAMPLE_BAR4_SIZE];
};

static void do_dma(struct sample *s, uint32_t cmd)
{
	uint8_t *mem = vpcie_dev_bar_mem(s->dev, 2);

	if ((uint64_t)s->dma_off + s->dma_len > SAMPLE_BAR2_SIZE) {
		s->dma_status = -EINVAL;
		return;
	}
	switch (cmd) {
	case SAMPLE_DMA_TO_DEVICE:
		s->dma_status = vpcie_dev_dma_read(s->dev, s->dma_addr, mem + s->dma_off, s->dma_len);
		break;
	case SAMPLE_DMA_TO_HOST:
		s->dma_status = vpcie_dev_dma_write(s->dev, s->dma_addr, mem + s->dma_off, s->dma_len);
		break;
	default:
		s->dma_status = -EINVAL;
	}
}

static int bar0_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct sample *s = opaque;
	uint32_t v;

	(void)dev;
	if (len != 4 || off % 4)
		return -EINVAL; /* registers are 32-bit */
	switch (off) {
	case SAMPLE_REG_ID: v = SAMPLE_ID_VALUE; break;
	case SAMPLE_REG_SCRATCH: v = s->scratch; break;
	case SAMPLE_REG_IRQ_STATUS: v = (uint32_t)s->irq_status; break;
	case SAMPLE_REG_DMA_ADDR_LO: v = (uint32_t)s->dma_addr; break;
	case SAMPLE_REG_DMA_ADDR_HI: v = (uint32_t)(s->dma_addr >> 32); break;
	case SAMPLE_REG_DMA_LEN: v = s->dma_len; break;
	case SAMPLE_REG_DMA_OFF: v = s->dma_off; break;
	case SAMPLE_REG_DMA_STATUS: v = (uint32_t)s->dma_status; break;
	case SAMPLE_REG_RESETS: v = s->resets; break;
	case SAMPLE_REG_CONNECTS: v = s->connects; break;
	case SAMPLE_REG_IRQ_MODE: v = vpcie_dev_irq_mode(s->dev); break;
	case SAMPLE_REG_IRQ_VECTORS: v = vpcie_dev_irq_vectors(s->dev); break;
	default: v = 0;
	}
	memcpy(buf, &v, 4);
	return 0;
}

static int bar0_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf, size_t len)
{
	struct sample *s = opaque;
	uint32_t v;

	if (len != 4 || off % 4)
		return -EINVAL;
	memcpy(&v, buf, 4);
	switch (off) {
	case SAMPLE_REG_SCRATCH: s->scratch = v; break;
	case SAMPLE_REG_IRQ_RAISE: s->irq_status = vpcie_dev_irq_raise(dev, v); break;
	case SAMPLE_REG_INTX_LEVEL: s->irq_status = vpcie_dev_irq_intx(dev, v != 0); break;
	case SAMPLE_REG_DMA_ADDR_LO: s->dma_addr = (s->dma_addr & ~0xffffffffull) | v; break;
	case SAMPLE_REG_DMA_ADDR_HI: s->dma_addr = (s->dma_addr & 0xffffffffull) | (uint64_t)v << 32; break;
	case SAMPLE_REG_DMA_LEN: s->dma_len = v; break;
	case SAMPLE_REG_DMA_OFF: s->dma_off = v; break;
	case SAMPLE_REG_DMA_CMD: do_dma(s, v); break;
	default: break; /* writes to read-only registers are ignored */
	}
	return 0;
}

static int io_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct sample *s = opaque;

	(void)dev;
	memcpy(buf, s->io + off, len);
	return 0;
}

static int io_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf, size_t len)
{
	struct sample *s = opaque;

	(void)dev;
	memcpy(s->io + off, buf, len);
	return 0;
}

/* BAR2's trapped first page. */
static int trap_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct sample *s = opaque;

	(void)dev;
	(void)off;
	memset(buf, 0, len);
	memcpy(buf, &s->trap_writes, len < 4 ? len : 4);
	return 0;
}

static int trap_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf, size_t len)
{
	struct sample *s = opaque;

	(void)dev;
	(void)off;
	(void)buf;
	(void)len;
	s->trap_writes++;
	return 0;
}

static int bar4_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct sample *s = opaque;

	(void)dev;
	memcpy(buf, s->bar4 + off, len);
	return 0;
}

static int bar4_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf, size_t len)
{
	struct sample *s = opaque;

	(void)dev;
	memcpy(s->bar4 + off, buf, len);
	return 0;
}

static void on_reset(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind)
{
	struct sample *s = opaque;

	(void)dev;
	(void)kind;
	s->resets++;
	s->scratch = 0;
	s->dma_addr = 0;
	s->dma_len = s->dma_off = 0;
	s->dma_status = 0;
	s->irq_status = 0;
}

static void on_connect(struct vpcie_dev *dev, void *opaque)
{
	struct sample *s = opaque;

	(void)dev;
	s->connects++;
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s --socket PATH [options]\n"
		"A sample vfio-user PCIe device exercising every feature of libvpcie.\n\n"
		"  -h, --help            this help\n",
		prog);
	vpcie_cli_usage(f);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		VPCIE_CLI_LONGOPTS,
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	static const struct vpcie_bar_ops bar0_ops = {bar0_read, bar0_write};
	static const struct vpcie_bar_ops io_ops = {io_read, io_write};
	static const struct vpcie_bar_ops trap_ops = {trap_read, trap_write};
	static const struct vpcie_bar_ops bar4_ops = {bar4_read, bar4_write};
	static const struct vpcie_trap bar2_traps[] = {{0, 4096}};
	const struct vpcie_ids ids = {
		.vendor = SAMPLE_VENDOR, .device = SAMPLE_DEVICE,
		.subsys_vendor = SAMPLE_VENDOR, .subsys = 0x0001,
		.class_code = 0xff0000, .revision = 1,
	};
	const struct vpcie_dev_ops ops = {.reset = on_reset, .connect = on_connect};
	struct vpcie_dev_opts opts;
	struct sample *s = calloc(1, sizeof(*s));
	struct vpcie_cli cli;
	int c, ret;
	uint8_t rom[2048] = {0x55, 0xaa};
	uint8_t vendor[4] = {'V', 'P', 0x01, 0x02};
	uint32_t dsn[2] = {0x12345678, 0x9abcdef0};

	vpcie_dev_opts_defaults(&opts);
	opts.name = "vpcie-sample";
	vpcie_cli_init(&cli, opts.name);
	while ((c = getopt_long(argc, argv, VPCIE_CLI_SHORTOPTS "h", longopts, NULL)) != -1) {
		switch (vpcie_cli_option(&cli, &opts, c, optarg)) {
		case 1: continue;
		case -1: return 2;
		}
		switch (c) {
		case 'h': usage(stdout, argv[0]); return 0;
		default: usage(stderr, argv[0]); return 2;
		}
	}
	if (vpcie_cli_finish(&cli, argc - optind))
		return 2;
	if (!s) {
		perror("vpcie-sample");
		return 1;
	}
	s->dev = vpcie_dev_new(&ids, &ops, s, &opts);
	if (!s->dev) {
		perror("vpcie-sample: vpcie_dev_new");
		return 1;
	}
	ret = vpcie_dev_set_bar(s->dev, 0, &(struct vpcie_bar_desc){
		.size = SAMPLE_BAR0_SIZE, .kind = VPCIE_BAR_MEM32, .ops = &bar0_ops, .opaque = s});
	if (!ret)
		ret = vpcie_dev_set_bar(s->dev, 1, &(struct vpcie_bar_desc){
			.size = 256, .kind = VPCIE_BAR_IO, .ops = &io_ops, .opaque = s});
	if (!ret)
		ret = vpcie_dev_set_bar(s->dev, 2, &(struct vpcie_bar_desc){
			.size = SAMPLE_BAR2_SIZE, .kind = VPCIE_BAR_MEM64, .prefetchable = true,
			.memory = true, .traps = bar2_traps, .ntraps = 1, .ops = &trap_ops, .opaque = s});
	if (!ret)
		ret = vpcie_dev_set_bar(s->dev, 4, &(struct vpcie_bar_desc){
			.size = SAMPLE_BAR4_SIZE, .kind = VPCIE_BAR_MEM32, .ops = &bar4_ops, .opaque = s});
	if (!ret)
		ret = vpcie_dev_set_rom(s->dev, rom, sizeof(rom));
	if (!ret)
		ret = vpcie_dev_add_pm(s->dev) < 0;
	if (!ret)
		ret = vpcie_dev_add_pcie(s->dev, true) < 0;
	if (!ret)
		ret = vpcie_dev_add_msi(s->dev, 32, true) < 0;
	if (!ret)
		ret = vpcie_dev_add_msix(s->dev, SAMPLE_MSIX_VECTORS, 4, 0, 4, SAMPLE_MSIX_PBA_OFF) < 0;
	if (!ret)
		ret = vpcie_dev_add_vendor_cap(s->dev, vendor, sizeof(vendor)) < 0;
	if (!ret)
		ret = vpcie_dev_add_ext_cap(s->dev, PCI_EXT_CAP_ID_DSN, 1, dsn, sizeof(dsn)) < 0;
	if (ret) {
		fprintf(stderr, "vpcie-sample: device setup failed (%d)\n", ret);
		return 1;
	}
	ret = vpcie_dev_serve(s->dev, cli.socket, cli.fd);
	vpcie_dev_free(s->dev);
	free(s);
	return ret ? 1 : 0;
}
