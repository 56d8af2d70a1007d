/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: output: the table, the JSON document, and the plots
 * (gnuplot script and data).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bench_priv.h"

/* ---- Output --------------------------------------------------------------------------- */

static const char *fmt_time(char *buf, size_t len, double ns)
{
	if (ns < 1000)
		snprintf(buf, len, "%.1f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	return buf;
}

static const char *fmt_value(char *buf, size_t len, const struct res *r, double v)
{
	switch (r->kind) {
	case K_LAT:
		return fmt_time(buf, len, v);
	case K_BW:
		if (v >= 1000)
			snprintf(buf, len, "%.2f GB/s", v / 1e3);
		else
			snprintf(buf, len, "%.0f MB/s", v);
		return buf;
	case K_RATE:
		if (v >= 1e6)
			snprintf(buf, len, "%.2f M/s", v / 1e6);
		else
			snprintf(buf, len, "%.1f k/s", v / 1e3);
		return buf;
	}
	return "";
}

static const char *fmt_ratio(char *buf, size_t len, const struct res *r)
{
	if (r->floor < 0 || r->ratio <= 0)
		snprintf(buf, len, "-");
	else if (r->kind == K_LAT)
		snprintf(buf, len, "%.2fx", r->ratio);
	else
		snprintf(buf, len, "%.0f%%", r->ratio * 100);
	return buf;
}

static const char *fmt_target(char *buf, size_t len, const struct res *r)
{
	switch (r->tkind) {
	case T_RATIO_MAX: snprintf(buf, len, "<=%.2fx %s", r->target, r->met ? "met" : "MISSED"); break;
	case T_RATIO_MIN:
		snprintf(buf, len, ">=%.0f%% %s", r->target * 100, r->met ? "met" : "MISSED");
		break;
	case T_ABS_MIN: snprintf(buf, len, ">=%.0fM/s %s", r->target / 1e6, r->met ? "met" : "MISSED"); break;
	default: snprintf(buf, len, "%s", "");
	}
	return buf;
}

static const char *disc(const struct res *r)
{
	return r->disc ? r->disc : DISC_NONE;
}

/* How the table names a second floor: what sets it apart. */
static const char *floor2_tag(const struct res *f)
{
	if (strstr(f->name, "evloop"))
		return "evloop";
	if (strstr(f->name, "woken"))
		return "woken";
	if (strstr(f->name, "oneway"))
		return "1/write";
	return disc(f);
}

void print_pass(const struct pass *p)
{
	char v1[32], v2[32], v3[32], v4[32], rt[16], tg[32], also[48];

	printf("\n== pass: %s == machine before: %.2f CPUs busy, %.2f stolen (%s); after: %.2f busy "
	       "(%s); %s; %.1f s\n",
	       p->load, p->bg_before, p->steal_before, bg_state(p->bg_before), p->bg_after,
	       bg_state(p->bg_after),
	       strcmp(p->load, "spinner") ? "no load added" : "one spinner process kept a CPU busy",
	       p->seconds);
	printf("%-26s %-5s %11s %11s %12s  %-34s %11s %7s  %-15s %s\n", "path", "wait", "p50", "p99",
	       "ops/s", "floor, same wait (run alongside)", "floor p50", "ratio", "target",
	       "2nd floor");
	for (size_t i = 0; i < p->n; i++) {
		const struct res *r = &p->r[i];
		const struct res *f = r->floor >= 0 ? &p->r[r->floor] : NULL;

		if (r->is_floor)
			continue;
		if (r->kind == K_LAT)
			snprintf(v3, sizeof(v3), "%.0f", r->ops);
		else if (r->kind == K_RATE)
			snprintf(v3, sizeof(v3), "%.0f", r->p50);
		else
			snprintf(v3, sizeof(v3), "-");
		also[0] = 0;
		if (r->floor2 >= 0 && r->ratio2 > 0) {
			const char *tag = floor2_tag(&p->r[r->floor2]);

			if (r->kind == K_LAT)
				snprintf(also, sizeof(also), "%s %.2fx", tag, r->ratio2);
			else
				snprintf(also, sizeof(also), "%s %.0f%%", tag, r->ratio2 * 100);
		}
		/* Many devices: per-op latency in the p50/p99 columns, ops/s after. */
		printf("%-26s %-5s %11s %11s %12s  %-34s %11s %7s  %-15s %s\n", r->name, disc(r),
		       r->lat_p50 > 0 ? fmt_time(v1, sizeof(v1), r->lat_p50)
				      : fmt_value(v1, sizeof(v1), r, r->p50),
		       r->lat_p50 > 0 ? fmt_time(v2, sizeof(v2), r->lat_p99)
				      : fmt_value(v2, sizeof(v2), r, r->p99),
		       v3, f ? f->name : "-",
		       f ? fmt_value(v4, sizeof(v4), r, r->fval) : "-",
		       fmt_ratio(rt, sizeof(rt), r), fmt_target(tg, sizeof(tg), r), also);
	}
	for (unsigned i = 0; i < p->nidle; i++) {
		const struct idle_cost *ic = &p->idle[i];

		if (!i)
			printf("\nidle cost (%s): CPU an attached device uses while its host is quiet "
			       "(%u windows of %.2f s, each from one last request)\n", p->load,
			       ic->windows, ic->window_s);
		printf("  %-24s %-7s p50 %6.3f%% of a core, max %6.3f%%   target <=%.0f%% %s\n",
		       ic->name, ic->transport, ic->pct_p50, ic->pct_max, ic->target_pct,
		       ic->met ? "met" : "MISSED");
	}
	printf("\nfloors (%s):\n", p->load);
	for (size_t i = 0; i < p->n; i++) {
		const struct res *r = &p->r[i];

		if (!r->is_floor)
			continue;
		printf("  %-32s %-5s p50 %-11s p99 %-11s %s\n", r->name, disc(r),
		       fmt_value(v1, sizeof(v1), r, r->p50), fmt_value(v2, sizeof(v2), r, r->p99),
		       r->what);
	}
}

static json_object *jnum(double v)
{
	/* Three decimals are plenty and keep the JSON readable. */
	double r = (double)(int64_t)(v * 1000 + (v < 0 ? -0.5 : 0.5)) / 1000;

	return json_object_new_double(r);
}

static const char *kind_name(enum kind k)
{
	return k == K_LAT ? "latency" : k == K_BW ? "bandwidth" : "rate";
}

static const char *kind_unit(enum kind k)
{
	return k == K_LAT ? "ns" : k == K_BW ? "MB/s" : "ops/s";
}

static json_object *res_json(const struct pass *p, const struct res *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(o, "what", json_object_new_string(r->what));
	json_object_object_add(o, "kind", json_object_new_string(kind_name(r->kind)));
	json_object_object_add(o, "unit", json_object_new_string(kind_unit(r->kind)));
	json_object_object_add(o, "discipline", json_object_new_string(disc(r)));
	json_object_object_add(o, "p50", jnum(r->p50));
	json_object_object_add(o, "p99", jnum(r->p99));
	json_object_object_add(o, "samples", json_object_new_int64((int64_t)r->n));
	if (r->kind == K_LAT || r->kind == K_RATE)
		json_object_object_add(o, "ops_per_s", jnum(r->ops));
	if (r->kind == K_RATE && r->lat_p50 > 0) {
		json_object_object_add(o, "latency_p50_ns", jnum(r->lat_p50));
		json_object_object_add(o, "latency_p99_ns", jnum(r->lat_p99));
	}
	if (r->size)
		json_object_object_add(o, "size", json_object_new_int64((int64_t)r->size));
	if (r->host_p50 > 0)
		json_object_object_add(o, "host_side_p50_ns", jnum(r->host_p50));
	if (!r->is_floor) {
		const struct res *f = r->floor >= 0 ? &p->r[r->floor] : NULL;

		json_object_object_add(o, "floor", f ? json_object_new_string(f->name) : NULL);
		json_object_object_add(o, "floor_discipline",
				       f ? json_object_new_string(disc(f)) : NULL);
		json_object_object_add(o, "floor_value", f ? jnum(r->fval) : NULL);
		json_object_object_add(o, "ratio", f ? jnum(r->ratio) : NULL);
		json_object_object_add(o, "ratio_kind", json_object_new_string(
								r->kind == K_LAT ? "time" : "throughput"));
		if (r->floor2 >= 0) {
			json_object_object_add(o, "floor2",
					       json_object_new_string(p->r[r->floor2].name));
			json_object_object_add(o, "floor2_discipline",
					       json_object_new_string(disc(&p->r[r->floor2])));
			json_object_object_add(o, "floor2_value", jnum(r->fval2));
			json_object_object_add(o, "ratio2", jnum(r->ratio2));
		}
		if (r->tkind != T_NONE) {
			json_object *t = json_object_new_object();

			json_object_object_add(t, "kind", json_object_new_string(
					r->tkind == T_RATIO_MAX ? "ratio_max"
					: r->tkind == T_RATIO_MIN ? "ratio_min" : "min"));
			json_object_object_add(t, "value", jnum(r->target));
			json_object_object_add(t, "met", json_object_new_boolean(r->met));
			json_object_object_add(o, "target", t);
		} else {
			json_object_object_add(o, "target", NULL);
		}
	}
	return o;
}

void print_json(const struct bench *b, struct pass *ps, size_t np)
{
	json_object *root = json_object_new_object(), *m = json_object_new_object();
	json_object *passes = json_object_new_array();
	struct utsname u;
	char model[128] = "", line[256], cs[64] = "";
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10)) {
			char *c = strchr(line, ':');

			if (c) {
				snprintf(model, sizeof(model), "%s", c + 2);
				model[strcspn(model, "\n")] = 0;
			}
			break;
		}
	}
	if (f)
		fclose(f);
	f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
	if (f) {
		if (fgets(cs, sizeof(cs), f))
			cs[strcspn(cs, "\n")] = 0;
		fclose(f);
	}
	uname(&u);
	json_object_object_add(root, "tool", json_object_new_string("vpcie bench"));
	json_object_object_add(root, "schema", json_object_new_int(2));
	json_object_object_add(root, "quick", json_object_new_boolean(b->o.quick));
	json_object_object_add(root, "device", json_object_new_string(b->devbin));
	{
		json_object *pl = json_object_new_object();

		json_object_object_add(pl, "pinned", json_object_new_boolean(g_pinned));
		json_object_object_add(pl, "host_cpu", json_object_new_int(g_host_cpu));
		json_object_object_add(pl, "peer_cpu", json_object_new_int(g_peer_cpu));
		json_object_object_add(root, "placement", pl);
	}
	json_object_object_add(m, "cpus", json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
	json_object_object_add(m, "model", json_object_new_string(model));
	json_object_object_add(m, "kernel", json_object_new_string(u.release));
	json_object_object_add(m, "clocksource", json_object_new_string(cs));
	json_object_object_add(root, "machine", m);
	for (size_t i = 0; i < np; i++) {
		struct pass *p = &ps[i];
		json_object *po = json_object_new_object(), *fl = json_object_new_array();
		json_object *rs = json_object_new_array(), *bg = json_object_new_object();

		json_object_object_add(po, "load", json_object_new_string(p->load));
		json_object_object_add(bg, "busy_cpus_before", jnum(p->bg_before));
		json_object_object_add(bg, "steal_cpus_before", jnum(p->steal_before));
		json_object_object_add(bg, "state_before", json_object_new_string(bg_state(p->bg_before)));
		json_object_object_add(bg, "busy_cpus_after", jnum(p->bg_after));
		json_object_object_add(bg, "steal_cpus_after", jnum(p->steal_after));
		json_object_object_add(bg, "state_after", json_object_new_string(bg_state(p->bg_after)));
		json_object_object_add(po, "background", bg);
		json_object_object_add(po, "seconds", jnum(p->seconds));
		for (size_t k = 0; k < p->n; k++)
			json_object_array_add(p->r[k].is_floor ? fl : rs, res_json(p, &p->r[k]));
		json_object_object_add(po, "floors", fl);
		json_object_object_add(po, "results", rs);
		if (p->nidle) {
			json_object *ia = json_object_new_array();

			for (unsigned k = 0; k < p->nidle; k++) {
				const struct idle_cost *ic = &p->idle[k];
				json_object *io = json_object_new_object();

				json_object_object_add(io, "name", json_object_new_string(ic->name));
				json_object_object_add(io, "transport",
						       json_object_new_string(ic->transport));
				json_object_object_add(io, "percent_of_core_p50", jnum(ic->pct_p50));
				json_object_object_add(io, "percent_of_core_max", jnum(ic->pct_max));
				json_object_object_add(io, "windows", json_object_new_int((int)ic->windows));
				json_object_object_add(io, "window_s", jnum(ic->window_s));
				json_object_object_add(io, "target_max_percent", jnum(ic->target_pct));
				json_object_object_add(io, "met", json_object_new_boolean(ic->met));
				json_object_array_add(ia, io);
			}
			json_object_object_add(po, "idle_cpu", ia);
		}
		json_object_array_add(passes, po);
	}
	json_object_object_add(root, "passes", passes);
	printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

/* ---- Plots ---------------------------------------------------------------------------- */

static bool plot_lat_series(const char *name)
{
	static const char *const keep[] = {
		"mmio.read.4", "mmio.write.4", "cfg.read.4", "irq.intx", "irq.msi", "irq.msix",
		"mmio.read.4.nopoll", "irq.msi.nopoll", "floor.sock.rr.32.36", "floor.sock.rr_poll.32.36",
		"floor.spin.rr.32.36",
		"floor.eventfd", "floor.eventfd_poll", "floor.eventfd.intx", "floor.eventfd_poll.intx",
	};

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (!strcmp(name, keep[i]))
			return true;
	return false;
}

static const char *const bw_series[] = {
	"dma.shm.to_host", "dma.shm.to_device", "dma.msg.to_host", "dma.msg.to_device",
	"floor.memcpy.to_host", "floor.memcpy.to_device", "floor.memcpy_woken.to_host",
	"floor.memcpy_woken.to_device", "floor.sock.xfer.to_host", "floor.sock.xfer.to_device",
	"floor.sock.xfer_mixed.to_host", "floor.sock.xfer_mixed.to_device",
};

int write_plots(const struct bench *b, struct pass *ps, size_t np)
{
	const char *dir = b->o.plot_dir;
	char path[PATH_MAX];
	FILE *gp;
	int st = 0;
	pid_t pid;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "vpcie bench: cannot create %s: %s\n", dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/bench.gp", dir);
	gp = fopen(path, "w");
	if (!gp) {
		fprintf(stderr, "vpcie bench: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(gp, "# vpcie bench plots; run from this directory: gnuplot bench.gp\n"
		    "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
		    "  set terminal pngcairo size 1280,800 noenhanced\n"
		    "} else {\n"
		    "  set terminal png size 1280,800 noenhanced\n"
		    "}\n"
		    "set grid\nset key outside right top\n");
	for (size_t i = 0; i < np; i++) {
		struct pass *p = &ps[i];
		char lat[PATH_MAX], bw[PATH_MAX];
		FILE *lf, *bf;
		unsigned nl = 0, nb = 0;
		bool first = true;

		snprintf(lat, sizeof(lat), "%s/latency-%s.dat", dir, p->load);
		snprintf(bw, sizeof(bw), "%s/bandwidth-%s.dat", dir, p->load);
		lf = fopen(lat, "w");
		bf = fopen(bw, "w");
		if (!lf || !bf) {
			if (lf)
				fclose(lf);
			if (bf)
				fclose(bf);
			fclose(gp);
			fprintf(stderr, "vpcie bench: cannot write data files in %s\n", dir);
			return -1;
		}
		fprintf(gp, "\nset output 'latency-%s.png'\n"
			    "set title 'vpcie latency distributions (%s, background %.2f CPUs busy)'\n"
			    "set xtics autofreq\nset logscale x\nunset logscale y\n"
			    "set xlabel 'latency (us)'\n"
			    "set ylabel 'percentile'\nset yrange [0:100]\nset format x '%%g'\nplot ",
			p->load, p->load, p->bg_before);
		for (size_t k = 0; k < p->n; k++) {
			struct res *r = &p->r[k];

			if (r->kind != K_LAT || r->s.n < 2 || !plot_lat_series(r->name))
				continue;
			fprintf(lf, "# %s\n", r->name);
			for (unsigned j = 0; j <= 400; j++)
				fprintf(lf, "%.4f %.2f\n", sm_pct(&p->r[k].s, j / 4.0) / 1e3, j / 4.0);
			fprintf(lf, "\n\n");
			fprintf(gp, "%s'latency-%s.dat' index %u with lines lw 2 title '%s'",
				first ? "" : ", \\\n     ", p->load, nl++, r->name);
			first = false;
		}
		if (first)
			fprintf(gp, "NaN notitle");
		fprintf(gp, "\n");
		first = true;
		fprintf(gp, "\nset output 'bandwidth-%s.png'\n"
			    "set title 'vpcie DMA bandwidth (%s, p50; background %.2f CPUs busy)'\n"
			    "set logscale x 2\nset logscale y\nset xlabel 'transfer size (bytes)'\n"
			    "set ylabel 'MB/s'\nset yrange [*:*]\nset format x '%%g'\n"
			    "set xtics ('4K' 4096, '16K' 16384, '64K' 65536, '256K' 262144, "
			    "'1M' 1048576, '4M' 4194304)\nplot ",
			p->load, p->load, p->bg_before);
		for (size_t sidx = 0; sidx < sizeof(bw_series) / sizeof(bw_series[0]); sidx++) {
			size_t l = strlen(bw_series[sidx]);
			bool any = false;

			for (size_t k = 0; k < p->n; k++) {
				const struct res *r = &p->r[k];

				if (r->kind != K_BW || strncmp(r->name, bw_series[sidx], l) ||
				    r->name[l] != '.')
					continue;
				if (!any)
					fprintf(bf, "# %s\n", bw_series[sidx]);
				any = true;
				fprintf(bf, "%llu %.1f\n", (unsigned long long)r->size, r->p50);
			}
			if (!any)
				continue;
			fprintf(bf, "\n\n");
			fprintf(gp, "%s'bandwidth-%s.dat' index %u with linespoints lw 2 %stitle '%s'",
				first ? "" : ", \\\n     ", p->load, nb++,
				strncmp(bw_series[sidx], "floor.", 6) ? "" : "dt 2 ", bw_series[sidx]);
			first = false;
		}
		if (first)
			fprintf(gp, "NaN notitle");
		fprintf(gp, "\n");
		fclose(lf);
		fclose(bf);
	}
	fclose(gp);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (chdir(dir) < 0)
			_exit(126);
		execlp("gnuplot", "gnuplot", "bench.gp", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		if (pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 127)
			fprintf(stderr, "vpcie bench: gnuplot not found (Debian: gnuplot-nox); "
					"data and script are in %s\n", dir);
		else
			fprintf(stderr, "vpcie bench: gnuplot failed; data and script are in %s\n", dir);
		return -1;
	}
	if (!b->o.json)
		printf("\nplots: %s/latency-*.png, %s/bandwidth-*.png\n", dir, dir);
	return 0;
}
