/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: floors in memory: memcpy into and out of a memfd mapping
 * (back to back, or in a just-woken process), a request/reply exchange with
 * both processes spinning on a shared page, and a one-way stream through the
 * bare vpcie_ring primitives.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vpcie/ring.h>

#include "bench_priv.h"

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
	uint64_t a = vpcie_now_ns();

	copy_once(r->priv, r->map, r->size, r->to_host);
	*out = (double)(vpcie_now_ns() - a);
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
			a = vpcie_now_ns();
			copy_once(r->priv, r->map, size, to_host);
			t = vpcie_now_ns() - a;
			if (write_full(sv[1], &t, sizeof(t)))
				_exit(0);
		}
	}
	return peer_started(r, sv, woken_step);
}

int memcpy_floor(struct runner *r, struct floor_spec *fs, struct bench *b, uint64_t size,
		 bool to_host, bool woken)
{
	const char *dir = to_host ? "to_host" : "to_device";

	snprintf(fs->name, sizeof(fs->name), "floor.memcpy%s.%s.%llu", woken ? "_woken" : "", dir,
		 (unsigned long long)size);
	if (woken)
		snprintf(fs->what, sizeof(fs->what),
			 "the same memcpy in a process woken through a socket before each copy, as "
			 "the device is");
	else
		snprintf(fs->what, sizeof(fs->what), "memcpy %s, %llu B, back to back in one process",
			 to_host ? "private -> memfd MAP_SHARED" : "memfd MAP_SHARED -> private",
			 (unsigned long long)size);
	fs->kind = K_BW;
	fs->size = size;
	fs->disc = woken ? DISC_BLOCK : DISC_NONE;
	return woken ? woken_init(r, b, size, to_host) : memcpy_init(r, b, size, to_host);
}

/* -- Both processes spinning on a shared memfd page (no system call).
 *    SPIN_NOTIFY: the peer also stamps the time just before it answers, and
 *    the sample is our wake-up minus that stamp (a one-way notification, as
 *    the eventfd floor measures it). */
struct spin_page {
	_Alignas(64) _Atomic uint64_t req_seq;
	uint8_t req[SPIN_MSG_MAX];
	_Alignas(64) _Atomic uint64_t resp_seq;
	_Atomic uint64_t stamp;
	uint8_t resp[SPIN_MSG_MAX];
	_Alignas(64) _Atomic int quit;
};

