/* SPDX-License-Identifier: MIT */
/*
 * Host runtime core: the request engine (send a command, wait for its reply
 * while serving the device's DMA commands), the DMA service itself,
 * vpcie_host_poll(), and the requests with a fixed reply (device and IRQ
 * info, reset). The connection is lib/host/connect.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vpcie/host.h>
#include <vpcie/transport.h>

#include "../util/util.h"
#include "host_priv.h"

/* Device commands handled by one vpcie_host_poll() call at most. */
#define HOST_POLL_BATCH 4096u
/* Buffered messages processed before polling again (bounds inner loops). */
#define HOST_DRAIN_BATCH 256u

int host_mark_broken(struct vpcie_host *h, int rc, const char *what)
{
	if (!h->broken)
		vpcie_err(&h->lg, "%s: connection lost (%s)", what, strerror(-rc));
	h->broken = true;
	return rc == -EPIPE || rc == -ENOTCONN || rc == -EBADF ? -ECONNRESET : rc;
}

static int mark_broken(struct vpcie_host *h, int rc, const char *what)
{
	return host_mark_broken(h, rc, what);
}

/* ---- DMA service --------------------------------------------------------- */

struct vpcie_host_mem *host_mem_find(struct vpcie_host *h, uint64_t addr, uint64_t len)
{
	for (struct vpcie_host_mem *m = h->mems; m; m = m->next)
		if (vpcie_range_within(addr, len, m->iova, m->size))
			return m;
	return NULL;
}

static void dma_refuse(struct vpcie_host *h, struct vpcie_chan *ch,
		       const struct vpcie_msg *m, int err)
{
	int rc;

	h->dma_refused++;
	vpcie_warn(&h->lg, "refused %s from device (msg %u): %s",
		   vpcie_cmd_name(m->hdr.cmd), m->hdr.msg_id, strerror(err));
	if (m->hdr.flags & VPCIE_MSGF_NO_REPLY)
		return;
	rc = vpcie_chan_reply_error(ch, &m->hdr, err, h->opts.timeout_ms);
	if (rc < 0 && rc != -EINVAL && rc != -E2BIG)
		mark_broken(h, rc, "error reply");
}

/* Serve one command message from the device. */
static void serve_cmd(struct vpcie_host *h, struct vpcie_chan *ch, const struct vpcie_msg *m)
{
	const struct vpcie_dma_access *da = m->payload;
	struct vpcie_host_mem *mem;
	struct iovec iov[2];
	int rc;

	rc = vpcie_validate_command(m->hdr.cmd, m->payload, m->payload_len,
				    h->opts.max_data_xfer_size);
	if (rc == -ENOTSUP) {
		dma_refuse(h, ch, m, ENOTSUP);
		return;
	}
	if (rc < 0) {
		dma_refuse(h, ch, m, EINVAL);
		return;
	}
	if (m->hdr.cmd != VPCIE_CMD_DMA_READ && m->hdr.cmd != VPCIE_CMD_DMA_WRITE) {
		dma_refuse(h, ch, m, ENOTSUP);
		return;
	}
	/* validate_command guarantees the fixed part; be defensive anyway. */
	if (!da || m->payload_len < sizeof(*da)) {
		dma_refuse(h, ch, m, EINVAL);
		return;
	}
	uint64_t addr = da->addr, count = da->count;

	mem = host_mem_find(h, addr, count);
	if (!mem || (m->hdr.cmd == VPCIE_CMD_DMA_WRITE && (mem->flags & VPCIE_HOST_MEM_READONLY))) {
		dma_refuse(h, ch, m, EFAULT);
		return;
	}
	uint8_t *p = (uint8_t *)mem->ptr + (addr - mem->iova);

	if (m->hdr.cmd == VPCIE_CMD_DMA_READ) {
		struct vpcie_dma_access rep = {.addr = addr, .count = count};

		h->dma_served++;
		vpcie_dbg(&h->lg, "DMA_READ 0x%llx+%llu", (unsigned long long)addr,
			  (unsigned long long)count);
		if (m->hdr.flags & VPCIE_MSGF_NO_REPLY)
			return;
		iov[0] = (struct iovec){.iov_base = &rep, .iov_len = sizeof(rep)};
		iov[1] = (struct iovec){.iov_base = p, .iov_len = (size_t)count};
		rc = vpcie_chan_reply(ch, &m->hdr, iov, 2, NULL, 0, h->opts.timeout_ms);
	} else {
		struct vpcie_dma_write_reply rep = {.addr = addr, .count = (uint32_t)count};

		if (m->payload_len - sizeof(*da) < count) {
			dma_refuse(h, ch, m, EINVAL);
			return;
		}
		memcpy(p, da->data, (size_t)count);
		h->dma_served++;
		vpcie_dbg(&h->lg, "DMA_WRITE 0x%llx+%llu", (unsigned long long)addr,
			  (unsigned long long)count);
		if (m->hdr.flags & VPCIE_MSGF_NO_REPLY)
			return;
		iov[0] = (struct iovec){.iov_base = &rep, .iov_len = sizeof(rep)};
		rc = vpcie_chan_reply(ch, &m->hdr, iov, 1, NULL, 0, h->opts.timeout_ms);
	}
	if (rc < 0)
		mark_broken(h, rc, "DMA reply");
}

