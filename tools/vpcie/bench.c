/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: latency and bandwidth of every host<->device path, each
 * against a floor measured on this machine in the same run.
 *
 * The device is vpcie-bench-device (bench/), one process per device, driven
 * through the public host API from this process. Floors are pairs of
 * processes forked from this one that do the same exchange with nothing but
 * the kernel: AF_UNIX request/reply of the same message sizes, the same over
 * a spinning shared cache line, memcpy into/out of a memfd mapping, an
 * eventfd wake-up, connect + one round trip. Every figure is printed with
 * its ratio to a floor that waits as the path does (polling, blocking or
 * spinning; a second floor waits differently, for contrast), so claims hold
 * as ratios on noisy machines.
 *
 * A wake-up of a blocked process costs much more when the other CPU is idle
 * (virtual machines halt idle vCPUs), so each pass records how busy the
 * machine was before and after it (/proc/stat), and --load runs a spinner
 * that keeps one CPU busy; --load=both measures idle and loaded in one run.
 *
 * Methodology, floors and how to read the output: docs/bench.md.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "bench_priv.h"

/* ---- A pass ------------------------------------------------------------------------- */

static const uint64_t dma_sizes_full[] = {4096, 16384, 65536, 262144, 1048576, 4194304};
static const uint64_t dma_sizes_quick[] = {4096, 65536, 1048576};
static const unsigned multi_full[] = {1, 16, 64, 256};
static const unsigned multi_quick[] = {1, 16};

static bool any_selected(const struct bench *b, const char *const *groups, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (selected(b, groups[i]))
			return true;
	return false;
}

/* Whether a judged target (full runs only) was missed in any pass. */
static bool missed_targets(const struct pass *passes, size_t np)
{
	for (size_t i = 0; i < np; i++) {
		for (size_t k = 0; k < passes[i].n; k++)
			if (passes[i].r[k].tkind != T_NONE && !passes[i].r[k].met)
				return true;
		for (unsigned k = 0; k < passes[i].nidle; k++)
			if (!passes[i].idle[k].met)
				return true;
	}
	return false;
}

static int run_pass(struct bench *b)
{
	static const size_t sizes[] = {1, 2, 4, 8};
	static const char *const dev_groups[] = {
		"mmio.read.1", "mmio.read.2", "mmio.read.4", "mmio.read.8", "mmio.write.1",
		"mmio.write.2", "mmio.write.4", "mmio.write.8", "mmio.posted.4", "mmio.write_multi.4",
		"mmio.mmap.read.4",
		"cfg.read.4", "irq.intx", "irq.msi", "irq.msix", "idle.cpu",
		"trace.mmio.read.4", "trace.dma.shm.to_host.1048576",
	};
	static const char *const nopoll_groups[] = {
		"mmio.read.4.nopoll", "mmio.write.4.nopoll", "cfg.read.4.nopoll",
		"mmio.posted.4.nopoll", "irq.msi.nopoll",
	};
	static const char *const ring_groups[] = {
		"ring.mmio.read.4", "ring.mmio.posted.4", "ring.irq.msi", "ring.idle.cpu",
	};
	const uint64_t *ds = b->o.quick ? dma_sizes_quick : dma_sizes_full;
	size_t nds = b->o.quick ? 3 : 6;
	const unsigned *ms = b->o.quick ? multi_quick : multi_full;
	size_t nms = b->o.quick ? 2 : 4;
	bool need_dev = any_selected(b, dev_groups, sizeof(dev_groups) / sizeof(dev_groups[0]));
	uint64_t start = vpcie_now_ns();
	pid_t spinner = 0;
	int rc = 0;

	for (size_t i = 0; i < nds && !need_dev; i++) {
		char n[64];

		for (int k = 0; k < 4 && !need_dev; k++) {
			snprintf(n, sizeof(n), "dma.%s.%s.%llu", k & 1 ? "msg" : "shm",
				 k & 2 ? "to_device" : "to_host", (unsigned long long)ds[i]);
			need_dev = selected(b, n);
		}
	}
	background(b->o.quick ? 100 : 500, &b->p->bg_before, &b->p->steal_before);
	if (!strcmp(b->p->load, "spinner")) {
		spinner = start_spinner();
		if (spinner < 0)
			return -errno;
		sleep_ms(50);
	}
	if (need_dev)
		rc = setup_main_device(b, DEV_SOCKET);
	for (size_t i = 0; !rc && i < 4; i++)
		rc = path_mmio(b, OP_READ, sizes[i]);
	for (size_t i = 0; !rc && i < 4; i++)
		rc = path_mmio(b, OP_WRITE, sizes[i]);
	if (!rc)
		rc = path_mmio(b, OP_CFG, 4);
	if (!rc)
		rc = path_posted(b);
	if (!rc)
		rc = path_write_multi(b);
	if (!rc)
		rc = path_mmap(b);
	for (int shm = 1; shm >= 0 && !rc; shm--)
		for (int th = 1; th >= 0 && !rc; th--)
			for (size_t i = 0; i < nds && !rc; i++)
				rc = path_dma(b, shm, th, ds[i]);
	if (!rc)
		rc = path_irq(b, VPCIE_HOST_IRQ_INTX);
	if (!rc)
		rc = path_irq(b, VPCIE_HOST_IRQ_MSI);
	if (!rc)
		rc = path_irq(b, VPCIE_HOST_IRQ_MSIX);
	if (!rc)
		rc = idle_cost(b);
	if (!rc)
		rc = path_trace(b);
	teardown_main_device(b);
	/* The same device with adaptive polling off on both sides: against
	 * the blocking floors. */
	if (!rc && any_selected(b, nopoll_groups, sizeof(nopoll_groups) / sizeof(nopoll_groups[0]))) {
		rc = setup_main_device(b, DEV_NOPOLL);
		if (!rc)
			rc = path_mmio(b, OP_READ, 4);
		if (!rc)
			rc = path_mmio(b, OP_WRITE, 4);
		if (!rc)
			rc = path_mmio(b, OP_CFG, 4);
		if (!rc)
			rc = path_posted(b);
		if (!rc)
			rc = path_irq(b, VPCIE_HOST_IRQ_MSI);
		teardown_main_device(b);
	}
	/* The same device through the shared-memory ring transport. */
	if (!rc && any_selected(b, ring_groups, sizeof(ring_groups) / sizeof(ring_groups[0]))) {
		rc = setup_main_device(b, DEV_RING);
		if (!rc)
			rc = path_ring_read(b);
		if (!rc)
			rc = path_ring_posted(b);
		if (!rc)
			rc = path_irq(b, VPCIE_HOST_IRQ_MSI);
		if (!rc)
			rc = idle_cost(b);
		teardown_main_device(b);
	}
	/* Over TCP loopback, plain and with TLS (bench_net.c). */
	if (!rc)
		rc = run_net(b, false, false);
	if (!rc)
		rc = run_net(b, true, false);
	if (!rc)
		rc = run_net(b, true, true);
	if (!rc)
		rc = path_connect(b);
	for (size_t i = 0; !rc && i < nms; i++)
		rc = path_multi(b, ms[i]);

	if (spinner > 0)
		kid_end(spinner);
	b->p->seconds = (double)(vpcie_now_ns() - start) / 1e9;
	background(b->o.quick ? 100 : 500, &b->p->bg_after, &b->p->steal_after);
	if (b->o.progress)
		fprintf(stderr, "\r\033[K");
	if (g_stop)
		rc = -EINTR;
	return rc;
}

