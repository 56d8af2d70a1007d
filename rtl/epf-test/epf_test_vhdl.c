/* SPDX-License-Identifier: MIT */
/*
 * vpcie-epf-test-vhdl: pci-epf-test with its function logic in VHDL
 * (rtl/epf-test/epf_test.vhd under GHDL): the register block and the DMA
 * engine (READ/WRITE/COPY with the CRC32 in RTL, INTx/MSI/MSI-X). The
 * function is epf_test_function.c, shared with the Verilog program; this
 * file adds --msix N (a guest that cannot grant 2048 vectors gets fewer)
 * and runs GHDL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "epf_test_function.h"
#include "vpcie_ghdl.h"

#define OPT_MSIX 0x100

/* MSI-X vectors (--msix). */
static unsigned msix_vectors = EPF_TEST_MSIX_MAX;

static int option(int code, const char *arg)
{
	char *end;
	unsigned long v;

	if (code != OPT_MSIX)
		return -1;
	errno = 0;
	v = strtoul(arg, &end, 0);
	if (errno || end == arg || *end || v < 1 || v > EPF_TEST_MSIX_MAX) {
		fprintf(stderr, "vpcie-epf-test-vhdl: --msix takes 1..%u\n", EPF_TEST_MSIX_MAX);
		return -1;
	}
	msix_vectors = (unsigned)v;
	return 0;
}

static int setup(struct vpcie_dev *dev, struct vpcie_rtl *rtl)
{
	return epf_test_setup(dev, rtl, msix_vectors);
}

static const struct option options[] = {
	{"msix", required_argument, NULL, OPT_MSIX},
	{0},
};

int main(int argc, char **argv)
{
	struct vpcie_rtl_program prog = epf_test_function;

	prog.name = "vpcie-epf-test-vhdl";
	prog.about = "pci-epf-test with its register block and DMA engine in VHDL\n"
		     "(rtl/epf-test/epf_test.vhd, simulated by GHDL): `vpcie pcitest` and\n"
		     "Linux's pci_endpoint_test drive it as vpcie-epf-test.";
	prog.setup = setup;
	prog.options = options;
	prog.options_help = "      --msix N           MSI-X vectors: 1..2048 (default 2048)\n";
	prog.option = option;
	return vpcie_ghdl_main(argc, argv, &prog);
}
