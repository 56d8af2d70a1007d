// SPDX-License-Identifier: MIT
/*
 * Fault injection in the device runtime: the one place between the protocol
 * and the device's callbacks where a region access, a DMA transfer or an
 * interrupt is asked about the device's fault set (vpcie/fault.h), and the
 * faults that fire are carried out and logged. dispatch.c, dma.c and irq.c
 * each make one call here, and only when the device has a fault set.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "fault_priv.h"
#include "../util/util.h"

int dev_fault_ensure(struct vpcie_dev *dev)
{
	struct dev_fault *f;

	if (dev->fault)
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->set = vpcie_fault_set_new();
	if (!f->set) {
		free(f);
		return -ENOMEM;
	}
	f->ctl_fd = f->ctl_client = -1;
	dev->fault = f;
	return 0;
}

void dev_fault_free(struct vpcie_dev *dev)
{
	struct dev_fault *f = dev->fault;

	if (!f)
		return;
	/* Timers belong to the device and are freed with it. */
	dev_fault_ctl_close(f);
	vpcie_fault_set_free(f->set);
	free(f);
	dev->fault = NULL;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = {.tv_sec = (time_t)(us / 1000000u), .tv_nsec = (long)(us % 1000000u) * 1000};

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

static uint64_t jittered(const struct vpcie_fault_hit *hit)
{
	uint64_t j = hit->rule->jitter_us;

	return hit->rule->us + (j ? hit->rand % (j + 1) : 0);
}

/* Every fault that fires is logged with its rule and trigger. */
static void log_hit(struct vpcie_dev *dev, const struct vpcie_fault_hit *hit, const char *what)
{
	char spec[VPCIE_FAULT_SPEC_MAX + 1];

	vpcie_fault_format(hit->rule, spec, sizeof(spec));
	vpcie_log(&dev->log, hit->fired <= DEV_FAULT_LOG_EACH ? VPCIE_LOG_INFO : VPCIE_LOG_DEBUG,
		  "fault #%u %s fired (%s; #%" PRIu64 "): %s%s", hit->id, spec, hit->trigger,
		  hit->fired, what,
		  hit->fired == DEV_FAULT_LOG_EACH ? " (further firings at debug level)" : "");
	if (DEV_TRACING(dev)) /* trace point: an injected fault (the rule, cut to fit) */
		vpcie_trace_fault(dev->trace, 0, 0, spec);
}

/* Surprise removal: the dispatcher closes the client's socket once the
 * current command returns, without answering it. */
static void remove_link(struct vpcie_dev *dev, const struct vpcie_fault_hit *hit)
{
	log_hit(dev, hit, dev->chan ? "surprise removal: closing the client's socket"
				    : "surprise removal: no client connected");
	if (!dev->chan)
		return;
	dev->drop_client = true;
	dev->drop_why = "surprise removal (fault injection)";
	if (hit->rule->has_back) {
		dev->fault->back_pending = true;
		dev->fault->back_ms = hit->rule->back_ms;
	}
}

static void listen_again(struct vpcie_dev *dev, void *opaque)
{
	struct vpcie_endpoint ep;
	int fd;

	(void)opaque;
	if (dev->listen_fd >= 0 || !dev->listen_where)
		return;
	fd = vpcie_endpoint_parse(dev->listen_where, &ep);
	if (fd == 0)
		fd = vpcie_endpoint_listen(&ep, dev->psk != NULL);
	if (fd < 0) {
		vpcie_err(&dev->log, "fault: cannot listen on %s again: %s", dev->listen_where,
			  strerror(-fd));
		return;
	}
	dev->listen_fd = fd;
	if (!dev->chan && dev_ep_add(dev, fd) == 0)
		dev->listening_armed = true;
	vpcie_info(&dev->log, "fault: link back up, listening on %s", dev->listen_where);
}

