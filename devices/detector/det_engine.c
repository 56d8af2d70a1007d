/* SPDX-License-Identifier: MIT */
/* det_engine.c - vpcie-detector's streaming engine (det_engine.h). */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "det_engine.h"
#include "../../lib/util/le.h"

/* What happened to one descriptor of the frame being placed. */
struct det_done {
	uint64_t addr;    /* for the completion write-back */
	uint32_t used;
	uint32_t status;  /* DET_DESC_ST_* */
};

/* Frames placed per channel before the others get a turn. */
#define DET_BURST 16u

static uint64_t now(struct det_engine *e)
{
	return e->io->now(e->ctx);
}

/* ---- Channel state ------------------------------------------------------ */

static void chan_defaults(struct det_chan *c)
{
	c->frame_size = 4096;
	c->period_ns = 0;
	c->pattern = DET_PAT_COUNTER;
	c->seed = 0;
	c->frame_limit = 0;
	c->ring_addr = 0;
	c->ring_size = 0;
	c->irq_frames = 1;
	c->irq_usec = 0;
	c->irq_vector = c->idx;
	c->shadow_addr = 0;
}

/* DET_CTRL_RESET: stop, clear counters, HEAD, TAIL, SEQ; keep settings. */
static void chan_reset(struct det_chan *c)
{
	c->ctrl = 0;
	c->error = false;
	c->single = false;
	c->head = c->tail = 0;
	c->seq = c->since_start = c->next_due = 0;
	c->irq_pending = c->irq_first_ns = 0;
	c->shadow_warned = false;
	c->frames = c->bytes = c->dropped = c->dma_err = c->bad_desc = c->irqs = 0;
	c->cache_n = 0;
	c->gen++;
}

int det_engine_init(struct det_engine *e, unsigned nch, const struct det_io *io, void *ctx,
		    const struct vpcie_logger *lg, const struct det_file *file)
{
	if (!nch || nch > DET_MAX_CHANNELS)
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->nch = nch;
	e->io = io;
	e->ctx = ctx;
	e->lg = lg;
	e->file = file;
	for (unsigned i = 0; i < nch; i++)
		e->ch[i].idx = i;
	det_engine_power_on(e);
	return 0;
}

void det_engine_free(struct det_engine *e)
{
	for (unsigned i = 0; i < e->nch; i++) {
		det_frame_free(&e->ch[i].fr);
		free(e->ch[i].done);
		e->ch[i].done = NULL;
	}
}

void det_engine_power_on(struct det_engine *e)
{
	e->t0 = now(e);
	e->scratch = 0;
	for (unsigned i = 0; i < e->nch; i++) {
		chan_defaults(&e->ch[i]);
		chan_reset(&e->ch[i]);
	}
}

static void raise_irq(struct det_engine *e, struct det_chan *c)
{
	int rc;

	c->irq_pending = 0;
	rc = e->io->irq(e->ctx, c->irq_vector);
	if (rc == 0)
		c->irqs++;
	else
		vpcie_dbg(e->lg, "channel %u: interrupt on vector %" PRIu32 ": %s", c->idx,
			  c->irq_vector, strerror(-rc));
}

/* Stopping signals what is left unsignalled, so the host sees the last
 * completions without a timer. */
static void chan_stop(struct det_engine *e, struct det_chan *c)
{
	c->ctrl &= ~DET_CTRL_ENABLE; /* a frame in flight completes */
	if (c->irq_pending && (c->irq_frames || c->irq_usec))
		raise_irq(e, c);
}

void det_engine_stop_all(struct det_engine *e)
{
	for (unsigned i = 0; i < e->nch; i++) {
		e->ch[i].ctrl = 0;
		e->ch[i].single = false;
		e->ch[i].cache_n = 0;
		e->ch[i].irq_pending = 0;
		e->ch[i].gen++;
	}
}

