// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vpcie_detector: a Linux driver for vpcie-detector, the frame-streaming DMA
 * engine (docs/detector.md is its datasheet, detector_regs.h its register
 * map; docs/detector-driver.md describes this driver and its user ABI,
 * vpcie_detector.h).
 *
 * This part: the PCI side. Probe maps BAR0, checks the ID, asks for one MSI-X
 * vector per channel (fewer are shared: channel c on vector c % granted) and
 * creates a character device per channel (vdet_chan.c). The interrupt
 * handler takes the completed descriptors of its channels and wakes their
 * readers. Remove stops every channel, waits for the engines, takes the
 * buffers away from user space (their mappings are zapped) and frees them;
 * files still open then fail with ENODEV until closed.
 *
 * Written against Linux 6.1 (Debian 12), which the guest test builds it for:
 *   scripts/vm/run --module drivers/linux/vpcie-detector \
 *       --device 'build/devices/detector/vpcie-detector --socket {sock}' \
 *       -- 'ls -l /dev/vdet*'
 */
#include <linux/delay.h>
#include <linux/idr.h>
#include <linux/module.h>

#include "vdet.h"

struct vdet_defaults vdet_defaults = {
	.frame_size = 4096,
	.nbufs = 64,
	.seg_size = 1u << 20,
	.irq_frames = 16,
	.irq_usec = 1000,
	.max_mb = 1024,
};
module_param_named(frame_size, vdet_defaults.frame_size, uint, 0644);
MODULE_PARM_DESC(frame_size, "bytes per frame at open, header included (default 4096)");
module_param_named(nbufs, vdet_defaults.nbufs, uint, 0644);
MODULE_PARM_DESC(nbufs, "frame buffers per channel at open (default 64)");
module_param_named(seg_size, vdet_defaults.seg_size, uint, 0644);
MODULE_PARM_DESC(seg_size, "largest DMA segment, page multiple; larger frames use several descriptors (default 1 MiB)");
module_param_named(irq_frames, vdet_defaults.irq_frames, uint, 0644);
MODULE_PARM_DESC(irq_frames, "interrupt moderation at open: one MSI-X per N frames (default 16; 0 = by time only)");
module_param_named(irq_usec, vdet_defaults.irq_usec, uint, 0644);
MODULE_PARM_DESC(irq_usec, "interrupt moderation at open: at most this many us after a completion (default 1000; 0 = off)");
module_param_named(max_mb, vdet_defaults.max_mb, uint, 0644);
MODULE_PARM_DESC(max_mb, "largest buffer memory of a channel, MiB (default 1024)");

static DEFINE_IDA(vdet_ida);
static dev_t vdet_devt; /* DET_MAX_CHANNELS minors per device */
#define VDET_MAX_DEVICES 64

u64 vdet_rd64(struct vdet_chan *ch, unsigned int off_lo)
{
	u32 hi, lo;
	int tries = 3; /* bounded: a device may answer anything */

	do { /* the counter may carry between the two reads */
		hi = vdet_rd(ch, off_lo + 4);
		lo = vdet_rd(ch, off_lo);
	} while (hi != vdet_rd(ch, off_lo + 4) && --tries);
	return (u64)hi << 32 | lo;
}

void vdet_hw_stop(struct vdet_chan *ch)
{
	int i;

	vdet_wr(ch, DET_CH_CTRL, 0);
	for (i = 0; i < 200 && (vdet_rd(ch, DET_CH_STATUS) & DET_STS_RUNNING); i++)
		usleep_range(500, 1000);
	if (vdet_rd(ch, DET_CH_STATUS) & DET_STS_RUNNING)
		dev_warn(&ch->det->pdev->dev, "channel %u still running after stop\n", ch->index);
}

void vdet_hw_reset(struct vdet_chan *ch)
{
	vdet_wr(ch, DET_CH_CTRL, DET_CTRL_RESET);
	(void)vdet_rd(ch, DET_CH_STATUS); /* the reset has happened */
}

static irqreturn_t vdet_irq(int irq, void *data)
{
	struct vdet_vec *vec = data;
	struct vdet *det = vec->det;
	unsigned int c;

	for (c = vec->index; c < det->nch; c += det->nvec) {
		struct vdet_chan *ch = READ_ONCE(det->ch[c]); /* NULL while probing */

		if (ch)
			vdet_chan_irq(ch);
	}
	return IRQ_HANDLED; /* MSI-X: never shared, nothing to acknowledge */
}

static void vdet_free_irqs(struct vdet *det, unsigned int n)
{
	while (n--)
		free_irq(pci_irq_vector(det->pdev, n), &det->vec[n]);
}

