/* SPDX-License-Identifier: MIT */
/* Names the `vpcie trace` output formats share (trace_out.h). */
#include <stdio.h>

#include <linux/vfio.h>

#include "trace_out.h"

const char *trace_side_name(unsigned side)
{
	return side == VPCIE_TRACE_SIDE_DEVICE ? "device" : "host";
}

const char *trace_region_name(unsigned index, char *buf)
{
	if (index < 6) {
		snprintf(buf, 24, "BAR%u", index);
		return buf;
	}
	switch (index) {
	case VFIO_PCI_ROM_REGION_INDEX:
		return "ROM";
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return "config";
	case VFIO_PCI_VGA_REGION_INDEX:
		return "VGA";
	default:
		snprintf(buf, 24, "region %u", index);
		return buf;
	}
}

const char *trace_irq_name(unsigned index, char *buf)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return "INTx";
	case VFIO_PCI_MSI_IRQ_INDEX:
		return "MSI";
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return "MSI-X";
	default:
		snprintf(buf, 24, "irq %u", index);
		return buf;
	}
}