/* Everything the channel needs to stream; logs and flags an error if not. */
static bool chan_ready(struct det_engine *e, struct det_chan *c)
{
	int rc;

	if (!c->ring_size || (c->ring_addr & 63) ||
	    c->ring_addr + (uint64_t)c->ring_size * DET_DESC_SIZE < c->ring_addr) {
		vpcie_warn(e->lg, "channel %u: no usable ring (base 0x%" PRIx64 ", %" PRIu32
			   " descriptors): not started", c->idx, c->ring_addr, c->ring_size);
		c->error = true;
		return false;
	}
	if ((c->shadow_addr & 63) || c->shadow_addr + DET_SHADOW_SIZE < c->shadow_addr) {
		vpcie_warn(e->lg, "channel %u: shadow block at 0x%" PRIx64 " refused: not started",
			   c->idx, c->shadow_addr);
		c->error = true;
		return false;
	}
	/* The buffer a frame in flight is sent from must outlive the frame. */
	rc = det_frame_prepare(&c->fr, c->frame_size, c->pattern, e->file,
			       c->busy ? &c->retired : NULL);
	if (rc) {
		vpcie_warn(e->lg, "channel %u: frame size %" PRIu32 " pattern %" PRIu32 ": %s",
			   c->idx, c->frame_size, c->pattern, strerror(-rc));
		c->error = true;
		return false;
	}
	return true;
}

static void chan_ctrl(struct det_engine *e, struct det_chan *c, uint32_t v)
{
	if (v & DET_CTRL_RESET)
		chan_reset(c);
	if ((v & DET_CTRL_ENABLE) && !(c->ctrl & DET_CTRL_ENABLE)) {
		if (chan_ready(e, c)) {
			c->ctrl |= DET_CTRL_ENABLE;
			c->shadow_idle = c->shadow_addr != 0; /* cleared by the first run */
			c->since_start = 0;
			c->next_due = now(e);
		}
	} else if (!(v & DET_CTRL_ENABLE) && (c->ctrl & DET_CTRL_ENABLE)) {
		chan_stop(e, c);
	}
	if ((v & DET_CTRL_SINGLE) && chan_ready(e, c))
		c->single = true;
}

/* ---- Registers ---------------------------------------------------------- */

static bool chan_running(const struct det_chan *c)
{
	return (c->ctrl & DET_CTRL_ENABLE) && !(c->frame_limit && c->since_start >= c->frame_limit);
}

static uint32_t chan_read(struct det_engine *e, struct det_chan *c, uint32_t r)
{
	(void)e;
	switch (r) {
	case DET_CH_CTRL: return c->ctrl;
	case DET_CH_STATUS:
		return (chan_running(c) ? DET_STS_RUNNING : 0) | (c->error ? DET_STS_ERROR : 0) |
		       (c->head == c->tail ? DET_STS_RING_EMPTY : 0);
	case DET_CH_FRAME_SIZE: return c->frame_size;
	case DET_CH_PERIOD_NS: return c->period_ns;
	case DET_CH_PATTERN: return c->pattern;
	case DET_CH_SEED: return c->seed;
	case DET_CH_FRAME_LIMIT: return c->frame_limit;
	case DET_CH_RING_LO: return (uint32_t)c->ring_addr;
	case DET_CH_RING_HI: return (uint32_t)(c->ring_addr >> 32);
	case DET_CH_RING_SIZE: return c->ring_size;
	case DET_CH_RING_HEAD: return c->head;
	case DET_CH_RING_TAIL: return c->tail;
	case DET_CH_IRQ_FRAMES: return c->irq_frames;
	case DET_CH_IRQ_USEC: return c->irq_usec;
	case DET_CH_IRQ_VECTOR: return c->irq_vector;
	case DET_CH_SEQ_LO: return (uint32_t)c->seq;
	case DET_CH_SEQ_HI: return (uint32_t)(c->seq >> 32);
	case DET_CH_SHADOW_LO: return (uint32_t)c->shadow_addr;
	case DET_CH_SHADOW_HI: return (uint32_t)(c->shadow_addr >> 32);
	case DET_CH_FRAMES_LO: return (uint32_t)c->frames;
	case DET_CH_FRAMES_HI: return (uint32_t)(c->frames >> 32);
	case DET_CH_BYTES_LO: return (uint32_t)c->bytes;
	case DET_CH_BYTES_HI: return (uint32_t)(c->bytes >> 32);
	case DET_CH_DROPPED_LO: return (uint32_t)c->dropped;
	case DET_CH_DROPPED_HI: return (uint32_t)(c->dropped >> 32);
	case DET_CH_DMA_ERR_LO: return (uint32_t)c->dma_err;
	case DET_CH_DMA_ERR_HI: return (uint32_t)(c->dma_err >> 32);
	case DET_CH_BAD_DESC_LO: return (uint32_t)c->bad_desc;
	case DET_CH_BAD_DESC_HI: return (uint32_t)(c->bad_desc >> 32);
	case DET_CH_IRQS_LO: return (uint32_t)c->irqs;
	case DET_CH_IRQS_HI: return (uint32_t)(c->irqs >> 32);
	default: return 0;
	}
}

