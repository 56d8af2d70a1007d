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

#include <vpcie/device.h>
#include <vpcie/rtl.h>

#include "../common/vpcie_rtl_main.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model's ops (set inputs, read outputs, one rising edge). */
extern const struct vpcie_rtl_model vpcie_vl_model;

/* A new instance of the design (clk low, not yet reset), or NULL. */
void *vpcie_vl_new(void);
void vpcie_vl_free(void *model);

/*
 * Record every signal of the design into a VCD file at path (GTKWave opens
 * it; vcd2fst converts it to FST) until vpcie_vl_free(). One clock period
 * is 10 ns; time stands still while the device is idle. The file
 * is complete once the model is freed (exit). Returns 0,
 * -EBUSY (already recording), -EIO (cannot open path), -ENOMEM.
 */
int vpcie_vl_wave(void *model, const char *path);

/*
 * Benchmark floor: n clock cycles of the bare model (clk low, eval, clk
 * high, eval) with its inputs as last set - what a plain Verilator
 * testbench costs, no bridge. Outputs are not looked at.
 */
void vpcie_vl_bare_cycles(void *model, uint64_t n);

/* Width of the design's mwr_data/cpl_data in bytes (opts.payload_bytes). */
unsigned vpcie_vl_payload_bytes(void);

/* A device program's main() in one call: vpcie_rtl_main()
 * (../common/vpcie_rtl_main.h) on this model, --wave FILE recording with
 * vpcie_vl_wave(). Returns the exit status. */
int vpcie_vl_main(int argc, char **argv, const struct vpcie_rtl_program *prog);

#ifdef __cplusplus
}
#endif
#endif
