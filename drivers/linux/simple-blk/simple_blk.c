// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * simple_blk: a Linux blk-mq driver for vpcie-simple-blk, the teaching block
 * device (docs/simple-blk.md is its datasheet; simple_blk_regs.h its
 * register map, shared with the device).
 *
 * One request at a time (the device has one command register set): blk-mq
 * gives us a request, we map its single data segment for DMA, write SECTOR,
 * COUNT and DMA_ADDR, then STATUS = S | DMA (| RW for a write). The device
 * interrupts when it is done (MSI, or INTx with msi=0); the handler acks,
 * reads E/ERROR and completes the request. The queue limits (one segment of
 * at most MAX_COUNT sectors) make the block layer split every request into
 * pieces the device can take in one command.
 *
 * Written against Linux 6.1 (Debian 12), which the guest tests build it for:
 *   scripts/vm/run --module drivers/linux/simple-blk \
 *       --device 'build/devices/simple-blk/vpcie-simple-blk --socket {sock} --image disk.img' \
 *       -- 'cat /sys/block/sblk0/size'
 * Module parameter: msi=0 uses the INTx line instead of MSI.
 */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>

#include "simple_blk_regs.h"

#define DRV_NAME "simple_blk"

#ifndef PCI_IRQ_INTX
#define PCI_IRQ_INTX PCI_IRQ_LEGACY /* renamed in 6.8 */
#endif

static bool msi = true;
module_param(msi, bool, 0444);
MODULE_PARM_DESC(msi, "completion interrupt by MSI (default) or, msi=0, by INTx");

static DEFINE_IDA(sblk_ida);

struct sblk {
	struct pci_dev *pdev;
	void __iomem *regs;             /* BAR0 */
	struct blk_mq_tag_set tag_set;
	struct gendisk *disk;
	int index;                      /* sblkN */
	spinlock_t lock;                /* registers of a command, and rq */
	struct request *rq;             /* the command the device runs, or NULL */
};

/* Per request (blk-mq allocates it behind each struct request). */
struct sblk_cmd {
	struct scatterlist sg;
	blk_status_t status;
};

static u32 rd(struct sblk *s, unsigned int off)
{
	return ioread32(s->regs + off);
}

static void wr(struct sblk *s, unsigned int off, u32 v)
{
	iowrite32(v, s->regs + off);
}

static enum dma_data_direction dir(struct request *rq)
{
	return rq_data_dir(rq) == WRITE ? DMA_TO_DEVICE : DMA_FROM_DEVICE;
}

static blk_status_t sblk_queue_rq(struct blk_mq_hw_ctx *hctx, const struct blk_mq_queue_data *bd)
{
	struct sblk *s = hctx->queue->queuedata;
	struct request *rq = bd->rq;
	struct sblk_cmd *cmd = blk_mq_rq_to_pdu(rq);
	u64 sector = blk_rq_pos(rq);
	u32 how = SBLK_STATUS_S | SBLK_STATUS_DMA;
	dma_addr_t addr;
	unsigned long flags;

	switch (req_op(rq)) {
	case REQ_OP_READ:
		break;
	case REQ_OP_WRITE:
		how |= SBLK_STATUS_RW;
		break;
	default:
		return BLK_STS_NOTSUPP;
	}
	blk_mq_start_request(rq);
	/* The queue limits promise one segment, physically contiguous. */
	sg_init_table(&cmd->sg, 1);
	if (blk_rq_map_sg(rq->q, rq, &cmd->sg) != 1)
		return BLK_STS_IOERR;
	if (!dma_map_sg(&s->pdev->dev, &cmd->sg, 1, dir(rq)))
		return BLK_STS_RESOURCE;
	addr = sg_dma_address(&cmd->sg);

	spin_lock_irqsave(&s->lock, flags);
	s->rq = rq;
	wr(s, SBLK_REG_SECTOR_LO, lower_32_bits(sector));
	wr(s, SBLK_REG_SECTOR_HI, upper_32_bits(sector));
	wr(s, SBLK_REG_COUNT, blk_rq_sectors(rq));
	wr(s, SBLK_REG_DMA_ADDR_LO, lower_32_bits(addr));
	wr(s, SBLK_REG_DMA_ADDR_HI, upper_32_bits(addr));
	wr(s, SBLK_REG_STATUS, how); /* go */
	spin_unlock_irqrestore(&s->lock, flags);
	return BLK_STS_OK;
}

