/* SPDX-License-Identifier: MIT */
/*
 * Device side of the shared-memory ring transport (vpcie/ring.h): creating
 * the rings for a client that asked for them, handling the commands it puts
 * in the H2D ring, and answering (replies, interrupt notices) in the D2H
 * ring.
 *
 * Every slot is copied out of the shared memory before anything looks at
 * it, then checked like a socket message; broken indices drop the client.
 * Commands run through the same region routing as REGION_READ/WRITE
 * messages, so a device callback cannot tell the transports apart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dev_priv.h"
#include "../util/util.h"

static void wake(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the peer will wake anyway */
	}
}

int dev_ring_create(struct vpcie_dev *dev, int fds[3])
{
	uint32_t slots = dev->opts.ring_slots;
	size_t len = vpcie_ring_mem_size(slots);
	struct dev_ring *rg;
	int ret;

	if (dev->ring)
		return -EBUSY;
	if (!len)
		return -EINVAL;
	rg = calloc(1, sizeof(*rg));
	if (!rg)
		return -ENOMEM;
	rg->memfd = rg->h2d_wake = rg->d2h_wake = -1;
	rg->slots = slots;
	rg->len = len;
	rg->memfd = vpcie_memfd_sized("vpcie-ring", len);
	if (rg->memfd < 0) {
		ret = rg->memfd;
		goto fail;
	}
	rg->mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, rg->memfd, 0);
	if (rg->mem == MAP_FAILED) {
		rg->mem = NULL;
		ret = -errno;
		goto fail;
	}
	vpcie_ring_mem_init(rg->mem, slots);
	rg->h2d_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	rg->d2h_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (rg->h2d_wake < 0 || rg->d2h_wake < 0) {
		ret = -errno;
		goto fail;
	}
	ret = vpcie_ring_open(&rg->h2d, rg->mem, len, slots, VPCIE_RING_H2D, false);
	if (!ret)
		ret = vpcie_ring_open(&rg->d2h, rg->mem, len, slots, VPCIE_RING_D2H, true);
	if (ret)
		goto fail;
	fds[0] = rg->memfd;
	fds[1] = rg->h2d_wake;
	fds[2] = rg->d2h_wake;
	dev->ring = rg;
	return 0;
fail:
	dev->ring = rg;
	dev_ring_destroy(dev);
	return ret;
}

int dev_ring_activate(struct vpcie_dev *dev)
{
	struct dev_ring *rg = dev->ring;
	int ret;

	if (!rg)
		return -ENOENT;
	ret = dev_ep_add(dev, rg->h2d_wake);
	if (ret)
		return ret;
	rg->armed = true;
	/* The memfd is in the host's hands now; we only need the mapping. */
	close(rg->memfd);
	rg->memfd = -1;
	return 0;
}

void dev_ring_destroy(struct vpcie_dev *dev)
{
	struct dev_ring *rg = dev->ring;

	if (!rg)
		return;
	if (rg->armed)
		epoll_ctl(dev->epfd, EPOLL_CTL_DEL, rg->h2d_wake, NULL);
	if (rg->mem)
		munmap(rg->mem, rg->len);
	if (rg->memfd >= 0)
		close(rg->memfd);
	if (rg->h2d_wake >= 0)
		close(rg->h2d_wake);
	if (rg->d2h_wake >= 0)
		close(rg->d2h_wake);
	free(rg);
	dev->ring = NULL;
}

bool dev_ring_has_work(struct vpcie_dev *dev)
{
	return dev->ring && dev->ring->armed && vpcie_ring_ready(&dev->ring->h2d);
}

void dev_ring_drain_wake(struct vpcie_dev *dev)
{
	uint64_t v;

	if (dev->ring && read(dev->ring->h2d_wake, &v, sizeof(v)) < 0) {
		/* EAGAIN: someone else drained it */
	}
}

void dev_ring_sleep(struct vpcie_dev *dev)
{
	struct dev_ring *rg = dev->ring;

	if (!rg || !rg->armed)
		return;
	if (vpcie_ring_sleep_prepare(&rg->h2d)) {
		/* Work (or breakage) arrived meanwhile: stay awake, and make our
		 * epoll fd readable so the program's loop calls us back. */
		vpcie_ring_awake(&rg->h2d);
		wake(rg->h2d_wake);
	}
}

