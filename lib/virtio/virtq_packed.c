/* SPDX-License-Identifier: MIT */
/*
 * Packed virtqueues: one ring of struct vring_packed_desc that the driver
 * fills with available descriptors and the device overwrites with used ones,
 * told apart by the AVAIL/USED flag bits against each side's wrap counter;
 * plus two struct vring_packed_desc_event areas for notification
 * suppression (the driver's, read by the device; the device's, written once
 * to "enable": the device always wants available-buffer notifications).
 *
 * A chain occupies consecutive slots (NEXT on all but the last); the buffer
 * id comes from its last descriptor; the device writes one used descriptor
 * per chain and skips the chain's other slots.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

#include "virtq_priv.h"

#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED (1u << VRING_PACKED_DESC_F_USED)
#define EVENT_WRAP (1u << VRING_PACKED_EVENT_F_WRAP_CTR)

#define D_ADDR offsetof(struct vring_packed_desc, addr)
#define D_LEN offsetof(struct vring_packed_desc, len)
#define D_ID offsetof(struct vring_packed_desc, id)
#define D_FLAGS offsetof(struct vring_packed_desc, flags)
#define E_OFF_WRAP offsetof(struct vring_packed_desc_event, off_wrap)
#define E_FLAGS offsetof(struct vring_packed_desc_event, flags)

static uint64_t slot_addr(const struct vpcie_virtq *vq, unsigned pos)
{
	return vq->cfg.desc + (uint64_t)pos * VQ_DESC_SIZE;
}

static void advance(const struct vpcie_virtq *vq, uint16_t *pos, bool *wrap, unsigned n)
{
	unsigned p = *pos + n;

	while (p >= vq->size) {
		p -= vq->size;
		*wrap = !*wrap;
	}
	*pos = (uint16_t)p;
}

/* A position and wrap counter as one number in [0, 2*size), increasing
 * (modulo 2*size) as the ring is used. */
static uint32_t linear(const struct vpcie_virtq *vq, unsigned pos, bool wrap)
{
	return pos + (wrap ? 0 : vq->size);
}

int vq_packed_init(struct vpcie_virtq *vq)
{
	uint8_t ev[4] = {0, 0, VRING_PACKED_EVENT_FLAG_ENABLE, 0};
	int rc = vq_wr(vq, vq->cfg.device, ev, sizeof(ev));

	return rc ? vq_fail(vq, rc, "device event suppression area unreachable") : 0;
}

static int read_slot(struct vpcie_virtq *vq, unsigned pos, uint8_t *d)
{
	int rc = vq_rd(vq, slot_addr(vq, pos), d, VQ_DESC_SIZE);

	return rc ? vq_fail(vq, rc, "descriptor ring unreachable") : 0;
}

/* Segments of an indirect table: only WRITE counts in its descriptors. */
static int add_indirect(struct vpcie_virtq *vq, const uint8_t *d, struct vq_chain *c)
{
	const uint8_t *table;
	unsigned count;
	int rc = vq_indirect(vq, vq_le64(d + D_ADDR), vq_le32(d + D_LEN), &table, &count);

	for (unsigned i = 0; !rc && i < count; i++) {
		const uint8_t *e = table + (size_t)i * VQ_DESC_SIZE;

		rc = vq_chain_add(vq, c, vq_le64(e + D_ADDR), vq_le32(e + D_LEN),
				  vq_le16(e + D_FLAGS) & VRING_DESC_F_WRITE);
	}
	return rc;
}

