/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: vpcie-detector's engine (devices/detector/det_engine.c)
 * against a hostile host. The input is a program of operations: register
 * writes and reads (any offset, any value), descriptors and raw bytes
 * written into a small host memory, engine turns, clock jumps, resets and
 * disconnects, with host memory reached directly or through messages, DMA
 * failures, and host commands served in the middle of a transfer (as the
 * runtime does while a DMA message waits). Memory safety is checked by the
 * sanitizers; the engine's bookkeeping by the invariants below.
 *
 * Built with -DDET_FUZZ_STANDALONE it is also the unit test
 * det-engine-random: a main() runs a fixed set of pseudo-random programs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "det_engine.h"

#define MEM_BASE 0x10000ull
#define MEM_SIZE (256u << 10)
#define SHADOW (MEM_BASE + 2048) /* the prelude's tail shadow block */

struct host {
	const uint8_t *in;
	size_t len, pos;
	uint8_t mem[MEM_SIZE];
	bool messages;          /* no direct pointers */
	uint64_t clock;
	uint64_t irqs;
	struct det_engine *e;
	unsigned depth;         /* re-entrant command nesting */
};

static uint8_t next8(struct host *h)
{
	return h->pos < h->len ? h->in[h->pos++] : 0;
}

static uint32_t next32(struct host *h)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)next8(h) << (8 * i);
	return v;
}

static bool in_mem(uint64_t addr, size_t len)
{
	return addr >= MEM_BASE && len <= MEM_SIZE && addr - MEM_BASE <= MEM_SIZE - len;
}

static void host_command(struct host *h);

/* While a transfer "waits", the host may get a command in. */
static void maybe_command(struct host *h)
{
	if (h->depth < 2 && (next8(h) & 0x0f) == 0) {
		h->depth++;
		host_command(h);
		h->depth--;
	}
}

static void *io_ptr(void *ctx, uint64_t addr, size_t len, bool write)
{
	struct host *h = ctx;

	(void)write;
	if (h->messages || !in_mem(addr, len))
		return NULL;
	return h->mem + (addr - MEM_BASE);
}

/* The checks and failures every message transfer may meet: 0 to go on. */
static int io_begin(struct host *h, uint64_t addr, size_t len)
{
	uint8_t fail = next8(h);

	if (!in_mem(addr, len))
		return -EFAULT;
	if (fail == 0xff)
		return -EIO;
	if (fail == 0xfe)
		return -EPERM;
	maybe_command(h);
	return 0;
}

static int io_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct host *h = ctx;
	int rc = io_begin(h, addr, len);

	if (!rc)
		memcpy(buf, h->mem + (addr - MEM_BASE), len);
	return rc;
}

static int io_write(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	struct host *h = ctx;
	int rc = io_begin(h, addr, len);

	if (!rc)
		memcpy(h->mem + (addr - MEM_BASE), buf, len);
	return rc;
}

static int io_irq(void *ctx, unsigned vec)
{
	struct host *h = ctx;

	if (vec >= DET_MAX_CHANNELS)
		return -EINVAL;
	h->irqs++;
	return 0;
}

static uint64_t io_now(void *ctx)
{
	struct host *h = ctx;

	return h->clock += 100;
}

static const struct det_io io = {io_ptr, io_read, io_write, io_irq, io_now};

