/* SPDX-License-Identifier: MIT */
/*
 * Virtqueues, the parts common to both layouts: the object, access to the
 * driver's memory (direct pointers with atomic index accesses, or the
 * accessor's read/write), building and checking descriptor chains, indirect
 * tables, and copying request payload.
 */
#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "virtq_priv.h"

/* ---- Driver memory ---------------------------------------------------------- */

static void *direct(struct vpcie_virtq *vq, uint64_t addr, size_t len, bool write)
{
	if (!vq->mem.ptr || addr + len < addr)
		return NULL;
	return vq->mem.ptr(vq->mem.ctx, addr, len, write);
}

int vq_rd(struct vpcie_virtq *vq, uint64_t addr, void *buf, size_t len)
{
	const void *p = direct(vq, addr, len, false);

	if (p) {
		memcpy(buf, p, len);
		return 0;
	}
	return vq->mem.read(vq->mem.ctx, addr, buf, len);
}

int vq_wr(struct vpcie_virtq *vq, uint64_t addr, const void *buf, size_t len)
{
	void *p = direct(vq, addr, len, true);

	if (p) {
		memcpy(p, buf, len);
		return 0;
	}
	return vq->mem.write(vq->mem.ctx, addr, buf, len);
}

int vq_load16(struct vpcie_virtq *vq, uint64_t addr, uint16_t *v)
{
	uint16_t *p = addr % 2 ? NULL : direct(vq, addr, 2, false);
	uint16_t raw;
	int rc;

	if (p) {
		raw = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	} else {
		rc = vq->mem.read(vq->mem.ctx, addr, &raw, 2);
		if (rc)
			return rc;
		atomic_thread_fence(memory_order_acquire);
	}
	*v = le16toh(raw);
	return 0;
}

int vq_store16(struct vpcie_virtq *vq, uint64_t addr, uint16_t v)
{
	uint16_t *p = addr % 2 ? NULL : direct(vq, addr, 2, true);
	uint16_t raw = htole16(v);

	if (p) {
		__atomic_store_n(p, raw, __ATOMIC_RELEASE);
		return 0;
	}
	atomic_thread_fence(memory_order_release);
	return vq->mem.write(vq->mem.ctx, addr, &raw, 2);
}

uint16_t vq_le16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

uint32_t vq_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

uint64_t vq_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/* ---- Errors -------------------------------------------------------------------- */

int vq_fail(struct vpcie_virtq *vq, int err, const char *why)
{
	if (!vq->error) {
		vq->error = err;
		vq->why = why;
	}
	return vq->error;
}

int vpcie_virtq_error(const struct vpcie_virtq *vq, const char **why)
{
	if (why)
		*why = vq->error ? vq->why : NULL;
	return vq->error;
}

/* ---- Chains ------------------------------------------------------------------- */

int vq_chain_add(struct vpcie_virtq *vq, struct vq_chain *c, uint64_t addr, uint32_t len,
		 bool writable)
{
	if (c->n >= vq->max_chain)
		return vq_fail(vq, -EINVAL, "descriptor chain longer than the limit");
	if (!writable && c->nin)
		return vq_fail(vq, -EINVAL, "device-readable descriptor after a writable one");
	if (c->n == vq->seg_cap) {
		unsigned cap = vq->seg_cap ? vq->seg_cap * 2 : 16;
		struct vpcie_virtq_seg *s;

		if (cap > vq->max_chain)
			cap = vq->max_chain;
		s = realloc(vq->seg, cap * sizeof(*s));
		if (!s)
			return -ENOMEM; /* not the driver's fault: the queue stays usable */
		vq->seg = s;
		vq->seg_cap = cap;
	}
	vq->seg[c->n].addr = addr;
	vq->seg[c->n].len = len;
	c->n++;
	if (writable) {
		c->nin++;
		c->in_len += len;
	} else {
		c->nout++;
		c->out_len += len;
	}
	return 0;
}

void vq_chain_finish(struct vpcie_virtq *vq, const struct vq_chain *c,
		     struct vpcie_virtq_req *req, uint16_t id, uint16_t ndesc)
{
	req->id = id;
	req->ndesc = ndesc;
	req->nout = c->nout;
	req->nin = c->nin;
	req->out_len = c->out_len;
	req->in_len = c->in_len;
	req->seg = vq->seg;
}

