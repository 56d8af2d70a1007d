/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: floors that talk through the kernel: AF_UNIX request/reply,
 * one-way streams, eventfd wake-ups, connect(). Each floor is a peer process
 * forked from this one and a step function that times one operation.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_priv.h"

int read_full(int fd, void *buf, size_t len)
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

int write_full(int fd, const void *buf, size_t len)
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
int exchange(int fd, void *buf, size_t req, size_t resp)
{
	int rc = write_full(fd, buf, req);

	return rc ? rc : read_full(fd, buf, resp);
}

/* -- AF_UNIX request/reply: the peer reads req bytes and answers resp bytes;
 *    a step is `chunks` exchanges. */
static int sock_rr_step(struct runner *r, double *out)
{
	uint64_t a = vpcie_now_ns();

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
	*out = (double)(vpcie_now_ns() - a) / (r->div > 0 ? r->div : 1);
	return 0;
}

int sock_rr_init2(struct runner *r, struct bench *b, size_t req, size_t resp,
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

int sock_rr_init(struct runner *r, struct bench *b, size_t req, size_t resp,
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
		*out = (double)(vpcie_now_ns() - atomic_load_explicit(&pg->t, memory_order_relaxed));
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

int efd_init(struct runner *r, struct bench *b, bool intx)
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
			atomic_store_explicit(&pg->t, vpcie_now_ns(), memory_order_relaxed);
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
	uint64_t t0 = vpcie_now_ns();
	uint8_t ack;
	int rc = 0;

	for (long k = 0; k < r->count && !rc; k++)
		rc = write_full(r->fd, r->buf, r->req);
	if (!rc)
		rc = read_full(r->fd, &ack, 1);
	if (!rc)
		*out = (double)r->count * 1e9 / (double)(vpcie_now_ns() - t0);
	return rc;
}

int oneway_init(struct runner *r, struct bench *b, size_t msg, long count)
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

/* -- connect() to a listening AF_UNIX socket plus one 32-byte round trip. */
static int connect_step(struct runner *r, double *out)
{
	uint64_t a = vpcie_now_ns();
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0 || connect(fd, (struct sockaddr *)&r->sa, sizeof(r->sa)) < 0)
		rc = -errno;
	if (!rc)
		rc = exchange(fd, r->buf, REQ_REGION, REQ_REGION);
	if (!rc)
		*out = (double)(vpcie_now_ns() - a);
	if (fd >= 0)
		close(fd);
	return rc;
}

static void connect_fini(struct runner *r)
{
	peer_fini(r);
	unlink(r->sa.sun_path);
}

int connect_init(struct runner *r, struct bench *b)
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
