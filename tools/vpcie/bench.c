/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: latency and bandwidth of every host<->device path, each
 * against a floor measured on this machine in the same run.
 *
 * The device is vpcie-bench-device (bench/), one process per device, driven
 * through the public host API from this process. Floors are pairs of
 * processes forked from this one that do the same exchange with nothing but
 * the kernel: AF_UNIX request/reply of the same message sizes, the same over
 * a spinning shared cache line, memcpy into/out of a memfd mapping, an
 * eventfd wake-up, connect + one round trip. Every figure is printed with
 * its ratio to its floor, so claims hold as ratios on noisy machines.
 *
 * A wake-up of a blocked process costs much more when the other CPU is idle
 * (virtual machines halt idle vCPUs), so each pass records how busy the
 * machine was before and after it (/proc/stat), and --load runs a spinner
 * that keeps one CPU busy; --load=both measures idle and loaded in one run.
 *
 * Methodology, floors and how to read the output: docs/bench.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include <json-c/json.h>

#include <vpcie/host.h>
#include <vpcie/ring.h>

#include "cmds.h"
#include "../../bench/bench_regs.h"

#define MAX_KIDS 1024
#define MEM_BASE 0x80000000ull
#define IO_BASE 0x1000u
#define SHM_IOVA 0x100000000ull     /* host memory shared with the device (fd) */
#define MSG_IOVA 0x200000000ull     /* host memory reached by DMA messages */
#define XFER_CHUNK (1u << 20)       /* max_data_xfer_size both sides default to */
#define NULL_OFF 0x100u             /* where BAR0 accesses go */
#define MAP_OFF 0x1000u             /* where mmap'ed BAR2 accesses go */
#define SPIN_MSG_MAX 128u

/* Message sizes of the real paths (header 16 bytes). */
#define REQ_REGION 32u              /* hdr + offset/region/count */
#define REQ_DMA 32u                 /* hdr + addr/count */
#define REP_DMA_WRITE 28u           /* hdr + addr/count(4) */
#define REQ_SET_IRQS 36u            /* hdr + vfio_irq_set */
#define REP_EMPTY 16u
#define WM_BATCH 256u               /* writes per REGION_WRITE_MULTI */
#define REQ_WM (16u + 8u + WM_BATCH * 24u)
#define REP_WM 24u

enum load_mode { LOAD_IDLE = 1, LOAD_SPIN = 2, LOAD_BOTH = 3 };

struct opts {
	bool quick, json, progress, no_pin;
	int load;
	const char *plot_dir;
	const char *only;
	long iterations;
	const char *device;
};

/* ---- Child processes (devices, floor peers, the spinner) ------------------ */

static volatile pid_t g_kids[MAX_KIDS];
static volatile sig_atomic_t g_stop;

/*
 * CPU placement. The scheduler places a ping-pong pair on one CPU or on two
 * depending on history (a freshly forked peer lands next to its parent, a
 * long-lived device wherever load balancing left it), and the two cost very
 * different amounts, so a floor and a path would not be compared like for
 * like. By default this process runs on one CPU and every peer (devices,
 * floor peers) on another; --no-pin leaves placement to the scheduler.
 */
static cpu_set_t g_all_cpus, g_peer_cpus;
static bool g_pinned;
static int g_host_cpu = -1, g_peer_cpu = -1;

static void pin_setup(bool want)
{
	cpu_set_t host;
	int first = -1, second = -1;

	CPU_ZERO(&g_all_cpus);
	if (sched_getaffinity(0, sizeof(g_all_cpus), &g_all_cpus) < 0)
		return;
	for (int c = 0; c < CPU_SETSIZE && second < 0; c++) {
		if (!CPU_ISSET(c, &g_all_cpus))
			continue;
		if (first < 0)
			first = c;
		else
			second = c;
	}
	if (!want || second < 0)
		return;
	CPU_ZERO(&host);
	CPU_SET(first, &host);
	CPU_ZERO(&g_peer_cpus);
	CPU_SET(second, &g_peer_cpus);
	if (sched_setaffinity(0, sizeof(host), &host) < 0)
		return;
	g_pinned = true;
	g_host_cpu = first;
	g_peer_cpu = second;
}

/* In a new peer process. */
static void pin_peer(void)
{
	if (g_pinned)
		sched_setaffinity(0, sizeof(g_peer_cpus), &g_peer_cpus);
}

static void on_signal(int sig)
{
	if (g_stop) {
		/* Second signal: no more patience. */
		for (int i = 0; i < MAX_KIDS; i++)
			if (g_kids[i] > 0)
				kill(g_kids[i], SIGKILL);
		_exit(128 + sig);
	}
	g_stop = sig;
}

static int kid_add(pid_t pid)
{
	for (int i = 0; i < MAX_KIDS; i++) {
		if (g_kids[i] == 0) {
			g_kids[i] = pid;
			return 0;
		}
	}
	return -1;
}

static void kid_forget(pid_t pid)
{
	for (int i = 0; i < MAX_KIDS; i++)
		if (g_kids[i] == pid)
			g_kids[i] = 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !g_stop)
		;
}

/* Wait for pid (already signalled or ending on its own); SIGKILL after 2 s. */
static void kid_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	for (int i = 0; i < 2000; i++) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD)) {
			kid_forget(pid);
			return;
		}
		sleep_ms(1);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	kid_forget(pid);
}

static void kid_end(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	kid_reap(pid);
}

static void kids_end_all(void)
{
	for (int i = 0; i < MAX_KIDS; i++)
		if (g_kids[i] > 0)
			kill(g_kids[i], SIGTERM);
	for (int i = 0; i < MAX_KIDS; i++)
		if (g_kids[i] > 0)
			kid_reap(g_kids[i]);
}

/* fork() for a floor peer or the spinner: dies with us, default signals. */
static pid_t fork_kid(void)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		pin_peer();
		return 0;
	}
	if (pid > 0 && kid_add(pid) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		errno = EAGAIN;
		return -1;
	}
	return pid;
}

/* ---- Small helpers ---------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR && !g_stop)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR && !g_stop)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One request/reply exchange as the floor peers do it. */
static int exchange(int fd, void *buf, size_t req, size_t resp)
{
	int rc = write_full(fd, buf, req);

	return rc ? rc : read_full(fd, buf, resp);
}

/* ---- Samples ---------------------------------------------------------------- */

struct samples {
	double *v;
	size_t n, cap;
	bool sorted;
};

static int sm_add(struct samples *s, double x)
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
static double sm_pct(struct samples *s, double p)
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

static void sm_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ---- Results ---------------------------------------------------------------- */

enum kind { K_LAT, K_BW, K_RATE };
enum tgt { T_NONE, T_RATIO_MAX, T_RATIO_MIN, T_ABS_MIN };

/*
 * One figure. Samples are ns per operation (K_LAT, K_BW, and K_RATE with
 * lat_samples) or operations per second of one run (other K_RATE).
 */
struct res {
	char name[64];
	char what[160];
	enum kind kind;
	bool lat_samples;
	struct samples s;
	uint64_t size;     /* K_BW: bytes per transfer */
	size_t n;
	double p50, p99;   /* K_LAT: ns. K_BW: MB/s at the p50 / p99 time. K_RATE: ops/s
			    * (runs: median and slowest; lat_samples: aggregate) */
	double ops;        /* ops/s: n / sum of sample times (K_LAT, lat_samples) */
	double lat_p50, lat_p99; /* K_RATE with lat_samples: per-op ns */
	/* Floors measured interleaved with this result (same machine state). */
	int floor, floor2; /* indices into the pass, -1 */
	double fval, fval2; /* the floor's headline over the paired samples */
	double ratio, ratio2;
	enum tgt tkind;
	double target;
	bool met;
	double host_p50;   /* DMA: host-side p50 ns around the triggering write */
	bool is_floor;
};

/* CPU an attached device uses while its host is quiet (not a path with a
 * floor: a cost, reported on its own). */
struct idle_cost {
	char name[32];
	const char *transport;
	double pct_p50, pct_max; /* % of one core, over the windows */
	unsigned windows;
	double window_s;
	double target_pct;
	bool met;
};

#define IDLE_TARGET_PCT 3.0 /* "no more than a few percent of one core" */

struct pass {
	const char *load; /* "idle" or "spinner" */
	struct res *r;
	size_t n, cap;
	double bg_before, bg_after, steal_before, steal_after;
	double seconds;
	struct idle_cost idle[2];
	unsigned nidle;
};

struct bench {
	struct opts o;
	char tmp[64];
	char devbin[PATH_MAX + 64];
	char sock[128];
	pid_t dev_pid;
	struct vpcie_host *h;
	volatile struct bench_stats *st;
	volatile uint8_t *bar2;
	struct vpcie_host_mem *shm, *msgmem;
	long lat_iters, irq_iters, conn_iters, posted_count, posted_runs;
	uint64_t budget_ns;
	uint64_t dma_bytes;
	long warm;
	struct pass *p;
	bool ring;          /* the device in use speaks the ring transport */
	const char *prefix; /* "" or "ring.": result names of that device */
};

static int res_find(const struct pass *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->r[i].name, name))
			return (int)i;
	return -1;
}

static int res_add(struct pass *p, const char *name, enum kind k, const char *what)
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

static void res_stats(struct res *r)
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

