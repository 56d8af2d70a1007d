/* SPDX-License-Identifier: MIT */
/*
 * Names of PCI configuration registers and capabilities as pciutils' setpci
 * spells them (`setpci --dumpregs`), with offsets and IDs taken from
 * <linux/pci_regs.h>. Lookups are case-insensitive.
 */
#ifndef VPCIE_TOOL_PCIREGS_H
#define VPCIE_TOOL_PCIREGS_H

#include <stdint.h>
#include <stdio.h>

/* Header types a register exists in (bit 1 << PCI_HEADER_TYPE_*). */
#define PCIREG_HDR_NORMAL (1u << 0)
#define PCIREG_HDR_BRIDGE (1u << 1)
#define PCIREG_HDR_CARDBUS (1u << 2)
#define PCIREG_HDR_ALL (PCIREG_HDR_NORMAL | PCIREG_HDR_BRIDGE | PCIREG_HDR_CARDBUS)

struct pcireg {
	const char *name;
	uint16_t offset;
	uint8_t width;    /* bytes */
	uint8_t hdr_mask; /* PCIREG_HDR_* */
};

/* A register of the standard headers by name, or NULL. */
const struct pcireg *pcireg_find(const char *name);

/* The register of header type(s) hdr_mask that holds byte offset off, or NULL. */
const struct pcireg *pcireg_at(unsigned off, unsigned hdr_mask);

enum pcicap_kind { PCICAP_STD, PCICAP_EXT };

struct pcicap {
	const char *name; /* "CAP_PM", "ECAP_DSN", ... */
	enum pcicap_kind kind;
	uint16_t id;
};

/* A capability by name, or NULL. */
const struct pcicap *pcicap_find(const char *name);

/* Every known name, in the layout of `setpci --dumpregs`. */
void pciregs_dump(FILE *f);

#endif