bool dev_fault_link_down(struct vpcie_dev *dev)
{
	struct dev_fault *f = dev->fault;

	if (!f || !f->back_pending)
		return false;
	f->back_pending = false;
	if (dev->listen_fd < 0)
		return false;
	if (dev->listening_armed)
		epoll_ctl(dev->epfd, EPOLL_CTL_DEL, dev->listen_fd, NULL);
	close(dev->listen_fd);
	dev->listen_fd = -1;
	dev->listening_armed = false;
	if (dev->sock_path)
		unlink(dev->sock_path);
	vpcie_info(&dev->log, "fault: link down, %s %s for %" PRIu64 " ms",
		   dev->listen_where ? dev->listen_where : "the listener",
		   dev->sock_path ? "removed" : "closed", f->back_ms);
	if (!f->back_timer)
		f->back_timer = vpcie_dev_timer_add(dev, f->back_ms * 1000000u, 0, listen_again, NULL);
	else
		vpcie_dev_timer_arm(f->back_timer, f->back_ms * 1000000u, 0);
	return true;
}

/* Would an access rule see accesses to region idx? Then it is not offered
 * for mmap: accesses through a host's mapping cannot be intercepted. */
bool dev_fault_traps_region(struct vpcie_dev *dev, unsigned idx)
{
	struct vpcie_fault_info in;

	for (unsigned i = 0; dev->fault && vpcie_fault_set_get(dev->fault->set, i, &in); i++)
		if (in.rule.on == VPCIE_FAULT_ON_ACCESS && !in.spent &&
		    (in.rule.region < 0 || (unsigned)in.rule.region == idx))
			return true;
	return false;
}

bool dev_fault_traps_dma(struct vpcie_dev *dev)
{
	struct vpcie_fault_info in;

	for (unsigned i = 0; dev->fault && vpcie_fault_set_get(dev->fault->set, i, &in); i++)
		if (in.rule.on == VPCIE_FAULT_ON_DMA && !in.spent)
			return true;
	return false;
}

/* ---- Region accesses ------------------------------------------------------ */

/* cfg mode=nosize: the BAR register holds its sizing pattern (the host wrote
 * all-ones): the dword reads 0, as if the BAR were not implemented. */
static void cfg_nosize(struct vpcie_dev *dev, int bar, uint64_t off, uint8_t *buf, size_t len)
{
	const struct dev_bar *b = &dev->bars[bar];
	uint64_t size = b->desc.size;

	if (!b->present)
		return;
	for (unsigned d = 0; d < (b->desc.kind == VPCIE_BAR_MEM64 ? 2u : 1u); d++) {
		unsigned reg = PCI_BASE_ADDRESS_0 + 4u * ((unsigned)bar + d);
		uint32_t v = vpcie_cfg_get32(&dev->cfg, reg), mask;

		if (d == 0)
			mask = (uint32_t)~(size - 1) & (b->desc.kind == VPCIE_BAR_IO ? ~3u : ~15u);
		else
			mask = (uint32_t)(~(size - 1) >> 32);
		if (!mask || (v & mask) != mask)
			continue;
		for (unsigned i = 0; i < 4; i++)
			if (reg + i >= off && reg + i < off + len)
				buf[reg + i - off] = 0;
	}
}

static void cfg_fault(struct vpcie_dev *dev, const struct vpcie_fault_hit *hit, uint64_t off,
		      uint8_t *buf, size_t len)
{
	const struct vpcie_fault_rule *r = hit->rule;
	uint64_t x = hit->rand;

	if (r->mode == VPCIE_FAULT_CFG_NOSIZE) {
		cfg_nosize(dev, r->bar, off, buf, len);
		return;
	}
	for (uint64_t p = off; p < off + len; p++) {
		if (p >= r->offset && p < r->offset + r->len)
			buf[p - off] = (uint8_t)x;
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		x ^= x >> 29;
	}
}

