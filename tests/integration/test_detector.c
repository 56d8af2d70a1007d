/* SPDX-License-Identifier: MIT */
/*
 * vpcie-detector driven by the host runtime, frames checked by the same
 * consumer as `vpcie daq` (tools/vpcie/daq_ring.c): every frame in order
 * with a valid CRC at sizes from 64 bytes to 4 MiB (scatter-gather across
 * descriptors, frames straddling the ring's wrap) and several moderation
 * settings, exact interrupt counts; buffer starvation (drops counted, the
 * stream recovers); stop/start/reset mid-stream; hostile descriptors and
 * registers rejected and counted while the device keeps serving; the PRNG
 * and file patterns; the tail shadow (posting without doorbells, the IDLE
 * handshake, hostile shadow values); two channels at once; shared memory
 * and message DMA.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vpcie/host.h>

#include "daq_ring.h"
#include "det_pattern.h"
#include "detector_regs.h"

#define NCH 2u
#define IOVA(c) (0x100000000ull + (uint64_t)(c) * 0x100000000ull)
#define OUTSIDE 0x7000000000ull  /* nothing registered here */
#define FILE_SIZE 40000u         /* the frame file: not a multiple of the payloads */
#define WAIT_MS 20000

static const char *prog;

struct fx {
	char dir[64], sock[96], file[96];
	pid_t pid;
	bool shared;
	struct vpcie_host *h;
	struct vpcie_host_mem *mem[NCH];
	struct daq_ring r[NCH];
	uint8_t file_data[FILE_SIZE];
};

/* ---- Fixture -------------------------------------------------------------- */

static int setup_mode(void **state, bool shared)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vpcie_host_opts o;
	char nch[8];
	int err = 0, fd;

	assert_non_null(f);
	f->shared = shared;
	strcpy(f->dir, "/tmp/vpcie-det-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/det.sock", f->dir);
	snprintf(f->file, sizeof(f->file), "%s/frames.bin", f->dir);
	for (size_t i = 0; i < FILE_SIZE; i++)
		f->file_data[i] = (uint8_t)(i * 7 + (i >> 8));
	fd = open(f->file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, f->file_data, FILE_SIZE), FILE_SIZE);
	close(fd);
	snprintf(nch, sizeof(nch), "%u", NCH);
	f->pid = fork();
	if (f->pid == 0) {
		execl(prog, prog, "--socket", f->sock, "--channels", nch, "--frame-file", f->file,
		      (char *)NULL);
		_exit(127);
	}
	vpcie_host_opts_defaults(&o);
	o.timeout_ms = WAIT_MS;
	f->h = vpcie_host_open(f->sock, &o, &err);
	assert_non_null(f->h);
	assert_int_equal(vpcie_host_assign_bars(f->h, 0x80000000ull, 0x1000), 0);
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSIX, NCH), (int)NCH);
	*state = f;
	return 0;
}

static int setup_shared(void **state) { return setup_mode(state, true); }
static int setup_msg(void **state) { return setup_mode(state, false); }