/* A register write, biased to values that get the engine going. */
static void reg_write(struct host *h)
{
	static const uint32_t regs[] = {
		DET_CH_CTRL, DET_CH_FRAME_SIZE, DET_CH_PERIOD_NS, DET_CH_PATTERN, DET_CH_SEED,
		DET_CH_FRAME_LIMIT, DET_CH_RING_LO, DET_CH_RING_HI, DET_CH_RING_SIZE,
		DET_CH_RING_TAIL, DET_CH_IRQ_FRAMES, DET_CH_IRQ_USEC, DET_CH_IRQ_VECTOR,
		DET_CH_SHADOW_LO, DET_CH_SHADOW_HI,
	};
	uint8_t sel = next8(h), ch = next8(h) % 4;
	uint32_t v = next32(h), off;

	if (sel >= 0xf0) {
		off = (v >> 16) & 0x3ffc; /* anywhere in the register area */
	} else {
		off = DET_CH_BASE(ch) + regs[sel % (sizeof(regs) / sizeof(regs[0]))];
		switch (regs[sel % (sizeof(regs) / sizeof(regs[0]))]) {
		case DET_CH_FRAME_SIZE: v = sel & 1 ? v % (64u << 10) : v; break;
		case DET_CH_RING_LO: v = sel & 1 ? (uint32_t)MEM_BASE + (v % MEM_SIZE) : v; break;
		case DET_CH_RING_HI: v = sel & 1 ? 0 : v; break;
		case DET_CH_SHADOW_LO: v = sel & 1 ? (uint32_t)SHADOW + (v % 4) * 64 : v; break;
		case DET_CH_SHADOW_HI: v = sel & 1 ? 0 : v; break;
		case DET_CH_RING_SIZE: v = sel & 1 ? 1u << (v % 10) : v; break;
		case DET_CH_PERIOD_NS: v %= 5000; break;
		case DET_CH_CTRL: v = sel & 1 ? v & ~DET_CTRL_RESET : v; break;
		default: break;
		}
	}
	/* Frame buffers are allocated at the frame size: keep runs fast. */
	if (off % DET_CH_STRIDE == DET_CH_FRAME_SIZE && v > (1u << 20))
		v &= 0xfffff;
	det_reg_write(h->e, off, v);
}

static void host_command(struct host *h)
{
	uint8_t op = next8(h);

	switch (op % 9) {
	case 0:
	case 1:
		reg_write(h);
		break;
	case 2:
		(void)det_reg_read(h->e, next32(h) & 0x3fff);
		break;
	case 3: { /* a descriptor: good, zero length, outside, wrapping */
		uint32_t at = next32(h), len = next32(h);
		uint64_t addr = MEM_BASE + next32(h) % MEM_SIZE;
		uint8_t kind = next8(h);

		/* Mostly into the prelude's ring. */
		at = kind & 0x30 ? (at % 16) * DET_DESC_SIZE : (at % (MEM_SIZE - DET_DESC_SIZE)) & ~31u;
		if (kind & 1)
			len %= 8192;
		if ((kind & 6) == 6)
			addr = 0xfffffffffffff000ull;
		else if ((kind & 6) == 4)
			addr = MEM_BASE + MEM_SIZE - (len % 4096);
		memcpy(h->mem + at, &addr, 8);
		memcpy(h->mem + at + 8, &len, 4);
		memset(h->mem + at + 12, 0, 4);
		break;
	}
	case 4: { /* scribble */
		uint32_t at = next32(h) % MEM_SIZE;
		uint8_t n = next8(h);

		for (unsigned i = 0; i < n && at + i < MEM_SIZE; i++)
			h->mem[at + i] = next8(h);
		break;
	}
	case 5:
		h->clock += (uint64_t)next32(h) * 1000u;
		break;
	case 6:
		if (next8(h) & 1)
			det_engine_power_on(h->e);
		else
			det_engine_stop_all(h->e);
		break;
	default: {
		uint8_t v = next8(h);

		if (v & 0x80) {
			h->messages = v & 1;
		} else if (v & 0x40) {
			/* The shadow tail: sane (head + 0..19, maybe beyond the
			 * ring), behind, wrapped or anything. */
			uint32_t head = det_reg_read(h->e, DET_CH_BASE(0) + DET_CH_RING_HEAD);
			uint32_t t = v & 0x20 ? next32(h) : v & 0x10 ? head - 1 - v % 4 : head + v % 20;

			memcpy(h->mem + (SHADOW - MEM_BASE) + DET_SHADOW_TAIL, &t, 4);
		} else { /* repost: channel 0's tail moves on */
			uint32_t head = det_reg_read(h->e, DET_CH_BASE(0) + DET_CH_RING_HEAD);

			det_reg_write(h->e, DET_CH_BASE(0) + DET_CH_RING_TAIL, head + v % 20);
		}
		break;
	}
	}
}

/* Steer towards a streaming channel 0: a ring of 16 descriptors at
 * MEM_BASE, buffers after it, frame size from the input. */
