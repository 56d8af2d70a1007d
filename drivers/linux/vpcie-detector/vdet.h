/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * vdet.h - internals of the vpcie_detector driver, shared by its two parts:
 * vdet_pci.c (PCI probe/remove, interrupts, the engine's registers) and
 * vdet_chan.c (a channel: its buffers, descriptor ring and character device).
 *
 * Locking, outermost first:
 *   chan.mutex    configuration, start/stop, read/write/ioctl, open/release;
 *                 held across user copies, never across a blocking wait
 *   mmap_lock     (the kernel's: mmap and page faults)
 *   chan.map_sem  the buffers against mmap and page faults (write: to free,
 *                 reallocate or zap them)
 *   chan.lock     spinlock, also taken by the interrupt handler: the ring,
 *                 buffer ownership, the completion queue, the counters
 * Invariant: chan.started implies the buffers and ring are allocated.
 */
#ifndef VDET_H
#define VDET_H

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/interrupt.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include "detector_regs.h"
#include "vpcie_detector.h"

#define VDET_NAME "vpcie_detector"

/* A descriptor as the device sees it (detector_regs.h: DET_DESC_*). */
struct vdet_desc {
	__le64 addr;
	__le32 len;
	__le32 flags;
	__le32 used;
	__le32 status;
	__le64 seq;
};

/* One DMA-coherent segment: a descriptor's buffer. */
struct vdet_seg {
	void *cpu;
	dma_addr_t dma;
	u32 len;   /* descriptor length: frame bytes this segment holds */
	u32 alloc; /* allocated bytes (page multiple) */
};

/* A buffer is the driver's (stopped), on the ring (the device's), completed
 * with its record queued, or user space's (its record was read). */
enum vdet_owner { VDET_OWN_DRIVER, VDET_OWN_RING, VDET_OWN_QUEUED, VDET_OWN_USER };

struct vdet;

struct vdet_chan {
	struct vdet *det;         /* only while !dead */
	void __iomem *regs;       /* the channel's register block; only while !dead */
	unsigned int index;
	unsigned int vector;      /* MSI-X vector index */
	struct device dev;        /* /dev/vdetD.C; its release frees the channel */
	struct cdev cdev;

	struct mutex mutex;
	struct rw_semaphore map_sem;
	spinlock_t lock;
	wait_queue_head_t wq;

	bool open;                /* mutex */
	bool dead;                /* the device is gone (mutex + map_sem + lock) */
	bool started;             /* streaming (mutex + lock) */
	struct address_space *mapping; /* the open file's, to zap on removal */
	atomic_t nmaps;           /* live mappings (VMAs) */

	/* buffers: set up under mutex + map_sem (write) */
	struct vdet_config cfg;
	struct vdet_seg *segs;    /* nbufs * nsegs, buffer-major */
	unsigned long *pfns;      /* page frame of every page of the mapping */
	u8 *owner;                /* enum vdet_owner per buffer (lock) */
	u32 *slot_buf;            /* ring slot of a buffer's first descriptor -> buffer */
	struct vdet_desc *ring;
	dma_addr_t ring_dma;
	struct vdet_completion *cq; /* completions not yet read: nbufs entries */

	/* lock */
	u32 tail;                 /* descriptors posted (free-running, = RING_TAIL) */
	u32 clean;                /* descriptors completed and taken back */
	u32 cq_head, cq_tail;     /* free-running indices into cq */
	struct vdet_stats st;     /* the driver's counters (drv_irqs...) */
};

struct vdet {
	struct pci_dev *pdev;
	void __iomem *regs;       /* BAR0 */
	int index;                /* D of vdetD.C */
	unsigned int nch;
	unsigned int nvec;        /* MSI-X vectors granted: channel c uses c % nvec */
	struct vdet_vec {
		struct vdet *det;
		unsigned int index;
		char name[32];
	} vec[DET_MAX_CHANNELS];
	struct vdet_chan *ch[DET_MAX_CHANNELS];
};

/* Module parameters (vdet_pci.c): the configuration a channel opens with. */
struct vdet_defaults {
	unsigned int frame_size, nbufs, seg_size, irq_frames, irq_usec, max_mb;
};
extern struct vdet_defaults vdet_defaults;

/* vdet_chan.c */
int vdet_chan_create(struct vdet *det, unsigned int index, dev_t devt);
void vdet_chan_shutdown(struct vdet_chan *ch); /* the device goes: stop, zap, free */
void vdet_chan_destroy(struct vdet_chan *ch);  /* drop the device's reference */
unsigned int vdet_chan_scan(struct vdet_chan *ch); /* lock held */
void vdet_chan_irq(struct vdet_chan *ch);      /* from the interrupt handler */

/* vdet_pci.c: the engine's registers */
static inline u32 vdet_rd(struct vdet_chan *ch, unsigned int off)
{
	return ioread32(ch->regs + off);
}

static inline void vdet_wr(struct vdet_chan *ch, unsigned int off, u32 v)
{
	iowrite32(v, ch->regs + off);
}

u64 vdet_rd64(struct vdet_chan *ch, unsigned int off_lo);
void vdet_hw_stop(struct vdet_chan *ch);  /* disable, wait for the engine to idle */
void vdet_hw_reset(struct vdet_chan *ch); /* RESET: nothing posted, no DMA after it */

#endif /* VDET_H */
