/* SPDX-License-Identifier: MIT */
/*
 * `vpcie daq`: the backend of vpcie-detector without a VM. Allocates each
 * channel's descriptor ring and buffers in host memory, starts the
 * detector(s), checks every frame (header always, CRC-32 unless --no-crc),
 * posts the buffers again, optionally writes the frames out, and reports.
 *
 * Waiting: by default the detector signals MSI-X vector 0 for every
 * channel, moderated (--irq-frames, --irq-usec); daq drains every channel
 * after each interrupt and waits again only when nothing was complete.
 * --poll busy-polls the rings instead (no interrupts). With several
 * devices daq waits on each in turn for at most 1 ms.
 *
 * The last line of the output is always
 *   frames N, lost N, corrupted N, R MB/s (P% of memcpy)
 * where memcpy is a single thread copying frames of the same size into the
 * same buffers, measured in the same run before and after streaming.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vpcie/cli.h>

#include "cmds.h"
#include "daq.h"

#define PROG "daq"

struct daq {
	struct daq_cfg cfg;
	struct daq_dev devs[DAQ_MAX_DEVS];
	unsigned ndev;
	const char *output;
	struct daq_out *out;
	bool json, progress;
	int stall_ms;
	uint64_t total_frames; /* --frames / --bytes, over all channels; 0: unlimited */
	double memcpy_mbs, crc_mbs;
	double memcpy_cpu_mbs; /* memcpy per second of CPU time */
	uint64_t t_start, t_end;
	/* Throughput is timed from the end of the warm-up: the first pass of
	 * the device over every ring (faulting the buffers into its mapping,
	 * ~100 us a page on a virtual machine's first touch), as the memcpy
	 * floor is timed with its pages faulted in. */
	uint64_t warm_bytes;   /* bytes of all rings */
	uint64_t t_warm, bytes_at_warm;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vpcie daq --socket S [--socket S2 ...] [options]\n"
		"Stream frames from vpcie-detector(s) into host memory, check every frame\n"
		"(header; CRC-32 unless --no-crc) and report frames/s, MB/s and losses.\n"
		"The last line reads: frames N, lost N, corrupted N, R MB/s (P%% of memcpy).\n\n"
		"  -S, --socket ADDR     a detector (repeat for several; one process drives all)\n"
		"  -n, --frames N        frames to receive over all channels (default: until ^C)\n"
		"  -b, --bytes SIZE      or that many bytes of frames (k/M/G suffixes)\n"
		"  -f, --frame-size SIZE bytes per frame, header included (default 64k)\n"
		"      --buf-size SIZE   bytes per buffer/descriptor (default: frame size up to\n"
		"                        1M; smaller than the frame size: scatter-gather)\n"
		"      --ring N          descriptors per channel (power of two; default: enough\n"
		"                        for 64 MiB of buffers, 64..65536)\n"
		"  -c, --channels N      channels per device (default: all it has)\n"
		"      --period NS       a frame every NS ns (default 0: free-running)\n"
		"      --pattern P       counter (default), prng or file\n"
		"      --seed N          PRNG seed\n"
		"      --irq-frames N    one interrupt per N frames (default: ring frames / 4)\n"
		"      --irq-usec N      or N us after a completion (default 100)\n"
		"      --poll            busy-poll the rings, no interrupts\n"
		"      --no-shared       host memory not shared: the device DMAs by messages\n"
		"      --no-crc          check headers only\n"
		"      --no-shadow       post by RING_TAIL writes only, not through the tail\n"
		"                        shadow in host memory (a doorbell per batch)\n"
		"  -o, --output PATH     write verified frames to a file, or a directory (one\n"
		"                        file per frame)\n"
		"      --stall MS        give up after MS ms without a frame (default 10000)\n"
		"      --json            a JSON summary line before the last line\n"
		"%s"
		"  -h, --help            this help\n",
		TOOL_CONN_HELP);
}

