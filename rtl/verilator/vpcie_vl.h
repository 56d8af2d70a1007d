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

/*
 * A device program's main() in one call (vl_main.c): the shared options
 * (vpcie/cli.h) and --help, the model, the device with ids, the bridge
 * (reset on device reset/FLR), --wave FILE (vpcie_vl_wave), setup() to declare BARs (vpcie_rtl_set_bar
 * for those the design serves) and capabilities, then the event loop until
 * SIGTERM/SIGINT. Returns the exit status.
 */
struct vpcie_vl_program {
	const char *name;             /* for logs and messages */
	const char *about;            /* --help's description */
	const struct vpcie_ids *ids;
	int (*setup)(struct vpcie_dev *dev, struct vpcie_rtl *rtl); /* 0 or -errno */
};
int vpcie_vl_main(int argc, char **argv, const struct vpcie_vl_program *vp);

#ifdef __cplusplus
}
#endif
#endif
