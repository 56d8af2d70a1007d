/* SPDX-License-Identifier: MIT */
/*
 * vpcie_rtl_main.h - the main() every RTL device program shares, whatever
 * simulates its design: the shared options (vpcie/cli.h), --help and
 * --wave FILE, the model, the device with its IDs, the bridge (reset on
 * device reset/FLR), the program's setup() and the event loop until
 * SIGTERM/SIGINT. A back-end (Verilator: vl_main.c, GHDL: ghdl_main.c)
 * supplies only how its model starts, records a waveform and stops;
 * rtl_main.c is compiled into each program.
 */
#ifndef VPCIE_RTL_MAIN_H
#define VPCIE_RTL_MAIN_H

#include <getopt.h>

#include <vpcie/device.h>
#include <vpcie/rtl.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a device program describes: its function, not the simulation. */
struct vpcie_rtl_program {
	const char *name;             /* for logs and messages */
	const char *about;            /* --help's description */
	const struct vpcie_ids *ids;
	/* Declare BARs (vpcie_rtl_set_bar for those the design serves) and
	 * capabilities: 0 or -errno. opaque is the program's (below). */
	int (*setup)(struct vpcie_dev *dev, struct vpcie_rtl *rtl, void *opaque);
	/* Optional options of the program: getopt_long entries (up to 8, with
	 * codes 0x100..0xffff, ended by a zeroed entry), their --help lines,
	 * and the handler: NULL when the value is taken, else what is wrong
	 * with it ("takes 1..2048"), which main prints with the option. */
	const struct option *options;
	const char *options_help;
	const char *(*option)(void *opaque, int code, const char *arg);
	/* The program's own state (its options' values), owned by its main();
	 * given to setup() and option(). */
	void *opaque;
};

/* What a simulator back-end supplies to vpcie_rtl_main(). */
struct vpcie_rtl_backend {
	const struct vpcie_rtl_model *model;
	const char *wave_help;        /* --wave FILE's --help lines */
	/* Create the model, recording its waveform into wave unless NULL:
	 * 0 and *opaque (the model's opaque pointer), or -1 after a message
	 * on stderr. */
	int (*start)(const char *name, const char *wave, void **opaque);
	unsigned (*payload_bytes)(void *opaque); /* opts.payload_bytes */
	/* Optional: a closing line of statistics, before the bridge goes. */
	void (*report)(const char *name, void *opaque, const struct vpcie_rtl *rtl);
	void (*finish)(void *opaque); /* stop the model, close the waveform */
};

/* The whole main() of a device program on back-end be: the exit status. */
int vpcie_rtl_main(int argc, char **argv, const struct vpcie_rtl_program *prog,
		   const struct vpcie_rtl_backend *be);

#ifdef __cplusplus
}
#endif
#endif
