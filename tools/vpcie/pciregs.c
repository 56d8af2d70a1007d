/* SPDX-License-Identifier: MIT */
/* setpci's names of config registers and capabilities, from <linux/pci_regs.h>. */
#include <stddef.h>
#include <strings.h>

#include <linux/pci_regs.h>

#include "pciregs.h"

#define N PCIREG_HDR_NORMAL
#define B PCIREG_HDR_BRIDGE
#define C PCIREG_HDR_CARDBUS

/* Header types as setpci accepts each name (checked against setpci 3.9). */
static const struct pcireg regs[] = {
	{"VENDOR_ID", PCI_VENDOR_ID, 2, N | B | C},
	{"DEVICE_ID", PCI_DEVICE_ID, 2, N | B | C},
	{"COMMAND", PCI_COMMAND, 2, N | B | C},
	{"STATUS", PCI_STATUS, 2, N | B | C},
	{"REVISION", PCI_REVISION_ID, 1, N | B | C},
	{"CLASS_PROG", PCI_CLASS_PROG, 1, N | B | C},
	{"CLASS_DEVICE", PCI_CLASS_DEVICE, 2, N | B | C},
	{"CACHE_LINE_SIZE", PCI_CACHE_LINE_SIZE, 1, N | B | C},
	{"LATENCY_TIMER", PCI_LATENCY_TIMER, 1, N | B | C},
	{"HEADER_TYPE", PCI_HEADER_TYPE, 1, N | B | C},
	{"BIST", PCI_BIST, 1, N | B | C},
	{"BASE_ADDRESS_0", PCI_BASE_ADDRESS_0, 4, N | B},
	{"BASE_ADDRESS_1", PCI_BASE_ADDRESS_1, 4, N | B},
	{"BASE_ADDRESS_2", PCI_BASE_ADDRESS_2, 4, N},
	{"BASE_ADDRESS_3", PCI_BASE_ADDRESS_3, 4, N},
	{"BASE_ADDRESS_4", PCI_BASE_ADDRESS_4, 4, N},
	{"BASE_ADDRESS_5", PCI_BASE_ADDRESS_5, 4, N},
	{"CARDBUS_CIS", PCI_CARDBUS_CIS, 4, N},
	{"SUBSYSTEM_VENDOR_ID", PCI_SUBSYSTEM_VENDOR_ID, 2, N},
	{"SUBSYSTEM_ID", PCI_SUBSYSTEM_ID, 2, N},
	{"ROM_ADDRESS", PCI_ROM_ADDRESS, 4, N},
	{"CAPABILITIES", PCI_CAPABILITY_LIST, 1, N | B},
	{"INTERRUPT_LINE", PCI_INTERRUPT_LINE, 1, N | B},
	{"INTERRUPT_PIN", PCI_INTERRUPT_PIN, 1, N | B},
	{"MIN_GNT", PCI_MIN_GNT, 1, N},
	{"MAX_LAT", PCI_MAX_LAT, 1, N},
	/* Type 1: PCI-to-PCI bridges. */
	{"PRIMARY_BUS", PCI_PRIMARY_BUS, 1, B},
	{"SECONDARY_BUS", PCI_SECONDARY_BUS, 1, B},
	{"SUBORDINATE_BUS", PCI_SUBORDINATE_BUS, 1, B},
	{"SEC_LATENCY_TIMER", PCI_SEC_LATENCY_TIMER, 1, B},
	{"IO_BASE", PCI_IO_BASE, 1, B},
	{"IO_LIMIT", PCI_IO_LIMIT, 1, B},
	{"SEC_STATUS", PCI_SEC_STATUS, 2, B},
	{"MEMORY_BASE", PCI_MEMORY_BASE, 2, B},
	{"MEMORY_LIMIT", PCI_MEMORY_LIMIT, 2, B},
	{"PREF_MEMORY_BASE", PCI_PREF_MEMORY_BASE, 2, B},
	{"PREF_MEMORY_LIMIT", PCI_PREF_MEMORY_LIMIT, 2, B},
	{"PREF_BASE_UPPER32", PCI_PREF_BASE_UPPER32, 4, B},
	{"PREF_LIMIT_UPPER32", PCI_PREF_LIMIT_UPPER32, 4, B},
	{"IO_BASE_UPPER16", PCI_IO_BASE_UPPER16, 2, B},
	{"IO_LIMIT_UPPER16", PCI_IO_LIMIT_UPPER16, 2, B},
	{"BRIDGE_ROM_ADDRESS", PCI_ROM_ADDRESS1, 4, B},
	{"BRIDGE_CONTROL", PCI_BRIDGE_CONTROL, 2, B},
	/* Type 2: CardBus bridges (the socket base is where BAR0 would be). */
	{"CB_CARDBUS_BASE", PCI_BASE_ADDRESS_0, 4, C},
	{"CB_CAPABILITIES", PCI_CB_CAPABILITY_LIST, 2, C},
	{"CB_SEC_STATUS", PCI_CB_SEC_STATUS, 2, C},
	{"CB_BUS_NUMBER", PCI_CB_PRIMARY_BUS, 1, C},
	{"CB_CARDBUS_NUMBER", PCI_CB_CARD_BUS, 1, C},
	{"CB_SUBORDINATE_BUS", PCI_CB_SUBORDINATE_BUS, 1, C},
	{"CB_CARDBUS_LATENCY", PCI_CB_LATENCY_TIMER, 1, C},
	{"CB_MEMORY_BASE_0", PCI_CB_MEMORY_BASE_0, 4, C},
	{"CB_MEMORY_LIMIT_0", PCI_CB_MEMORY_LIMIT_0, 4, C},
	{"CB_MEMORY_BASE_1", PCI_CB_MEMORY_BASE_1, 4, C},
	{"CB_MEMORY_LIMIT_1", PCI_CB_MEMORY_LIMIT_1, 4, C},
	{"CB_IO_BASE_0", PCI_CB_IO_BASE_0, 2, C},
	{"CB_IO_BASE_0_HI", PCI_CB_IO_BASE_0_HI, 2, C},
	{"CB_IO_LIMIT_0", PCI_CB_IO_LIMIT_0, 2, C},
	{"CB_IO_LIMIT_0_HI", PCI_CB_IO_LIMIT_0_HI, 2, C},
	{"CB_IO_BASE_1", PCI_CB_IO_BASE_1, 2, C},
	{"CB_IO_BASE_1_HI", PCI_CB_IO_BASE_1_HI, 2, C},
	{"CB_IO_LIMIT_1", PCI_CB_IO_LIMIT_1, 2, C},
	{"CB_IO_LIMIT_1_HI", PCI_CB_IO_LIMIT_1_HI, 2, C},
	{"CB_SUBSYSTEM_VENDOR_ID", PCI_CB_SUBSYSTEM_VENDOR_ID, 2, C},
	{"CB_SUBSYSTEM_ID", PCI_CB_SUBSYSTEM_ID, 2, C},
	{"CB_LEGACY_MODE_BASE", PCI_CB_LEGACY_MODE_BASE, 4, C},
};