static bool stopped_or_warn(struct det_engine *e, struct det_chan *c, const char *what)
{
	if (!(c->ctrl & DET_CTRL_ENABLE))
		return true;
	vpcie_warn(e->lg, "channel %u: %s changed while streaming: ignored", c->idx, what);
	return false;
}

static void chan_write(struct det_engine *e, struct det_chan *c, uint32_t r, uint32_t v)
{
	switch (r) {
	case DET_CH_CTRL:
		chan_ctrl(e, c, v);
		break;
	case DET_CH_FRAME_SIZE:
		if (v < DET_FRAME_MIN || v > DET_FRAME_MAX || v % 8) {
			vpcie_warn(e->lg, "channel %u: frame size %" PRIu32 " refused", c->idx, v);
			c->error = true;
		} else if (stopped_or_warn(e, c, "frame size")) {
			c->frame_size = v;
			c->gen++;
		}
		break;
	case DET_CH_PERIOD_NS: c->period_ns = v; break;
	case DET_CH_PATTERN:
		if (v > DET_PAT_FILE || (v == DET_PAT_FILE && !e->file)) {
			vpcie_warn(e->lg, "channel %u: pattern %" PRIu32 " refused", c->idx, v);
			c->error = true;
		} else if (stopped_or_warn(e, c, "pattern")) {
			c->pattern = v;
			c->gen++;
		}
		break;
	case DET_CH_SEED: c->seed = v; break;
	case DET_CH_FRAME_LIMIT: c->frame_limit = v; break;
	case DET_CH_RING_LO:
		if (stopped_or_warn(e, c, "ring base")) {
			c->ring_addr = (c->ring_addr & ~0xffffffffull) | v;
			c->cache_n = 0;
			c->head = c->tail = 0; /* a new ring */
			c->gen++;
		}
		break;
	case DET_CH_RING_HI:
		if (stopped_or_warn(e, c, "ring base")) {
			c->ring_addr = (c->ring_addr & 0xffffffffull) | (uint64_t)v << 32;
			c->cache_n = 0;
			c->head = c->tail = 0; /* a new ring */
			c->gen++;
		}
		break;
	case DET_CH_RING_SIZE:
		if (!v || v > 65536 || (v & (v - 1))) {
			vpcie_warn(e->lg, "channel %u: ring size %" PRIu32 " refused", c->idx, v);
			c->error = true;
		} else if (stopped_or_warn(e, c, "ring size")) {
			c->ring_size = v;
			c->cache_n = 0;
			c->head = c->tail = 0; /* a new ring */
			c->gen++;
		}
		break;
	case DET_CH_RING_TAIL:
		/* More posted than the ring holds, or posted descriptors taken
		 * back: a broken or hostile host. */
		/* With a shadow, a doorbell may arrive after the engine read a
		 * later tail from memory and consumed up to RING_SIZE beyond
		 * it: v in [HEAD - RING_SIZE, TAIL] is old news. */
		if (c->shadow_addr && c->tail - v <= c->tail - c->head + c->ring_size)
			break;
		if (v - c->head > c->ring_size || v - c->head < c->tail - c->head) {
			vpcie_warn(e->lg, "channel %u: tail %" PRIu32 " with head %" PRIu32
				   " and %" PRIu32 " descriptors: ignored", c->idx, v, c->head,
				   c->ring_size);
			c->error = true;
		} else {
			c->tail = v;
		}
		break;
	case DET_CH_SHADOW_LO:
		if (stopped_or_warn(e, c, "shadow block"))
			c->shadow_addr = (c->shadow_addr & ~0xffffffffull) | v;
		break;
	case DET_CH_SHADOW_HI:
		if (stopped_or_warn(e, c, "shadow block"))
			c->shadow_addr = (c->shadow_addr & 0xffffffffull) | (uint64_t)v << 32;
		break;
	case DET_CH_IRQ_FRAMES: c->irq_frames = v; break;
	case DET_CH_IRQ_USEC: c->irq_usec = v; break;
	case DET_CH_IRQ_VECTOR: c->irq_vector = v; break;
	default: break; /* read-only or reserved */
	}
}