int vq_packed_pop(struct vpcie_virtq *vq, struct vpcie_virtq_req *req)
{
	struct vq_chain c = {0};
	uint16_t pos = vq->avail_pos, flags, id;
	bool wrap = vq->avail_wrap;
	unsigned slots = 0;
	uint8_t d[VQ_DESC_SIZE];
	int rc;

	rc = vq_load16(vq, slot_addr(vq, pos) + D_FLAGS, &flags);
	if (rc)
		return vq_fail(vq, rc, "descriptor ring unreachable");
	if (!!(flags & F_AVAIL) != wrap || !!(flags & F_USED) == wrap)
		return 0; /* not made available in this lap */
	rc = read_slot(vq, pos, d);
	for (;;) {
		if (rc)
			return rc;
		if (++slots > vq->size)
			return vq_fail(vq, -EINVAL, "descriptor chain longer than the ring");
		flags = vq_le16(d + D_FLAGS);
		id = vq_le16(d + D_ID);
		if (flags & VRING_DESC_F_INDIRECT) {
			if (flags & VRING_DESC_F_NEXT)
				return vq_fail(vq, -EINVAL, "indirect descriptor with NEXT");
			if (c.n)
				return vq_fail(vq, -EINVAL, "indirect descriptor after direct ones");
			rc = add_indirect(vq, d, &c);
			if (rc)
				return rc;
			break;
		}
		rc = vq_chain_add(vq, &c, vq_le64(d + D_ADDR), vq_le32(d + D_LEN),
				  flags & VRING_DESC_F_WRITE);
		if (rc)
			return rc;
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		/* The rest of the chain was written before its head was made
		 * available, so it is read without looking at its flags. */
		advance(vq, &pos, &wrap, 1);
		rc = read_slot(vq, pos, d);
	}
	advance(vq, &vq->avail_pos, &vq->avail_wrap, slots);
	vq->last_avail++;
	vq_chain_finish(vq, &c, req, id, (uint16_t)slots);
	return 1;
}

int vq_packed_push(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req, uint32_t written)
{
	uint64_t slot = slot_addr(vq, vq->used_pos);
	uint8_t part[6];
	uint16_t flags = vq->used_wrap ? (F_AVAIL | F_USED) : 0;
	int rc;

	if (req->ndesc == 0 || req->ndesc > vq->size)
		return -EINVAL;
	/* len and id, then the flags that hand the slot back (release). */
	for (unsigned b = 0; b < 4; b++)
		part[b] = (uint8_t)(written >> (8 * b));
	part[4] = (uint8_t)req->id;
	part[5] = (uint8_t)(req->id >> 8);
	if (written)
		flags |= VRING_DESC_F_WRITE;
	rc = vq_wr(vq, slot + D_LEN, part, sizeof(part));
	if (!rc)
		rc = vq_store16(vq, slot + D_FLAGS, flags);
	if (rc)
		return vq_fail(vq, rc, "descriptor ring unreachable");
	advance(vq, &vq->used_pos, &vq->used_wrap, req->ndesc);
	vq->used_idx++;
	vq->pending += req->ndesc;
	return 0;
}

bool vq_packed_should_notify(struct vpcie_virtq *vq)
{
	uint32_t ring = 2u * vq->size, old = vq->signalled_lin;
	uint32_t now = linear(vq, vq->used_pos, vq->used_wrap), pending = vq->pending, event;
	uint8_t ev[4];
	uint16_t off_wrap, flags;

	vq->signalled_lin = now;
	vq->pending = 0;
	if (vq_rd(vq, vq->cfg.driver, ev, sizeof(ev)))
		return true; /* cannot tell: interrupting is always safe */
	off_wrap = vq_le16(ev + E_OFF_WRAP);
	flags = vq_le16(ev + E_FLAGS) & 3u;
	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vq->cfg.event_idx || pending >= ring)
		return true;
	if ((off_wrap & ~EVENT_WRAP) >= vq->size)
		return true;
	/* Interrupt if the slot the driver named was used since the last
	 * check: it lies in [old, now), counted modulo 2*size. */
	event = linear(vq, off_wrap & ~EVENT_WRAP, off_wrap & EVENT_WRAP);
	return (now + ring - event - 1) % ring < (now + ring - old) % ring;
}
