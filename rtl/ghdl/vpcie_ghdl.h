/* SPDX-License-Identifier: MIT */
/*
 * vpcie_ghdl.h - a VHDL design simulated by GHDL as a struct vpcie_rtl_model.
 *
 * The device program stays a normal C program that owns main() and the
 * event loop; GHDL's runtime is a library in it, driven step by step
 * (grt_main_elab, __ghdl_simulation_init, __ghdl_simulation_step). The
 * generated top (vpcie_top.vhd.in) has one driver process that calls C
 * through VHPIDIRECT (package vpcie_ghdl) once per bridge phase: it hands
 * over the design's outputs, suspends for a delta cycle - the step loop
 * returns to C there - and on the next step takes the inputs and the clock
 * level to drive and waits half a period. So model->clock() and friends run
 * GHDL for exactly one phase and return: the bridge owns the clock loop as
 * with Verilator, and between bursts the process blocks in the event loop
 * with simulated time stopped.
 *
 * One design per process: GHDL's runtime is global, and so is this
 * back-end's state (VHPIDIRECT calls carry no context pointer).
 */
#ifndef VPCIE_GHDL_H
#define VPCIE_GHDL_H

#include <stdint.h>

#include <vpcie/device.h>
#include <vpcie/rtl.h>

#include "../common/vpcie_rtl_main.h"

/* The model's ops; the opaque pointer is unused (pass NULL). */
extern const struct vpcie_rtl_model vpcie_ghdl_model;

/*
 * Elaborate the design and run GHDL's initialization up to the driver
 * process's first call. wave: NULL, or a file for GHDL's waveform dump
 * (a name ending in ".vcd" gives VCD, anything else GHW; GTKWave opens
 * both). Returns 0, or -1 with a message on stderr.
 */
int vpcie_ghdl_start(const char *progname, const char *wave);
/* Finish the simulation: finalizers, and the waveform file is closed. */
void vpcie_ghdl_finish(void);
/* The design's PAYLOAD_W in bytes (known after vpcie_ghdl_start). */
unsigned vpcie_ghdl_payload_bytes(void);
/* Simulation cycles (steps) and phases run so far, for statistics. */
void vpcie_ghdl_counts(uint64_t *steps, uint64_t *phases);

/* The VHPIDIRECT procedures of package vpcie_ghdl (called by GHDL). */
void vpcie_ghdl_sync(const uint8_t *o, int32_t payload_w);
void vpcie_ghdl_next(uint8_t *i, int32_t *clk);

/* A device program's main() in one call: vpcie_rtl_main()
 * (../common/vpcie_rtl_main.h) on this simulation, --wave FILE as
 * vpcie_ghdl_start()'s wave, statistics on stderr at the end. Returns the
 * exit status. */
int vpcie_ghdl_main(int argc, char **argv, const struct vpcie_rtl_program *prog);

#endif
