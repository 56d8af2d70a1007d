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
 * caps      PM, MSI (32, maskable), PCIe (FLR), MSI-X
 *
 * epf_test_function has 2048 MSI-X vectors; a program that offers fewer
 * sets its own setup() calling epf_test_setup().
 */
#ifndef EPF_TEST_FUNCTION_H
#define EPF_TEST_FUNCTION_H

#include "vpcie_rtl_main.h"

#define EPF_TEST_MSIX_MAX 2048u

/* BARs and capabilities with msix_vectors (1..EPF_TEST_MSIX_MAX): 0 or -errno. */
int epf_test_setup(struct vpcie_dev *dev, struct vpcie_rtl *rtl, unsigned msix_vectors);

extern const struct vpcie_rtl_program epf_test_function;

#endif
