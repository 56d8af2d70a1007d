/* SPDX-License-Identifier: MIT */
/*
 * Device runtime: the function's layout, set before the first client --
 * BARs (callback, memory or mixed, with trapped pages), the expansion ROM,
 * and capabilities (PM, PCIe, MSI, MSI-X with its table and PBA trapped in
 * their BARs, vendor and extended ones).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dev_priv.h"
#include "../util/abi.h"
#include "../util/util.h"

int vpcie_dev_set_bar_sized(struct vpcie_dev *dev, unsigned n, const struct vpcie_bar_desc *desc,
			    size_t desc_size, size_t ops_size)
{
	struct vpcie_bar_desc dc = {0};
	struct vpcie_bar_ops oc = {0};
	const struct vpcie_bar_desc *d = &dc;
	struct dev_bar *b;
	int ret;

	if (n > 5 || !desc || vpcie_abi_copy(&dc, sizeof(dc), desc, desc_size) ||
	    (dc.ops && vpcie_abi_copy(&oc, sizeof(oc), dc.ops, ops_size)))
		return -EINVAL;
	if (dc.ops)
		dc.ops = &oc;
	if (d->ntraps > VPCIE_MAX_TRAPS || (d->ntraps && !d->traps))
		return -EINVAL;
	if (!d->memory && (!d->ops || !d->ops->read || !d->ops->write))
		return -EINVAL;
	if (d->memory && d->kind == VPCIE_BAR_IO)
		return -EINVAL; /* I/O space cannot be mmapped by a host */
	for (unsigned i = 0; i < d->ntraps; i++)
		if (!d->traps[i].len || !vpcie_range_ok(d->traps[i].off, d->traps[i].len, d->size) ||
		    !d->ops || !d->ops->read || !d->ops->write)
			return -EINVAL;
	if (dev->bars[n].present || dev->bars[n].upper_half)
		return -EBUSY;
	ret = vpcie_cfg_set_bar(&dev->cfg, n, d->kind, d->prefetchable, d->size);
	if (ret)
		return ret;
	b = &dev->bars[n];
	b->desc = *d;
	b->ops = oc;
	b->desc.ops = d->ops ? &b->ops : NULL;
	b->desc.traps = NULL;
	if (d->ntraps)
		memcpy(b->traps, d->traps, d->ntraps * sizeof(*d->traps));
	b->ntraps = d->ntraps;
	if (d->memory) {
		char name[32];

		snprintf(name, sizeof(name), "vpcie-bar%u", n);
		b->memfd = vpcie_memfd_sized(name, d->size);
		if (b->memfd < 0) {
			errno = -b->memfd;
			goto fail;
		}
		b->mem = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED, b->memfd, 0);
		if (b->mem == MAP_FAILED) {
			b->mem = NULL;
			goto fail;
		}
	}
	b->present = true;
	if (d->kind == VPCIE_BAR_MEM64)
		dev->bars[n + 1].upper_half = true;
	return 0;
fail:
	ret = -errno;
	if (b->memfd >= 0)
		close(b->memfd);
	b->memfd = -1;
	memset(&b->desc, 0, sizeof(b->desc));
	return ret;
}

void *vpcie_dev_bar_mem(struct vpcie_dev *dev, unsigned n)
{
	return n < 6 ? dev->bars[n].mem : NULL;
}

int vpcie_dev_set_rom(struct vpcie_dev *dev, const void *data, size_t len)
{
	uint32_t size = 2048;
	int ret;

	if (!len || len > (16u << 20))
		return -EINVAL;
	while (size < len)
		size <<= 1;
	ret = vpcie_cfg_set_rom(&dev->cfg, size);
	if (ret)
		return ret;
	free(dev->rom);
	dev->rom = calloc(1, size);
	if (!dev->rom)
		return -ENOMEM;
	memcpy(dev->rom, data, len);
	dev->rom_size = size;
	return 0;
}

/* ---- Capabilities ------------------------------------------------------- */

int vpcie_dev_add_pm(struct vpcie_dev *dev)
{
	return vpcie_cfg_add_pm(&dev->cfg);
}

int vpcie_dev_add_pcie(struct vpcie_dev *dev, bool flr)
{
	int off = vpcie_cfg_add_pcie(&dev->cfg, flr);

	if (off > 0)
		dev->pcie_off = (unsigned)off;
	return off;
}

int vpcie_dev_add_msi(struct vpcie_dev *dev, unsigned nvec, bool maskable)
{
	int off;

	if (dev->msi_off)
		return -EBUSY;
	off = vpcie_cfg_add_msi(&dev->cfg, nvec, maskable);
	if (off > 0) {
		dev->msi_off = (unsigned)off;
		dev->msi_nvec = nvec;
	}
	return off;
}

static int add_lib_trap(struct dev_bar *b, uint64_t off, uint64_t len)
{
	if (!b->present || !vpcie_range_ok(off, len, b->desc.size))
		return -EINVAL;
	b->traps[b->ntraps].off = off;
	b->traps[b->ntraps].len = len;
	b->ntraps++;
	return 0;
}

int vpcie_dev_add_msix(struct vpcie_dev *dev, unsigned nvec, unsigned table_bar,
		       uint32_t table_off, unsigned pba_bar, uint32_t pba_off)
{
	uint64_t tlen = (uint64_t)nvec * PCI_MSIX_ENTRY_SIZE, plen = ((nvec + 63) / 64) * 8;
	int off;

	if (dev->msix_off)
		return -EBUSY;
	if (nvec < 1 || nvec > 2048 || table_bar > 5 || pba_bar > 5)
		return -EINVAL;
	if (!dev->bars[table_bar].present || !dev->bars[pba_bar].present ||
	    !vpcie_range_ok(table_off, tlen, dev->bars[table_bar].desc.size) ||
	    !vpcie_range_ok(pba_off, plen, dev->bars[pba_bar].desc.size) ||
	    dev->bars[table_bar].desc.kind == VPCIE_BAR_IO)
		return -EINVAL;
	if (table_bar == pba_bar && table_off < pba_off + plen && pba_off < table_off + tlen)
		return -EINVAL;
	off = vpcie_cfg_add_msix(&dev->cfg, nvec, table_bar, table_off, pba_bar, pba_off);
	if (off < 0)
		return off;
	dev->msix_table = calloc(nvec, PCI_MSIX_ENTRY_SIZE);
	dev->msix_ctrl_written = calloc(nvec, 1);
	dev->msix_pending = calloc((nvec + 63) / 64, sizeof(uint64_t));
	if (!dev->msix_table || !dev->msix_ctrl_written || !dev->msix_pending)
		return -ENOMEM;
	add_lib_trap(&dev->bars[table_bar], table_off, tlen);
	add_lib_trap(&dev->bars[pba_bar], pba_off, plen);
	dev->msix_off = (unsigned)off;
	dev->msix_nvec = nvec;
	dev->msix_table_bar = table_bar;
	dev->msix_table_off = table_off;
	dev->msix_pba_bar = pba_bar;
	dev->msix_pba_off = pba_off;
	return off;
}

int vpcie_dev_add_vendor_cap(struct vpcie_dev *dev, const void *data, uint8_t len)
{
	return vpcie_cfg_add_vendor(&dev->cfg, data, len);
}

int vpcie_dev_add_ext_cap(struct vpcie_dev *dev, uint16_t id, uint8_t version,
			  const void *data, size_t len)
{
	int off = vpcie_cfg_add_ext_cap(&dev->cfg, id, version, len + 4);

	if (off > 0 && len)
		memcpy(dev->cfg.data + off + 4, data, len);
	return off;
}
