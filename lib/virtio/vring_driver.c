/* SPDX-License-Identifier: MIT */
/*
 * The driver side of split and packed rings, in memory the driver owns:
 * free descriptor / buffer id bookkeeping, making buffers available,
 * notification decisions from the device's suppression state, used-buffer
 * collection and interrupt requests. Index and flag words shared with the
 * device are accessed atomically (the device may be another process).
 */
#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <vpcie/virtio_host.h>

#include "../util/le.h"

#define DESC_SIZE 16u
#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED (1u << VRING_PACKED_DESC_F_USED)
#define EVENT_WRAP (1u << VRING_PACKED_EVENT_F_WRAP_CTR)

struct slot {
	void *token;
	uint16_t ndesc;      /* descriptors (split) / ring slots (packed) it holds */
	uint16_t last;       /* split: last descriptor of the chain */
	bool busy;
};

struct vpcie_vring {
	struct vpcie_vring_config cfg;
	unsigned size;
	uint8_t *desc;
	uint8_t *drv, *dev;       /* driver area, device area */
	uint64_t drv_iova, dev_iova;
	uint8_t *ind;             /* indirect tables, one per entry */
	uint64_t ind_iova;
	unsigned num_free;
	struct slot *slots;       /* by head (split) or buffer id (packed) */
	unsigned irq_after;       /* vpcie_vring_interrupt_after() setting */

	/* Split. */
	uint16_t *next_free;
	uint16_t free_head;
	uint16_t avail_idx, last_used, kicked_avail;

	/* Packed. */
	uint16_t *free_ids;
	unsigned nfree_ids;
	uint16_t next_avail, next_used;
	bool avail_wrap, used_wrap;
	uint32_t kicked_lin;
};

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Offsets of the parts inside the ring memory. */
static void layout(enum vpcie_virtq_layout l, unsigned size, size_t *drv, size_t *dev,
		   size_t *ind)
{
	*drv = (size_t)DESC_SIZE * size;
	if (l == VPCIE_VIRTQ_SPLIT) {
		*dev = align_up(*drv + 6 + 2u * size, 4);
		*ind = align_up(*dev + 6 + 8u * size, 16);
	} else {
		*dev = *drv + 4;
		*ind = align_up(*dev + 4, 16);
	}
}

size_t vpcie_vring_mem_size(enum vpcie_virtq_layout l, uint16_t size, unsigned indirect_max)
{
	unsigned n = size ? size : VPCIE_VIRTQ_MAX_SIZE;
	size_t drv, dev, ind;

	layout(l, n, &drv, &dev, &ind);
	return ind + (size_t)n * indirect_max * DESC_SIZE;
}

/* ---- Little-endian words in shared memory --------------------------------- */

static void st16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELEASE);
}

static uint16_t ld16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE));
}

static void put_desc(uint8_t *d, uint64_t addr, uint32_t len, uint16_t a, uint16_t b)
{
	/* split: a = flags, b = next; packed: a = id, b = flags */
	uint64_t x = htole64(addr);
	uint32_t l = htole32(len);
	uint16_t aa = htole16(a), bb = htole16(b);

	memcpy(d, &x, 8);
	memcpy(d + 8, &l, 4);
	memcpy(d + 12, &aa, 2);
	memcpy(d + 14, &bb, 2);
}

/* ---- Construction ----------------------------------------------------------- */

struct vpcie_vring *vpcie_vring_new(const struct vpcie_vring_config *cfg)
{
	struct vpcie_vring *r;
	unsigned size;
	size_t drv, dev, ind;

	if (!cfg || !cfg->mem || (uintptr_t)cfg->mem % 16 || cfg->iova % 16 ||
	    (cfg->layout != VPCIE_VIRTQ_SPLIT && cfg->layout != VPCIE_VIRTQ_PACKED)) {
		errno = EINVAL;
		return NULL;
	}
	size = cfg->size ? cfg->size : VPCIE_VIRTQ_MAX_SIZE;
	if (cfg->layout == VPCIE_VIRTQ_SPLIT && (size & (size - 1))) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cfg = *cfg;
	r->size = size;
	r->slots = calloc(size, sizeof(*r->slots));
	r->next_free = calloc(size, sizeof(*r->next_free));
	r->free_ids = calloc(size, sizeof(*r->free_ids));
	if (!r->slots || !r->next_free || !r->free_ids) {
		vpcie_vring_free(r);
		errno = ENOMEM;
		return NULL;
	}
	layout(cfg->layout, size, &drv, &dev, &ind);
	memset(cfg->mem, 0, vpcie_vring_mem_size(cfg->layout, cfg->size, cfg->indirect_max));
	r->desc = cfg->mem;
	r->drv = (uint8_t *)cfg->mem + drv;
	r->dev = (uint8_t *)cfg->mem + dev;
	r->ind = (uint8_t *)cfg->mem + ind;
	r->drv_iova = cfg->iova + drv;
	r->dev_iova = cfg->iova + dev;
	r->ind_iova = cfg->iova + ind;
	r->num_free = size;
	r->irq_after = 1;
	for (unsigned i = 0; i < size; i++) {
		r->next_free[i] = (uint16_t)(i + 1);
		r->free_ids[i] = (uint16_t)(size - 1 - i); /* a stack: id 0 on top */
	}
	r->nfree_ids = size;
	r->avail_wrap = r->used_wrap = true;
	return r;
}

