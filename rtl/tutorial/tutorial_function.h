/* SPDX-License-Identifier: MIT */
/*
 * The tutorial device's PCI function, whichever language its design is in:
 * IDs 1234:5652, BAR0 (4 KiB) served by the design, PCIe and MSI (4
 * vectors). tutorial.c (Verilog) and tutorial_vhdl.c (VHDL) add a name and
 * a --help text and run it on their simulator.
 */
#ifndef TUTORIAL_FUNCTION_H
#define TUTORIAL_FUNCTION_H

#include "vpcie_rtl_main.h"

extern const struct vpcie_rtl_program tutorial_function;

#endif
