/* SPDX-License-Identifier: MIT */
/* One side of vpcie-ntb driven like ntb_hw_epf does (ntb_host.h). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <linux/pci_regs.h>

#include "ntb_host.h"
#include "ntb_regs.h"

uint32_t ntbh_ctrl(struct ntbh *n, unsigned off)
{
	int err = 0;
	uint32_t v = vpcie_host_bar_read32(n->h, NTB_BAR_CONFIG, off, &err);

	return err ? 0xffffffffu : v;
}

int ntbh_open(struct ntbh *n, const char *where, uint64_t mem_base, bool ring)
{
	struct vpcie_host_opts o;
	int err = 0;
	uint32_t id, class;

	memset(n, 0, sizeof(*n));
	n->cmd_timeout_ms = 1000;
	vpcie_host_opts_defaults(&o);
	o.ring = ring;
	n->h = vpcie_host_open(where, &o, &err);
	if (!n->h)
		return err ? err : -EIO;
	id = vpcie_host_cfg_read32(n->h, PCI_VENDOR_ID, &err);
	class = vpcie_host_cfg_read32(n->h, PCI_CLASS_REVISION, &err) >> 8;
	if (err || id != (NTB_DEVICE_ID << 16 | NTB_VENDOR_ID) || class >> 8 != NTB_CLASS_CODE >> 8)
		goto fail;
	err = vpcie_host_assign_bars(n->h, mem_base, 0x1000);
	if (err)
		goto fail;
	for (unsigned b = 0; b < 6; b++) {
		const struct vpcie_host_bar *bar = vpcie_host_bar(n->h, b);

		n->bar_size[b] = bar && bar->present ? bar->size : 0;
	}
	n->mw_count = ntbh_ctrl(n, NTB_CTRL_MW_COUNT);
	n->mw1_offset = ntbh_ctrl(n, NTB_CTRL_MW1_OFFSET);
	n->spad_offset = ntbh_ctrl(n, NTB_CTRL_SPAD_OFFSET);
	n->spad_count = ntbh_ctrl(n, NTB_CTRL_SPAD_COUNT);
	n->db_entry_size = ntbh_ctrl(n, NTB_CTRL_DB_ENTRY_SIZE);
	if (n->mw_count == 0 || n->mw_count > NTB_MAX_MWS || n->db_entry_size == 0 ||
	    n->mw1_offset >= n->bar_size[NTB_BAR_DB_MW1])
		goto fail;
	return 0;
fail:
	vpcie_host_close(n->h);
	n->h = NULL;
	return err ? err : -EPROTO;
}

void ntbh_close(struct ntbh *n)
{
	if (n->h)
		vpcie_host_close(n->h);
	n->h = NULL;
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ntbh_cmd(struct ntbh *n, uint32_t cmd, uint32_t arg)
{
	uint64_t deadline = ms_now() + (uint64_t)n->cmd_timeout_ms;
	uint16_t status = 0, zero = 0;
	int rc;

	rc = vpcie_host_bar_write32(n->h, NTB_BAR_CONFIG, NTB_CTRL_ARGUMENT, arg);
	if (!rc)
		rc = vpcie_host_bar_write32(n->h, NTB_BAR_CONFIG, NTB_CTRL_COMMAND, cmd);
	while (!rc) {
		/* readw(CMD_STATUS), as the driver polls it */
		rc = vpcie_host_region_read(n->h, NTB_BAR_CONFIG, NTB_CTRL_CMD_STATUS, &status, 2);
		if (rc || status == NTB_STATUS_OK || status == NTB_STATUS_ERROR)
			break;
		if (ms_now() > deadline)
			rc = -ETIMEDOUT;
	}
	if (vpcie_host_region_write(n->h, NTB_BAR_CONFIG, NTB_CTRL_CMD_STATUS, &zero, 2) && !rc)
		rc = -EIO;
	if (rc)
		return rc;
	return status == NTB_STATUS_OK ? 0 : -EINVAL;
}

int ntbh_init_isr(struct ntbh *n, unsigned nvec, bool msix)
{
	int got = vpcie_host_irq_enable(n->h, msix ? VPCIE_HOST_IRQ_MSIX : VPCIE_HOST_IRQ_MSI, nvec);

	if (got < 0)
		return got;
	n->nvec = (unsigned)got;
	return ntbh_cmd(n, NTB_CMD_CONFIGURE_DOORBELL, (msix ? NTB_ARG_MSIX_ENABLE : 0) | n->nvec);
}

