/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * vpcie_detector.h - the user ABI of the vpcie_detector Linux driver
 * (drivers/linux/vpcie-detector), shared by the driver and its user-space
 * consumers (vdet-stream.c). docs/detector-driver.md explains it with an
 * example; the device itself is described by detector_regs.h and
 * docs/detector.md.
 *
 * One character device per channel: /dev/vdetD.C (device D in probe order,
 * channel C). It can be open once at a time (a second open gets EBUSY).
 *
 *   open        the channel, stopped, with buffers allocated for the
 *               module-parameter configuration (frame_size, nbufs, ...).
 *   ioctl       VDET_IOC_INFO       geometry, identity, current configuration
 *               VDET_IOC_CONFIG     reconfigure (stopped, not mmapped): frame
 *                                   size, buffers, moderation, pattern...;
 *                                   the buffers are reallocated; the struct
 *                                   comes back with the geometry filled in
 *               VDET_IOC_START      reset the channel, post every buffer on
 *                                   the descriptor ring, start streaming
 *               VDET_IOC_STOP       stop, wait for the engine, reclaim every
 *                                   buffer, drop undelivered completions
 *               VDET_IOC_STATS      device counters and driver counters
 *   mmap        MAP_SHARED, offset 0, length info.config.mmap_size: every
 *               buffer, buffer i at i * buf_stride, its frame contiguous
 *               from there (even when it is made of several DMA segments).
 *               The buffers are DMA-coherent memory the device writes into;
 *               the driver never copies frame data.
 *   read        struct vdet_completion records, one per completed frame, in
 *               completion order; as many whole records as fit in the count
 *               and are ready. Blocks until at least one is ready (or
 *               O_NONBLOCK: EAGAIN); returns 0 when the channel is stopped
 *               and nothing is left. The buffer of a delivered record belongs
 *               to user space until it is returned.
 *   write       __u32 buffer indices: give the buffers back to the device
 *               (they are posted on the ring again). Only buffers delivered
 *               by read and not yet returned are accepted; the first other
 *               index ends the write (EINVAL if it is the first one).
 *   poll        EPOLLIN when read will not block (a record is ready, or the
 *               channel is stopped); EPOLLOUT always; EPOLLERR | EPOLLHUP
 *               when the device was removed.
 *
 * After the device is unbound (or hot-unplugged) every call fails with ENODEV
 * and the mapping is gone (touching it raises SIGBUS); close the file.
 */
#ifndef VPCIE_DETECTOR_H
#define VPCIE_DETECTOR_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define VDET_ABI_VERSION 1
#define VDET_MAX_BUFS    4096 /* buffers per channel */
#define VDET_MAX_SEG     (4u << 20) /* largest DMA segment (one descriptor) */

/* Configuration of a channel (VDET_IOC_CONFIG in/out, VDET_IOC_INFO out). */
struct vdet_config {
	/* in: what to stream */
	__u32 frame_size;  /* bytes per frame, header included: a multiple of 8,
			    * DET_FRAME_MIN..DET_FRAME_MAX */
	__u32 nbufs;       /* frame buffers, 1..VDET_MAX_BUFS */
	__u32 seg_size;    /* largest DMA segment: a multiple of the page size,
			    * up to VDET_MAX_SEG; 0 = the module's seg_size.
			    * Frames larger than this span several descriptors. */
	__u32 irq_frames;  /* an interrupt per N completed frames (0: none by count) */
	__u32 irq_usec;    /* ... or at most this long after a completion (0: off) */
	__u32 period_ns;   /* ns between frames; 0 = free-running */
	__u32 pattern;     /* DET_PAT_* */
	__u32 seed;        /* PRNG seed (DET_PAT_PRNG) */
	__u32 frame_limit; /* stop after this many frames; 0 = unlimited */
	__u32 reserved;    /* 0 */
	/* out: the geometry that follows from it */
	__u32 nsegs;       /* descriptors per buffer */
	__u32 ring_size;   /* descriptors in the ring (power of two >= nbufs * nsegs) */
	__u64 buf_stride;  /* bytes between buffers in the mapping (page multiple) */
	__u64 mmap_size;   /* nbufs * buf_stride: the length to mmap */
};

struct vdet_info {
	__u32 abi_version; /* VDET_ABI_VERSION */
	__u32 device;      /* D of /dev/vdetD.C */
	__u32 channel;     /* C */
	__u32 channels;    /* channels of the device */
	__u32 dev_version; /* DET_REG_VERSION */
	__u32 caps;        /* DET_REG_CAPS */
	__u32 irq_vector;  /* the MSI-X vector this channel interrupts on */
	__u32 irq_vectors; /* vectors the device was granted (< channels: shared) */
	struct vdet_config config; /* current configuration and geometry */
};

/* One completed frame (read). */
struct vdet_completion {
	__u32 index;  /* buffer index: the frame is at index * buf_stride in the mapping */
	__u32 length; /* frame bytes written (the sum of the descriptors' USED) */
	__u64 seq;    /* sequence number the device wrote in the descriptors */
	__u32 status; /* VDET_ST_* */
	__u32 nsegs;  /* descriptors the frame used */
};

#define VDET_ST_OK      0 /* every descriptor DET_DESC_ST_OK, framing as expected */
#define VDET_ST_BAD     1 /* a descriptor was rejected (DET_DESC_ST_BAD): no data */
#define VDET_ST_DMA_ERR 2 /* a transfer failed (DET_DESC_ST_DMA_ERR): contents undefined */
#define VDET_ST_FRAMING 3 /* the descriptors did not form one frame (SOF/EOF/seq) */

struct vdet_stats {
	/* the device's counters (DET_CH_*), cleared by VDET_IOC_START */
	__u64 frames;      /* frames completed */
	__u64 bytes;       /* bytes written into the buffers */
	__u64 dropped;     /* frames dropped for lack of posted buffers */
	__u64 dma_errors;
	__u64 bad_desc;
	__u64 irqs;        /* interrupts the device raised */
	__u64 next_seq;    /* sequence number of the next frame */
	__u32 status;      /* DET_CH_STATUS */
	__u32 running;     /* the driver has the channel started */
	/* the driver's, cleared by VDET_IOC_START */
	__u64 drv_irqs;    /* interrupts handled for this channel */
	__u64 completed;   /* frames completed (records queued) */
	__u64 delivered;   /* records read */
	__u64 returned;    /* buffers given back (write) */
	__u64 errors;      /* completions whose status was not VDET_ST_OK */
};

#define VDET_IOC_MAGIC 'v'
#define VDET_IOC_INFO   _IOR(VDET_IOC_MAGIC, 0x40, struct vdet_info)
#define VDET_IOC_CONFIG _IOWR(VDET_IOC_MAGIC, 0x41, struct vdet_config)
#define VDET_IOC_START  _IO(VDET_IOC_MAGIC, 0x42)
#define VDET_IOC_STOP   _IO(VDET_IOC_MAGIC, 0x43)
#define VDET_IOC_STATS  _IOR(VDET_IOC_MAGIC, 0x44, struct vdet_stats)

#endif /* VPCIE_DETECTOR_H */
