/* SPDX-License-Identifier: MIT */
/*
 * vpcie_vl.h - a Verilated design as a struct vpcie_rtl_model.
 *
 * vpcie_vl_shim.cpp is compiled once per design (rtl/verilator/verilate.sh
 * does it, with the design's class name) and is the only C++: the device
 * program stays C. The design's top module has the ports of vpcie/rtl.h
 * with the widths docs/rtl.md lists.
 */
#ifndef VPCIE_VL_H
#define VPCIE_VL_H

#include <vpcie/rtl.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The model's ops (set inputs, read outputs, one rising edge). */
extern const struct vpcie_rtl_model vpcie_vl_model;

/* A new instance of the design (clk low, not yet reset), or NULL. */
void *vpcie_vl_new(void);
void vpcie_vl_free(void *model);

/* Width of the design's mwr_data/cpl_data in bytes (opts.payload_bytes). */
unsigned vpcie_vl_payload_bytes(void);

#ifdef __cplusplus
}
#endif
#endif