int vq_indirect(struct vpcie_virtq *vq, uint64_t addr, uint32_t len, const uint8_t **table,
		unsigned *count)
{
	const uint8_t *p;
	int rc;

	if (!vq->cfg.indirect)
		return vq_fail(vq, -EINVAL, "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC");
	if (len == 0 || len % VQ_DESC_SIZE)
		return vq_fail(vq, -EINVAL, "indirect table length not a multiple of 16");
	if (len / VQ_DESC_SIZE > vq->max_chain)
		return vq_fail(vq, -EINVAL, "indirect table longer than the chain limit");
	*count = len / VQ_DESC_SIZE;
	p = direct(vq, addr, len, false);
	if (p) {
		*table = p;
		return 0;
	}
	if (vq->ind_cap < len) {
		uint8_t *n = realloc(vq->ind, len);

		if (!n)
			return -ENOMEM;
		vq->ind = n;
		vq->ind_cap = len;
	}
	rc = vq->mem.read(vq->mem.ctx, addr, vq->ind, len);
	if (rc)
		return vq_fail(vq, rc, "indirect table unreachable");
	*table = vq->ind;
	return 0;
}

/* ---- Object --------------------------------------------------------------------- */

static bool aligned(uint64_t addr, unsigned a)
{
	return addr % a == 0;
}

struct vpcie_virtq *vpcie_virtq_new(const struct vpcie_virtq_config *cfg,
				    const struct vpcie_virtq_mem *mem, int *err)
{
	struct vpcie_virtq *vq;
	unsigned size;
	int rc;

	if (!cfg || !mem || !mem->read || !mem->write) {
		rc = -EINVAL;
		goto fail;
	}
	size = cfg->size ? cfg->size : VPCIE_VIRTQ_MAX_SIZE;
	rc = -EINVAL;
	if (cfg->layout == VPCIE_VIRTQ_SPLIT) {
		if (size & (size - 1))
			goto fail;
		if (!aligned(cfg->desc, 16) || !aligned(cfg->driver, 2) || !aligned(cfg->device, 4))
			goto fail;
	} else if (cfg->layout == VPCIE_VIRTQ_PACKED) {
		if (!aligned(cfg->desc, 16) || !aligned(cfg->driver, 4) || !aligned(cfg->device, 4))
			goto fail;
	} else {
		goto fail;
	}
	vq = calloc(1, sizeof(*vq));
	if (!vq) {
		rc = -ENOMEM;
		goto fail;
	}
	vq->cfg = *cfg;
	vq->mem = *mem;
	vq->size = size;
	vq->max_chain = cfg->max_chain ? cfg->max_chain : size;
	vq->avail_wrap = vq->used_wrap = true; /* packed: both counters start at 1 */
	vq->signalled_lin = 0;                 /* packed: position 0 with wrap 1 */
	if (err)
		*err = 0;
	return vq;
fail:
	if (err)
		*err = rc;
	return NULL;
}

void vpcie_virtq_free(struct vpcie_virtq *vq)
{
	if (!vq)
		return;
	free(vq->seg);
	free(vq->ind);
	free(vq);
}

const struct vpcie_virtq_config *vpcie_virtq_config(const struct vpcie_virtq *vq)
{
	return &vq->cfg;
}

uint16_t vpcie_virtq_last_avail(const struct vpcie_virtq *vq)
{
	return vq->last_avail;
}

uint16_t vpcie_virtq_used_idx(const struct vpcie_virtq *vq)
{
	return vq->used_idx;
}

int vpcie_virtq_pop(struct vpcie_virtq *vq, struct vpcie_virtq_req *req)
{
	int rc;

	if (vq->error)
		return vq->error;
	if (!vq->started) {
		rc = vq->cfg.layout == VPCIE_VIRTQ_SPLIT ? vq_split_init(vq) : vq_packed_init(vq);
		if (rc)
			return rc;
		vq->started = true;
	}
	return vq->cfg.layout == VPCIE_VIRTQ_SPLIT ? vq_split_pop(vq, req) : vq_packed_pop(vq, req);
}

