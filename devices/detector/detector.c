/* SPDX-License-Identifier: MIT */
/*
 * vpcie-detector: a frame-streaming DMA engine as a vfio-user device
 * (issue 14; datasheet: docs/detector.md, registers: detector_regs.h).
 *
 * One process is one PCIe function, i.e. one link to one host, with
 * --channels independent channels (a ring, a frame clock, counters and an
 * MSI-X vector each). A detector with several links to several hosts is
 * several processes, one per link, each with its own --socket: as with
 * separate boards, nothing is shared between them but the frame file.
 *
 * BAR0 (64-bit, 32 KiB): registers (callbacks into det_engine.c), then the
 * MSI-X table and PBA served by the runtime. The engine runs from a timer:
 * each turn places frames for up to DET_TURN_NS, then returns to the event
 * loop so the host's messages are served between batches (turns follow one
 * another directly while no message waits); a register write schedules a
 * turn at once (doorbell, start).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vpcie/cli.h>
#include <vpcie/device.h>

#include "det_engine.h"
#include "detector_regs.h"

/* Longest engine turn before the event loop gets the CPU back. */
#define DET_TURN_NS 1000000u
/* Turns run back to back while no message or event waits, before the timer
 * path (other timers of the runtime only run between such runs). */
#define DET_TURNS_MAX 8u

struct detector {
	struct vpcie_dev *dev;
	struct vpcie_logger *lg;
	struct det_engine eng;
	struct det_file file;
	struct vpcie_timer *work;
	uint64_t turns, turn_ns; /* engine turns and the time spent in them */
	uint64_t cpu_at_connect; /* process CPU time when the client came */
};

/* ---- The engine's view of the host --------------------------------------- */

static void *io_ptr(void *ctx, uint64_t addr, size_t len, bool write)
{
	return vpcie_dev_dma_ptr(((struct detector *)ctx)->dev, addr, len, write);
}

static int io_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return vpcie_dev_dma_read(((struct detector *)ctx)->dev, addr, buf, len);
}

static int io_write(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	return vpcie_dev_dma_write(((struct detector *)ctx)->dev, addr, buf, len);
}

static int io_irq(void *ctx, unsigned vec)
{
	return vpcie_dev_irq_raise(((struct detector *)ctx)->dev, vec);
}

static uint64_t io_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const struct det_io det_io = {io_ptr, io_read, io_write, io_irq, io_now};

/* ---- Engine turns ---------------------------------------------------------- */

static uint64_t cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void work(struct vpcie_dev *dev, void *opaque);

static void schedule(struct detector *d, uint64_t delay_ns)
{
	if (d->work)
		vpcie_dev_timer_arm(d->work, delay_ns, 0);
	else
		d->work = vpcie_dev_timer_add(d->dev, delay_ns, 0, work, d);
	if (!d->work)
		vpcie_err(d->lg, "cannot schedule the engine");
}

static void work(struct vpcie_dev *dev, void *opaque)
{
	struct detector *d = opaque;
	uint64_t next, t;

	/*
	 * Another turn at once while nothing waits for the event loop (no
	 * message, no fd ready): re-arming the timer costs two system calls
	 * and, on an idle vCPU, a blocking wake-up (~80 us here) per turn.
	 */
	for (unsigned k = 0;; k++) {
		struct pollfd pfd = {.fd = vpcie_dev_fd(dev), .events = POLLIN};

		d->turns++;
		t = io_now(NULL);
		next = det_engine_run(&d->eng, DET_TURN_NS);
		d->turn_ns += io_now(NULL) - t;
		if (next != DET_RUN_NOW || k + 1 >= DET_TURNS_MAX || vpcie_dev_has_work(dev) ||
		    poll(&pfd, 1, 0) != 0)
			break;
	}
	if (next == DET_RUN_NEVER)
		return; /* one-shot timer: idle until a register write */
	t = io_now(NULL);
	schedule(d, next > t ? next - t : 0);
}

/* ---- BAR0 ------------------------------------------------------------------ */

