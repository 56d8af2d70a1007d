/* SPDX-License-Identifier: MIT */
/*
 * Builders for the standard capabilities the library knows: Power
 * Management, PCI Express (endpoint, v2), MSI, MSI-X and vendor-specific.
 * Each appends the capability with vpcie_cfg_add_cap(), fills in its
 * read-only values and declares which bits the host may write or clear.
 */
#include "vpcie/config.h"

#include <errno.h>
#include <string.h>

/* Place v in the field described by mask (like the kernel's FIELD_PREP). */
static uint32_t field(uint32_t mask, uint32_t v)
{
	return (v * (mask & -mask)) & mask;
}

static bool is_pow2(unsigned v)
{
	return v && !(v & (v - 1));
}

static unsigned ilog2(unsigned v)
{
	unsigned r = 0;
	while (v >>= 1)
		r++;
	return r;
}

int vpcie_cfg_add_pm(struct vpcie_cfg *cfg)
{
	int off = vpcie_cfg_add_cap(cfg, PCI_CAP_ID_PM, PCI_PM_SIZEOF);
	unsigned o;

	if (off < 0)
		return off;
	o = (unsigned)off;
	/* Version 3 (PCI PM 1.2); only D0 and D3hot; no PME, no aux power. */
	vpcie_cfg_set16(cfg, o + PCI_PM_PMC, field(PCI_PM_CAP_VER_MASK, 3));
	/* D0, and no internal reset on D3hot -> D0. */
	vpcie_cfg_set16(cfg, o + PCI_PM_CTRL, PCI_PM_CTRL_NO_SOFT_RESET);
	vpcie_cfg_set_wmask(cfg, o + PCI_PM_CTRL, 2, PCI_PM_CTRL_STATE_MASK);
	return off;
}

int vpcie_cfg_add_pcie(struct vpcie_cfg *cfg, bool flr)
{
	int off = vpcie_cfg_add_cap(cfg, PCI_CAP_ID_EXP, PCI_CAP_EXP_ENDPOINT_SIZEOF_V2);
	uint32_t devcap, devctl_w;
	unsigned o;

	if (off < 0)
		return off;
	o = (unsigned)off;

	vpcie_cfg_set16(cfg, o + PCI_EXP_FLAGS,
			field(PCI_EXP_FLAGS_VERS, 2) |
			field(PCI_EXP_FLAGS_TYPE, PCI_EXP_TYPE_ENDPOINT));

	/* Max payload 256 bytes (encoding 1), extended tags, role-based errors. */
	devcap = field(PCI_EXP_DEVCAP_PAYLOAD, 1) | PCI_EXP_DEVCAP_EXT_TAG | PCI_EXP_DEVCAP_RBER;
	if (flr)
		devcap |= PCI_EXP_DEVCAP_FLR;
	vpcie_cfg_set32(cfg, o + PCI_EXP_DEVCAP, devcap);

	/* Reset defaults per the PCIe spec: RO and no-snoop on, MRRS 512. */
	vpcie_cfg_set16(cfg, o + PCI_EXP_DEVCTL,
			PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN |
			PCI_EXP_DEVCTL_PAYLOAD_128B | PCI_EXP_DEVCTL_READRQ_512B);
	devctl_w = PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE | PCI_EXP_DEVCTL_FERE |
		   PCI_EXP_DEVCTL_URRE | PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_PAYLOAD |
		   PCI_EXP_DEVCTL_EXT_TAG | PCI_EXP_DEVCTL_NOSNOOP_EN | PCI_EXP_DEVCTL_READRQ;
	if (flr)
		devctl_w |= PCI_EXP_DEVCTL_BCR_FLR;
	vpcie_cfg_set_wmask(cfg, o + PCI_EXP_DEVCTL, 2, devctl_w);
	vpcie_cfg_set_w1cmask(cfg, o + PCI_EXP_DEVSTA, 2,
			      PCI_EXP_DEVSTA_CED | PCI_EXP_DEVSTA_NFED |
			      PCI_EXP_DEVSTA_FED | PCI_EXP_DEVSTA_URD);

	/* Link: x1 at 2.5 GT/s, no ASPM, port 0. */
	vpcie_cfg_set32(cfg, o + PCI_EXP_LNKCAP,
			PCI_EXP_LNKCAP_SLS_2_5GB | field(PCI_EXP_LNKCAP_MLW, 1));
	vpcie_cfg_set_wmask(cfg, o + PCI_EXP_LNKCTL, 2,
			    PCI_EXP_LNKCTL_RCB | PCI_EXP_LNKCTL_CCC | PCI_EXP_LNKCTL_ES);
	vpcie_cfg_set16(cfg, o + PCI_EXP_LNKSTA, PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1);

	/* Version 2 registers: only completion timeout disable is implemented. */
	vpcie_cfg_set32(cfg, o + PCI_EXP_DEVCAP2, PCI_EXP_DEVCAP2_COMP_TMOUT_DIS);
	vpcie_cfg_set_wmask(cfg, o + PCI_EXP_DEVCTL2, 2, PCI_EXP_DEVCTL2_COMP_TMOUT_DIS);
	vpcie_cfg_set32(cfg, o + PCI_EXP_LNKCAP2, PCI_EXP_LNKCAP2_SLS_2_5GB);
	vpcie_cfg_set16(cfg, o + PCI_EXP_LNKCTL2, PCI_EXP_LNKCTL2_TLS_2_5GT);
	return off;
}

