// SPDX-License-Identifier: MIT
/*
 * vdet-stream - the guest backend of vpcie-detector: streams frames from a
 * channel of the vpcie_detector driver (/dev/vdetD.C, ABI in
 * vpcie_detector.h), verifies every one (header, sequence, CRC-32, counter
 * payload) in place in the driver's buffers, gives the buffers back and
 * reports frames/s, MB/s, lost and corrupted frames. See --help and
 * docs/detector-driver.md.
 *
 * Built static for the guest by scripts/vm/test-detector.sh (zlib's crc32
 * linked in: the guest has no libz), and by meson for the host so CI compiles
 * it with every compiler and warning.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "detector_regs.h"
#include "vdet_check.h"
#include "vpcie_detector.h"

enum { EXIT_PASS = 0, EXIT_BAD = 1, EXIT_USAGE = 2, EXIT_GONE = 3 };

struct opts {
	const char *device;
	uint64_t frames;        /* stop after this many (0: no limit) */
	double seconds;         /* stop after this long (0: no limit) */
	double idle;            /* give up after this long without a frame */
	double progress;        /* progress line period (0: none) */
	unsigned batch;         /* records per read */
	bool device_limit;      /* FRAME_LIMIT = frames */
	bool verify;
	bool blocking;          /* blocking reads instead of poll + non-blocking reads */
	struct vdet_config cfg; /* fields left 0 keep the driver's value */
	bool set[16];
};

static volatile sig_atomic_t stop_signal;
static sigjmp_buf gone_jmp; /* SIGBUS: the device went away under the mapping */

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(gone_jmp, 1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vdet-stream [options]\n"
		"\n"
		"Streams frames from a vpcie_detector channel, verifies each one in place\n"
		"(magic, channel, header length, frame length, sequence, CRC-32, and the\n"
		"payload of the counter pattern), returns the buffers to the driver and\n"
		"prints a summary. Exit status: 0 every frame asked for arrived, none lost\n"
		"or corrupted; 1 otherwise; 2 usage or setup error; 3 the device went away.\n"
		"\n"
		"  -d, --device PATH    the channel's character device (default /dev/vdet0.0)\n"
		"  -n, --frames N       stop after N frames (default 10000; 0: no limit)\n"
		"  -t, --seconds S      stop after S seconds (default 0: no limit)\n"
		"      --device-limit   also tell the device to stop after N frames (FRAME_LIMIT)\n"
		"      --idle S         fail when no frame arrives for S seconds (default 20)\n"
		"      --progress S     a progress line on stderr every S seconds (default 0: none)\n"
		"      --batch N        completion records per read (default 256)\n"
		"      --no-verify      only count: do not look at the frames\n"
		"      --blocking       plain blocking reads, no poll (--idle and --seconds then\n"
		"                       only act when a read returns)\n"
		"Channel configuration (VDET_IOC_CONFIG; default: the driver's module parameters):\n"
		"      --frame-size N   bytes per frame, header included (multiple of 8)\n"
		"      --bufs N         frame buffers\n"
		"      --seg-size N     largest DMA segment (page multiple): larger frames are\n"
		"                       scatter-gathered over several descriptors\n"
		"      --irq-frames N   an interrupt per N frames (0: by time only)\n"
		"      --irq-usec N     an interrupt at most N us after a completion (0: off)\n"
		"      --period-ns N    ns between frames (default 0: free-running)\n"
		"      --pattern P      counter (default), prng or file\n"
		"      --seed N         PRNG seed\n"
		"  -h, --help           this text\n"
		"\n"
		"The last line is machine-readable:\n"
		"  VDET-SUMMARY frames=N lost=N corrupted=N reordered=N bytes=N seconds=S\n"
		"      fps=F mbps=F dev_frames=N dev_dropped=N dev_irqs=N drv_irqs=N end=WHY result=OK|FAIL\n"
		"(MB = 10^6 bytes; lost counts sequence numbers never received, corrupted\n"
		"frames failing any check; end is done, time, idle, signal or gone.)\n");
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || end == s || *end || s[0] == '-' ? -1 : 0;
}

