/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * simple_blk_regs.h - the register map of vpcie-simple-blk, the teaching
 * block device. One header for the device (devices/simple-blk), its Linux
 * driver (drivers/linux/simple-blk), the tests and the datasheet
 * (docs/simple-blk.md, which explains every value below). Plain #defines
 * only, so a kernel module and a user-space program can both include it.
 *
 * BAR0 (4 KiB, 32-bit memory, not prefetchable). Registers are 32-bit
 * little-endian, accessed with 4-byte aligned accesses; the 64-bit registers
 * (SECTOR, DMA_ADDR, CAPACITY) may also be accessed 8 bytes at once. The
 * data window (DATA) takes any access size.
 */
#ifndef SIMPLE_BLK_REGS_H
#define SIMPLE_BLK_REGS_H

/* PCI identity. */
#define SBLK_VENDOR_ID   0x1234
#define SBLK_DEVICE_ID   0x5342     /* "SB" */
#define SBLK_CLASS       0x018000   /* mass storage, other */
#define SBLK_REVISION    1

#define SBLK_BAR0_SIZE   4096
#define SBLK_SECTOR_SIZE 512

/* Register offsets in BAR0. */
#define SBLK_REG_ID           0x00 /* RO: SBLK_ID_VALUE */
#define SBLK_REG_VERSION      0x04 /* RO: SBLK_VERSION_VALUE */
#define SBLK_REG_STATUS       0x08 /* RO bits below; write S|RW|DMA to start */
#define SBLK_REG_ERROR        0x0c /* RO: SBLK_ERR_* of the first error */
#define SBLK_REG_IRQ_STATUS   0x10 /* RO: SBLK_IRQ_* raised, not yet acked */
#define SBLK_REG_IRQ_ACK      0x14 /* WO: write 1s to clear IRQ_STATUS bits */
#define SBLK_REG_CONTROL      0x18 /* RW: SBLK_CTRL_* */
#define SBLK_REG_COUNT        0x1c /* RW: sectors to transfer */
#define SBLK_REG_SECTOR_LO    0x20 /* RW: first sector (64-bit) */
#define SBLK_REG_SECTOR_HI    0x24
#define SBLK_REG_DMA_ADDR_LO  0x28 /* RW: bus address of the buffer (64-bit) */
#define SBLK_REG_DMA_ADDR_HI  0x2c
#define SBLK_REG_CAPACITY_LO  0x30 /* RO: disk size in sectors (64-bit) */
#define SBLK_REG_CAPACITY_HI  0x34
#define SBLK_REG_MAX_COUNT    0x38 /* RO: largest COUNT of a DMA command */
#define SBLK_REG_COMMANDS     0x3c /* RO: commands completed since reset */
#define SBLK_REG_DATA         0x200 /* RW: the PIO sector buffer */
#define SBLK_DATA_SIZE        SBLK_SECTOR_SIZE

#define SBLK_ID_VALUE      0x53424c4b /* "SBLK" read as a big-endian string */
#define SBLK_VERSION_VALUE 0x00010000 /* 1.0: major << 16 | minor */

/* STATUS bits. I, R, B, E and the latched RW/DMA are set by the device;
 * a write with S set starts a command (the other written bits say how). */
#define SBLK_STATUS_I   (1u << 0) /* initialized: the device is usable */
#define SBLK_STATUS_R   (1u << 1) /* ready for a command */
#define SBLK_STATUS_B   (1u << 2) /* busy: a command is running */
#define SBLK_STATUS_RW  (1u << 3) /* direction: 1 write (to disk), 0 read */
#define SBLK_STATUS_S   (1u << 4) /* start (write only; reads as 0) */
#define SBLK_STATUS_E   (1u << 5) /* error: see ERROR */
#define SBLK_STATUS_DMA (1u << 6) /* data by DMA at DMA_ADDR; 0: the DATA window */

/* ERROR codes. */
#define SBLK_ERR_NONE   0
#define SBLK_ERR_RANGE  1 /* SECTOR + COUNT beyond CAPACITY */
#define SBLK_ERR_COUNT  2 /* COUNT 0, above MAX_COUNT, or not 1 for PIO */
#define SBLK_ERR_BUSY   3 /* S written while B was set */
#define SBLK_ERR_DMA    4 /* host memory not reachable (or bus mastering off) */
#define SBLK_ERR_IO     5 /* the backing image failed */

/* IRQ_STATUS / IRQ_ACK bits. */
#define SBLK_IRQ_DONE   (1u << 0) /* a command completed (with or without E) */

/* CONTROL bits. */
#define SBLK_CTRL_IE    (1u << 0) /* interrupt on completion */

/* MAX_COUNT of this implementation: 256 sectors (128 KiB) per command. */
#define SBLK_MAX_COUNT_VALUE 256

#endif