static void set_target(struct res *r, enum tgt k, double v)
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
static int attach_floor(struct pass *p, int ri, bool second, const char *fname,
			const char *fwhat, enum kind fk, uint64_t size, struct samples *fs)
{
	struct res tmp;
	int fi = res_find(p, fname);
	double fv;
	bool as_rate;

	if (fi < 0) {
		fi = res_add(p, fname, fk, fwhat);
		if (fi < 0)
			return fi;
		p->r[fi].size = size;
	}
	for (size_t i = 0; i < fs->n; i++)
		if (sm_add(&p->r[fi].s, fs->v[i]) < 0)
			return -ENOMEM;
	res_stats(&p->r[fi]);

	memset(&tmp, 0, sizeof(tmp));
	tmp.kind = fk;
	tmp.size = size;
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

static void progress(const struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(const struct bench *b, const char *fmt, ...)
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

static bool selected(const struct bench *b, const char *name)
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

/* ---- Runners: one operation per step, a path or a floor ---------------------- */

struct runner {
	struct bench *b;
	int (*step)(struct runner *r, double *sample);
	void (*fini)(struct runner *r);
	bool live;
	/* floor peers */
	pid_t pid;
	int fd, fd2, fd3;
	size_t req, resp;
	unsigned chunks;
	double div;           /* sock_rr: sample = time / div (per-write figures) */
	bool evloop;          /* sock_rr: wait as an event loop does (poll / epoll) */
	uint8_t *buf;
	void *page;
	uint8_t *priv, *map;
	uint64_t size;
	bool to_host;
	struct sockaddr_un sa;
	/* paths */
	int op;
	size_t n;
	uint32_t cmd;
	bool shm;
	enum vpcie_host_irq_type irq;
	char sock[128];
	struct vpcie_host **hs;
	pid_t *pids;
	unsigned nh;
	size_t k;
	long count;
	struct samples extra; /* DMA: host-side time */
};

static void runner_fini(struct runner *r)
{
	if (r->live && r->fini)
		r->fini(r);
	r->live = false;
	sm_free(&r->extra);
}

static void runner_zero(struct runner *r, struct bench *b)
{
	memset(r, 0, sizeof(*r));
	r->b = b;
	r->fd = r->fd2 = r->fd3 = -1;
}

/* Generic peer teardown: close fds (the peer sees EOF), reap, free. */
static void peer_fini(struct runner *r)
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
static int peer_started(struct runner *r, int sv[2], int (*step)(struct runner *, double *))
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

/* -- AF_UNIX request/reply: the peer reads req bytes and answers resp bytes;
 *    a step is `chunks` exchanges. */
static int sock_rr_step(struct runner *r, double *out)
{
	uint64_t a = now_ns();

	for (unsigned c = 0; c < r->chunks; c++) {
		int rc;

		if (r->evloop) {
			struct pollfd p = {.fd = r->fd, .events = POLLIN};

			rc = write_full(r->fd, r->buf, r->req);
			if (!rc && poll(&p, 1, -1) < 0)
				rc = -errno;
			if (!rc)
				rc = read_full(r->fd, r->buf, r->resp);
		} else {
			rc = exchange(r->fd, r->buf, r->req, r->resp);
		}
		if (rc)
			return rc;
	}
	*out = (double)(now_ns() - a) / (r->div > 0 ? r->div : 1);
	return 0;
}

static int sock_rr_init2(struct runner *r, struct bench *b, size_t req, size_t resp,
			 unsigned chunks, bool evloop)
{
	size_t big = req > resp ? req : resp;
	int sv[2];

	runner_zero(r, b);
	r->req = req;
	r->resp = resp;
	r->chunks = chunks;
	r->buf = malloc(big);
	if (!r->buf)
		return -ENOMEM;
	memset(r->buf, 0x5a, big);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(r->buf);
		return -errno;
	}
	r->evloop = evloop;
	r->pid = fork_kid();
	if (r->pid == 0 && evloop) {
		/* As the device's loop: epoll_wait, read, answer, and look again. */
		struct epoll_event ev = {.events = EPOLLIN};
		int ep = epoll_create1(EPOLL_CLOEXEC);
		uint8_t c;

		close(sv[0]);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) < 0)
			_exit(1);
		for (;;) {
			if (epoll_wait(ep, &ev, 1, -1) < 0 && errno != EINTR)
				_exit(0);
			if (read_full(sv[1], r->buf, req) || write_full(sv[1], r->buf, resp))
				_exit(0);
			if (recv(sv[1], &c, 1, MSG_DONTWAIT | MSG_PEEK) == 0)
				_exit(0);
		}
	}
	if (r->pid == 0) {
		close(sv[0]);
		for (;;)
			if (read_full(sv[1], r->buf, req) || write_full(sv[1], r->buf, resp))
				_exit(0);
	}
	return peer_started(r, sv, sock_rr_step);
}

static int sock_rr_init(struct runner *r, struct bench *b, size_t req, size_t resp,
			unsigned chunks)
{
	return sock_rr_init2(r, b, req, resp, chunks, false);
}

/* -- eventfd wake-up: the peer, woken by us, stamps CLOCK_MONOTONIC and
 *    writes an eventfd we are blocked on; the sample is wake - stamp. With
 *    intx, we then do the 36/16-byte round trip vfio INTx needs to unmask. */
struct efd_page {
	_Atomic uint64_t t;
	_Atomic int quit;
};

static int efd_step(struct runner *r, double *out)
{
	struct efd_page *pg = r->page;
	uint64_t one = 1, v;
	int rc = write_full(r->fd, &one, sizeof(one));

	if (!rc)
		rc = read_full(r->fd2, &v, sizeof(v));
	if (!rc && r->req)
		rc = exchange(r->fd3, r->buf, r->req, r->resp);
	if (!rc)
		*out = (double)(now_ns() - atomic_load_explicit(&pg->t, memory_order_relaxed));
	return rc;
}

static void efd_fini(struct runner *r)
{
	struct efd_page *pg = r->page;
	uint64_t one = 1;

	if (pg) {
		atomic_store(&pg->quit, 1);
		if (write(r->fd, &one, sizeof(one)) < 0) {
			/* the peer is gone already */
		}
	}
	peer_fini(r);
}

static int efd_init(struct runner *r, struct bench *b, bool intx)
{
	int sv[2] = {-1, -1}, rc;

	runner_zero(r, b);
	r->page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r->page == MAP_FAILED) {
		r->page = NULL;
		return -errno;
	}
	r->fd = eventfd(0, EFD_CLOEXEC);
	r->fd2 = eventfd(0, EFD_CLOEXEC);
	r->buf = malloc(64);
	if (intx) {
		r->req = REQ_SET_IRQS;
		r->resp = REP_EMPTY;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			sv[0] = sv[1] = -1;
		r->fd3 = sv[0];
	}
	r->step = efd_step;
	r->fini = efd_fini;
	r->live = true;
	if (r->fd < 0 || r->fd2 < 0 || !r->buf || (intx && sv[0] < 0)) {
		rc = r->buf ? -EMFILE : -ENOMEM;
		if (sv[1] >= 0)
			close(sv[1]);
		runner_fini(r);
		return rc;
	}
	r->pid = fork_kid();
	if (r->pid == 0) {
		struct efd_page *pg = r->page;
		uint64_t one = 1, v;

		for (;;) {
			if (read(r->fd, &v, sizeof(v)) != sizeof(v)) {
				if (errno == EINTR)
					continue;
				_exit(0);
			}
			if (atomic_load(&pg->quit))
				_exit(0);
			atomic_store_explicit(&pg->t, now_ns(), memory_order_relaxed);
			if (write(r->fd2, &one, sizeof(one)) < 0)
				_exit(0);
			if (intx && (read_full(sv[1], r->buf, REQ_SET_IRQS) ||
				     write_full(sv[1], r->buf, REP_EMPTY)))
				_exit(0);
		}
	}
	if (sv[1] >= 0)
		close(sv[1]);
	if (r->pid < 0) {
		rc = -errno;
		r->pid = 0;
		runner_fini(r);
		return rc;
	}
	return 0;
}

/* -- One-way messages: one write() per message, the peer reads in 64 KiB
 *    gulps and acknowledges each run; a step is a run, its sample ops/s. */
static int oneway_step(struct runner *r, double *out)
{
	uint64_t t0 = now_ns();
	uint8_t ack;
	int rc = 0;

	for (long k = 0; k < r->count && !rc; k++)
		rc = write_full(r->fd, r->buf, r->req);
	if (!rc)
		rc = read_full(r->fd, &ack, 1);
	if (!rc)
		*out = (double)r->count * 1e9 / (double)(now_ns() - t0);
	return rc;
}

static int oneway_init(struct runner *r, struct bench *b, size_t msg, long count)
{
	int sv[2];

	runner_zero(r, b);
	r->req = msg;
	r->count = count;
	r->buf = calloc(1, msg);
	if (!r->buf)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(r->buf);
		return -errno;
	}
	r->pid = fork_kid();
	if (r->pid == 0) {
		static uint8_t in[65536];

		close(sv[0]);
		for (;;) {
			size_t got = 0;

			while (got < (size_t)count * msg) {
				ssize_t n = read(sv[1], in, sizeof(in));

				if (n <= 0)
					_exit(0);
				got += (size_t)n;
			}
			if (write(sv[1], "k", 1) != 1)
				_exit(0);
		}
	}
	return peer_started(r, sv, oneway_step);
}

/* -- memcpy between private memory and a memfd MAP_SHARED mapping, which is
 *    what the device does for shared-memory DMA. Hot: back to back in this
 *    process. Woken: in a peer process woken through a socket before each
 *    copy, as the device is (the peer times the copy and sends the time). */
static void copy_once(uint8_t *priv, uint8_t *map, uint64_t size, bool to_host)
{
	if (to_host)
		memcpy(map, priv, size);
	else
		memcpy(priv, map, size);
	__asm__ __volatile__("" ::: "memory");
}

static int copy_buffers(struct runner *r)
{
	int fd = memfd_create("vpcie-bench-memcpy", MFD_CLOEXEC);

	r->priv = malloc(r->size);
	if (fd < 0 || !r->priv || ftruncate(fd, (off_t)r->size) < 0) {
		int e = fd < 0 || r->priv ? -errno : -ENOMEM;

		if (fd >= 0)
			close(fd);
		free(r->priv);
		r->priv = NULL;
		return e;
	}
	r->map = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		free(r->priv);
		r->priv = NULL;
		return -errno;
	}
	memset(r->priv, 0xa5, r->size);
	memset(r->map, 0x5a, r->size);
	return 0;
}