/* Push a D2H slot; wake the host if it sleeps. */
static int push(struct vpcie_dev *dev, const struct vpcie_ring_slot *s)
{
	struct dev_ring *rg = dev->ring;
	int rc = vpcie_ring_push(&rg->d2h, s);

	if (rc) {
		vpcie_warn(&dev->log, "%s", rc == -EAGAIN ? "ring: the host does not read its replies"
							  : "ring: the host broke the reply ring");
		dev->drop_client = true;
		return rc;
	}
	if (vpcie_ring_kick_needed(&rg->d2h))
		wake(rg->d2h_wake);
	return 0;
}

static void reply(struct vpcie_dev *dev, const struct vpcie_ring_slot *req, int err,
		  const void *data, uint16_t count)
{
	struct vpcie_ring_slot r;

	memset(&r, 0, sizeof(r));
	r.op = req->op;
	r.id = req->id;
	r.flags = VPCIE_RING_F_REPLY;
	r.index = req->index;
	r.offset = req->offset;
	if (err) {
		r.flags |= VPCIE_RING_F_ERROR;
		r.error = (uint32_t)(err < 0 ? -err : err);
	} else if (data) {
		r.count = count;
		memcpy(r.data, data, count);
	}
	push(dev, &r);
}

static const char *op_name(unsigned op)
{
	switch (op) {
	case VPCIE_RING_OP_READ: return "ring READ";
	case VPCIE_RING_OP_WRITE: return "ring WRITE";
	case VPCIE_RING_OP_FENCE: return "ring FENCE";
	default: return "ring slot";
	}
}

/* One command, already copied out of the shared memory. */
static void handle(struct vpcie_dev *dev, const struct vpcie_ring_slot *s)
{
	bool posted = s->flags & VPCIE_RING_F_POSTED;
	uint8_t buf[VPCIE_RING_INLINE_MAX];
	int ret = vpcie_ring_slot_check(s, VPCIE_RING_H2D);

	if (ret) {
		vpcie_dbg(&dev->log, "malformed ring slot (op %u, flags %#x, count %u)", s->op,
			  s->flags, s->count);
	} else if (s->op == VPCIE_RING_OP_READ) {
		ret = dev_region_access_via(dev, s->index, s->offset, buf, s->count, false,
					    VPCIE_TRACE_F_RING);
		if (ret == DEV_FAULT_NOREPLY)
			return;
		if (!ret) {
			reply(dev, s, 0, buf, s->count);
			return;
		}
	} else if (s->op == VPCIE_RING_OP_WRITE) {
		ret = dev_region_access_via(dev, s->index, s->offset, (void *)s->data, s->count, true,
					    VPCIE_TRACE_F_RING | (posted ? VPCIE_TRACE_F_POSTED : 0));
		if (ret == DEV_FAULT_NOREPLY)
			return;
	}
	if (ret) {
		vpcie_dbg(&dev->log, "%s (id %u) region %u @%#llx+%u: error %d (%s)",
			  op_name(s->op), s->id, s->index, (unsigned long long)s->offset, s->count,
			  ret, strerror(-ret));
		if (posted) {
			/* A posted write has nobody to tell: say it in the log. */
			vpcie_warn(&dev->log, "posted %s failed: %s", op_name(s->op), strerror(-ret));
			return;
		}
	}
	if (!posted)
		reply(dev, s, ret, NULL, 0);
}

int dev_ring_serve(struct vpcie_dev *dev, unsigned budget)
{
	int n = 0;

	while (dev->ring && dev->ring->armed && (unsigned)n < budget && !dev->drop_client) {
		struct dev_ring *rg = dev->ring;
		struct vpcie_ring_slot s;
		if (!vpcie_ring_pop(&rg->h2d, &s))
			break;
		if (vpcie_ring_take_kick(&rg->h2d))
			wake(rg->d2h_wake); /* the host waits for a free slot */
		n++;
		rg->served++;
		dev->handler_depth++; /* as dev_handle_msg() */
		handle(dev, &s);
		dev->handler_depth--;
	}
	return n;
}

int dev_ring_irq(struct vpcie_dev *dev, unsigned index, unsigned vector)
{
	struct dev_ring *rg = dev->ring;
	struct vpcie_ring_slot s;
	int free_slots;

	if (!rg || !rg->armed || dev->drop_client)
		return -ENOTCONN;
	free_slots = vpcie_ring_free(&rg->d2h);
	if (free_slots < 0) {
		vpcie_warn(&dev->log, "ring: the host broke the reply ring");
		dev->drop_client = true;
		return free_slots;
	}
	if (free_slots < 2)
		return -EAGAIN; /* the last slot is for a reply */
	memset(&s, 0, sizeof(s));
	s.op = VPCIE_RING_OP_IRQ;
	s.index = index;
	s.offset = vector;
	return push(dev, &s);
}
