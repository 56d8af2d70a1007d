/* SPDX-License-Identifier: MIT */
/*
 * vpcie_ghdl_main(): vpcie_rtl_main() (rtl/common/rtl_main.c) on the
 * design GHDL simulates (vpcie_ghdl.h). Compiled into each program.
 */
#include <inttypes.h>
#include <stdio.h>

#include "vpcie_ghdl.h"

static int ghdl_start(const char *name, const char *wave, void **opaque)
{
	*opaque = NULL; /* GHDL's runtime is global: the model has no opaque */
	return vpcie_ghdl_start(name, wave);
}

static unsigned ghdl_payload_bytes(void *opaque)
{
	(void)opaque;
	return vpcie_ghdl_payload_bytes();
}

static void ghdl_report(const char *name, void *opaque, const struct vpcie_rtl *rtl)
{
	struct vpcie_rtl_stats st;
	uint64_t steps, phases;

	(void)opaque;
	vpcie_rtl_get_stats(rtl, &st);
	vpcie_ghdl_counts(&steps, &phases);
	fprintf(stderr, "%s: info: %" PRIu64 " cycles, %" PRIu64 " GHDL phases, %" PRIu64
		" simulation steps\n", name, st.cycles, phases, steps);
}

static void ghdl_finish(void *opaque)
{
	(void)opaque;
	vpcie_ghdl_finish();
}

static const struct vpcie_rtl_backend ghdl_backend = {
	.model = &vpcie_ghdl_model,
	.wave_help = "      --wave FILE        GHDL's waveform of the simulation: VCD if FILE ends\n"
		     "                         in .vcd, else GHW (GTKWave opens both); written as\n"
		     "                         the design runs, complete after SIGTERM/SIGINT\n",
	.start = ghdl_start,
	.payload_bytes = ghdl_payload_bytes,
	.report = ghdl_report,
	.finish = ghdl_finish,
};

int vpcie_ghdl_main(int argc, char **argv, const struct vpcie_rtl_program *prog)
{
	return vpcie_rtl_main(argc, argv, prog, &ghdl_backend);
}