static int vdet_setup_irqs(struct vdet *det)
{
	struct pci_dev *pdev = det->pdev;
	unsigned int v;
	int ret;

	ret = pci_alloc_irq_vectors(pdev, 1, det->nch, PCI_IRQ_MSIX);
	if (ret < 0)
		return dev_err_probe(&pdev->dev, ret, "no MSI-X vector\n");
	det->nvec = ret;
	for (v = 0; v < det->nvec; v++) {
		det->vec[v].det = det;
		det->vec[v].index = v;
		if (det->nvec == det->nch)
			snprintf(det->vec[v].name, sizeof(det->vec[v].name), "vdet%d.%u", det->index, v);
		else
			snprintf(det->vec[v].name, sizeof(det->vec[v].name), "vdet%d-v%u", det->index, v);
		ret = request_irq(pci_irq_vector(pdev, v), vdet_irq, 0, det->vec[v].name, &det->vec[v]);
		if (ret) {
			vdet_free_irqs(det, v);
			pci_free_irq_vectors(pdev);
			return ret;
		}
	}
	return 0;
}

static int vdet_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct vdet *det;
	unsigned int c;
	u32 idv, nch;
	int ret;

	det = devm_kzalloc(&pdev->dev, sizeof(*det), GFP_KERNEL);
	if (!det)
		return -ENOMEM;
	det->pdev = pdev;
	pci_set_drvdata(pdev, det);
	ret = pcim_enable_device(pdev); /* pcim_*, devm_*: undone after remove */
	if (ret)
		return ret;
	ret = pcim_iomap_regions(pdev, BIT(0), VDET_NAME);
	if (ret)
		return ret;
	det->regs = pcim_iomap_table(pdev)[0];
	if (pci_resource_len(pdev, 0) < DET_BAR0_SIZE)
		return dev_err_probe(&pdev->dev, -ENODEV, "BAR0 is %llu bytes\n",
				     (unsigned long long)pci_resource_len(pdev, 0));
	idv = ioread32(det->regs + DET_REG_ID);
	if (idv != DET_ID_VALUE)
		return dev_err_probe(&pdev->dev, -ENODEV, "ID 0x%08x\n", idv);
	nch = ioread32(det->regs + DET_REG_CHANNELS);
	if (nch < 1 || nch > DET_MAX_CHANNELS)
		return dev_err_probe(&pdev->dev, -ENODEV, "%u channels\n", nch);
	det->nch = nch;
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	pci_set_master(pdev); /* DMA and MSI-X are the device's memory writes */
	iowrite32(DET_GCTRL_RESET, det->regs + DET_REG_GCTRL); /* whatever a previous owner left */
	(void)ioread32(det->regs + DET_REG_ID);

	det->index = ida_alloc_max(&vdet_ida, VDET_MAX_DEVICES - 1, GFP_KERNEL);
	if (det->index < 0)
		return det->index;
	ret = vdet_setup_irqs(det);
	if (ret)
		goto err_ida;
	for (c = 0; c < nch; c++) {
		ret = vdet_chan_create(det, c, vdet_devt + det->index * DET_MAX_CHANNELS + c);
		if (ret)
			goto err_chan;
	}
	dev_info(&pdev->dev, "vdet%d: version 0x%08x, %u channel(s), %u MSI-X vector(s)\n",
		 det->index, ioread32(det->regs + DET_REG_VERSION), nch, det->nvec);
	return 0;

err_chan:
	while (c--) {
		vdet_chan_shutdown(det->ch[c]);
		vdet_chan_destroy(det->ch[c]);
	}
	vdet_free_irqs(det, det->nvec);
	pci_free_irq_vectors(pdev);
err_ida:
	ida_free(&vdet_ida, det->index);
	return ret;
}

static void vdet_remove(struct pci_dev *pdev)
{
	struct vdet *det = pci_get_drvdata(pdev);
	unsigned int c;

	/* Stop the engines and take the buffers away (files may stay open). */
	for (c = 0; c < det->nch; c++)
		vdet_chan_shutdown(det->ch[c]);
	iowrite32(DET_GCTRL_RESET, det->regs + DET_REG_GCTRL);
	(void)ioread32(det->regs + DET_REG_ID);
	vdet_free_irqs(det, det->nvec); /* waits for running handlers */
	pci_free_irq_vectors(pdev);
	for (c = 0; c < det->nch; c++)
		vdet_chan_destroy(det->ch[c]);
	ida_free(&vdet_ida, det->index);
	dev_info(&pdev->dev, "vdet%d: removed\n", det->index);
}

static const struct pci_device_id vdet_ids[] = {
	{ PCI_DEVICE(DET_VENDOR_ID, DET_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, vdet_ids);

static struct pci_driver vdet_driver = {
	.name = VDET_NAME,
	.id_table = vdet_ids,
	.probe = vdet_probe,
	.remove = vdet_remove,
};

static int __init vdet_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&vdet_devt, 0, VDET_MAX_DEVICES * DET_MAX_CHANNELS, "vdet");
	if (ret)
		return ret;
	ret = pci_register_driver(&vdet_driver);
	if (ret)
		unregister_chrdev_region(vdet_devt, VDET_MAX_DEVICES * DET_MAX_CHANNELS);
	return ret;
}

static void __exit vdet_exit(void)
{
	pci_unregister_driver(&vdet_driver);
	unregister_chrdev_region(vdet_devt, VDET_MAX_DEVICES * DET_MAX_CHANNELS);
}

module_init(vdet_init);
module_exit(vdet_exit);

MODULE_DESCRIPTION("Driver for vpcie-detector, the frame-streaming DMA engine");
MODULE_LICENSE("Dual MIT/GPL");