static void copy_free(struct runner *r)
{
	if (r->map)
		munmap(r->map, r->size);
	free(r->priv);
	r->map = r->priv = NULL;
}

static int memcpy_step(struct runner *r, double *out)
{
	uint64_t a = now_ns();

	copy_once(r->priv, r->map, r->size, r->to_host);
	*out = (double)(now_ns() - a);
	return 0;
}

static void memcpy_fini(struct runner *r)
{
	copy_free(r);
}

static int memcpy_init(struct runner *r, struct bench *b, uint64_t size, bool to_host)
{
	int rc;

	runner_zero(r, b);
	r->size = size;
	r->to_host = to_host;
	rc = copy_buffers(r);
	if (rc)
		return rc;
	r->step = memcpy_step;
	r->fini = memcpy_fini;
	r->live = true;
	return 0;
}

static int woken_step(struct runner *r, double *out)
{
	uint64_t t;
	int rc = write_full(r->fd, "g", 1);

	if (!rc)
		rc = read_full(r->fd, &t, sizeof(t));
	if (!rc)
		*out = (double)t;
	return rc;
}

static int woken_init(struct runner *r, struct bench *b, uint64_t size, bool to_host)
{
	int sv[2];

	runner_zero(r, b);
	r->size = size;
	r->to_host = to_host;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	r->pid = fork_kid();
	if (r->pid == 0) {
		char g;

		close(sv[0]);
		if (copy_buffers(r))
			_exit(1);
		for (;;) {
			uint64_t a, t;

			if (read_full(sv[1], &g, 1))
				_exit(0);
			a = now_ns();
			copy_once(r->priv, r->map, size, to_host);
			t = now_ns() - a;
			if (write_full(sv[1], &t, sizeof(t)))
				_exit(0);
		}
	}
	return peer_started(r, sv, woken_step);
}

/* -- connect() to a listening AF_UNIX socket plus one 32-byte round trip. */
static int connect_step(struct runner *r, double *out)
{
	uint64_t a = now_ns();
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0 || connect(fd, (struct sockaddr *)&r->sa, sizeof(r->sa)) < 0)
		rc = -errno;
	if (!rc)
		rc = exchange(fd, r->buf, REQ_REGION, REQ_REGION);
	if (!rc)
		*out = (double)(now_ns() - a);
	if (fd >= 0)
		close(fd);
	return rc;
}

static void connect_fini(struct runner *r)
{
	peer_fini(r);
	unlink(r->sa.sun_path);
}

static int connect_init(struct runner *r, struct bench *b)
{
	int lfd, rc;

	runner_zero(r, b);
	r->sa.sun_family = AF_UNIX;
	snprintf(r->sa.sun_path, sizeof(r->sa.sun_path), "%s/floor.sock", b->tmp);
	unlink(r->sa.sun_path);
	r->buf = calloc(1, REQ_REGION);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!r->buf || lfd < 0 || bind(lfd, (struct sockaddr *)&r->sa, sizeof(r->sa)) < 0 ||
	    listen(lfd, 64) < 0) {
		rc = r->buf ? -errno : -ENOMEM;
		if (lfd >= 0)
			close(lfd);
		free(r->buf);
		r->buf = NULL;
		return rc;
	}
	r->pid = fork_kid();
	if (r->pid == 0) {
		for (;;) {
			int c = accept(lfd, NULL, NULL);

			if (c < 0) {
				if (errno == EINTR)
					continue;
				_exit(0);
			}
			if (!read_full(c, r->buf, REQ_REGION) &&
			    !write_full(c, r->buf, REQ_REGION))
				while (read(c, r->buf, REQ_REGION) > 0)
					;
			close(c);
		}
	}
	close(lfd);
	r->step = connect_step;
	r->fini = connect_fini;
	r->live = true;
	if (r->pid < 0) {
		rc = -errno;
		r->pid = 0;
		runner_fini(r);
		return rc;
	}
	return 0;
}

/* -- Both processes spinning on a shared memfd page (no system call). */
struct spin_page {
	_Alignas(64) _Atomic uint64_t req_seq;
	uint8_t req[SPIN_MSG_MAX];
	_Alignas(64) _Atomic uint64_t resp_seq;
	uint8_t resp[SPIN_MSG_MAX];
	_Alignas(64) _Atomic int quit;
};

static int spin_step(struct runner *r, double *out)
{
	struct spin_page *pg = r->page;
	uint64_t a = now_ns(), seq = ++r->k, spins = 0;

	memcpy(pg->req, r->buf, r->req);
	atomic_store_explicit(&pg->req_seq, seq, memory_order_release);
	while (atomic_load_explicit(&pg->resp_seq, memory_order_acquire) != seq) {
		cpu_relax();
		if (++spins % 65536 == 0 && (g_stop || now_ns() - a > 2000000000ull))
			return g_stop ? -EINTR : -ETIMEDOUT;
	}
	memcpy(r->buf, pg->resp, r->resp);
	*out = (double)(now_ns() - a);
	return 0;
}

static void spin_fini(struct runner *r)
{
	struct spin_page *pg = r->page;

	if (pg)
		atomic_store(&pg->quit, 1);
	peer_fini(r);
}

/*
 * polite: the peer spins only while requests come (for SPIN_POLITE_NS after
 * the last one), then naps between looks, so that it can run in blocks
 * interleaved with a path without loading the CPUs meanwhile. The first
 * request of a block may find it napping: p50 does not see it.
 */
#define SPIN_POLITE_NS 200000u
#define SPIN_NAP_NS 20000u

static void nap(void)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = SPIN_NAP_NS};

	nanosleep(&ts, NULL);
}

static int spin_init2(struct runner *r, struct bench *b, size_t req, size_t resp, bool polite)
{
	int fd, rc;

	runner_zero(r, b);
	if (req > SPIN_MSG_MAX || resp > SPIN_MSG_MAX)
		return -EINVAL;
	r->req = req;
	r->resp = resp;
	r->buf = calloc(1, SPIN_MSG_MAX);
	fd = memfd_create("vpcie-bench-spin", MFD_CLOEXEC);
	if (!r->buf || fd < 0 || ftruncate(fd, 4096) < 0) {
		rc = r->buf ? -errno : -ENOMEM;
		if (fd >= 0)
			close(fd);
		free(r->buf);
		r->buf = NULL;
		return rc;
	}
	r->page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (r->page == MAP_FAILED) {
		r->page = NULL;
		free(r->buf);
		r->buf = NULL;
		return -errno;
	}
	r->step = spin_step;
	r->fini = spin_fini;
	r->live = true;
	r->pid = fork_kid();
	if (r->pid == 0) {
		struct spin_page *pg = r->page;
		uint8_t local[SPIN_MSG_MAX];
		uint64_t last = 0, busy = now_ns();

		for (;;) {
			uint64_t sq;
			unsigned spins = 0;

			while ((sq = atomic_load_explicit(&pg->req_seq, memory_order_acquire)) == last) {
				if (atomic_load_explicit(&pg->quit, memory_order_relaxed))
					_exit(0);
				if (polite && ++spins % 1024 == 0 && now_ns() - busy > SPIN_POLITE_NS)
					nap();
				cpu_relax();
			}
			if (polite)
				busy = now_ns();
			last = sq;
			memcpy(local, pg->req, req);
			memcpy(pg->resp, local, resp);
			atomic_store_explicit(&pg->resp_seq, sq, memory_order_release);
		}
	}
	if (r->pid < 0) {
		rc = -errno;
		r->pid = 0;
		runner_fini(r);
		return rc;
	}
	return 0;
}

static int spin_init(struct runner *r, struct bench *b, size_t req, size_t resp)
{
	return spin_init2(r, b, req, resp, false);
}

/* -- One-way stream through a shared-memory ring of 64-byte slots (the
 *    vpcie/ring.h primitives, no runtime around them): we push count slots,
 *    a polite peer pops them; a run ends when the peer has taken all. */
#define RING_FLOOR_SLOTS 1024u

static int ringow_step(struct runner *r, double *out)
{
	struct vpcie_ring *ring = (struct vpcie_ring *)r->buf;
	struct vpcie_ring_slot sl;
	uint64_t t0 = now_ns();
	unsigned long spins = 0;

	memset(&sl, 0, sizeof(sl));
	sl.op = VPCIE_RING_OP_WRITE;
	sl.flags = VPCIE_RING_F_POSTED;
	sl.count = 4;
	sl.offset = NULL_OFF;
	for (long k = 0; k < r->count; k++) {
		sl.id = (uint16_t)k;
		while (vpcie_ring_push(ring, &sl)) {
			cpu_relax();
			if (++spins % 65536 == 0 && (g_stop || now_ns() - t0 > 2000000000ull))
				return g_stop ? -EINTR : -ETIMEDOUT;
		}
	}
	while (vpcie_ring_pending(ring) > 0) {
		cpu_relax();
		if (++spins % 65536 == 0 && (g_stop || now_ns() - t0 > 2000000000ull))
			return g_stop ? -EINTR : -ETIMEDOUT;
	}
	*out = (double)r->count * 1e9 / (double)(now_ns() - t0);
	return 0;
}

static void ringow_fini(struct runner *r)
{
	peer_fini(r); /* frees buf (our ring end) */
	if (r->map)
		munmap(r->map, r->size);
	r->map = NULL;
}