int vpcie_virtq_push(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req, uint32_t written)
{
	if (vq->error)
		return vq->error;
	if (written > req->in_len)
		written = (uint32_t)(req->in_len > UINT32_MAX ? UINT32_MAX : req->in_len);
	return vq->cfg.layout == VPCIE_VIRTQ_SPLIT ? vq_split_push(vq, req, written)
						   : vq_packed_push(vq, req, written);
}

bool vpcie_virtq_should_notify(struct vpcie_virtq *vq)
{
	if (!vq->pending)
		return false;
	/* Our used-ring writes before the driver's suppression state is read. */
	atomic_thread_fence(memory_order_seq_cst);
	return vq->cfg.layout == VPCIE_VIRTQ_SPLIT ? vq_split_should_notify(vq)
						   : vq_packed_should_notify(vq);
}

/* ---- Payload ------------------------------------------------------------------- */

/*
 * Walk [off, off+len) of one part of the request, calling fn per piece.
 * Returns 0, -ERANGE, or fn's error.
 */
typedef int (*piece_fn)(struct vpcie_virtq *vq, uint64_t addr, size_t n, size_t done, void *arg);

static int walk(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req, bool writable,
		uint64_t off, uint64_t len, piece_fn fn, void *arg)
{
	unsigned first = writable ? req->nout : 0, n = writable ? req->nin : req->nout;
	uint64_t total = writable ? req->in_len : req->out_len, done = 0;

	if (off > total || len > total - off)
		return -ERANGE;
	for (unsigned i = first; i < first + n && done < len; i++) {
		const struct vpcie_virtq_seg *s = &req->seg[i];
		uint64_t take;
		int rc;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		take = s->len - off;
		if (take > len - done)
			take = len - done;
		rc = fn(vq, s->addr + off, (size_t)take, (size_t)done, arg);
		if (rc)
			return rc;
		done += take;
		off = 0;
	}
	return 0;
}

static int piece_read(struct vpcie_virtq *vq, uint64_t addr, size_t n, size_t done, void *arg)
{
	if (addr + n < addr)
		return -EFAULT;
	return vq_rd(vq, addr, (uint8_t *)arg + done, n);
}

static int piece_write(struct vpcie_virtq *vq, uint64_t addr, size_t n, size_t done, void *arg)
{
	if (addr + n < addr)
		return -EFAULT;
	return vq_wr(vq, addr, (const uint8_t *)arg + done, n);
}

int vpcie_virtq_read(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req,
		     uint64_t off, void *buf, size_t len)
{
	return walk(vq, req, false, off, len, piece_read, buf);
}

int vpcie_virtq_write(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req,
		      uint64_t off, const void *buf, size_t len)
{
	return walk(vq, req, true, off, len, piece_write, (void *)buf);
}

struct iov_out {
	struct iovec *iov;
	unsigned max, n;
	bool writable;
};

static int piece_iov(struct vpcie_virtq *vq, uint64_t addr, size_t n, size_t done, void *arg)
{
	struct iov_out *o = arg;
	void *p;

	(void)done;
	if (n == 0)
		return 0;
	p = direct(vq, addr, n, o->writable);
	if (!p)
		return -ENOENT;
	/* Contiguous with the previous piece: extend it. */
	if (o->n && (uint8_t *)o->iov[o->n - 1].iov_base + o->iov[o->n - 1].iov_len == p) {
		o->iov[o->n - 1].iov_len += n;
		return 0;
	}
	if (o->n == o->max)
		return -E2BIG;
	o->iov[o->n].iov_base = p;
	o->iov[o->n].iov_len = n;
	o->n++;
	return 0;
}

int vpcie_virtq_iov(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req, bool writable,
		    uint64_t off, uint64_t len, struct iovec *iov, unsigned max)
{
	struct iov_out o = {.iov = iov, .max = max, .writable = writable};
	int rc;

	if (!vq->mem.ptr)
		return -ENOENT;
	rc = walk(vq, req, writable, off, len, piece_iov, &o);
	return rc ? rc : (int)o.n;
}