/* The device finished the command in flight: take it (caller holds lock). */
static struct request *sblk_finish(struct sblk *s)
{
	struct request *rq = s->rq;
	struct sblk_cmd *cmd;
	u32 err = 0;

	if (!rq)
		return NULL;
	s->rq = NULL;
	cmd = blk_mq_rq_to_pdu(rq);
	if (rd(s, SBLK_REG_STATUS) & SBLK_STATUS_E)
		err = rd(s, SBLK_REG_ERROR);
	if (err)
		dev_err_ratelimited(&s->pdev->dev, "%s of %u sectors at %llu: error %u\n",
				    rq_data_dir(rq) == WRITE ? "write" : "read",
				    blk_rq_sectors(rq), (unsigned long long)blk_rq_pos(rq), err);
	cmd->status = err ? BLK_STS_IOERR : BLK_STS_OK;
	return rq;
}

static irqreturn_t sblk_irq(int irq, void *data)
{
	struct sblk *s = data;
	struct request *rq;
	u32 pending = rd(s, SBLK_REG_IRQ_STATUS);

	if (!(pending & SBLK_IRQ_DONE))
		return IRQ_NONE; /* INTx may be shared */
	wr(s, SBLK_REG_IRQ_ACK, pending); /* drops the INTx line */
	spin_lock(&s->lock);
	rq = sblk_finish(s);
	spin_unlock(&s->lock);
	if (rq)
		blk_mq_complete_request(rq); /* -> sblk_complete, in softirq */
	return IRQ_HANDLED;
}

static void sblk_complete(struct request *rq)
{
	struct sblk *s = rq->q->queuedata;
	struct sblk_cmd *cmd = blk_mq_rq_to_pdu(rq);

	dma_unmap_sg(&s->pdev->dev, &cmd->sg, 1, dir(rq));
	blk_mq_end_request(rq, cmd->status);
}

/* No interrupt for 30 s: if the device is idle the interrupt was lost. */
static enum blk_eh_timer_return sblk_timeout(struct request *rq)
{
	struct sblk *s = rq->q->queuedata;
	struct request *done = NULL;
	unsigned long flags;

	spin_lock_irqsave(&s->lock, flags);
	if (s->rq == rq && !(rd(s, SBLK_REG_STATUS) & SBLK_STATUS_B)) {
		wr(s, SBLK_REG_IRQ_ACK, SBLK_IRQ_DONE);
		done = sblk_finish(s);
	}
	spin_unlock_irqrestore(&s->lock, flags);
	if (!done) {
		dev_warn(&s->pdev->dev, "command still busy after %u s\n", rq->timeout / HZ);
		return BLK_EH_RESET_TIMER;
	}
	dev_warn(&s->pdev->dev, "lost interrupt: command completed without one\n");
	blk_mq_complete_request(done);
	return BLK_EH_DONE;
}

static const struct blk_mq_ops sblk_mq_ops = {
	.queue_rq = sblk_queue_rq,
	.complete = sblk_complete,
	.timeout = sblk_timeout,
};

static const struct block_device_operations sblk_fops = {
	.owner = THIS_MODULE,
};

static int sblk_init_disk(struct sblk *s, u64 capacity, u32 max_count)
{
	struct request_queue *q;
	int ret;

	s->tag_set.ops = &sblk_mq_ops;
	s->tag_set.nr_hw_queues = 1;
	s->tag_set.queue_depth = 1; /* one command at a time */
	s->tag_set.numa_node = dev_to_node(&s->pdev->dev);
	s->tag_set.cmd_size = sizeof(struct sblk_cmd);
	s->tag_set.flags = BLK_MQ_F_SHOULD_MERGE;
	ret = blk_mq_alloc_tag_set(&s->tag_set);
	if (ret)
		return ret;
	s->disk = blk_mq_alloc_disk(&s->tag_set, s);
	if (IS_ERR(s->disk)) {
		blk_mq_free_tag_set(&s->tag_set);
		return PTR_ERR(s->disk);
	}
	q = s->disk->queue;
	blk_queue_logical_block_size(q, SBLK_SECTOR_SIZE);
	blk_queue_max_hw_sectors(q, max_count);
	blk_queue_max_segments(q, 1);
	blk_queue_max_segment_size(q, max_count * SBLK_SECTOR_SIZE);
	dma_set_max_seg_size(&s->pdev->dev, max_count * SBLK_SECTOR_SIZE);
	snprintf(s->disk->disk_name, DISK_NAME_LEN, "sblk%d", s->index);
	s->disk->fops = &sblk_fops;
	s->disk->private_data = s;
	set_capacity(s->disk, capacity);
	ret = device_add_disk(&s->pdev->dev, s->disk, NULL); /* under the PCI device in sysfs */
	if (ret) {
		put_disk(s->disk);
		blk_mq_free_tag_set(&s->tag_set);
	}
	return ret;
}

