/* SPDX-License-Identifier: MIT */
/*
 * The RTL bridge's clock loop and channels (vpcie/rtl.h). Simulator- and
 * runtime-independent: the design is reached through struct vpcie_rtl_model,
 * the host through struct vpcie_rtl_env (rtl_dev.c binds it to a vpcie_dev).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rtl_priv.h"
#include "../util/util.h"

#define MWR_BUF_MAX 4096u

static void opts_defaults(struct vpcie_rtl_opts *o)
{
	if (!o->payload_bytes)
		o->payload_bytes = 8;
	if (!o->reset_cycles)
		o->reset_cycles = 4;
	if (!o->tail_cycles)
		o->tail_cycles = 256;
	if (!o->read_timeout_cycles)
		o->read_timeout_cycles = 1000000;
	if (!o->read_timeout_ms)
		o->read_timeout_ms = 1000;
	if (!o->queue_depth)
		o->queue_depth = 256;
	if (!o->max_read)
		o->max_read = 4096;
}

struct vpcie_rtl *rtl_alloc(const struct vpcie_rtl_model *model, void *model_opaque,
			    const struct vpcie_rtl_opts *opts)
{
	struct vpcie_rtl *r;

	if (!model || !model->set_inputs || !model->get_outputs || !model->clock) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (opts)
		r->opts = *opts;
	opts_defaults(&r->opts);
	if (r->opts.payload_bytes > VPCIE_RTL_PAYLOAD_MAX || r->opts.max_read > (1u << 24)) {
		free(r);
		errno = EINVAL;
		return NULL;
	}
	r->model = *model;
	r->mo = model_opaque;
	r->q = calloc(r->opts.queue_depth, sizeof(*r->q));
	r->mwr.buf = malloc(MWR_BUF_MAX);
	r->mrd.buf = malloc(r->opts.max_read);
	if (!r->q || !r->mwr.buf || !r->mrd.buf) {
		rtl_release(r);
		errno = ENOMEM;
		return NULL;
	}
	r->burst = 1024;
	r->rst_left = r->opts.reset_cycles;
	return r;
}

void rtl_release(struct vpcie_rtl *r)
{
	if (!r)
		return;
	free(r->q);
	free(r->mwr.buf);
	free(r->mrd.buf);
	free(r);
}

void vpcie_rtl_get_stats(const struct vpcie_rtl *rtl, struct vpcie_rtl_stats *st)
{
	*st = rtl->st;
}

void vpcie_rtl_reset(struct vpcie_rtl *r)
{
	r->qhead = r->qcount = 0;
	r->rd_wait = false;
	r->mwr.len = 0;
	r->mrd.active = r->mrd.fetch = false;
	r->msi_pending = false;
	r->mwr_failed = r->mwr_fault = false;
	r->intx_level = r->intx_seen = false;
	r->rst_left = r->opts.reset_cycles;
	r->idle = 0;
	if (r->env.kick)
		r->env.kick(r->env_opaque);
}

/* ---- host side of the DMA and interrupt channels -------------------------- */

/* The host's interrupt set-up changes only by config writes, which the
 * runtime serves between runs or while an env call waits: read it then. */
void rtl_irq_config(struct vpcie_rtl *r)
{
	if (r->env.irq_config)
		r->env.irq_config(r->env_opaque, &r->irq_mode, &r->irq_vectors);
}

/* The env calls below may serve host commands while they wait (see
 * vpcie_dev_dma_read): nested accesses then clock the design with the DMA
 * channels held (env_busy), so nothing here is re-entered. */
static void mwr_flush(struct vpcie_rtl *r)
{
	int rc;

	if (!r->mwr.len)
		return;
	r->env_busy++;
	rc = r->env.dma_write(r->env_opaque, r->mwr.addr, r->mwr.buf, r->mwr.len);
	r->env_busy--;
	if (rc) {
		r->st.dma_errors++;
		r->mwr_failed = true;
		r->mwr_fault |= rc == -EFAULT;
	}
	r->mwr.len = 0;
}

static void mwr_add(struct vpcie_rtl *r, const struct vpcie_rtl_out *o)
{
	if (o->mwr_size == 0 || o->mwr_size > r->opts.payload_bytes) {
		r->st.dma_errors++; /* a beat we cannot honour is dropped */
		return;
	}
	if (r->mwr.len && (r->mwr.addr + r->mwr.len != o->mwr_addr ||
			   r->mwr.len + o->mwr_size > MWR_BUF_MAX))
		mwr_flush(r);
	if (!r->mwr.len)
		r->mwr.addr = o->mwr_addr;
	memcpy(r->mwr.buf + r->mwr.len, o->mwr_data, o->mwr_size);
	r->mwr.len += o->mwr_size;
	r->st.mwr_beats++;
}

/* After the edge, outside any host access: what the cycle's transfers owe
 * the host, in order (writes before the read or interrupt that follows). */
