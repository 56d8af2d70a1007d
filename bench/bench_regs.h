/* SPDX-License-Identifier: MIT */
/*
 * Register map of vpcie-bench-device, shared with `vpcie bench`.
 *
 * BAR0  4 KiB  callbacks that do nothing but return (reads give zeros): the
 *              cost of an MMIO access is the runtime's, not the device's
 * BAR1  4 KiB  callbacks: the control registers below; MSI-X table at
 *              BENCH_MSIX_TABLE_OFF, PBA at BENCH_MSIX_PBA_OFF
 * BAR2  64 KiB memory-backed (the host mmaps it): struct bench_stats at 0,
 *              written by the device; the rest is plain shared memory
 * caps  MSI x1, MSI-X x BENCH_MSIX_VECTORS; INTx (pin A)
 */
#ifndef VPCIE_BENCH_REGS_H
#define VPCIE_BENCH_REGS_H

#include <stdint.h>

#define BENCH_VENDOR 0x1234
#define BENCH_DEVICE 0x5651
#define BENCH_ID_VALUE 0x48434e42u /* "BNCH" */

#define BENCH_NULL_BAR 0
#define BENCH_CTRL_BAR 1
#define BENCH_MEM_BAR 2

#define BENCH_BAR0_SIZE 4096u
#define BENCH_BAR1_SIZE 4096u
#define BENCH_BAR2_SIZE (64u * 1024)

#define BENCH_MSIX_VECTORS 4u
#define BENCH_MSIX_TABLE_OFF 0x800u
#define BENCH_MSIX_PBA_OFF 0xc00u

/* Largest DMA the device does in one command (its private buffer). */
#define BENCH_DMA_MAX (4u << 20)

/* BAR1 registers, 32-bit */
#define BENCH_REG_ID 0x00          /* RO */
#define BENCH_REG_DMA_ADDR_LO 0x04
#define BENCH_REG_DMA_ADDR_HI 0x08
#define BENCH_REG_DMA_LEN 0x0c     /* bytes, <= BENCH_DMA_MAX */
#define BENCH_REG_DMA_CMD 0x10     /* W: BENCH_DMA_*; the DMA runs in the write */
#define BENCH_REG_DMA_STATUS 0x14  /* R: 0 or -errno of the last DMA */
#define BENCH_REG_IRQ_RAISE 0x18   /* W: stamp irq_raise_ns, raise this vector */
#define BENCH_REG_IRQ_STATUS 0x1c  /* R: result of the last raise */

#define BENCH_DMA_TO_DEVICE 1 /* host memory -> device buffer (vpcie_dev_dma_read) */
#define BENCH_DMA_TO_HOST 2   /* device buffer -> host memory (vpcie_dev_dma_write) */

/* At offset 0 of BAR2; every time is CLOCK_MONOTONIC in ns, which the host
 * and the device share. */
struct bench_stats {
	uint64_t irq_raise_ns; /* just before vpcie_dev_irq_raise() */
	uint64_t irq_seq;      /* raises so far */
	uint64_t dma_start_ns; /* around vpcie_dev_dma_read/write() */
	uint64_t dma_end_ns;
	int64_t dma_status;
	uint64_t dma_seq;
};

#endif