static int parse_u32(const char *s, uint32_t *v)
{
	uint64_t x;

	if (parse_u64(s, &x) || x > UINT32_MAX)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

static int parse_double(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno || end == s || *end || *v < 0 ? -1 : 0;
}

enum { O_FRAME_SIZE, O_BUFS, O_SEG, O_IRQF, O_IRQU, O_PERIOD, O_PATTERN, O_SEED,
       O_LIMIT = 256, O_IDLE, O_PROGRESS, O_BATCH, O_NOVERIFY, O_BLOCKING };

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "frames", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "frame-size", required_argument, NULL, O_FRAME_SIZE },
		{ "bufs", required_argument, NULL, O_BUFS },
		{ "seg-size", required_argument, NULL, O_SEG },
		{ "irq-frames", required_argument, NULL, O_IRQF },
		{ "irq-usec", required_argument, NULL, O_IRQU },
		{ "period-ns", required_argument, NULL, O_PERIOD },
		{ "pattern", required_argument, NULL, O_PATTERN },
		{ "seed", required_argument, NULL, O_SEED },
		{ "device-limit", no_argument, NULL, O_LIMIT },
		{ "idle", required_argument, NULL, O_IDLE },
		{ "progress", required_argument, NULL, O_PROGRESS },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "no-verify", no_argument, NULL, O_NOVERIFY },
		{ "blocking", no_argument, NULL, O_BLOCKING },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t *field[] = {
		[O_FRAME_SIZE] = &o->cfg.frame_size, [O_BUFS] = &o->cfg.nbufs,
		[O_SEG] = &o->cfg.seg_size, [O_IRQF] = &o->cfg.irq_frames,
		[O_IRQU] = &o->cfg.irq_usec, [O_PERIOD] = &o->cfg.period_ns,
		[O_PATTERN] = &o->cfg.pattern, [O_SEED] = &o->cfg.seed,
	};
	int c;

	o->device = "/dev/vdet0.0";
	o->frames = 10000;
	o->idle = 20;
	o->batch = 256;
	o->verify = true;
	while ((c = getopt_long(argc, argv, "d:n:t:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->device = optarg;
			break;
		case 'n':
			if (parse_u64(optarg, &o->frames))
				goto bad;
			break;
		case 't':
			if (parse_double(optarg, &o->seconds))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_PASS);
		case O_PATTERN:
			o->set[O_PATTERN] = true;
			if (!strcmp(optarg, "counter"))
				o->cfg.pattern = DET_PAT_COUNTER;
			else if (!strcmp(optarg, "prng"))
				o->cfg.pattern = DET_PAT_PRNG;
			else if (!strcmp(optarg, "file"))
				o->cfg.pattern = DET_PAT_FILE;
			else
				goto bad;
			break;
		case O_FRAME_SIZE: case O_BUFS: case O_SEG: case O_IRQF: case O_IRQU:
		case O_PERIOD: case O_SEED:
			if (parse_u32(optarg, field[c]))
				goto bad;
			o->set[c] = true;
			break;
		case O_LIMIT:
			o->device_limit = true;
			break;
		case O_IDLE:
			if (parse_double(optarg, &o->idle) || o->idle <= 0)
				goto bad;
			break;
		case O_PROGRESS:
			if (parse_double(optarg, &o->progress))
				goto bad;
			break;
		case O_BATCH:
			if (parse_u32(optarg, &o->batch) || !o->batch || o->batch > VDET_MAX_BUFS)
				goto bad;
			break;
		case O_NOVERIFY:
			o->verify = false;
			break;
		case O_BLOCKING:
			o->blocking = true;
			break;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vdet-stream: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -1;
	}
	if (o->device_limit && (!o->frames || o->frames > UINT32_MAX)) {
		fprintf(stderr, "vdet-stream: --device-limit needs --frames 1..%u\n", UINT32_MAX);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "vdet-stream: bad value '%s' (see --help)\n", optarg);
	return -1;
}

