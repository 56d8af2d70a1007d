/* SPDX-License-Identifier: MIT */
/*
 * Single-producer/single-consumer rings of 64-byte slots in shared memory,
 * with C11 atomics: the layout, the wait protocol and the trust rules are
 * described in vpcie/ring.h.
 *
 * Memory ordering. A slot is written, then its seq word is stored with
 * release semantics; the consumer loads seq with acquire semantics, then
 * copies the slot. The consumer then frees it with a release store of its
 * index; the producer reads that with an acquire load before it reuses the
 * slot. Sleeping and waiting are Dekker-style: each side stores (a seq or
 * its index, and its flag), issues a seq_cst fence, then loads the other's;
 * with both fences, at least one side sees the other's store, so either the
 * sleeper sees the work or the producer sees the sleeper.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include <vpcie/ring.h>

#define RING_CTRL_BASE 64u
#define RING_CTRL_SIZE 256u
/* The consumer looks for a waiting producer every this many slots freed; a
 * producer only waits on a full ring, so at least this many get freed. */
#define RING_KICK_EVERY 16u

struct ring_ctrl {
	_Alignas(64) _Atomic uint32_t cons;
	_Alignas(64) _Atomic uint32_t sleeping;
	_Alignas(64) _Atomic uint32_t waiting;
	_Alignas(64) uint32_t unused;
};

_Static_assert(sizeof(struct ring_ctrl) == RING_CTRL_SIZE, "control block size");
_Static_assert(offsetof(struct ring_ctrl, sleeping) == 64, "sleeping on its own line");
_Static_assert(offsetof(struct ring_ctrl, waiting) == 128, "waiting on its own line");
_Static_assert(offsetof(struct vpcie_ring_slot, seq) % 4 == 0, "seq aligned");
_Static_assert(RING_CTRL_BASE + 2 * RING_CTRL_SIZE <= VPCIE_RING_HDR_SIZE, "header fits");
_Static_assert(sizeof(struct vpcie_ring_info) <= RING_CTRL_BASE, "info fits");
_Static_assert(VPCIE_RING_SLOTS_MIN >= RING_KICK_EVERY, "a full ring frees a kick point");

static struct ring_ctrl *ctl(const struct vpcie_ring *r)
{
	return r->ctrl;
}

static uint8_t *slot_at(const struct vpcie_ring *r, uint32_t i)
{
	return r->slots + (size_t)(i & r->mask) * VPCIE_RING_SLOT_SIZE;
}

/* The seq word of the slot holding index i. */
static _Atomic uint32_t *seq_at(const struct vpcie_ring *r, uint32_t i)
{
	return (_Atomic uint32_t *)(void *)(slot_at(r, i) + offsetof(struct vpcie_ring_slot, seq));
}

bool vpcie_ring_slots_valid(uint32_t slots)
{
	return slots >= VPCIE_RING_SLOTS_MIN && slots <= VPCIE_RING_SLOTS_MAX &&
	       !(slots & (slots - 1));
}

size_t vpcie_ring_mem_size(uint32_t slots)
{
	if (!vpcie_ring_slots_valid(slots))
		return 0;
	return VPCIE_RING_HDR_SIZE + 2 * (size_t)slots * VPCIE_RING_SLOT_SIZE;
}

void vpcie_ring_mem_init(void *mem, uint32_t slots)
{
	struct vpcie_ring_info info = {
		.magic = VPCIE_RING_MAGIC,
		.version = VPCIE_RING_VERSION,
		.slots = slots,
		.slot_size = VPCIE_RING_SLOT_SIZE,
	};

	memset(mem, 0, VPCIE_RING_HDR_SIZE);
	memcpy(mem, &info, sizeof(info));
	for (unsigned d = 0; d < 2; d++) {
		struct ring_ctrl *c = (struct ring_ctrl *)((uint8_t *)mem + RING_CTRL_BASE +
							   d * RING_CTRL_SIZE);

		atomic_init(&c->cons, 0);
		atomic_init(&c->sleeping, 0);
		atomic_init(&c->waiting, 0);
	}
}

int vpcie_ring_open(struct vpcie_ring *r, void *mem, size_t len, uint32_t slots,
		    enum vpcie_ring_dir dir, bool producer)
{
	size_t need = vpcie_ring_mem_size(slots);

	if (!r || !mem || !need || len < need || (dir != VPCIE_RING_H2D && dir != VPCIE_RING_D2H))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->ctrl = (uint8_t *)mem + RING_CTRL_BASE + (size_t)dir * RING_CTRL_SIZE;
	r->slots = (uint8_t *)mem + VPCIE_RING_HDR_SIZE +
		   (size_t)dir * slots * VPCIE_RING_SLOT_SIZE;
	r->size = slots;
	r->mask = slots - 1;
	r->producer = producer;
	return 0;
}

/* ---- Producer ------------------------------------------------------------- */

/* Slots in flight given the consumer's index c, or -EPROTO if impossible
 * (ahead of what we produced, or more than the ring holds). */
static int used_slots(const struct vpcie_ring *r, uint32_t c)
{
	uint32_t used = r->head - c;

	return used > r->size ? -EPROTO : (int)used;
}

static int reload_cons(struct vpcie_ring *r)
{
	uint32_t c = atomic_load_explicit(&ctl(r)->cons, memory_order_acquire);
	int used = used_slots(r, c);

	if (used >= 0)
		r->seen = c;
	return used;
}