static int sblk_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct sblk *s;
	u64 capacity;
	u32 max_count;
	int ret, i;

	s = devm_kzalloc(&pdev->dev, sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	s->pdev = pdev;
	spin_lock_init(&s->lock);
	pci_set_drvdata(pdev, s);

	ret = pcim_enable_device(pdev); /* pcim_*, devm_*: undone on unbind */
	if (ret)
		return ret;
	ret = pcim_iomap_regions(pdev, BIT(0), DRV_NAME);
	if (ret)
		return ret;
	s->regs = pcim_iomap_table(pdev)[0];
	if (rd(s, SBLK_REG_ID) != SBLK_ID_VALUE)
		return dev_err_probe(&pdev->dev, -ENODEV, "ID 0x%08x\n", rd(s, SBLK_REG_ID));
	for (i = 0; i < 100 && !(rd(s, SBLK_REG_STATUS) & SBLK_STATUS_I); i++)
		msleep(10);
	if (!(rd(s, SBLK_REG_STATUS) & SBLK_STATUS_I))
		return dev_err_probe(&pdev->dev, -ETIMEDOUT, "never initialized\n");
	capacity = rd(s, SBLK_REG_CAPACITY_LO) | (u64)rd(s, SBLK_REG_CAPACITY_HI) << 32;
	max_count = rd(s, SBLK_REG_MAX_COUNT);
	if (max_count < PAGE_SIZE / SBLK_SECTOR_SIZE)
		return dev_err_probe(&pdev->dev, -EINVAL, "MAX_COUNT %u\n", max_count);
	max_count = min_t(u32, max_count, SZ_1M / SBLK_SECTOR_SIZE); /* a sane request size */

	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	pci_set_master(pdev); /* DMA and MSIs are the device's memory writes */
	ret = pci_alloc_irq_vectors(pdev, 1, 1, msi ? PCI_IRQ_MSI : PCI_IRQ_INTX);
	if (ret < 0)
		return dev_err_probe(&pdev->dev, ret, "no %s interrupt\n", msi ? "MSI" : "INTx");
	ret = devm_request_irq(&pdev->dev, pci_irq_vector(pdev, 0), sblk_irq,
			       msi ? 0 : IRQF_SHARED, DRV_NAME, s);
	if (ret)
		return ret;
	s->index = ida_alloc(&sblk_ida, GFP_KERNEL);
	if (s->index < 0)
		return s->index;
	wr(s, SBLK_REG_IRQ_ACK, ~0u);
	wr(s, SBLK_REG_CONTROL, SBLK_CTRL_IE);
	ret = sblk_init_disk(s, capacity, max_count);
	if (ret) {
		wr(s, SBLK_REG_CONTROL, 0);
		ida_free(&sblk_ida, s->index);
		return ret;
	}
	dev_info(&pdev->dev, "%s: %llu sectors, %u per command, %s irq %d\n", s->disk->disk_name,
		 (unsigned long long)capacity, max_count, msi ? "MSI" : "INTx",
		 pci_irq_vector(pdev, 0));
	return 0;
}

static void sblk_remove(struct pci_dev *pdev)
{
	struct sblk *s = pci_get_drvdata(pdev);

	del_gendisk(s->disk); /* waits for the requests in flight */
	put_disk(s->disk);
	blk_mq_free_tag_set(&s->tag_set);
	wr(s, SBLK_REG_CONTROL, 0);
	ida_free(&sblk_ida, s->index);
}

static const struct pci_device_id sblk_ids[] = {
	{ PCI_DEVICE(SBLK_VENDOR_ID, SBLK_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, sblk_ids);

static struct pci_driver sblk_driver = {
	.name = DRV_NAME,
	.id_table = sblk_ids,
	.probe = sblk_probe,
	.remove = sblk_remove,
};
module_pci_driver(sblk_driver);

MODULE_DESCRIPTION("Driver for vpcie-simple-blk, the teaching block device");
MODULE_LICENSE("Dual MIT/GPL");
