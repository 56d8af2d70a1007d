/* SPDX-License-Identifier: MIT */
/*
 * vpcie-rtl-tutorial: rtl/tutorial/tutorial.v, Verilated, served as a PCIe
 * function. Everything device-specific is in the Verilog; the function
 * (IDs, BAR0 served by the design, PCIe and MSI) is tutorial_function.c,
 * shared with the VHDL program; this file names it and runs Verilator.
 */
#include "tutorial_function.h"
#include "vpcie_vl.h"

int main(int argc, char **argv)
{
	struct vpcie_rtl_program prog = tutorial_function;

	prog.name = "vpcie-rtl-tutorial";
	prog.about = "The RTL tutorial device (rtl/tutorial/tutorial.v under Verilator):\n"
		     "BAR0 4 KiB of registers, a doorbell that DMA-writes a pattern and\n"
		     "raises MSI (docs/rtl.md).";
	return vpcie_vl_main(argc, argv, &prog);
}