static int spin_step(struct runner *r, double *out)
{
	struct spin_page *pg = r->page;
	uint64_t a = vpcie_now_ns(), seq = ++r->k, spins = 0;

	memcpy(pg->req, r->buf, r->req);
	atomic_store_explicit(&pg->req_seq, seq, memory_order_release);
	while (atomic_load_explicit(&pg->resp_seq, memory_order_acquire) != seq) {
		vpcie_cpu_relax();
		if (++spins % 65536 == 0 && (g_stop || vpcie_now_ns() - a > 2000000000ull))
			return g_stop ? -EINTR : -ETIMEDOUT;
	}
	memcpy(r->buf, pg->resp, r->resp);
	if (r->flags & SPIN_NOTIFY)
		*out = (double)(vpcie_now_ns() - atomic_load_explicit(&pg->stamp, memory_order_relaxed));
	else
		*out = (double)(vpcie_now_ns() - a);
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
 * SPIN_POLITE: the peer spins only while requests come (for SPIN_POLITE_NS after
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

static int spin_init(struct runner *r, struct bench *b, size_t req, size_t resp,
		     unsigned flags)
{
	bool polite = flags & SPIN_POLITE, notify = flags & SPIN_NOTIFY;
	int fd, rc;

	runner_zero(r, b);
	if (req > SPIN_MSG_MAX || resp > SPIN_MSG_MAX)
		return -EINVAL;
	r->req = req;
	r->resp = resp;
	r->flags = flags;
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
		uint64_t last = 0, busy = vpcie_now_ns();

		for (;;) {
			uint64_t sq;
			unsigned spins = 0;

			while ((sq = atomic_load_explicit(&pg->req_seq, memory_order_acquire)) == last) {
				if (atomic_load_explicit(&pg->quit, memory_order_relaxed))
					_exit(0);
				if (polite && ++spins % 1024 == 0 && vpcie_now_ns() - busy > SPIN_POLITE_NS)
					nap();
				vpcie_cpu_relax();
			}
			if (polite)
				busy = vpcie_now_ns();
			last = sq;
			memcpy(local, pg->req, req);
			memcpy(pg->resp, local, resp);
			if (notify)
				atomic_store_explicit(&pg->stamp, vpcie_now_ns(), memory_order_relaxed);
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

int spin_floor(struct runner *r, struct floor_spec *fs, struct bench *b, size_t req, size_t resp,
	       unsigned flags)
{
	if (flags & SPIN_NOTIFY) {
		snprintf(fs->name, sizeof(fs->name), "floor.spin.notify");
		snprintf(fs->what, sizeof(fs->what),
			 "one-way notification through a shared memfd page: the peer, spinning, "
			 "stamps the time and bumps a counter our spin loop watches");
	} else {
		snprintf(fs->name, sizeof(fs->name), "floor.spin.rr.%zu.%zu", req, resp);
		snprintf(fs->what, sizeof(fs->what),
			 "the same exchange with both processes spinning on a shared memfd page "
			 "(measured alone, and alongside ring paths with a peer that naps when idle)");
	}
	fs->kind = K_LAT;
	fs->size = 0;
	fs->disc = DISC_SPIN;
	return spin_init(r, b, req, resp, flags);
}

/* -- One-way stream through a shared-memory ring of 64-byte slots (the
 *    vpcie/ring.h primitives, no runtime around them): we push count slots,
 *    a polite peer pops them; a run ends when the peer has taken all. */
#define RING_FLOOR_SLOTS 1024u

static int ringow_step(struct runner *r, double *out)
{
	struct vpcie_ring *ring = (struct vpcie_ring *)r->buf;
	struct vpcie_ring_slot sl;
	uint64_t t0 = vpcie_now_ns();
	unsigned long spins = 0;

	memset(&sl, 0, sizeof(sl));
	sl.op = VPCIE_RING_OP_WRITE;
	sl.flags = VPCIE_RING_F_POSTED;
	sl.count = 4;
	sl.offset = NULL_OFF;
	for (long k = 0; k < r->count; k++) {
		sl.id = (uint16_t)k;
		while (vpcie_ring_push(ring, &sl)) {
			vpcie_cpu_relax();
			if (++spins % 65536 == 0 && (g_stop || vpcie_now_ns() - t0 > 2000000000ull))
				return g_stop ? -EINTR : -ETIMEDOUT;
		}
	}
	while (vpcie_ring_pending(ring) > 0) {
		vpcie_cpu_relax();
		if (++spins % 65536 == 0 && (g_stop || vpcie_now_ns() - t0 > 2000000000ull))
			return g_stop ? -EINTR : -ETIMEDOUT;
	}
	*out = (double)r->count * 1e9 / (double)(vpcie_now_ns() - t0);
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
		uint64_t busy = vpcie_now_ns();

		vpcie_ring_open(&c, r->map, len, RING_FLOOR_SLOTS, VPCIE_RING_H2D, false);
		for (unsigned spins = 0;; spins++) {
			if (vpcie_ring_pop(&c, &sl)) {
				/* Look at it, as a device would. */
				__asm__ __volatile__("" : : "r"(sl.offset + sl.count) : "memory");
				busy = vpcie_now_ns();
				continue;
			}
			if (spins % 1024 == 0 && vpcie_now_ns() - busy > SPIN_POLITE_NS)
				nap();
			vpcie_cpu_relax();
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

int ringow_floor(struct runner *r, struct floor_spec *fs, struct bench *b, long count)
{
	snprintf(fs->name, sizeof(fs->name), "floor.spin.oneway.64");
	snprintf(fs->what, sizeof(fs->what),
		 "one-way stream of 64 B slots through the vpcie_ring primitives between two "
		 "processes, the reader spinning (a run ends when it has taken all)");
	fs->kind = K_RATE;
	fs->size = 0;
	fs->disc = DISC_SPIN;
	return ringow_init(r, b, count);
}