static void host_actions(struct vpcie_rtl *r)
{
	if (r->mrd.fetch) {
		int rc;

		mwr_flush(r);
		r->env_busy++;
		rc = r->env.dma_read(r->env_opaque, r->mrd.addr, r->mrd.buf, r->mrd.len);
		r->mrd.err = rc != 0;
		r->mrd.fault = rc == -EFAULT;
		r->env_busy--;
		if (r->mrd.err)
			r->st.dma_errors++;
		r->mrd.fetch = false;
		r->mrd.off = 0;
		r->mrd.wfail = r->mwr_failed;
		r->mrd.wfault = r->mwr_fault;
		r->mwr_failed = r->mwr_fault = false;
		rtl_irq_config(r); /* the host may have changed it meanwhile */
	}
	if (r->msi_pending) {
		mwr_flush(r);
		r->msi_pending = false;
		r->st.irqs++;
		/* A masked or disabled vector is the host's business, as on a bus. */
		(void)r->env.irq(r->env_opaque, r->msi_vec);
	}
	if (r->intx_seen != r->intx_level) {
		mwr_flush(r);
		r->intx_level = r->intx_seen;
		if (r->env.intx)
			r->env.intx(r->env_opaque, r->intx_level);
	}
}

/* ---- one clock cycle --------------------------------------------------------- */

/* Returns true if something moved (or the design is busy). */
bool rtl_step(struct vpcie_rtl *r)
{
	struct vpcie_rtl_in in;
	struct vpcie_rtl_out out;
	bool host_ok = !r->in_access && !r->env_busy;
	bool act = false;
	struct rtl_req *head = r->qcount ? &r->q[r->qhead] : NULL;

	memset(&in, 0, sizeof(in));
	if (r->rst_left) {
		in.rst = true;
		r->rst_left--;
		r->model.set_inputs(r->mo, &in);
		r->model.clock(r->mo);
		r->st.cycles++;
		return true;
	}
	if (head && !r->rd_wait) {
		in.req_en = true;
		in.req_wr = head->wr;
		in.req_bar = head->bar;
		in.req_be = head->be;
		in.req_tag = head->tag;
		in.req_addr = head->addr;
		in.req_data = head->data;
	}
	in.rep_rdy = true;
	in.irq_mode = r->irq_mode;
	in.irq_vectors = r->irq_vectors;
	in.mwr_rdy = host_ok;
	in.mrd_rdy = host_ok && !r->mrd.active;
	in.msi_rdy = host_ok && !r->msi_pending;
	if (host_ok && r->mrd.active && !r->mrd.fetch) {
		uint32_t left = r->mrd.len - r->mrd.off;
		uint32_t n = left < r->opts.payload_bytes ? left : r->opts.payload_bytes;

		in.cpl_en = true;
		in.cpl_tag = r->mrd.tag;
		in.cpl_err = r->mrd.err;
		in.cpl_wfail = r->mrd.wfail;
		in.cpl_fault = r->mrd.fault;
		in.cpl_wfault = r->mrd.wfault;
		in.cpl_last = r->mrd.err || n == left;
		in.cpl_size = (uint16_t)(r->mrd.err ? 0 : n);
		if (!r->mrd.err)
			memcpy(in.cpl_data, r->mrd.buf + r->mrd.off, n);
	}
	r->model.set_inputs(r->mo, &in);
	memset(&out, 0, sizeof(out));
	r->model.get_outputs(r->mo, &out);

	if (in.req_en && out.req_rdy) {
		if (head->wr) {
			r->st.writes++;
		} else {
			r->rd_wait = true;
			r->rd_tag = head->tag;
			r->st.reads++;
		}
		r->qhead = (r->qhead + 1) % r->opts.queue_depth;
		r->qcount--;
		act = true;
	}
	if (out.rep_en) {
		if (r->rd_wait && out.rep_tag == r->rd_tag) {
			r->rd_wait = false;
			r->rd_done = true;
			r->rd_data = out.rep_data;
		} else {
			r->st.stale_completions++;
		}
		act = true;
	}
	if (in.cpl_en && out.cpl_rdy) {
		r->mrd.off += in.cpl_size;
		if (in.cpl_last)
			r->mrd.active = false;
		act = true;
	}
	if (in.mwr_rdy && out.mwr_en) {
		mwr_add(r, &out);
		act = true;
	}
	if (in.mrd_rdy && out.mrd_en) {
		r->st.mrd_requests++;
		r->mrd.active = true;
		r->mrd.wfail = r->mrd.wfault = r->mrd.fault = false;
		r->mrd.tag = out.mrd_tag;
		r->mrd.addr = out.mrd_addr;
		r->mrd.off = 0;
		if (out.mrd_len == 0 || out.mrd_len > r->opts.max_read) {
			r->mrd.len = 0;
			r->mrd.err = true; /* answered by an error completion */
			r->st.dma_errors++;
		} else {
			r->mrd.len = out.mrd_len;
			r->mrd.fetch = true;
			r->mrd.err = false;
		}
		act = true;
	}
	if (in.msi_rdy && out.msi_en) {
		r->msi_pending = true;
		r->msi_vec = out.msi_vec;
		act = true;
	}
	if (host_ok)
		r->intx_seen = out.intx;
	r->model.clock(r->mo);
	r->st.cycles++;
	if (host_ok)
		host_actions(r);
	if (act || out.busy || r->qcount || r->rd_wait || r->mrd.active)
		r->idle = 0;
	else
		r->idle++;
	return act;
}

