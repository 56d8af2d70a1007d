/* SPDX-License-Identifier: MIT */
/*
 * `vpcie proxy`: a UNIX socket for QEMU's vfio-user-pci (or any vfio-user
 * client) in front of a device on another machine, reached over TCP with
 * TLS. One client at a time; each gets its own connection to the device
 * (proxy_session.c), found again if it goes away (proxy_device.c). docs/tcp.md describes what it does with DMA and
 * interrupts.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <vpcie/log.h>
#include <vpcie/tls.h>
#include <vpcie/transport.h>

#include "cmds.h"
#include "proxy_priv.h"
#include "tool.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vpcie proxy --socket PATH --connect tcp:HOST:PORT [options]\n\n"
		"Serve vfio-user on the UNIX socket PATH (for QEMU's vfio-user-pci) and relay\n"
		"each client to the device at tcp:HOST:PORT. The device sees no fds: the\n"
		"proxy maps the client's DMA memory and answers the device's DMA messages\n"
		"from it, and turns the device's interrupt messages into the client's\n"
		"eventfds. When the device goes away, the client's accesses fail (as with a\n"
		"dead device) while the proxy reconnects; once the device is back, the proxy\n"
		"replays the client's DMA maps, config-space writes and interrupt set-up.\n\n"
		"Options:\n"
		"  -S, --socket PATH    UNIX socket to create for the client (removed on exit)\n"
		"  -c, --connect ADDR   the device: tcp:HOST:PORT or tcp:[IPV6]:PORT\n"
		"      --psk-file FILE  TLS 1.3 with this pre-shared key (psktool's format);\n"
		"                       required for any address but loopback\n"
		"      --timeout MS     connect, TLS handshake and each send (default 5000)\n"
		"      --reconnect[=S]  reconnect to a device that went away, for up to S\n"
		"                       seconds (default: on, 60 s); then close the client\n"
		"      --no-reconnect   close the client as soon as the device goes away\n"
		"      --log-level L    error, warn, info (default) or debug\n"
		"  -h, --help           this text\n\n"
		"Runs until SIGTERM or SIGINT. Exit status: 0 stopped, 1 failure, 2 bad usage.\n");
}

static int serve(const struct proxy_cfg *cfg, int lfd, int sfd)
{
	for (;;) {
		struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = lfd, .events = POLLIN}};
		int fd, rc;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[0].revents)
			return 0;
		fd = vpcie_endpoint_accept(lfd);
		if (fd == -EAGAIN || fd == -EINTR || fd == -ECONNABORTED)
			continue;
		if (fd < 0)
			return fd;
		rc = proxy_session_run(cfg, fd, sfd);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
}

/* SIGTERM/SIGINT as a readable fd; SIGPIPE ignored (sends report EPIPE). */
static int stop_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int cmd_proxy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 'S'},
		{"connect", required_argument, NULL, 'c'},
		{"psk-file", required_argument, NULL, TOOL_OPT_PSK},
		{"timeout", required_argument, NULL, TOOL_OPT_TIMEOUT},
		{"log-level", required_argument, NULL, 'L'},
		{"reconnect", optional_argument, NULL, 'R'},
		{"no-reconnect", no_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *sock = NULL, *remote = NULL, *psk_file = NULL;
	struct vpcie_endpoint lep, rep;
	struct vpcie_tls_psk psk;
	struct vpcie_logger lg;
	struct proxy_cfg cfg = {.remote = &rep, .timeout_ms = 5000, .lg = &lg, .reconnect_s = 60};
	struct rlimit rl;
	unsigned ms;
	int c, lfd, sfd, rc, level;

	vpcie_logger_init(&lg, "vpcie proxy", VPCIE_LOG_INFO);
	while ((c = getopt_long(argc, argv, "S:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			sock = optarg;
			break;
		case 'c':
			remote = optarg;
			break;
		case TOOL_OPT_PSK:
			psk_file = optarg;
			break;
		case TOOL_OPT_TIMEOUT:
			if (tool_parse_uint(optarg, 10, 3600000, &ms) || ms == 0) {
				fprintf(stderr, "vpcie proxy: --timeout '%s': 1..3600000 ms\n", optarg);
				return TOOL_EXIT_USAGE;
			}
			cfg.timeout_ms = (int)ms;
			break;
		case 'L':
			level = vpcie_log_level_parse(optarg);
			if (level < 0) {
				fprintf(stderr, "vpcie proxy: --log-level '%s': error, warn, info "
						"or debug\n", optarg);
				return TOOL_EXIT_USAGE;
			}
			lg.level = (enum vpcie_log_level)level;
			break;
		case 'R':
			if (!optarg) {
				cfg.reconnect_s = 60;
			} else if (tool_parse_uint(optarg, 10, 86400, &ms) || ms == 0) {
				fprintf(stderr, "vpcie proxy: --reconnect=%s: 1..86400 seconds\n",
					optarg);
				return TOOL_EXIT_USAGE;
			} else {
				cfg.reconnect_s = ms;
			}
			break;
		case 'N':
			cfg.reconnect_s = 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return tool_bad_option("proxy", argv);
		}
	}
	if (optind < argc || !sock || !remote) {
		fprintf(stderr, "vpcie proxy: %s (see --help)\n",
			optind < argc ? "unexpected argument" : "--socket and --connect are required");
		return TOOL_EXIT_USAGE;
	}
	if (vpcie_endpoint_parse(sock, &lep) || lep.kind != VPCIE_ENDPOINT_UNIX) {
		fprintf(stderr, "vpcie proxy: --socket '%s': a UNIX socket path (fds must "
				"travel)\n", sock);
		return TOOL_EXIT_USAGE;
	}
	if (vpcie_endpoint_parse(remote, &rep) || rep.kind != VPCIE_ENDPOINT_TCP) {
		fprintf(stderr, "vpcie proxy: --connect '%s': not tcp:HOST:PORT\n", remote);
		return TOOL_EXIT_USAGE;
	}
	if (psk_file) {
		if (tool_check_psk("proxy", psk_file))
			return TOOL_EXIT_FAIL;
		if (vpcie_tls_psk_load(psk_file, &psk, NULL, 0))
			return TOOL_EXIT_FAIL;
		cfg.psk = &psk;
	}
	/* one eventfd per MSI-X vector a client attaches: up to 2048 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sfd = stop_signals();
	if (sfd < 0) {
		fprintf(stderr, "vpcie proxy: signalfd: %s\n", strerror(-sfd));
		rc = TOOL_EXIT_FAIL;
		goto out_psk;
	}
	lfd = vpcie_endpoint_listen(&lep, false);
	if (lfd < 0) {
		fprintf(stderr, "vpcie proxy: cannot listen on %s: %s\n", sock, strerror(-lfd));
		rc = TOOL_EXIT_FAIL;
		goto out_sfd;
	}
	vpcie_info(&lg, "listening on %s for %s%s", lep.path, remote, psk_file ? " (TLS)" : "");
	rc = serve(&cfg, lfd, sfd);
	if (rc < 0)
		vpcie_err(&lg, "stopped: %s", strerror(-rc));
	rc = rc < 0 ? TOOL_EXIT_FAIL : 0;
	close(lfd);
	unlink(lep.path);
out_sfd:
	close(sfd);
out_psk:
	if (psk_file)
		vpcie_tls_psk_clear(&psk);
	return rc;
}
