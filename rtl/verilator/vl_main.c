/* SPDX-License-Identifier: MIT */
/*
 * vpcie_vl_main(): the whole main() of a Verilated device program but the
 * function's description (vpcie_vl.h). Compiled into each program.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vpcie/cli.h>

#include "vpcie_vl.h"

/* The reset callback's opaque: the bridge exists only after the device. */
struct vl_prog {
	struct vpcie_rtl *rtl;
};

enum { OPT_WAVE = 0x20000 }; /* above vpcie/cli.h's codes */

static void on_reset(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind)
{
	struct vl_prog *p = opaque;

	(void)dev;
	(void)kind;
	if (p->rtl)
		vpcie_rtl_reset(p->rtl);
}

static void usage(FILE *f, const char *prog, const struct vpcie_vl_program *vp)
{
	fprintf(f, "usage: %s --socket PATH [options]\n%s\n\n", prog, vp->about);
	vpcie_cli_usage(f);
	fprintf(f, "      --wave FILE        record the design's signals into FILE (VCD, for\n"
		   "                         GTKWave; vcd2fst makes FST); a cycle is 10 ns\n");
	fprintf(f, "  -h, --help             this text\n");
}

int vpcie_vl_main(int argc, char **argv, const struct vpcie_vl_program *vp)
{
	static const struct option longopts[] = {
		VPCIE_CLI_LONGOPTS,
		{"wave", required_argument, NULL, OPT_WAVE},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct vpcie_dev_ops ops = {.reset = on_reset};
	struct vpcie_rtl_opts ropts = {0};
	struct vpcie_dev_opts opts;
	struct vpcie_cli cli;
	struct vpcie_dev *dev;
	struct vl_prog p = {0};
	const char *wave = NULL;
	void *model;
	int c, ret;

	vpcie_dev_opts_defaults(&opts);
	opts.name = vp->name;
	vpcie_cli_init(&cli, opts.name);
	while ((c = getopt_long(argc, argv, VPCIE_CLI_SHORTOPTS "h", longopts, NULL)) != -1) {
		switch (vpcie_cli_option(&cli, &opts, c, optarg)) {
		case 1: continue;
		case -1: return 2;
		}
		switch (c) {
		case 'h': usage(stdout, argv[0], vp); return 0;
		case OPT_WAVE: wave = optarg; break;
		default: usage(stderr, argv[0], vp); return 2;
		}
	}
	if (vpcie_cli_finish(&cli, argc - optind))
		return 2;
	model = vpcie_vl_new();
	if (!model) {
		fprintf(stderr, "%s: cannot create the model\n", opts.name);
		return 1;
	}
	if (wave && (ret = vpcie_vl_wave(model, wave)) != 0) {
		fprintf(stderr, "%s: --wave %s: %s\n", opts.name, wave, strerror(-ret));
		vpcie_vl_free(model);
		return 1;
	}
	dev = vpcie_dev_new(vp->ids, &ops, &p, &opts);
	if (!dev) {
		fprintf(stderr, "%s: vpcie_dev_new: %s\n", opts.name, strerror(errno));
		vpcie_vl_free(model);
		return 1;
	}
	ropts.payload_bytes = vpcie_vl_payload_bytes();
	p.rtl = vpcie_rtl_new(dev, &vpcie_vl_model, model, &ropts);
	ret = p.rtl ? vp->setup(dev, p.rtl) : -errno;
	if (ret)
		fprintf(stderr, "%s: device setup failed: %s\n", opts.name, strerror(-ret));
	else
		ret = vpcie_dev_serve(dev, cli.socket, cli.fd);
	vpcie_rtl_free(p.rtl);
	vpcie_dev_free(dev);
	vpcie_vl_free(model);
	return ret ? 1 : 0;
}
