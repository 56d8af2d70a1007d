/* SPDX-License-Identifier: MIT */
/*
 * ntb_regs.h - what Linux's ntb_hw_epf driver (drivers/ntb/hw/epf/) expects of
 * the NTB endpoint function (drivers/pci/endpoint/functions/pci-epf-ntb.c,
 * Documentation/PCI/endpoint/pci-ntb-function.rst), as vpcie-ntb presents it
 * to each of its two hosts.
 *
 * Shared by the device, the tests and the benchmark so that each value is
 * written down once. The config region offsets are the NTB_EPF_* defines of
 * ntb_hw_epf.c (Linux 5.12 and later, 6.1 included) and the layout of
 * struct epf_ntb_ctrl in pci-epf-ntb.c; everything marked "vpcie" is a
 * choice this device makes where the endpoint function leaves one open (the
 * driver reads it from the config region or the capabilities).
 * docs/ntb.md has the tables.
 */
#ifndef VPCIE_NTB_REGS_H
#define VPCIE_NTB_REGS_H

/* IDs: the first entry of ntb_hw_epf's table, TI J721E. Newer kernels also
 * match the class (PCI_CLASS_MEMORY_RAM), which 6.1 ignores. */
#define NTB_VENDOR_ID          0x104cu
#define NTB_DEVICE_ID          0xb00du
#define NTB_CLASS_CODE         0x050000u /* PCI_CLASS_MEMORY_RAM << 8 */

/* BARs (enum epf_ntb_bar; ntb_hw_epf's j721e_data). All 32-bit. */
#define NTB_BAR_CONFIG         0u /* config region + self scratchpads */
#define NTB_BAR_PEER_SPAD      1u /* the peer's self scratchpads */
#define NTB_BAR_DB_MW1         2u /* doorbells, then memory window 1 */
#define NTB_BAR_MW(i)          (2u + (i)) /* memory window i (0-based) */
#define NTB_MAX_MWS            4u

/* Config region (struct epf_ntb_ctrl, packed, little-endian). */
#define NTB_CTRL_COMMAND       0x00u
#define NTB_CTRL_ARGUMENT      0x04u
#define NTB_CTRL_CMD_STATUS    0x08u /* 16-bit */
#define NTB_CTRL_LINK_STATUS   0x0Au /* 16-bit */
#define NTB_CTRL_TOPOLOGY      0x0Cu
#define NTB_CTRL_LOWER_ADDR    0x10u
#define NTB_CTRL_UPPER_ADDR    0x14u
#define NTB_CTRL_LOWER_SIZE    0x18u
#define NTB_CTRL_UPPER_SIZE    0x1Cu
#define NTB_CTRL_MW_COUNT      0x20u
#define NTB_CTRL_MW1_OFFSET    0x24u
#define NTB_CTRL_SPAD_OFFSET   0x28u
#define NTB_CTRL_SPAD_COUNT    0x2Cu
#define NTB_CTRL_DB_ENTRY_SIZE 0x30u
#define NTB_CTRL_DB_DATA(n)    (0x34u + (n) * 4u)
#define NTB_CTRL_DB_OFFSET(n)  (0xB4u + (n) * 4u)
#define NTB_CTRL_SIZE          0x134u
#define NTB_MAX_DB             32u   /* MAX_DB_COUNT: DB_DATA/DB_OFFSET entries */

/* COMMAND values. */
#define NTB_CMD_CONFIGURE_DOORBELL 1u
#define NTB_CMD_TEARDOWN_DOORBELL  2u
#define NTB_CMD_CONFIGURE_MW       3u
#define NTB_CMD_TEARDOWN_MW        4u
#define NTB_CMD_LINK_UP            5u
#define NTB_CMD_LINK_DOWN          6u

/* ARGUMENT of CONFIGURE_DOORBELL: vectors (link vector included) | MSI-X. */
#define NTB_ARG_DB_COUNT_MASK  0xffffu
#define NTB_ARG_MSIX_ENABLE    (1u << 16)

/* CMD_STATUS values (the host writes 0 back); LINK_STATUS bit. */
#define NTB_STATUS_OK          1u
#define NTB_STATUS_ERROR       2u
#define NTB_LINK_STATUS_UP     1u

/* TOPOLOGY (enum ntb_topo): the first host (A) is the upstream side. */
#define NTB_TOPO_B2B_USD       2u
#define NTB_TOPO_B2B_DSD       3u

/*
 * Interrupt vectors as the driver uses them: vector 0 is the link event,
 * vector n >= 1 a doorbell. ntb_hw_epf asks for 4..32 vectors.
 */
#define NTB_LINK_VECTOR        0u

/* ---- vpcie's choices --------------------------------------------------- */

/* BAR0: config region, MSI-X table (32 x 16 B) and PBA, self scratchpads,
 * then a copy of the peer's scratchpads (where newer drivers look when the
 * peer scratchpad BAR is BAR0). */
#define NTB_MSIX_TABLE_OFF     0x200u
#define NTB_MSIX_PBA_OFF       0x400u
#define NTB_SPAD_OFF           0x800u
#define NTB_MAX_SPADS          256u
#define NTB_DEFAULT_SPADS      64u   /* SPAD_COUNT of pci-epf-ntb */
/* BAR2: doorbell n is the 32-bit word at n * NTB_DB_ENTRY_SIZE (DB_OFFSET 0,
 * DB_DATA n); memory window 1 starts at NTB_MW1_OFFSET. */
#define NTB_DB_ENTRY_SIZE      4u
#define NTB_MW1_OFFSET         0x1000u
/* Memory window BARs: power of two sizes; window 1 has the BAR minus
 * NTB_MW1_OFFSET, as ntb_hw_epf's peer_mw_get_addr() reports it. */
#define NTB_DEFAULT_MW_BAR     (1u << 20)
#define NTB_MIN_MW_BAR         (2u * NTB_MW1_OFFSET)
#define NTB_MAX_MW_BAR         (1u << 30)
#define NTB_DEFAULT_MWS        2u
/* Translations are aligned like this (ntb_hw_epf's mw_get_align: SZ_4K). */
#define NTB_XLAT_ALIGN         0x1000u

#endif
