/* SPDX-License-Identifier: MIT */
/*
 * vpcie-epf-test-verilog: pci-epf-test with its function logic in Verilog
 * (rtl/epf-test/epf_test.v under Verilator): the register block, the
 * READ/WRITE/COPY engine with its CRC32, and the interrupts are the
 * design's; the function (BARs, capabilities, IDs, --msix N) is
 * epf_test_function.c, shared with the VHDL program; this file names it and
 * runs Verilator.
 */
#include "epf_test_function.h"
#include "vpcie_vl.h"

int main(int argc, char **argv)
{
	struct epf_test_config cfg = EPF_TEST_CONFIG_INIT;
	struct vpcie_rtl_program prog = epf_test_function;

	prog.name = "vpcie-epf-test-verilog";
	prog.about = "pci-epf-test in Verilog (rtl/epf-test, Verilator): its registers, the\n"
		     "READ/WRITE/COPY DMA engine with CRC32, and INTx/MSI/MSI-X interrupts.";
	prog.opaque = &cfg;
	return vpcie_vl_main(argc, argv, &prog);
}