uint32_t det_reg_read(struct det_engine *e, uint32_t off)
{
	uint64_t t;

	if (off >= DET_CH_BASE(0)) {
		uint32_t n = (off - DET_CH_BASE(0)) / DET_CH_STRIDE;

		return n < e->nch ? chan_read(e, &e->ch[n], off % DET_CH_STRIDE) : 0;
	}
	switch (off) {
	case DET_REG_ID: return DET_ID_VALUE;
	case DET_REG_VERSION: return DET_VERSION_VALUE;
	case DET_REG_CAPS:
		return DET_CAP_PATTERN_PRNG | DET_CAP_SHADOW | (e->file ? DET_CAP_PATTERN_FILE : 0);
	case DET_REG_CHANNELS: return e->nch;
	case DET_REG_TIME_LO:
	case DET_REG_TIME_HI:
		t = now(e) - e->t0;
		return off == DET_REG_TIME_LO ? (uint32_t)t : (uint32_t)(t >> 32);
	case DET_REG_SCRATCH: return e->scratch;
	default: return 0;
	}
}

void det_reg_write(struct det_engine *e, uint32_t off, uint32_t v)
{
	if (off >= DET_CH_BASE(0)) {
		uint32_t n = (off - DET_CH_BASE(0)) / DET_CH_STRIDE;

		if (n < e->nch)
			chan_write(e, &e->ch[n], off % DET_CH_STRIDE, v);
		return;
	}
	if (off == DET_REG_GCTRL && (v & DET_GCTRL_RESET)) {
		for (unsigned i = 0; i < e->nch; i++)
			chan_reset(&e->ch[i]);
	} else if (off == DET_REG_SCRATCH) {
		e->scratch = v;
	}
}

/* ---- Descriptors -------------------------------------------------------- */

/* Descriptor i's bytes in host memory, when the ring is directly mapped:
 * the whole ring is looked up once per engine turn (a pointer is valid
 * until the turn returns to the event loop), else per descriptor. */
static uint8_t *desc_ptr(struct det_engine *e, struct det_chan *c, uint32_t i)
{
	uint64_t slot = i & (c->ring_size - 1);

	if (c->ring_view_turn != e->turn || c->ring_view_gen != c->gen) {
		c->ring_view = e->io->ptr(e->ctx, c->ring_addr,
					  (size_t)c->ring_size * DET_DESC_SIZE, true);
		c->ring_view_turn = e->turn;
		c->ring_view_gen = c->gen;
	}
	if (c->ring_view)
		return c->ring_view + slot * DET_DESC_SIZE;
	return e->io->ptr(e->ctx, c->ring_addr + slot * DET_DESC_SIZE, DET_DESC_SIZE, true);
}

/* Descriptor i (free-running) into *d; false if it cannot be read. */
static bool desc_get(struct det_engine *e, struct det_chan *c, uint32_t i, struct det_desc *d)
{
	uint32_t slot = i & (c->ring_size - 1), n, gen;
	uint64_t addr = c->ring_addr + (uint64_t)slot * DET_DESC_SIZE;
	uint8_t raw[DET_DESC_CACHE * DET_DESC_SIZE];
	const uint8_t *p;

	if (c->cache_n && i - c->cache_start < c->cache_n) {
		*d = c->cache[i - c->cache_start];
		return true;
	}
	p = desc_ptr(e, c, i);
	if (p) {
		d->addr = le_get64(p + DET_DESC_ADDR);
		d->len = le_get32(p + DET_DESC_LEN);
		return true;
	}
	/* Through messages: read ahead up to the tail or the ring's end. */
	n = c->tail - i;
	if (n > DET_DESC_CACHE)
		n = DET_DESC_CACHE;
	if (n > c->ring_size - slot)
		n = c->ring_size - slot;
	gen = c->gen;
	if (!n || e->io->read(e->ctx, addr, raw, (size_t)n * DET_DESC_SIZE) || gen != c->gen)
		return false; /* unreadable, or the ring changed meanwhile */
	for (uint32_t k = 0; k < n; k++) {
		c->cache[k].addr = le_get64(raw + k * DET_DESC_SIZE + DET_DESC_ADDR);
		c->cache[k].len = le_get32(raw + k * DET_DESC_SIZE + DET_DESC_LEN);
	}
	c->cache_start = i;
	c->cache_n = n;
	*d = c->cache[0];
	return true;
}

