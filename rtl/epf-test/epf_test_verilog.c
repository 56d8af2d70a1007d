/* SPDX-License-Identifier: MIT */
/*
 * vpcie-epf-test-verilog: pci-epf-test with its function logic in Verilog
 * (rtl/epf-test/epf_test.v under Verilator): the register block, the
 * READ/WRITE/COPY engine with its CRC32, and the interrupts are the
 * design's; this file only describes the function to the C runtime.
 *
 * BAR0      64 KiB: the register block (0x00-0x3f, served by the design
 *           through the RTL bridge), the MSI-X table at 0x80 and its PBA
 *           (served by the runtime), as pci-epf-test lays BAR0 out
 * BAR1..5   plain memory shared with the host, as the real function's BARs
 *           are the endpoint's memory (the C runtime serves them)
 * caps      PM, MSI (32, maskable), PCIe (FLR), MSI-X (2048)
 */
#include <errno.h>

#include "epf_regs.h"
#include "vpcie_vl.h"

#define NBARS 6u
#define MSIX_VECTORS 2048u
#define BAR0_SIZE 65536u /* registers + MSI-X table + PBA, a power of two */

static int setup(struct vpcie_dev *dev, struct vpcie_rtl *rtl)
{
	static const uint64_t sizes[NBARS] = EPF_DEFAULT_BAR_SIZES;
	int rc;

	_Static_assert(EPF_MSIX_TABLE_OFF + MSIX_VECTORS * 16u + MSIX_VECTORS / 8u <= BAR0_SIZE,
		       "BAR0 holds the MSI-X table and PBA");
	rc = vpcie_rtl_set_bar(rtl, 0, &(struct vpcie_bar_desc){
		.size = BAR0_SIZE, .kind = VPCIE_BAR_MEM32});
	for (unsigned n = 1; !rc && n < NBARS; n++)
		rc = vpcie_dev_set_bar(dev, n, &(struct vpcie_bar_desc){
			.size = sizes[n], .kind = VPCIE_BAR_MEM32, .memory = true});
	if (!rc && vpcie_dev_add_pm(dev) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_msi(dev, 32, true) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_pcie(dev, true) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_msix(dev, MSIX_VECTORS, 0, EPF_MSIX_TABLE_OFF, 0,
				      EPF_MSIX_TABLE_OFF + MSIX_VECTORS * 16u) < 0)
		rc = -EINVAL;
	return rc;
}

int main(int argc, char **argv)
{
	static const struct vpcie_ids ids = {
		.vendor = EPF_DEFAULT_VENDOR, .device = EPF_DEFAULT_DEVICE,
		.class_code = 0xff0000, /* PCI_CLASS_OTHERS, as pci-epf-test */
	};
	static const struct vpcie_rtl_program prog = {
		.name = "vpcie-epf-test-verilog",
		.about = "pci-epf-test in Verilog (rtl/epf-test, Verilator): its registers, the\n"
			 "READ/WRITE/COPY DMA engine with CRC32, and INTx/MSI/MSI-X interrupts.",
		.ids = &ids,
		.setup = setup,
	};

	return vpcie_vl_main(argc, argv, &prog);
}
