/* SPDX-License-Identifier: MIT */
/*
 * Host runtime: config space helpers (typed accesses in little endian, the
 * whole image, the capability walk).
 */
#include <endian.h>
#include <errno.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <vpcie/config.h>
#include <vpcie/host.h>

#include "host_priv.h"

/* ---- Config space -------------------------------------------------------- */

int vpcie_host_cfg_read(struct vpcie_host *h, unsigned off, void *buf, size_t len)
{
	return vpcie_host_region_read(h, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len);
}

int vpcie_host_cfg_write(struct vpcie_host *h, unsigned off, const void *buf, size_t len)
{
	return vpcie_host_region_write(h, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len);
}

uint32_t vpcie_host_cfg_read32(struct vpcie_host *h, unsigned off, int *err)
{
	uint32_t v;
	int rc = vpcie_host_cfg_read(h, off, &v, sizeof(v));

	if (err)
		*err = rc;
	return rc < 0 ? UINT32_MAX : le32toh(v);
}

uint16_t vpcie_host_cfg_read16(struct vpcie_host *h, unsigned off, int *err)
{
	uint16_t v;
	int rc = vpcie_host_cfg_read(h, off, &v, sizeof(v));

	if (err)
		*err = rc;
	return rc < 0 ? UINT16_MAX : le16toh(v);
}

int vpcie_host_cfg_write16(struct vpcie_host *h, unsigned off, uint16_t v)
{
	uint16_t le = htole16(v);

	return vpcie_host_cfg_write(h, off, &le, sizeof(le));
}

int vpcie_host_cfg_write32(struct vpcie_host *h, unsigned off, uint32_t v)
{
	uint32_t le = htole32(v);

	return vpcie_host_cfg_write(h, off, &le, sizeof(le));
}

int vpcie_host_cfg_dump(struct vpcie_host *h, uint8_t *image, size_t *len)
{
	struct host_region *r;
	uint64_t size;
	int rc;

	if (!h || !image || !len)
		return -EINVAL;
	rc = host_region_get(h, VFIO_PCI_CONFIG_REGION_INDEX, &r);
	if (rc < 0)
		return rc;
	size = r->info.size;
	if (size > VPCIE_CFG_SIZE)
		size = VPCIE_CFG_SIZE;
	if (size > *len)
		size = *len;
	rc = vpcie_host_cfg_read(h, 0, image, (size_t)size);
	if (rc < 0)
		return rc;
	*len = (size_t)size;
	return 0;
}

int vpcie_host_find_cap(struct vpcie_host *h, uint8_t id)
{
	uint8_t img[VPCIE_CFG_SIZE];
	size_t len = sizeof(img);
	int rc = vpcie_host_cfg_dump(h, img, &len);

	if (rc < 0)
		return rc;
	if (len < PCI_STD_HEADER_SIZEOF)
		return 0;
	return (int)vpcie_cfg_find_cap(img, len, id);
}

int vpcie_host_find_ext_cap(struct vpcie_host *h, uint16_t id)
{
	uint8_t img[VPCIE_CFG_SIZE];
	size_t len = sizeof(img);
	int rc = vpcie_host_cfg_dump(h, img, &len);

	if (rc < 0)
		return rc;
	if (len < VPCIE_CFG_SIZE)
		return 0;
	return (int)vpcie_cfg_find_ext_cap(img, len, id);
}
