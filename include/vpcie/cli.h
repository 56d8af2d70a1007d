/* SPDX-License-Identifier: MIT */
/*
 * vpcie/cli.h - the command-line options every device program shares.
 *
 * A device program (vpcie-sample, vpcie-epf-test, your own) has options of
 * its own and the ones every vfio-user backend has: where to listen, how to
 * log, how far to trust the client. This module parses the shared ones so
 * that every program spells, checks and documents them the same way:
 *
 *	static const struct option longopts[] = {
 *		VPCIE_CLI_LONGOPTS,
 *		{"image", required_argument, NULL, 'i'},
 *		{"help", no_argument, NULL, 'h'},
 *		{0},
 *	};
 *	struct vpcie_cli cli;
 *	struct vpcie_dev_opts opts;
 *
 *	vpcie_dev_opts_defaults(&opts);
 *	vpcie_cli_init(&cli, "mydev");
 *	while ((c = getopt_long(argc, argv, VPCIE_CLI_SHORTOPTS "i:h", longopts, NULL)) != -1) {
 *		switch (vpcie_cli_option(&cli, &opts, c, optarg)) {
 *		case 1: continue;        // one of ours, applied
 *		case -1: return 2;       // bad value; the message is printed
 *		}
 *		switch (c) { case 'i': ...; }
 *	}
 *	if (vpcie_cli_finish(&cli, argc - optind))
 *		return 2;                // no socket given, or stray arguments
 *	...
 *	rc = vpcie_dev_serve(dev, cli.socket, cli.fd);
 *
 * vpcie_cli_usage() prints the shared options' help lines for --help.
 * Option codes VPCIE_CLI_CODE_BASE and up are reserved for this module.
 */
#ifndef VPCIE_CLI_H
#define VPCIE_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include <vpcie/device.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
	VPCIE_CLI_CODE_BASE = 0x10000,
	VPCIE_CLI_FD = VPCIE_CLI_CODE_BASE,
	VPCIE_CLI_NO_TWIN,
	VPCIE_CLI_MAX_XFER,
	VPCIE_CLI_MSG_TIMEOUT,
	VPCIE_CLI_DMA_MESSAGES,
	VPCIE_CLI_NO_RING,
	VPCIE_CLI_LOG,
	VPCIE_CLI_FAULT,
	VPCIE_CLI_FAULT_CONTROL,
	VPCIE_CLI_PSK_FILE,
	VPCIE_CLI_TRACE,
};

/* Short options of the shared set: -s PATH, -v. */
#define VPCIE_CLI_SHORTOPTS "s:v"

/* getopt_long entries of the shared set (put them first in your table). */
#define VPCIE_CLI_LONGOPTS                                                    \
	{"socket", required_argument, NULL, 's'},                             \
	{"socket-path", required_argument, NULL, 's'},                        \
	{"listen", required_argument, NULL, 's'},                             \
	{"psk-file", required_argument, NULL, VPCIE_CLI_PSK_FILE},            \
	{"fd", required_argument, NULL, VPCIE_CLI_FD},                        \
	{"no-twin", no_argument, NULL, VPCIE_CLI_NO_TWIN},                    \
	{"max-xfer", required_argument, NULL, VPCIE_CLI_MAX_XFER},            \
	{"msg-timeout", required_argument, NULL, VPCIE_CLI_MSG_TIMEOUT},      \
	{"dma-messages", no_argument, NULL, VPCIE_CLI_DMA_MESSAGES},          \
	{"no-ring", no_argument, NULL, VPCIE_CLI_NO_RING},                    \
	{"log", required_argument, NULL, VPCIE_CLI_LOG},                      \
	{"fault", required_argument, NULL, VPCIE_CLI_FAULT},                  \
	{"fault-control", no_argument, NULL, VPCIE_CLI_FAULT_CONTROL},        \
	{"trace", required_argument, NULL, VPCIE_CLI_TRACE},                  \
	{"verbose", no_argument, NULL, 'v'}

#define VPCIE_CLI_MAX_FAULTS 32u

/* What the shared options say beyond struct vpcie_dev_opts. */
struct vpcie_cli {
	const char *prog;   /* for messages */
	const char *socket; /* --socket PATH, or NULL */
	int fd;             /* --fd N, or -1 */
	/* --fault SPEC, repeatable (checked; opts.faults points here, so the
	 * structure must live until vpcie_dev_new()). */
	const char *faults[VPCIE_CLI_MAX_FAULTS];
	unsigned nfaults;
};

void vpcie_cli_init(struct vpcie_cli *cli, const char *prog);

/*
 * Apply option c (getopt_long's return) with argument arg. Returns 1 if c is
 * a shared option and was applied to cli/opts, 0 if it is not one of ours
 * (the program handles it), -1 if its value is invalid (a message naming the
 * option and what it takes is printed on stderr; exit with status 2).
 */
int vpcie_cli_option(struct vpcie_cli *cli, struct vpcie_dev_opts *opts, int c,
		     const char *arg);

/*
 * After the loop: exactly one of --socket/--fd must have been given, and no
 * operand (nargs = argc - optind) is accepted. Returns 0, or -1 with a
 * message on stderr.
 */
int vpcie_cli_finish(const struct vpcie_cli *cli, int nargs);

/*
 * A program option's size or count: decimal or 0x hex, optionally followed
 * by k, M or G (binary multiples), no sign, nothing after. Returns 0 and the
 * value in *out, or -1 (malformed, or beyond UINT64_MAX).
 */
int vpcie_cli_parse_size(const char *s, uint64_t *out);

/* The shared options' lines for a program's --help text. */
void vpcie_cli_usage(FILE *f);

#ifdef __cplusplus
}
#endif

#endif