static void host_serve(struct vpcie_host *h, struct vpcie_chan *ch, const struct vpcie_msg *m)
{
	uint64_t t0 = HOST_TRACE_T0(h), refused = h->dma_refused;

	serve_cmd(h, ch, m);
	if (HOST_TRACING(h) && (m->hdr.cmd == VPCIE_CMD_DMA_READ ||
				m->hdr.cmd == VPCIE_CMD_DMA_WRITE)) { /* trace point: DMA served */
		struct vpcie_dma_access da = {0};

		if (m->payload && m->payload_len >= sizeof(da))
			memcpy(&da, m->payload, sizeof(da));
		vpcie_trace_dma(h->trace, t0, da.addr, da.count,
				VPCIE_TRACE_F_MSG |
					(m->hdr.cmd == VPCIE_CMD_DMA_WRITE ? VPCIE_TRACE_F_WRITE : 0),
				h->dma_refused != refused ? -EFAULT : 0);
	}
}

/* ---- The event pump ------------------------------------------------------ */

/* Handle one received message; returns 1 if it completes the wait. The
 * message is consumed (moved to p->reply or released). */
static int dispatch(struct vpcie_host *h, struct vpcie_chan *ch, struct vpcie_msg *m,
		    struct pump *p)
{
	uint32_t type = m->hdr.flags & VPCIE_MSGF_TYPE_MASK;

	if (type == VPCIE_MSGF_COMMAND && m->hdr.cmd == VPCIE_CMD_IRQ_NOTIFY) {
		int rc = host_irq_message(h, m, p);

		vpcie_msg_release(m);
		return rc;
	}
	if (type == VPCIE_MSGF_COMMAND) {
		host_serve(h, ch, m);
		p->served++;
		vpcie_msg_release(m);
		return 0;
	}
	if (type == VPCIE_MSGF_REPLY && ch == h->ch && p->want_reply &&
	    m->hdr.msg_id == p->id && m->hdr.cmd == p->cmd) {
		*p->reply = *m;
		memset(m, 0, sizeof(*m));
		return 1;
	}
	if (type == VPCIE_MSGF_REPLY)
		vpcie_warn(&h->lg, "dropping unexpected reply %s id %u on %s socket",
			   vpcie_cmd_name(m->hdr.cmd), m->hdr.msg_id,
			   ch == h->ch ? "main" : "twin");
	else
		vpcie_warn(&h->lg, "dropping message of unknown type 0x%x", type);
	vpcie_msg_release(m);
	return 0;
}

/* Receive (without waiting) and dispatch from ch. Returns 1 when the wait is
 * complete, 0 if nothing (more) is complete, or a fatal -errno. */
static int pump_one(struct vpcie_host *h, struct vpcie_chan *ch, struct pump *p)
{
	struct vpcie_msg m;
	int rc = vpcie_chan_recv(ch, &m, 0);

	if (rc == -EAGAIN || rc == -ETIMEDOUT)
		return 0;
	if (rc < 0) {
		vpcie_msg_release(&m);
		if (rc == -ENOMEM)
			return rc;
		return mark_broken(h, rc, "receive");
	}
	rc = dispatch(h, ch, &m, p);
	if (h->broken)
		return rc == 1 ? 1 : -ECONNRESET;
	return rc;
}