static int setup(int fd, const struct opts *o, struct vdet_info *info)
{
	struct vdet_config cfg;

	if (ioctl(fd, VDET_IOC_INFO, info) < 0) {
		fprintf(stderr, "vdet-stream: VDET_IOC_INFO: %s\n", strerror(errno));
		return -1;
	}
	if (info->abi_version != VDET_ABI_VERSION) {
		fprintf(stderr, "vdet-stream: driver ABI %u, expected %u\n", info->abi_version,
			VDET_ABI_VERSION);
		return -1;
	}
	cfg = info->config;
	if (o->set[O_FRAME_SIZE]) cfg.frame_size = o->cfg.frame_size;
	if (o->set[O_BUFS]) cfg.nbufs = o->cfg.nbufs;
	if (o->set[O_SEG]) cfg.seg_size = o->cfg.seg_size;
	if (o->set[O_IRQF]) cfg.irq_frames = o->cfg.irq_frames;
	if (o->set[O_IRQU]) cfg.irq_usec = o->cfg.irq_usec;
	if (o->set[O_PERIOD]) cfg.period_ns = o->cfg.period_ns;
	if (o->set[O_PATTERN]) cfg.pattern = o->cfg.pattern;
	if (o->set[O_SEED]) cfg.seed = o->cfg.seed;
	cfg.frame_limit = o->device_limit ? (uint32_t)o->frames : 0;
	if (ioctl(fd, VDET_IOC_CONFIG, &cfg) < 0) {
		fprintf(stderr, "vdet-stream: VDET_IOC_CONFIG (frame %u, %u buffers, segment %u): %s\n",
			cfg.frame_size, cfg.nbufs, cfg.seg_size, strerror(errno));
		return -1;
	}
	info->config = cfg;
	return 0;
}

