// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vpcie_detector, a channel: its frame buffers, its descriptor ring and its
 * character device /dev/vdetD.C (the ABI is vpcie_detector.h; the locking
 * rules are in vdet.h).
 *
 * A buffer holds one frame in nsegs DMA-coherent segments (one descriptor
 * each; one segment unless the frame is larger than seg_size). START posts
 * every buffer: its descriptors go on the ring at the tail, in order, and the
 * tail register is the doorbell. The device fills the descriptors in order;
 * the driver takes a buffer back when all its descriptors carry DONE,
 * queues a completion record and hands the buffer to user space, which reads
 * the record, looks at the frame through its mapping and writes the index
 * back to have the buffer posted again. Frame data is never copied.
 */
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/version.h>

#include "vdet.h"

static_assert(sizeof(struct vdet_desc) == DET_DESC_SIZE);
static_assert(offsetof(struct vdet_desc, addr) == DET_DESC_ADDR);
static_assert(offsetof(struct vdet_desc, len) == DET_DESC_LEN);
static_assert(offsetof(struct vdet_desc, flags) == DET_DESC_FLAGS);
static_assert(offsetof(struct vdet_desc, used) == DET_DESC_USED);
static_assert(offsetof(struct vdet_desc, status) == DET_DESC_STATUS);
static_assert(offsetof(struct vdet_desc, seq) == DET_DESC_SEQ);

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
static inline void vm_flags_set(struct vm_area_struct *vma, unsigned long flags)
{
	vma->vm_flags |= flags;
}
#endif

#define VDET_RING_MAX 65536u /* DET_CH_RING_SIZE's limit */

/* --- buffers ------------------------------------------------------------- */

/* Check a configuration and fill in its geometry. */
static int vdet_geometry(struct vdet_config *c)
{
	u64 descs;

	if (c->reserved || c->frame_size % 8 || c->frame_size < DET_FRAME_MIN ||
	    c->frame_size > DET_FRAME_MAX || !c->nbufs || c->nbufs > VDET_MAX_BUFS ||
	    c->pattern > DET_PAT_FILE)
		return -EINVAL;
	if (!c->seg_size)
		c->seg_size = vdet_defaults.seg_size;
	if (!c->seg_size || c->seg_size % PAGE_SIZE || c->seg_size > VDET_MAX_SEG)
		return -EINVAL;
	c->nsegs = DIV_ROUND_UP(c->frame_size, c->seg_size);
	descs = (u64)c->nbufs * c->nsegs;
	if (descs > VDET_RING_MAX)
		return -EINVAL;
	c->ring_size = roundup_pow_of_two(descs);
	c->buf_stride = PAGE_ALIGN(c->frame_size);
	c->mmap_size = c->buf_stride * c->nbufs;
	if (c->mmap_size > (u64)vdet_defaults.max_mb << 20)
		return -E2BIG;
	return 0;
}

static struct device *vdet_dma_dev(struct vdet_chan *ch)
{
	return &ch->det->pdev->dev;
}

/* Free the buffers: not started, no mapping can reach them (map_sem write). */
static void vdet_free_bufs(struct vdet_chan *ch)
{
	struct device *dev = vdet_dma_dev(ch);
	u32 i;

	if (ch->segs) {
		for (i = 0; i < ch->cfg.nbufs * ch->cfg.nsegs; i++)
			if (ch->segs[i].cpu)
				dma_free_coherent(dev, ch->segs[i].alloc, ch->segs[i].cpu,
						  ch->segs[i].dma);
	}
	if (ch->ring)
		dma_free_coherent(dev, (size_t)ch->cfg.ring_size * DET_DESC_SIZE, ch->ring,
				  ch->ring_dma);
	spin_lock_irq(&ch->lock);
	ch->ring = NULL;
	spin_unlock_irq(&ch->lock);
	kvfree(ch->segs);
	kvfree(ch->pfns);
	kvfree(ch->owner);
	kvfree(ch->slot_buf);
	kvfree(ch->cq);
	ch->segs = NULL;
	ch->pfns = NULL;
	ch->owner = NULL;
	ch->slot_buf = NULL;
	ch->cq = NULL;
}