bool ntbh_link_is_up(struct ntbh *n)
{
	uint16_t v = 0;

	if (vpcie_host_region_read(n->h, NTB_BAR_CONFIG, NTB_CTRL_LINK_STATUS, &v, 2))
		return false;
	return v & NTB_LINK_STATUS_UP;
}

int ntbh_mw_set_trans(struct ntbh *n, unsigned idx, uint64_t addr, uint64_t size)
{
	int rc = 0;

	rc |= vpcie_host_bar_write32(n->h, NTB_BAR_CONFIG, NTB_CTRL_LOWER_ADDR, (uint32_t)addr);
	rc |= vpcie_host_bar_write32(n->h, NTB_BAR_CONFIG, NTB_CTRL_UPPER_ADDR,
				     (uint32_t)(addr >> 32));
	rc |= vpcie_host_bar_write32(n->h, NTB_BAR_CONFIG, NTB_CTRL_LOWER_SIZE, (uint32_t)size);
	rc |= vpcie_host_bar_write32(n->h, NTB_BAR_CONFIG, NTB_CTRL_UPPER_SIZE,
				     (uint32_t)(size >> 32));
	if (rc)
		return -EIO;
	return ntbh_cmd(n, NTB_CMD_CONFIGURE_MW, idx);
}

int ntbh_mw_clear_trans(struct ntbh *n, unsigned idx)
{
	return ntbh_cmd(n, NTB_CMD_TEARDOWN_MW, idx);
}

uint64_t ntbh_peer_mw_size(const struct ntbh *n, unsigned idx)
{
	if (idx >= n->mw_count)
		return 0;
	return n->bar_size[NTB_BAR_MW(idx)] - (idx == 0 ? n->mw1_offset : 0);
}

int ntbh_mw_write(struct ntbh *n, unsigned idx, uint64_t off, const void *buf, size_t len)
{
	if (idx >= n->mw_count)
		return -EINVAL;
	return vpcie_host_region_write(n->h, NTB_BAR_MW(idx), off + (idx == 0 ? n->mw1_offset : 0),
				       buf, len);
}

int ntbh_mw_read(struct ntbh *n, unsigned idx, uint64_t off, void *buf, size_t len)
{
	if (idx >= n->mw_count)
		return -EINVAL;
	return vpcie_host_region_read(n->h, NTB_BAR_MW(idx), off + (idx == 0 ? n->mw1_offset : 0),
				      buf, len);
}

int ntbh_spad_write(struct ntbh *n, unsigned idx, uint32_t v)
{
	if (idx >= n->spad_count)
		return -EINVAL;
	return vpcie_host_bar_write32(n->h, NTB_BAR_CONFIG, n->spad_offset + 4 * idx, v);
}

uint32_t ntbh_spad_read(struct ntbh *n, unsigned idx)
{
	if (idx >= n->spad_count)
		return 0;
	return ntbh_ctrl(n, n->spad_offset + 4 * idx);
}

int ntbh_peer_spad_write(struct ntbh *n, unsigned idx, uint32_t v)
{
	if (idx >= n->spad_count)
		return -EINVAL;
	return vpcie_host_bar_write32(n->h, NTB_BAR_PEER_SPAD, 4 * idx, v);
}

uint32_t ntbh_peer_spad_read(struct ntbh *n, unsigned idx)
{
	int err = 0;
	uint32_t v;

	if (idx >= n->spad_count)
		return 0;
	v = vpcie_host_bar_read32(n->h, NTB_BAR_PEER_SPAD, 4 * idx, &err);
	return err ? 0xffffffffu : v;
}

int ntbh_ring(struct ntbh *n, unsigned entry)
{
	uint32_t data, off;

	if (entry >= NTB_MAX_DB)
		return -EINVAL;
	data = ntbh_ctrl(n, NTB_CTRL_DB_DATA(entry));
	off = ntbh_ctrl(n, NTB_CTRL_DB_OFFSET(entry));
	return vpcie_host_bar_write32(n->h, NTB_BAR_DB_MW1,
				      (uint64_t)n->db_entry_size * entry + off, data);
}
