/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: the processes around the measurements. Children (devices,
 * floor peers, the spinner) are tracked so that a signal or an error ends
 * them all; every peer is pinned to the peer CPU. Also the machine's
 * background load (/proc/stat) and the run's temporary directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_priv.h"

/* ---- Child processes (devices, floor peers, the spinner) ------------------ */

static volatile pid_t g_kids[MAX_KIDS];
volatile sig_atomic_t g_stop;

/*
 * CPU placement. The scheduler places a ping-pong pair on one CPU or on two
 * depending on history (a freshly forked peer lands next to its parent, a
 * long-lived device wherever load balancing left it), and the two cost very
 * different amounts, so a floor and a path would not be compared like for
 * like. By default this process runs on one CPU and every peer (devices,
 * floor peers) on another; --no-pin leaves placement to the scheduler.
 */
static cpu_set_t g_all_cpus, g_peer_cpus;
bool g_pinned;
int g_host_cpu = -1, g_peer_cpu = -1;

void pin_setup(bool want)
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

void on_signal(int sig)
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

void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !g_stop)
		;
}

/* Wait for pid (already signalled or ending on its own); SIGKILL after 2 s. */
void kid_reap(pid_t pid)
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

void kid_end(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	kid_reap(pid);
}

void kids_end_all(void)
{
	for (int i = 0; i < MAX_KIDS; i++)
		if (g_kids[i] > 0)
			kill(g_kids[i], SIGTERM);
	for (int i = 0; i < MAX_KIDS; i++)
		if (g_kids[i] > 0)
			kid_reap(g_kids[i]);
}

/* fork() for a floor peer or the spinner: dies with us, default signals. */
pid_t fork_kid(void)
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

/* A device process on sock; DEV_NOPOLL: with its adaptive polling off. */
pid_t spawn_device(struct bench *b, const char *sock, enum dev_mode mode)
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
		if (b->veth && netns_enter(b) < 0)
			_exit(126);
		if (mode == DEV_NOPOLL || mode == DEV_TCP || mode == DEV_TLS)
			setenv("VPCIE_POLL_US", "0", 1);
		{
			char *argv[8];
			int n = 0;

			argv[n++] = b->devbin;
			argv[n++] = "--listen";
			argv[n++] = (char *)sock;
			if (mode == DEV_TLS) {
				argv[n++] = "--psk-file";
				argv[n++] = b->psk_path;
			}
			if (b->trace) {
				argv[n++] = "--trace";
				argv[n++] = (char *)b->trace;
			}
			argv[n] = NULL;
			execvp(b->devbin, argv);
		}
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

void background(unsigned ms, double *busy_cpus, double *steal_cpus)
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

const char *bg_state(double busy)
{
	if (busy < 0)
		return "unknown";
	if (busy < 0.10)
		return "quiet";
	if (busy < 0.50)
		return "noisy";
	return "busy";
}

pid_t start_spinner(void)
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

void remove_tmp(const char *dir)
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
