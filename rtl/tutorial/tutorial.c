/* SPDX-License-Identifier: MIT */
/*
 * vpcie-rtl-tutorial: rtl/tutorial/tutorial.v, Verilated, served as a PCIe
 * function. Everything device-specific is in the Verilog; this file only
 * describes the function (IDs, BAR0, MSI) and wires the bridge.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <vpcie/cli.h>
#include <vpcie/device.h>
#include <vpcie/rtl.h>

#include "vpcie_vl.h"

#define TUTORIAL_VENDOR 0x1234
#define TUTORIAL_DEVICE 0x5652

/* The reset callback's opaque: the bridge exists only after the device. */
struct prog {
	struct vpcie_rtl *rtl;
};

static void on_reset(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind)
{
	struct prog *p = opaque;

	(void)dev;
	(void)kind;
	if (p->rtl)
		vpcie_rtl_reset(p->rtl);
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s --socket PATH [options]\n"
		"The RTL tutorial device (rtl/tutorial/tutorial.v under Verilator):\n"
		"BAR0 4 KiB of registers, a doorbell that DMA-writes a pattern and\n"
		"raises MSI (docs/rtl.md).\n\n",
		prog);
	vpcie_cli_usage(f);
	fprintf(f, "  -h, --help             this text\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		VPCIE_CLI_LONGOPTS,
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct vpcie_ids ids = {
		.vendor = TUTORIAL_VENDOR, .device = TUTORIAL_DEVICE,
		.subsys_vendor = TUTORIAL_VENDOR, .subsys = 0x0001,
		.class_code = 0xff0000, .revision = 1,
	};
	struct vpcie_dev_ops ops = {.reset = on_reset};
	struct vpcie_rtl_opts ropts = {0};
	struct vpcie_dev_opts opts;
	struct vpcie_cli cli;
	struct vpcie_dev *dev;
	struct prog p = {0};
	void *model;
	int c, ret;

	vpcie_dev_opts_defaults(&opts);
	opts.name = "vpcie-rtl-tutorial";
	vpcie_cli_init(&cli, opts.name);
	while ((c = getopt_long(argc, argv, VPCIE_CLI_SHORTOPTS "h", longopts, NULL)) != -1) {
		switch (vpcie_cli_option(&cli, &opts, c, optarg)) {
		case 1: continue;
		case -1: return 2;
		}
		switch (c) {
		case 'h': usage(stdout, argv[0]); return 0;
		default: usage(stderr, argv[0]); return 2;
		}
	}
	if (vpcie_cli_finish(&cli, argc - optind))
		return 2;
	model = vpcie_vl_new();
	if (!model) {
		fprintf(stderr, "%s: cannot create the model\n", opts.name);
		return 1;
	}
	dev = vpcie_dev_new(&ids, &ops, &p, &opts);
	if (!dev) {
		perror("vpcie-rtl-tutorial: vpcie_dev_new");
		vpcie_vl_free(model);
		return 1;
	}
	ropts.payload_bytes = vpcie_vl_payload_bytes();
	p.rtl = vpcie_rtl_new(dev, &vpcie_vl_model, model, &ropts);
	ret = p.rtl ? 0 : -errno;
	if (!ret)
		ret = vpcie_rtl_set_bar(p.rtl, 0, &(struct vpcie_bar_desc){
			.size = 4096, .kind = VPCIE_BAR_MEM32});
	if (!ret && vpcie_dev_add_pcie(dev, true) < 0)
		ret = -EINVAL;
	if (!ret && vpcie_dev_add_msi(dev, 4, false) < 0)
		ret = -EINVAL;
	if (ret)
		fprintf(stderr, "%s: device setup failed (%d)\n", opts.name, ret);
	else
		ret = vpcie_dev_serve(dev, cli.socket, cli.fd);
	vpcie_rtl_free(p.rtl);
	vpcie_dev_free(dev);
	vpcie_vl_free(model);
	return ret ? 1 : 0;
}
