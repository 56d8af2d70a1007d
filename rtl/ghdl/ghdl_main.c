/* SPDX-License-Identifier: MIT */
/*
 * vpcie_ghdl_main(): the whole main() of a GHDL device program but the
 * function's description (vpcie_ghdl.h). Compiled into each program.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vpcie/cli.h>

#include "vpcie_ghdl.h"

#define OPT_WAVE 'w'
#define EXTRA_MAX 8

/* The reset callback's opaque: the bridge exists only after the device. */
struct ghdl_prog {
	struct vpcie_rtl *rtl;
};

static void on_reset(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind)
{
	struct ghdl_prog *p = opaque;

	(void)dev;
	(void)kind;
	if (p->rtl)
		vpcie_rtl_reset(p->rtl);
}

static void usage(FILE *f, const char *prog, const struct vpcie_ghdl_program *gp)
{
	fprintf(f, "usage: %s --socket PATH [options]\n%s\n\n", prog, gp->about);
	if (gp->options_help)
		fputs(gp->options_help, f);
	vpcie_cli_usage(f);
	fprintf(f, "      --wave FILE        GHDL's waveform of the simulation: VCD if FILE ends\n"
		   "                         in .vcd, else GHW (GTKWave opens both); written as\n"
		   "                         the design runs, complete after SIGTERM/SIGINT\n"
		   "  -h, --help             this text\n");
}

int vpcie_ghdl_main(int argc, char **argv, const struct vpcie_ghdl_program *gp)
{
	static const struct option common[] = {
		VPCIE_CLI_LONGOPTS,
		{"wave", required_argument, NULL, OPT_WAVE},
		{"help", no_argument, NULL, 'h'},
	};
	struct option longopts[sizeof(common) / sizeof(common[0]) + EXTRA_MAX + 1] = {{0}};
	size_t nopt = sizeof(common) / sizeof(common[0]);
	const struct vpcie_dev_ops ops = {.reset = on_reset};
	struct vpcie_rtl_opts ropts = {0};
	struct vpcie_dev_opts opts;
	struct vpcie_cli cli;
	struct vpcie_dev *dev;
	struct ghdl_prog p = {0};
	const char *wave = NULL;
	int c, ret;

	memcpy(longopts, common, sizeof(common));
	for (size_t i = 0; gp->options && gp->options[i].name; i++) {
		if (i == EXTRA_MAX) {
			fprintf(stderr, "%s: too many program options\n", gp->name);
			return 2;
		}
		longopts[nopt++] = gp->options[i];
	}
	vpcie_dev_opts_defaults(&opts);
	opts.name = gp->name;
	vpcie_cli_init(&cli, opts.name);
	while ((c = getopt_long(argc, argv, VPCIE_CLI_SHORTOPTS "h", longopts, NULL)) != -1) {
		switch (vpcie_cli_option(&cli, &opts, c, optarg)) {
		case 1: continue;
		case -1: return 2;
		}
		switch (c) {
		case OPT_WAVE: wave = optarg; break;
		case 'h': usage(stdout, argv[0], gp); return 0;
		default:
			if (c >= 0x100 && c < VPCIE_CLI_CODE_BASE && gp->option) {
				if (gp->option(c, optarg))
					return 2;
				break;
			}
			usage(stderr, argv[0], gp);
			return 2;
		}
	}
	if (vpcie_cli_finish(&cli, argc - optind))
		return 2;
	if (vpcie_ghdl_start(opts.name, wave))
		return 1;
	dev = vpcie_dev_new(gp->ids, &ops, &p, &opts);
	if (!dev) {
		fprintf(stderr, "%s: vpcie_dev_new: %s\n", opts.name, strerror(errno));
		vpcie_ghdl_finish();
		return 1;
	}
	ropts.payload_bytes = vpcie_ghdl_payload_bytes();
	p.rtl = vpcie_rtl_new(dev, &vpcie_ghdl_model, NULL, &ropts);
	ret = p.rtl ? gp->setup(dev, p.rtl) : -errno;
	if (ret)
		fprintf(stderr, "%s: device setup failed: %s\n", opts.name, strerror(-ret));
	else
		ret = vpcie_dev_serve(dev, cli.socket, cli.fd);
	if (p.rtl) {
		struct vpcie_rtl_stats st;
		uint64_t steps, phases;

		vpcie_rtl_get_stats(p.rtl, &st);
		vpcie_ghdl_counts(&steps, &phases);
		fprintf(stderr, "%s: info: %" PRIu64 " cycles, %" PRIu64 " GHDL phases, %" PRIu64
			" simulation steps\n", opts.name, st.cycles, phases, steps);
	}
	vpcie_rtl_free(p.rtl);
	vpcie_dev_free(dev);
	vpcie_ghdl_finish();
	return ret ? 1 : 0;
}
