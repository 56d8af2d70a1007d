/* SPDX-License-Identifier: MIT */
/*
 * Host side of the shared-memory ring transport (vpcie/ring.h): accepting
 * the device's rings after VERSION, region accesses and fences through the
 * command ring, and consuming the device's replies and interrupt notices.
 *
 * The device is not trusted: its VERSION answer is checked (version,
 * distinct fd indices, the memfd's size and seals, that the wake fds are
 * eventfds), every slot is copied out before it is looked at and checked,
 * and broken indices break the handle like a broken socket would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/util.h"
#include "host_priv.h"

static void wake(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the device wakes anyway */
	}
}

static bool is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return !strcmp(target, "anon_inode:[eventfd]");
}

void host_ring_free(struct vpcie_host *h)
{
	struct host_ring *rg = h->ring;

	if (!rg)
		return;
	if (rg->mem)
		munmap(rg->mem, rg->len);
	if (rg->h2d_wake >= 0)
		close(rg->h2d_wake);
	if (rg->d2h_wake >= 0)
		close(rg->d2h_wake);
	free(rg);
	h->ring = NULL;
}

static int refuse(struct vpcie_host *h, const char *why)
{
	vpcie_err(&h->lg, "device's vpcie_ring answer refused: %s", why);
	return -EPROTO;
}

int host_ring_setup(struct vpcie_host *h, struct vpcie_msg *rep)
{
	const struct vpcie_caps *c = &h->peer;
	int idx[3] = {c->ring_fd_index, c->ring_h2d_wake_fd_index, c->ring_d2h_wake_fd_index};
	int fds[3] = {-1, -1, -1}, rc;
	struct host_ring *rg;
	struct stat st;
	size_t len;

	if (!c->ring)
		return 0;
	if (!h->opts.ring)
		return refuse(h, "we did not propose it");
	if (c->ring_version != VPCIE_RING_VERSION)
		return refuse(h, "unknown version");
	len = vpcie_ring_mem_size(c->ring_slots);
	if (!len)
		return refuse(h, "bad slot count");
	for (int i = 0; i < 3; i++) {
		if (idx[i] < 0 || (unsigned)idx[i] >= rep->nfds)
			return refuse(h, "fd index missing or beyond the fds received");
		if (c->twin_socket && idx[i] == c->twin_fd_index)
			return refuse(h, "fd index shared with the twin socket");
		for (int j = 0; j < i; j++)
			if (idx[i] == idx[j])
				return refuse(h, "fd index used twice");
	}
	for (int i = 0; i < 3; i++)
		fds[i] = vpcie_msg_take_fd(rep, (unsigned)idx[i]);
	rc = -EPROTO;
	if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0) {
		refuse(h, "fd already taken");
		goto fail;
	}
	/* A file shorter than the rings would fault on access; a shrinkable
	 * one could become so under our mapping. */
	if (fstat(fds[0], &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != len) {
		refuse(h, "memory is not a file of the announced size");
		goto fail;
	}
	if (!vpcie_fd_size_sealed(fds[0])) {
		refuse(h, "memory is not sealed against shrinking");
		goto fail;
	}
	if (!is_eventfd(fds[1]) || !is_eventfd(fds[2])) {
		refuse(h, "wake fds are not eventfds");
		goto fail;
	}
	/* Never block on a wake fd, whatever the device created it with. */
	for (int i = 1; i < 3; i++) {
		int fl = fcntl(fds[i], F_GETFL);

		if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0) {
			rc = -errno;
			goto fail;
		}
	}
	rg = calloc(1, sizeof(*rg));
	if (!rg) {
		rc = -ENOMEM;
		goto fail;
	}
	rg->h2d_wake = fds[1];
	rg->d2h_wake = fds[2];
	rg->slots = c->ring_slots;
	rg->len = len;
	h->ring = rg;
	rg->mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	if (rg->mem == MAP_FAILED) {
		rg->mem = NULL;
		rc = -errno;
		host_ring_free(h);
		return rc;
	}
	rc = vpcie_ring_open(&rg->h2d, rg->mem, len, rg->slots, VPCIE_RING_H2D, true);
	if (!rc)
		rc = vpcie_ring_open(&rg->d2h, rg->mem, len, rg->slots, VPCIE_RING_D2H, false);
	if (rc) {
		host_ring_free(h);
		return rc;
	}
	return 0;