static bool desc_sane(const struct det_desc *d)
{
	return d->len && d->addr + d->len - 1 >= d->addr;
}

/* Write back descriptor i's completion: used, status, seq, then flags. */
static int desc_complete(struct det_engine *e, struct det_chan *c, uint32_t i,
			 const struct det_done *dn, uint32_t flags, uint64_t seq)
{
	uint64_t addr = c->ring_addr + (uint64_t)(i & (c->ring_size - 1)) * DET_DESC_SIZE;
	uint8_t *p = desc_ptr(e, c, i);
	uint8_t tail[16];
	uint32_t f;
	int rc;

	le_put32(tail, dn->used);
	le_put32(tail + 4, dn->status);
	le_put64(tail + 8, seq);
	if (p) {
		memcpy(p + DET_DESC_USED, tail, sizeof(tail));
		/* Release: the frame's data and these fields before DONE. */
		__atomic_store_n((uint32_t *)(void *)(p + DET_DESC_FLAGS), htole32(flags),
				 __ATOMIC_RELEASE);
		return 0;
	}
	rc = e->io->write(e->ctx, addr + DET_DESC_USED, tail, sizeof(tail));
	if (rc)
		return rc;
	f = htole32(flags);
	return e->io->write(e->ctx, addr + DET_DESC_FLAGS, &f, sizeof(f));
}

static int done_room(struct det_chan *c, uint32_t n)
{
	struct det_done *d;

	if (n <= c->done_cap)
		return 0;
	d = realloc(c->done, (size_t)n * sizeof(*d));
	if (!d)
		return -ENOMEM;
	c->done = d;
	c->done_cap = n;
	return 0;
}

/* ---- Frames ------------------------------------------------------------- */

/* ABANDONED: the host changed the channel while the frame was in flight. */
enum place { PLACED, NO_DESC, STOPPED, ABANDONED };

/* Copy the frame bytes [off, off+n) to host address addr. */
static int put_bytes(struct det_engine *e, struct det_chan *c, uint64_t addr, uint32_t off,
		     uint32_t n)
{
	void *p = e->io->ptr(e->ctx, addr, n, true);

	if (p) {
		memcpy(p, c->fr.buf + off, n);
		return 0;
	}
	return e->io->write(e->ctx, addr, c->fr.buf + off, n);
}

/* Consume descriptors at the head that are bad on their face (zero length,
 * wrapping range), so a ring of garbage cannot stall the channel. */
static bool skip_bad_head(struct det_engine *e, struct det_chan *c, uint32_t gen)
{
	struct det_desc d;
	struct det_done dn = {0, 0, DET_DESC_ST_BAD};

	while (c->head != c->tail && desc_get(e, c, c->head, &d) && gen == c->gen &&
	       !desc_sane(&d)) {
		desc_complete(e, c, c->head, &dn, DET_DESC_F_DONE, c->seq);
		if (gen != c->gen)
			return false;
		c->bad_desc++;
		c->error = true;
		c->head++;
	}
	return gen == c->gen;
}

/* Enough descriptors posted, by their lengths, for a frame? *count gets how
 * many it spans; *unreadable is set if the ring cannot be read. */