static void prelude(struct host *h)
{
	uint32_t frame = 64 + 8 * (next8(h) % 64), buf = 64 + 8 * (next8(h) % 128);
	uint8_t ctrl = next8(h);

	for (uint32_t i = 0; i < 16; i++) {
		uint64_t addr = MEM_BASE + 4096 + (uint64_t)i * buf;

		memcpy(h->mem + i * DET_DESC_SIZE, &addr, 8);
		memcpy(h->mem + i * DET_DESC_SIZE + 8, &buf, 4);
	}
	det_reg_write(h->e, DET_CH_BASE(0) + DET_CH_RING_LO, (uint32_t)MEM_BASE);
	det_reg_write(h->e, DET_CH_BASE(0) + DET_CH_RING_SIZE, 16);
	det_reg_write(h->e, DET_CH_BASE(0) + DET_CH_FRAME_SIZE, frame);
	det_reg_write(h->e, DET_CH_BASE(0) + DET_CH_IRQ_FRAMES, ctrl % 4);
	det_reg_write(h->e, DET_CH_BASE(0) + DET_CH_IRQ_USEC, ctrl & 4 ? 1 : 0);
	det_reg_write(h->e, DET_CH_BASE(0) + DET_CH_PATTERN, (ctrl >> 3) % 3);
	det_reg_write(h->e, DET_CH_BASE(0) + DET_CH_PERIOD_NS, ctrl & 0x20 ? 300 : 0);
	det_reg_write(h->e, DET_CH_BASE(0) + DET_CH_RING_TAIL, 16);
	if (ctrl & 0x40) { /* the tail shadow on, holding the same tail */
		uint32_t t = 16;

		memcpy(h->mem + (SHADOW - MEM_BASE) + DET_SHADOW_TAIL, &t, 4);
		det_reg_write(h->e, DET_CH_BASE(0) + DET_CH_SHADOW_LO, (uint32_t)SHADOW);
	}
	det_reg_write(h->e, DET_CH_BASE(0) + DET_CH_CTRL, DET_CTRL_ENABLE);
}

static void check(const struct det_engine *e)
{
	for (unsigned i = 0; i < e->nch; i++) {
		const struct det_chan *c = &e->ch[i];

		if (c->frames + c->dropped > c->seq || (c->ring_size && c->tail - c->head > c->ring_size))
			abort();
	}
}

static void discard(void *opaque, enum vpcie_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

/* Totals over the standalone run, to show the engine did work. */
static uint64_t total_frames, total_bad, total_dma_err;

/*
 * The host block (its 256 KiB memory) is allocated once and cleared for each
 * program: a fresh calloc per program went to ASan's mmap allocator, and
 * mapping, faulting in and unmapping it was most of the target's CPU time.
 * The memory is still a heap block with ASan's redzones around it.
 */
static struct host *host_block(void)
{
	static struct host *h;

	if (!h)
		h = malloc(sizeof(*h));
	if (h)
		memset(h, 0, sizeof(*h));
	return h;
}

static int run_one(const uint8_t *data, size_t size)
{
	struct host *h = host_block();
	struct det_engine e;
	struct det_file file = {(uint8_t *)"detector frame file contents", 28};
	struct vpcie_logger lg = {VPCIE_LOG_ERROR, "fuzz", discard, NULL};

	if (!h)
		return 0;
	h->in = data;
	h->len = size;
	h->e = &e;
	if (det_engine_init(&e, 1 + (size ? data[0] % 3 : 0), &io, h, &lg, &file) == 0) {
		if (next8(h) & 4)
			prelude(h);
		while (h->pos < h->len) {
			if ((next8(h) & 3) == 0)
				(void)det_engine_run(&e, 20000);
			else
				host_command(h);
			check(&e);
		}
		for (unsigned i = 0; i < e.nch; i++) {
			total_frames += e.ch[i].frames;
			total_bad += e.ch[i].bad_desc;
			total_dma_err += e.ch[i].dma_err;
		}
		det_engine_free(&e);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return run_one(data, size);
}

#ifdef DET_FUZZ_STANDALONE
/* A fixed set of pseudo-random programs (xorshift), some steered towards
 * a running channel with a ring in memory. */
int main(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t buf[4096];

	for (unsigned iter = 0; iter < 5000; iter++) {
		size_t n = 64 + iter % (sizeof(buf) - 64);

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
		run_one(buf, n);
	}
	printf("det-engine-random: 5000 programs, %llu frames, %llu rejected descriptors, "
	       "%llu DMA errors\n", (unsigned long long)total_frames,
	       (unsigned long long)total_bad, (unsigned long long)total_dma_err);
	/* Programs that never got a frame out would test nothing. */
	return total_frames > 1000 && total_bad > 0 && total_dma_err > 0 ? 0 : 1;
}
#endif