fail:
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

/* ---- The reply ring --------------------------------------------------------- */

static void dispatch(struct vpcie_host *h, const struct vpcie_ring_slot *s, struct pump *p)
{
	struct host_ring *rg = h->ring;

	if (vpcie_ring_slot_check(s, VPCIE_RING_D2H)) {
		if (!rg->stray++)
			vpcie_warn(&h->lg, "dropping malformed ring slot from the device (op %u, "
					   "flags %#x, count %u)", s->op, s->flags, s->count);
		return;
	}
	if (s->op == VPCIE_RING_OP_IRQ) {
		host_irq_note(h, s->index, s->offset, p);
		return;
	}
	if (p->want_ring && !p->ring_got && s->id == p->ring_id && s->op == p->ring_op) {
		*p->ring_reply = *s;
		p->ring_got = true;
		rg->dirty = false; /* FIFO: everything before it was handled */
		return;
	}
	rg->stray++;
	vpcie_warn(&h->lg, "dropping unexpected ring reply (op %u id %u)", s->op, s->id);
}

static int done(struct vpcie_host *h, const struct pump *p)
{
	struct host_ring *rg = h->ring;

	if (p->want_ring && p->ring_got)
		return 1;
	if (p->want_irq && h->irq_ring && p->irq_vec < h->irq_n && h->irq_ring[p->irq_vec])
		return 1;
	if (p->want_space) {
		int f = vpcie_ring_free(&rg->h2d);

		if (f < 0)
			return host_mark_broken(h, f, "command ring");
		if (f > 0)
			return 1;
	}
	return 0;
}

int host_ring_drain(struct vpcie_host *h, struct pump *p)
{
	struct host_ring *rg = h->ring;

	if (!rg)
		return 0;
	/* At most one ring's worth: the device may keep producing. */
	for (uint32_t i = 0; i < rg->slots; i++) {
		struct vpcie_ring_slot s;
		if (!vpcie_ring_pop(&rg->d2h, &s))
			break;
		dispatch(h, &s, p);
	}
	return done(h, p);
}

bool host_ring_ready(struct vpcie_host *h, const struct pump *p)
{
	struct host_ring *rg = h->ring;

	return vpcie_ring_ready(&rg->d2h) ||
	       (p->want_space && vpcie_ring_free(&rg->h2d) != 0);
}

/* ---- Commands -------------------------------------------------------------------- */

/* *deadline: 0 until first needed (reading the clock costs more than a push). */
static int push(struct vpcie_host *h, const struct vpcie_ring_slot *s, uint64_t *deadline)
{
	struct host_ring *rg = h->ring;

	for (;;) {
		struct pump p = {.extra_fd = -1, .want_space = true};
		int rc = vpcie_ring_push(&rg->h2d, s);

		if (rc == 0)
			break;
		if (rc != -EAGAIN)
			return host_mark_broken(h, rc, "command ring");
		if (!*deadline)
			*deadline = vpcie_deadline(h->opts.timeout_ms);
		rc = host_pump(h, &p, vpcie_ms_left(*deadline));
		if (rc == -ETIMEDOUT) {
			vpcie_warn(&h->lg, "ring: no free slot in %d ms", h->opts.timeout_ms);
			return host_mark_broken(h, rc, "command ring");
		}
		if (rc < 0)
			return rc;
	}
	if (vpcie_ring_kick_needed(&rg->h2d))
		wake(rg->h2d_wake);
	return 0;
}