static int ringow_init(struct runner *r, struct bench *b, long count)
{
	size_t len = vpcie_ring_mem_size(RING_FLOOR_SLOTS);
	int rc;

	runner_zero(r, b);
	r->count = count;
	r->size = len;
	r->buf = calloc(1, sizeof(struct vpcie_ring));
	r->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!r->buf || r->map == MAP_FAILED) {
		rc = r->buf ? -errno : -ENOMEM;
		if (r->map != MAP_FAILED)
			munmap(r->map, len);
		r->map = NULL;
		free(r->buf);
		r->buf = NULL;
		return rc;
	}
	vpcie_ring_mem_init(r->map, RING_FLOOR_SLOTS);
	vpcie_ring_open((struct vpcie_ring *)r->buf, r->map, len, RING_FLOOR_SLOTS,
			VPCIE_RING_H2D, true);
	r->step = ringow_step;
	r->fini = ringow_fini;
	r->live = true;
	r->pid = fork_kid();
	if (r->pid == 0) {
		struct vpcie_ring c;
		struct vpcie_ring_slot sl;
		uint64_t busy = now_ns();

		vpcie_ring_open(&c, r->map, len, RING_FLOOR_SLOTS, VPCIE_RING_H2D, false);
		for (unsigned spins = 0;; spins++) {
			if (vpcie_ring_pop(&c, &sl)) {
				/* Look at it, as a device would. */
				__asm__ __volatile__("" : : "r"(sl.offset + sl.count) : "memory");
				busy = now_ns();
				continue;
			}
			if (spins % 1024 == 0 && now_ns() - busy > SPIN_POLITE_NS)
				nap();
			cpu_relax();
		}
	}
	if (r->pid < 0) {
		rc = -errno;
		r->pid = 0;
		runner_fini(r);
		return rc;
	}
	return 0;
}

/* ---- Measuring --------------------------------------------------------------------- */

struct floor_spec {
	const char *name;
	const char *what;
	enum kind kind;
	uint64_t size;
};

struct spec {
	const char *name;
	const char *what;
	enum kind kind;
	bool lat_samples;
	uint64_t size;
	size_t iters;
	long warm;
	enum tgt tkind;
	double target;
	struct floor_spec f[2];
};

static bool more_blocks(const struct bench *b, size_t done, size_t iters, size_t block,
			unsigned nrun, uint64_t t0)
{
	if (g_stop || done >= iters)
		return false;
	return done < 2 * block || now_ns() - t0 < b->budget_ns * nrun;
}

/*
 * Run path and its floors in alternating blocks so that all of them see the
 * same machine (background load on these VMs shifts within seconds), then
 * record the result and its ratios. Finishes the runners.
 */
static int measure(struct bench *b, const struct spec *sp, struct runner *path,
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
	for (int j = 0; j < 3 && !rc; j++)
		for (long w = 0; run[j] && w < sp->warm && !rc && !g_stop; w++)
			rc = run[j]->step(run[j], &x);
	if (run[2]->extra.n)
		run[2]->extra.n = 0;
	t0 = now_ns();
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
		res_stats(r);
		if (path->extra.n)
			r->host_p50 = sm_pct(&path->extra, 50);
	}
	for (int j = 0; j < 2 && !rc; j++)
		if (run[j]) {
			rc = attach_floor(b->p, ri, j == 1, sp->f[j].name, sp->f[j].what, sp->f[j].kind,
					  sp->f[j].size, &s[j]);
			rc = rc < 0 ? rc : 0;
		}
	if (!rc && sp->tkind != T_NONE)
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
static int measure_floor(struct bench *b, const struct floor_spec *fs, struct runner *r,
			 size_t iters)
{
	struct samples s = {0};
	uint64_t t0;
	double x;
	int rc = 0, i;

	progress(b, "%s", fs->name);
	for (long w = 0; w < b->warm && !rc; w++)
		rc = r->step(r, &x);
	t0 = now_ns();
	for (size_t k = 0; !rc && !g_stop && k < iters && (k < 20 || now_ns() - t0 < b->budget_ns);
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
	res_stats(&b->p->r[i]);
	sm_free(&s);
	return i;
}
/* ---- The device ----------------------------------------------------------------- */

static bool executable_file(const char *p)
{
	struct stat st;

	return !stat(p, &st) && S_ISREG(st.st_mode) && !access(p, X_OK);
}

/* --device, $VPCIE_BENCH_DEVICE, next to this program (installed), the
 * build tree (tools/vpcie/vpcie -> bench/vpcie-bench-device), then $PATH. */
static void find_device(struct bench *b)
{
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n;
	const char *env = getenv("VPCIE_BENCH_DEVICE");

	if (b->o.device) {
		snprintf(b->devbin, sizeof(b->devbin), "%s", b->o.device);
		return;
	}
	if (env && *env) {
		snprintf(b->devbin, sizeof(b->devbin), "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			snprintf(cand, sizeof(cand), "%s/vpcie-bench-device", exe);
			if (executable_file(cand)) {
				snprintf(b->devbin, sizeof(b->devbin), "%s", cand);
				return;
			}
			snprintf(cand, sizeof(cand), "%s/../../bench/vpcie-bench-device", exe);
			if (executable_file(cand)) {
				snprintf(b->devbin, sizeof(b->devbin), "%s", cand);
				return;
			}
		}
	}
	snprintf(b->devbin, sizeof(b->devbin), "vpcie-bench-device");
}

static pid_t spawn_device(struct bench *b, const char *sock)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		pin_peer();
		if (nul >= 0)
			dup2(nul, 0);
		execlp(b->devbin, b->devbin, "--socket", sock, (char *)NULL);
		fprintf(stderr, "vpcie bench: cannot run %s: %s\n", b->devbin, strerror(errno));
		_exit(127);
	}
	if (pid > 0 && kid_add(pid) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		errno = EAGAIN;
		return -1;
	}
	return pid;
}

/* Socket figures use the socket whatever $VPCIE_HOST_RING says; the ring
 * figures ask for the ring. */
static struct vpcie_host *open_device2(const char *sock, bool ring, int *err)
{
	struct vpcie_host_opts ho;

	vpcie_host_opts_defaults(&ho);
	ho.connect_timeout_ms = 10000;
	ho.log_level = VPCIE_LOG_ERROR;
	ho.ring = ring;
	return vpcie_host_open(sock, &ho, err);
}

static struct vpcie_host *open_device(const char *sock, int *err)
{
	return open_device2(sock, false, err);
}

static int dev_write(struct bench *b, unsigned reg, uint32_t v)
{
	return vpcie_host_region_write(b->h, BENCH_CTRL_BAR, reg, &v, sizeof(v));
}

/* The device the MMIO, DMA and interrupt paths use; ring: through the
 * shared-memory ring transport (results named ring.*). */
static int setup_main_device(struct bench *b, bool ring)
{
	int err = 0, rc;
	uint32_t id;

	b->ring = ring;
	b->prefix = ring ? "ring." : "";
	snprintf(b->sock, sizeof(b->sock), "%s/%s.sock", b->tmp, ring ? "ring" : "dev");
	b->dev_pid = spawn_device(b, b->sock);
	if (b->dev_pid < 0)
		return -errno;
	b->h = open_device2(b->sock, ring, &err);
	if (!b->h) {
		fprintf(stderr, "vpcie bench: cannot reach %s (%s): %s\n", b->devbin, b->sock,
			strerror(-err));
		return err ? err : -EIO;
	}
	if (ring && !vpcie_host_ring(b->h)) {
		fprintf(stderr, "vpcie bench: %s does not offer the ring transport\n", b->devbin);
		return -ENOTSUP;
	}
	rc = vpcie_host_assign_bars(b->h, MEM_BASE, IO_BASE);
	if (rc < 0)
		return rc;
	id = vpcie_host_bar_read32(b->h, BENCH_CTRL_BAR, BENCH_REG_ID, &rc);
	if (rc < 0)
		return rc;
	if (id != BENCH_ID_VALUE) {
		fprintf(stderr, "vpcie bench: %s is not vpcie-bench-device (id 0x%08x)\n", b->devbin,
			id);
		return -ENODEV;
	}
	b->bar2 = vpcie_host_region_map(b->h, BENCH_MEM_BAR);
	if (!b->bar2)
		return -errno;
	b->st = (volatile struct bench_stats *)b->bar2;
	b->shm = vpcie_host_mem_alloc(b->h, BENCH_DMA_MAX, SHM_IOVA, VPCIE_HOST_MEM_SHARED);
	if (!b->shm)
		return -errno;
	b->msgmem = vpcie_host_mem_alloc(b->h, BENCH_DMA_MAX, MSG_IOVA, 0);
	if (!b->msgmem)
		return -errno;
	memset(vpcie_host_mem_ptr(b->shm), 0x11, BENCH_DMA_MAX);
	memset(vpcie_host_mem_ptr(b->msgmem), 0x22, BENCH_DMA_MAX);
	return 0;
}

static void teardown_main_device(struct bench *b)
{
	if (b->h) {
		vpcie_host_close(b->h); /* frees the host memory too */
		b->h = NULL;
	}
	b->shm = b->msgmem = NULL;
	b->st = NULL;
	b->bar2 = NULL;
	kid_end(b->dev_pid);
	b->dev_pid = 0;
	b->ring = false;
	b->prefix = "";
}

/* ---- Paths: MMIO and config space ------------------------------------------------- */

enum mmio_op { OP_READ, OP_WRITE, OP_CFG };

static int mmio_step(struct runner *r, double *out)
{
	struct bench *b = r->b;
	uint8_t buf[8] = {0};
	uint64_t a = now_ns();
	int rc;

	switch (r->op) {
	case OP_READ:
		rc = vpcie_host_region_read(b->h, BENCH_NULL_BAR, NULL_OFF, buf, r->n);
		break;
	case OP_WRITE:
		rc = vpcie_host_region_write(b->h, BENCH_NULL_BAR, NULL_OFF, buf, r->n);
		break;
	default:
		rc = vpcie_host_cfg_read(b->h, 0, buf, r->n);
		break;
	}
	if (!rc)
		*out = (double)(now_ns() - a);
	return rc;
}