/* A socket reply completed the wait: first take what the device put in the
 * ring before it (interrupt notices sent before the reply). */
static int reply_done(struct vpcie_host *h, struct pump *p)
{
	int rc = h->ring ? host_ring_drain(h, p) : 0;

	return rc < 0 ? rc : 0;
}

struct ring_watch {
	struct vpcie_host *h;
	const struct pump *p;
	struct pollfd *pfd;
	int n;
};

static bool ring_watch_ready(void *ctx)
{
	struct ring_watch *w = ctx;

	return host_ring_ready(w->h, w->p);
}

static int ring_watch_look(void *ctx)
{
	struct ring_watch *w = ctx;

	return poll(w->pfd, (nfds_t)w->n, 0);
}

/*
 * Adaptive polling with a ring: watch the reply ring (a memory load, no
 * system call) until the window ends, polling the fds every few
 * microseconds for the device's DMA requests. Returns what poll() found;
 * *ready if the ring has something for us.
 */
static int ring_spin(struct vpcie_host *h, const struct pump *p, struct pollfd *pfd, int n,
		     uint64_t until, bool *ready)
{
	struct ring_watch w = {h, p, pfd, n};

	return vpcie_spin_watch(ring_watch_ready, ring_watch_look, &w, vpcie_now_ns(), until,
				HOST_SPIN_POLL_NS, ready, NULL);
}

/*
 * Run until the pump's condition holds (returns 0), the timeout passes
 * (-ETIMEDOUT; in serve mode 0), or the connection fails.
 */
int host_pump(struct vpcie_host *h, struct pump *p, int timeout_ms)
{
	uint64_t deadline = vpcie_deadline(timeout_ms), start = vpcie_now_ns();
	bool first = true, observed = false;

	if (h->broken)
		return -ECONNRESET;
	if (host_flush(h) < 0) /* whatever we wait for may follow a posted write */
		return -ECONNRESET;
	for (;;) {
		struct vpcie_chan *chans[2] = {h->ch, h->twin};
		struct host_ring *rg = h->ring;
		struct pollfd pfd[4];
		int nch = h->twin ? 2 : 1, n = 0, wait, rc, ring_pfd = -1, extra_pfd = -1;
		bool ring_ready = false;

		if (rg) {
			rc = host_ring_drain(h, p);
			if (rc)
				return rc < 0 ? rc : 0;
		}
		/* Messages already buffered: poll() would not report them. */
		for (unsigned i = 0; i < HOST_DRAIN_BATCH; i++) {
			bool any = false;

			for (int c = 0; c < nch; c++) {
				if (!vpcie_chan_has_buffered(chans[c]))
					continue;
				any = true;
				rc = pump_one(h, chans[c], p);
				if (rc)
					return rc < 0 ? rc : reply_done(h, p);
			}
			if (!any)
				break;
		}
		if (p->serve_mode && p->served >= HOST_POLL_BATCH)
			return 0;

		wait = vpcie_ms_left(deadline);
		if (!first && wait == 0) {
			/* Time is up; a last look happened in the previous round. */
			return p->serve_mode ? 0 : -ETIMEDOUT;
		}
		if (p->serve_mode && p->served)
			wait = 0;
		first = false;

		for (int c = 0; c < nch; c++)
			pfd[n++] = (struct pollfd){.fd = vpcie_chan_fd(chans[c]), .events = POLLIN};
		if (rg) {
			ring_pfd = n;
			pfd[n++] = (struct pollfd){.fd = rg->d2h_wake, .events = POLLIN};
		}
		if (p->extra_fd >= 0) {
			extra_pfd = n;
			pfd[n++] = (struct pollfd){.fd = p->extra_fd, .events = POLLIN};
		}
		rc = 0;
		if (wait != 0 && !observed && h->spin.max_ns) {
			/* Adaptive polling: the device often answers within microseconds,
			 * sooner than a sleeping vCPU wakes up. */
			uint64_t until = start + h->spin.window_ns;

			if (rg) {
				rc = ring_spin(h, p, pfd, n, until, &ring_ready);
			} else {
				do
					rc = poll(pfd, (nfds_t)n, 0);
				while (rc == 0 && vpcie_now_ns() < until);
			}
		}
		if (rc == 0 && !ring_ready && rg && wait == 0) {
			/* No time left to sleep, but a last look at the rings all
			 * the same: a reply may have come while we were not running
			 * (descheduled, stopped in a debugger) past the deadline. */
			ring_ready = vpcie_ring_ready(&rg->d2h) ||
				     (p->want_space && vpcie_ring_free(&rg->h2d) > 0);
		}
		if (rc == 0 && !ring_ready) {
			/* Announce sleep so the device kicks us; a last look first. */
			if (rg && wait != 0 &&
			    (vpcie_ring_sleep_prepare(&rg->d2h) ||
			     (p->want_space && vpcie_ring_wait_prepare(&rg->h2d) != 0)))
				ring_ready = true;
			if (!ring_ready)
				rc = poll(pfd, (nfds_t)n, wait);
			if (rg) {
				vpcie_ring_awake(&rg->d2h);
				if (p->want_space)
					vpcie_ring_wait_done(&rg->h2d);
			}
		}
		if ((rc > 0 || ring_ready) && !observed) {
			vpcie_spin_observe(&h->spin, vpcie_now_ns() - start);
			observed = true;
		}
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (ring_ready)
			continue; /* the top of the loop reads the ring */
		if (rc == 0) {
			if (p->serve_mode)
				return 0;
			if (wait == 0)
				return -ETIMEDOUT;
			continue;
		}
		for (int c = 0; c < nch; c++) {
			if (!pfd[c].revents)
				continue;
			if (pfd[c].revents & POLLNVAL)
				return mark_broken(h, -EBADF, "poll");
			rc = pump_one(h, chans[c], p);
			if (rc)
				return rc < 0 ? rc : reply_done(h, p);
		}
		if (ring_pfd >= 0 && pfd[ring_pfd].revents) {
			uint64_t v;

			if (read(rg->d2h_wake, &v, sizeof(v)) < 0) {
				/* EAGAIN: already drained */
			}
		}
		if (extra_pfd >= 0 && (pfd[extra_pfd].revents & (POLLIN | POLLERR | POLLHUP)))
			return 0;
		if (extra_pfd >= 0 && (pfd[extra_pfd].revents & POLLNVAL))
			return -EBADF;
	}
}