int dev_fault_access(struct vpcie_dev *dev, unsigned region, uint64_t off, void *buf,
		     size_t len, bool write)
{
	struct vpcie_fault_event ev = {.on = VPCIE_FAULT_ON_ACCESS, .region = (int)region,
				       .offset = off, .len = len, .write = write,
				       .now_ns = vpcie_now_ns()};
	struct vpcie_fault_hit hit, act = {0}, cfg[4];
	unsigned cur = 0, ncfg = 0;
	uint64_t delay = 0;
	int spurious = -1, ret;
	char what[96];

	snprintf(what, sizeof(what), "region %u %s @%#" PRIx64 "+%zu", region,
		 write ? "write" : "read", off, len);
	while (vpcie_fault_set_next(dev->fault->set, &ev, &cur, &hit)) {
		switch (hit.rule->kind) {
		case VPCIE_FAULT_DELAY:
			delay += jittered(&hit);
			log_hit(dev, &hit, what);
			break;
		case VPCIE_FAULT_CFG:
			if (ncfg < 4)
				cfg[ncfg++] = hit;
			log_hit(dev, &hit, what);
			break;
		case VPCIE_FAULT_IRQ:
			spurious = hit.rule->vector;
			log_hit(dev, &hit, "spurious interrupt");
			break;
		default: /* ur, ca, hang, remove: the first one decides */
			if (!act.rule)
				act = hit;
			break;
		}
	}
	if (delay)
		sleep_us(delay);
	if (act.rule) {
		switch (act.rule->kind) {
		case VPCIE_FAULT_UR:
			log_hit(dev, &act, write ? "write dropped" : "read completes with all-ones");
			if (!write)
				memset(buf, 0xff, len);
			ret = 0;
			break;
		case VPCIE_FAULT_CA:
			log_hit(dev, &act, write ? "write refused (EIO)" : "read refused (EIO)");
			ret = -EIO;
			break;
		case VPCIE_FAULT_HANG:
			log_hit(dev, &act, "never completes");
			ret = DEV_FAULT_NOREPLY;
			break;
		default:
			remove_link(dev, &act);
			ret = DEV_FAULT_NOREPLY;
			break;
		}
	} else {
		ret = dev_region_route(dev, region, off, buf, len, write);
		for (unsigned i = 0; ret == 0 && !write && i < ncfg; i++)
			cfg_fault(dev, &cfg[i], off, buf, len);
	}
	if (spurious >= 0)
		dev_irq_raise(dev, (unsigned)spurious);
	return ret;
}

/* ---- DMA -------------------------------------------------------------------- */

/* A bus address past every mapping the client made. */
static uint64_t outside_addr(const struct vpcie_dev *dev)
{
	uint64_t end = 0;

	for (unsigned i = 0; i < dev->nmaps; i++)
		if (dev->maps[i].addr + dev->maps[i].size > end)
			end = dev->maps[i].addr + dev->maps[i].size;
	end = (end + 0xfffff) & ~(uint64_t)0xfffff;
	return end > UINT64_MAX - (1u << 21) ? 0 : end + (1u << 20);
}