static int path_mmio(struct bench *b, enum mmio_op op, size_t n)
{
	char name[64], what[160], fname[64], fwhat[160], sname[64], swhat[160];
	char ename[64], ewhat[200];
	struct runner fe;
	size_t req = op == OP_WRITE ? REQ_REGION + n : REQ_REGION;
	size_t resp = op == OP_WRITE ? REQ_REGION : REQ_REGION + n;
	struct runner path, fl;
	int rc, si;

	snprintf(name, sizeof(name), "%s.%zu",
		 op == OP_READ ? "mmio.read" : op == OP_WRITE ? "mmio.write" : "cfg.read", n);
	if (!selected(b, name))
		return 0;
	snprintf(fname, sizeof(fname), "floor.sock.rr.%zu.%zu", req, resp);
	snprintf(fwhat, sizeof(fwhat),
		 "AF_UNIX ping-pong between two processes, blocking write/read, %zu B request, "
		 "%zu B reply", req, resp);
	if (op == OP_READ) {
		snprintf(sname, sizeof(sname), "floor.spin.rr.%zu.%zu", req, resp);
		snprintf(swhat, sizeof(swhat),
			 "the same exchange with both processes spinning on a shared memfd page "
			 "(measured alone, and alongside ring paths with a peer that naps when idle)");
		si = res_find(b->p, sname);
		if (si < 0) {
			struct floor_spec fs = {sname, swhat, K_LAT, 0};

			rc = spin_init(&fl, b, req, resp);
			if (rc)
				return rc;
			si = measure_floor(b, &fs, &fl, (size_t)b->lat_iters);
			if (si < 0)
				return si;
		}
	}
	switch (op) {
	case OP_READ:
		snprintf(what, sizeof(what),
			 "vpcie_host_region_read() of %zu B on a callback BAR (REGION_READ round trip)", n);
		break;
	case OP_WRITE:
		snprintf(what, sizeof(what),
			 "vpcie_host_region_write() of %zu B on a callback BAR, waiting for the reply", n);
		break;
	default:
		snprintf(what, sizeof(what), "vpcie_host_cfg_read() of %zu B (config space, messages)",
			 n);
	}
	rc = sock_rr_init(&fl, b, req, resp, 1);
	if (rc)
		return rc;
	runner_zero(&path, b);
	path.step = mmio_step;
	path.op = op;
	path.n = n;
	struct spec sp = {
		.name = name, .what = what, .kind = K_LAT, .iters = (size_t)b->lat_iters,
		.warm = b->warm, .tkind = op == OP_READ ? T_RATIO_MAX : T_NONE, .target = 1.15,
		.f = {{fname, fwhat, K_LAT, 0}},
	};
	if (op != OP_READ)
		return measure(b, &sp, &path, &fl, NULL);
	/* Reads also run against the event-loop floor: the same exchange with
	 * the peer in epoll_wait() and us in poll(), as any non-blocking loop. */
	snprintf(ename, sizeof(ename), "floor.sock.rr_evloop.%zu.%zu", req, resp);
	snprintf(ewhat, sizeof(ewhat),
		 "the same ping-pong waiting as event loops do: peer epoll_wait()+read+write, "
		 "us write+poll()+read");
	sp.f[1] = (struct floor_spec){ename, ewhat, K_LAT, 0};
	rc = sock_rr_init2(&fe, b, req, resp, 1, true);
	if (rc) {
		runner_fini(&fl);
		return rc;
	}
	return measure(b, &sp, &path, &fl, &fe);
}

static int wm_step(struct runner *r, double *out)
{
	struct vpcie_write_multi_entry *e = (struct vpcie_write_multi_entry *)r->buf;
	uint64_t a = now_ns();
	int rc = vpcie_host_region_write_multi(r->b->h, e, WM_BATCH);

	if (!rc)
		*out = (double)(now_ns() - a) / WM_BATCH;
	return rc;
}

