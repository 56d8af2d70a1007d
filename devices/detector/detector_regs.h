/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * detector_regs.h - the register map, descriptor and frame formats of
 * vpcie-detector, the frame-streaming DMA engine (issue 14). One header for
 * the device (devices/detector), its Linux driver
 * (drivers/linux/vpcie-detector, where this file is a link), `vpcie daq`, the
 * tests and the datasheet (docs/detector.md, which explains every value).
 * Plain #defines only, so a kernel module and a user-space program can both
 * include it. Everything in host memory and in registers is little-endian.
 *
 * BAR0 (32 KiB, 64-bit memory, not prefetchable): registers, then the MSI-X
 * table and PBA (served by the runtime). Registers are 32-bit, accessed with
 * 4-byte aligned accesses; 64-bit registers (_LO/_HI pairs) may also be
 * accessed 8 bytes at once at the _LO offset.
 *
 * The model, in one paragraph: each channel streams frames into buffers the
 * host posts on a descriptor ring in host memory. The host fills descriptors
 * (addr, len, flags = 0) and advances RING_TAIL, a free-running count of
 * descriptors posted. The device consumes descriptors in order (RING_HEAD,
 * free-running count consumed; slot = count & (RING_SIZE - 1)): a frame
 * occupies one or more consecutive descriptors (scatter-gather); the device
 * only starts a frame when enough descriptors are posted for all of it,
 * otherwise the frame is dropped and counted (the engine never waits for the
 * host). After the frame's bytes are written, the device writes each
 * descriptor's completion fields and sets DESC_F_DONE last (a descriptor
 * whose flags have DONE is complete, with its data visible). Interrupts are
 * moderated per channel: one MSI-X message on IRQ_VECTOR per IRQ_MOD_FRAMES
 * completed frames, or when IRQ_MOD_USEC microseconds passed since the first
 * completion not yet signalled, whichever comes first.
 */
#ifndef DETECTOR_REGS_H
#define DETECTOR_REGS_H

/* PCI identity. */
#define DET_VENDOR_ID    0x1234
#define DET_DEVICE_ID    0x4454     /* "DT" */
#define DET_CLASS        0x118000   /* data acquisition controller, other */
#define DET_REVISION     1

#define DET_BAR0_SIZE    0x8000
#define DET_MSIX_TABLE   0x4000     /* BAR0 offset of the MSI-X table */
#define DET_MSIX_PBA     0x6000     /* BAR0 offset of the PBA */
#define DET_MAX_CHANNELS 16

/* Global registers (BAR0). */
#define DET_REG_ID          0x000 /* RO: DET_ID_VALUE */
#define DET_REG_VERSION     0x004 /* RO: DET_VERSION_VALUE (major << 16 | minor) */
#define DET_REG_CAPS        0x008 /* RO: DET_CAP_* */
#define DET_REG_CHANNELS    0x00c /* RO: number of channels (1..DET_MAX_CHANNELS) */
#define DET_REG_GCTRL       0x010 /* WO: DET_GCTRL_* */
#define DET_REG_TIME_LO     0x018 /* RO: device time in ns (64-bit), the frame timestamp clock */
#define DET_REG_TIME_HI     0x01c
#define DET_REG_SCRATCH     0x020 /* RW: no effect */

#define DET_ID_VALUE        0x54454456u /* "VDET" */
#define DET_VERSION_VALUE   0x00010001u /* 1.1: 1.0 + the tail shadow (DET_CAP_SHADOW) */

#define DET_CAP_PATTERN_PRNG (1u << 0)
#define DET_CAP_PATTERN_FILE (1u << 1) /* the device was started with a frame file */
#define DET_CAP_SHADOW       (1u << 2) /* DET_CH_SHADOW: the tail shadow in host memory */

#define DET_GCTRL_RESET     (1u << 0) /* reset every channel (as DET_CTRL_RESET on each) */

/* Channel register blocks: channel c at DET_CH_BASE(c), DET_CH_STRIDE bytes. */
#define DET_CH_BASE(c)      (0x100u + (unsigned)(c) * 0x100u)
#define DET_CH_STRIDE       0x100

