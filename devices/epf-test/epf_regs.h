/* SPDX-License-Identifier: MIT */
/*
 * epf_regs.h - the register block of Linux's pci-epf-test endpoint function,
 * as the host driver (drivers/misc/pci_endpoint_test.c) sees it in BAR0.
 *
 * Shared by the device (vpcie-epf-test), the host tool (`vpcie pcitest`) and
 * the tests, so that each value is written down once. Values follow Linux
 * 6.1 plus the compatible additions of later kernels (FLAGS, CAPS and its
 * bits); docs/epf-test.md has the table and the version notes.
 *
 * All registers are 32-bit little-endian and plain read/write memory from
 * the host's point of view (the 6.1 host driver writes STATUS back from its
 * interrupt handler; the BAR test writes MAGIC). The device acts when
 * COMMAND becomes non-zero, then clears COMMAND.
 */
#ifndef VPCIE_EPF_REGS_H
#define VPCIE_EPF_REGS_H

/* Register offsets in the test register BAR (BAR0). */
#define EPF_REG_MAGIC          0x00u
#define EPF_REG_COMMAND        0x04u
#define EPF_REG_STATUS         0x08u
#define EPF_REG_LOWER_SRC_ADDR 0x0cu
#define EPF_REG_UPPER_SRC_ADDR 0x10u
#define EPF_REG_LOWER_DST_ADDR 0x14u
#define EPF_REG_UPPER_DST_ADDR 0x18u
#define EPF_REG_SIZE           0x1cu
#define EPF_REG_CHECKSUM       0x20u
#define EPF_REG_IRQ_TYPE       0x24u
#define EPF_REG_IRQ_NUMBER     0x28u /* MSI/MSI-X vectors numbered from 1 */
#define EPF_REG_FLAGS          0x2cu /* since DMA support (5.x), in 6.1 */
#define EPF_REG_CAPS           0x30u /* since 6.14; older EPs read as 0 */
#define EPF_REG_DB_BAR         0x34u /* doorbell (recent kernels): unused here */
#define EPF_REG_DB_OFFSET      0x38u
#define EPF_REG_DB_DATA        0x3cu

/* Size of the register area: the register struct rounded up to 128 bytes,
 * as pci-epf-test allocates it. The MSI-X table follows it in BAR0. */
#define EPF_REG_AREA           128u
#define EPF_MSIX_TABLE_OFF     EPF_REG_AREA

/* COMMAND bits. 6.1 acts on the first set bit in the order RAISE_LEGACY,
 * WRITE, READ, COPY, RAISE_MSI, RAISE_MSIX. */
#define EPF_CMD_RAISE_LEGACY_IRQ (1u << 0) /* RAISE_INTX_IRQ in later kernels */
#define EPF_CMD_RAISE_MSI_IRQ    (1u << 1)
#define EPF_CMD_RAISE_MSIX_IRQ   (1u << 2)
#define EPF_CMD_READ             (1u << 3) /* EP reads host SRC, checks CHECKSUM */
#define EPF_CMD_WRITE            (1u << 4) /* EP fills host DST, sets CHECKSUM */
#define EPF_CMD_COPY             (1u << 5) /* EP copies host SRC to host DST */
/* Recent kernels; this EP has no doorbell and answers both with *_FAIL. */
#define EPF_CMD_ENABLE_DOORBELL  (1u << 6)
#define EPF_CMD_DISABLE_DOORBELL (1u << 7)

/* STATUS bits (all present in 6.1). */
#define EPF_STATUS_READ_SUCCESS     (1u << 0)
#define EPF_STATUS_READ_FAIL        (1u << 1)
#define EPF_STATUS_WRITE_SUCCESS    (1u << 2)
#define EPF_STATUS_WRITE_FAIL       (1u << 3)
#define EPF_STATUS_COPY_SUCCESS     (1u << 4)
#define EPF_STATUS_COPY_FAIL        (1u << 5)
#define EPF_STATUS_IRQ_RAISED       (1u << 6)
#define EPF_STATUS_SRC_ADDR_INVALID (1u << 7)
#define EPF_STATUS_DST_ADDR_INVALID (1u << 8)
/* Doorbell results (recent kernels). */
#define EPF_STATUS_DOORBELL_SUCCESS         (1u << 9)
#define EPF_STATUS_DOORBELL_ENABLE_SUCCESS  (1u << 10)
#define EPF_STATUS_DOORBELL_ENABLE_FAIL     (1u << 11)
#define EPF_STATUS_DOORBELL_DISABLE_SUCCESS (1u << 12)
#define EPF_STATUS_DOORBELL_DISABLE_FAIL    (1u << 13)

/* IRQ_TYPE values (also the host driver's PCITEST_IRQ_TYPE_*). */
#define EPF_IRQ_TYPE_LEGACY 0
#define EPF_IRQ_TYPE_MSI    1
#define EPF_IRQ_TYPE_MSIX   2

/* FLAGS bits. */
#define EPF_FLAG_USE_DMA (1u << 0)

/* CAPS bits (written by the EP at start-up). */
#define EPF_CAP_UNALIGNED_ACCESS (1u << 0) /* no buffer alignment needed */
#define EPF_CAP_MSI              (1u << 1)
#define EPF_CAP_MSIX             (1u << 2)
#define EPF_CAP_INTX             (1u << 3)

/* IDs: TI DRA74x is in pci_endpoint_test's ID table in every version. */
#define EPF_DEFAULT_VENDOR 0x104cu
#define EPF_DEFAULT_DEVICE 0xb500u

/* Host buffer alignment the host driver uses for DRA74x without
 * CAP_UNALIGNED_ACCESS. */
#define EPF_HOST_ALIGNMENT 4096u

/* pci-epf-test's default BAR sizes; BAR0 grows to hold the MSI-X table. */
#define EPF_DEFAULT_BAR_SIZES {512u, 512u, 1024u, 16384u, 131072u, 1048576u}

/* The host driver's BAR test patterns (one per BAR in later kernels; 6.1
 * used 0xA0A0A0A0 for every BAR). */
#define EPF_BAR_PATTERNS {0xA0A0A0A0u, 0xA1A1A1A1u, 0xA2A2A2A2u, \
			  0xA3A3A3A3u, 0xA4A4A4A4u, 0xA5A5A5A5u}

#endif
