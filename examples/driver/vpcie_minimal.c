// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * vpcie_minimal: a Linux PCI driver for examples/minimal-device.c
 * (vendor 1234, device 0001), as a starting point for your own.
 *
 * The device has one 32-bit register in BAR0: writing N to it raises
 * interrupt vector N (a doorbell); reading it returns the last value written.
 * At probe the driver reads the IDs from config space, maps BAR0, gets one
 * MSI vector, rings the doorbell with 0 and waits up to 2 s for the MSI.
 *
 * Reports in dmesg and in sysfs (/sys/bus/pci/devices/BDF/):
 *   id        vendor:device as read from config space at probe
 *   irqs      MSIs taken so far
 *   doorbell  write N: write N to the register and wait for an interrupt
 *             (-ETIMEDOUT when none came within 2 s); read: the register
 *
 * Build and load it in a guest (docs/vm.md):
 *   scripts/vm/run --module examples/driver/vpcie_minimal.c \
 *       --device 'build/examples/minimal-device --socket {sock}' \
 *       -- 'dmesg | grep vpcie_minimal; cat /sys/bus/pci/devices/0000:00:01.0/irqs'
 */
#include <linux/completion.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>

#define DRV_NAME "vpcie_minimal"
#define MSI_TIMEOUT_MS 2000

struct vmin {
	struct pci_dev *pdev;
	void __iomem *regs;     /* BAR0 */
	u16 vendor, device;     /* read at probe */
	atomic_t irqs;          /* MSIs taken */
	struct completion irq;  /* completed by each MSI */
	struct mutex lock;      /* one doorbell at a time */
};

static irqreturn_t vmin_isr(int irq, void *data)
{
	struct vmin *v = data;

	atomic_inc(&v->irqs);
	complete(&v->irq);
	return IRQ_HANDLED;
}

/* Write @val to the register and wait for the interrupt it raises. */
static int vmin_ring(struct vmin *v, u32 val)
{
	unsigned long left;

	mutex_lock(&v->lock);
	reinit_completion(&v->irq);
	iowrite32(val, v->regs);
	left = wait_for_completion_timeout(&v->irq, msecs_to_jiffies(MSI_TIMEOUT_MS));
	mutex_unlock(&v->lock);
	return left ? 0 : -ETIMEDOUT;
}

static ssize_t id_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vmin *v = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%04x:%04x\n", v->vendor, v->device);
}
static DEVICE_ATTR_RO(id);

static ssize_t irqs_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vmin *v = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", atomic_read(&v->irqs));
}
static DEVICE_ATTR_RO(irqs);

static ssize_t doorbell_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vmin *v = dev_get_drvdata(dev);

	return sysfs_emit(buf, "0x%08x\n", ioread32(v->regs));
}

static ssize_t doorbell_store(struct device *dev, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	struct vmin *v = dev_get_drvdata(dev);
	u32 val;
	int ret;

	ret = kstrtou32(buf, 0, &val);
	if (ret)
		return ret;
	ret = vmin_ring(v, val);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(doorbell);

static struct attribute *vmin_attrs[] = {
	&dev_attr_id.attr,
	&dev_attr_irqs.attr,
	&dev_attr_doorbell.attr,
	NULL,
};
ATTRIBUTE_GROUPS(vmin);

static int vmin_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct vmin *v;
	int ret;

	v = devm_kzalloc(&pdev->dev, sizeof(*v), GFP_KERNEL);
	if (!v)
		return -ENOMEM;
	v->pdev = pdev;
	atomic_set(&v->irqs, 0);
	init_completion(&v->irq);
	mutex_init(&v->lock);
	pci_set_drvdata(pdev, v);

	/* pcim_*: everything below is undone automatically on unbind */
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	pci_read_config_word(pdev, PCI_VENDOR_ID, &v->vendor);
	pci_read_config_word(pdev, PCI_DEVICE_ID, &v->device);
	ret = pcim_iomap_regions(pdev, BIT(0), DRV_NAME);
	if (ret)
		return ret;
	v->regs = pcim_iomap_table(pdev)[0];
	pci_set_master(pdev); /* MSIs are memory writes by the device */

	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI);
	if (ret < 0)
		return dev_err_probe(&pdev->dev, ret, "no MSI vector\n");
	ret = devm_request_irq(&pdev->dev, pci_irq_vector(pdev, 0), vmin_isr, 0, DRV_NAME, v);
	if (ret)
		return ret;

	dev_info(&pdev->dev, "id %04x:%04x, BAR0 %pR, irq %d\n", v->vendor, v->device,
		 &pdev->resource[0], pci_irq_vector(pdev, 0));
	/* vector 0: the only one granted */
	if (vmin_ring(v, 0))
		dev_warn(&pdev->dev, "doorbell: no MSI within %d ms\n", MSI_TIMEOUT_MS);
	else
		dev_info(&pdev->dev, "doorbell: MSI received (%d)\n", atomic_read(&v->irqs));
	return 0;
}

static const struct pci_device_id vmin_ids[] = {
	{ PCI_DEVICE(0x1234, 0x0001) },
	{ }
};
MODULE_DEVICE_TABLE(pci, vmin_ids);

static struct pci_driver vmin_driver = {
	.name = DRV_NAME,
	.id_table = vmin_ids,
	.probe = vmin_probe,
	.dev_groups = vmin_groups, /* sysfs files on each bound device */
};
module_pci_driver(vmin_driver);

MODULE_DESCRIPTION("Driver for vpcie's examples/minimal-device.c");
MODULE_LICENSE("Dual MIT/GPL");