int dev_fault_dma(struct vpcie_dev *dev, uint64_t addr, void *buf, size_t len, bool write)
{
	struct vpcie_fault_event ev = {.on = VPCIE_FAULT_ON_DMA, .offset = addr, .len = len,
				       .write = write, .now_ns = vpcie_now_ns()};
	struct vpcie_fault_hit hit, act = {0};
	unsigned cur = 0;
	uint64_t delay = 0;
	uint8_t *tmp = NULL;
	char what[128];
	int ret;

	if (dev->drop_client)
		return -ENOTCONN; /* removed: the link is going down */
	while (vpcie_fault_set_next(dev->fault->set, &ev, &cur, &hit)) {
		if (hit.rule->kind == VPCIE_FAULT_REMOVE) {
			/* In the middle of the transfer: the first half moves. */
			vpcie_info(&dev->log, "fault #%u: DMA %s at %#" PRIx64 ": link drops after "
				   "%zu of %zu bytes", hit.id, write ? "write" : "read", addr,
				   len / 2, len);
			if (len / 2)
				dev_dma_rw(dev, addr, buf, len / 2, write);
			remove_link(dev, &hit);
			return -ENOTCONN;
		}
		if (hit.rule->mode == VPCIE_FAULT_DMA_DELAY) {
			delay += jittered(&hit);
			log_hit(dev, &hit, write ? "DMA write delayed" : "DMA read delayed");
		} else if (!act.rule) {
			act = hit;
		}
	}
	if (delay)
		sleep_us(delay);
	if (!act.rule || !len)
		return dev_dma_rw(dev, addr, buf, len, write);
	switch (act.rule->mode) {
	case VPCIE_FAULT_DMA_OUTSIDE: {
		uint64_t bad = outside_addr(dev);
		size_t n = len < 4096 ? len : 4096;

		snprintf(what, sizeof(what), "DMA %s of %zu bytes at %#" PRIx64 " sent to %#" PRIx64,
			 write ? "write" : "read", n, addr, bad);
		log_hit(dev, &act, what);
		return dev_dma_msg(dev, bad, buf, n, write);
	}
	case VPCIE_FAULT_DMA_TRUNCATE:
		snprintf(what, sizeof(what), "DMA %s at %#" PRIx64 " truncated to %zu of %zu bytes",
			 write ? "write" : "read", addr, len / 2, len);
		log_hit(dev, &act, what);
		return len / 2 ? dev_dma_rw(dev, addr, buf, len / 2, write) : 0;
	default: { /* flip */
		size_t at = (size_t)(act.rand % len);
		uint8_t bit = (uint8_t)(1u << ((act.rand >> 32) % 8));

		snprintf(what, sizeof(what), "DMA %s at %#" PRIx64 ": bit %#x of byte %zu flipped",
			 write ? "write" : "read", addr, bit, at);
		log_hit(dev, &act, what);
		if (!write) {
			ret = dev_dma_rw(dev, addr, buf, len, false);
			if (!ret)
				((uint8_t *)buf)[at] ^= bit;
			return ret;
		}
		tmp = malloc(len);
		if (!tmp)
			return -ENOMEM;
		memcpy(tmp, buf, len);
		tmp[at] ^= bit;
		ret = dev_dma_rw(dev, addr, tmp, len, true);
		free(tmp);
		return ret;
	}
	}
}

/* ---- Interrupts ---------------------------------------------------------------- */

static void irq_timer_rearm(struct vpcie_dev *dev)
{
	struct dev_fault *f = dev->fault;
	uint64_t first = UINT64_MAX, now = vpcie_now_ns();

	for (unsigned i = 0; i < f->irq_n; i++)
		if (f->irq_q[i].due_ns < first)
			first = f->irq_q[i].due_ns;
	if (first != UINT64_MAX)
		vpcie_dev_timer_arm(f->irq_timer, first > now ? first - now : 0, 0);
}

static void irq_delayed(struct vpcie_dev *dev, void *opaque)
{
	struct dev_fault *f = dev->fault;
	uint64_t now = vpcie_now_ns();

	(void)opaque;
	for (unsigned i = 0; i < f->irq_n;) {
		if (f->irq_q[i].due_ns > now) {
			i++;
			continue;
		}
		unsigned v = f->irq_q[i].vector;

		f->irq_q[i] = f->irq_q[--f->irq_n];
		int ret = dev_irq_raise(dev, v);

		if (ret)
			vpcie_dbg(&dev->log, "fault: delayed interrupt %u: %s", v, strerror(-ret));
	}
	irq_timer_rearm(dev);
}

int dev_fault_irq(struct vpcie_dev *dev, unsigned n)
{
	struct dev_fault *f = dev->fault;
	struct vpcie_fault_event ev = {.on = VPCIE_FAULT_ON_IRQ, .vector = (int)n,
				       .now_ns = vpcie_now_ns()};
	struct vpcie_fault_hit hit;
	unsigned cur = 0, dups = 0;
	uint64_t delay = 0;
	bool drop = false;
	char what[64];
	int ret;

	if (dev->drop_client)
		return -ENOTCONN;
	while (vpcie_fault_set_next(f->set, &ev, &cur, &hit)) {
		snprintf(what, sizeof(what), "interrupt vector %u", n);
		if (hit.rule->kind == VPCIE_FAULT_REMOVE) {
			remove_link(dev, &hit);
			return -ENOTCONN;
		}
		switch (hit.rule->mode) {
		case VPCIE_FAULT_IRQ_DROP:
			drop = true;
			strcat(what, " dropped");
			break;
		case VPCIE_FAULT_IRQ_DUP:
			dups++;
			strcat(what, " sent twice");
			break;
		default:
			delay += jittered(&hit);
			strcat(what, " delayed");
			break;
		}
		log_hit(dev, &hit, what);
	}
	if (drop)
		return 0; /* the device believes it was sent */
	if (delay && f->irq_n < DEV_FAULT_IRQ_QUEUE) {
		if (!f->irq_timer)
			f->irq_timer = vpcie_dev_timer_add(dev, UINT64_MAX / 2, 0, irq_delayed, NULL);
		if (f->irq_timer) {
			f->irq_q[f->irq_n].due_ns = ev.now_ns + delay * 1000u;
			f->irq_q[f->irq_n++].vector = n;
			irq_timer_rearm(dev);
			return 0;
		}
	}
	ret = dev_irq_raise(dev, n);
	while (ret == 0 && dups--)
		dev_irq_raise(dev, n);
	return ret;
}