enum {
	OPT_BUF = 0x2000, OPT_RING, OPT_PERIOD, OPT_PATTERN, OPT_SEED, OPT_IRQ_FRAMES,
	OPT_IRQ_USEC, OPT_POLL, OPT_NO_SHARED, OPT_NO_CRC, OPT_NO_SHADOW, OPT_STALL, OPT_JSON,
};

static int bad(const char *opt, const char *arg)
{
	fprintf(stderr, "vpcie %s: bad %s '%s'\n", PROG, opt, arg);
	return TOOL_EXIT_USAGE;
}

static uint32_t pow2_ceil(uint64_t v)
{
	uint32_t p = 1;

	while (p < v && p < 65536)
		p <<= 1;
	return p;
}

static int parse_args(struct daq *q, struct tool_conn *conn, const char **sockets, int argc,
		      char **argv)
{
	static const struct option longopts[] = {
		TOOL_CONN_LONGOPTS,
		{"frames", required_argument, NULL, 'n'},
		{"bytes", required_argument, NULL, 'b'},
		{"frame-size", required_argument, NULL, 'f'},
		{"buf-size", required_argument, NULL, OPT_BUF},
		{"ring", required_argument, NULL, OPT_RING},
		{"channels", required_argument, NULL, 'c'},
		{"period", required_argument, NULL, OPT_PERIOD},
		{"pattern", required_argument, NULL, OPT_PATTERN},
		{"seed", required_argument, NULL, OPT_SEED},
		{"irq-frames", required_argument, NULL, OPT_IRQ_FRAMES},
		{"irq-usec", required_argument, NULL, OPT_IRQ_USEC},
		{"poll", no_argument, NULL, OPT_POLL},
		{"no-shared", no_argument, NULL, OPT_NO_SHARED},
		{"no-crc", no_argument, NULL, OPT_NO_CRC},
		{"no-shadow", no_argument, NULL, OPT_NO_SHADOW},
		{"output", required_argument, NULL, 'o'},
		{"stall", required_argument, NULL, OPT_STALL},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	uint64_t v, bytes = 0;
	bool irq_frames_set = false;
	unsigned u;
	int c;

	q->cfg = (struct daq_cfg){.frame_size = 65536, .irq_usec = 100, .shared = true,
				  .crc = true, .shadow = true, .pattern = DET_PAT_COUNTER};
	q->stall_ms = 10000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "S:n:b:f:c:o:h", longopts, NULL)) != -1) {
		if (c == 'S') {
			if (q->ndev == DAQ_MAX_DEVS) {
				fprintf(stderr, "vpcie %s: at most %u devices\n", PROG, DAQ_MAX_DEVS);
				return TOOL_EXIT_USAGE;
			}
			sockets[q->ndev++] = optarg;
			continue;
		}
		switch (tool_conn_option(conn, PROG, c, optarg)) {
		case 1: continue;
		case -1: return TOOL_EXIT_USAGE;
		}
		switch (c) {
		case 'n':
			if (vpcie_cli_parse_size(optarg, &q->total_frames) || !q->total_frames)
				return bad("--frames", optarg);
			break;
		case 'b':
			if (vpcie_cli_parse_size(optarg, &bytes) || !bytes)
				return bad("--bytes", optarg);
			break;
		case 'f':
			if (vpcie_cli_parse_size(optarg, &v) || v < DET_FRAME_MIN || v > DET_FRAME_MAX || v % 8)
				return bad("--frame-size (64..64M, a multiple of 8)", optarg);
			q->cfg.frame_size = (uint32_t)v;
			break;
		case OPT_BUF:
			if (vpcie_cli_parse_size(optarg, &v) || v < 64 || v > DET_FRAME_MAX || v % 8)
				return bad("--buf-size (64..64M, a multiple of 8)", optarg);
			q->cfg.buf_size = (uint32_t)v;
			break;
		case OPT_RING:
			if (tool_parse_uint(optarg, 0, 65536, &u) || !u || (u & (u - 1)))
				return bad("--ring (a power of two up to 65536)", optarg);
			q->cfg.ring_size = u;
			break;
		case 'c':
			if (tool_parse_uint(optarg, 0, DET_MAX_CHANNELS, &u) || !u)
				return bad("--channels", optarg);
			q->cfg.channels = u;
			break;
		case OPT_PERIOD:
			if (tool_parse_uint(optarg, 0, UINT32_MAX, &u))
				return bad("--period", optarg);
			q->cfg.period_ns = u;
			break;
		case OPT_PATTERN:
			if (!strcmp(optarg, "counter"))
				q->cfg.pattern = DET_PAT_COUNTER;
			else if (!strcmp(optarg, "prng"))
				q->cfg.pattern = DET_PAT_PRNG;
			else if (!strcmp(optarg, "file"))
				q->cfg.pattern = DET_PAT_FILE;
			else
				return bad("--pattern (counter, prng, file)", optarg);
			break;
		case OPT_SEED:
			if (tool_parse_uint(optarg, 0, UINT32_MAX, &u))
				return bad("--seed", optarg);
			q->cfg.seed = u;
			break;
		case OPT_IRQ_FRAMES:
			if (tool_parse_uint(optarg, 0, UINT32_MAX, &u))
				return bad("--irq-frames", optarg);
			q->cfg.irq_frames = u;
			irq_frames_set = true;
			break;
		case OPT_IRQ_USEC:
			if (tool_parse_uint(optarg, 0, UINT32_MAX, &u))
				return bad("--irq-usec", optarg);
			q->cfg.irq_usec = u;
			break;
		case OPT_POLL: q->cfg.poll = true; break;
		case OPT_NO_SHARED: q->cfg.shared = false; break;
		case OPT_NO_CRC: q->cfg.crc = false; break;
		case OPT_NO_SHADOW: q->cfg.shadow = false; break;
		case 'o': q->output = optarg; break;
		case OPT_STALL:
			if (tool_parse_uint(optarg, 0, 3600000, &u) || !u)
				return bad("--stall", optarg);
			q->stall_ms = (int)u;
			break;
		case OPT_JSON: q->json = true; break;
		case 'h': usage(stdout); return -1;
		default: return tool_bad_option(PROG, argv);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vpcie %s: unexpected argument '%s'\n", PROG, argv[optind]);
		return TOOL_EXIT_USAGE;
	}
	if (!q->ndev) {
		fprintf(stderr, "vpcie %s: --socket is required\n", PROG);
		return TOOL_EXIT_USAGE;
	}
	if (bytes && q->total_frames) {
		fprintf(stderr, "vpcie %s: --frames or --bytes, not both\n", PROG);
		return TOOL_EXIT_USAGE;
	}
	if (bytes)
		q->total_frames = (bytes + q->cfg.frame_size - 1) / q->cfg.frame_size;
	if (!q->cfg.buf_size)
		q->cfg.buf_size = q->cfg.frame_size < (1u << 20) ? q->cfg.frame_size : 1u << 20;
	if (!q->cfg.ring_size) {
		uint64_t segs = (q->cfg.frame_size + q->cfg.buf_size - 1) / q->cfg.buf_size;
		uint64_t want = (64ull << 20) / q->cfg.buf_size;

		if (want < 8 * segs)
			want = 8 * segs;
		if (want < 64)
			want = 64;
		q->cfg.ring_size = pow2_ceil(want);
	}
	if ((uint64_t)q->cfg.ring_size * q->cfg.buf_size < 2ull * q->cfg.frame_size) {
		fprintf(stderr, "vpcie %s: the ring's buffers must hold at least two frames\n", PROG);
		return TOOL_EXIT_USAGE;
	}
	if (!irq_frames_set) {
		uint64_t frames = (uint64_t)q->cfg.ring_size * q->cfg.buf_size / q->cfg.frame_size;

		q->cfg.irq_frames = frames / 4 ? (uint32_t)(frames / 4) : 1;
	}
	return 0;
}

