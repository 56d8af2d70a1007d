/* SPDX-License-Identifier: MIT */
/*
 * The RTL bridge on a vpcie_dev: BAR callbacks into vpcie_rtl_read/write, a
 * device timer that runs the clock in bursts while the design has work, and
 * the runtime's DMA and interrupt calls as the bridge's env.
 */
#include <errno.h>
#include <stdlib.h>

#include "rtl_priv.h"
#include "../util/util.h"

/* Wall time one timer burst aims at: the socket is served between bursts. */
#define BURST_TARGET_NS 1000000u
#define BURST_MIN 64u
#define BURST_MAX (1u << 22)

static int dev_dma_read(void *o, uint64_t addr, void *buf, size_t len)
{
	return vpcie_dev_dma_read(((struct vpcie_rtl *)o)->dev, addr, buf, len);
}

static int dev_dma_write(void *o, uint64_t addr, const void *buf, size_t len)
{
	return vpcie_dev_dma_write(((struct vpcie_rtl *)o)->dev, addr, buf, len);
}

static int dev_irq(void *o, unsigned vec)
{
	return vpcie_dev_irq_raise(((struct vpcie_rtl *)o)->dev, vec);
}

static int dev_intx(void *o, bool asserted)
{
	return vpcie_dev_irq_intx(((struct vpcie_rtl *)o)->dev, asserted);
}

static void dev_irq_config(void *o, uint8_t *mode, uint16_t *vectors)
{
	struct vpcie_dev *dev = ((struct vpcie_rtl *)o)->dev;
	enum vpcie_irq_mode m = vpcie_dev_irq_mode(dev);

	*mode = (uint8_t)m;
	*vectors = m == VPCIE_IRQ_NONE ? 0 : (uint16_t)vpcie_dev_irq_vectors(dev);
}

static void dev_kick(void *o)
{
	struct vpcie_rtl *r = o;

	vpcie_dev_timer_arm(r->timer, 0, 0);
}

static void tick(struct vpcie_dev *dev, void *opaque)
{
	struct vpcie_rtl *r = opaque;
	uint64_t t0 = vpcie_now_ns(), dt;
	bool more;

	(void)dev;
	more = vpcie_rtl_run(r, r->burst);
	dt = vpcie_now_ns() - t0;
	if (dt < BURST_TARGET_NS / 2 && r->burst < BURST_MAX)
		r->burst *= 2;
	else if (dt > BURST_TARGET_NS * 2 && r->burst > BURST_MIN)
		r->burst /= 2;
	if (more)
		vpcie_dev_timer_arm(r->timer, 0, 0);
}

static const struct vpcie_rtl_env dev_env = {
	.dma_read = dev_dma_read,
	.dma_write = dev_dma_write,
	.irq = dev_irq,
	.intx = dev_intx,
	.kick = dev_kick,
	.irq_config = dev_irq_config,
};

struct vpcie_rtl *vpcie_rtl_new(struct vpcie_dev *dev, const struct vpcie_rtl_model *model,
				void *model_opaque, const struct vpcie_rtl_opts *opts)
{
	struct vpcie_rtl *r;
	const struct vpcie_rtl_env *env = opts ? opts->env : NULL;

	if (!dev && (!env || !env->dma_read || !env->dma_write || !env->irq)) {
		errno = EINVAL;
		return NULL;
	}
	r = rtl_alloc(model, model_opaque, opts);
	if (!r)
		return NULL;
	r->dev = dev;
	if (env) {
		r->env = *env;
		r->env_opaque = opts->env_opaque;
	} else {
		r->env = dev_env;
		r->env_opaque = r;
	}
	if (dev) {
		/* First run: reset the design. */
		r->timer = vpcie_dev_timer_add(dev, 0, 0, tick, r);
		if (!r->timer) {
			rtl_release(r);
			errno = ENOMEM;
			return NULL;
		}
	}
	return r;
}

void vpcie_rtl_free(struct vpcie_rtl *r)
{
	if (!r)
		return;
	if (r->timer)
		vpcie_dev_timer_cancel(r->timer);
	rtl_release(r);
}

static int bar_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct rtl_bar *b = opaque;

	(void)dev;
	return vpcie_rtl_read(b->rtl, b->n, off, buf, len);
}

static int bar_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf,
		     size_t len)
{
	struct rtl_bar *b = opaque;

	(void)dev;
	return vpcie_rtl_write(b->rtl, b->n, off, buf, len);
}

static const struct vpcie_bar_ops rtl_bar_ops = {
	.read = bar_read,
	.write = bar_write,
};

int vpcie_rtl_set_bar(struct vpcie_rtl *r, unsigned n, const struct vpcie_bar_desc *desc)
{
	struct vpcie_bar_desc d;

	if (!r->dev || n > 5 || !desc || desc->memory)
		return -EINVAL;
	d = *desc;
	r->bars[n].rtl = r;
	r->bars[n].n = n;
	d.ops = &rtl_bar_ops;
	d.opaque = &r->bars[n];
	return vpcie_dev_set_bar(r->dev, n, &d);
}
