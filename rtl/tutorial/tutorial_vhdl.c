/* SPDX-License-Identifier: MIT */
/*
 * vpcie-rtl-tutorial-vhdl: rtl/tutorial/tutorial.vhd, simulated by GHDL,
 * served as a PCIe function: the same function as vpcie-rtl-tutorial
 * (tutorial_function.c); this file names it and runs GHDL.
 */
#include "tutorial_function.h"
#include "vpcie_ghdl.h"

int main(int argc, char **argv)
{
	struct vpcie_rtl_program prog = tutorial_function;

	prog.name = "vpcie-rtl-tutorial-vhdl";
	prog.about = "The RTL tutorial device in VHDL (rtl/tutorial/tutorial.vhd under GHDL):\n"
		     "BAR0 4 KiB of registers, a doorbell that DMA-writes a pattern and\n"
		     "raises MSI (docs/rtl-tutorial.md).";
	return vpcie_ghdl_main(argc, argv, &prog);
}