void vpcie_vring_free(struct vpcie_vring *r)
{
	if (!r)
		return;
	free(r->slots);
	free(r->next_free);
	free(r->free_ids);
	free(r);
}

uint64_t vpcie_vring_desc_addr(const struct vpcie_vring *r)
{
	return r->cfg.iova;
}

uint64_t vpcie_vring_driver_addr(const struct vpcie_vring *r)
{
	return r->drv_iova;
}

uint64_t vpcie_vring_device_addr(const struct vpcie_vring *r)
{
	return r->dev_iova;
}

uint16_t vpcie_vring_size(const struct vpcie_vring *r)
{
	return (uint16_t)r->size; /* 32768 fits */
}

unsigned vpcie_vring_num_free(const struct vpcie_vring *r)
{
	return r->num_free;
}

void *vpcie_vring_desc_table(struct vpcie_vring *r)
{
	return r->desc;
}

/* ---- Adding buffers ------------------------------------------------------------ */

static const struct vpcie_vring_buf *element(const struct vpcie_vring_buf *out, unsigned nout,
					     const struct vpcie_vring_buf *in, unsigned k,
					     bool *writable)
{
	*writable = k >= nout;
	return k < nout ? &out[k] : &in[k - nout];
}

/* Fill entry slot's indirect table; returns its address and byte length. */
static uint64_t fill_indirect(struct vpcie_vring *r, unsigned slot,
			      const struct vpcie_vring_buf *out, unsigned nout,
			      const struct vpcie_vring_buf *in, unsigned nin, uint32_t *len)
{
	size_t base = (size_t)slot * r->cfg.indirect_max * DESC_SIZE;
	unsigned n = nout + nin;

	for (unsigned k = 0; k < n; k++) {
		bool w;
		const struct vpcie_vring_buf *b = element(out, nout, in, k, &w);
		uint8_t *d = r->ind + base + (size_t)k * DESC_SIZE;

		if (r->cfg.layout == VPCIE_VIRTQ_SPLIT)
			put_desc(d, b->addr, b->len,
				 (uint16_t)((w ? VRING_DESC_F_WRITE : 0) | (k + 1 < n ? VRING_DESC_F_NEXT : 0)),
				 (uint16_t)(k + 1));
		else
			put_desc(d, b->addr, b->len, 0, w ? VRING_DESC_F_WRITE : 0);
	}
	*len = n * DESC_SIZE;
	return r->ind_iova + base;
}

static void split_add(struct vpcie_vring *r, const struct vpcie_vring_buf *out, unsigned nout,
		      const struct vpcie_vring_buf *in, unsigned nin, bool indirect, void *token)
{
	uint16_t head = r->free_head, i = head, last = head;
	unsigned n = indirect ? 1 : nout + nin;

	if (indirect) {
		uint32_t len;
		uint64_t addr = fill_indirect(r, head, out, nout, in, nin, &len);

		put_desc(r->desc + (size_t)head * DESC_SIZE, addr, len, VRING_DESC_F_INDIRECT, 0);
		i = r->next_free[head];
	} else {
		for (unsigned k = 0; k < n; k++) {
			bool w;
			const struct vpcie_vring_buf *b = element(out, nout, in, k, &w);

			put_desc(r->desc + (size_t)i * DESC_SIZE, b->addr, b->len,
				 (uint16_t)((w ? VRING_DESC_F_WRITE : 0) |
					    (k + 1 < n ? VRING_DESC_F_NEXT : 0)),
				 r->next_free[i]);
			last = i;
			i = r->next_free[i];
		}
	}
	r->free_head = i;
	r->slots[head] = (struct slot){.token = token, .ndesc = (uint16_t)n, .last = last, .busy = true};
	r->num_free -= n;
	/* Ring entry, then the index that publishes it. */
	st16(r->drv + 4 + 2u * (r->avail_idx % r->size), head);
	r->avail_idx++;
	st16(r->drv + 2, r->avail_idx);
}

