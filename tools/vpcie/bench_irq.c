/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: interrupt paths: the device raises INTx, MSI or MSI-X and
 * the host's vpcie_host_irq_wait() returns; latency from the device's stamp.
 */
#include <errno.h>
#include <stdio.h>

#include "bench_priv.h"

/* Over TCP the device's stamp is read afterwards by a message (stats_sync),
 * after the wake-up time was taken. */
int irq_step(struct runner *r, double *out)
{
	struct bench *b = r->b;
	uint64_t seq, t;
	uint32_t zero = 0;
	int rc = stats_sync(b);

	if (rc)
		return rc;
	seq = b->st->irq_seq;
	rc = vpcie_host_region_write_posted(b->h, BENCH_CTRL_BAR, BENCH_REG_IRQ_RAISE, &zero,
					    sizeof(zero));
	if (!rc)
		rc = vpcie_host_irq_wait(b->h, 0, 5000);
	t = vpcie_now_ns();
	if (!rc)
		rc = stats_sync(b);
	if (rc)
		return rc;
	if (b->st->irq_seq != seq + 1) {
		fprintf(stderr, "vpcie bench: interrupt without a raise\n");
		return -EIO;
	}
	*out = (double)(t - b->st->irq_raise_ns);
	return 0;
}

void irq_fini(struct runner *r)
{
	vpcie_host_irq_disable(r->b->h);
}

/*
 * Against an eventfd wake-up between two processes waiting the same way
 * (both polling first, or both blocking), and for contrast blocking; through
 * the ring, against a notification through shared memory, and for contrast
 * the polling eventfd.
 */
int path_irq(struct bench *b, enum vpcie_host_irq_type type)
{
	static const char *const names[] = {"irq.intx", "irq.msi", "irq.msix"};
	static const char *const whats[] = {
		"INTx: device raise -> vpcie_host_irq_wait() returns, incl. the UNMASK round trip",
		"MSI: device raise -> vpcie_host_irq_wait() returns",
		"MSI-X: device raise -> vpcie_host_irq_wait() returns",
	};
	bool intx = type == VPCIE_HOST_IRQ_INTX;
	struct runner path, fl, f2;
	char name[64], what[200];
	int rc;

	snprintf(name, sizeof(name), "%s%s%s", b->prefix, names[type], b->suffix);
	snprintf(what, sizeof(what), "%s%s", whats[type],
		 b->ring ? " (ring transport: an interrupt notice in the ring)"
		 : b->mode == DEV_NOPOLL ? "; polling off on both sides" : "");
	if (!selected(b, name))
		return 0;
	struct spec sp = {
		.name = name, .what = what, .kind = K_LAT,
		.iters = (size_t)b->irq_iters, .warm = b->warm, .tkind = T_RATIO_MAX, .target = 1.3,
		.disc = b->disc,
	};
	if (b->ring && !intx)
		rc = spin_floor(&fl, &sp.f[0], b, 0, 0, SPIN_POLITE | SPIN_NOTIFY);
	else
		rc = efd_floor(&fl, &sp.f[0], b, intx, b->polling ? W_POLL : W_BLOCK);
	if (rc)
		return rc;
	if (b->ring || b->polling) {
		rc = efd_floor(&f2, &sp.f[1], b, intx, b->ring ? W_POLL : W_BLOCK);
		if (rc) {
			runner_fini(&fl);
			return rc;
		}
	}
	rc = vpcie_host_irq_enable(b->h, type, 1);
	if (rc < 0) {
		runner_fini(&fl);
		if (b->ring || b->polling)
			runner_fini(&f2);
		return rc;
	}
	runner_zero(&path, b);
	path.step = irq_step;
	path.fini = irq_fini;
	path.live = true;
	return measure(b, &sp, &path, &fl, b->ring || b->polling ? &f2 : NULL);
}