static bool enough_posted(struct det_engine *e, struct det_chan *c, uint32_t *count,
			  bool *unreadable, uint32_t gen)
{
	uint64_t sum = 0;
	struct det_desc d;

	for (uint32_t i = c->head; i != c->tail; i++) {
		if (!desc_get(e, c, i, &d) || gen != c->gen) {
			*unreadable = gen == c->gen;
			return false;
		}
		if (desc_sane(&d))
			sum += d.len;
		if (sum >= c->frame_size) {
			*count = i - c->head + 1;
			return true;
		}
	}
	return false;
}

static void note_completion(struct det_engine *e, struct det_chan *c, uint64_t t)
{
	if (!c->irq_pending++)
		c->irq_first_ns = t;
	if (c->irq_frames && c->irq_pending >= c->irq_frames)
		raise_irq(e, c);
}

/* Place one frame at the head of the ring (c->busy set). */
static enum place place_frame_busy(struct det_engine *e, struct det_chan *c, uint64_t t)
{
	uint32_t count, off = 0, n, first = 0, last = 0, gen = c->gen, avail;
	uint64_t seq = c->seq;
	bool have_data = false, unreadable = false;
	int rc = 0, wrc = 0;

	/* Settings may have changed since the start (SINGLE while stopped). */
	if (det_frame_prepare(&c->fr, c->frame_size, c->pattern, e->file, NULL)) {
		c->error = true;
		c->ctrl &= ~DET_CTRL_ENABLE;
		c->single = false;
		return STOPPED;
	}
	if (!skip_bad_head(e, c, gen))
		return ABANDONED;
	if (!enough_posted(e, c, &count, &unreadable, gen)) {
		if (gen != c->gen)
			return ABANDONED;
		if (!unreadable)
			return NO_DESC;
		/* The ring itself is outside host memory (or DMA is off): a
		 * DMA error that halts the channel, as a real engine would. */
		vpcie_warn(e->lg, "channel %u: descriptor ring at 0x%" PRIx64 " unreadable: stopped",
			   c->idx, c->ring_addr);
		c->dma_err++;
		c->error = true;
		c->ctrl &= ~DET_CTRL_ENABLE;
		c->single = false;
		return STOPPED;
	}
	if (done_room(c, c->ring_size)) {
		vpcie_err(e->lg, "channel %u: out of memory: stopped", c->idx);
		c->error = true;
		c->ctrl &= ~DET_CTRL_ENABLE;
		c->single = false;
		return STOPPED;
	}
	det_frame_fill(&c->fr, e->file, (uint16_t)c->idx, seq, t - e->t0, c->seed);
	/* count descriptors suffice by their lengths; rejected addresses may
	 * take more, up to the tail. */
	avail = c->tail - c->head; /* <= ring_size, the room in done[] */
	for (n = 0; n < avail && off < c->frame_size; n++) {
		struct det_desc d;
		struct det_done *dn = &c->done[n];
		uint32_t len;
		bool got;

		dn->used = 0;
		dn->status = DET_DESC_ST_BAD;
		got = desc_get(e, c, c->head + n, &d);
		if (gen != c->gen)
			return ABANDONED; /* every DMA call may have run host commands */
		if (!got || !desc_sane(&d)) {
			dn->addr = 0;
			continue;
		}
		dn->addr = d.addr;
		len = c->frame_size - off < d.len ? c->frame_size - off : d.len;
		rc = put_bytes(e, c, d.addr, off, len);
		if (gen != c->gen)
			return ABANDONED;
		if (rc == -EFAULT)
			continue; /* outside host memory: rejected, nothing moved */
		dn->status = rc ? DET_DESC_ST_DMA_ERR : DET_DESC_ST_OK;
		dn->used = len;
		if (!have_data)
			first = n;
		last = n;
		have_data = true;
		off += len;
		if (rc)
			break;
	}
	if (off < c->frame_size || rc) {
		/* Rejected descriptors left too little room, or a transfer
		 * failed: the descriptors holding data complete with DMA_ERR. */
		for (uint32_t k = 0; k < n; k++)
			if (c->done[k].status == DET_DESC_ST_OK)
				c->done[k].status = DET_DESC_ST_DMA_ERR;
		c->dma_err++;
		c->error = true;
	}
	for (uint32_t k = 0; k < n; k++) {
		const struct det_done *dn = &c->done[k];
		uint32_t flags = DET_DESC_F_DONE;

		if (dn->status == DET_DESC_ST_BAD) {
			c->bad_desc++;
			c->error = true;
		} else {
			flags |= (k == first ? DET_DESC_F_SOF : 0) | (k == last ? DET_DESC_F_EOF : 0);
		}
		if (!wrc)
			wrc = desc_complete(e, c, c->head + k, dn, flags, seq);
		if (gen != c->gen)
			return ABANDONED;
	}
	c->head += n;
	c->seq++;
	if (wrc && !rc)
		c->dma_err++; /* the completion could not be written back */
	if (off == c->frame_size && !rc && !wrc) {
		c->frames++;
		c->bytes += c->frame_size;
	}
	note_completion(e, c, t);
	if (!rc)
		rc = wrc;
	if (rc == -EPERM || rc == -ENOTCONN) {
		vpcie_warn(e->lg, "channel %u: DMA no longer possible (%s): stopped", c->idx,
			   strerror(-rc));
		c->ctrl &= ~DET_CTRL_ENABLE;
		c->single = false;
		return STOPPED;
	}
	return PLACED;
}

