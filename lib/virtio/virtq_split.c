/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues: a descriptor table (struct vring_desc), the driver's
 * available ring (flags, idx, ring[size], used_event) and the device's used
 * ring (flags, idx, ring[size] of struct vring_used_elem, avail_event).
 *
 * The device never suppresses available-buffer notifications (used->flags
 * stays 0); with VIRTIO_RING_F_EVENT_IDX it publishes avail_event each time
 * it finds the ring empty, then looks once more, so a buffer added in between
 * is not missed.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

#include "virtq_priv.h"

/* Offsets inside the rings (<linux/virtio_ring.h> layouts). */
#define AVAIL_FLAGS 0u
#define AVAIL_IDX 2u
#define AVAIL_RING 4u
#define USED_FLAGS 0u
#define USED_IDX 2u
#define USED_RING 4u
#define USED_ELEM_SIZE 8u

static uint64_t used_event_addr(const struct vpcie_virtq *vq)
{
	return vq->cfg.driver + AVAIL_RING + 2ull * vq->size;
}

static uint64_t avail_event_addr(const struct vpcie_virtq *vq)
{
	return vq->cfg.device + USED_RING + (uint64_t)USED_ELEM_SIZE * vq->size;
}

int vq_split_init(struct vpcie_virtq *vq)
{
	int rc = vq_store16(vq, vq->cfg.device + USED_FLAGS, 0);

	if (!rc && vq->cfg.event_idx)
		rc = vq_store16(vq, avail_event_addr(vq), vq->last_avail);
	return rc ? vq_fail(vq, rc, "used ring unreachable") : 0;
}

/* Refresh shadow_avail from the driver; fails if it ran too far ahead. */
static int read_avail_idx(struct vpcie_virtq *vq)
{
	uint16_t idx;
	int rc = vq_load16(vq, vq->cfg.driver + AVAIL_IDX, &idx);

	if (rc)
		return vq_fail(vq, rc, "available ring unreachable");
	if ((uint16_t)(idx - vq->last_avail) > vq->size)
		return vq_fail(vq, -EINVAL, "available index moved by more than the queue size");
	vq->shadow_avail = idx;
	return 0;
}

/* Is a chain available? 1 yes, 0 no, or -errno. */
static int have_avail(struct vpcie_virtq *vq)
{
	int rc;

	if (vq->shadow_avail != vq->last_avail)
		return 1;
	rc = read_avail_idx(vq);
	if (rc)
		return rc;
	if (vq->shadow_avail != vq->last_avail)
		return 1;
	if (!vq->cfg.event_idx)
		return 0;
	/* Ask to be notified for the next buffer, then look again: the driver
	 * may have added one before it could see our event index. */
	rc = vq_store16(vq, avail_event_addr(vq), vq->last_avail);
	if (rc)
		return vq_fail(vq, rc, "used ring unreachable");
	atomic_thread_fence(memory_order_seq_cst);
	rc = read_avail_idx(vq);
	if (rc)
		return rc;
	return vq->shadow_avail != vq->last_avail;
}

/* Descriptor i of a table (the ring's, or an indirect one already loaded). */
static int read_desc(struct vpcie_virtq *vq, const uint8_t *table, unsigned i, uint8_t *d)
{
	int rc;

	if (table) {
		for (unsigned b = 0; b < VQ_DESC_SIZE; b++)
			d[b] = table[(size_t)i * VQ_DESC_SIZE + b];
		return 0;
	}
	rc = vq_rd(vq, vq->cfg.desc + (uint64_t)i * VQ_DESC_SIZE, d, VQ_DESC_SIZE);
	return rc ? vq_fail(vq, rc, "descriptor table unreachable") : 0;
}

/*
 * Follow the chain from head. Every table is walked at most its length
 * steps, so a loop ends as an error; the indirect table may appear once,
 * alone (no NEXT on the descriptor that points to it).
 */
