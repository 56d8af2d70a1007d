/* SPDX-License-Identifier: MIT */
/* Register map of vpcie-sample, shared with the tests that drive it. */
#ifndef VPCIE_SAMPLE_REGS_H
#define VPCIE_SAMPLE_REGS_H

#define SAMPLE_VENDOR 0x1234
#define SAMPLE_DEVICE 0x5650
#define SAMPLE_ID_VALUE 0x56504349u /* "ICPV" */

#define SAMPLE_BAR0_SIZE 4096u
#define SAMPLE_BAR2_SIZE (1u << 20)
#define SAMPLE_BAR4_SIZE (16u * 1024)
#define SAMPLE_MSIX_VECTORS 64u
#define SAMPLE_MSIX_PBA_OFF 0x2000u

/* BAR0 registers, 32-bit */
#define SAMPLE_REG_ID 0x00          /* RO */
#define SAMPLE_REG_SCRATCH 0x04     /* RW, cleared by reset */
#define SAMPLE_REG_IRQ_RAISE 0x08   /* W: raise this vector */
#define SAMPLE_REG_IRQ_STATUS 0x0c  /* R: result of the last raise (0 or -errno) */
#define SAMPLE_REG_DMA_ADDR_LO 0x10
#define SAMPLE_REG_DMA_ADDR_HI 0x14
#define SAMPLE_REG_DMA_LEN 0x18
#define SAMPLE_REG_DMA_OFF 0x1c     /* offset in BAR2 */
#define SAMPLE_REG_DMA_CMD 0x20     /* W: SAMPLE_DMA_* runs the transfer */
#define SAMPLE_REG_DMA_STATUS 0x24  /* R: 0 or -errno */
#define SAMPLE_REG_RESETS 0x28      /* R: resets seen */
#define SAMPLE_REG_CONNECTS 0x2c    /* R: clients seen */
#define SAMPLE_REG_INTX_LEVEL 0x30  /* W: 1 asserts INTx, 0 deasserts */
#define SAMPLE_REG_IRQ_MODE 0x34    /* R: enum vpcie_irq_mode */
#define SAMPLE_REG_IRQ_VECTORS 0x38 /* R: vectors usable */

#define SAMPLE_DMA_TO_DEVICE 1 /* host memory -> BAR2 */
#define SAMPLE_DMA_TO_HOST 2   /* BAR2 -> host memory */

#endif
