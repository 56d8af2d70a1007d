/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: samples, their percentiles, and the results of a pass with
 * the ratios to the floors measured alongside them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_priv.h"

int sm_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		double *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	s->sorted = false;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile. */
double sm_pct(struct samples *s, double p)
{
	size_t i;

	if (!s->n)
		return 0;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof(*s->v), cmp_double);
		s->sorted = true;
	}
	i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
	return s->v[i < s->n ? i : s->n - 1];
}

void sm_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int res_find(const struct pass *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->r[i].name, name))
			return (int)i;
	return -1;
}

int res_add(struct pass *p, const char *name, enum kind k, const char *what)
{
	struct res *r;

	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct res *nr = realloc(p->r, cap * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		p->r = nr;
		p->cap = cap;
	}
	r = &p->r[p->n];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->what, sizeof(r->what), "%s", what);
	r->kind = k;
	r->floor = r->floor2 = -1;
	r->is_floor = !strncmp(name, "floor.", 6);
	return (int)p->n++;
}

void res_stats(struct res *r)
{
	struct samples *s = &r->s;
	double sum = 0;

	for (size_t i = 0; i < s->n; i++)
		sum += s->v[i];
	r->n = s->n;
	switch (r->kind) {
	case K_LAT:
		r->p50 = sm_pct(s, 50);
		r->p99 = sm_pct(s, 99);
		r->ops = sum > 0 ? (double)s->n * 1e9 / sum : 0;
		break;
	case K_BW: {
		double t50 = sm_pct(s, 50), t99 = sm_pct(s, 99);

		/* bytes per ns * 1000 = MB/s (10^6 bytes) */
		r->p50 = t50 > 0 ? (double)r->size * 1e3 / t50 : 0;
		r->p99 = t99 > 0 ? (double)r->size * 1e3 / t99 : 0;
		break;
	}
	case K_RATE:
		if (r->lat_samples) {
			r->lat_p50 = sm_pct(s, 50);
			r->lat_p99 = sm_pct(s, 99);
			r->p50 = r->p99 = r->ops = sum > 0 ? (double)s->n * 1e9 / sum : 0;
		} else {
			r->p50 = r->ops = sm_pct(s, 50);
			r->p99 = sm_pct(s, 0); /* the slowest run */
		}
		break;
	}
}

/* What a ratio compares: p50 time, p50 bandwidth, or ops/s. */
static double headline(const struct res *r, bool as_rate)
{
	return as_rate ? r->ops : r->p50;
}

void set_target(struct res *r, enum tgt k, double v)
{
	r->tkind = k;
	r->target = v;
	switch (k) {
	case T_RATIO_MAX: r->met = r->ratio > 0 && r->ratio <= v; break;
	case T_RATIO_MIN: r->met = r->ratio >= v; break;
	case T_ABS_MIN: r->met = r->p50 >= v; break;
	default: r->met = false;
	}
}

/*
 * Account floor samples taken alongside result ri: the result's ratio uses
 * these samples only (same machine state); the floor's own entry in the
 * pass accumulates every run of it.
 */
int attach_floor(struct pass *p, int ri, bool second, const struct floor_spec *f,
		 struct samples *fs)
{
	struct res tmp;
	int fi = res_find(p, f->name);
	double fv;
	bool as_rate;

	if (fi < 0) {
		fi = res_add(p, f->name, f->kind, f->what);
		if (fi < 0)
			return fi;
		p->r[fi].size = f->size;
		p->r[fi].disc = f->disc;
	}
	for (size_t i = 0; i < fs->n; i++)
		if (sm_add(&p->r[fi].s, fs->v[i]) < 0)
			return -ENOMEM;
	res_stats(&p->r[fi]);

	memset(&tmp, 0, sizeof(tmp));
	tmp.kind = f->kind;
	tmp.size = f->size;
	tmp.s = *fs; /* borrowed */
	res_stats(&tmp);
	fs->sorted = tmp.s.sorted;
	as_rate = p->r[ri].kind == K_RATE;
	fv = headline(&tmp, as_rate);
	if (second) {
		p->r[ri].floor2 = fi;
		p->r[ri].fval2 = fv;
		p->r[ri].ratio2 = fv > 0 ? headline(&p->r[ri], as_rate) / fv : 0;
	} else {
		p->r[ri].floor = fi;
		p->r[ri].fval = fv;
		p->r[ri].ratio = fv > 0 ? headline(&p->r[ri], as_rate) / fv : 0;
	}
	return fi;
}