/* ---- Command -------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vpcie bench [options]\n"
		"Measure every host<->device path of libvpcie (MMIO, config space, DMA, interrupts,\n"
		"connection, many devices) against this machine's floors (AF_UNIX ping-pong,\n"
		"shared-memory spin, memcpy, eventfd) measured in the same run; print each figure\n"
		"with its ratio to the floor that waits the same way (polling, blocking, spinning).\n"
		"Paths named *.nopoll run with adaptive polling off on both sides; tcp.* and tls.*\n"
		"run over TCP loopback, plain and with TLS 1.3 (a pre-shared key), polling off;\n"
		"veth.tls.* the same across a veth pair into a network namespace (root, iproute2).\n\n"
		"  --quick           a few seconds: fewer iterations and sizes, targets not judged\n"
		"                    (CI smoke test)\n"
		"  --load[=MODE]     idle (default without --load), spinner (--load alone: keep one\n"
		"                    busy-looping process running), or both (two passes)\n"
		"  --json            print JSON on stdout instead of the table\n"
		"  --plot DIR        write latency/bandwidth PNGs (gnuplot) and their data to DIR\n"
		"  --only PATTERNS   comma-separated glob(s) or prefixes of result names,\n"
		"                    e.g. mmio.read.*,irq or dma.shm\n"
		"  --tcp             only the TCP and TLS paths (the same as --only tcp,tls,veth)\n"
		"  --iterations N    samples per latency measurement (default 20000, quick 500)\n"
		"  --no-pin          let the scheduler place processes (default: this process on\n"
		"                    one CPU, devices and floor peers on another)\n"
		"  --device PATH     vpcie-bench-device to run (default: $VPCIE_BENCH_DEVICE,\n"
		"                    next to vpcie, the build tree, then $PATH)\n"
		"  -h, --help        this help\n\n"
		"Every path warms up (at least 100 ms, quick 30 ms) before it is measured.\n"
		"Exit status: 0; 3 if a full run missed a target; 1 error; 2 usage; 130 interrupted.\n"
		"Methodology and the meaning of each result: docs/bench.md.\n");
}

int cmd_bench(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"load", optional_argument, NULL, 'l'},
		{"json", no_argument, NULL, 'j'},
		{"plot", required_argument, NULL, 'p'},
		{"only", required_argument, NULL, 'o'},
		{"iterations", required_argument, NULL, 'i'},
		{"device", required_argument, NULL, 'd'},
		{"no-pin", no_argument, NULL, 'n'},
		{"tcp", no_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct bench b;
	struct pass passes[2];
	struct sigaction sa;
	size_t np = 0;
	int c, rc = 0, status;

	memset(&b, 0, sizeof(b));
	memset(passes, 0, sizeof(passes));
	b.o.load = LOAD_IDLE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'q': b.o.quick = true; break;
		case 'l':
			if (!optarg || !strcmp(optarg, "spinner"))
				b.o.load = LOAD_SPIN;
			else if (!strcmp(optarg, "idle"))
				b.o.load = LOAD_IDLE;
			else if (!strcmp(optarg, "both"))
				b.o.load = LOAD_BOTH;
			else {
				fprintf(stderr, "vpcie bench: --load=%s: idle, spinner or both\n", optarg);
				return 2;
			}
			break;
		case 'j': b.o.json = true; break;
		case 'p': b.o.plot_dir = optarg; break;
		case 'o': b.o.only = optarg; break;
		case 'i': {
			char *end;

			b.o.iterations = strtol(optarg, &end, 0);
			if (*end || b.o.iterations < 1) {
				fprintf(stderr, "vpcie bench: --iterations: a positive number\n");
				return 2;
			}
			break;
		}
		case 'd': b.o.device = optarg; break;
		case 'n': b.o.no_pin = true; break;
		case 't': b.o.only = "tcp,tls,veth"; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	b.o.progress = isatty(STDERR_FILENO);
	pin_setup(!b.o.no_pin);
	b.lat_iters = b.o.iterations ? b.o.iterations : b.o.quick ? 500 : 20000;
	b.irq_iters = b.o.iterations ? b.o.iterations : b.o.quick ? 200 : 5000;
	b.conn_iters = b.o.iterations ? b.o.iterations : b.o.quick ? 30 : 500;
	b.posted_count = b.o.quick ? 20000 : 100000;
	b.posted_runs = b.o.quick ? 3 : 9;
	b.budget_ns = b.o.quick ? 150000000ull : 2500000000ull;
	b.dma_bytes = b.o.quick ? (16u << 20) : (256u << 20);
	b.warm = b.o.quick ? 20 : 200;
	b.warm_ns = b.o.quick ? 30000000ull : 100000000ull;
	{
		/* The polling floors poll as long as the runtime may: its cap. */
		struct vpcie_host_opts ho;

		vpcie_host_opts_defaults(&ho);
		b.poll_ns = (uint64_t)ho.poll_max_us * 1000u;
	}
	find_device(&b);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(b.tmp, sizeof(b.tmp), "/tmp/vpcie-bench-XXXXXX");
	if (!mkdtemp(b.tmp)) {
		perror("vpcie bench: mkdtemp");
		return 1;
	}
	if (b.o.load & LOAD_IDLE)
		passes[np++].load = "idle";
	if (b.o.load & LOAD_SPIN)
		passes[np++].load = "spinner";
	for (size_t i = 0; i < np && !rc; i++) {
		b.p = &passes[i];
		rc = run_pass(&b);
		if (rc < 0)
			teardown_main_device(&b); /* the other children go below */
	}
	if (b.veth)
		netns_teardown(&b); /* a pass that failed across the veth pair */
	kids_end_all();
	remove_tmp(b.tmp);
	b.p = NULL;

	if (rc == -EINTR || g_stop) {
		fprintf(stderr, "vpcie bench: interrupted\n");
		status = 130;
	} else if (rc < 0) {
		fprintf(stderr, "vpcie bench: failed: %s\n", strerror(-rc));
		status = 1;
	} else {
		status = 0;
	}
	if (!status) {
		if (b.o.json) {
			print_json(&b, passes, np);
		} else {
			printf("vpcie bench%s: device %s; ", b.o.quick ? " --quick" : "", b.devbin);
			if (g_pinned)
				printf("this process on CPU %d, devices and floor peers on CPU %d\n",
				       g_host_cpu, g_peer_cpu);
			else
				printf("placement left to the scheduler\n");
			for (size_t i = 0; i < np; i++)
				print_pass(&passes[i]);
		}
		if (b.o.plot_dir && write_plots(&b, passes, np) < 0)
			status = 1;
		if (!status && !b.o.quick && missed_targets(passes, np)) {
			fprintf(stderr, "vpcie bench: a target was MISSED (exit status 3)\n");
			status = 3;
		}
	}
	for (size_t i = 0; i < np; i++) {
		for (size_t k = 0; k < passes[i].n; k++)
			sm_free(&passes[i].r[k].s);
		free(passes[i].r);
	}
	return status;
}