int vpcie_cfg_add_msi(struct vpcie_cfg *cfg, unsigned nvec, bool maskable)
{
	/* 64-bit layout; without mask bits it ends after the 16-bit data. */
	size_t len = maskable ? PCI_MSI_PENDING_64 + 4 : PCI_MSI_DATA_64 + 2;
	uint16_t flags;
	int off;
	unsigned o;

	if (nvec < 1 || nvec > 32 || !is_pow2(nvec))
		return -EINVAL;
	off = vpcie_cfg_add_cap(cfg, PCI_CAP_ID_MSI, len);
	if (off < 0)
		return off;
	o = (unsigned)off;

	flags = (uint16_t)(PCI_MSI_FLAGS_64BIT | field(PCI_MSI_FLAGS_QMASK, ilog2(nvec)));
	if (maskable)
		flags |= PCI_MSI_FLAGS_MASKBIT;
	vpcie_cfg_set16(cfg, o + PCI_MSI_FLAGS, flags);
	vpcie_cfg_set_wmask(cfg, o + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
	vpcie_cfg_set_wmask(cfg, o + PCI_MSI_ADDRESS_LO, 4, 0xfffffffcu);
	vpcie_cfg_set_wmask(cfg, o + PCI_MSI_ADDRESS_HI, 4, 0xffffffffu);
	vpcie_cfg_set_wmask(cfg, o + PCI_MSI_DATA_64, 2, 0xffff);
	if (maskable)
		vpcie_cfg_set_wmask(cfg, o + PCI_MSI_MASK_64, 4,
				    nvec == 32 ? 0xffffffffu : (1u << nvec) - 1);
	/* Pending bits: read-only, set by the device runtime. */
	return off;
}

int vpcie_cfg_add_msix(struct vpcie_cfg *cfg, unsigned nvec, unsigned table_bar,
		       uint32_t table_off, unsigned pba_bar, uint32_t pba_off)
{
	int off;
	unsigned o;

	if (nvec < 1 || nvec > PCI_MSIX_FLAGS_QSIZE + 1 || table_bar > 5 || pba_bar > 5 ||
	    (table_off & PCI_MSIX_TABLE_BIR) || (pba_off & PCI_MSIX_PBA_BIR))
		return -EINVAL;
	off = vpcie_cfg_add_cap(cfg, PCI_CAP_ID_MSIX, PCI_CAP_MSIX_SIZEOF);
	if (off < 0)
		return off;
	o = (unsigned)off;

	vpcie_cfg_set16(cfg, o + PCI_MSIX_FLAGS, (uint16_t)field(PCI_MSIX_FLAGS_QSIZE, nvec - 1));
	vpcie_cfg_set_wmask(cfg, o + PCI_MSIX_FLAGS, 2,
			    PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	vpcie_cfg_set32(cfg, o + PCI_MSIX_TABLE,
			(table_off & PCI_MSIX_TABLE_OFFSET) | field(PCI_MSIX_TABLE_BIR, table_bar));
	vpcie_cfg_set32(cfg, o + PCI_MSIX_PBA,
			(pba_off & PCI_MSIX_PBA_OFFSET) | field(PCI_MSIX_PBA_BIR, pba_bar));
	return off;
}

/* Byte 2 is the capability's total length, header (id, next, length) included. */
#define VNDR_HDR_LEN 3

int vpcie_cfg_add_vendor(struct vpcie_cfg *cfg, const void *data, uint8_t len)
{
	int off;
	unsigned o;

	if (len > UINT8_MAX - VNDR_HDR_LEN || (len && !data))
		return -EINVAL;
	off = vpcie_cfg_add_cap(cfg, PCI_CAP_ID_VNDR, (size_t)VNDR_HDR_LEN + len);
	if (off < 0)
		return off;
	o = (unsigned)off;

	vpcie_cfg_set8(cfg, o + PCI_CAP_FLAGS, (uint8_t)(VNDR_HDR_LEN + len));
	if (len)
		memcpy(&cfg->data[o + VNDR_HDR_LEN], data, len);
	return off;
}