static int teardown(void **state)
{
	struct fx *f = *state;
	int status = 0;

	for (unsigned c = 0; c < NCH; c++) {
		daq_ring_free(&f->r[c]);
		if (f->mem[c])
			vpcie_host_mem_free(f->mem[c]);
	}
	vpcie_host_close(f->h);
	kill(f->pid, SIGTERM);
	waitpid(f->pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unlink(f->file);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- Registers and rings -------------------------------------------------- */

static void wr(struct fx *f, unsigned c, uint32_t reg, uint32_t v)
{
	assert_int_equal(vpcie_host_bar_write32(f->h, 0, DET_CH_BASE(c) + reg, v), 0);
}

static uint32_t rd(struct fx *f, unsigned c, uint32_t reg)
{
	int err = 0;
	uint32_t v = vpcie_host_bar_read32(f->h, 0, DET_CH_BASE(c) + reg, &err);

	assert_int_equal(err, 0);
	return v;
}

static uint64_t rd64(struct fx *f, unsigned c, uint32_t lo)
{
	return (uint64_t)rd(f, c, lo + 4) << 32 | rd(f, c, lo);
}

struct cfg {
	uint32_t frame, buf, ring, irq_frames, irq_usec, period, pattern, limit;
};

/* Lay out channel c's ring in fresh memory and program the channel. */
static void ring_setup(struct fx *f, unsigned c, const struct cfg *k)
{
	size_t size = daq_ring_mem_size(k->ring, k->buf);

	daq_ring_free(&f->r[c]);
	if (f->mem[c])
		vpcie_host_mem_free(f->mem[c]);
	f->mem[c] = vpcie_host_mem_alloc(f->h, size, IOVA(c), f->shared ? VPCIE_HOST_MEM_SHARED : 0);
	assert_non_null(f->mem[c]);
	assert_int_equal(daq_ring_init(&f->r[c], vpcie_host_mem_ptr(f->mem[c]), IOVA(c), k->ring,
				       k->buf, k->frame, (uint16_t)c, true), 0);
	wr(f, c, DET_CH_CTRL, DET_CTRL_RESET);
	wr(f, c, DET_CH_FRAME_SIZE, k->frame);
	wr(f, c, DET_CH_PERIOD_NS, k->period);
	wr(f, c, DET_CH_PATTERN, k->pattern);
	wr(f, c, DET_CH_SEED, 1234);
	wr(f, c, DET_CH_FRAME_LIMIT, k->limit);
	wr(f, c, DET_CH_RING_LO, (uint32_t)IOVA(c));
	wr(f, c, DET_CH_RING_HI, (uint32_t)(IOVA(c) >> 32));
	wr(f, c, DET_CH_RING_SIZE, k->ring);
	wr(f, c, DET_CH_IRQ_FRAMES, k->irq_frames);
	wr(f, c, DET_CH_IRQ_USEC, k->irq_usec);
	wr(f, c, DET_CH_IRQ_VECTOR, c);
}

/* A fresh ring in the same memory (after a reset). */
static void ring_reinit(struct fx *f, unsigned c, const struct cfg *k)
{
	uint8_t *mem = vpcie_host_mem_ptr(f->mem[c]);

	daq_ring_free(&f->r[c]);
	assert_int_equal(daq_ring_init(&f->r[c], mem, IOVA(c), k->ring, k->buf, k->frame,
				       (uint16_t)c, true), 0);
}

/* The shadow too (host memory only; read if DET_CH_SHADOW is set): it
 * never lags behind RING_TAIL. */
static void post(struct fx *f, unsigned c)
{
	daq_ring_publish(&f->r[c], daq_ring_tail(&f->r[c]));
	wr(f, c, DET_CH_RING_TAIL, daq_ring_tail(&f->r[c]));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Consume (and repost) until channel c has seen want frames in all;
 * *irqs adds the interrupts received. */
static void consume(struct fx *f, unsigned c, uint64_t want, uint64_t *irqs)
{
	uint64_t deadline = now_ms() + WAIT_MS;

	while (f->r[c].frames < want) {
		uint64_t ev = 0;

		if (daq_ring_consume(&f->r[c], (unsigned)(want - f->r[c].frames))) {
			post(f, c);
			continue;
		}
		assert_true(now_ms() < deadline);
		if (vpcie_host_irq_wait_events(f->h, c, 20, &ev) == 0 && irqs)
			*irqs += ev;
	}
}

/* Settle: serve DMA messages for a while, then take what is complete. */
static void drain(struct fx *f, unsigned c)
{
	for (int i = 0; i < 5; i++) {
		vpcie_host_poll(f->h, 10);
		daq_ring_consume(&f->r[c], 1u << 20);
	}
}

static void expect_clean(struct fx *f, unsigned c, uint64_t frames)
{
	assert_int_equal(f->r[c].frames, frames);
	assert_int_equal(f->r[c].good, frames);
	assert_int_equal(f->r[c].lost, 0);
	assert_int_equal(f->r[c].corrupted, 0);
	assert_int_equal(f->r[c].expect, frames);
}

/* ---- Tests ---------------------------------------------------------------- */

static void test_identity(void **state)
{
	struct fx *f = *state;
	int err = 0;

	assert_int_equal(vpcie_host_bar_read32(f->h, 0, DET_REG_ID, &err), DET_ID_VALUE);
	assert_int_equal(vpcie_host_bar_read32(f->h, 0, DET_REG_VERSION, &err), DET_VERSION_VALUE);
	assert_int_equal(vpcie_host_bar_read32(f->h, 0, DET_REG_CHANNELS, &err), NCH);
	assert_int_equal(vpcie_host_bar_read32(f->h, 0, DET_REG_CAPS, &err),
			 DET_CAP_PATTERN_PRNG | DET_CAP_PATTERN_FILE | DET_CAP_SHADOW);
	assert_int_equal(vpcie_host_bar_write32(f->h, 0, DET_REG_SCRATCH, 0x5a5aa5a5), 0);
	assert_int_equal(vpcie_host_bar_read32(f->h, 0, DET_REG_SCRATCH, &err), 0x5a5aa5a5);
	/* Power-on defaults of a channel. */
	assert_int_equal(rd(f, 1, DET_CH_IRQ_VECTOR), 1);
	assert_int_equal(rd(f, 0, DET_CH_STATUS), DET_STS_RING_EMPTY);
	/* Beyond the channels: reads 0, writes ignored. */
	assert_int_equal(rd(f, NCH, DET_CH_FRAME_SIZE), 0);
	assert_int_equal(err, 0);
}

/* Every frame, in order, CRC checked; interrupts exactly as moderated. */
static void test_stream(void **state)
{
	static const struct cfg cfgs[] = {
		/* frame, buf, ring, irq frames, irq us, period, pattern, limit */
		{64, 64, 16, 1, 0, 0, DET_PAT_COUNTER, 3000},
		{4096, 4096, 64, 8, 0, 0, DET_PAT_COUNTER, 2001},
		{4096, 1024, 64, 0, 200, 0, DET_PAT_COUNTER, 1000},    /* 4 pieces, time only */
		{100000, 4096, 256, 5, 300, 0, DET_PAT_COUNTER, 200},  /* 25 pieces */
		{6144, 2048, 4, 1, 0, 0, DET_PAT_COUNTER, 500},        /* straddles the wrap */
		{4u << 20, 1u << 20, 16, 2, 0, 0, DET_PAT_COUNTER, 41}, /* 4 MiB */
		{8192, 8192, 32, 3, 0, 0, DET_PAT_PRNG, 300},
		{10000, 4000, 32, 3, 0, 0, DET_PAT_FILE, 300},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		const struct cfg *k = &cfgs[i];
		uint64_t irqs = 0, dev_irqs;

		if (!f->shared && k->frame > (1u << 20) && k->limit > 10)
			continue; /* message DMA: keep the run short */
		ring_setup(f, 0, k);
		post(f, 0);
		wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
		consume(f, 0, k->limit, &irqs);
		drain(f, 0);
		expect_clean(f, 0, k->limit);
		assert_int_equal(f->r[0].bytes, (uint64_t)k->limit * k->frame);
		assert_int_equal(rd64(f, 0, DET_CH_FRAMES_LO), k->limit);
		assert_int_equal(rd64(f, 0, DET_CH_BYTES_LO), (uint64_t)k->limit * k->frame);
		assert_int_equal(rd64(f, 0, DET_CH_DROPPED_LO), 0);
		assert_int_equal(rd64(f, 0, DET_CH_SEQ_LO), k->limit);
		assert_false(rd(f, 0, DET_CH_STATUS) & DET_STS_RUNNING);
		dev_irqs = rd64(f, 0, DET_CH_IRQS_LO);
		if (k->irq_frames && !k->irq_usec) /* one per N, the rest when it stops */
			assert_int_equal(dev_irqs, (k->limit + k->irq_frames - 1) / k->irq_frames);
		else
			assert_true(dev_irqs >= 1 && dev_irqs <= k->limit);
		/* The host saw interrupts (merged ones count once per wake-up). */
		irqs += vpcie_host_irq_take(f->h, 0);
		assert_true(irqs >= 1 && irqs <= dev_irqs);
	}
}

/* Checks every payload against its pattern (daq_frame_fn). */
struct pat_check {
	struct fx *f;
	uint32_t pattern, frame;
	uint64_t checked;
	bool bad;
};

static int check_payload(void *opaque, uint16_t channel, uint64_t seq, const struct iovec *iov,
			 unsigned n)
{
	struct pat_check *pc = opaque;
	uint32_t plen = pc->frame - DET_HDR_SIZE;
	uint8_t *want = malloc(plen), *got = malloc(pc->frame);
	size_t off = 0;

	(void)channel;
	assert_non_null(want);
	assert_non_null(got);
	for (unsigned i = 0; i < n; i++) {
		assert_true(off + iov[i].iov_len <= pc->frame);
		memcpy(got + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	if (pc->pattern == DET_PAT_PRNG) {
		det_prng_fill(want, plen, 1234, seq);
	} else {
		size_t nf = FILE_SIZE / plen;

		memcpy(want, pc->f->file_data + (seq % nf) * plen, plen);
	}
	if (off != pc->frame || memcmp(got + DET_HDR_SIZE, want, plen))
		pc->bad = true;
	pc->checked++;
	free(want);
	free(got);
	return 0;
}

/* The PRNG payload is what det_prng_fill() makes of (seed, seq); the file
 * payload is the file's pieces in turn. */
static void test_patterns(void **state)
{
	struct fx *f = *state;
	struct cfg k = {4096, 1024, 16, 1, 0, 0, DET_PAT_PRNG, 40};

	for (int pat = 0; pat < 2; pat++) {
		struct pat_check pc = {f, pat ? DET_PAT_FILE : DET_PAT_PRNG, k.frame, 0, false};

		k.pattern = pc.pattern;
		ring_setup(f, 0, &k);
		f->r[0].on_frame = check_payload;
		f->r[0].opaque = &pc;
		post(f, 0);
		wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
		consume(f, 0, k.limit, NULL);
		expect_clean(f, 0, k.limit);
		assert_int_equal(pc.checked, k.limit);
		assert_false(pc.bad);
		f->r[0].on_frame = NULL;
	}
}

/* No buffers posted: frames are dropped and counted, never waited for;
 * posting again, the stream goes on. */
static void test_starvation(void **state)
{
	struct fx *f = *state;
	struct cfg k = {4096, 4096, 8, 1, 0, 20000 /* 50k frames/s */, DET_PAT_COUNTER, 0};
	uint64_t dropped, seq, good;

	ring_setup(f, 0, &k);
	post(f, 0);
	wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
	usleep(100000); /* nothing consumed: the 8 buffers fill, the rest drop */
	vpcie_host_poll(f->h, 10);
	dropped = rd64(f, 0, DET_CH_DROPPED_LO);
	assert_true(dropped > 0);
	assert_true(rd(f, 0, DET_CH_STATUS) & DET_STS_RUNNING);
	assert_true(rd(f, 0, DET_CH_STATUS) & DET_STS_RING_EMPTY);
	assert_true(rd64(f, 0, DET_CH_FRAMES_LO) <= 8);
	/* Recover: consume and repost for a while. */
	consume(f, 0, 300, NULL);
	assert_true(f->r[0].lost > 0); /* the gap the drops left */
	wr(f, 0, DET_CH_CTRL, 0);
	drain(f, 0);
	dropped = rd64(f, 0, DET_CH_DROPPED_LO);
	seq = rd64(f, 0, DET_CH_SEQ_LO);
	good = f->r[0].good;
	assert_int_equal(f->r[0].corrupted, 0);
	assert_int_equal(good + dropped, seq);   /* every seq placed or dropped */
	assert_int_equal(rd64(f, 0, DET_CH_FRAMES_LO), good);
	assert_true(f->r[0].lost <= dropped);
	assert_true(good >= 300);
}

static void test_stop_start_reset(void **state)
{
	struct fx *f = *state;
	struct cfg k = {4096, 4096, 16, 4, 100, 0, DET_PAT_COUNTER, 0};
	uint64_t seq;

	ring_setup(f, 0, &k);
	post(f, 0);
	wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
	consume(f, 0, 200, NULL);
	/* Stop mid-stream: nothing more after what was in flight. */
	wr(f, 0, DET_CH_CTRL, 0);
	drain(f, 0);
	seq = rd64(f, 0, DET_CH_SEQ_LO);
	assert_int_equal(f->r[0].expect, seq);
	assert_false(rd(f, 0, DET_CH_STATUS) & DET_STS_RUNNING);
	post(f, 0);
	usleep(50000);
	drain(f, 0);
	assert_int_equal(rd64(f, 0, DET_CH_SEQ_LO), seq);
	assert_int_equal(f->r[0].expect, seq);
	/* Start again: the sequence goes on, nothing lost. */
	wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
	consume(f, 0, seq + 200, NULL);
	expect_clean(f, 0, seq + 200);
	/* Settings refused while streaming. */
	wr(f, 0, DET_CH_FRAME_SIZE, 8192);
	assert_int_equal(rd(f, 0, DET_CH_FRAME_SIZE), 4096);
	/* Reset while streaming: stopped, counters and indices cleared,
	 * settings kept. */
	wr(f, 0, DET_CH_CTRL, DET_CTRL_RESET);
	drain(f, 0);
	assert_int_equal(rd(f, 0, DET_CH_STATUS), DET_STS_RING_EMPTY);
	assert_int_equal(rd(f, 0, DET_CH_RING_HEAD), 0);
	assert_int_equal(rd(f, 0, DET_CH_RING_TAIL), 0);
	assert_int_equal(rd64(f, 0, DET_CH_SEQ_LO), 0);
	assert_int_equal(rd64(f, 0, DET_CH_FRAMES_LO), 0);
	assert_int_equal(rd(f, 0, DET_CH_FRAME_SIZE), 4096);
	assert_int_equal(rd(f, 0, DET_CH_RING_SIZE), 16);
	/* A fresh ring: sequence from 0. */
	ring_reinit(f, 0, &k);
	post(f, 0);
	wr(f, 0, DET_CH_FRAME_LIMIT, 100);
	wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
	consume(f, 0, 100, NULL);
	expect_clean(f, 0, 100);
	/* The global reset stops every channel. */
	wr(f, 0, DET_CH_FRAME_LIMIT, 0);
	assert_int_equal(vpcie_host_bar_write32(f->h, 0, DET_REG_GCTRL, DET_GCTRL_RESET), 0);
	assert_int_equal(rd(f, 0, DET_CH_STATUS), DET_STS_RING_EMPTY);
	assert_int_equal(rd64(f, 0, DET_CH_SEQ_LO), 0);
	/* SINGLE: one frame while stopped. */
	ring_reinit(f, 0, &k);
	post(f, 0);
	wr(f, 0, DET_CH_CTRL, DET_CTRL_SINGLE);
	consume(f, 0, 1, NULL);
	drain(f, 0);
	expect_clean(f, 0, 1);
	assert_false(rd(f, 0, DET_CH_STATUS) & DET_STS_RUNNING);
}

/* Descriptors the host should not have posted: rejected, counted, the
 * frames go into the good ones, the device keeps serving. */
static void test_hostile(void **state)
{
	struct fx *f = *state;
	struct cfg k = {4096, 4096, 16, 1, 0, 0, DET_PAT_COUNTER, 100};
	size_t memsize = daq_ring_mem_size(16, 4096);

	ring_setup(f, 0, &k);
	daq_ring_set_desc(&f->r[0], 2, IOVA(0) + 8192, 0);                 /* zero length */
	daq_ring_set_desc(&f->r[0], 5, OUTSIDE, 4096);                     /* outside */
	daq_ring_set_desc(&f->r[0], 7, IOVA(0) + memsize - 100, 4096);     /* runs out */
	daq_ring_set_desc(&f->r[0], 9, 0xfffffffffffff000ull, 0x2000);     /* wraps */
	post(f, 0);
	/* A tail beyond the ring: refused, flagged. */
	wr(f, 0, DET_CH_RING_TAIL, 1000);
	assert_int_equal(rd(f, 0, DET_CH_RING_TAIL), 16);
	assert_true(rd(f, 0, DET_CH_STATUS) & DET_STS_ERROR);
	wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
	consume(f, 0, 100, NULL);
	drain(f, 0);
	expect_clean(f, 0, 100);
	assert_int_equal(f->r[0].bad_desc, 4);
	assert_int_equal(rd64(f, 0, DET_CH_BAD_DESC_LO), 4);
	assert_int_equal(rd64(f, 0, DET_CH_FRAMES_LO), 100);
	assert_int_equal(rd64(f, 0, DET_CH_DMA_ERR_LO), 0);
	/* Bad settings refused. */
	wr(f, 0, DET_CH_FRAME_SIZE, 100);        /* not a multiple of 8 */
	wr(f, 0, DET_CH_RING_SIZE, 12);          /* not a power of two */
	wr(f, 0, DET_CH_PATTERN, 7);
	assert_int_equal(rd(f, 0, DET_CH_FRAME_SIZE), 4096);
	assert_int_equal(rd(f, 0, DET_CH_RING_SIZE), 16);
	assert_int_equal(rd(f, 0, DET_CH_PATTERN), DET_PAT_COUNTER);
	/* A ring outside host memory: a DMA error stops the channel. */
	wr(f, 1, DET_CH_CTRL, DET_CTRL_RESET);
	wr(f, 1, DET_CH_RING_LO, (uint32_t)OUTSIDE);
	wr(f, 1, DET_CH_RING_HI, (uint32_t)(OUTSIDE >> 32));
	wr(f, 1, DET_CH_RING_SIZE, 8);
	wr(f, 1, DET_CH_RING_TAIL, 8);
	wr(f, 1, DET_CH_CTRL, DET_CTRL_ENABLE);
	for (int i = 0; i < 100 && !(rd(f, 1, DET_CH_STATUS) & DET_STS_ERROR); i++)
		vpcie_host_poll(f->h, 10);
	assert_int_equal(rd(f, 1, DET_CH_STATUS) & (DET_STS_ERROR | DET_STS_RUNNING),
			 DET_STS_ERROR);
	assert_int_equal(rd64(f, 1, DET_CH_DMA_ERR_LO), 1);
	/* Unaligned ring base: not started. */
	wr(f, 1, DET_CH_CTRL, DET_CTRL_RESET);
	wr(f, 1, DET_CH_RING_LO, (uint32_t)IOVA(1) + 8);
	wr(f, 1, DET_CH_CTRL, DET_CTRL_ENABLE);
	assert_int_equal(rd(f, 1, DET_CH_STATUS) & (DET_STS_ERROR | DET_STS_RUNNING),
			 DET_STS_ERROR);
	/* Still serving: channel 0 streams again. */
	k.limit = 50;
	ring_setup(f, 0, &k);
	post(f, 0);
	wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
	consume(f, 0, 50, NULL);
	expect_clean(f, 0, 50);
}

/* The tail shadow on channel c (its block in the ring's memory), holding
 * the tail posted so far. */
static void shadow_regs(struct fx *f, unsigned c)
{
	wr(f, c, DET_CH_SHADOW_LO, (uint32_t)f->r[c].shadow_iova);
	wr(f, c, DET_CH_SHADOW_HI, (uint32_t)(f->r[c].shadow_iova >> 32));
}

static void shadow_on(struct fx *f, unsigned c)
{
	daq_ring_publish(&f->r[c], daq_ring_tail(&f->r[c]));
	shadow_regs(f, c);
	post(f, c);
}

static void shadow_store(struct fx *f, unsigned c, uint32_t tail)
{
	memcpy(f->r[c].shadow + DET_SHADOW_TAIL, &tail, 4);
}

static bool shadow_idle(struct fx *f, unsigned c)
{
	uint32_t v;

	memcpy(&v, f->r[c].shadow + DET_SHADOW_FLAGS, 4);
	return v & DET_SHADOW_F_IDLE;
}

/* Posting through the shadow: RING_TAIL written only when the engine says
 * IDLE. A small ring makes the engine run dry and sleep often, so both the
 * doorbell-free path and the wake-up are taken; a lost wake-up stalls. */
static void test_shadow(void **state)
{
	struct fx *f = *state;
	struct cfg k = {4096, 4096, 8, 2, 50, 0, DET_PAT_COUNTER, 3000};
	uint64_t deadline = now_ms() + WAIT_MS, doorbells = 0, quiet = 0;

	ring_setup(f, 0, &k);
	shadow_on(f, 0);
	assert_int_equal(rd64(f, 0, DET_CH_SHADOW_LO), f->r[0].shadow_iova);
	wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
	while (f->r[0].frames < k.limit) {
		uint64_t ev;

		if (daq_ring_consume(&f->r[0], 3)) {
			if (daq_ring_publish(&f->r[0], daq_ring_tail(&f->r[0]))) {
				post(f, 0);
				doorbells++;
			} else {
				quiet++;
			}
			continue;
		}
		assert_true(now_ms() < deadline);
		vpcie_host_irq_wait_events(f->h, 0, 5, &ev);
	}
	drain(f, 0);
	expect_clean(f, 0, k.limit);
	assert_int_equal(rd64(f, 0, DET_CH_FRAMES_LO), k.limit);
	assert_int_equal(rd(f, 0, DET_CH_STATUS) & DET_STS_ERROR, 0);
	/* With shared memory the engine outruns this consumer, runs dry and
	 * is woken; through messages it reads the shadow while the host
	 * waits, so it may never need a doorbell. */
	if (f->shared)
		assert_true(doorbells > 0);
	print_message("shadow: %llu posts without a doorbell, %llu with\n",
		      (unsigned long long)quiet, (unsigned long long)doorbells);
	/* Idle for good: the flag is up with the ring full of completions;
	 * the device stays quiet when nothing is posted. */
	k.limit = 0;
	ring_setup(f, 0, &k);
	shadow_on(f, 0);
	wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
	for (int i = 0; i < 200 && !shadow_idle(f, 0); i++)
		vpcie_host_poll(f->h, 10);
	assert_true(shadow_idle(f, 0));
	assert_int_equal(rd64(f, 0, DET_CH_FRAMES_LO), 8);
	/* Posted through the shadow while idle: the doorbell wakes it, and
	 * it clears the flag when it runs. */
	daq_ring_consume(&f->r[0], 8);
	assert_true(daq_ring_publish(&f->r[0], daq_ring_tail(&f->r[0])));
	post(f, 0);
	consume(f, 0, 16, NULL);
	wr(f, 0, DET_CH_CTRL, 0);
	drain(f, 0);
	assert_int_equal(f->r[0].corrupted, 0);
	assert_int_equal(f->r[0].lost, 0);
}

/* Hostile shadow values: beyond the ring, wrapped behind the head, going
 * back, a block outside host memory or unaligned. Each is ignored and
 * flagged; the channel goes on with register doorbells. */
static void test_shadow_hostile(void **state)
{
	struct fx *f = *state;
	struct cfg k = {4096, 4096, 16, 1, 0, 0, DET_PAT_COUNTER, 0};
	static const uint32_t bad[] = {8 + 17, 8 + 1000, 7, 0xffffffffu, 0x80000008u};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ring_setup(f, 0, &k);
		wr(f, 0, DET_CH_RING_TAIL, 8);  /* the device's tail: 8 */
		shadow_store(f, 0, bad[i]);
		shadow_regs(f, 0);
		wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
		for (int n = 0; n < 200 && !(rd(f, 0, DET_CH_STATUS) & DET_STS_ERROR); n++)
			vpcie_host_poll(f->h, 10);
		/* 8 frames, then the bad shadow read on running dry. */
		assert_true(rd(f, 0, DET_CH_STATUS) & DET_STS_ERROR);
		assert_int_equal(rd(f, 0, DET_CH_RING_TAIL), 8);
		assert_int_equal(rd(f, 0, DET_CH_RING_HEAD), 8);
		assert_true(rd(f, 0, DET_CH_STATUS) & DET_STS_RUNNING);
		/* Recovery: a sane shadow, and doorbells. */
		daq_ring_consume(&f->r[0], 8);
		daq_ring_publish(&f->r[0], daq_ring_tail(&f->r[0]));
		post(f, 0);
		consume(f, 0, 40, NULL);
		wr(f, 0, DET_CH_CTRL, 0);
		drain(f, 0);
		assert_int_equal(f->r[0].corrupted, 0);
		assert_int_equal(f->r[0].lost, 0);
	}
	/* A late doorbell (behind the tail the shadow gave) is no error. */
	ring_setup(f, 0, &k);
	wr(f, 0, DET_CH_RING_TAIL, 4);
	shadow_store(f, 0, 12);
	shadow_regs(f, 0);
	wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
	for (int n = 0; n < 200 && rd(f, 0, DET_CH_RING_HEAD) < 12; n++)
		vpcie_host_poll(f->h, 10);
	assert_int_equal(rd(f, 0, DET_CH_RING_HEAD), 12);
	wr(f, 0, DET_CH_RING_TAIL, 6);   /* behind the head, by less than the ring */
	wr(f, 0, DET_CH_RING_TAIL, 12);
	assert_int_equal(rd(f, 0, DET_CH_RING_TAIL), 12);
	assert_int_equal(rd(f, 0, DET_CH_STATUS) & DET_STS_ERROR, 0);
	/* A shadow block outside host memory: flagged, doorbells still work. */
	k.limit = 30;
	ring_setup(f, 0, &k);
	wr(f, 0, DET_CH_SHADOW_LO, (uint32_t)OUTSIDE);
	wr(f, 0, DET_CH_SHADOW_HI, (uint32_t)(OUTSIDE >> 32));
	wr(f, 0, DET_CH_RING_TAIL, 8);  /* runs dry after 8: reads the shadow */
	wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
	for (int n = 0; n < 200 && !(rd(f, 0, DET_CH_STATUS) & DET_STS_ERROR); n++)
		vpcie_host_poll(f->h, 10);
	consume(f, 0, 30, NULL);
	drain(f, 0);
	expect_clean(f, 0, 30);
	assert_true(rd(f, 0, DET_CH_STATUS) & DET_STS_ERROR);
	/* Unaligned: not started; and not changed while streaming. */
	ring_setup(f, 0, &k);
	wr(f, 0, DET_CH_SHADOW_LO, (uint32_t)f->r[0].shadow_iova + 4);
	wr(f, 0, DET_CH_SHADOW_HI, (uint32_t)(f->r[0].shadow_iova >> 32));
	post(f, 0);
	wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
	assert_int_equal(rd(f, 0, DET_CH_STATUS) & (DET_STS_ERROR | DET_STS_RUNNING),
			 DET_STS_ERROR);
	ring_setup(f, 0, &k);             /* RESET keeps the setting */
	assert_int_equal(rd(f, 0, DET_CH_SHADOW_LO), (uint32_t)f->r[0].shadow_iova + 4);
	wr(f, 0, DET_CH_SHADOW_LO, 0);
	wr(f, 0, DET_CH_SHADOW_HI, 0);
	post(f, 0);
	wr(f, 0, DET_CH_CTRL, DET_CTRL_ENABLE);
	wr(f, 0, DET_CH_SHADOW_LO, (uint32_t)f->r[0].shadow_iova);
	assert_int_equal(rd(f, 0, DET_CH_SHADOW_LO), 0);
	consume(f, 0, 30, NULL);
	expect_clean(f, 0, 30);
}

/* Two channels at once, each into its own ring, on its own vector. */
static void test_channels(void **state)
{
	struct fx *f = *state;
	struct cfg k = {16384, 4096, 64, 4, 0, 0, DET_PAT_COUNTER, 400};

	for (unsigned c = 0; c < NCH; c++) {
		ring_setup(f, c, &k);
		post(f, c);
	}
	for (unsigned c = 0; c < NCH; c++)
		wr(f, c, DET_CH_CTRL, DET_CTRL_ENABLE);
	while (f->r[0].frames < k.limit || f->r[1].frames < k.limit) {
		for (unsigned c = 0; c < NCH; c++) {
			if (f->r[c].frames < k.limit)
				consume(f, c, f->r[c].frames + 1, NULL);
		}
	}
	for (unsigned c = 0; c < NCH; c++) {
		drain(f, c);
		expect_clean(f, c, k.limit);
		assert_int_equal(rd64(f, c, DET_CH_FRAMES_LO), k.limit);
	}
}

#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_identity, setup_shared),
		T(test_stream, setup_shared),
		T(test_stream, setup_msg),
		T(test_patterns, setup_shared),
		T(test_patterns, setup_msg),
		T(test_starvation, setup_shared),
		T(test_stop_start_reset, setup_shared),
		T(test_stop_start_reset, setup_msg),
		T(test_hostile, setup_shared),
		T(test_hostile, setup_msg),
		T(test_shadow, setup_shared),
		T(test_shadow, setup_msg),
		T(test_shadow_hostile, setup_shared),
		T(test_shadow_hostile, setup_msg),
		T(test_channels, setup_shared),
		T(test_channels, setup_msg),
	};

	prog = argc > 1 ? argv[1] : getenv("VPCIE_DETECTOR");
	if (!prog) {
		fprintf(stderr, "usage: %s VPCIE_DETECTOR\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
