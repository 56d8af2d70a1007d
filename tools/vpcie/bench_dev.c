/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: the benchmark device: finding the program, connecting to it
 * through the host API, setting up the device the MMIO, DMA and interrupt
 * paths share, and the CPU it uses while its host is quiet.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "bench_priv.h"

/* ---- The device ----------------------------------------------------------------- */

static bool executable_file(const char *p)
{
	struct stat st;

	return !stat(p, &st) && S_ISREG(st.st_mode) && !access(p, X_OK);
}

/* --device, $VPCIE_BENCH_DEVICE, next to this program (installed), the
 * build tree (tools/vpcie/vpcie -> bench/vpcie-bench-device), then $PATH. */
void find_device(struct bench *b)
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

/* Socket figures use the socket whatever $VPCIE_HOST_RING says; the ring
 * figures ask for the ring; DEV_NOPOLL turns the host's polling off. */
/* trace: record a trace into this file (NULL: as $VPCIE_TRACE says);
 * psk_path: the key of a DEV_TLS device. */
static struct vpcie_host *open_dev(const char *sock, enum dev_mode mode, const char *trace,
				   const char *psk_path, int *err)
{
	struct vpcie_host_opts ho;

	vpcie_host_opts_defaults(&ho);
	if (trace)
		ho.trace_path = trace;
	ho.connect_timeout_ms = 10000;
	ho.log_level = VPCIE_LOG_ERROR;
	ho.ring = mode == DEV_RING;
	if (mode == DEV_NOPOLL || mode == DEV_TCP || mode == DEV_TLS)
		ho.poll_max_us = 0;
	if (mode == DEV_TLS)
		ho.psk_file = psk_path;
	return vpcie_host_open(sock, &ho, err);
}

struct vpcie_host *open_device_traced(const char *sock, enum dev_mode mode, const char *trace,
				      int *err)
{
	return open_dev(sock, mode, trace, NULL, err);
}

struct vpcie_host *open_device(const char *sock, enum dev_mode mode, int *err)
{
	return open_dev(sock, mode, NULL, NULL, err);
}

/* A TCP port on NET_ADDR that is free now (the device binds it next). */
static int free_tcp_port(const struct bench *b)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = netns_socket(b, SOCK_STREAM | SOCK_CLOEXEC), rc;

	if (fd < 0)
		return fd;
	if (inet_pton(AF_INET, NET_ADDR(b), &sa.sin_addr) != 1) {
		close(fd);
		return -EINVAL;
	}
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
			     getsockname(fd, (struct sockaddr *)&sa, &sl) < 0
		     ? -errno
		     : ntohs(sa.sin_port);
	close(fd);
	return rc;
}

int dev_write(struct bench *b, unsigned reg, uint32_t v)
{
	return vpcie_host_region_write(b->h, BENCH_CTRL_BAR, reg, &v, sizeof(v));
}

/* The device the MMIO, DMA and interrupt paths use: DEV_SOCKET (the
 * defaults), DEV_NOPOLL (both sides with polling off, results named
 * *.nopoll) or DEV_RING (the shared-memory ring transport, ring.*). */
int setup_main_device(struct bench *b, enum dev_mode mode)
{
	static const char *const socks[] = {"dev", "nopoll", "ring"};
	static const char *const prefixes[] = {"", "", "ring.", "tcp.", "tls."};
	bool ring = mode == DEV_RING, net = mode == DEV_TCP || mode == DEV_TLS;
	int err = 0, rc;
	uint32_t id;

	b->mode = mode;
	b->ring = ring;
	b->prefix = prefixes[mode];
	b->suffix = mode == DEV_NOPOLL ? ".nopoll" : "";
	b->polling = mode == DEV_SOCKET && b->poll_ns;
	b->disc = ring ? DISC_SPIN : b->polling ? DISC_POLL : DISC_BLOCK;
	if (net) {
		int port = free_tcp_port(b);

		if (port < 0)
			return port;
		rc = mode == DEV_TLS ? net_make_psk(b) : 0;
		if (rc)
			return rc;
		snprintf(b->sock, sizeof(b->sock), "tcp:%s:%d", NET_ADDR(b), port);
	} else {
		snprintf(b->sock, sizeof(b->sock), "%s/%s%s.sock", b->tmp, socks[mode],
			 b->trace ? "-traced" : "");
	}
	b->dev_pid = spawn_device(b, b->sock, mode);
	if (b->dev_pid < 0)
		return -errno;
	b->h = open_dev(b->sock, mode, b->trace, b->psk_path, &err);
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
	if (net) {
		/* No mapping over TCP: the statistics are read by messages. */
		b->st_mapped = false;
		b->st = &b->st_copy;
		rc = stats_sync(b);
		if (rc)
			return rc;
	} else {
		b->bar2 = vpcie_host_region_map(b->h, BENCH_MEM_BAR);
		if (!b->bar2)
			return -errno;
		b->st_mapped = true;
		b->st = (volatile struct bench_stats *)b->bar2;
		b->shm = vpcie_host_mem_alloc(b->h, BENCH_DMA_MAX, SHM_IOVA, VPCIE_HOST_MEM_SHARED);
		if (!b->shm)
			return -errno;
		memset(vpcie_host_mem_ptr(b->shm), 0x11, BENCH_DMA_MAX);
	}
	b->msgmem = vpcie_host_mem_alloc(b->h, BENCH_DMA_MAX, MSG_IOVA, 0);
	if (!b->msgmem)
		return -errno;
	memset(vpcie_host_mem_ptr(b->msgmem), 0x22, BENCH_DMA_MAX);
	return 0;
}

int stats_sync(struct bench *b)
{
	if (b->st_mapped)
		return 0;
	return vpcie_host_region_read(b->h, BENCH_MEM_BAR, 0, &b->st_copy, sizeof(b->st_copy));
}


void teardown_main_device(struct bench *b)
{
	if (b->h) {
		vpcie_host_close(b->h); /* frees the host memory too */
		b->h = NULL;
	}
	b->shm = b->msgmem = NULL;
	b->st = NULL;
	b->st_mapped = false;
	b->bar2 = NULL;
	kid_end(b->dev_pid);
	b->dev_pid = 0;
	b->mode = DEV_SOCKET;
	b->polling = false;
	b->ring = false;
	b->prefix = "";
	b->suffix = "";
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
int idle_cost(struct bench *b)
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
		t0 = vpcie_now_ns();
		rc = vpcie_host_region_read(b->h, BENCH_NULL_BAR, NULL_OFF, &v, sizeof(v));
		if (rc)
			return rc;
		sleep_ms(window_ms);
		t1 = vpcie_now_ns();
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