int vpcie_host_poll(struct vpcie_host *h, int timeout_ms)
{
	struct pump p = {.extra_fd = -1, .serve_mode = true};
	int rc;

	if (!h)
		return -EINVAL;
	rc = host_pump(h, &p, timeout_ms);
	if (rc < 0)
		return rc;
	return p.served > (unsigned)INT32_MAX ? INT32_MAX : (int)p.served;
}

/* ---- Requests ------------------------------------------------------------ */

int host_flush(struct vpcie_host *h)
{
	int rc;

	if (!h->post_len)
		return 0;
	uint64_t t0 = HOST_TRACE_T0(h);

	rc = vpcie_chan_send_raw(h->ch, h->post, h->post_len, h->opts.timeout_ms);
	if (HOST_TRACING(h)) /* trace point: a batch of posted writes sent */
		vpcie_trace_event(h->trace, t0, VPCIE_TRACE_POST_BATCH, 0, 0, h->post_len, 0,
				  rc < 0 ? rc : 0, h->post_count, NULL);
	h->post_len = 0;
	h->post_count = 0;
	return rc < 0 ? mark_broken(h, rc, "posted writes") : 0;
}

int host_post_write(struct vpcie_host *h, unsigned index, uint64_t off, const void *data,
		    uint32_t count)
{
	struct vpcie_msg_hdr hdr = {
		.cmd = VPCIE_CMD_REGION_WRITE,
		.flags = VPCIE_MSGF_COMMAND | VPCIE_MSGF_NO_REPLY,
	};
	struct vpcie_region_access ra = {.offset = off, .region = index, .count = count};
	size_t size = sizeof(hdr) + sizeof(ra) + count;
	int rc;

	if (h->broken)
		return -ECONNRESET;
	if (h->ring) {
		struct vpcie_region_access big = {.offset = off, .region = index, .count = count};
		struct iovec iov[2] = {{&big, sizeof(big)}, {(void *)data, count}};

		if (count && count <= VPCIE_RING_INLINE_MAX)
			return host_ring_access(h, VPCIE_RING_OP_WRITE, index, off, (void *)data,
						count, true);
		/* Too big for a slot: a write that waits for its reply, so that
		 * nothing sent later overtakes it (vpcie/ring.h, Ordering). A
		 * refusal stays unreported, as for any posted write. */
		rc = host_request(h, VPCIE_CMD_REGION_WRITE, 0, iov, 2, NULL, 0, NULL);
		return rc == -EIO ? 0 : rc;
	}
	if (size > HOST_POST_BUF - h->post_len) {
		rc = host_flush(h);
		if (rc < 0)
			return rc;
	}
	if (size > HOST_POST_BUF) { /* too big to batch: send it alone */
		struct iovec iov[2] = {{&ra, sizeof(ra)}, {(void *)data, count}};

		return host_request(h, VPCIE_CMD_REGION_WRITE, VPCIE_MSGF_NO_REPLY, iov, 2,
				    NULL, 0, NULL);
	}
	if (!h->post) {
		h->post = malloc(HOST_POST_BUF);
		if (!h->post)
			return -ENOMEM;
	}
	hdr.msg_id = h->next_id++;
	hdr.size = (uint32_t)size;
	h->sock_unapplied = true;
	memcpy(h->post + h->post_len, &hdr, sizeof(hdr));
	memcpy(h->post + h->post_len + sizeof(hdr), &ra, sizeof(ra));
	memcpy(h->post + h->post_len + sizeof(hdr) + sizeof(ra), data, count);
	h->post_len += size;
	h->post_count++;
	return h->post_len >= HOST_POST_FLUSH ? host_flush(h) : 0;
}

