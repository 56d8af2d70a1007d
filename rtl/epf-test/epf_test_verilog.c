/* SPDX-License-Identifier: MIT */
/*
 * vpcie-epf-test-verilog: pci-epf-test with its function logic in Verilog
 * (rtl/epf-test/epf_test.v under Verilator), first slice.
 *
 * BAR0      512 B: the register block, served by the design through the
 *           RTL bridge
 * BAR1..5   plain memory shared with the host, as the real function's BARs
 *           are the endpoint's memory (the C runtime serves them)
 * caps      PM, MSI (32, maskable), PCIe
 *
 * Passes `vpcie pcitest -b 0..5`; COMMAND (DMA, checksum, interrupts) is
 * not implemented yet in the design (docs/rtl.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vpcie/cli.h>
#include <vpcie/device.h>
#include <vpcie/rtl.h>

#include "epf_regs.h"
#include "vpcie_vl.h"

#define NBARS 6u

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
		"pci-epf-test with its register block in Verilog (rtl/epf-test, Verilator).\n"
		"First slice: BAR tests only; COMMAND is not implemented yet.\n\n",
		prog);
	vpcie_cli_usage(f);
	fprintf(f, "  -h, --help             this text\n");
}

static int setup(struct vpcie_dev *dev, struct prog *p)
{
	static const uint64_t sizes[NBARS] = EPF_DEFAULT_BAR_SIZES;
	int rc;

	rc = vpcie_rtl_set_bar(p->rtl, 0, &(struct vpcie_bar_desc){
		.size = sizes[0], .kind = VPCIE_BAR_MEM32});
	for (unsigned n = 1; !rc && n < NBARS; n++)
		rc = vpcie_dev_set_bar(dev, n, &(struct vpcie_bar_desc){
			.size = sizes[n], .kind = VPCIE_BAR_MEM32, .memory = true});
	if (!rc && vpcie_dev_add_pm(dev) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_msi(dev, 32, true) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_pcie(dev, true) < 0)
		rc = -EINVAL;
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		VPCIE_CLI_LONGOPTS,
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct vpcie_ids ids = {
		.vendor = EPF_DEFAULT_VENDOR, .device = EPF_DEFAULT_DEVICE,
		.class_code = 0xff0000,
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
	opts.name = "vpcie-epf-test-verilog";
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
		perror("vpcie-epf-test-verilog: vpcie_dev_new");
		vpcie_vl_free(model);
		return 1;
	}
	ropts.payload_bytes = vpcie_vl_payload_bytes();
	p.rtl = vpcie_rtl_new(dev, &vpcie_vl_model, model, &ropts);
	ret = p.rtl ? setup(dev, &p) : -errno;
	if (ret)
		fprintf(stderr, "%s: device setup failed (%d)\n", opts.name, ret);
	else
		ret = vpcie_dev_serve(dev, cli.socket, cli.fd);
	vpcie_rtl_free(p.rtl);
	vpcie_dev_free(dev);
	vpcie_vl_free(model);
	return ret ? 1 : 0;
}