/* Frames each channel is to produce: the total split evenly, the first
 * channels taking the remainder. */
static int split_frames(struct daq *q)
{
	unsigned nch = 0, k = 0;

	for (unsigned i = 0; i < q->ndev; i++)
		nch += q->devs[i].nch;
	for (unsigned i = 0; i < q->ndev; i++) {
		for (unsigned c = 0; c < q->devs[i].nch; c++, k++) {
			uint64_t n = q->total_frames ? q->total_frames / nch + (k < q->total_frames % nch)
						     : 0;

			if (n > UINT32_MAX) {
				fprintf(stderr, "vpcie %s: more than %u frames per channel\n", PROG,
					UINT32_MAX);
				return -1;
			}
			if (q->total_frames && !n)
				n = 1; /* fewer frames than channels: one each */
			q->devs[i].ch[c].limit = n;
		}
	}
	return 0;
}

struct totals {
	uint64_t frames, good, lost, corrupted, bytes, bad_desc, dma_err, irqs, doorbells;
	uint64_t dev_dropped, dev_bad_desc, dev_dma_err, dev_irqs;
};

static struct totals sum(const struct daq *q)
{
	struct totals t = {0};

	for (unsigned i = 0; i < q->ndev; i++) {
		const struct daq_dev *d = &q->devs[i];

		t.irqs += d->irq_events;
		for (unsigned c = 0; c < d->nch; c++) {
			const struct daq_chan *ch = &d->ch[c];

			t.frames += ch->r.frames;
			t.good += ch->r.good;
			t.lost += ch->r.lost;
			t.corrupted += ch->r.corrupted;
			t.bytes += ch->r.bytes;
			t.bad_desc += ch->r.bad_desc;
			t.dma_err += ch->r.dma_err;
			t.dev_dropped += ch->dev_dropped;
			t.dev_bad_desc += ch->dev_bad_desc;
			t.dev_dma_err += ch->dev_dma_err;
			t.dev_irqs += ch->dev_irqs;
			t.doorbells += ch->doorbells;
		}
	}
	return t;
}

