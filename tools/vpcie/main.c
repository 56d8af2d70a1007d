/* SPDX-License-Identifier: MIT */
/* `vpcie`: the command-line front end; subcommands live in their own files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} cmds[] = {
	{"lspci", cmd_lspci, "dump a device's config space in lspci -x/-xxxx format"},
	{"setpci", cmd_setpci, "read/write config registers, as pciutils' setpci"},
	{"mmio", cmd_mmio, "read/write registers in a device's BARs (setpci syntax)"},
	{"pcitest", cmd_pcitest, "run the Linux PCI endpoint test matrix against a device"},
	{"bench", cmd_bench, "measure every host<->device path against this machine's floors"},
	{"fault", cmd_fault, "add, clear or list a running device's injected faults"},
	{"trace", cmd_trace, "convert transaction traces to Perfetto JSON, pcap or text"},
	{"proxy", cmd_proxy, "serve a UNIX socket for QEMU, relaying to a device over TCP/TLS"},
	{"daq", cmd_daq, "stream and verify frames from vpcie-detector(s) into host memory"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: vpcie [--trace FILE] COMMAND [options]   (vpcie COMMAND --help for details)\n\n"
		   "  --trace FILE  record every transaction of the command's device connections\n"
		   "                into FILE (same as VPCIE_TRACE=FILE; see `vpcie trace`)\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "--trace")) {
		/* The host runtime takes $VPCIE_TRACE as its default trace file. */
		if (argc < 3 || !argv[2][0] || setenv("VPCIE_TRACE", argv[2], 1)) {
			fprintf(stderr, "vpcie: --trace needs a file name\n");
			return 2;
		}
		argc -= 2;
		argv += 2;
		argv[0] = "vpcie";
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vpcie: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
