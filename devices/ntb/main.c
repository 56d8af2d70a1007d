/* SPDX-License-Identifier: MIT */
/*
 * vpcie-ntb: a Non-Transparent Bridge between two hosts, as one process
 * serving two vfio-user endpoints. Each host sees the PCI function Linux's
 * ntb_hw_epf driver binds to (ntb.h, ntb_regs.h, docs/ntb.md).
 *
 * The two devices are dispatched from one epoll loop on one thread: a
 * callback of one side can reach the other side's memory and interrupts
 * directly, and nothing needs a lock.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <vpcie/cli.h>
#include <vpcie/device.h>

#include "ntb.h"
#include "ntb_regs.h"

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s --socket-a WHERE --socket-b WHERE [options]\n"
		"A Non-Transparent Bridge between two hosts: each endpoint presents the NTB\n"
		"function Linux's ntb_hw_epf binds to (TI J721E 104c:b00d); memory windows,\n"
		"doorbells, scratchpads and link state join the two (docs/ntb.md).\n\n"
		"  -a, --socket-a WHERE  host A's endpoint: a UNIX socket path, unix:PATH or\n"
		"                        tcp:HOST:PORT (loopback unless --psk-file)\n"
		"  -b, --socket-b WHERE  host B's endpoint, likewise\n"
		"      --mws N           memory windows, 1..4 (default %u)\n"
		"      --mw-size SIZE    size of each window BAR, a power of two 8k..1G, suffix\n"
		"                        k/M/G (default 1M; window 1 is 4k smaller, it shares\n"
		"                        BAR2 with the doorbells)\n"
		"      --spads N         scratchpads per host, 1..%u (default %u)\n"
		"      --msix N          MSI-X vectors: 0 or 4..32 (default 32)\n"
		"      --msi N           MSI vectors: 0, 1, 2, 4, 8, 16, 32 (default 32)\n"
		"      --dma-messages    never map the hosts' memory: every window access is\n"
		"                        a DMA message to the peer host\n"
		"      --psk-file FILE   TLS 1.3 with this key on TCP endpoints\n"
		"      --max-xfer N      largest transfer offered (bytes)\n"
		"      --msg-timeout MS  drop a host that stalls mid-message\n"
		"      --no-twin, --no-ring  plainer transports\n"
		"      --log LEVEL       error, warn, info, debug (default info)\n"
		"  -v, --verbose         --log debug\n"
		"  -h, --help            this help\n",
		prog, NTB_DEFAULT_MWS, NTB_MAX_SPADS, NTB_DEFAULT_SPADS);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	uint64_t v;

	if (parse_size(s, &v) || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* ---- Two devices, one loop -------------------------------------------------- */

struct loop {
	struct vpcie_dev *dev[2];
	int epfd, sigfd;
	unsigned poll_us;
};