static void show_progress(const struct daq *q, uint64_t t0, uint64_t *last_t, uint64_t *last_b,
			  uint64_t *last_f)
{
	uint64_t t = now_ns();
	struct totals s;
	double dt;

	if (t - *last_t < 500000000u)
		return;
	s = sum(q);
	dt = (double)(t - *last_t) / 1e9;
	fprintf(stderr, "\r%6.1f s  %10" PRIu64 " frames  %9.0f frames/s  %8.1f MB/s  lost %" PRIu64
		"  corrupted %" PRIu64 "   ", (double)(t - t0) / 1e9, s.frames,
		(double)(s.frames - *last_f) / dt, (double)(s.bytes - *last_b) / dt / 1e6, s.lost,
		s.corrupted);
	*last_t = t;
	*last_b = s.bytes;
	*last_f = s.frames;
}

/* A channel is done when every frame it was to produce is accounted for. */
static bool chan_done(struct daq_chan *ch)
{
	if (!ch->done && ch->limit && ch->r.expect >= ch->limit && !ch->r.in_frame)
		ch->done = true;
	return ch->done;
}

/* Drain every channel of d; returns the frames completed. */
static unsigned drain(struct daq *q, struct daq_dev *d)
{
	unsigned n = 0;

	(void)q;
	for (unsigned c = 0; c < d->nch; c++)
		n += daq_ring_consume(&d->ch[c].r, 4096);
	return n;
}

/* A channel whose device side stopped (FRAME_LIMIT reached, the last
 * frames dropped) and whose ring holds nothing complete is done too.
 * Returns whether one was found. */
static bool idle_check(struct daq *q)
{
	bool found = false;

	for (unsigned i = 0; i < q->ndev; i++) {
		struct daq_dev *d = &q->devs[i];

		for (unsigned c = 0; c < d->nch; c++) {
			struct daq_chan *ch = &d->ch[c];
			int err = 0;
			uint32_t sts;

			if (ch->done || !ch->limit)
				continue;
			sts = vpcie_host_bar_read32(d->h, 0, DET_CH_BASE(c) + DET_CH_STATUS, &err);
			if (err || (sts & DET_STS_RUNNING))
				continue;
			/* Stopped: whatever it completed is in the ring by now. */
			if (!daq_ring_consume(&ch->r, 1u << 20) && !ch->r.in_frame) {
				ch->done = true;
				found = true;
			}
		}
	}
	return found;
}