#define DET_CH_CTRL         0x00 /* RW: DET_CTRL_* (RESET and SINGLE read 0) */
#define DET_CH_STATUS       0x04 /* RO: DET_STS_* */
#define DET_CH_FRAME_SIZE   0x08 /* RW: bytes per frame, header included; multiple of 8,
                                  * DET_FRAME_MIN..DET_FRAME_MAX; changed only while stopped */
#define DET_CH_PERIOD_NS    0x0c /* RW: ns between frame starts; 0 = free-running */
#define DET_CH_PATTERN      0x10 /* RW: DET_PAT_* */
#define DET_CH_SEED         0x14 /* RW: PRNG seed */
#define DET_CH_FRAME_LIMIT  0x18 /* RW: stop after this many frames since start; 0 = unlimited */
#define DET_CH_RING_LO      0x20 /* RW: bus address of the descriptor ring (64-bit, 64-byte aligned) */
#define DET_CH_RING_HI      0x24
#define DET_CH_RING_SIZE    0x28 /* RW: descriptors in the ring, power of two, 1..65536 */
#define DET_CH_RING_HEAD    0x2c /* RO: descriptors consumed (free-running) */
#define DET_CH_RING_TAIL    0x30 /* RW: descriptors posted (free-running); writing it is the doorbell */
#define DET_CH_IRQ_FRAMES   0x34 /* RW: interrupt every N completed frames; 0 = never by count */
#define DET_CH_IRQ_USEC     0x38 /* RW: interrupt at most this many us after a completion; 0 = off */
#define DET_CH_IRQ_VECTOR   0x3c /* RW: MSI-X vector of this channel (default: the channel number) */
#define DET_CH_SEQ_LO       0x40 /* RO: sequence number of the next frame (64-bit) */
#define DET_CH_SEQ_HI       0x44
#define DET_CH_SHADOW_LO    0x48 /* RW: bus address of the channel's shadow block (64-bit, 64-byte
                                  * aligned; 0 = none, the power-on value); changed only while stopped */
#define DET_CH_SHADOW_HI    0x4c
/* Counters: 64-bit, RO, cleared by DET_CTRL_RESET. */
#define DET_CH_FRAMES_LO    0x50 /* frames completed */
#define DET_CH_FRAMES_HI    0x54
#define DET_CH_BYTES_LO     0x58 /* bytes written into host buffers */
#define DET_CH_BYTES_HI     0x5c
#define DET_CH_DROPPED_LO   0x60 /* frames dropped: not enough descriptors posted */
#define DET_CH_DROPPED_HI   0x64
#define DET_CH_DMA_ERR_LO   0x68 /* DMA transfers the host refused or that failed */
#define DET_CH_DMA_ERR_HI   0x6c
#define DET_CH_BAD_DESC_LO  0x70 /* descriptors rejected: zero length, address outside host memory */
#define DET_CH_BAD_DESC_HI  0x74
#define DET_CH_IRQS_LO      0x78 /* interrupts raised */
#define DET_CH_IRQS_HI      0x7c

#define DET_CTRL_ENABLE     (1u << 0) /* stream while set (a frame every PERIOD_NS, or back to back) */
#define DET_CTRL_SINGLE     (1u << 1) /* write 1: produce one frame now (also when not enabled) */
#define DET_CTRL_RESET      (1u << 2) /* write 1: stop, clear counters, HEAD, TAIL, SEQ; keep settings */

#define DET_STS_RUNNING     (1u << 0) /* ENABLE set and FRAME_LIMIT not reached */
#define DET_STS_ERROR       (1u << 1) /* a DMA error or a bad descriptor since the last reset */
#define DET_STS_RING_EMPTY  (1u << 2) /* HEAD == TAIL */

#define DET_PAT_COUNTER     0 /* payload 32-bit word i = i (same in every frame) */
#define DET_PAT_PRNG        1 /* payload from a PRNG seeded by SEED and the sequence number */
#define DET_PAT_FILE        2 /* payload from the device's frame file, frame after frame, wrapping */

#define DET_FRAME_MIN       64
#define DET_FRAME_MAX       (64u << 20)

/*
 * Descriptor: 32 bytes, DET_DESC_SIZE apart in the ring. The host writes
 * addr, len and flags = 0 before posting; the device writes used, status,
 * seq and finally flags.
 */
