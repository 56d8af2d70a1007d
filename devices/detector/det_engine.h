/* SPDX-License-Identifier: MIT */
/*
 * det_engine.h - the streaming engine of vpcie-detector: registers,
 * channels, descriptor rings and frame placement, interrupt moderation.
 *
 * The engine knows nothing of vfio-user: it reaches host memory, the clock
 * and interrupts through struct det_io, so the device program, the tests
 * and the fuzz target drive the same code. Everything it reads from host
 * memory (descriptors) is hostile input: each descriptor is copied once,
 * checked (length, address range, ring bounds) and rejected when bad.
 *
 * Semantics (docs/detector.md is the datasheet):
 *  - PERIOD_NS > 0: a frame is due every PERIOD_NS from the start; a due
 *    frame without enough posted descriptors is dropped (seq still
 *    advances); frames missed because the engine was late are dropped too.
 *  - PERIOD_NS = 0 (free-running): back to back, paced by the host: the
 *    next frame starts as soon as enough descriptors are posted for it.
 *  - SINGLE: one frame now (dropped if the ring has too few descriptors).
 *  - Tail shadow (SHADOW_LO/HI set): short of descriptors, the engine reads
 *    the host's tail from memory (hostile: used only if ahead of ours and
 *    within RING_SIZE of HEAD); free-running, before idling it sets IDLE in
 *    the block, fences, and looks once more, so the host only rings
 *    RING_TAIL for an idle engine.
 * Calls come from one thread; no global state.
 */
#ifndef DET_ENGINE_H
#define DET_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vpcie/log.h>

#include "det_pattern.h"
#include "detector_regs.h"

/* How the engine reaches the host. */
struct det_io {
	/* Direct pointer to host memory [addr, addr+len), or NULL. */
	void *(*ptr)(void *ctx, uint64_t addr, size_t len, bool write);
	/* Copy through the slow path; 0 or -errno (-EFAULT: outside host
	 * memory, nothing moved; -EPERM/-ENOTCONN: no DMA possible now). */
	int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
	int (*write)(void *ctx, uint64_t addr, const void *buf, size_t len);
	/* Signal MSI-X vector vec; 0 or -errno. */
	int (*irq)(void *ctx, unsigned vec);
	/* Monotonic time in ns. */
	uint64_t (*now)(void *ctx);
};

/* Descriptors read ahead at once when they come through messages. */
#define DET_DESC_CACHE 32u

struct det_desc {
	uint64_t addr;
	uint32_t len;
};

struct det_chan {
	unsigned idx;
	/* Settings (kept by RESET). */
	uint32_t frame_size, period_ns, pattern, seed, frame_limit;
	uint64_t ring_addr;
	uint32_t ring_size, irq_frames, irq_usec, irq_vector;
	uint64_t shadow_addr;   /* tail shadow block, 0: none */
	/* State. */
	uint32_t ctrl;          /* DET_CTRL_ENABLE */
	bool error;             /* DET_STS_ERROR */
	bool single;            /* a SINGLE frame is pending */
	uint32_t head, tail;
	uint64_t seq, since_start, next_due;
	uint64_t irq_pending, irq_first_ns;
	bool shadow_idle;       /* DET_SHADOW_F_IDLE may be set in host memory */
	bool shadow_warned;     /* a bad shadow was logged (once per reset) */
	/* Counters. */
	uint64_t frames, bytes, dropped, dma_err, bad_desc, irqs;
	/* Frame buffer and descriptor bookkeeping. */
	struct det_frame fr;
	struct det_desc cache[DET_DESC_CACHE];
	uint32_t cache_start, cache_n;
	struct det_done *done;  /* per descriptor of the frame being placed */
	uint32_t done_cap;
	/*
	 * Re-entrancy: through messages, a DMA call serves the host's commands
	 * while it waits, so registers may change under a frame in flight.
	 * gen changes with every state change that invalidates such a frame
	 * (reset, stop, ring or frame settings); the frame is then abandoned
	 * without a trace (no completion, HEAD and SEQ unchanged). A frame
	 * buffer replaced meanwhile is kept in retired until the frame ends.
	 */
	uint32_t gen;
	bool busy;
	uint8_t *retired;
	/* The ring mapped directly, looked up once per turn (NULL: per
	 * descriptor, or through messages). */
	uint8_t *ring_view;
	uint64_t ring_view_turn;
	uint32_t ring_view_gen;
};

struct det_engine {
	unsigned nch;
	struct det_chan ch[DET_MAX_CHANNELS];
	const struct det_io *io;
	void *ctx;
	const struct vpcie_logger *lg;
	const struct det_file *file; /* NULL: no frame file */
	uint64_t t0;                 /* device time 0 */
	uint64_t turn;               /* det_engine_run() calls, from 1 */
	uint32_t scratch;
};

/* The engine's answer to "when should I run again". */
#define DET_RUN_NOW 0u
#define DET_RUN_NEVER UINT64_MAX

/* Set up nch channels (1..DET_MAX_CHANNELS) with power-on settings. */
int det_engine_init(struct det_engine *e, unsigned nch, const struct det_io *io, void *ctx,
		    const struct vpcie_logger *lg, const struct det_file *file);
void det_engine_free(struct det_engine *e);

/* Power-on state (device reset, FLR): every channel stopped, settings to
 * their defaults, counters cleared. */
void det_engine_power_on(struct det_engine *e);

/* The host is gone: stop every channel (its memory is no longer mapped). */
void det_engine_stop_all(struct det_engine *e);

/* 32-bit register access at a 4-byte aligned BAR0 offset. */
uint32_t det_reg_read(struct det_engine *e, uint32_t off);
void det_reg_write(struct det_engine *e, uint32_t off, uint32_t v);

/*
 * Produce frames on every channel, round robin, until nothing is due or
 * budget_ns passed. Returns DET_RUN_NOW (more to do), DET_RUN_NEVER (idle
 * until a register write), or the absolute time (io->now clock) of the next
 * due frame or moderated interrupt.
 */
uint64_t det_engine_run(struct det_engine *e, uint64_t budget_ns);

#endif