/* Record the page frames of a segment for the fault handler. */
static int vdet_seg_pfns(struct vdet_chan *ch, struct vdet_seg *s, unsigned long *pfns)
{
	struct sg_table sgt;
	struct scatterlist *sg;
	unsigned long n = 0, p;
	unsigned int i;
	int ret;

	/* The portable way to the pages of coherent memory (it may be remapped). */
	ret = dma_get_sgtable(vdet_dma_dev(ch), &sgt, s->cpu, s->dma, s->alloc);
	if (ret)
		return ret;
	for_each_sgtable_sg(&sgt, sg, i)
		for (p = 0; p < sg->length >> PAGE_SHIFT && n < s->alloc >> PAGE_SHIFT; p++)
			pfns[n++] = page_to_pfn(sg_page(sg)) + p;
	sg_free_table(&sgt);
	return n == s->alloc >> PAGE_SHIFT ? 0 : -EFAULT;
}

/* Allocate the buffers of cfg (a checked geometry); map_sem held for write. */
static int vdet_alloc_bufs(struct vdet_chan *ch, const struct vdet_config *cfg)
{
	struct device *dev = vdet_dma_dev(ch);
	u32 nseg = cfg->nbufs * cfg->nsegs, i, k;
	unsigned long page = 0;
	int ret = -ENOMEM;

	ch->cfg = *cfg;
	ch->segs = kvcalloc(nseg, sizeof(*ch->segs), GFP_KERNEL);
	ch->pfns = kvcalloc(cfg->mmap_size >> PAGE_SHIFT, sizeof(*ch->pfns), GFP_KERNEL);
	ch->owner = kvcalloc(cfg->nbufs, sizeof(*ch->owner), GFP_KERNEL);
	ch->slot_buf = kvcalloc(cfg->ring_size, sizeof(*ch->slot_buf), GFP_KERNEL);
	ch->cq = kvcalloc(cfg->nbufs, sizeof(*ch->cq), GFP_KERNEL);
	if (!ch->segs || !ch->pfns || !ch->owner || !ch->slot_buf || !ch->cq)
		goto fail;
	for (i = 0; i < cfg->nbufs; i++) {
		for (k = 0; k < cfg->nsegs; k++) {
			struct vdet_seg *s = &ch->segs[i * cfg->nsegs + k];

			s->len = k + 1 < cfg->nsegs ? cfg->seg_size
				 : cfg->frame_size - (cfg->nsegs - 1) * cfg->seg_size;
			s->alloc = PAGE_ALIGN(s->len);
			s->cpu = dma_alloc_coherent(dev, s->alloc, &s->dma, GFP_KERNEL);
			if (!s->cpu)
				goto fail;
			ret = vdet_seg_pfns(ch, s, ch->pfns + page);
			if (ret)
				goto fail;
			page += s->alloc >> PAGE_SHIFT;
			ret = -ENOMEM;
		}
	}
	ch->ring = dma_alloc_coherent(dev, (size_t)cfg->ring_size * DET_DESC_SIZE, &ch->ring_dma,
				      GFP_KERNEL);
	if (!ch->ring)
		goto fail;
	return 0;
fail:
	vdet_free_bufs(ch);
	dev_warn(&ch->dev, "cannot allocate %u buffers of %u bytes (%d)\n", cfg->nbufs,
		 cfg->frame_size, ret);
	return ret;
}

/* --- the stream ---------------------------------------------------------- */

/* Post buffer b's descriptors at the tail (lock held; doorbell by the caller). */
static void vdet_post(struct vdet_chan *ch, u32 b)
{
	u32 mask = ch->cfg.ring_size - 1, k;

	ch->slot_buf[ch->tail & mask] = b;
	for (k = 0; k < ch->cfg.nsegs; k++) {
		struct vdet_seg *s = &ch->segs[b * ch->cfg.nsegs + k];
		struct vdet_desc *d = &ch->ring[(ch->tail + k) & mask];

		d->addr = cpu_to_le64(s->dma);
		d->len = cpu_to_le32(s->len);
		d->used = 0;
		d->status = 0;
		d->seq = 0;
		WRITE_ONCE(d->flags, 0);
	}
	ch->tail += ch->cfg.nsegs;
	ch->owner[b] = VDET_OWN_RING;
}