static int loop_init(struct loop *l)
{
	sigset_t set;
	struct epoll_event ev = {.events = EPOLLIN};

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	l->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->sigfd < 0 || l->epfd < 0)
		return -errno;
	ev.data.u32 = 2;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->sigfd, &ev))
		return -errno;
	for (unsigned i = 0; i < 2; i++) {
		ev.data.u32 = i;
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, vpcie_dev_fd(l->dev[i]), &ev))
			return -errno;
	}
	return 0;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Dispatch both devices until a signal. After work, look again without
 * sleeping for up to poll_us (a host usually answers within microseconds,
 * the adaptive polling the runtime's own loop does), then sleep.
 */
static int loop_run(struct loop *l)
{
	uint64_t busy_until = 0;

	for (;;) {
		struct epoll_event evs[4];
		bool work = vpcie_dev_has_work(l->dev[0]) || vpcie_dev_has_work(l->dev[1]);
		int timeout = work || now_us() < busy_until ? 0 : -1;
		int n = epoll_wait(l->epfd, evs, 4, timeout);

		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 2) {
				struct signalfd_siginfo si;

				if (read(l->sigfd, &si, sizeof(si)) == sizeof(si))
					fprintf(stderr, "vpcie-ntb: signal %u: stopping\n",
						si.ssi_signo);
				return 0;
			}
		}
		if (n > 0 || work) {
			for (unsigned d = 0; d < 2; d++) {
				int rc = vpcie_dev_dispatch(l->dev[d], 0);

				if (rc)
					return rc;
			}
			busy_until = now_us() + l->poll_us;
		}
	}
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket-a", required_argument, NULL, 'a'},
		{"socket-b", required_argument, NULL, 'b'},
		{"mws", required_argument, NULL, 'M'},
		{"mw-size", required_argument, NULL, 'S'},
		{"spads", required_argument, NULL, 'P'},
		{"msix", required_argument, NULL, 'X'},
		{"msi", required_argument, NULL, 'I'},
		{"psk-file", required_argument, NULL, VPCIE_CLI_PSK_FILE},
		{"no-twin", no_argument, NULL, VPCIE_CLI_NO_TWIN},
		{"max-xfer", required_argument, NULL, VPCIE_CLI_MAX_XFER},
		{"msg-timeout", required_argument, NULL, VPCIE_CLI_MSG_TIMEOUT},
		{"dma-messages", no_argument, NULL, VPCIE_CLI_DMA_MESSAGES},
		{"no-ring", no_argument, NULL, VPCIE_CLI_NO_RING},
		{"log", required_argument, NULL, VPCIE_CLI_LOG},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *where[2] = {NULL, NULL};
	struct ntb_config cfg;
	struct vpcie_dev_opts opts;
	struct vpcie_cli cli;
	struct loop l = {.epfd = -1, .sigfd = -1};
	struct ntb *ntb;
	uint64_t v;
	int c, rc = 0;

	ntb_config_defaults(&cfg);
	vpcie_dev_opts_defaults(&opts);
	vpcie_cli_init(&cli, "vpcie-ntb");
	while ((c = getopt_long(argc, argv, "a:b:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': where[0] = optarg; continue;
		case 'b': where[1] = optarg; continue;
		case 'M':
			if (parse_uint(optarg, NTB_MAX_MWS, &cfg.mws) || !cfg.mws) {
				fprintf(stderr, "vpcie-ntb: --mws takes 1..4\n");
				return 2;
			}
			continue;
		case 'S':
			if (parse_size(optarg, &v) || v < NTB_MIN_MW_BAR || v > NTB_MAX_MW_BAR ||
			    (v & (v - 1))) {
				fprintf(stderr, "vpcie-ntb: --mw-size takes a power of two, 8k..1G\n");
				return 2;
			}
			cfg.mw_bar = v;
			continue;
		case 'P':
			if (parse_uint(optarg, NTB_MAX_SPADS, &cfg.spads) || !cfg.spads) {
				fprintf(stderr, "vpcie-ntb: --spads takes 1..%u\n", NTB_MAX_SPADS);
				return 2;
			}
			continue;
		case 'X':
			if (parse_uint(optarg, NTB_MAX_DB, &cfg.msix) || (cfg.msix && cfg.msix < 4)) {
				fprintf(stderr, "vpcie-ntb: --msix takes 0 or 4..32\n");
				return 2;
			}
			continue;
		case 'I':
			if (parse_uint(optarg, NTB_MAX_DB, &cfg.msi) || (cfg.msi & (cfg.msi - 1))) {
				fprintf(stderr, "vpcie-ntb: --msi takes 0, 1, 2, 4, 8, 16 or 32\n");
				return 2;
			}
			continue;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		case '?':
			usage(stderr, argv[0]);
			return 2;
		default:
			break;
		}
		if (vpcie_cli_option(&cli, &opts, c, optarg) != 1)
			return 2;
	}
	if (!where[0] || !where[1] || optind != argc) {
		fprintf(stderr, "vpcie-ntb: --socket-a and --socket-b are both needed "
				"(and nothing else)\n");
		usage(stderr, argv[0]);
		return 2;
	}
	if (!cfg.msi && !cfg.msix) {
		fprintf(stderr, "vpcie-ntb: --msi and --msix cannot both be 0\n");
		return 2;
	}
	ntb = ntb_new(&cfg);
	if (!ntb) {
		perror("vpcie-ntb");
		return 1;
	}
	for (unsigned i = 0; i < 2 && rc == 0; i++) {
		const struct vpcie_ids ids = {
			.vendor = NTB_VENDOR_ID, .device = NTB_DEVICE_ID, .class_code = NTB_CLASS_CODE,
		};

		opts.name = i == 0 ? "vpcie-ntb A" : "vpcie-ntb B";
		l.dev[i] = vpcie_dev_new(&ids, ntb_dev_ops(), ntb_side_opaque(ntb, i), &opts);
		if (!l.dev[i]) {
			rc = -errno;
			perror("vpcie-ntb: vpcie_dev_new");
		}
	}
	if (!rc && (rc = ntb_attach(ntb, l.dev[0], l.dev[1])))
		fprintf(stderr, "vpcie-ntb: device set-up failed: %s\n", strerror(-rc));
	for (unsigned i = 0; i < 2 && rc == 0; i++) {
		rc = vpcie_dev_listen(l.dev[i], where[i]);
		if (rc)
			fprintf(stderr, "vpcie-ntb: cannot serve %s: %s\n", where[i], strerror(-rc));
	}
	if (!rc && (rc = loop_init(&l)))
		fprintf(stderr, "vpcie-ntb: event loop: %s\n", strerror(-rc));
	if (!rc) {
		l.poll_us = opts.poll_max_us;
		vpcie_info(vpcie_dev_logger(l.dev[0]),
			   "serving A on %s, B on %s: %u windows of 0x%" PRIx64 ", %u scratchpads, "
			   "MSI-X %u, MSI %u", where[0], where[1], cfg.mws, cfg.mw_bar, cfg.spads,
			   cfg.msix, cfg.msi);
		rc = loop_run(&l);
		if (rc)
			fprintf(stderr, "vpcie-ntb: event loop failed: %s\n", strerror(-rc));
	}
	for (unsigned i = 0; i < 2; i++)
		if (l.dev[i])
			vpcie_dev_free(l.dev[i]);
	if (l.epfd >= 0)
		close(l.epfd);
	if (l.sigfd >= 0)
		close(l.sigfd);
	ntb_free(ntb);
	return rc ? 1 : 0;
}