static enum place place_frame(struct det_engine *e, struct det_chan *c, uint64_t t)
{
	enum place r;

	c->busy = true;
	r = place_frame_busy(e, c, t);
	c->busy = false;
	free(c->retired);
	c->retired = NULL;
	return r;
}

static void drop_frames(struct det_chan *c, uint64_t n)
{
	c->seq += n;
	c->dropped += n;
}

/* ---- Tail shadow (DET_CH_SHADOW) ------------------------------------------ */

static void shadow_bad(struct det_engine *e, struct det_chan *c, const char *what, uint32_t v)
{
	if (!c->shadow_warned)
		vpcie_warn(e->lg, "channel %u: shadow tail %s (%" PRIu32 ", head %" PRIu32 ", tail %"
			   PRIu32 ", %" PRIu32 " descriptors): ignored", c->idx, what, v, c->head,
			   c->tail, c->ring_size);
	c->shadow_warned = true;
	c->error = true;
}

/*
 * Take SHADOW_TAIL from host memory, a hostile value: only a tail ahead of
 * ours and at most RING_SIZE ahead of HEAD is used. Returns 1 if the tail
 * advanced, 0 if not, -1 if the channel changed during the read (messages).
 */
static int shadow_refresh(struct det_engine *e, struct det_chan *c)
{
	uint64_t addr = c->shadow_addr + DET_SHADOW_TAIL;
	uint32_t gen = c->gen, v;
	const void *p;
	uint8_t raw[4];

	if (!c->shadow_addr || !(c->ctrl & DET_CTRL_ENABLE))
		return 0;
	p = e->io->ptr(e->ctx, addr, sizeof(raw), false);
	if (p) {
		/* Acquire: the descriptors the host filled before the tail. */
		v = le32toh(__atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE));
	} else {
		int rc = e->io->read(e->ctx, addr, raw, sizeof(raw));

		if (gen != c->gen)
			return -1;
		if (rc) {
			shadow_bad(e, c, "unreadable", 0);
			return 0;
		}
		v = le_get32(raw);
	}
	if (v == c->tail)
		return 0;
	if (v - c->head > c->ring_size || v - c->head < c->tail - c->head) {
		shadow_bad(e, c, v - c->head > c->ring_size ? "beyond the ring" : "going back", v);
		return 0;
	}
	c->tail = v;
	return 1;
}

static void shadow_flags(struct det_engine *e, struct det_chan *c, uint32_t flags)
{
	uint64_t addr = c->shadow_addr + DET_SHADOW_FLAGS;
	void *p = e->io->ptr(e->ctx, addr, 4, true);
	uint8_t raw[4];

	c->shadow_idle = flags & DET_SHADOW_F_IDLE;
	if (p) {
		__atomic_store_n((uint32_t *)p, htole32(flags), __ATOMIC_RELAXED);
	} else {
		le_put32(raw, flags);
		e->io->write(e->ctx, addr, raw, sizeof(raw)); /* lost: the host rings anyway */
	}
}

/* The engine has descriptors to fill again: posting needs no doorbell. */
static void shadow_running(struct det_engine *e, struct det_chan *c)
{
	if (c->shadow_idle && c->shadow_addr)
		shadow_flags(e, c, 0);
}

