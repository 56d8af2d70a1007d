/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: runners (one operation per step, a path or a floor) and the
 * measuring loop that interleaves a path with its floors in blocks.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench_priv.h"

void progress(const struct bench *b, const char *fmt, ...)
{
	va_list ap;

	if (!b->o.progress)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "\r\033[K[%s] ", b->p ? b->p->load : "");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

bool selected(const struct bench *b, const char *name)
{
	char pats[256], *save = NULL;

	if (!b->o.only)
		return true;
	snprintf(pats, sizeof(pats), "%s", b->o.only);
	for (char *t = strtok_r(pats, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t l = strlen(t);

		if (!fnmatch(t, name, 0))
			return true;
		/* A plain prefix selects a group: "dma" or "dma.shm". */
		if (!strpbrk(t, "*?[") && !strncmp(name, t, l) && (name[l] == '.' || !name[l]))
			return true;
	}
	return false;
}

void runner_fini(struct runner *r)
{
	if (r->live && r->fini)
		r->fini(r);
	r->live = false;
	sm_free(&r->extra);
}

void runner_zero(struct runner *r, struct bench *b)
{
	memset(r, 0, sizeof(*r));
	r->b = b;
	r->fd = r->fd2 = r->fd3 = -1;
}

/* Generic peer teardown: close fds (the peer sees EOF), reap, free. */
void peer_fini(struct runner *r)
{
	if (r->fd >= 0)
		close(r->fd);
	if (r->fd2 >= 0)
		close(r->fd2);
	if (r->fd3 >= 0)
		close(r->fd3);
	r->fd = r->fd2 = r->fd3 = -1;
	if (r->pid > 0)
		kid_end(r->pid);
	r->pid = 0;
	free(r->buf);
	r->buf = NULL;
	if (r->page)
		munmap(r->page, 4096);
	r->page = NULL;
}

/* Parent side after forking a floor peer on socketpair sv: keep sv[0], arm the
 * runner with step, or clean up if the fork failed (call right after fork()). */
int peer_started(struct runner *r, int sv[2], int (*step)(struct runner *, double *))
{
	int e = r->pid < 0 ? -errno : 0; /* before close() can change errno */

	close(sv[1]);
	r->fd = sv[0];
	r->step = step;
	r->fini = peer_fini;
	r->live = true;
	if (e) {
		r->pid = 0;
		runner_fini(r);
	}
	return e;
}

static bool more_blocks(const struct bench *b, size_t done, size_t iters, size_t block,
			unsigned nrun, uint64_t t0)
{
	if (g_stop || done >= iters)
		return false;
	return done < 2 * block || vpcie_now_ns() - t0 < b->budget_ns * nrun;
}

/*
 * Run path and its floors in alternating blocks so that all of them see the
 * same machine (background load on these VMs shifts within seconds), then
 * record the result and its ratios. Finishes the runners.
 */
int measure(struct bench *b, const struct spec *sp, struct runner *path,
	    struct runner *f0, struct runner *f1)
{
	struct runner *run[3] = {f0, f1, path};
	struct samples s[3] = {{0}};
	size_t iters = sp->iters ? sp->iters : 1, block = iters / 16, done = 0;
	unsigned nrun = 1 + (f0 != NULL) + (f1 != NULL);
	uint64_t t0;
	double x;
	int rc = 0, ri;

	if (block < 1)
		block = 1;
	if (block > 2000)
		block = 2000;
	progress(b, "%s", sp->name);
	for (int j = 0; j < 3 && !rc; j++) {
		uint64_t until = vpcie_now_ns() + b->warm_ns;

		for (long w = 0; run[j] && (w < sp->warm || vpcie_now_ns() < until) && !rc && !g_stop;
		     w++)
			rc = run[j]->step(run[j], &x);
	}
	if (run[2]->extra.n)
		run[2]->extra.n = 0;
	t0 = vpcie_now_ns();
	while (!rc && more_blocks(b, done, iters, block, nrun, t0)) {
		size_t nb = iters - done < block ? iters - done : block;

		for (int j = 0; j < 3 && !rc; j++)
			for (size_t i = 0; run[j] && i < nb && !rc && !g_stop; i++) {
				rc = run[j]->step(run[j], &x);
				if (!rc)
					rc = sm_add(&s[j], x);
			}
		done += nb;
	}
	if (g_stop && !rc)
		rc = -EINTR;
	if (rc)
		goto out;
	ri = res_add(b->p, sp->name, sp->kind, sp->what);
	if (ri < 0) {
		rc = ri;
		goto out;
	}
	{
		struct res *r = &b->p->r[ri];

		r->s = s[2];
		memset(&s[2], 0, sizeof(s[2]));
		r->lat_samples = sp->lat_samples;
		r->size = sp->size;
		r->disc = sp->disc;
		res_stats(r);
		if (path->extra.n)
			r->host_p50 = sm_pct(&path->extra, 50);
	}
	for (int j = 0; j < 2 && !rc; j++)
		if (run[j]) {
			rc = attach_floor(b->p, ri, j == 1, &sp->f[j], &s[j]);
			rc = rc < 0 ? rc : 0;
		}
	/* Targets are judged on full runs only: --quick is a smoke test. */
	if (!rc && sp->tkind != T_NONE && !b->o.quick)
		set_target(&b->p->r[ri], sp->tkind, sp->target);
out:
	for (int j = 0; j < 3; j++) {
		if (run[j])
			runner_fini(run[j]);
		sm_free(&s[j]);
	}
	return rc;
}

/* A floor on its own (the spin floor: a spinning peer would load the CPUs
 * while the path runs, so it cannot be interleaved). */
int measure_floor(struct bench *b, const struct floor_spec *fs, struct runner *r,
		  size_t iters)
{
	struct samples s = {0};
	uint64_t t0;
	double x;
	int rc = 0, i;

	progress(b, "%s", fs->name);
	uint64_t until = vpcie_now_ns() + b->warm_ns;

	for (long w = 0; (w < b->warm || vpcie_now_ns() < until) && !rc && !g_stop; w++)
		rc = r->step(r, &x);
	t0 = vpcie_now_ns();
	for (size_t k = 0; !rc && !g_stop && k < iters && (k < 20 || vpcie_now_ns() - t0 < b->budget_ns);
	     k++) {
		rc = r->step(r, &x);
		if (!rc)
			rc = sm_add(&s, x);
	}
	runner_fini(r);
	if (g_stop && !rc)
		rc = -EINTR;
	if (rc) {
		sm_free(&s);
		return rc;
	}
	i = res_find(b->p, fs->name);
	if (i < 0)
		i = res_add(b->p, fs->name, fs->kind, fs->what);
	if (i < 0) {
		sm_free(&s);
		return i;
	}
	for (size_t k = 0; k < s.n; k++)
		sm_add(&b->p->r[i].s, s.v[k]);
	b->p->r[i].size = fs->size;
	b->p->r[i].disc = fs->disc;
	res_stats(&b->p->r[i]);
	sm_free(&s);
	return i;
}