static int stream(struct daq *q)
{
	uint64_t last_frame = now_ns(), lt = last_frame, lb = 0, lf = 0;
	int rc = 0;

	q->t_start = now_ns();
	for (unsigned i = 0; i < q->ndev && !rc; i++)
		if (daq_dev_start(&q->devs[i], &q->cfg))
			rc = -1;
	while (!rc && !stop_flag) {
		unsigned got = 0, left = 0;

		for (unsigned i = 0; i < q->ndev; i++) {
			struct daq_dev *d = &q->devs[i];

			got += drain(q, d);
			for (unsigned c = 0; c < d->nch; c++)
				left += !chan_done(&d->ch[c]);
			if (daq_dev_post(d) || vpcie_host_poll(d->h, 0) < 0) {
				fprintf(stderr, "vpcie %s: %s: connection lost\n", PROG, d->socket);
				rc = -1;
			}
		}
		if (!left || rc)
			break;
		if (got) {
			last_frame = now_ns();
			if (!q->t_warm) {
				uint64_t b = sum(q).bytes;

				if (b >= q->warm_bytes) {
					q->t_warm = last_frame;
					q->bytes_at_warm = b;
				}
			}
		} else if (now_ns() - last_frame > 50000000u && idle_check(q)) {
			continue; /* channels that finished with their last frames dropped */
		} else if (now_ns() - last_frame > (uint64_t)q->stall_ms * 1000000u) {
			fprintf(stderr, "%svpcie %s: no frame for %d ms: giving up\n",
				q->progress ? "\n" : "", PROG, q->stall_ms);
			rc = -1;
			break;
		} else if (!q->cfg.poll) {
			int wait = q->ndev > 1 ? 1 : 100;

			for (unsigned i = 0; i < q->ndev; i++) {
				uint64_t ev = 0;
				int w = vpcie_host_irq_wait_events(q->devs[i].h, 0, wait, &ev);

				if (w == 0)
					q->devs[i].irq_events += ev;
				else if (w != -ETIMEDOUT) {
					rc = -1;
					break;
				}
			}
		}
		if (q->progress)
			show_progress(q, q->t_start, &lt, &lb, &lf);
		for (unsigned i = 0; i < q->ndev; i++)
			for (unsigned c = 0; c < q->devs[i].nch; c++)
				if (q->devs[i].ch[c].r.out_err) {
					fprintf(stderr, "vpcie %s: --output: %s\n", PROG,
						strerror(-q->devs[i].ch[c].r.out_err));
					rc = -1;
				}
	}
	q->t_end = now_ns();
	if (q->progress)
		fputc('\n', stderr);
	for (unsigned i = 0; i < q->ndev; i++) {
		if (daq_dev_stop(&q->devs[i]))
			rc = -1;
		q->devs[i].irq_events += vpcie_host_irq_take(q->devs[i].h, 0);
		/* Frames never seen of those asked for are lost. */
		for (unsigned c = 0; c < q->devs[i].nch; c++) {
			struct daq_chan *ch = &q->devs[i].ch[c];

			if (ch->limit && ch->r.expect < ch->limit)
				ch->r.lost += ch->limit - ch->r.expect;
		}
	}
	return rc;
}

