/* SPDX-License-Identifier: MIT */
/*
 * vpcie-epf-test-vhdl: pci-epf-test with its function logic in VHDL
 * (rtl/epf-test/epf_test.vhd under GHDL): the register block and the DMA
 * engine (READ/WRITE/COPY with the CRC32 in RTL, INTx/MSI/MSI-X). The
 * function, with --msix N, is epf_test_function.c, shared with the Verilog
 * program; this file names it and runs GHDL.
 */
#include "epf_test_function.h"
#include "vpcie_ghdl.h"

int main(int argc, char **argv)
{
	struct epf_test_config cfg = EPF_TEST_CONFIG_INIT;
	struct vpcie_rtl_program prog = epf_test_function;

	prog.name = "vpcie-epf-test-vhdl";
	prog.about = "pci-epf-test with its register block and DMA engine in VHDL\n"
		     "(rtl/epf-test/epf_test.vhd, simulated by GHDL): `vpcie pcitest` and\n"
		     "Linux's pci_endpoint_test drive it as vpcie-epf-test.";
	prog.opaque = &cfg;
	return vpcie_ghdl_main(argc, argv, &prog);
}