/*
 * Take back the buffers whose descriptors are all DONE, in ring order, and
 * queue their completions (lock held). Returns how many.
 */
unsigned int vdet_chan_scan(struct vdet_chan *ch)
{
	u32 mask = ch->cfg.ring_size - 1, nsegs = ch->cfg.nsegs, k, n = 0;

	if (!ch->started)
		return 0;
	while (ch->clean != ch->tail) {
		u32 first = ch->clean, b = ch->slot_buf[first & mask], st = VDET_ST_OK, len = 0;
		struct vdet_completion *c;
		u64 seq;

		for (k = 0; k < nsegs; k++)
			if (!(le32_to_cpu(READ_ONCE(ch->ring[(first + k) & mask].flags)) &
			      DET_DESC_F_DONE))
				return n;
		dma_rmb(); /* DONE first, then the rest of what the device wrote */
		seq = le64_to_cpu(ch->ring[first & mask].seq);
		for (k = 0; k < nsegs; k++) {
			const struct vdet_desc *d = &ch->ring[(first + k) & mask];
			u32 flags = le32_to_cpu(d->flags), dst = le32_to_cpu(d->status), bad = 0;
			u32 want = (k == 0 ? DET_DESC_F_SOF : 0) | (k + 1 == nsegs ? DET_DESC_F_EOF : 0);

			if (dst == DET_DESC_ST_BAD)
				bad = VDET_ST_BAD;
			else if (dst != DET_DESC_ST_OK)
				bad = VDET_ST_DMA_ERR;
			else if ((flags & (DET_DESC_F_SOF | DET_DESC_F_EOF)) != want ||
				 le64_to_cpu(d->seq) != seq)
				bad = VDET_ST_FRAMING;
			if (st == VDET_ST_OK)
				st = bad;
			len += le32_to_cpu(d->used);
		}
		c = &ch->cq[ch->cq_tail % ch->cfg.nbufs];
		c->index = b;
		c->length = len;
		c->seq = seq;
		c->status = st;
		c->nsegs = nsegs;
		ch->cq_tail++;
		ch->clean += nsegs;
		ch->owner[b] = VDET_OWN_QUEUED;
		ch->st.completed++;
		if (st != VDET_ST_OK)
			ch->st.errors++;
		n++;
	}
	return n;
}

void vdet_chan_irq(struct vdet_chan *ch)
{
	unsigned int n;

	spin_lock(&ch->lock);
	ch->st.drv_irqs++;
	n = vdet_chan_scan(ch);
	spin_unlock(&ch->lock);
	if (n)
		wake_up_interruptible(&ch->wq);
}

static int vdet_start(struct vdet_chan *ch)
{
	const struct vdet_config *c = &ch->cfg;
	u32 b, tail;

	if (ch->started)
		return -EBUSY;
	if (!ch->ring)
		return -ENOMEM; /* a failed reconfiguration left no buffers */
	vdet_hw_reset(ch); /* stopped, counters, HEAD, TAIL and SEQ cleared */
	vdet_wr(ch, DET_CH_FRAME_SIZE, c->frame_size);
	vdet_wr(ch, DET_CH_PERIOD_NS, c->period_ns);
	vdet_wr(ch, DET_CH_PATTERN, c->pattern);
	vdet_wr(ch, DET_CH_SEED, c->seed);
	vdet_wr(ch, DET_CH_FRAME_LIMIT, c->frame_limit);
	vdet_wr(ch, DET_CH_IRQ_FRAMES, c->irq_frames);
	vdet_wr(ch, DET_CH_IRQ_USEC, c->irq_usec);
	vdet_wr(ch, DET_CH_IRQ_VECTOR, ch->vector);
	memset(ch->ring, 0, (size_t)c->ring_size * DET_DESC_SIZE);
	vdet_wr(ch, DET_CH_RING_LO, lower_32_bits(ch->ring_dma));
	vdet_wr(ch, DET_CH_RING_HI, upper_32_bits(ch->ring_dma));
	vdet_wr(ch, DET_CH_RING_SIZE, c->ring_size);

	spin_lock_irq(&ch->lock);
	memset(&ch->st, 0, sizeof(ch->st));
	ch->tail = 0;
	ch->clean = 0;
	ch->cq_head = 0;
	ch->cq_tail = 0;
	ch->started = true;
	for (b = 0; b < c->nbufs; b++)
		vdet_post(ch, b);
	tail = ch->tail;
	spin_unlock_irq(&ch->lock);
	vdet_wr(ch, DET_CH_RING_TAIL, tail); /* ordered after the descriptors */
	vdet_wr(ch, DET_CH_CTRL, DET_CTRL_ENABLE);
	return 0;
}