static void report(struct daq *q)
{
	struct totals t = sum(q);
	double secs = (double)(q->t_end - q->t_start) / 1e9;
	double wsecs = q->t_warm ? (double)(q->t_end - q->t_warm) / 1e9 : 0;
	/* Timed after the warm-up if enough of the run came after it. */
	bool warmed = wsecs > 0 && t.bytes - q->bytes_at_warm >= q->bytes_at_warm;
	double mbs = warmed ? (double)(t.bytes - q->bytes_at_warm) / wsecs / 1e6
		     : secs > 0 ? (double)t.bytes / secs / 1e6 : 0;
	double pct = q->memcpy_mbs > 0 ? 100.0 * mbs / q->memcpy_mbs : 0;
	bool shared = true, shadow = true;

	for (unsigned i = 0; i < q->ndev; i++) {
		shared = shared && q->devs[i].shared;
		shadow = shadow && q->devs[i].shadow;
	}

	fprintf(stderr, "%u device%s, %u-byte frames in %u-byte buffers, ring %u, %s DMA, %s; "
		"%.3f s (timed %s), %.0f frames/s, %" PRIu64 " interrupts (%.0f/s), %" PRIu64
		" RING_TAIL writes (%s); device: dropped %" PRIu64
		", bad descriptors %" PRIu64 ", DMA errors %" PRIu64 "; memcpy %.0f MB/s, crc32 "
		"%.0f MB/s\n", q->ndev, q->ndev > 1 ? "s" : "", q->cfg.frame_size, q->cfg.buf_size,
		q->cfg.ring_size, shared ? "shared-memory" : "message", q->cfg.poll ? "polling"
		: "MSI-X", secs, warmed ? "after the warm-up pass" : "whole run", secs > 0 ? (double)t.frames / secs : 0, t.irqs,
		secs > 0 ? (double)t.irqs / secs : 0, t.doorbells,
		shadow ? "tail shadow" : "no shadow", t.dev_dropped, t.dev_bad_desc, t.dev_dma_err,
		q->memcpy_mbs, q->crc_mbs);
	if (q->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "devices", json_object_new_int((int)q->ndev));
		json_object_object_add(o, "frame_size", json_object_new_int64(q->cfg.frame_size));
		json_object_object_add(o, "buf_size", json_object_new_int64(q->cfg.buf_size));
		json_object_object_add(o, "ring", json_object_new_int64(q->cfg.ring_size));
		json_object_object_add(o, "shared", json_object_new_boolean(shared));
		json_object_object_add(o, "poll", json_object_new_boolean(q->cfg.poll));
		json_object_object_add(o, "crc", json_object_new_boolean(q->cfg.crc));
		json_object_object_add(o, "shadow", json_object_new_boolean(shadow));
		json_object_object_add(o, "doorbells", json_object_new_int64((int64_t)t.doorbells));
		json_object_object_add(o, "seconds", json_object_new_double(secs));
		json_object_object_add(o, "timed_after_warmup", json_object_new_boolean(warmed));
		json_object_object_add(o, "warmup_bytes", json_object_new_int64((int64_t)q->bytes_at_warm));
		json_object_object_add(o, "warmup_seconds",
				       json_object_new_double(q->t_warm ? (double)(q->t_warm - q->t_start) / 1e9 : 0));
		json_object_object_add(o, "frames", json_object_new_int64((int64_t)t.frames));
		json_object_object_add(o, "lost", json_object_new_int64((int64_t)t.lost));
		json_object_object_add(o, "corrupted", json_object_new_int64((int64_t)t.corrupted));
		json_object_object_add(o, "bytes", json_object_new_int64((int64_t)t.bytes));
		json_object_object_add(o, "mb_per_s", json_object_new_double(mbs));
		json_object_object_add(o, "frames_per_s",
				       json_object_new_double(secs > 0 ? (double)t.frames / secs : 0));
		json_object_object_add(o, "interrupts", json_object_new_int64((int64_t)t.irqs));
		json_object_object_add(o, "memcpy_mb_per_s", json_object_new_double(q->memcpy_mbs));
		json_object_object_add(o, "crc32_mb_per_s", json_object_new_double(q->crc_mbs));
		json_object_object_add(o, "memcpy_mb_per_cpu_s",
				       json_object_new_double(q->memcpy_cpu_mbs));
		json_object_object_add(o, "rejected_descriptors",
				       json_object_new_int64((int64_t)t.bad_desc));
		json_object_object_add(o, "dev_dropped", json_object_new_int64((int64_t)t.dev_dropped));
		json_object_object_add(o, "dev_bad_descriptors",
				       json_object_new_int64((int64_t)t.dev_bad_desc));
		json_object_object_add(o, "dev_dma_errors",
				       json_object_new_int64((int64_t)t.dev_dma_err));
		json_object_object_add(o, "dev_interrupts", json_object_new_int64((int64_t)t.dev_irqs));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
	printf("frames %" PRIu64 ", lost %" PRIu64 ", corrupted %" PRIu64 ", %.0f MB/s (%.0f%% of "
	       "memcpy)\n", t.frames, t.lost, t.corrupted, mbs, pct);
	fflush(stdout);
}

