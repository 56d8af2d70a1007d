// SPDX-License-Identifier: MIT
/* The command-line options every device program shares (vpcie/cli.h). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include <vpcie/cli.h>
#include <vpcie/fault.h>
#include <vpcie/transport.h>

void vpcie_cli_init(struct vpcie_cli *cli, const char *prog)
{
	cli->prog = prog ? prog : "vpcie";
	cli->socket = NULL;
	cli->fd = -1;
	cli->nfaults = 0;
}

/* A whole decimal or 0x number in [lo, hi]. */
static int parse_range(const char *s, unsigned long long lo, unsigned long long hi,
		       unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int vpcie_cli_parse_size(const char *s, uint64_t *out)
{
	unsigned shift = 0;
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int bad(const struct vpcie_cli *cli, const char *opt, const char *arg, const char *takes)
{
	fprintf(stderr, "%s: %s '%s': takes %s\n", cli->prog, opt, arg ? arg : "", takes);
	return -1;
}

int vpcie_cli_option(struct vpcie_cli *cli, struct vpcie_dev_opts *opts, int c,
		     const char *arg)
{
	unsigned long long v;
	int lvl;

	switch (c) {
	case 's':
		cli->socket = arg;
		return 1;
	case 'v':
		opts->log_level = VPCIE_LOG_DEBUG;
		return 1;
	case VPCIE_CLI_FD:
		if (parse_range(arg, 0, INT_MAX, &v))
			return bad(cli, "--fd", arg, "a file descriptor number");
		cli->fd = (int)v;
		return 1;
	case VPCIE_CLI_PSK_FILE:
		opts->psk_file = arg;
		return 1;
	case VPCIE_CLI_NO_TWIN:
		opts->offer_twin_socket = false;
		return 1;
	case VPCIE_CLI_MAX_XFER:
		/* The spec's smallest useful transfer is a config access; more
		 * than 1 GiB in one message is a denial of service on us. */
		if (parse_range(arg, 4096, 1ull << 30, &v))
			return bad(cli, "--max-xfer", arg, "a byte count, 4096..1073741824");
		opts->max_data_xfer_size = v;
		return 1;
	case VPCIE_CLI_MSG_TIMEOUT:
		if (parse_range(arg, 1, 3600 * 1000, &v))
			return bad(cli, "--msg-timeout", arg, "milliseconds, 1..3600000");
		opts->msg_timeout_ms = (int)v;
		return 1;
	case VPCIE_CLI_DMA_MESSAGES:
		opts->dma_shm = false;
		return 1;
	case VPCIE_CLI_TRACE:
		if (!arg || !*arg)
			return bad(cli, "--trace", arg, "a file name");
		opts->trace_path = arg;
		return 1;
	case VPCIE_CLI_NO_RING:
		opts->offer_ring = false;
		return 1;
	case VPCIE_CLI_LOG:
		lvl = vpcie_log_level_parse(arg);
		if (lvl < 0)
			return bad(cli, "--log", arg, "error, warn, info or debug");
		opts->log_level = (enum vpcie_log_level)lvl;
		return 1;
	case VPCIE_CLI_FAULT: {
		struct vpcie_fault_rule r;
		char err[160];

		if (vpcie_fault_parse(arg, &r, err, sizeof(err))) {
			fprintf(stderr, "%s: --fault '%s': %s (see docs/fault.md)\n", cli->prog,
				arg ? arg : "", err);
			return -1;
		}
		if (cli->nfaults >= VPCIE_CLI_MAX_FAULTS) {
			fprintf(stderr, "%s: more than %u --fault options\n", cli->prog,
				VPCIE_CLI_MAX_FAULTS);
			return -1;
		}
		cli->faults[cli->nfaults++] = arg;
		opts->faults = cli->faults;
		opts->nfaults = cli->nfaults;
		return 1;
	}
	case VPCIE_CLI_FAULT_CONTROL:
		opts->fault_control = true;
		return 1;
	default:
		return 0;
	}
}

int vpcie_cli_finish(const struct vpcie_cli *cli, int nargs)
{
	if (nargs > 0) {
		fprintf(stderr, "%s: unexpected argument(s); see --help\n", cli->prog);
		return -1;
	}
	if (!cli->socket == (cli->fd < 0)) {
		fprintf(stderr, "%s: %s; see --help\n", cli->prog,
			cli->socket ? "--socket and --fd exclude each other"
				    : "--socket PATH is required");
		return -1;
	}
	if (cli->socket) {
		struct vpcie_endpoint ep;
		int rc = vpcie_endpoint_parse(cli->socket, &ep);

		if (rc) {
			fprintf(stderr, "%s: --socket '%s': %s\n", cli->prog, cli->socket,
				rc == -ENAMETOOLONG ? "path too long for a UNIX socket"
						    : "not PATH, unix:PATH or tcp:HOST:PORT");
			return -1;
		}
	}
	return 0;
}

void vpcie_cli_usage(FILE *f)
{
	fputs("\nCommon options:\n"
	      "  -s, --socket PATH     UNIX socket to listen on (created 0600, removed on exit)\n"
	      "      --listen ADDR     unix:PATH, PATH, or tcp:HOST:PORT (plaintext: loopback only;\n"
	      "                        no fds over TCP: DMA and interrupts go by messages)\n"
	      "      --psk-file FILE   TLS 1.3 with this pre-shared key on TCP (psktool's\n"
	      "                        IDENTITY:HEXKEY line, mode 0600); allows any address\n"
	      "      --fd N            serve an already connected socket instead\n"
	      "      --dma-messages    message-only DMA: never map the client's memory\n"
	      "      --no-twin         do not offer a twin socket\n"
	      "      --no-ring         do not offer the shared-memory ring transport\n"
	      "      --max-xfer N      largest data transfer accepted (default 1048576)\n"
	      "      --msg-timeout MS  drop a client stalled inside a message (default 5000)\n"
	      "      --log LEVEL       error, warn, info (default) or debug (or $VPCIE_LOG)\n"
	      "      --fault SPEC      inject a fault (repeatable), e.g. ur:region=0,op=read;\n"
	      "                        grammar in docs/fault.md\n"
	      "      --fault-control   change faults at run time: `vpcie fault --socket PATH`\n"
	      "                        talks to PATH.fault (mode 0600)\n"
	      "      --trace FILE      record every transaction into FILE (or $VPCIE_TRACE;\n"
	      "                        see `vpcie trace`)\n"
	      "  -v, --verbose         same as --log debug\n",
	      f);
}