int vpcie_ring_push(struct vpcie_ring *r, const struct vpcie_ring_slot *s)
{
	if (r->head - r->seen >= r->size) {
		int used = reload_cons(r);

		if (used < 0)
			return used;
		if ((uint32_t)used == r->size)
			return -EAGAIN;
	}
	/* Everything but seq, then seq (release): the slot is published. */
	memcpy(slot_at(r, r->head), s, offsetof(struct vpcie_ring_slot, seq));
	memcpy(slot_at(r, r->head) + offsetof(struct vpcie_ring_slot, reserved), &s->reserved,
	       VPCIE_RING_SLOT_SIZE - offsetof(struct vpcie_ring_slot, reserved));
	atomic_store_explicit(seq_at(r, r->head), r->head + 1, memory_order_release);
	r->head++;
	return 0;
}

bool vpcie_ring_kick_needed(struct vpcie_ring *r)
{
	uint32_t g;

	atomic_thread_fence(memory_order_seq_cst);
	g = atomic_load_explicit(&ctl(r)->sleeping, memory_order_relaxed);
	if (!g || g == r->kicked)
		return false;
	r->kicked = g;
	return true;
}

int vpcie_ring_free(struct vpcie_ring *r)
{
	int used = reload_cons(r);

	return used < 0 ? used : (int)r->size - used;
}

int vpcie_ring_pending(struct vpcie_ring *r)
{
	return reload_cons(r);
}

int vpcie_ring_wait_prepare(struct vpcie_ring *r)
{
	if (++r->gen == 0)
		r->gen = 1;
	atomic_store_explicit(&ctl(r)->waiting, r->gen, memory_order_relaxed);
	r->announced = true;
	atomic_thread_fence(memory_order_seq_cst);
	return vpcie_ring_free(r);
}

void vpcie_ring_wait_done(struct vpcie_ring *r)
{
	if (!r->announced)
		return;
	atomic_store_explicit(&ctl(r)->waiting, 0, memory_order_relaxed);
	r->announced = false;
}

/* ---- Consumer ------------------------------------------------------------- */

bool vpcie_ring_ready(const struct vpcie_ring *r)
{
	return atomic_load_explicit(seq_at(r, r->head), memory_order_acquire) == r->head + 1;
}

int vpcie_ring_pop(struct vpcie_ring *r, struct vpcie_ring_slot *out)
{
	if (!vpcie_ring_ready(r))
		return 0;
	memcpy(out, slot_at(r, r->head), VPCIE_RING_SLOT_SIZE);
	r->head++;
	atomic_store_explicit(&ctl(r)->cons, r->head, memory_order_release);
	if (r->head % RING_KICK_EVERY == 0) {
		uint32_t w;

		atomic_thread_fence(memory_order_seq_cst);
		w = atomic_load_explicit(&ctl(r)->waiting, memory_order_relaxed);
		if (w && w != r->kicked) {
			r->kicked = w;
			r->kick_peer = true;
		}
	}
	return 1;
}

bool vpcie_ring_take_kick(struct vpcie_ring *r)
{
	bool k = r->kick_peer;

	r->kick_peer = false;
	return k;
}

bool vpcie_ring_sleep_prepare(struct vpcie_ring *r)
{
	if (++r->gen == 0)
		r->gen = 1;
	atomic_store_explicit(&ctl(r)->sleeping, r->gen, memory_order_relaxed);
	r->announced = true;
	atomic_thread_fence(memory_order_seq_cst);
	return vpcie_ring_ready(r);
}

void vpcie_ring_awake(struct vpcie_ring *r)
{
	/* Only when set: the producer reads this line after every push. */
	if (!r->announced)
		return;
	atomic_store_explicit(&ctl(r)->sleeping, 0, memory_order_relaxed);
	r->announced = false;
}

/* ---- Slots ------------------------------------------------------------------ */

int vpcie_ring_slot_check(const struct vpcie_ring_slot *s, enum vpcie_ring_dir dir)
{
	bool reply = s->flags & VPCIE_RING_F_REPLY, err = s->flags & VPCIE_RING_F_ERROR;
	bool posted = s->flags & VPCIE_RING_F_POSTED;

	if ((s->flags & ~VPCIE_RING_F_KNOWN) || s->reserved || s->count > VPCIE_RING_INLINE_MAX)
		return -EINVAL;
	if (dir == VPCIE_RING_H2D) {
		if (reply || err || s->error)
			return -EINVAL;
		switch (s->op) {
		case VPCIE_RING_OP_READ:
			return !posted && s->count ? 0 : -EINVAL;
		case VPCIE_RING_OP_WRITE:
			return s->count ? 0 : -EINVAL;
		case VPCIE_RING_OP_FENCE:
			return !posted && !s->count ? 0 : -EINVAL;
		default:
			return -EINVAL;
		}
	}
	if (dir != VPCIE_RING_D2H || posted)
		return -EINVAL;
	switch (s->op) {
	case VPCIE_RING_OP_IRQ:
		return !s->flags && !s->count && !s->error ? 0 : -EINVAL;
	case VPCIE_RING_OP_READ:
	case VPCIE_RING_OP_WRITE:
	case VPCIE_RING_OP_FENCE:
		if (!reply)
			return -EINVAL;
		if (err)
			return s->count ? -EINVAL : 0;
		if (s->error)
			return -EINVAL;
		if (s->op == VPCIE_RING_OP_READ)
			return s->count ? 0 : -EINVAL;
		return s->count ? -EINVAL : 0;
	default:
		return -EINVAL;
	}
}