/* Stop streaming; every buffer is the driver's again. The counters stay. */
static void vdet_stop(struct vdet_chan *ch)
{
	u32 b;

	if (!ch->started)
		return;
	spin_lock_irq(&ch->lock);
	ch->started = false; /* the interrupt handler leaves the ring alone */
	spin_unlock_irq(&ch->lock);
	vdet_hw_stop(ch);
	spin_lock_irq(&ch->lock);
	for (b = 0; b < ch->cfg.nbufs; b++)
		ch->owner[b] = VDET_OWN_DRIVER;
	ch->cq_head = ch->cq_tail;
	spin_unlock_irq(&ch->lock);
	wake_up_interruptible_all(&ch->wq);
}

/* Stop, reset the engine (nothing posted: no DMA after it) and free. */
static void vdet_teardown(struct vdet_chan *ch)
{
	vdet_stop(ch);
	vdet_hw_reset(ch);
	down_write(&ch->map_sem);
	vdet_free_bufs(ch);
	up_write(&ch->map_sem);
}

static int vdet_configure(struct vdet_chan *ch, struct vdet_config *c)
{
	struct vdet_config old = ch->cfg;
	int ret;

	ret = vdet_geometry(c);
	if (ret)
		return ret;
	if (ch->started)
		return -EBUSY;
	down_write(&ch->map_sem);
	if (atomic_read(&ch->nmaps)) {
		up_write(&ch->map_sem);
		return -EBUSY; /* the mapping has the old geometry */
	}
	vdet_hw_reset(ch);
	vdet_free_bufs(ch);
	ret = vdet_alloc_bufs(ch, c);
	if (ret && old.nbufs && vdet_alloc_bufs(ch, &old) == 0)
		dev_info(&ch->dev, "kept the previous configuration\n");
	up_write(&ch->map_sem);
	return ret;
}

static void vdet_read_stats(struct vdet_chan *ch, struct vdet_stats *s)
{
	spin_lock_irq(&ch->lock);
	*s = ch->st;
	s->running = ch->started;
	spin_unlock_irq(&ch->lock);
	s->frames = vdet_rd64(ch, DET_CH_FRAMES_LO);
	s->bytes = vdet_rd64(ch, DET_CH_BYTES_LO);
	s->dropped = vdet_rd64(ch, DET_CH_DROPPED_LO);
	s->dma_errors = vdet_rd64(ch, DET_CH_DMA_ERR_LO);
	s->bad_desc = vdet_rd64(ch, DET_CH_BAD_DESC_LO);
	s->irqs = vdet_rd64(ch, DET_CH_IRQS_LO);
	s->next_seq = vdet_rd64(ch, DET_CH_SEQ_LO);
	s->status = vdet_rd(ch, DET_CH_STATUS);
}

/* --- the character device ------------------------------------------------ */