#define DET_DESC_SIZE       32
#define DET_DESC_ADDR       0x00 /* u64: bus address of the buffer */
#define DET_DESC_LEN        0x08 /* u32: buffer bytes (> 0) */
#define DET_DESC_FLAGS      0x0c /* u32: DET_DESC_F_*, written by the device, DONE last */
#define DET_DESC_USED       0x10 /* u32: bytes of the frame in this buffer */
#define DET_DESC_STATUS     0x14 /* u32: DET_DESC_ST_* */
#define DET_DESC_SEQ        0x18 /* u64: sequence number of the frame */

#define DET_DESC_F_DONE     (1u << 0) /* completion fields valid, data visible */
#define DET_DESC_F_SOF      (1u << 1) /* first buffer of a frame */
#define DET_DESC_F_EOF      (1u << 2) /* last buffer of a frame */

#define DET_DESC_ST_OK      0
#define DET_DESC_ST_BAD     1 /* descriptor rejected (zero length, address outside host memory): no data */
#define DET_DESC_ST_DMA_ERR 2 /* the data transfer failed: contents undefined */

/*
 * Shadow block (optional, DET_CAP_SHADOW): DET_SHADOW_SIZE bytes of host
 * memory at DET_CH_SHADOW, so that posting buffers needs no register write
 * while the engine is busy (as virtio's avail index with notifications
 * suppressed). The host stores its RING_TAIL value in SHADOW_TAIL whenever it
 * posts, always before (or instead of) writing the RING_TAIL register; the
 * device reads SHADOW_TAIL when it runs short of descriptors. Before the
 * free-running engine goes idle it sets DET_SHADOW_F_IDLE in SHADOW_FLAGS,
 * then reads SHADOW_TAIL once more (a full barrier in between); it clears the
 * flag when it runs again with descriptors to fill (a RING_TAIL write, or a
 * SHADOW_TAIL it read); nothing else clears it. So after storing SHADOW_TAIL the host issues a
 * full barrier, reads SHADOW_FLAGS and writes the RING_TAIL register (the
 * doorbell) only if IDLE is set. SHADOW_TAIL is read only while the channel
 * is enabled; set it to the RING_TAIL value before enabling. A SHADOW_TAIL
 * more than RING_SIZE ahead of RING_HEAD or behind the tail the device
 * already has is ignored and sets DET_STS_ERROR. With a shadow, a RING_TAIL
 * write from RING_HEAD - RING_SIZE up to the device's tail is a late
 * doorbell (the device read a later SHADOW_TAIL meanwhile) and ignored
 * without error. Hosts that ignore the feature leave
 * DET_CH_SHADOW at 0: nothing changes for them.
 */
#define DET_SHADOW_SIZE     128
#define DET_SHADOW_TAIL     0x00 /* u32, written by the host: descriptors posted (as RING_TAIL) */
#define DET_SHADOW_FLAGS    0x40 /* u32, written by the device (own cache line): DET_SHADOW_F_* */
#define DET_SHADOW_F_IDLE   (1u << 0) /* the engine waits for a RING_TAIL write */

/*
 * Frame header: the first DET_HDR_SIZE bytes of every frame. crc is the
 * CRC-32 (IEEE 802.3, as zlib's crc32() and the kernel's
 * crc32_le(~0, p, n) ^ ~0) of the whole frame with the crc field read as 0.
 */
#define DET_HDR_SIZE        32
#define DET_HDR_MAGIC       0x00 /* u32: DET_FRAME_MAGIC */
#define DET_HDR_CHANNEL     0x04 /* u16: channel number */
#define DET_HDR_HDR_LEN     0x06 /* u16: DET_HDR_SIZE */
#define DET_HDR_SEQ         0x08 /* u64: sequence number, 0 after a reset, +1 per frame produced (dropped ones too) */
#define DET_HDR_TIMESTAMP   0x10 /* u64: device time (DET_REG_TIME) at the frame's start, ns */
#define DET_HDR_LENGTH      0x18 /* u32: frame bytes, header included (= FRAME_SIZE) */
#define DET_HDR_CRC         0x1c /* u32: see above */

#define DET_FRAME_MAGIC     0x52464456u /* "VDFR" */

#endif /* DETECTOR_REGS_H */
