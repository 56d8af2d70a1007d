/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the `vpcie` subcommands that talk to one device:
 * connecting with a clear message when there is no device, the options
 * every such command takes (--socket, --wait, --timeout), and giving the
 * device BAR addresses the way `vpcie lspci --assign` does.
 *
 * Every function that fails prints one line "vpcie PROG: ..." on stderr;
 * the caller only chooses the exit status.
 */
#ifndef VPCIE_TOOL_TOOL_H
#define VPCIE_TOOL_TOOL_H

#include <stdbool.h>
#include <stdint.h>

#include <vpcie/host.h>

/* Where the tools put BARs they assign (what a PC's firmware would use). */
#define TOOL_MEM_BASE 0xfe000000u
#define TOOL_IO_BASE 0xc000u

/* Exit statuses: 1 for a failure at run time, 2 for a usage error. */
#define TOOL_EXIT_FAIL 1
#define TOOL_EXIT_USAGE 2

/* Parse an unsigned number in base (0: C prefixes) no larger than max;
 * the whole string must be the number. 0 or -1. */
int tool_parse_uint(const char *s, unsigned base, unsigned max, unsigned *out);

/* Byte counts with an optional k, M or G suffix: vpcie_cli_parse_size()
 * (vpcie/cli.h). */

/* How to reach the device. */
struct tool_conn {
	const char *socket; /* required */
	int wait_ms;        /* wait for the socket to appear; default 0 */
	int timeout_ms;     /* per request; default 5000 */
	const char *psk_file; /* TLS pre-shared key file; NULL: plaintext */
};

#define TOOL_CONN_DEFAULTS {.socket = NULL, .wait_ms = 0, .timeout_ms = 5000, .psk_file = NULL}

/* Help text of the options tool_conn_option() takes, for usage(). */
#define TOOL_CONN_HELP                                                                   \
	"  -S, --socket ADDR    device: a socket PATH, unix:PATH or tcp:HOST:PORT (required)\n" \
	"      --wait MS        wait up to MS ms for the socket to appear (default 0)\n"  \
	"      --timeout MS     per-request timeout (default 5000)\n"                    \
	"      --psk-file FILE  TLS 1.3 with this pre-shared key (psktool's format)\n"

/* Option values for getopt_long; TOOL_OPT_* start above any character. */
enum { TOOL_OPT_WAIT = 0x1000, TOOL_OPT_TIMEOUT, TOOL_OPT_PSK };
#define TOOL_CONN_LONGOPTS                                         \
	{"socket", required_argument, NULL, 'S'},                  \
	{"wait", required_argument, NULL, TOOL_OPT_WAIT},          \
	{"timeout", required_argument, NULL, TOOL_OPT_TIMEOUT},    \
	{"psk-file", required_argument, NULL, TOOL_OPT_PSK}

/*
 * Handle one of the options above (c as getopt_long returned it, arg its
 * argument). Returns 1 if c was one of them and arg was fine, 0 if c is not
 * one of them, -1 (message printed) if arg is bad.
 */
int tool_conn_option(struct tool_conn *c, const char *prog, int opt, const char *arg);

/* After getopt_long returned '?': say what was wrong (an unknown option or
 * a missing argument) and point at --help. Returns TOOL_EXIT_USAGE. */
int tool_bad_option(const char *prog, char *const *argv);

/* The checks every register command makes after its options: --socket
 * given and at least one operation. 0, or TOOL_EXIT_USAGE (message printed). */
int tool_need_socket_and_ops(const struct tool_conn *c, const char *prog, int nops);

/*
 * Connect and negotiate. On failure prints why ("no device at PATH", "not a
 * vfio-user device", ...) and returns NULL.
 */
/* Check that the key file path can be used for TLS; print why not (as
 * "vpcie PROG: key file ...") and return -1, or return 0. */
int tool_check_psk(const char *prog, const char *path);

struct vpcie_host *tool_open(const struct tool_conn *c, const char *prog);

/*
 * Size the BARs (vpcie_host_size_bars) and, if the device has BARs but none
 * with an address, assign them from TOOL_MEM_BASE / TOOL_IO_BASE and enable
 * decoding as `vpcie lspci --assign` does. *assigned (may be NULL) tells whether it
 * did. Returns 0 or -errno (message printed).
 */
int tool_bars_ready(struct vpcie_host *h, const char *prog, bool *assigned);

/* Whether any present BAR 0-5 holds an address (as last sized). */
bool tool_bars_assigned(struct vpcie_host *h);

#endif