static void summary(const struct vdet_tally *t, double t_first, double t_last,
		    const struct vdet_stats *st, bool have_st, const char *end, bool ok)
{
	double secs = t->frames > 1 ? t_last - t_first : 0;
	/* frames after the first, over the time from the first to the last */
	double fps = secs > 0 ? (double)(t->frames - 1) / secs : 0;
	double mbps = t->frames ? fps * (double)t->bytes / (double)t->frames / 1e6 : 0;

	printf("vdet-stream: %" PRIu64 " frames, %" PRIu64 " lost, %" PRIu64 " corrupted "
	       "(status %" PRIu64 ", length %" PRIu64 ", header %" PRIu64 ", crc %" PRIu64
	       ", payload %" PRIu64 "), %" PRIu64 " reordered; %.0f frames/s, %.1f MB/s\n",
	       t->frames, t->lost, t->corrupted, t->bad_status, t->len_bad, t->hdr_bad, t->crc_bad,
	       t->payload_bad, t->reordered, fps, mbps);
	printf("VDET-SUMMARY frames=%" PRIu64 " lost=%" PRIu64 " corrupted=%" PRIu64
	       " reordered=%" PRIu64 " bytes=%" PRIu64 " seconds=%.3f fps=%.0f mbps=%.2f"
	       " dev_frames=%" PRIu64 " dev_dropped=%" PRIu64 " dev_irqs=%" PRIu64
	       " drv_irqs=%" PRIu64 " end=%s result=%s\n",
	       t->frames, t->lost, t->corrupted, t->reordered, t->bytes, secs, fps, mbps,
	       (uint64_t)(have_st ? st->frames : 0), (uint64_t)(have_st ? st->dropped : 0),
	       (uint64_t)(have_st ? st->irqs : 0), (uint64_t)(have_st ? st->drv_irqs : 0), end, ok ? "OK" : "FAIL");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct vdet_info info;
	struct vdet_completion *recs;
	struct vdet_stats st = { 0 };
	/* static: intact after a siglongjmp from the SIGBUS handler */
	static struct vdet_tally t;
	static struct vdet_expect ex;
	static double t_first, t_last;
	static const char *end = "done";
	static bool gone, have_st;
	uint32_t *back;
	uint8_t *map;
	double t0, last_frame, next_progress;
	bool ok;
	int fd;

	if (parse_args(argc, argv, &o))
		return EXIT_USAGE;
	fd = open(o.device, O_RDWR | O_CLOEXEC | (o.blocking ? 0 : O_NONBLOCK));
	if (fd < 0) {
		fprintf(stderr, "vdet-stream: %s: %s\n", o.device, strerror(errno));
		return errno == ENODEV || errno == ENXIO ? EXIT_GONE : EXIT_USAGE;
	}
	if (setup(fd, &o, &info))
		return EXIT_USAGE;
	map = mmap(NULL, info.config.mmap_size, PROT_READ, MAP_SHARED, fd, 0);
	recs = calloc(o.batch, sizeof(*recs));
	back = calloc(o.batch, sizeof(*back));
	if (map == MAP_FAILED || !recs || !back) {
		fprintf(stderr, "vdet-stream: mmap of %llu bytes: %s\n",
			(unsigned long long)info.config.mmap_size, strerror(errno));
		return EXIT_USAGE;
	}
	ex.frame_size = info.config.frame_size;
	ex.channel = info.channel;
	ex.verify = o.verify;
	if (o.verify && info.config.pattern == DET_PAT_COUNTER &&
	    !(ex.counter = vdet_counter_payload(info.config.frame_size)))
		return EXIT_USAGE;
	fprintf(stderr, "vdet-stream: %s: device %u channel %u/%u (MSI-X vector %u of %u), "
		"%u buffers of %u bytes, %u descriptor(s) each, ring %u, irq per %u frames / %u us, "
		"period %u ns, pattern %u\n",
		o.device, info.device, info.channel, info.channels, info.irq_vector, info.irq_vectors,
		info.config.nbufs, info.config.frame_size, info.config.nsegs, info.config.ring_size,
		info.config.irq_frames, info.config.irq_usec, info.config.period_ns, info.config.pattern);

	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: poll returns */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* After an unbind the mapping is gone: a frame being checked then raises
	 * SIGBUS (vpcie_detector.h), which ends the stream as "gone". */
	struct sigaction sb = { .sa_handler = on_sigbus };
	sigaction(SIGBUS, &sb, NULL);
	if (sigsetjmp(gone_jmp, 1)) {
		gone = true;
		end = "gone";
		goto out;
	}

	if (ioctl(fd, VDET_IOC_START) < 0) {
		fprintf(stderr, "vdet-stream: VDET_IOC_START: %s\n", strerror(errno));
		return errno == ENODEV ? EXIT_GONE : EXIT_USAGE;
	}
	t0 = last_frame = now_s();
	next_progress = t0 + o.progress;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double tn;
		ssize_t r;
		size_t n, k = 0;

		if (o.frames && t.frames >= o.frames)
			break;
		if (stop_signal) {
			end = "signal";
			break;
		}
		tn = now_s();
		if (o.seconds > 0 && tn - t0 >= o.seconds) {
			end = "time";
			break;
		}
		if (tn - last_frame >= o.idle) {
			end = "idle";
			break;
		}
		if (o.progress > 0 && tn >= next_progress) {
			double dt = tn - t0;

			fprintf(stderr, "vdet-stream: %.1f s: %" PRIu64 " frames (%.0f/s, %.1f MB/s), "
				"%" PRIu64 " lost, %" PRIu64 " corrupted\n", dt, t.frames,
				(double)t.frames / dt, (double)t.bytes / dt / 1e6, t.lost, t.corrupted);
			next_progress += o.progress;
		}
		r = read(fd, recs, o.batch * sizeof(*recs));
		if (r < 0 && errno == EAGAIN) {
			if (poll(&p, 1, 200) < 0 && errno != EINTR) {
				fprintf(stderr, "vdet-stream: poll: %s\n", strerror(errno));
				break;
			}
			if (p.revents & (POLLERR | POLLHUP)) {
				gone = true;
				end = "gone";
				break;
			}
			continue;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			gone = errno == ENODEV;
			end = gone ? "gone" : "error";
			fprintf(stderr, "vdet-stream: read: %s\n", strerror(errno));
			break;
		}
		if (r == 0) {
			end = "stopped";
			break;
		}
		n = (size_t)r / sizeof(*recs);
		tn = now_s();
		if (!t.frames)
			t_first = tn;
		t_last = last_frame = tn;
		for (size_t i = 0; i < n; i++) {
			const struct vdet_completion *c = &recs[i];

			if (c->index >= info.config.nbufs) {
				t.corrupted++; /* the driver would never say this */
				continue;
			}
			if (!o.frames || t.frames < o.frames)
				vdet_check_frame(&t, &ex, c,
						 map + (size_t)c->index * info.config.buf_stride);
			back[k++] = c->index;
		}
		if (k && write(fd, back, k * sizeof(*back)) < 0) {
			gone = errno == ENODEV;
			end = gone ? "gone" : "error";
			fprintf(stderr, "vdet-stream: write: %s\n", strerror(errno));
			break;
		}
	}
out:
	if (!gone && ioctl(fd, VDET_IOC_STATS, &st) == 0)
		have_st = true;
	if (!gone)
		ioctl(fd, VDET_IOC_STOP);
	ok = !gone && (!o.frames || t.frames >= o.frames) && !t.lost && !t.corrupted &&
	     !t.reordered && (o.frames || t.frames > 0);
	summary(&t, t_first, t_last, &st, have_st, end, ok);
	munmap(map, info.config.mmap_size);
	close(fd);
	free((void *)ex.counter);
	free(recs);
	free(back);
	return gone ? EXIT_GONE : ok ? EXIT_PASS : EXIT_BAD;
}