static void wm_fini(struct runner *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Small writes coalesced with REGION_WRITE_MULTI: per-write cost. */
static int path_write_multi(struct bench *b)
{
	char fwhat[160];
	struct vpcie_write_multi_entry *e;
	struct runner path, fl;
	int rc;

	if (!selected(b, "mmio.write_multi.4"))
		return 0;
	if (!vpcie_host_peer_caps(b->h)->write_multiple)
		return -ENOTSUP;
	snprintf(fwhat, sizeof(fwhat),
		 "AF_UNIX ping-pong, %u B request, %u B reply, per write (/%u)", REQ_WM, REP_WM,
		 WM_BATCH);
	rc = sock_rr_init(&fl, b, REQ_WM, REP_WM, 1);
	if (rc)
		return rc;
	fl.div = WM_BATCH;
	runner_zero(&path, b);
	path.step = wm_step;
	path.fini = wm_fini;
	path.live = true;
	path.buf = calloc(WM_BATCH, sizeof(*e));
	if (!path.buf) {
		runner_fini(&fl);
		return -ENOMEM;
	}
	e = (struct vpcie_write_multi_entry *)path.buf;
	for (unsigned i = 0; i < WM_BATCH; i++)
		e[i] = (struct vpcie_write_multi_entry){
			.offset = NULL_OFF, .region = BENCH_NULL_BAR, .count = 4};
	struct spec sp = {
		.name = "mmio.write_multi.4",
		.what = "vpcie_host_region_write_multi() of 256 x 4 B writes (one REGION_WRITE_MULTI)",
		.kind = K_RATE, .lat_samples = true, .iters = (size_t)b->lat_iters / 10 + 1,
		.warm = 10, .tkind = T_ABS_MIN, .target = 1e6,
		.f = {{"floor.sock.rr.6168.24", fwhat, K_LAT, 0}},
	};
	return measure(b, &sp, &path, &fl, NULL);
}

static int posted_step(struct runner *r, double *out)
{
	struct bench *b = r->b;
	uint64_t t0 = now_ns();
	uint32_t v = 0;
	int rc = 0;

	for (long k = 0; k < r->count && !rc; k++)
		rc = vpcie_host_region_write_posted(b->h, BENCH_NULL_BAR, NULL_OFF, &v, sizeof(v));
	/* A read returns after every write sent before it was handled. */
	if (!rc)
		rc = vpcie_host_region_read(b->h, BENCH_NULL_BAR, NULL_OFF, &v, sizeof(v));
	if (!rc)
		*out = (double)r->count * 1e9 / (double)(now_ns() - t0);
	return rc;
}

static int path_posted(struct bench *b)
{
	char fwhat[160];
	struct runner path, fl;
	int rc;

	if (!selected(b, "mmio.posted.4"))
		return 0;
	snprintf(fwhat, sizeof(fwhat),
		 "AF_UNIX one-way stream, one write() per %u B message, the reader gulps 64 KiB",
		 REQ_REGION + 4);
	rc = oneway_init(&fl, b, REQ_REGION + 4, b->posted_count);
	if (rc)
		return rc;
	runner_zero(&path, b);
	path.step = posted_step;
	path.count = b->posted_count;
	struct spec sp = {
		.name = "mmio.posted.4",
		.what = "vpcie_host_region_write_posted() of 4 B back to back (runs ended by a read)",
		.kind = K_RATE, .iters = (size_t)b->posted_runs, .warm = 1,
		.tkind = T_ABS_MIN, .target = 1e6,
		.f = {{"floor.sock.oneway.36", fwhat, K_RATE, 0}},
	};
	return measure(b, &sp, &path, &fl, NULL);
}

/* ---- Paths: the ring transport ---------------------------------------------------------- */

/* MMIO read through the ring against the spin ping-pong it can approach. */
static int path_ring_read(struct bench *b)
{
	char swhat[200];
	struct runner path, fl;
	int rc;

	if (!selected(b, "ring.mmio.read.4"))
		return 0;
	snprintf(swhat, sizeof(swhat),
		 "the same exchange with both processes spinning on a shared memfd page "
		 "(measured alone, and alongside ring paths with a peer that naps when idle)");
	rc = spin_init2(&fl, b, REQ_REGION, REQ_REGION + 4, true);
	if (rc)
		return rc;
	runner_zero(&path, b);
	path.step = mmio_step;
	path.op = OP_READ;
	path.n = 4;
	struct spec sp = {
		.name = "ring.mmio.read.4",
		.what = "vpcie_host_region_read() of 4 B on a callback BAR through the ring transport",
		.kind = K_LAT, .iters = (size_t)b->lat_iters, .warm = b->warm,
		.tkind = T_RATIO_MAX, .target = 2.0,
		.f = {{"floor.spin.rr.32.36", swhat, K_LAT, 0}},
	};
	return measure(b, &sp, &path, &fl, NULL);
}

/* Posted writes through the ring against the bare ring primitives. */
static int path_ring_posted(struct bench *b)
{
	struct runner path, fl;
	int rc;

	if (!selected(b, "ring.mmio.posted.4"))
		return 0;
	rc = ringow_init(&fl, b, b->posted_count);
	if (rc)
		return rc;
	runner_zero(&path, b);
	path.step = posted_step;
	path.count = b->posted_count;
	struct spec sp = {
		.name = "ring.mmio.posted.4",
		.what = "vpcie_host_region_write_posted() of 4 B back to back through the ring "
			"transport (runs ended by a read)",
		.kind = K_RATE, .iters = (size_t)b->posted_runs, .warm = 1,
		.tkind = T_ABS_MIN, .target = 5e6,
		.f = {{"floor.spin.oneway.64",
		       "one-way stream of 64 B slots through the vpcie_ring primitives between two "
		       "processes, the reader spinning (a run ends when it has taken all)",
		       K_RATE, 0}},
	};
	return measure(b, &sp, &path, &fl, NULL);
}

/* CPU time (ns) a process has used, from /proc/PID/schedstat (0 on error). */
static int cpu_ns(pid_t pid, uint64_t *ns)
{
	char path[64];
	unsigned long long v;
	FILE *f;
	int n;

	*ns = 0; /* defined on every return (-errno cannot prove it is non-zero) */
	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fscanf(f, "%llu", &v);
	fclose(f);
	if (n != 1)
		return -EIO;
	*ns = v;
	return 0;
}

static int cmp_pct(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * CPU used by the attached device while its host is quiet: windows that
 * start just before one last request (so the device's polling after it is
 * counted) and last window_ms. Reported as % of one core.
 */
static int idle_cost(struct bench *b)
{
	char name[32];
	unsigned nwin = b->o.quick ? 2 : 5, window_ms = b->o.quick ? 250 : 1000;
	double pct[8];
	struct idle_cost *ic;
	int rc = 0;

	snprintf(name, sizeof(name), "%sidle.cpu", b->prefix);
	if (!selected(b, name) || b->p->nidle >= 2)
		return 0;
	for (unsigned w = 0; w < nwin; w++) {
		uint64_t c0, c1, t0, t1;
		uint32_t v;

		progress(b, "%s: window %u/%u", name, w + 1, nwin);
		rc = cpu_ns(b->dev_pid, &c0);
		if (rc)
			return rc;
		t0 = now_ns();
		rc = vpcie_host_region_read(b->h, BENCH_NULL_BAR, NULL_OFF, &v, sizeof(v));
		if (rc)
			return rc;
		sleep_ms(window_ms);
		t1 = now_ns();
		rc = cpu_ns(b->dev_pid, &c1);
		if (rc)
			return rc;
		if (g_stop)
			return -EINTR;
		pct[w] = (double)(c1 - c0) * 100.0 / (double)(t1 - t0);
	}
	qsort(pct, nwin, sizeof(pct[0]), cmp_pct);
	ic = &b->p->idle[b->p->nidle++];
	snprintf(ic->name, sizeof(ic->name), "%s", name);
	ic->transport = b->ring ? "ring" : "socket";
	ic->pct_p50 = pct[nwin / 2];
	ic->pct_max = pct[nwin - 1];
	ic->windows = nwin;
	ic->window_s = window_ms / 1000.0;
	ic->target_pct = IDLE_TARGET_PCT;
	ic->met = ic->pct_max <= IDLE_TARGET_PCT;
	return 0;
}

/* mmap'ed BAR access, for contrast: timed in batches (the clock costs more
 * than the access). The floor is the same load through the raw pointer. */
#define MAP_BATCH 1000u

static int mmap_step(struct runner *r, double *out)
{
	struct bench *b = r->b;
	uint64_t a = now_ns();
	uint32_t sink = 0;
	int rc = 0;

	for (unsigned j = 0; j < MAP_BATCH && !rc; j++)
		sink += vpcie_host_bar_read32(b->h, BENCH_MEM_BAR, MAP_OFF, &rc);
	r->k += sink;
	*out = (double)(now_ns() - a) / MAP_BATCH;
	return rc;
}

static int rawload_step(struct runner *r, double *out)
{
	volatile uint32_t *raw = (volatile uint32_t *)(r->b->bar2 + MAP_OFF);
	uint64_t a = now_ns();
	uint32_t sink = 0;

	for (unsigned j = 0; j < MAP_BATCH; j++)
		sink += raw[0];
	r->k += sink;
	*out = (double)(now_ns() - a) / MAP_BATCH;
	return 0;
}

static int path_mmap(struct bench *b)
{
	struct runner path, fl;

	if (!selected(b, "mmio.mmap.read.4"))
		return 0;
	if (!vpcie_host_region_is_mapped(b->h, BENCH_MEM_BAR, MAP_OFF, 4))
		return -ENXIO;
	runner_zero(&path, b);
	path.step = mmap_step;
	runner_zero(&fl, b);
	fl.step = rawload_step;
	struct spec sp = {
		.name = "mmio.mmap.read.4",
		.what = "vpcie_host_bar_read32() on the mmap'ed memory BAR (batches of 1000)",
		.kind = K_LAT, .iters = (size_t)b->lat_iters / 10 + 1, .warm = 10,
		.f = {{"floor.mem.load",
		       "volatile 32-bit load through the raw BAR mapping (batches of 1000)", K_LAT, 0}},
	};
	return measure(b, &sp, &path, &fl, NULL);
}

/* ---- Paths: DMA -------------------------------------------------------------------------- */

static long dma_iters(const struct bench *b, uint64_t size)
{
	long n = (long)(b->dma_bytes / size);

	if (n < (b->o.quick ? 5 : 20))
		n = b->o.quick ? 5 : 20;
	if (n > (b->o.quick ? 200 : 2000))
		n = b->o.quick ? 200 : 2000;
	if (b->o.iterations && b->o.iterations < n)
		n = b->o.iterations;
	return n;
}

static int dma_step(struct runner *r, double *out)
{
	struct bench *b = r->b;
	uint64_t seq = b->st->dma_seq, a = now_ns(), h;
	int rc = dev_write(b, BENCH_REG_DMA_CMD, r->cmd);

	h = now_ns() - a;
	if (rc)
		return rc;
	if (b->st->dma_seq != seq + 1 || b->st->dma_status) {
		fprintf(stderr, "vpcie bench: device DMA failed (%lld)\n", (long long)b->st->dma_status);
		return -EIO;
	}
	*out = (double)(b->st->dma_end_ns - b->st->dma_start_ns);
	return sm_add(&r->extra, (double)h);
}

static int path_dma(struct bench *b, bool shm, bool to_host, uint64_t size)
{
	char name[64], what[200], f0[64], f0w[160], f1[64], f1w[160];
	const char *dir = to_host ? "to_host" : "to_device";
	uint64_t iova = shm ? SHM_IOVA : MSG_IOVA;
	uint64_t chunk = size < XFER_CHUNK ? size : XFER_CHUNK;
	unsigned chunks = (unsigned)((size + chunk - 1) / chunk);
	struct runner path, fl0, fl1;
	int rc;

	snprintf(name, sizeof(name), "dma.%s.%s.%llu", shm ? "shm" : "msg", dir,
		 (unsigned long long)size);
	if (!selected(b, name))
		return 0;
	snprintf(what, sizeof(what), "device %s %llu B %s, timed inside the device",
		 to_host ? "vpcie_dma_write() to host memory," : "vpcie_dma_read() of host memory,",
		 (unsigned long long)size,
		 shm ? "through shared memory (memcpy)" : "through DMA_WRITE/DMA_READ messages");
	rc = dev_write(b, BENCH_REG_DMA_ADDR_LO, (uint32_t)iova);
	if (!rc)
		rc = dev_write(b, BENCH_REG_DMA_ADDR_HI, (uint32_t)(iova >> 32));
	if (!rc)
		rc = dev_write(b, BENCH_REG_DMA_LEN, (uint32_t)size);
	if (rc)
		return rc;
	runner_zero(&path, b);
	path.step = dma_step;
	path.cmd = to_host ? BENCH_DMA_TO_HOST : BENCH_DMA_TO_DEVICE;
	struct spec sp = {
		.name = name, .what = what, .kind = K_BW, .size = size,
		.iters = (size_t)dma_iters(b, size), .warm = 3,
		.tkind = shm ? T_RATIO_MIN : T_NONE, .target = 0.90,
	};
	if (shm) {
		snprintf(f0, sizeof(f0), "floor.memcpy.%s.%llu", dir, (unsigned long long)size);
		snprintf(f0w, sizeof(f0w), "memcpy %s, %llu B, back to back in one process",
			 to_host ? "private -> memfd MAP_SHARED" : "memfd MAP_SHARED -> private",
			 (unsigned long long)size);
		snprintf(f1, sizeof(f1), "floor.memcpy_woken.%s.%llu", dir, (unsigned long long)size);
		snprintf(f1w, sizeof(f1w),
			 "the same memcpy in a process woken through a socket before each copy, as "
			 "the device is");
		sp.f[0] = (struct floor_spec){f0, f0w, K_BW, size};
		sp.f[1] = (struct floor_spec){f1, f1w, K_BW, size};
		rc = memcpy_init(&fl0, b, size, to_host);
		if (rc)
			return rc;
		rc = woken_init(&fl1, b, size, to_host);
		if (rc) {
			runner_fini(&fl0);
			return rc;
		}
		return measure(b, &sp, &path, &fl0, &fl1);
	}
	snprintf(f0, sizeof(f0), "floor.sock.xfer.%s.%llu", dir, (unsigned long long)size);
	snprintf(f0w, sizeof(f0w),
		 "AF_UNIX request/reply moving %llu B as %u x (%llu B request, %llu B reply)",
		 (unsigned long long)size, chunks,
		 (unsigned long long)(to_host ? REQ_DMA + chunk : REQ_DMA),
		 (unsigned long long)(to_host ? REP_DMA_WRITE : REQ_DMA + chunk));
	sp.f[0] = (struct floor_spec){f0, f0w, K_BW, size};
	rc = to_host ? sock_rr_init(&fl0, b, REQ_DMA + chunk, REP_DMA_WRITE, chunks)
		     : sock_rr_init(&fl0, b, REQ_DMA, REQ_DMA + chunk, chunks);
	if (rc)
		return rc;
	return measure(b, &sp, &path, &fl0, NULL);
}

/* ---- Paths: interrupts --------------------------------------------------------------------- */

static int irq_step(struct runner *r, double *out)
{
	struct bench *b = r->b;
	uint64_t seq = b->st->irq_seq, t;
	uint32_t zero = 0;
	int rc = vpcie_host_region_write_posted(b->h, BENCH_CTRL_BAR, BENCH_REG_IRQ_RAISE, &zero,
						sizeof(zero));

	if (!rc)
		rc = vpcie_host_irq_wait(b->h, 0, 5000);
	t = now_ns();
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

static int path_irq(struct bench *b, enum vpcie_host_irq_type type)
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

/* ---- Paths: connection, many devices ----------------------------------------------------- */

static int conn_step(struct runner *r, double *out)
{
	uint64_t a = now_ns(), t;
	int err = 0, rc = 0;
	struct vpcie_host *h = open_device(r->sock, &err);

	if (!h)
		return err ? err : -EIO;
	if (!vpcie_host_region_map(h, BENCH_MEM_BAR))
		rc = -errno;
	t = now_ns();
	vpcie_host_close(h);
	if (!rc)
		*out = (double)(t - a);
	return rc;
}

static void conn_fini(struct runner *r)
{
	kid_end(r->pid);
	r->pid = 0;
}

static int path_connect(struct bench *b)
{
	struct runner path, fl;
	int rc;

	if (!selected(b, "conn.open_map"))
		return 0;
	runner_zero(&path, b);
	snprintf(path.sock, sizeof(path.sock), "%s/conn.sock", b->tmp);
	path.pid = spawn_device(b, path.sock);
	if (path.pid < 0)
		return -errno;
	path.step = conn_step;
	path.fini = conn_fini;
	path.live = true;
	rc = connect_init(&fl, b);
	if (rc) {
		runner_fini(&path);
		return rc;
	}
	struct spec sp = {
		.name = "conn.open_map",
		.what = "vpcie_host_open() (connect + VERSION) + vpcie_host_region_map() of a BAR",
		.kind = K_LAT, .iters = (size_t)b->conn_iters, .warm = 3,
		.f = {{"floor.connect", "AF_UNIX connect() + one 32 B round trip with a listening process",
		       K_LAT, 0}},
	};
	return measure(b, &sp, &path, &fl, NULL);
}

static int multi_step(struct runner *r, double *out)
{
	uint64_t a = now_ns();
	uint32_t v;
	int rc = vpcie_host_region_read(r->hs[r->k++ % r->nh], BENCH_NULL_BAR, NULL_OFF, &v,
					sizeof(v));

	if (!rc)
		*out = (double)(now_ns() - a);
	return rc;
}

static void multi_fini(struct runner *r)
{
	if (r->hs)
		for (unsigned d = 0; d < r->nh; d++)
			vpcie_host_close(r->hs[d]);
	if (r->pids) {
		for (unsigned d = 0; d < r->nh; d++)
			if (r->pids[d] > 0)
				kill(r->pids[d], SIGTERM);
		for (unsigned d = 0; d < r->nh; d++)
			kid_reap(r->pids[d]);
	}
	free(r->hs);
	free(r->pids);
	r->hs = NULL;
	r->pids = NULL;
}

static int path_multi(struct bench *b, unsigned ndev)
{
	char name[64], what[160], fwhat[160];
	struct runner path, fl;
	size_t iters;
	int rc = 0;

	snprintf(name, sizeof(name), "multi.%u", ndev);
	if (!selected(b, name))
		return 0;
	progress(b, "%s: starting %u devices", name, ndev);
	runner_zero(&path, b);
	path.step = multi_step;
	path.fini = multi_fini;
	path.live = true;
	path.nh = ndev;
	path.hs = calloc(ndev, sizeof(*path.hs));
	path.pids = calloc(ndev, sizeof(*path.pids));
	if (!path.hs || !path.pids) {
		runner_fini(&path);
		return -ENOMEM;
	}
	for (unsigned d = 0; d < ndev && !rc; d++) {
		char sock[128];

		snprintf(sock, sizeof(sock), "%s/m%03u.sock", b->tmp, d);
		path.pids[d] = spawn_device(b, sock);
		if (path.pids[d] < 0)
			rc = -errno;
	}
	for (unsigned d = 0; d < ndev && !rc && !g_stop; d++) {
		char sock[128];
		uint32_t v;
		int err = 0;

		snprintf(sock, sizeof(sock), "%s/m%03u.sock", b->tmp, d);
		path.hs[d] = open_device(sock, &err);
		if (!path.hs[d]) {
			rc = err ? err : -EIO;
			break;
		}
		rc = vpcie_host_cfg_write16(path.hs[d], PCI_COMMAND, PCI_COMMAND_MEMORY);
		if (!rc)
			rc = vpcie_host_region_read(path.hs[d], BENCH_NULL_BAR, NULL_OFF, &v, sizeof(v));
	}
	if (!rc && g_stop)
		rc = -EINTR;
	if (!rc)
		rc = sock_rr_init(&fl, b, REQ_REGION, REQ_REGION + 4, 1);
	if (rc) {
		runner_fini(&path);
		return rc;
	}
	snprintf(what, sizeof(what),
		 "%u device processes, one host thread reading 4 B round-robin: aggregate ops/s",
		 ndev);
	snprintf(fwhat, sizeof(fwhat),
		 "AF_UNIX ping-pong between two processes, blocking write/read, %u B request, "
		 "%u B reply", REQ_REGION, REQ_REGION + 4);
	iters = (size_t)b->lat_iters;
	if (iters < 4u * ndev)
		iters = 4u * ndev;
	struct spec sp = {
		.name = name, .what = what, .kind = K_RATE, .lat_samples = true, .iters = iters,
		.warm = b->warm,
		.f = {{"floor.sock.rr.32.36", fwhat, K_LAT, 0}},
	};
	return measure(b, &sp, &path, &fl, NULL);
}
/* ---- Machine state -------------------------------------------------------------------- */

/* CPUs busy (user+nice+system+irq+softirq) and stolen, averaged over ms. */
static int cpu_sample(uint64_t *busy, uint64_t *steal, uint64_t *total)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return -errno;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 8)
		return -EIO;
	*busy = v[0] + v[1] + v[2] + v[5] + v[6];
	*steal = v[7];
	*total = *busy + *steal + v[3] + v[4];
	return 0;
}

static void background(unsigned ms, double *busy_cpus, double *steal_cpus)
{
	uint64_t b0, s0, t0, b1, s1, t1;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	*busy_cpus = *steal_cpus = -1;
	if (cpu_sample(&b0, &s0, &t0))
		return;
	sleep_ms(ms);
	if (cpu_sample(&b1, &s1, &t1) || t1 <= t0)
		return;
	*busy_cpus = (double)(b1 - b0) / (double)(t1 - t0) * (double)ncpu;
	*steal_cpus = (double)(s1 - s0) / (double)(t1 - t0) * (double)ncpu;
}

static const char *bg_state(double busy)
{
	if (busy < 0)
		return "unknown";
	if (busy < 0.10)
		return "quiet";
	if (busy < 0.50)
		return "noisy";
	return "busy";
}

static pid_t start_spinner(void)
{
	pid_t pid = fork_kid();

	if (pid == 0) {
		volatile uint64_t x = 0;

		/* Anywhere: the scheduler decides whom it shares a CPU with. */
		sched_setaffinity(0, sizeof(g_all_cpus), &g_all_cpus);
		for (;;)
			x++;
	}
	return pid;
}

/* ---- A pass ------------------------------------------------------------------------- */

static const uint64_t dma_sizes_full[] = {4096, 16384, 65536, 262144, 1048576, 4194304};
static const uint64_t dma_sizes_quick[] = {4096, 65536, 1048576};
static const unsigned multi_full[] = {1, 16, 64, 256};
static const unsigned multi_quick[] = {1, 16};

static bool any_selected(const struct bench *b, const char *const *groups, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (selected(b, groups[i]))
			return true;
	return false;
}

static int run_pass(struct bench *b)
{
	static const size_t sizes[] = {1, 2, 4, 8};
	static const char *const dev_groups[] = {
		"mmio.read.1", "mmio.read.2", "mmio.read.4", "mmio.read.8", "mmio.write.1",
		"mmio.write.2", "mmio.write.4", "mmio.write.8", "mmio.posted.4", "mmio.write_multi.4",
		"mmio.mmap.read.4",
		"cfg.read.4", "irq.intx", "irq.msi", "irq.msix", "idle.cpu",
	};
	static const char *const ring_groups[] = {
		"ring.mmio.read.4", "ring.mmio.posted.4", "ring.irq.msi", "ring.idle.cpu",
	};
	const uint64_t *ds = b->o.quick ? dma_sizes_quick : dma_sizes_full;
	size_t nds = b->o.quick ? 3 : 6;
	const unsigned *ms = b->o.quick ? multi_quick : multi_full;
	size_t nms = b->o.quick ? 2 : 4;
	bool need_dev = any_selected(b, dev_groups, sizeof(dev_groups) / sizeof(dev_groups[0]));
	uint64_t start = now_ns();
	pid_t spinner = 0;
	int rc = 0;

	for (size_t i = 0; i < nds && !need_dev; i++) {
		char n[64];

		for (int k = 0; k < 4 && !need_dev; k++) {
			snprintf(n, sizeof(n), "dma.%s.%s.%llu", k & 1 ? "msg" : "shm",
				 k & 2 ? "to_device" : "to_host", (unsigned long long)ds[i]);
			need_dev = selected(b, n);
		}
	}
	background(b->o.quick ? 100 : 500, &b->p->bg_before, &b->p->steal_before);
	if (!strcmp(b->p->load, "spinner")) {
		spinner = start_spinner();
		if (spinner < 0)
			return -errno;
		sleep_ms(50);
	}
	if (need_dev)
		rc = setup_main_device(b, false);
	for (size_t i = 0; !rc && i < 4; i++)
		rc = path_mmio(b, OP_READ, sizes[i]);
	for (size_t i = 0; !rc && i < 4; i++)
		rc = path_mmio(b, OP_WRITE, sizes[i]);
	if (!rc)
		rc = path_mmio(b, OP_CFG, 4);
	if (!rc)
		rc = path_posted(b);
	if (!rc)
		rc = path_write_multi(b);
	if (!rc)
		rc = path_mmap(b);
	for (int shm = 1; shm >= 0 && !rc; shm--)
		for (int th = 1; th >= 0 && !rc; th--)
			for (size_t i = 0; i < nds && !rc; i++)
				rc = path_dma(b, shm, th, ds[i]);
	if (!rc)
		rc = path_irq(b, VPCIE_HOST_IRQ_INTX);
	if (!rc)
		rc = path_irq(b, VPCIE_HOST_IRQ_MSI);
	if (!rc)
		rc = path_irq(b, VPCIE_HOST_IRQ_MSIX);
	if (!rc)
		rc = idle_cost(b);
	teardown_main_device(b);
	/* The same device through the shared-memory ring transport. */
	if (!rc && any_selected(b, ring_groups, sizeof(ring_groups) / sizeof(ring_groups[0]))) {
		rc = setup_main_device(b, true);
		if (!rc)
			rc = path_ring_read(b);
		if (!rc)
			rc = path_ring_posted(b);
		if (!rc)
			rc = path_irq(b, VPCIE_HOST_IRQ_MSI);
		if (!rc)
			rc = idle_cost(b);
		teardown_main_device(b);
	}
	if (!rc)
		rc = path_connect(b);
	for (size_t i = 0; !rc && i < nms; i++)
		rc = path_multi(b, ms[i]);

	if (spinner > 0)
		kid_end(spinner);
	b->p->seconds = (double)(now_ns() - start) / 1e9;
	background(b->o.quick ? 100 : 500, &b->p->bg_after, &b->p->steal_after);
	if (b->o.progress)
		fprintf(stderr, "\r\033[K");
	if (g_stop)
		rc = -EINTR;
	return rc;
}

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

static void print_pass(const struct pass *p)
{
	char v1[32], v2[32], v3[32], v4[32], rt[16], tg[32], also[48];

	printf("\n== pass: %s == machine before: %.2f CPUs busy, %.2f stolen (%s); after: %.2f busy "
	       "(%s); %s; %.1f s\n",
	       p->load, p->bg_before, p->steal_before, bg_state(p->bg_before), p->bg_after,
	       bg_state(p->bg_after),
	       strcmp(p->load, "spinner") ? "no load added" : "one spinner process kept a CPU busy",
	       p->seconds);
	printf("%-26s %11s %11s %12s  %-30s %11s %7s  %-15s %s\n", "path", "p50", "p99", "ops/s",
	       "floor (run alongside)", "floor p50", "ratio", "target", "2nd floor");
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
			if (r->kind == K_LAT)
				snprintf(also, sizeof(also), "%s %.2fx",
					 strstr(p->r[r->floor2].name, "evloop") ? "evloop" : "2nd", r->ratio2);
			else
				snprintf(also, sizeof(also), "%s %.0f%%",
					 strstr(p->r[r->floor2].name, "woken") ? "woken" : "2nd",
					 r->ratio2 * 100);
		}
		/* Many devices: per-op latency in the p50/p99 columns, ops/s after. */
		printf("%-26s %11s %11s %12s  %-30s %11s %7s  %-15s %s\n", r->name,
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
		printf("  %-32s p50 %-11s p99 %-11s %s\n", r->name, fmt_value(v1, sizeof(v1), r, r->p50),
		       fmt_value(v2, sizeof(v2), r, r->p99), r->what);
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
		json_object_object_add(o, "floor_value", f ? jnum(r->fval) : NULL);
		json_object_object_add(o, "ratio", f ? jnum(r->ratio) : NULL);
		json_object_object_add(o, "ratio_kind", json_object_new_string(
								r->kind == K_LAT ? "time" : "throughput"));
		if (r->floor2 >= 0) {
			json_object_object_add(o, "floor2",
					       json_object_new_string(p->r[r->floor2].name));
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

static void print_json(const struct bench *b, struct pass *ps, size_t np)
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
	json_object_object_add(root, "schema", json_object_new_int(1));
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
		"floor.sock.rr.32.36", "floor.spin.rr.32.36", "floor.eventfd", "floor.eventfd.intx",
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
};

static int write_plots(const struct bench *b, struct pass *ps, size_t np)
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

/* ---- Command -------------------------------------------------------------------------- */

static void remove_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vpcie bench [options]\n"
		"Measure every host<->device path of libvpcie (MMIO, config space, DMA, interrupts,\n"
		"connection, many devices) against this machine's floors (AF_UNIX ping-pong,\n"
		"shared-memory spin, memcpy, eventfd) measured in the same run; print each figure\n"
		"with its ratio to its floor.\n\n"
		"  --quick           a few seconds: fewer iterations and sizes (CI smoke test)\n"
		"  --load[=MODE]     idle (default without --load), spinner (--load alone: keep one\n"
		"                    busy-looping process running), or both (two passes)\n"
		"  --json            print JSON on stdout instead of the table\n"
		"  --plot DIR        write latency/bandwidth PNGs (gnuplot) and their data to DIR\n"
		"  --only PATTERNS   comma-separated glob(s) or prefixes of result names,\n"
		"                    e.g. mmio.read.*,irq or dma.shm\n"
		"  --iterations N    samples per latency measurement (default 20000, quick 500)\n"
		"  --no-pin          let the scheduler place processes (default: this process on\n"
		"                    one CPU, devices and floor peers on another)\n"
		"  --device PATH     vpcie-bench-device to run (default: $VPCIE_BENCH_DEVICE,\n"
		"                    next to vpcie, the build tree, then $PATH)\n"
		"  -h, --help        this help\n\n"
		"Methodology and the meaning of each result: docs/bench.md.\n");
}

