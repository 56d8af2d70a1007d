/* SPDX-License-Identifier: MIT */
/*
 * vpcie_vl_main(): vpcie_rtl_main() (rtl/common/rtl_main.c) on a
 * Verilated model (vpcie_vl.h). Compiled into each program.
 */
#include <stdio.h>
#include <string.h>

#include "vpcie_vl.h"

static int vl_start(const char *name, const char *wave, void **opaque)
{
	void *model = vpcie_vl_new();
	int ret;

	if (!model) {
		fprintf(stderr, "%s: cannot create the model\n", name);
		return -1;
	}
	if (wave && (ret = vpcie_vl_wave(model, wave)) != 0) {
		fprintf(stderr, "%s: --wave %s: %s\n", name, wave, strerror(-ret));
		vpcie_vl_free(model);
		return -1;
	}
	*opaque = model;
	return 0;
}

static unsigned vl_payload_bytes(void *opaque)
{
	(void)opaque;
	return vpcie_vl_payload_bytes();
}

static const struct vpcie_rtl_backend vl_backend = {
	.model = &vpcie_vl_model,
	.wave_help = "      --wave FILE        record the design's signals into FILE (VCD, for\n"
		     "                         GTKWave; vcd2fst makes FST); a cycle is 10 ns\n",
	.start = vl_start,
	.payload_bytes = vl_payload_bytes,
	.finish = vpcie_vl_free,
};

int vpcie_vl_main(int argc, char **argv, const struct vpcie_rtl_program *prog)
{
	return vpcie_rtl_main(argc, argv, prog, &vl_backend);
}