int host_fence(struct vpcie_host *h)
{
	struct vpcie_device_info req = {.argsz = sizeof(req)};
	struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
	int rc;

	if (h->broken)
		return -ECONNRESET;
	if (!h->sock_unapplied)
		return h->ring ? host_ring_fence(h) : 0; /* (nothing can be queued) */
	/* Any request would do: host_request() flushes and fences the ring
	 * first, and its reply comes after everything sent before it. This one
	 * has no side effect on the device. An error reply orders as well. */
	rc = host_request(h, VPCIE_CMD_DEVICE_GET_INFO, 0, &iov, 1, NULL, 0, NULL);
	return rc == -EIO ? 0 : rc;
}

int vpcie_host_flush(struct vpcie_host *h)
{
	return h ? host_fence(h) : -EINVAL;
}

int host_request(struct vpcie_host *h, unsigned cmd, uint32_t flags,
		 const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds,
		 struct vpcie_msg *reply)
{
	struct vpcie_msg_hdr hdr = {0};
	struct vpcie_msg local;
	struct pump p = {.extra_fd = -1};
	uint64_t deadline = vpcie_deadline(h->opts.timeout_ms);
	int rc;

	if (reply)
		memset(reply, 0, sizeof(*reply));
	if (h->broken)
		return -ECONNRESET;
	rc = host_flush(h); /* posted writes go first: PCI ordering */
	if (rc == 0 && h->ring)
		rc = host_ring_fence(h); /* and those in the ring are handled */
	if (rc < 0)
		return rc;
	hdr.msg_id = h->next_id++;
	hdr.cmd = (uint16_t)cmd;
	hdr.flags = VPCIE_MSGF_COMMAND | (flags & VPCIE_MSGF_NO_REPLY);
	rc = vpcie_chan_send(h->ch, &hdr, iov, iovcnt, fds, nfds, h->opts.timeout_ms);
	if (rc < 0) {
		if (rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM)
			return rc;
		/* A timed-out or failed send may have left half a message. */
		return mark_broken(h, rc, vpcie_cmd_name(cmd));
	}
	if (flags & VPCIE_MSGF_NO_REPLY) {
		h->sock_unapplied = true;
		return 0;
	}