static int walk_chain(struct vpcie_virtq *vq, uint16_t head, struct vq_chain *c)
{
	const uint8_t *table = NULL; /* NULL: the ring's descriptor table */
	unsigned limit = vq->size, steps = 0, i = head;
	bool in_indirect = false;
	uint8_t d[VQ_DESC_SIZE];
	int rc;

	for (;;) {
		uint16_t flags, next;

		if (++steps > limit)
			return vq_fail(vq, -EINVAL, "descriptor chain loops");
		rc = read_desc(vq, table, i, d);
		if (rc)
			return rc;
		flags = vq_le16(d + offsetof(struct vring_desc, flags));
		next = vq_le16(d + offsetof(struct vring_desc, next));
		if (flags & VRING_DESC_F_INDIRECT) {
			if (in_indirect)
				return vq_fail(vq, -EINVAL, "indirect descriptor inside an indirect table");
			if (flags & VRING_DESC_F_NEXT)
				return vq_fail(vq, -EINVAL, "indirect descriptor with NEXT");
			if (c->n)
				return vq_fail(vq, -EINVAL, "indirect descriptor after direct ones");
			rc = vq_indirect(vq, vq_le64(d + offsetof(struct vring_desc, addr)),
					 vq_le32(d + offsetof(struct vring_desc, len)), &table, &limit);
			if (rc)
				return rc;
			in_indirect = true;
			steps = 0;
			i = 0;
			continue;
		}
		rc = vq_chain_add(vq, c, vq_le64(d + offsetof(struct vring_desc, addr)),
				  vq_le32(d + offsetof(struct vring_desc, len)),
				  flags & VRING_DESC_F_WRITE);
		if (rc)
			return rc;
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		if (next >= limit)
			return vq_fail(vq, -EINVAL, "descriptor next index out of range");
		i = next;
	}
}

int vq_split_pop(struct vpcie_virtq *vq, struct vpcie_virtq_req *req)
{
	struct vq_chain c = {0};
	uint16_t head;
	int rc = have_avail(vq);

	if (rc <= 0)
		return rc;
	rc = vq_load16(vq, vq->cfg.driver + AVAIL_RING + 2ull * (vq->last_avail % vq->size), &head);
	if (rc)
		return vq_fail(vq, rc, "available ring unreachable");
	if (head >= vq->size)
		return vq_fail(vq, -EINVAL, "available ring entry out of range");
	rc = walk_chain(vq, head, &c);
	if (rc)
		return rc;
	vq->last_avail++;
	vq_chain_finish(vq, &c, req, head, 1);
	return 1;
}

int vq_split_push(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req, uint32_t written)
{
	uint8_t elem[USED_ELEM_SIZE];
	uint32_t id = htole32(req->id), len = htole32(written);
	uint64_t slot = vq->cfg.device + USED_RING + (uint64_t)USED_ELEM_SIZE * (vq->used_idx % vq->size);
	int rc;

	if (req->id >= vq->size)
		return -EINVAL;
	for (unsigned b = 0; b < 4; b++) {
		elem[b] = (uint8_t)(id >> (8 * b));
		elem[4 + b] = (uint8_t)(len >> (8 * b));
	}
	rc = vq_wr(vq, slot, elem, sizeof(elem));
	if (!rc)
		rc = vq_store16(vq, vq->cfg.device + USED_IDX, (uint16_t)(vq->used_idx + 1));
	if (rc)
		return vq_fail(vq, rc, "used ring unreachable");
	vq->used_idx++;
	vq->pending++;
	return 0;
}

bool vq_split_should_notify(struct vpcie_virtq *vq)
{
	uint16_t old = vq->signalled_used, now = vq->used_idx, v;
	uint32_t pending = vq->pending;

	vq->signalled_used = now;
	vq->pending = 0;
	if (!vq->cfg.event_idx) {
		if (vq_load16(vq, vq->cfg.driver + AVAIL_FLAGS, &v))
			return true; /* cannot tell: interrupting is always safe */
		return !(v & VRING_AVAIL_F_NO_INTERRUPT);
	}
	if (pending > 0xffffu || vq_load16(vq, used_event_addr(vq), &v))
		return true;
	/* The driver asked for an interrupt when used idx passes used_event. */
	return (uint16_t)(now - v - 1) < (uint16_t)(now - old);
}
