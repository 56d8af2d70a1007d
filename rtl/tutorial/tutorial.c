/* SPDX-License-Identifier: MIT */
/*
 * vpcie-rtl-tutorial: rtl/tutorial/tutorial.v, Verilated, served as a PCIe
 * function. Everything device-specific is in the Verilog; this file only
 * describes the function: IDs, BAR0 served by the design, PCIe and MSI.
 */
#include <errno.h>

#include "vpcie_vl.h"

static int setup(struct vpcie_dev *dev, struct vpcie_rtl *rtl)
{
	int rc = vpcie_rtl_set_bar(rtl, 0, &(struct vpcie_bar_desc){
		.size = 4096, .kind = VPCIE_BAR_MEM32});

	if (!rc && vpcie_dev_add_pcie(dev, true) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_msi(dev, 4, false) < 0)
		rc = -EINVAL;
	return rc;
}

int main(int argc, char **argv)
{
	static const struct vpcie_ids ids = {
		.vendor = 0x1234, .device = 0x5652,
		.subsys_vendor = 0x1234, .subsys = 0x0001,
		.class_code = 0xff0000, .revision = 1,
	};
	static const struct vpcie_rtl_program prog = {
		.name = "vpcie-rtl-tutorial",
		.about = "The RTL tutorial device (rtl/tutorial/tutorial.v under Verilator):\n"
			 "BAR0 4 KiB of registers, a doorbell that DMA-writes a pattern and\n"
			 "raises MSI (docs/rtl.md).",
		.ids = &ids,
		.setup = setup,
	};

	return vpcie_vl_main(argc, argv, &prog);
}