static int vdet_open(struct inode *inode, struct file *f)
{
	struct vdet_chan *ch = container_of(inode->i_cdev, struct vdet_chan, cdev);
	struct vdet_config c = {
		.frame_size = vdet_defaults.frame_size,
		.nbufs = vdet_defaults.nbufs,
		.irq_frames = vdet_defaults.irq_frames,
		.irq_usec = vdet_defaults.irq_usec,
		.pattern = DET_PAT_COUNTER,
	};
	int ret;

	ret = vdet_geometry(&c);
	if (ret)
		return ret; /* module parameters out of range */
	mutex_lock(&ch->mutex);
	if (ch->dead) {
		ret = -ENODEV;
	} else if (ch->open) {
		ret = -EBUSY;
	} else {
		down_write(&ch->map_sem);
		ret = vdet_alloc_bufs(ch, &c);
		up_write(&ch->map_sem);
	}
	if (!ret) {
		ch->open = true;
		ch->mapping = f->f_mapping;
		f->private_data = ch;
		stream_open(inode, f);
	}
	mutex_unlock(&ch->mutex);
	return ret;
}

static int vdet_release(struct inode *inode, struct file *f)
{
	struct vdet_chan *ch = f->private_data;

	/* Every mapping is gone already: each holds the file. */
	mutex_lock(&ch->mutex);
	if (!ch->dead)
		vdet_teardown(ch);
	ch->open = false;
	ch->mapping = NULL;
	mutex_unlock(&ch->mutex);
	return 0;
}

static bool vdet_readable(struct vdet_chan *ch)
{
	return READ_ONCE(ch->cq_head) != READ_ONCE(ch->cq_tail) || READ_ONCE(ch->dead) ||
	       !READ_ONCE(ch->started);
}

static ssize_t vdet_read(struct file *f, char __user *buf, size_t count, loff_t *ppos)
{
	struct vdet_chan *ch = f->private_data;
	const size_t rec = sizeof(struct vdet_completion);
	u32 head, avail, n, first, nbufs, i;
	bool started;
	long w;

	if (count < rec)
		return -EINVAL;
	for (;;) {
		mutex_lock(&ch->mutex);
		if (ch->dead) {
			mutex_unlock(&ch->mutex);
			return -ENODEV;
		}
		spin_lock_irq(&ch->lock);
		vdet_chan_scan(ch); /* an interrupt still to come, or lost */
		head = ch->cq_head;
		avail = ch->cq_tail - head;
		spin_unlock_irq(&ch->lock);
		if (avail) {
			/* cq entries [head, head + n) are ours until cq_head moves */
			nbufs = ch->cfg.nbufs;
			n = min_t(size_t, avail, count / rec);
			first = min(n, nbufs - head % nbufs);
			if (copy_to_user(buf, &ch->cq[head % nbufs], first * rec) ||
			    copy_to_user(buf + first * rec, ch->cq, (n - first) * rec)) {
				mutex_unlock(&ch->mutex);
				return -EFAULT;
			}
			spin_lock_irq(&ch->lock);
			for (i = 0; i < n; i++) /* now user space holds them */
				ch->owner[ch->cq[(head + i) % nbufs].index] = VDET_OWN_USER;
			ch->cq_head = head + n;
			ch->st.delivered += n;
			spin_unlock_irq(&ch->lock);
			mutex_unlock(&ch->mutex);
			return n * rec;
		}
		started = ch->started;
		mutex_unlock(&ch->mutex);
		if (!started)
			return 0;
		if (f->f_flags & O_NONBLOCK)
			return -EAGAIN;
		/* The timeout rescans: completions whose interrupt is moderated away. */
		w = wait_event_interruptible_timeout(ch->wq, vdet_readable(ch), HZ / 10);
		if (w < 0)
			return w;
	}
}

