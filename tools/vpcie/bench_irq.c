/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: interrupt paths: the device raises INTx, MSI or MSI-X and
 * the host's vpcie_host_irq_wait() returns; latency from the device's stamp.
 */
#include <errno.h>
#include <stdio.h>

#include "bench_priv.h"

static int irq_step(struct runner *r, double *out)
{
	struct bench *b = r->b;
	uint64_t seq = b->st->irq_seq, t;
	uint32_t zero = 0;
	int rc = vpcie_host_region_write_posted(b->h, BENCH_CTRL_BAR, BENCH_REG_IRQ_RAISE, &zero,
						sizeof(zero));

	if (!rc)
		rc = vpcie_host_irq_wait(b->h, 0, 5000);
	t = vpcie_now_ns();
	if (rc)
		return rc;
	if (b->st->irq_seq != seq + 1) {
		fprintf(stderr, "vpcie bench: interrupt without a raise\n");
		return -EIO;
	}
	*out = (double)(t - b->st->irq_raise_ns);
	return 0;
}

static void irq_fini(struct runner *r)
{
	vpcie_host_irq_disable(r->b->h);
}

int path_irq(struct bench *b, enum vpcie_host_irq_type type)
{
	static const char *const names[] = {"irq.intx", "irq.msi", "irq.msix"};
	static const char *const whats[] = {
		"INTx: device raise -> vpcie_host_irq_wait() returns, incl. the UNMASK round trip",
		"MSI: device raise -> vpcie_host_irq_wait() returns",
		"MSI-X: device raise -> vpcie_host_irq_wait() returns",
	};
	bool intx = type == VPCIE_HOST_IRQ_INTX;
	struct runner path, fl;
	char name[64], what[200];
	int rc;

	snprintf(name, sizeof(name), "%s%s", b->prefix, names[type]);
	snprintf(what, sizeof(what), "%s%s", whats[type],
		 b->ring ? " (ring transport: an interrupt notice in the ring)" : "");
	if (!selected(b, name))
		return 0;
	rc = vpcie_host_irq_enable(b->h, type, 1);
	if (rc < 0)
		return rc;
	rc = efd_init(&fl, b, intx);
	if (rc) {
		vpcie_host_irq_disable(b->h);
		return rc;
	}
	runner_zero(&path, b);
	path.step = irq_step;
	path.fini = irq_fini;
	path.live = true;
	struct spec sp = {
		.name = name, .what = what, .kind = K_LAT,
		.iters = (size_t)b->irq_iters, .warm = b->warm, .tkind = T_RATIO_MAX, .target = 1.3,
		.f = {intx ? (struct floor_spec){"floor.eventfd.intx",
						 "eventfd wake-up, then a 36/16 B AF_UNIX round trip "
						 "(the UNMASK vfio INTx needs)", K_LAT, 0}
			   : (struct floor_spec){"floor.eventfd",
						 "eventfd between two processes: the peer stamps the "
						 "time, writes; our blocked read() returns", K_LAT, 0}},
	};
	return measure(b, &sp, &path, &fl, NULL);
}
