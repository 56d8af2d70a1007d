/* SPDX-License-Identifier: MIT */
/*
 * vpcie-epf-test-vhdl: pci-epf-test with its function logic in VHDL
 * (rtl/epf-test/epf_test.vhd under GHDL): the register block and the DMA
 * engine (READ/WRITE/COPY with the CRC32 in RTL, INTx/MSI/MSI-X).
 *
 * BAR0      64 KiB (2048 vectors): the registers (0x00..0x3f), served by
 *           the design through the RTL bridge; the MSI-X table at 0x80 and
 *           the PBA after it are the C runtime's, as in vpcie-epf-test
 * BAR1..5   plain memory shared with the host, as the real function's BARs
 *           are the endpoint's memory (the C runtime serves them)
 * caps      PM, MSI (32, maskable), PCIe, MSI-X (2048, or --msix N)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "epf_regs.h"
#include "vpcie_ghdl.h"

#define NBARS 6u
#define MSIX_MAX 2048u
#define OPT_MSIX 0x100

/* MSI-X vectors (--msix): a guest that cannot grant 2048 gets fewer. */
static unsigned msix_vectors = MSIX_MAX;

static int option(int code, const char *arg)
{
	char *end;
	unsigned long v;

	if (code != OPT_MSIX)
		return -1;
	errno = 0;
	v = strtoul(arg, &end, 0);
	if (errno || end == arg || *end || v < 1 || v > MSIX_MAX) {
		fprintf(stderr, "vpcie-epf-test-vhdl: --msix takes 1..%u\n", MSIX_MAX);
		return -1;
	}
	msix_vectors = (unsigned)v;
	return 0;
}

/* BAR0: registers, MSI-X table, PBA, rounded up to a power of two. */
static uint64_t bar0_size(void)
{
	uint64_t need = EPF_REG_AREA + (uint64_t)msix_vectors * 16 + (msix_vectors + 63) / 64 * 8;
	uint64_t p = 512;

	while (p < need)
		p <<= 1;
	return p;
}

static int setup(struct vpcie_dev *dev, struct vpcie_rtl *rtl)
{
	static const uint64_t sizes[NBARS] = EPF_DEFAULT_BAR_SIZES;
	int rc;

	rc = vpcie_rtl_set_bar(rtl, 0, &(struct vpcie_bar_desc){
		.size = bar0_size(), .kind = VPCIE_BAR_MEM32});
	for (unsigned n = 1; !rc && n < NBARS; n++)
		rc = vpcie_dev_set_bar(dev, n, &(struct vpcie_bar_desc){
			.size = sizes[n], .kind = VPCIE_BAR_MEM32, .memory = true});
	if (!rc && vpcie_dev_add_pm(dev) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_msi(dev, 32, true) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_pcie(dev, true) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_msix(dev, msix_vectors, 0, EPF_MSIX_TABLE_OFF, 0,
				      EPF_MSIX_TABLE_OFF + msix_vectors * 16u) < 0)
		rc = -EINVAL;
	return rc;
}

static const struct option options[] = {
	{"msix", required_argument, NULL, OPT_MSIX},
	{0},
};

int main(int argc, char **argv)
{
	static const struct vpcie_ids ids = {
		.vendor = EPF_DEFAULT_VENDOR, .device = EPF_DEFAULT_DEVICE,
		.class_code = 0xff0000, /* PCI_CLASS_OTHERS, as pci-epf-test */
	};
	static const struct vpcie_rtl_program prog = {
		.name = "vpcie-epf-test-vhdl",
		.about = "pci-epf-test with its register block and DMA engine in VHDL\n"
			 "(rtl/epf-test/epf_test.vhd, simulated by GHDL): `vpcie pcitest` and\n"
			 "Linux's pci_endpoint_test drive it as vpcie-epf-test.",
		.ids = &ids,
		.setup = setup,
		.options = options,
		.options_help = "      --msix N           MSI-X vectors: 1..2048 (default 2048)\n",
		.option = option,
	};

	return vpcie_ghdl_main(argc, argv, &prog);
}