	p.want_reply = true;
	p.id = hdr.msg_id;
	p.cmd = hdr.cmd;
	p.reply = &local;
	memset(&local, 0, sizeof(local));
	/* One timeout covers sending and waiting. */
	rc = host_pump(h, &p, vpcie_ms_left(deadline));
	if (rc == -ETIMEDOUT) {
		/* A device that misses a deadline is treated as gone: a late reply
		 * could not be matched, and every later call would wait again. */
		vpcie_warn(&h->lg, "%s (id %u): no reply in %d ms", vpcie_cmd_name(cmd),
			   hdr.msg_id, h->opts.timeout_ms);
		mark_broken(h, rc, vpcie_cmd_name(cmd));
		return rc;
	}
	if (rc < 0)
		return rc;
	/* The device answers in order: whatever it got before is handled. */
	if (!h->post_len)
		h->sock_unapplied = false;
	if (local.hdr.flags & VPCIE_MSGF_ERROR) {
		vpcie_warn(&h->lg, "%s (id %u): device error %u (%s)", vpcie_cmd_name(cmd),
			   hdr.msg_id, local.hdr.error,
			   local.hdr.error ? strerror((int)local.hdr.error) : "unspecified");
		vpcie_msg_release(&local);
		return -EIO;
	}
	rc = vpcie_validate_reply(cmd, local.payload, local.payload_len, h->xfer);
	if (rc < 0) {
		vpcie_warn(&h->lg, "%s (id %u): malformed reply (%zu bytes): %s",
			   vpcie_cmd_name(cmd), hdr.msg_id, local.payload_len, strerror(-rc));
		vpcie_msg_release(&local);
		return -EPROTO;
	}
	if (reply)
		*reply = local;
	else
		vpcie_msg_release(&local);
	if (HOST_TRACING(h))
		vpcie_trace_tick(h->trace); /* a natural point to write the trace */
	return 0;
}


/* A request whose reply is a fixed structure: send req, copy the reply's
 * first outlen bytes to out. */
static int query(struct vpcie_host *h, unsigned cmd, const void *req, size_t reqlen,
		 void *out, size_t outlen)
{
	struct iovec iov = {.iov_base = (void *)req, .iov_len = reqlen};
	struct vpcie_msg rep;
	int rc = host_request(h, cmd, 0, &iov, 1, NULL, 0, &rep);

	if (rc < 0)
		return rc;
	if (rep.payload_len < outlen)
		rc = -EPROTO;
	else
		memcpy(out, rep.payload, outlen);
	vpcie_msg_release(&rep);
	return rc;
}

int vpcie_host_device_info(struct vpcie_host *h, struct vpcie_device_info *out)
{
	struct vpcie_device_info req = {.argsz = sizeof(req)};

	if (!h || !out)
		return -EINVAL;
	return query(h, VPCIE_CMD_DEVICE_GET_INFO, &req, sizeof(req), out, sizeof(*out));
}

int vpcie_host_irq_info(struct vpcie_host *h, unsigned index, struct vpcie_irq_info *out)
{
	struct vpcie_irq_info req = {.argsz = sizeof(req), .index = index};
	int rc;

	if (!h || !out)
		return -EINVAL;
	rc = query(h, VPCIE_CMD_DEVICE_GET_IRQ_INFO, &req, sizeof(req), out, sizeof(*out));
	if (rc < 0)
		return rc;
	if (out->index != index) {
		vpcie_warn(&h->lg, "IRQ info for index %u answered index %u", index, out->index);
		return -EPROTO;
	}
	return 0;
}

int vpcie_host_reset(struct vpcie_host *h)
{
	int rc;

	if (!h)
		return -EINVAL;
	uint64_t t0 = HOST_TRACE_T0(h);

	rc = host_request(h, VPCIE_CMD_DEVICE_RESET, 0, NULL, 0, NULL, 0, NULL);
	if (HOST_TRACING(h)) /* trace point: reset */
		vpcie_trace_event(h->trace, t0, VPCIE_TRACE_RESET, 0, 0, 0, 0, rc, 0, NULL);
	/* Whatever the outcome, our view of BARs and vectors is stale. */
	memset(h->bars, 0, sizeof(h->bars));
	host_irq_forget(h);
	return rc;
}
