/* SPDX-License-Identifier: MIT */
/*
 * vpcie-bench-device: the device that `vpcie bench` measures the runtime with.
 *
 * It does as little as a device can, so that what the benchmarks see is the
 * runtime's cost: BAR0's callbacks return at once, DMA is one
 * vpcie_dev_dma_read/write() of a private buffer run inside the register write
 * that asks for it, and an interrupt is one vpcie_dev_irq_raise(). The device
 * stamps CLOCK_MONOTONIC around the DMA and just before each raise into the
 * shared-memory BAR2 (struct bench_stats), so the host can time a transfer
 * from inside the device and an interrupt from raise to wake-up.
 * See bench/bench_regs.h for the register map.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vpcie/cli.h>
#include <vpcie/device.h>

#include "bench_regs.h"

struct bench {
	struct vpcie_dev *dev;
	struct bench_stats *stats; /* BAR2 offset 0 */
	uint8_t *buf;              /* BENCH_DMA_MAX bytes, from the first DMA on */
	uint64_t dma_addr;
	uint32_t dma_len;
	int32_t dma_status, irq_status;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* BAR0: the null device. */
static int null_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	(void)dev;
	(void)opaque;
	(void)off;
	memset(buf, 0, len);
	return 0;
}

static int null_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf,
		      size_t len)
{
	(void)dev;
	(void)opaque;
	(void)off;
	(void)buf;
	(void)len;
	return 0;
}

static void do_dma(struct bench *b, uint32_t cmd)
{
	struct bench_stats *st = b->stats;
	uint64_t t0, t1;
	int ret;

	if (b->dma_len > BENCH_DMA_MAX || (cmd != BENCH_DMA_TO_DEVICE && cmd != BENCH_DMA_TO_HOST)) {
		b->dma_status = -EINVAL;
		return;
	}
	if (!b->buf) {
		/* First DMA: allocate and touch the buffer (devices that never DMA,
		 * as in the many-devices run, stay small). */
		b->buf = malloc(BENCH_DMA_MAX);
		if (!b->buf) {
			b->dma_status = -ENOMEM;
			return;
		}
		memset(b->buf, 0xa5, BENCH_DMA_MAX);
	}
	t0 = now_ns();
	if (cmd == BENCH_DMA_TO_DEVICE)
		ret = vpcie_dev_dma_read(b->dev, b->dma_addr, b->buf, b->dma_len);
	else
		ret = vpcie_dev_dma_write(b->dev, b->dma_addr, b->buf, b->dma_len);
	t1 = now_ns();
	b->dma_status = ret;
	st->dma_start_ns = t0;
	st->dma_end_ns = t1;
	st->dma_status = ret;
	st->dma_seq++;
}

static int ctrl_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct bench *b = opaque;
	uint32_t v;

	(void)dev;
	if (len != 4 || off % 4)
		return -EINVAL;
	switch (off) {
	case BENCH_REG_ID: v = BENCH_ID_VALUE; break;
	case BENCH_REG_DMA_ADDR_LO: v = (uint32_t)b->dma_addr; break;
	case BENCH_REG_DMA_ADDR_HI: v = (uint32_t)(b->dma_addr >> 32); break;
	case BENCH_REG_DMA_LEN: v = b->dma_len; break;
	case BENCH_REG_DMA_STATUS: v = (uint32_t)b->dma_status; break;
	case BENCH_REG_IRQ_STATUS: v = (uint32_t)b->irq_status; break;
	default: v = 0;
	}
	memcpy(buf, &v, 4);
	return 0;
}

static int ctrl_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf,
		      size_t len)
{
	struct bench *b = opaque;
	uint32_t v;

	if (len != 4 || off % 4)
		return -EINVAL;
	memcpy(&v, buf, 4);
	switch (off) {
	case BENCH_REG_DMA_ADDR_LO: b->dma_addr = (b->dma_addr & ~0xffffffffull) | v; break;
	case BENCH_REG_DMA_ADDR_HI:
		b->dma_addr = (b->dma_addr & 0xffffffffull) | (uint64_t)v << 32;
		break;
	case BENCH_REG_DMA_LEN: b->dma_len = v; break;
	case BENCH_REG_DMA_CMD: do_dma(b, v); break;
	case BENCH_REG_IRQ_RAISE:
		b->stats->irq_raise_ns = now_ns();
		b->stats->irq_seq++;
		b->irq_status = vpcie_dev_irq_raise(dev, v);
		break;
	default: break;
	}
	return 0;
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s --socket PATH [options]\n"
		"The device `vpcie bench` measures libvpcie with: null MMIO callbacks, DMA and\n"
		"interrupts on register writes, timestamps in a shared-memory BAR.\n\n"
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
	static const struct vpcie_bar_ops null_ops = {null_read, null_write};
	static const struct vpcie_bar_ops ctrl_ops = {ctrl_read, ctrl_write};
	const struct vpcie_ids ids = {
		.vendor = BENCH_VENDOR, .device = BENCH_DEVICE,
		.subsys_vendor = BENCH_VENDOR, .subsys = 0x0001,
		.class_code = 0xff0000, .revision = 1,
	};
	struct vpcie_dev_opts opts;
	struct bench b = {0};
	struct vpcie_cli cli;
	int c, ret;

	vpcie_dev_opts_defaults(&opts);
	opts.name = "vpcie-bench-device";
	opts.log_level = VPCIE_LOG_WARN; /* the benchmark reconnects thousands of times */
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
	b.dev = vpcie_dev_new(&ids, NULL, &b, &opts);
	if (!b.dev) {
		perror("vpcie-bench-device: vpcie_dev_new");
		return 1;
	}
	ret = vpcie_dev_set_bar(b.dev, BENCH_NULL_BAR, &(struct vpcie_bar_desc){
		.size = BENCH_BAR0_SIZE, .kind = VPCIE_BAR_MEM32, .ops = &null_ops});
	if (!ret)
		ret = vpcie_dev_set_bar(b.dev, BENCH_CTRL_BAR, &(struct vpcie_bar_desc){
			.size = BENCH_BAR1_SIZE, .kind = VPCIE_BAR_MEM32, .ops = &ctrl_ops,
			.opaque = &b});
	if (!ret)
		ret = vpcie_dev_set_bar(b.dev, BENCH_MEM_BAR, &(struct vpcie_bar_desc){
			.size = BENCH_BAR2_SIZE, .kind = VPCIE_BAR_MEM32, .memory = true});
	if (!ret && vpcie_dev_add_msi(b.dev, 1, false) < 0)
		ret = -EINVAL;
	if (!ret && vpcie_dev_add_msix(b.dev, BENCH_MSIX_VECTORS, BENCH_CTRL_BAR,
				       BENCH_MSIX_TABLE_OFF, BENCH_CTRL_BAR,
				       BENCH_MSIX_PBA_OFF) < 0)
		ret = -EINVAL;
	if (ret) {
		fprintf(stderr, "vpcie-bench-device: device setup failed (%d)\n", ret);
		vpcie_dev_free(b.dev);
		return 1;
	}
	b.stats = vpcie_dev_bar_mem(b.dev, BENCH_MEM_BAR);
	ret = vpcie_dev_serve(b.dev, cli.socket, cli.fd);
	vpcie_dev_free(b.dev);
	free(b.buf);
	return ret ? 1 : 0;
}
