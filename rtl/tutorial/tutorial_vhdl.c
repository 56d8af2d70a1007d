/* SPDX-License-Identifier: MIT */
/*
 * vpcie-rtl-tutorial-vhdl: rtl/tutorial/tutorial.vhd, simulated by GHDL,
 * served as a PCIe function. The same function as vpcie-rtl-tutorial
 * (tutorial.v under Verilator); only the back-end's header and main differ.
 */
#include <errno.h>

#include "vpcie_ghdl.h"

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
		.name = "vpcie-rtl-tutorial-vhdl",
		.about = "The RTL tutorial device in VHDL (rtl/tutorial/tutorial.vhd under GHDL):\n"
			 "BAR0 4 KiB of registers, a doorbell that DMA-writes a pattern and\n"
			 "raises MSI (docs/rtl-tutorial.md).",
		.ids = &ids,
		.setup = setup,
	};

	return vpcie_ghdl_main(argc, argv, &prog);
}
