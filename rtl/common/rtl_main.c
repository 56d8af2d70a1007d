/* SPDX-License-Identifier: MIT */
/*
 * vpcie_rtl_main(): the whole main() of an RTL device program but the
 * function's description and the simulator (vpcie_rtl_main.h). Compiled
 * into each program with its back-end's vl_main.c or ghdl_main.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vpcie/cli.h>

#include "vpcie_rtl_main.h"

enum { OPT_WAVE = 0x20000 }; /* above vpcie/cli.h's codes */
#define EXTRA_MAX 8

/* The reset callback's opaque: the bridge exists only after the device. */
struct rtl_prog {
	struct vpcie_rtl *rtl;
};

static void on_reset(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind)
{
	struct rtl_prog *p = opaque;

	(void)dev;
	(void)kind;
	if (p->rtl)
		vpcie_rtl_reset(p->rtl);
}

static void usage(FILE *f, const char *argv0, const struct vpcie_rtl_program *prog,
		  const struct vpcie_rtl_backend *be)
{
	fprintf(f, "usage: %s --socket PATH [options]\n%s\n\n", argv0, prog->about);
	if (prog->options_help)
		fputs(prog->options_help, f);
	vpcie_cli_usage(f);
	fputs(be->wave_help, f);
	fprintf(f, "  -h, --help             this text\n");
}

/* The long name of the option with code c. */
static const char *option_name(const struct option *opts, int c)
{
	for (; opts->name; opts++)
		if (opts->val == c && !opts->flag)
			return opts->name;
	return "?";
}

int vpcie_rtl_main(int argc, char **argv, const struct vpcie_rtl_program *prog,
		   const struct vpcie_rtl_backend *be)
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
	struct rtl_prog p = {0};
	const char *wave = NULL;
	void *model = NULL;
	int c, ret;

	memcpy(longopts, common, sizeof(common));
	for (size_t i = 0; prog->options && prog->options[i].name; i++) {
		if (i == EXTRA_MAX) {
			fprintf(stderr, "%s: too many program options\n", prog->name);
			return 2;
		}
		longopts[nopt++] = prog->options[i];
	}
	vpcie_dev_opts_defaults(&opts);
	opts.name = prog->name;
	vpcie_cli_init(&cli, opts.name);
	while ((c = getopt_long(argc, argv, VPCIE_CLI_SHORTOPTS "h", longopts, NULL)) != -1) {
		switch (vpcie_cli_option(&cli, &opts, c, optarg)) {
		case 1: continue;
		case -1: return 2;
		}
		switch (c) {
		case 'h': usage(stdout, argv[0], prog, be); return 0;
		case OPT_WAVE: wave = optarg; break;
		default:
			if (c >= 0x100 && c < VPCIE_CLI_CODE_BASE && prog->option) {
				const char *why = prog->option(prog->opaque, c, optarg);

				if (why) {
					fprintf(stderr, "%s: --%s '%s': %s\n", prog->name,
						option_name(longopts, c), optarg ? optarg : "", why);
					return 2;
				}
				break;
			}
			usage(stderr, argv[0], prog, be);
			return 2;
		}
	}
	if (vpcie_cli_finish(&cli, argc - optind))
		return 2;
	if (be->start(opts.name, wave, &model))
		return 1;
	dev = vpcie_dev_new(prog->ids, &ops, &p, &opts);
	if (!dev) {
		fprintf(stderr, "%s: vpcie_dev_new: %s\n", opts.name, strerror(errno));
		be->finish(model);
		return 1;
	}
	ropts.payload_bytes = be->payload_bytes(model);
	p.rtl = vpcie_rtl_new(dev, be->model, model, &ropts);
	ret = p.rtl ? prog->setup(dev, p.rtl, prog->opaque) : -errno;
	if (ret)
		fprintf(stderr, "%s: device setup failed: %s\n", opts.name, strerror(-ret));
	else
		ret = vpcie_dev_serve(dev, cli.socket, cli.fd);
	if (p.rtl && be->report)
		be->report(opts.name, model, p.rtl);
	vpcie_rtl_free(p.rtl);
	vpcie_dev_free(dev);
	be->finish(model);
	return ret ? 1 : 0;
}