/* ---- Timed rules and run-time changes ---------------------------------------- */

static void time_rules(struct vpcie_dev *dev, void *opaque);

static void time_rearm(struct vpcie_dev *dev)
{
	struct dev_fault *f = dev->fault;
	uint64_t due = vpcie_fault_set_next_due(f->set), now = vpcie_now_ns();

	if (due == UINT64_MAX)
		return;
	if (!f->time_timer)
		f->time_timer = vpcie_dev_timer_add(dev, due > now ? due - now : 0, 0, time_rules, NULL);
	else
		vpcie_dev_timer_arm(f->time_timer, due > now ? due - now : 0, 0);
}

static void time_rules(struct vpcie_dev *dev, void *opaque)
{
	struct vpcie_fault_event ev = {.on = VPCIE_FAULT_ON_TIME, .now_ns = vpcie_now_ns()};
	struct vpcie_fault_hit hit;
	unsigned cur = 0;

	(void)opaque;
	while (vpcie_fault_set_next(dev->fault->set, &ev, &cur, &hit)) {
		if (hit.rule->kind == VPCIE_FAULT_REMOVE) {
			remove_link(dev, &hit);
		} else {
			log_hit(dev, &hit, "spurious interrupt");
			dev_irq_raise(dev, (unsigned)hit.rule->vector);
		}
	}
	time_rearm(dev);
}

int vpcie_dev_fault_add(struct vpcie_dev *dev, const char *spec, char *err, size_t errlen)
{
	struct vpcie_fault_rule r;
	char canon[VPCIE_FAULT_SPEC_MAX + 1];
	int ret = vpcie_fault_parse(spec, &r, err, errlen);

	if (ret)
		return ret;
	ret = dev_fault_ensure(dev);
	if (ret == 0)
		ret = vpcie_fault_set_add(dev->fault->set, &r, vpcie_now_ns());
	if (ret < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s", ret == -ENOSPC ? "too many fault rules"
								    : strerror(-ret));
		return ret;
	}
	vpcie_fault_format(&r, canon, sizeof(canon));
	vpcie_info(&dev->log, "fault #%d added: %s", ret, canon);
	if (r.on == VPCIE_FAULT_ON_TIME)
		time_rearm(dev);
	return ret;
}

int vpcie_dev_fault_clear(struct vpcie_dev *dev, unsigned id)
{
	int ret;

	if (!dev->fault)
		return id ? -ENOENT : 0;
	ret = vpcie_fault_set_clear(dev->fault->set, id);
	if (ret >= 0)
		vpcie_info(&dev->log, "fault: %d rule(s) cleared", ret);
	return ret;
}

int dev_fault_init(struct vpcie_dev *dev)
{
	char err[128];

	for (unsigned i = 0; i < dev->opts.nfaults; i++) {
		int ret = vpcie_dev_fault_add(dev, dev->opts.faults ? dev->opts.faults[i] : NULL,
					      err, sizeof(err));

		if (ret < 0) {
			vpcie_err(&dev->log, "--fault '%s': %s",
				  dev->opts.faults && dev->opts.faults[i] ? dev->opts.faults[i] : "",
				  err);
			return ret;
		}
	}
	return dev->opts.fault_control ? dev_fault_ensure(dev) : 0;
}