int cmd_bench(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"load", optional_argument, NULL, 'l'},
		{"json", no_argument, NULL, 'j'},
		{"plot", required_argument, NULL, 'p'},
		{"only", required_argument, NULL, 'o'},
		{"iterations", required_argument, NULL, 'i'},
		{"device", required_argument, NULL, 'd'},
		{"no-pin", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct bench b;
	struct pass passes[2];
	struct sigaction sa;
	size_t np = 0;
	int c, rc = 0, status;

	memset(&b, 0, sizeof(b));
	memset(passes, 0, sizeof(passes));
	b.o.load = LOAD_IDLE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'q': b.o.quick = true; break;
		case 'l':
			if (!optarg || !strcmp(optarg, "spinner"))
				b.o.load = LOAD_SPIN;
			else if (!strcmp(optarg, "idle"))
				b.o.load = LOAD_IDLE;
			else if (!strcmp(optarg, "both"))
				b.o.load = LOAD_BOTH;
			else {
				fprintf(stderr, "vpcie bench: --load=%s: idle, spinner or both\n", optarg);
				return 2;
			}
			break;
		case 'j': b.o.json = true; break;
		case 'p': b.o.plot_dir = optarg; break;
		case 'o': b.o.only = optarg; break;
		case 'i': {
			char *end;

			b.o.iterations = strtol(optarg, &end, 0);
			if (*end || b.o.iterations < 1) {
				fprintf(stderr, "vpcie bench: --iterations: a positive number\n");
				return 2;
			}
			break;
		}
		case 'd': b.o.device = optarg; break;
		case 'n': b.o.no_pin = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	b.o.progress = isatty(STDERR_FILENO);
	pin_setup(!b.o.no_pin);
	b.lat_iters = b.o.iterations ? b.o.iterations : b.o.quick ? 500 : 20000;
	b.irq_iters = b.o.iterations ? b.o.iterations : b.o.quick ? 200 : 5000;
	b.conn_iters = b.o.iterations ? b.o.iterations : b.o.quick ? 30 : 500;
	b.posted_count = b.o.quick ? 20000 : 100000;
	b.posted_runs = b.o.quick ? 3 : 9;
	b.budget_ns = b.o.quick ? 150000000ull : 2500000000ull;
	b.dma_bytes = b.o.quick ? (16u << 20) : (256u << 20);
	b.warm = b.o.quick ? 20 : 200;
	find_device(&b);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(b.tmp, sizeof(b.tmp), "/tmp/vpcie-bench-XXXXXX");
	if (!mkdtemp(b.tmp)) {
		perror("vpcie bench: mkdtemp");
		return 1;
	}
	if (b.o.load & LOAD_IDLE)
		passes[np++].load = "idle";
	if (b.o.load & LOAD_SPIN)
		passes[np++].load = "spinner";
	for (size_t i = 0; i < np && !rc; i++) {
		b.p = &passes[i];
		rc = run_pass(&b);
		if (rc < 0)
			teardown_main_device(&b); /* the other children go below */
	}
	kids_end_all();
	remove_tmp(b.tmp);
	b.p = NULL;

	if (rc == -EINTR || g_stop) {
		fprintf(stderr, "vpcie bench: interrupted\n");
		status = 130;
	} else if (rc < 0) {
		fprintf(stderr, "vpcie bench: failed: %s\n", strerror(-rc));
		status = 1;
	} else {
		status = 0;
	}
	if (!status) {
		if (b.o.json) {
			print_json(&b, passes, np);
		} else {
			printf("vpcie bench%s: device %s; ", b.o.quick ? " --quick" : "", b.devbin);
			if (g_pinned)
				printf("this process on CPU %d, devices and floor peers on CPU %d\n",
				       g_host_cpu, g_peer_cpu);
			else
				printf("placement left to the scheduler\n");
			for (size_t i = 0; i < np; i++)
				print_pass(&passes[i]);
		}
		if (b.o.plot_dir && write_plots(&b, passes, np) < 0)
			status = 1;
	}
	for (size_t i = 0; i < np; i++) {
		for (size_t k = 0; k < passes[i].n; k++)
			sm_free(&passes[i].r[k].s);
		free(passes[i].r);
	}
	return status;
}