static uint16_t lap_bits(bool wrap)
{
	return wrap ? F_AVAIL : F_USED;
}

static void advance(const struct vpcie_vring *r, uint16_t *pos, bool *wrap, unsigned n)
{
	unsigned p = *pos + n;

	while (p >= r->size) {
		p -= r->size;
		*wrap = !*wrap;
	}
	*pos = (uint16_t)p;
}

/* Write n descriptors from the next available slot, the first one last. */
static void packed_write(struct vpcie_vring *r, const struct vring_packed_desc *d, unsigned n)
{
	uint16_t pos = r->next_avail;
	bool wrap = r->avail_wrap;
	uint16_t head_flags = 0;

	for (unsigned k = 0; k < n; k++) {
		uint16_t flags = (uint16_t)((le16toh(d[k].flags) & ~(F_AVAIL | F_USED)) | lap_bits(wrap));
		uint8_t *slot = r->desc + (size_t)pos * DESC_SIZE;

		if (k == 0) {
			put_desc(slot, le64toh(d[k].addr), le32toh(d[k].len), le16toh(d[k].id), 0);
			head_flags = flags;
		} else {
			put_desc(slot, le64toh(d[k].addr), le32toh(d[k].len), le16toh(d[k].id), flags);
		}
		advance(r, &pos, &wrap, 1);
	}
	st16(r->desc + (size_t)r->next_avail * DESC_SIZE + 14, head_flags);
	r->next_avail = pos;
	r->avail_wrap = wrap;
}

static void packed_add(struct vpcie_vring *r, const struct vpcie_vring_buf *out, unsigned nout,
		       const struct vpcie_vring_buf *in, unsigned nin, bool indirect, void *token)
{
	uint16_t id = r->free_ids[--r->nfree_ids];
	unsigned n = indirect ? 1 : nout + nin;
	struct vring_packed_desc d[64];

	if (indirect) {
		uint32_t len;
		uint64_t addr = fill_indirect(r, id, out, nout, in, nin, &len);

		d[0] = (struct vring_packed_desc){.addr = htole64(addr), .len = htole32(len),
						  .id = htole16(id),
						  .flags = htole16(VRING_DESC_F_INDIRECT)};
		packed_write(r, d, 1);
	} else {
		/* Written in pieces of 64 would break "head last": chains are
		 * limited to 64 elements here (ample for tests). */
		for (unsigned k = 0; k < n; k++) {
			bool w;
			const struct vpcie_vring_buf *b = element(out, nout, in, k, &w);

			d[k] = (struct vring_packed_desc){
				.addr = htole64(b->addr), .len = htole32(b->len), .id = htole16(id),
				.flags = htole16((uint16_t)((w ? VRING_DESC_F_WRITE : 0) |
							    (k + 1 < n ? VRING_DESC_F_NEXT : 0)))};
		}
		packed_write(r, d, n);
	}
	r->slots[id] = (struct slot){.token = token, .ndesc = (uint16_t)n, .busy = true};
	r->num_free -= n;
}

int vpcie_vring_add(struct vpcie_vring *r, const struct vpcie_vring_buf *out, unsigned nout,
		    const struct vpcie_vring_buf *in, unsigned nin, bool indirect, void *token)
{
	unsigned n = nout + nin;

	if (n == 0 || (nout && !out) || (nin && !in))
		return -EINVAL;
	if (indirect && (n > r->cfg.indirect_max))
		return -EINVAL;
	if (!indirect && r->cfg.layout == VPCIE_VIRTQ_PACKED && n > 64)
		return -EINVAL;
	if (r->num_free < (indirect ? 1u : n) ||
	    (r->cfg.layout == VPCIE_VIRTQ_PACKED && !r->nfree_ids))
		return -ENOSPC;
	if (r->cfg.layout == VPCIE_VIRTQ_SPLIT)
		split_add(r, out, nout, in, nin, indirect, token);
	else
		packed_add(r, out, nout, in, nin, indirect, token);
	return 0;
}

/* ---- Notifications ---------------------------------------------------------------- */