static ssize_t vdet_write(struct file *f, const char __user *buf, size_t count, loff_t *ppos)
{
	struct vdet_chan *ch = f->private_data;
	size_t n = count / sizeof(u32), done = 0, i, chunk;
	u32 idx[64], tail = 0;
	int err = 0;

	if (!n || count % sizeof(u32))
		return -EINVAL;
	mutex_lock(&ch->mutex);
	if (ch->dead)
		err = -ENODEV;
	while (!err && done < n) {
		chunk = min_t(size_t, n - done, ARRAY_SIZE(idx));
		if (copy_from_user(idx, buf + done * sizeof(u32), chunk * sizeof(u32))) {
			err = -EFAULT;
			break;
		}
		spin_lock_irq(&ch->lock);
		for (i = 0; i < chunk; i++) {
			if (!ch->started || idx[i] >= ch->cfg.nbufs ||
			    ch->owner[idx[i]] != VDET_OWN_USER) {
				err = -EINVAL; /* not a buffer user space holds */
				break;
			}
			vdet_post(ch, idx[i]);
			ch->st.returned++;
			done++;
		}
		tail = ch->tail;
		spin_unlock_irq(&ch->lock);
	}
	if (done) /* (so the channel is started) */
		vdet_wr(ch, DET_CH_RING_TAIL, tail); /* the doorbell, once */
	mutex_unlock(&ch->mutex);
	return done ? (ssize_t)(done * sizeof(u32)) : err;
}

static __poll_t vdet_poll(struct file *f, poll_table *wait)
{
	struct vdet_chan *ch = f->private_data;
	__poll_t mask = 0;

	poll_wait(f, &ch->wq, wait);
	spin_lock_irq(&ch->lock);
	if (ch->dead) {
		mask = EPOLLERR | EPOLLHUP;
	} else {
		vdet_chan_scan(ch);
		if (ch->cq_head != ch->cq_tail || !ch->started)
			mask |= EPOLLIN | EPOLLRDNORM; /* a read will not block */
		mask |= EPOLLOUT | EPOLLWRNORM;
	}
	spin_unlock_irq(&ch->lock);
	return mask;
}

static long vdet_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct vdet_chan *ch = f->private_data;
	void __user *up = (void __user *)arg;
	struct vdet_info info;
	struct vdet_config cfg;
	struct vdet_stats st;
	long ret = 0;

	mutex_lock(&ch->mutex);
	if (ch->dead) {
		ret = -ENODEV;
		goto out;
	}
	switch (cmd) {
	case VDET_IOC_INFO:
		memset(&info, 0, sizeof(info));
		info.abi_version = VDET_ABI_VERSION;
		info.device = ch->det->index;
		info.channel = ch->index;
		info.channels = ch->det->nch;
		info.dev_version = ioread32(ch->det->regs + DET_REG_VERSION);
		info.caps = ioread32(ch->det->regs + DET_REG_CAPS);
		info.irq_vector = ch->vector;
		info.irq_vectors = ch->det->nvec;
		info.config = ch->cfg;
		if (copy_to_user(up, &info, sizeof(info)))
			ret = -EFAULT;
		break;
	case VDET_IOC_CONFIG:
		if (copy_from_user(&cfg, up, sizeof(cfg))) {
			ret = -EFAULT;
			break;
		}
		ret = vdet_configure(ch, &cfg);
		if (!ret && copy_to_user(up, &ch->cfg, sizeof(ch->cfg)))
			ret = -EFAULT;
		break;
	case VDET_IOC_START:
		ret = vdet_start(ch);
		break;
	case VDET_IOC_STOP:
		vdet_stop(ch);
		break;
	case VDET_IOC_STATS:
		vdet_read_stats(ch, &st);
		if (copy_to_user(up, &st, sizeof(st)))
			ret = -EFAULT;
		break;
	default:
		ret = -ENOTTY;
	}
out:
	mutex_unlock(&ch->mutex);
	return ret;
}

static void vdet_vm_open(struct vm_area_struct *vma)
{
	struct vdet_chan *ch = vma->vm_private_data;

	atomic_inc(&ch->nmaps);
}

static void vdet_vm_close(struct vm_area_struct *vma)
{
	struct vdet_chan *ch = vma->vm_private_data;

	atomic_dec(&ch->nmaps);
}

static vm_fault_t vdet_vm_fault(struct vm_fault *vmf)
{
	struct vdet_chan *ch = vmf->vma->vm_private_data;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	down_read(&ch->map_sem);
	if (!ch->dead && ch->pfns && vmf->pgoff < ch->cfg.mmap_size >> PAGE_SHIFT)
		ret = vmf_insert_pfn(vmf->vma, vmf->address, ch->pfns[vmf->pgoff]);
	up_read(&ch->map_sem);
	return ret;
}

