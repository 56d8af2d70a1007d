/* SPDX-License-Identifier: MIT */
/*
 * The queue of posted window writes and doorbells of one direction of
 * vpcie-ntb (ntb_post.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ntb_post.h"

static struct ntb_post *slot_at(struct ntb_postq *q, unsigned i)
{
	return &q->slot[(q->head + i) % NTB_POSTQ_SLOTS];
}

/* A fresh entry at the tail, or NULL when every slot is taken. */
static struct ntb_post *push(struct ntb_postq *q)
{
	struct ntb_post *e;

	if (q->count >= NTB_POSTQ_SLOTS)
		return NULL;
	e = slot_at(q, q->count);
	q->count++;
	return e;
}

int ntb_postq_write(struct ntb_postq *q, unsigned mw, uint32_t gen, uint64_t addr,
		    const uint8_t *buf, size_t len)
{
	struct ntb_post *t = q->count ? slot_at(q, q->count - 1) : NULL;

	if (len > NTB_POSTQ_MAX_BYTES - q->bytes)
		return -ENOBUFS;
	/* Append to the last write if it continues it (and is not on its way:
	 * the head being delivered is never touched). */
	if (t && t->kind == NTB_POST_WRITE && t->mw == mw && t->gen == gen &&
	    t->addr + t->len == addr && t->len + len <= NTB_POST_MAX_ENTRY &&
	    !(q->busy && q->count == 1)) {
		if (t->len + len > t->cap) {
			size_t cap = t->cap * 2;
			uint8_t *d;

			while (cap < t->len + len)
				cap *= 2;
			d = realloc(t->data, cap);
			if (!d)
				return -ENOMEM;
			t->data = d;
			t->cap = cap;
		}
		memcpy(t->data + t->len, buf, len);
		t->len += len;
		q->bytes += len;
		return 0;
	}
	if (q->count >= NTB_POSTQ_SLOTS)
		return -ENOBUFS;
	size_t cap = 64;
	uint8_t *d;

	while (cap < len)
		cap *= 2;
	d = malloc(cap);
	if (!d)
		return -ENOMEM;
	memcpy(d, buf, len);
	t = push(q);
	*t = (struct ntb_post){.kind = NTB_POST_WRITE, .mw = mw, .gen = gen, .addr = addr,
			       .len = len, .cap = cap, .data = d};
	q->bytes += len;
	return 0;
}

int ntb_postq_doorbell(struct ntb_postq *q, unsigned vector)
{
	struct ntb_post *e = push(q);

	if (!e)
		return -ENOBUFS;
	*e = (struct ntb_post){.kind = NTB_POST_DOORBELL, .mw = vector};
	return 0;
}

struct ntb_post *ntb_postq_head(struct ntb_postq *q)
{
	return q->count ? slot_at(q, 0) : NULL;
}

static void release(struct ntb_postq *q, struct ntb_post *e)
{
	q->bytes -= e->len;
	free(e->data);
	memset(e, 0, sizeof(*e));
}

void ntb_postq_pop(struct ntb_postq *q)
{
	if (!q->count)
		return;
	release(q, slot_at(q, 0));
	q->head = (q->head + 1) % NTB_POSTQ_SLOTS;
	q->count--;
}

unsigned ntb_postq_clear(struct ntb_postq *q)
{
	unsigned keep = q->busy && q->count ? 1 : 0, dropped = q->count - keep;

	while (q->count > keep) {
		release(q, slot_at(q, q->count - 1));
		q->count--;
	}
	if (keep) {
		q->cancel_head = true;
		dropped++;
	}
	return dropped;
}

void ntb_postq_free(struct ntb_postq *q)
{
	q->busy = false;
	while (q->count)
		ntb_postq_pop(q);
	q->head = 0;
	q->cancel_head = false;
}
