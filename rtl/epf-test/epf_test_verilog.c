/* SPDX-License-Identifier: MIT */
/*
 * vpcie-epf-test-verilog: pci-epf-test with its function logic in Verilog
 * (rtl/epf-test/epf_test.v under Verilator), first slice.
 *
 * BAR0      512 B: the register block, served by the design through the
 *           RTL bridge
 * BAR1..5   plain memory shared with the host, as the real function's BARs
 *           are the endpoint's memory (the C runtime serves them)
 * caps      PM, MSI (32, maskable), PCIe
 *
 * Passes `vpcie pcitest -b 0..5 -B`; COMMAND (DMA, checksum, interrupts)
 * is not implemented in the design yet (docs/rtl.md).
 */
#include <errno.h>

#include "epf_regs.h"
#include "vpcie_vl.h"

#define NBARS 6u

static int setup(struct vpcie_dev *dev, struct vpcie_rtl *rtl)
{
	static const uint64_t sizes[NBARS] = EPF_DEFAULT_BAR_SIZES;
	int rc;

	rc = vpcie_rtl_set_bar(rtl, 0, &(struct vpcie_bar_desc){
		.size = sizes[0], .kind = VPCIE_BAR_MEM32});
	for (unsigned n = 1; !rc && n < NBARS; n++)
		rc = vpcie_dev_set_bar(dev, n, &(struct vpcie_bar_desc){
			.size = sizes[n], .kind = VPCIE_BAR_MEM32, .memory = true});
	if (!rc && vpcie_dev_add_pm(dev) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_msi(dev, 32, true) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_pcie(dev, true) < 0)
		rc = -EINVAL;
	return rc;
}

int main(int argc, char **argv)
{
	static const struct vpcie_ids ids = {
		.vendor = EPF_DEFAULT_VENDOR, .device = EPF_DEFAULT_DEVICE,
		.class_code = 0xff0000, /* PCI_CLASS_OTHERS, as pci-epf-test */
	};
	static const struct vpcie_vl_program prog = {
		.name = "vpcie-epf-test-verilog",
		.about = "pci-epf-test with its register block in Verilog (rtl/epf-test, Verilator).\n"
			 "First slice: BAR tests only; COMMAND is not implemented yet.",
		.ids = &ids,
		.setup = setup,
	};

	return vpcie_vl_main(argc, argv, &prog);
}