/*
 * The free-running engine found too few descriptors: announce IDLE, then
 * look at the shadow once more (the host stores its tail, then reads the
 * flags: with a full barrier on both sides one of them sees the other).
 * Returns true if there is more to try (descriptors, or the channel changed).
 */
static bool shadow_sleep(struct det_engine *e, struct det_chan *c)
{
	uint32_t gen = c->gen;
	int r;

	if (!c->shadow_addr)
		return false;
	shadow_flags(e, c, DET_SHADOW_F_IDLE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (gen != c->gen)
		return true;
	r = shadow_refresh(e, c);
	if (r > 0)
		shadow_running(e, c);
	return r != 0;
}

/* Moderation by time: raise if due; else the deadline (or NEVER). */
static uint64_t irq_timer(struct det_engine *e, struct det_chan *c, uint64_t t)
{
	uint64_t due;

	if (!c->irq_pending || !c->irq_usec)
		return DET_RUN_NEVER;
	due = c->irq_first_ns + (uint64_t)c->irq_usec * 1000u;
	if (t >= due) {
		raise_irq(e, c);
		return DET_RUN_NEVER;
	}
	return due;
}

/* Up to DET_BURST frames on channel c. Returns NOW, NEVER or a deadline. */
static uint64_t chan_run(struct det_engine *e, struct det_chan *c, uint64_t t)
{
	uint64_t next = DET_RUN_NEVER, due;

	/* A turn with no descriptors (a register access, a timer) leaves IDLE
	 * as it is: the host never sees it drop and rise again while nothing
	 * changes. */
	if ((c->ctrl & DET_CTRL_ENABLE) && (c->tail != c->head || c->single))
		shadow_running(e, c);
	if (c->single) {
		c->single = false;
		if (place_frame(e, c, t) == NO_DESC)
			drop_frames(c, 1);
	}
	for (unsigned k = 0; k < DET_BURST && (c->ctrl & DET_CTRL_ENABLE); k++) {
		enum place r;

		if (!chan_running(c)) {
			chan_stop(e, c);
			break;
		}
		if (c->period_ns) {
			if (t < c->next_due) {
				next = c->next_due;
				break;
			}
			/* Late by more than a period: those frames are lost. */
			if (t - c->next_due >= c->period_ns) {
				uint64_t late = (t - c->next_due) / c->period_ns;

				if (c->frame_limit && late > c->frame_limit - c->since_start)
					late = c->frame_limit - c->since_start;
				drop_frames(c, late);
				c->since_start += late;
				c->next_due += late * c->period_ns;
				if (!chan_running(c))
					continue;
			}
			c->next_due += c->period_ns;
		}
		r = place_frame(e, c, t);
		if (r == NO_DESC && shadow_refresh(e, c)) {
			shadow_running(e, c);
			r = place_frame(e, c, t); /* the host posted more meanwhile */
		}
		if (r == STOPPED)
			break;
		if (r == ABANDONED) {
			next = DET_RUN_NOW;
			break;
		}
		if (r == NO_DESC) {
			if (!c->period_ns) {
				if (shadow_sleep(e, c)) {
					next = DET_RUN_NOW;
					continue;
				}
				break; /* free-running: wait for the doorbell */
			}
			drop_frames(c, 1);
		}
		c->since_start++;
		next = DET_RUN_NOW;
		t = now(e);
	}
	if (!chan_running(c) && (c->ctrl & DET_CTRL_ENABLE))
		chan_stop(e, c);
	due = irq_timer(e, c, t);
	return due < next ? due : next;
}

uint64_t det_engine_run(struct det_engine *e, uint64_t budget_ns)
{
	uint64_t start = now(e), next;

	e->turn++; /* direct pointers of the last turn are stale */
	for (;;) {
		next = DET_RUN_NEVER;
		for (unsigned i = 0; i < e->nch; i++) {
			uint64_t w = chan_run(e, &e->ch[i], now(e));

			if (w < next)
				next = w;
		}
		if (next != DET_RUN_NOW || now(e) - start >= budget_ns)
			return next;
	}
}