bool vpcie_rtl_run(struct vpcie_rtl *r, uint64_t max_cycles)
{
	if (r->in_access || r->env_busy)
		return true; /* nested in a host access: come back later */
	rtl_irq_config(r);
	for (uint64_t i = 0; i < max_cycles; i++) {
		if (!r->rst_left && r->idle >= r->opts.tail_cycles)
			break;
		rtl_step(r);
	}
	mwr_flush(r);
	return r->rst_left || r->idle < r->opts.tail_cycles;
}

/* ---- host accesses ------------------------------------------------------------- */

static bool enqueue(struct vpcie_rtl *r, bool wr, unsigned bar, uint64_t addr, uint8_t be,
		    uint64_t data)
{
	struct rtl_req *q;

	if (r->qcount == r->opts.queue_depth)
		return false;
	q = &r->q[(r->qhead + r->qcount) % r->opts.queue_depth];
	q->wr = wr;
	q->bar = (uint8_t)bar;
	q->addr = addr;
	q->be = be;
	q->data = data;
	q->tag = wr ? 0 : ++r->next_tag;
	r->qcount++;
	r->idle = 0;
	return true;
}

/* Clock (inside a host access) until done() or the read timeout. */
static int clock_until(struct vpcie_rtl *r, bool (*done)(struct vpcie_rtl *))
{
	uint64_t deadline = vpcie_now_ns() + (uint64_t)r->opts.read_timeout_ms * 1000000u;
	int rc = 0;

	rtl_irq_config(r);
	r->in_access++;
	for (uint64_t n = 0; !done(r); n++) {
		if (n >= r->opts.read_timeout_cycles ||
		    ((n & 1023) == 1023 && vpcie_now_ns() > deadline)) {
			rc = -ETIMEDOUT;
			break;
		}
		rtl_step(r);
	}
	r->in_access--;
	return rc;
}

static bool queue_has_room(struct vpcie_rtl *r)
{
	return r->qcount < r->opts.queue_depth;
}

static bool read_answered(struct vpcie_rtl *r)
{
	return r->rd_done;
}

static void lane_piece(uint64_t off, size_t len, size_t *n, uint8_t *be)
{
	unsigned lane = off & 7u;

	*n = 8 - lane < len ? 8 - lane : len;
	*be = (uint8_t)(((1u << *n) - 1u) << lane);
}

int vpcie_rtl_write(struct vpcie_rtl *r, unsigned bar, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (bar > 5)
		return -EINVAL;
	while (len) {
		size_t n;
		uint8_t be;
		uint64_t data = 0;

		lane_piece(off, len, &n, &be);
		memcpy((uint8_t *)&data + (off & 7u), p, n);
		if (!queue_has_room(r)) {
			int rc = clock_until(r, queue_has_room);

			if (rc) {
				r->st.read_timeouts++;
				return rc;
			}
		}
		enqueue(r, true, bar, off & ~(uint64_t)7, be, data);
		off += n;
		p += n;
		len -= n;
	}
	if (r->env.kick && !r->in_access)
		r->env.kick(r->env_opaque);
	return 0;
}

int vpcie_rtl_read(struct vpcie_rtl *r, unsigned bar, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;

	if (bar > 5)
		return -EINVAL;
	while (len) {
		size_t n;
		uint8_t be;
		int rc;

		lane_piece(off, len, &n, &be);
		if (!queue_has_room(r) && clock_until(r, queue_has_room)) {
			r->st.read_timeouts++;
			return -ETIMEDOUT;
		}
		enqueue(r, false, bar, off & ~(uint64_t)7, be, 0);
		r->rd_done = false;
		rc = clock_until(r, read_answered);
		if (rc) {
			/* Forget it: a late answer carries a stale tag. If the
			 * design never took the request, take it back. */
			if (!r->rd_wait && r->qcount) {
				r->qcount--;
			}
			r->rd_wait = false;
			r->st.read_timeouts++;
			return rc;
		}
		memcpy(p, (uint8_t *)&r->rd_data + (off & 7u), n);
		off += n;
		p += n;
		len -= n;
	}
	/* Writes that arrived while we clocked, and the tail, run from the timer. */
	if (r->env.kick)
		r->env.kick(r->env_opaque);
	return 0;
}
