/* SPDX-License-Identifier: MIT */
/*
 * `vpcie fault`: add, clear and list a running device's fault rules through
 * its control socket (SOCKET.fault, opened by --fault-control; the protocol
 * is in vpcie/fault.h and docs/fault.md).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vpcie/fault.h>

#include "cmds.h"
#include "tool.h"

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: vpcie %s --socket PATH add SPEC | clear [ID] | list\n"
		"Change the fault rules of a running device started with --fault-control\n"
		"(its control socket is PATH.fault). SPEC is a rule as --fault takes it,\n"
		"e.g. ur:region=0,op=read (docs/fault.md).\n\n"
		"  add SPEC     add a rule; prints its ID\n"
		"  clear [ID]   remove rule ID, or every rule\n"
		"  list         one line per rule (rule ID SPEC fired=N seen=N [spent]),\n"
		"               then the count (N rules)\n\n"
		"  -S, --socket PATH    device socket (the control socket is PATH.fault)\n"
		"      --control PATH   the control socket itself\n"
		"      --wait MS        wait up to MS ms for the control socket to appear\n"
		"      --timeout MS     wait this long for the answer (default 5000)\n"
		"  -h, --help           this help\n\n"
		"Exit status: 0 done, 1 refused or no device, 2 bad usage.\n",
		prog);
}

static int ctl_connect(const char *path, int wait_ms, const char *prog)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vpcie %s: socket path too long: %s\n", prog, path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* --wait: the device may not have opened it yet. */
	while ((ret = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 &&
	       (errno == ENOENT || errno == ECONNREFUSED) && wait_ms > 0) {
		usleep(10000);
		wait_ms -= 10;
	}
	if (ret < 0) {
		fprintf(stderr, "vpcie %s: no fault control at %s: %s (was the device started "
				"with --fault-control?)\n", prog, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Send one line and print the answer; 0 if it ended in "ok". */
static int exchange(int fd, const char *line, int timeout_ms, const char *prog)
{
	char buf[VPCIE_FAULT_CTL_LINE_MAX * 4];
	size_t len = 0, n = strlen(line);

	if (send(fd, line, n, MSG_NOSIGNAL) != (ssize_t)n) {
		fprintf(stderr, "vpcie %s: send: %s\n", prog, strerror(errno));
		return -1;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char *nl;
		ssize_t r;

		while ((nl = memchr(buf, '\n', len))) {
			*nl = '\0';
			if (!strncmp(buf, "ok", 2)) {
				if (strncmp(buf, "ok ", 3) == 0)
					printf("%s\n", buf + 3);
				return 0;
			}
			if (!strncmp(buf, "error", 5)) {
				fprintf(stderr, "vpcie %s: %s\n", prog, buf[5] ? buf + 6 : "refused");
				return -1;
			}
			printf("%s\n", buf);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == sizeof(buf)) {
			fprintf(stderr, "vpcie %s: answer line too long\n", prog);
			return -1;
		}
		r = poll(&p, 1, timeout_ms);
		if (r <= 0) {
			fprintf(stderr, "vpcie %s: no answer within %d ms\n", prog, timeout_ms);
			return -1;
		}
		r = recv(fd, buf + len, sizeof(buf) - len, 0);
		if (r <= 0) {
			fprintf(stderr, "vpcie %s: the device closed the control connection\n", prog);
			return -1;
		}
		len += (size_t)r;
	}
}

int cmd_fault(int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_CONN_LONGOPTS,
		{"control", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct tool_conn conn = TOOL_CONN_DEFAULTS;
	const char *prog = argv[0], *control = NULL, *op;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char line[VPCIE_FAULT_CTL_LINE_MAX];
	int c, fd, rc, nargs;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+S:h", longopts, NULL)) != -1) {
		switch (tool_conn_option(&conn, prog, c, optarg)) {
		case 1: continue;
		case -1: return TOOL_EXIT_USAGE;
		}
		switch (c) {
		case 'C': control = optarg; break;
		case 'h': usage(stdout, prog); return 0;
		default: return tool_bad_option(prog, argv);
		}
	}
	nargs = argc - optind;
	op = nargs > 0 ? argv[optind] : NULL;
	if (!conn.socket == !control) {
		fprintf(stderr, "vpcie %s: give --socket PATH or --control PATH; see --help\n", prog);
		return TOOL_EXIT_USAGE;
	}
	if (!op || !((!strcmp(op, "add") && nargs == 2) ||
		     (!strcmp(op, "clear") && nargs <= 2) || (!strcmp(op, "list") && nargs == 1))) {
		fprintf(stderr, "vpcie %s: want add SPEC, clear [ID] or list; see --help\n", prog);
		return TOOL_EXIT_USAGE;
	}
	if (nargs == 2 && (strlen(argv[optind + 1]) > VPCIE_FAULT_SPEC_MAX ||
			   strpbrk(argv[optind + 1], "\n\r"))) {
		fprintf(stderr, "vpcie %s: '%s' is not a rule or id\n", prog, argv[optind + 1]);
		return TOOL_EXIT_USAGE;
	}
	if (!control) {
		if ((size_t)snprintf(path, sizeof(path), "%s.fault", conn.socket) >= sizeof(path)) {
			fprintf(stderr, "vpcie %s: socket path too long\n", prog);
			return TOOL_EXIT_USAGE;
		}
		control = path;
	}
	snprintf(line, sizeof(line), "%s%s%s\n", op, nargs == 2 ? " " : "",
		 nargs == 2 ? argv[optind + 1] : "");
	fd = ctl_connect(control, conn.wait_ms, prog);
	if (fd < 0)
		return TOOL_EXIT_FAIL;
	rc = exchange(fd, line, conn.timeout_ms, prog);
	close(fd);
	return rc ? TOOL_EXIT_FAIL : 0;
}