static const struct vm_operations_struct vdet_vm_ops = {
	.open = vdet_vm_open,
	.close = vdet_vm_close,
	.fault = vdet_vm_fault,
};

static int vdet_mmap(struct file *f, struct vm_area_struct *vma)
{
	struct vdet_chan *ch = f->private_data;
	int ret = 0;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL; /* the device's memory: no private copies */
	down_read(&ch->map_sem);
	if (ch->dead)
		ret = -ENODEV;
	else if (!ch->pfns)
		ret = -ENOMEM;
	else if (vma->vm_pgoff || vma->vm_end - vma->vm_start != ch->cfg.mmap_size)
		ret = -EINVAL; /* all the buffers, from offset 0 */
	if (!ret) {
		vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY);
		vma->vm_ops = &vdet_vm_ops;
		vma->vm_private_data = ch;
		atomic_inc(&ch->nmaps);
	}
	up_read(&ch->map_sem);
	return ret;
}

static const struct file_operations vdet_fops = {
	.owner = THIS_MODULE,
	.open = vdet_open,
	.release = vdet_release,
	.read = vdet_read,
	.write = vdet_write,
	.poll = vdet_poll,
	.unlocked_ioctl = vdet_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = vdet_mmap,
	.llseek = no_llseek,
};

/* --- lifetime ------------------------------------------------------------ */

static void vdet_chan_release(struct device *dev)
{
	kfree(container_of(dev, struct vdet_chan, dev));
}

int vdet_chan_create(struct vdet *det, unsigned int index, dev_t devt)
{
	struct vdet_chan *ch;
	int ret;

	ch = kzalloc(sizeof(*ch), GFP_KERNEL);
	if (!ch)
		return -ENOMEM;
	ch->det = det;
	ch->index = index;
	ch->vector = index % det->nvec;
	ch->regs = det->regs + DET_CH_BASE(index);
	mutex_init(&ch->mutex);
	init_rwsem(&ch->map_sem);
	spin_lock_init(&ch->lock);
	init_waitqueue_head(&ch->wq);
	device_initialize(&ch->dev);
	ch->dev.devt = devt;
	ch->dev.parent = &det->pdev->dev;
	ch->dev.release = vdet_chan_release;
	cdev_init(&ch->cdev, &vdet_fops);
	ch->cdev.owner = THIS_MODULE;
	ret = dev_set_name(&ch->dev, "vdet%d.%u", det->index, index);
	if (!ret)
		ret = cdev_device_add(&ch->cdev, &ch->dev); /* the cdev holds the device */
	if (ret) {
		put_device(&ch->dev);
		return ret;
	}
	smp_store_release(&det->ch[index], ch); /* the interrupt handler may look now */
	return 0;
}

/* The device goes: no new open, stop, take the buffers from user space. */
void vdet_chan_shutdown(struct vdet_chan *ch)
{
	cdev_device_del(&ch->cdev, &ch->dev);
	mutex_lock(&ch->mutex);
	if (ch->open) {
		vdet_stop(ch);
		vdet_hw_reset(ch);
		down_write(&ch->map_sem);
		if (ch->mapping) /* later faults get SIGBUS */
			unmap_mapping_range(ch->mapping, 0, 0, 1);
		vdet_free_bufs(ch);
		up_write(&ch->map_sem);
	}
	down_write(&ch->map_sem);
	spin_lock_irq(&ch->lock);
	ch->dead = true;
	spin_unlock_irq(&ch->lock);
	up_write(&ch->map_sem);
	mutex_unlock(&ch->mutex);
	wake_up_interruptible_all(&ch->wq);
}

/* After shutdown: the open file, if any, keeps the channel until closed. */
void vdet_chan_destroy(struct vdet_chan *ch)
{
	ch->det->ch[ch->index] = NULL;
	ch->det = NULL; /* dead: no path follows it any more */
	ch->regs = NULL;
	put_device(&ch->dev);
}
