/* SPDX-License-Identifier: MIT */
/*
 * pci-epf-test's PCI function for the RTL designs, whichever language
 * (epf_test_verilog.c, epf_test_vhdl.c): IDs as the C vpcie-epf-test, and
 *
 * BAR0      registers (0x00..0x3f), served by the design through the RTL
 *           bridge; the MSI-X table at 0x80 and the PBA after it are the C
 *           runtime's, as in vpcie-epf-test; a power of two (64 KiB for
 *           2048 vectors)
 * BAR1..5   plain memory shared with the host, as the real function's BARs
 *           are the endpoint's memory (the C runtime serves them)
 * caps      PM, MSI (32, maskable), PCIe (FLR), MSI-X (--msix N vectors,
 *           1..2048, default 2048: a guest that cannot grant 2048 gets
 *           fewer)
 *
 * A program copies epf_test_function, names it, and points its opaque at a
 * struct epf_test_config of its own (EPF_TEST_CONFIG_INIT), which the
 * --msix option fills and setup() reads.
 */
#ifndef EPF_TEST_FUNCTION_H
#define EPF_TEST_FUNCTION_H

#include "vpcie_rtl_main.h"

#define EPF_TEST_MSIX_MAX 2048u

/* The options' values: the program's opaque. */
struct epf_test_config {
	unsigned msix_vectors; /* 1..EPF_TEST_MSIX_MAX */
};
#define EPF_TEST_CONFIG_INIT {.msix_vectors = EPF_TEST_MSIX_MAX}

/* IDs, setup() and --msix; opaque is for the program to set. */
extern const struct vpcie_rtl_program epf_test_function;

#endif