int cmd_daq(int argc, char **argv)
{
	struct tool_conn conn = TOOL_CONN_DEFAULTS;
	const char *sockets[DAQ_MAX_DEVS];
	struct daq *q = calloc(1, sizeof(*q));
	struct sigaction sa = {.sa_handler = on_signal};
	double mem[2 * DAQ_FLOOR_ROUNDS] = {0}, crc[2 * DAQ_FLOOR_ROUNDS] = {0};
	double memcpu[2 * DAQ_FLOOR_ROUNDS] = {0};
	struct totals t;
	int rc, ret = TOOL_EXIT_FAIL;

	if (!q) {
		fprintf(stderr, "vpcie %s: out of memory\n", PROG);
		return TOOL_EXIT_FAIL;
	}
	rc = parse_args(q, &conn, sockets, argc, argv);
	if (rc) {
		free(q);
		return rc < 0 ? 0 : rc;
	}
	q->progress = isatty(STDERR_FILENO);
	for (unsigned i = 0; i < q->ndev; i++) {
		q->devs[i].socket = sockets[i];
		conn.socket = sockets[i];
		if (daq_dev_open(&q->devs[i], i, &conn, &q->cfg))
			goto out;
	}
	if (split_frames(q))
		goto out;
	for (unsigned i = 0; i < q->ndev; i++)
		for (unsigned c = 0; c < q->devs[i].nch; c++)
			q->warm_bytes += (uint64_t)q->cfg.ring_size * q->cfg.buf_size;
	if (q->output) {
		q->out = daq_out_open(q->output, q->cfg.frame_size, q->cfg.buf_size);
		if (!q->out)
			goto out;
		for (unsigned i = 0; i < q->ndev; i++)
			for (unsigned c = 0; c < q->devs[i].nch; c++) {
				q->devs[i].ch[c].r.on_frame = daq_out_frame;
				q->devs[i].ch[c].r.opaque = q->out;
			}
	}
	/* The floors, before and after streaming: the load moves meanwhile. */
	daq_memcpy_floor(&q->devs[0], q->cfg.frame_size, mem, memcpu);
	if (q->cfg.crc)
		daq_crc_floor(&q->devs[0], q->cfg.frame_size, crc);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = stream(q);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	daq_memcpy_floor(&q->devs[0], q->cfg.frame_size, mem + DAQ_FLOOR_ROUNDS,
			 memcpu + DAQ_FLOOR_ROUNDS);
	q->memcpy_mbs = daq_median(mem, 2 * DAQ_FLOOR_ROUNDS);
	q->memcpy_cpu_mbs = daq_median(memcpu, 2 * DAQ_FLOOR_ROUNDS);
	if (q->cfg.crc) {
		daq_crc_floor(&q->devs[0], q->cfg.frame_size, crc + DAQ_FLOOR_ROUNDS);
		q->crc_mbs = daq_median(crc, 2 * DAQ_FLOOR_ROUNDS);
	}
	if (q->out && daq_out_close(q->out) < 0) {
		fprintf(stderr, "vpcie %s: --output: write failed\n", PROG);
		rc = -1;
	}
	q->out = NULL;
	report(q);
	t = sum(q);
	ret = rc || t.lost || t.corrupted ? TOOL_EXIT_FAIL : 0;
out:
	daq_out_close(q->out);
	for (unsigned i = 0; i < q->ndev; i++)
		daq_dev_close(&q->devs[i]);
	free(q);
	return ret;
}
