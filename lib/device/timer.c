/* SPDX-License-Identifier: MIT */
/*
 * Device runtime: timers. One timerfd in the event loop, armed for the
 * earliest due timer (absolute CLOCK_MONOTONIC time); callbacks run from
 * the loop and may add, re-arm or cancel timers, their own included.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "dev_priv.h"
#include "../util/util.h"

static void rearm_timerfd(struct vpcie_dev *dev)
{
	struct itimerspec its = {0};
	uint64_t first = UINT64_MAX;

	for (struct vpcie_timer *t = dev->timers; t; t = t->next)
		if (t->due_ns && t->due_ns < first)
			first = t->due_ns;
	if (first != UINT64_MAX) {
		/* Absolute time; 0 would disarm, so never pass it. */
		its.it_value.tv_sec = (time_t)(first / 1000000000u);
		its.it_value.tv_nsec = (long)(first % 1000000000u);
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(dev->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

struct vpcie_timer *vpcie_dev_timer_add(struct vpcie_dev *dev, uint64_t delay_ns,
					uint64_t period_ns, vpcie_timer_fn fn, void *opaque)
{
	struct vpcie_timer *t = calloc(1, sizeof(*t));

	if (!t || !fn) {
		free(t);
		errno = EINVAL;
		return NULL;
	}
	t->dev = dev;
	t->fn = fn;
	t->opaque = opaque;
	t->next = dev->timers;
	dev->timers = t;
	vpcie_dev_timer_arm(t, delay_ns, period_ns);
	return t;
}

void vpcie_dev_timer_arm(struct vpcie_timer *t, uint64_t delay_ns, uint64_t period_ns)
{
	t->due_ns = vpcie_now_ns() + delay_ns;
	t->period_ns = period_ns;
	rearm_timerfd(t->dev);
}

void vpcie_dev_timer_cancel(struct vpcie_timer *t)
{
	struct vpcie_dev *dev;

	if (!t)
		return;
	dev = t->dev;
	for (struct vpcie_timer **pp = &dev->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	free(t);
	rearm_timerfd(dev);
}

void dev_run_timers(struct vpcie_dev *dev)
{
	uint64_t now = vpcie_now_ns(), exp;
	bool again = true;

	if (read(dev->timer_fd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
		vpcie_dbg(&dev->log, "timerfd read: %s", strerror(errno));
	/* A callback may add or cancel timers: rescan after each call. */
	while (again) {
		again = false;
		for (struct vpcie_timer *t = dev->timers; t; t = t->next) {
			if (!t->due_ns || t->due_ns > now)
				continue;
			t->due_ns = t->period_ns ? now + t->period_ns : 0;
			t->fn(dev, t->opaque);
			again = true;
			break;
		}
	}
	rearm_timerfd(dev);
}
