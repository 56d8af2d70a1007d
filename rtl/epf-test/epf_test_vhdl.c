/* SPDX-License-Identifier: MIT */
/*
 * vpcie-epf-test-vhdl: pci-epf-test with its function logic in VHDL
 * (rtl/epf-test/epf_test.vhd under GHDL): the register block and the DMA
 * engine (READ/WRITE/COPY with the CRC32 in RTL, INTx/MSI/MSI-X).
 *
 * BAR0      64 KiB: the registers (0x00..0x3f), served by the design
 *           through the RTL bridge; the MSI-X table at 0x80 and the PBA
 *           after it are the C runtime's, as in vpcie-epf-test
 * BAR1..5   plain memory shared with the host, as the real function's BARs
 *           are the endpoint's memory (the C runtime serves them)
 * caps      PM, MSI (32, maskable), PCIe, MSI-X (2048)
 */
#include <errno.h>

#include "epf_regs.h"
#include "vpcie_ghdl.h"

#define NBARS 6u
#define MSIX_VECTORS 2048u
#define BAR0_SIZE 65536u /* registers + MSI-X table + PBA, rounded up */

static int setup(struct vpcie_dev *dev, struct vpcie_rtl *rtl)
{
	static const uint64_t sizes[NBARS] = EPF_DEFAULT_BAR_SIZES;
	int rc;

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
	static const struct vpcie_ghdl_program prog = {
		.name = "vpcie-epf-test-vhdl",
		.about = "pci-epf-test with its register block and DMA engine in VHDL\n"
			 "(rtl/epf-test/epf_test.vhd, simulated by GHDL): `vpcie pcitest` and\n"
			 "Linux's pci_endpoint_test drive it as vpcie-epf-test.",
		.ids = &ids,
		.setup = setup,
	};

	return vpcie_ghdl_main(argc, argv, &prog);
}
