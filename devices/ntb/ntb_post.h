/* SPDX-License-Identifier: MIT */
/*
 * ntb_post.h - posted window writes and doorbells of one direction of
 * vpcie-ntb (host s to its peer p), waiting to be delivered to p.
 *
 * A store into a memory window is a posted write on PCIe: the writer does
 * not wait for it to land. When the peer's memory is reached by DMA messages
 * the device cannot deliver it inside the writer's access without risking a
 * cross-host deadlock (docs/ntb.md, "Posted window writes"), so the bytes
 * are queued here, in order, and delivered later from a device timer. A
 * doorbell rung while writes are queued is queued behind them, so it cannot
 * overtake them.
 *
 * The queue is bounded (NTB_POSTQ_SLOTS entries, NTB_POSTQ_MAX_BYTES bytes);
 * contiguous writes to the same window coalesce into one entry. No locks:
 * everything runs on the thread that dispatches both devices.
 */
#ifndef VPCIE_NTB_POST_H
#define VPCIE_NTB_POST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NTB_POSTQ_SLOTS 256u
#define NTB_POSTQ_MAX_BYTES (8u << 20)
#define NTB_POST_MAX_ENTRY (1u << 20) /* coalesce up to this many bytes */

enum ntb_post_kind {
	NTB_POST_WRITE,
	NTB_POST_DOORBELL,
};

struct ntb_post {
	enum ntb_post_kind kind;
	unsigned mw;       /* window (write), vector (doorbell) */
	uint32_t gen;      /* the peer's translation generation when posted */
	uint64_t addr;     /* in the peer's memory (write) */
	size_t len, cap;
	uint8_t *data;
};

struct ntb_postq {
	struct ntb_post slot[NTB_POSTQ_SLOTS];
	unsigned head, count;
	size_t bytes;      /* data bytes queued */
	bool busy;         /* the head entry is being delivered */
	bool cancel_head;  /* ... and was dropped meanwhile: discard it */
};

/* Queue len bytes for addr in the peer's window mw (translation generation
 * gen), coalescing with the last entry when contiguous. 0 or -ENOBUFS (full:
 * nothing queued), -ENOMEM. */
int ntb_postq_write(struct ntb_postq *q, unsigned mw, uint32_t gen, uint64_t addr,
		    const uint8_t *buf, size_t len);
/* Queue a doorbell (the peer's vector). 0 or -ENOBUFS. */
int ntb_postq_doorbell(struct ntb_postq *q, unsigned vector);

static inline bool ntb_postq_empty(const struct ntb_postq *q)
{
	return q->count == 0;
}

/* The oldest entry (NULL if none); stays queued until ntb_postq_pop(). */
struct ntb_post *ntb_postq_head(struct ntb_postq *q);
void ntb_postq_pop(struct ntb_postq *q);

/* Drop every entry (the one being delivered is discarded when its delivery
 * ends). Returns how many entries were dropped. */
unsigned ntb_postq_clear(struct ntb_postq *q);
/* Free everything (no delivery may be running). */
void ntb_postq_free(struct ntb_postq *q);

#endif
