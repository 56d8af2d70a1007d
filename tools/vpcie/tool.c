/* SPDX-License-Identifier: MIT */
/* Helpers shared by the `vpcie` subcommands that talk to one device. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <vpcie/tls.h>
#include <vpcie/transport.h>

#include "tool.h"

int tool_parse_uint(const char *s, unsigned base, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoul(s, &end, (int)base);
	if (errno || *end || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int tool_conn_option(struct tool_conn *c, const char *prog, int opt, const char *arg)
{
	unsigned v;

	switch (opt) {
	case 'S':
		c->socket = arg;
		return 1;
	case TOOL_OPT_PSK:
		c->psk_file = arg;
		return 1;
	case TOOL_OPT_WAIT:
	case TOOL_OPT_TIMEOUT:
		if (tool_parse_uint(arg, 10, 3600000, &v)) {
			fprintf(stderr, "vpcie %s: bad number of milliseconds '%s'\n", prog, arg);
			return -1;
		}
		if (opt == TOOL_OPT_WAIT)
			c->wait_ms = (int)v;
		else
			c->timeout_ms = v ? (int)v : 1;
		return 1;
	default:
		return 0;
	}
}

int tool_check_psk(const char *prog, const char *path)
{
	struct vpcie_tls_psk psk;
	char why[160];
	int rc = vpcie_tls_psk_load(path, &psk, why, sizeof(why));

	vpcie_tls_psk_clear(&psk);
	if (!rc)
		return 0;
	fprintf(stderr, "vpcie %s: key file %s: %s\n", prog, path, why[0] ? why : strerror(-rc));
	return -1;
}

struct vpcie_host *tool_open(const struct tool_conn *c, const char *prog)
{
	struct vpcie_host_opts hopts;
	struct vpcie_host *h;
	struct vpcie_endpoint ep;
	struct stat st;
	int err = vpcie_endpoint_parse(c->socket, &ep);

	if (err) {
		fprintf(stderr, "vpcie %s: --socket '%s': %s\n", prog, c->socket,
			err == -ENAMETOOLONG ? "path too long for a UNIX socket"
					     : "not PATH, unix:PATH or tcp:HOST:PORT");
		return NULL;
	}
	/* A UNIX socket file that is not there: say so at once. */
	if (ep.kind == VPCIE_ENDPOINT_UNIX && c->wait_ms == 0 && stat(ep.path, &st) < 0) {
		fprintf(stderr, "vpcie %s: no device at %s: %s\n", prog, c->socket,
			strerror(errno));
		return NULL;
	}
	vpcie_host_opts_defaults(&hopts);
	hopts.connect_timeout_ms = c->wait_ms;
	hopts.timeout_ms = c->timeout_ms;
	hopts.psk_file = c->psk_file;
	if (c->psk_file && tool_check_psk(prog, c->psk_file))
		return NULL;
	h = vpcie_host_open(c->socket, &hopts, &err);
	if (h)
		return h;
	if (err == -ENOENT || err == -ECONNREFUSED || err == -ENOTSOCK)
		fprintf(stderr, "vpcie %s: no device at %s: %s\n", prog, c->socket,
			strerror(-err));
	else if ((err == -EACCES || err == -ECONNRESET) && c->psk_file)
		fprintf(stderr, "vpcie %s: %s: TLS handshake refused (wrong key or identity?)\n",
			prog, c->socket);
	else if (err == -EACCES)
		fprintf(stderr, "vpcie %s: %s: plaintext TCP is allowed on loopback addresses only; "
				"give a pre-shared key (--psk-file) for TLS\n",
			prog, c->socket);
	else if (err == -EPROTO)
		fprintf(stderr, "vpcie %s: %s: not a vfio-user device (negotiation failed)\n",
			prog, c->socket);
	else
		fprintf(stderr, "vpcie %s: cannot connect to %s: %s\n", prog, c->socket,
			strerror(err < 0 ? -err : EIO));
	return NULL;
}

/* How many of BARs 0-5 are present, and whether one of them has an address. */
static unsigned bars_present(struct vpcie_host *h, bool *any_addr)
{
	unsigned n = 0;

	*any_addr = false;
	for (unsigned i = 0; i < 6; i++) {
		const struct vpcie_host_bar *b = vpcie_host_bar(h, i);

		if (b && b->present) {
			n++;
			*any_addr = *any_addr || b->addr;
		}
	}
	return n;
}

bool tool_bars_assigned(struct vpcie_host *h)
{
	bool any_addr;

	bars_present(h, &any_addr);
	return any_addr;
}

int tool_bars_ready(struct vpcie_host *h, const char *prog, bool *assigned)
{
	int rc = vpcie_host_size_bars(h);
	bool any_addr;

	if (assigned)
		*assigned = false;
	if (rc < 0) {
		fprintf(stderr, "vpcie %s: sizing BARs: %s\n", prog, strerror(-rc));
		return rc;
	}
	if (!bars_present(h, &any_addr) || any_addr)
		return 0;
	rc = vpcie_host_assign_bars(h, TOOL_MEM_BASE, TOOL_IO_BASE);
	if (rc < 0) {
		fprintf(stderr, "vpcie %s: assigning BARs: %s\n", prog, strerror(-rc));
		return rc;
	}
	if (assigned)
		*assigned = true;
	return 0;
}

int tool_bad_option(const char *prog, char *const *argv)
{
	if (optopt == 'S')
		fprintf(stderr, "vpcie %s: option -S needs an argument\n", prog);
	else
		fprintf(stderr, "vpcie %s: unknown option '%s'\n", prog, argv[optind - 1]);
	fprintf(stderr, "Try 'vpcie %s --help'.\n", prog);
	return TOOL_EXIT_USAGE;
}

int tool_need_socket_and_ops(const struct tool_conn *c, const char *prog, int nops)
{
	const char *why = !c->socket ? "--socket PATH is required" : nops <= 0 ? "no operation given" : NULL;

	if (!why)
		return 0;
	fprintf(stderr, "vpcie %s: %s\nTry 'vpcie %s --help'.\n", prog, why, prog);
	return TOOL_EXIT_USAGE;
}