static bool reg_range(uint64_t off, size_t len)
{
	return off < DET_MSIX_TABLE && len <= DET_MSIX_TABLE - off;
}

static int bar0_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct detector *d = opaque;
	uint8_t *out = buf;

	(void)dev;
	if (!reg_range(off, len))
		return -EINVAL;
	/* Any size (a dump reads bytes): assembled from the 32-bit registers. */
	for (size_t i = 0; i < len;) {
		uint32_t o = (uint32_t)(off + i), v = det_reg_read(&d->eng, o & ~3u);
		size_t skip = o & 3u, n = 4 - skip < len - i ? 4 - skip : len - i;

		for (size_t k = 0; k < n; k++)
			out[i + k] = (uint8_t)(v >> (8 * (skip + k)));
		i += n;
	}
	return 0;
}

static int bar0_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf,
		      size_t len)
{
	struct detector *d = opaque;
	const uint8_t *in = buf;

	(void)dev;
	if (!reg_range(off, len) || (off & 3) || (len != 4 && len != 8)) {
		vpcie_warn(d->lg, "BAR0 write of %zu bytes at 0x%" PRIx64 " ignored", len, off);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i += 4)
		det_reg_write(&d->eng, (uint32_t)(off + i),
			      (uint32_t)in[i] | (uint32_t)in[i + 1] << 8 |
				      (uint32_t)in[i + 2] << 16 | (uint32_t)in[i + 3] << 24);
	/* The engine runs after this write is answered (a doorbell, a start). */
	schedule(d, 0);
	return 0;
}

static void on_reset(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind)
{
	struct detector *d = opaque;

	(void)dev;
	vpcie_dbg(d->lg, "%s reset", kind == VPCIE_RESET_FLR ? "function level" : "device");
	det_engine_power_on(&d->eng);
}

static void on_connect(struct vpcie_dev *dev, void *opaque)
{
	struct detector *d = opaque;

	(void)dev;
	d->cpu_at_connect = cpu_now();
}

static void on_disconnect(struct vpcie_dev *dev, void *opaque)
{
	struct detector *d = opaque;
	uint64_t bytes = 0, cpu;

	(void)dev;
	for (unsigned i = 0; i < d->eng.nch; i++) {
		const struct det_chan *c = &d->eng.ch[i];

		bytes += c->bytes;
		vpcie_info(d->lg, "channel %u: %" PRIu64 " frames, %" PRIu64 " bytes, %" PRIu64
			   " dropped, %" PRIu64 " DMA errors, %" PRIu64 " bad descriptors, %" PRIu64
			   " interrupts", i, c->frames, c->bytes, c->dropped, c->dma_err,
			   c->bad_desc, c->irqs);
	}
	/* The device's own speed, whatever CPU share the scheduler gave it:
	 * bytes per second of the whole process's CPU time while this client
	 * was connected (engine, messages, event loop). */
	cpu = cpu_now() - d->cpu_at_connect;
	if (d->turn_ns && cpu)
		vpcie_info(d->lg, "engine: %" PRIu64 " turns, %.3f s, %.0f MB/s while running; "
			   "device CPU %.3f s, %.0f MB/s of CPU time", d->turns,
			   (double)d->turn_ns / 1e9, (double)bytes * 1e3 / (double)d->turn_ns,
			   (double)cpu / 1e9, (double)bytes * 1e3 / (double)cpu);
	d->turns = d->turn_ns = 0;
	det_engine_stop_all(&d->eng);
}