#undef N
#undef B
#undef C

/* setpci's capability names; those <linux/pci_regs.h> has no ID for are
 * reachable as CAPnn / ECAPnn. */
static const struct pcicap caps[] = {
	{"CAP_PM", PCICAP_STD, PCI_CAP_ID_PM},
	{"CAP_AGP", PCICAP_STD, PCI_CAP_ID_AGP},
	{"CAP_VPD", PCICAP_STD, PCI_CAP_ID_VPD},
	{"CAP_SLOTID", PCICAP_STD, PCI_CAP_ID_SLOTID},
	{"CAP_MSI", PCICAP_STD, PCI_CAP_ID_MSI},
	{"CAP_CHSWP", PCICAP_STD, PCI_CAP_ID_CHSWP},
	{"CAP_PCIX", PCICAP_STD, PCI_CAP_ID_PCIX},
	{"CAP_HT", PCICAP_STD, PCI_CAP_ID_HT},
	{"CAP_VNDR", PCICAP_STD, PCI_CAP_ID_VNDR},
	{"CAP_DBG", PCICAP_STD, PCI_CAP_ID_DBG},
	{"CAP_CCRC", PCICAP_STD, PCI_CAP_ID_CCRC},
	{"CAP_HOTPLUG", PCICAP_STD, PCI_CAP_ID_SHPC},
	{"CAP_SSVID", PCICAP_STD, PCI_CAP_ID_SSVID},
	{"CAP_AGP3", PCICAP_STD, PCI_CAP_ID_AGP3},
	{"CAP_SECURE", PCICAP_STD, PCI_CAP_ID_SECDEV},
	{"CAP_EXP", PCICAP_STD, PCI_CAP_ID_EXP},
	{"CAP_MSIX", PCICAP_STD, PCI_CAP_ID_MSIX},
	{"CAP_SATA", PCICAP_STD, PCI_CAP_ID_SATA},
	{"CAP_AF", PCICAP_STD, PCI_CAP_ID_AF},
	{"CAP_EA", PCICAP_STD, PCI_CAP_ID_EA},
	{"ECAP_AER", PCICAP_EXT, PCI_EXT_CAP_ID_ERR},
	{"ECAP_VC", PCICAP_EXT, PCI_EXT_CAP_ID_VC},
	{"ECAP_DSN", PCICAP_EXT, PCI_EXT_CAP_ID_DSN},
	{"ECAP_PB", PCICAP_EXT, PCI_EXT_CAP_ID_PWR},
	{"ECAP_RCLINK", PCICAP_EXT, PCI_EXT_CAP_ID_RCLD},
	{"ECAP_RCILINK", PCICAP_EXT, PCI_EXT_CAP_ID_RCILC},
	{"ECAP_RCEC", PCICAP_EXT, PCI_EXT_CAP_ID_RCEC},
	{"ECAP_MFVC", PCICAP_EXT, PCI_EXT_CAP_ID_MFVC},
	{"ECAP_VC2", PCICAP_EXT, PCI_EXT_CAP_ID_VC9},
	{"ECAP_RBCB", PCICAP_EXT, PCI_EXT_CAP_ID_RCRB},
	{"ECAP_VNDR", PCICAP_EXT, PCI_EXT_CAP_ID_VNDR},
	{"ECAP_ACS", PCICAP_EXT, PCI_EXT_CAP_ID_ACS},
	{"ECAP_ARI", PCICAP_EXT, PCI_EXT_CAP_ID_ARI},
	{"ECAP_ATS", PCICAP_EXT, PCI_EXT_CAP_ID_ATS},
	{"ECAP_SRIOV", PCICAP_EXT, PCI_EXT_CAP_ID_SRIOV},
	{"ECAP_MRIOV", PCICAP_EXT, PCI_EXT_CAP_ID_MRIOV},
	{"ECAP_MCAST", PCICAP_EXT, PCI_EXT_CAP_ID_MCAST},
	{"ECAP_PRI", PCICAP_EXT, PCI_EXT_CAP_ID_PRI},
	{"ECAP_REBAR", PCICAP_EXT, PCI_EXT_CAP_ID_REBAR},
	{"ECAP_DPA", PCICAP_EXT, PCI_EXT_CAP_ID_DPA},
	{"ECAP_TPH", PCICAP_EXT, PCI_EXT_CAP_ID_TPH},
	{"ECAP_LTR", PCICAP_EXT, PCI_EXT_CAP_ID_LTR},
	{"ECAP_SECPCI", PCICAP_EXT, PCI_EXT_CAP_ID_SECPCI},
	{"ECAP_PMUX", PCICAP_EXT, PCI_EXT_CAP_ID_PMUX},
	{"ECAP_PASID", PCICAP_EXT, PCI_EXT_CAP_ID_PASID},
	{"ECAP_DPC", PCICAP_EXT, PCI_EXT_CAP_ID_DPC},
	{"ECAP_L1PM", PCICAP_EXT, PCI_EXT_CAP_ID_L1SS},
	{"ECAP_PTM", PCICAP_EXT, PCI_EXT_CAP_ID_PTM},
	{"ECAP_DVSEC", PCICAP_EXT, PCI_EXT_CAP_ID_DVSEC},
	{"ECAP_DLNK", PCICAP_EXT, PCI_EXT_CAP_ID_DLF},
	{"ECAP_16GT", PCICAP_EXT, PCI_EXT_CAP_ID_PL_16GT},
};

const struct pcireg *pcireg_find(const char *name)
{
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (!strcasecmp(name, regs[i].name))
			return &regs[i];
	return NULL;
}

const struct pcireg *pcireg_at(unsigned off, unsigned hdr_mask)
{
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if ((regs[i].hdr_mask & hdr_mask) && off >= regs[i].offset &&
		    off < (unsigned)regs[i].offset + regs[i].width)
			return &regs[i];
	return NULL;
}

const struct pcicap *pcicap_find(const char *name)
{
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (!strcasecmp(name, caps[i].name))
			return &caps[i];
	return NULL;
}

void pciregs_dump(FILE *f)
{
	static const char wl[] = "?BW?L";

	fputs("cap pos w name\n", f);
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		fprintf(f, "     %02x %c %s\n", regs[i].offset, wl[regs[i].width], regs[i].name);
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		fprintf(f, caps[i].kind == PCICAP_STD ? "  %02x 00 - %s\n" : "%04x 00 - %s\n",
			caps[i].id, caps[i].name);
}