static const char *op_name(unsigned op)
{
	return op == VPCIE_RING_OP_READ ? "ring READ" : op == VPCIE_RING_OP_WRITE ? "ring WRITE"
											 : "ring FENCE";
}

static int call(struct vpcie_host *h, struct vpcie_ring_slot *s, bool posted,
		struct vpcie_ring_slot *rep)
{
	struct pump p = {.extra_fd = -1, .want_ring = true, .ring_reply = rep};
	uint64_t deadline = 0;
	int rc = 0;

	if (h->broken)
		return -ECONNRESET;
	s->id = h->next_id++;
	rc = push(h, s, &deadline);
	if (rc < 0)
		return rc;
	if (posted) {
		h->ring->dirty = true;
		return 0;
	}
	p.ring_id = s->id;
	p.ring_op = s->op;
	/* The device usually answers within a microsecond or two: look at the
	 * ring a little before the full wait (clock, fds, adaptive window). */
	for (unsigned i = 0; h->spin.max_ns && i < HOST_RING_FAST_SPINS && !rc; i++) {
		if (vpcie_ring_ready(&h->ring->d2h))
			rc = host_ring_drain(h, &p);
		else
			vpcie_cpu_relax();
	}
	if (rc < 0)
		return rc;
	if (!rc) {
		if (!deadline)
			deadline = vpcie_deadline(h->opts.timeout_ms);
		rc = host_pump(h, &p, vpcie_ms_left(deadline));
	}
	if (rc == -ETIMEDOUT) {
		/* As on the socket: a device that misses a deadline is gone. */
		vpcie_warn(&h->lg, "%s (id %u): no reply in %d ms", op_name(s->op), s->id,
			   h->opts.timeout_ms);
		return host_mark_broken(h, rc, op_name(s->op));
	}
	if (rc < 0)
		return rc;
	if (!p.ring_got)
		return -EPROTO; /* cannot happen: the pump returned without its reply */
	if (rep->index != s->index || rep->offset != s->offset) {
		vpcie_warn(&h->lg, "%s %u@0x%llx+%u answered for %u@0x%llx", op_name(s->op), s->index,
			   (unsigned long long)s->offset, s->count, rep->index,
			   (unsigned long long)rep->offset);
		return -EPROTO;
	}
	if (rep->flags & VPCIE_RING_F_ERROR) {
		vpcie_warn(&h->lg, "%s (id %u): device error %u (%s)", op_name(s->op), s->id,
			   rep->error, rep->error ? strerror((int)rep->error) : "unspecified");
		return -EIO;
	}
	return 0;
}

int host_ring_access(struct vpcie_host *h, unsigned op, unsigned index, uint64_t off,
		     void *buf, uint32_t count, bool posted)
{
	struct vpcie_ring_slot s, rep;
	int rc;

	if (!h->ring || !count || count > VPCIE_RING_INLINE_MAX ||
	    (op != VPCIE_RING_OP_READ && op != VPCIE_RING_OP_WRITE) ||
	    (posted && op != VPCIE_RING_OP_WRITE))
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.op = (uint16_t)op;
	s.flags = posted ? VPCIE_RING_F_POSTED : 0;
	s.count = (uint16_t)count;
	s.index = index;
	s.offset = off;
	if (op == VPCIE_RING_OP_WRITE)
		memcpy(s.data, buf, count);
	rc = call(h, &s, posted, &rep);
	if (rc < 0 || posted || op != VPCIE_RING_OP_READ)
		return rc;
	if (rep.count != count) {
		vpcie_warn(&h->lg, "ring READ of %u bytes answered with %u", count, rep.count);
		return -EPROTO;
	}
	memcpy(buf, rep.data, count);
	return 0;
}

int host_ring_fence(struct vpcie_host *h)
{
	struct vpcie_ring_slot s, rep;

	if (!h->ring || !h->ring->dirty)
		return 0;
	memset(&s, 0, sizeof(s));
	s.op = VPCIE_RING_OP_FENCE;
	return call(h, &s, false, &rep);
}