/* ---- Options --------------------------------------------------------------- */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s --socket PATH [options]\n"
		"A frame-streaming DMA engine (docs/detector.md): each channel writes frames\n"
		"(header, payload, CRC-32) into buffers the host posts on a descriptor ring.\n"
		"One process is one PCIe function (one link to one host); run one process per\n"
		"link for a detector with several links.\n\n"
		"      --channels N       channels, 1..%u (default 1), one MSI-X vector each\n"
		"      --frame-file FILE  payloads for the FILE pattern (cut into frame-size\n"
		"                         pieces, used in turn)\n"
		"  -h, --help             this help\n",
		prog, DET_MAX_CHANNELS);
	vpcie_cli_usage(f);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		VPCIE_CLI_LONGOPTS,
		{"channels", required_argument, NULL, 'c'},
		{"frame-file", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	static const struct vpcie_bar_ops bar0_ops = {bar0_read, bar0_write};
	struct vpcie_ids ids = {
		.vendor = DET_VENDOR_ID, .device = DET_DEVICE_ID,
		.subsys_vendor = DET_VENDOR_ID, .subsys = DET_DEVICE_ID,
		.class_code = DET_CLASS, .revision = DET_REVISION,
	};
	const struct vpcie_dev_ops ops = {.reset = on_reset, .connect = on_connect,
					  .disconnect = on_disconnect};
	struct detector d = {0};
	struct vpcie_dev_opts opts;
	struct vpcie_cli cli;
	const char *frame_file = NULL;
	unsigned long nch = 1;
	char *end;
	int c, rc;

	vpcie_dev_opts_defaults(&opts);
	opts.name = "vpcie-detector";
	opts.max_data_xfer_size = 4u << 20;
	vpcie_cli_init(&cli, opts.name);
	while ((c = getopt_long(argc, argv, VPCIE_CLI_SHORTOPTS "h", longopts, NULL)) != -1) {
		switch (vpcie_cli_option(&cli, &opts, c, optarg)) {
		case 1: continue;
		case -1: return 2;
		}
		switch (c) {
		case 'c':
			errno = 0;
			nch = strtoul(optarg, &end, 0);
			if (errno || *end || end == optarg || !nch || nch > DET_MAX_CHANNELS) {
				fprintf(stderr, "vpcie-detector: --channels takes 1..%u\n",
					DET_MAX_CHANNELS);
				return 2;
			}
			break;
		case 'F': frame_file = optarg; break;
		case 'h': usage(stdout, argv[0]); return 0;
		default: usage(stderr, argv[0]); return 2;
		}
	}
	if (vpcie_cli_finish(&cli, argc - optind))
		return 2;
	if (frame_file) {
		rc = det_file_load(&d.file, frame_file);
		if (rc) {
			fprintf(stderr, "vpcie-detector: %s: %s\n", frame_file, strerror(-rc));
			return 1;
		}
	}
	d.dev = vpcie_dev_new(&ids, &ops, &d, &opts);
	if (!d.dev) {
		perror("vpcie-detector: vpcie_dev_new");
		det_file_free(&d.file);
		return 1;
	}
	d.lg = vpcie_dev_logger(d.dev);
	det_engine_init(&d.eng, (unsigned)nch, &det_io, &d, d.lg, frame_file ? &d.file : NULL);
	rc = vpcie_dev_set_bar(d.dev, 0, &(struct vpcie_bar_desc){
		.size = DET_BAR0_SIZE, .kind = VPCIE_BAR_MEM64, .ops = &bar0_ops, .opaque = &d});
	if (!rc && (vpcie_dev_add_pm(d.dev) < 0 || vpcie_dev_add_pcie(d.dev, true) < 0 ||
		    vpcie_dev_add_msix(d.dev, (unsigned)nch, 0, DET_MSIX_TABLE, 0,
				       DET_MSIX_PBA) < 0))
		rc = -EINVAL;
	if (rc) {
		fprintf(stderr, "vpcie-detector: device setup failed (%d)\n", rc);
		vpcie_dev_free(d.dev);
		det_engine_free(&d.eng);
		det_file_free(&d.file);
		return 1;
	}
	vpcie_info(d.lg, "%04x:%04x, %lu channel%s%s%s", DET_VENDOR_ID, DET_DEVICE_ID, nch,
		   nch > 1 ? "s" : "", frame_file ? ", frame file " : "",
		   frame_file ? frame_file : "");
	rc = vpcie_dev_serve(d.dev, cli.socket, cli.fd);
	vpcie_dbg(d.lg, "%" PRIu64 " engine turns", d.turns);
	vpcie_dev_free(d.dev);
	det_engine_free(&d.eng);
	det_file_free(&d.file);
	return rc ? 1 : 0;
}