static bool need_event(uint16_t event, uint16_t now, uint16_t old)
{
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

static uint32_t linear(const struct vpcie_vring *r, unsigned pos, bool wrap)
{
	return pos + (wrap ? 0 : r->size);
}

bool vpcie_vring_kick_needed(struct vpcie_vring *r)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (r->cfg.layout == VPCIE_VIRTQ_SPLIT) {
		uint16_t old = r->kicked_avail, now = r->avail_idx;

		r->kicked_avail = now;
		if (old == now)
			return false;
		if (r->cfg.event_idx)
			return need_event(ld16(r->dev + 4 + 8u * r->size), now, old);
		return !(ld16(r->dev) & VRING_USED_F_NO_NOTIFY);
	} else {
		uint32_t ring = 2u * r->size, old = r->kicked_lin;
		uint32_t now = linear(r, r->next_avail, r->avail_wrap);
		uint16_t off_wrap = ld16(r->dev), flags = ld16(r->dev + 2) & 3u;

		r->kicked_lin = now;
		if (old == now || flags == VRING_PACKED_EVENT_FLAG_DISABLE)
			return false;
		if (flags != VRING_PACKED_EVENT_FLAG_DESC || !r->cfg.event_idx)
			return true;
		uint32_t ev = linear(r, off_wrap & ~EVENT_WRAP, off_wrap & EVENT_WRAP);

		return (now + ring - ev - 1) % ring < (now + ring - old) % ring;
	}
}

void vpcie_vring_interrupt_after(struct vpcie_vring *r, unsigned n)
{
	r->irq_after = n;
	if (r->cfg.layout == VPCIE_VIRTQ_SPLIT) {
		st16(r->drv, n ? 0 : VRING_AVAIL_F_NO_INTERRUPT);
		if (r->cfg.event_idx)
			st16(r->drv + 4 + 2u * r->size,
			     (uint16_t)(n ? r->last_used + n - 1 : r->last_used + 0x8000u));
	} else if (n == 0) {
		st16(r->drv + 2, VRING_PACKED_EVENT_FLAG_DISABLE);
	} else if (n == 1 || !r->cfg.event_idx) {
		st16(r->drv + 2, VRING_PACKED_EVENT_FLAG_ENABLE);
	} else {
		uint16_t pos = r->next_used;
		bool wrap = r->used_wrap;

		advance(r, &pos, &wrap, n - 1);
		st16(r->drv, (uint16_t)(pos | (wrap ? EVENT_WRAP : 0)));
		st16(r->drv + 2, VRING_PACKED_EVENT_FLAG_DESC);
	}
	atomic_thread_fence(memory_order_seq_cst);
}

/* ---- Used buffers ---------------------------------------------------------------- */

static int split_get_used(struct vpcie_vring *r, void **token, uint32_t *len)
{
	const uint8_t *e;
	uint32_t id;
	struct slot *s;

	if (ld16(r->dev + 2) == r->last_used)
		return 0;
	e = r->dev + 4 + 8u * (r->last_used % r->size);
	id = le_get32(e);
	if (id >= r->size || !r->slots[id].busy)
		return -EPROTO;
	s = &r->slots[id];
	*token = s->token;
	*len = le_get32(e + 4);
	/* The chain is still linked through next_free: put it back whole. */
	r->next_free[s->last] = r->free_head;
	r->free_head = (uint16_t)id;
	r->num_free += s->ndesc;
	s->busy = false;
	r->last_used++;
	if (r->cfg.event_idx && r->irq_after == 1)
		st16(r->drv + 4 + 2u * r->size, r->last_used);
	return 1;
}

static int packed_get_used(struct vpcie_vring *r, void **token, uint32_t *len)
{
	const uint8_t *d = r->desc + (size_t)r->next_used * DESC_SIZE;
	uint16_t flags = ld16(d + 14), id;
	struct slot *s;

	if (!!(flags & F_AVAIL) != r->used_wrap || !!(flags & F_USED) != r->used_wrap)
		return 0;
	memcpy(&id, d + 12, 2);
	id = le16toh(id);
	if (id >= r->size || !r->slots[id].busy)
		return -EPROTO;
	s = &r->slots[id];
	*token = s->token;
	*len = le_get32(d + 8);
	advance(r, &r->next_used, &r->used_wrap, s->ndesc);
	r->num_free += s->ndesc;
	r->free_ids[r->nfree_ids++] = id;
	s->busy = false;
	return 1;
}

int vpcie_vring_get_used(struct vpcie_vring *r, void **token, uint32_t *len)
{
	return r->cfg.layout == VPCIE_VIRTQ_SPLIT ? split_get_used(r, token, len)
						  : packed_get_used(r, token, len);
}

/* ---- Raw ------------------------------------------------------------------------ */

void vpcie_vring_split_publish(struct vpcie_vring *r, uint16_t head)
{
	st16(r->drv + 4 + 2u * (r->avail_idx % r->size), head);
	r->avail_idx++;
	st16(r->drv + 2, r->avail_idx);
}

void vpcie_vring_split_set_avail_idx(struct vpcie_vring *r, uint16_t idx)
{
	r->avail_idx = idx;
	st16(r->drv + 2, idx);
}

void vpcie_vring_packed_publish(struct vpcie_vring *r, const struct vring_packed_desc *d,
				unsigned n)
{
	if (n && n <= r->size)
		packed_write(r, d, n);
}
