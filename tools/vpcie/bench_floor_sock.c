/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: floors that talk through the kernel: AF_UNIX request/reply,
 * one-way streams, eventfd wake-ups, connect(). Each floor is a peer process
 * forked from this one and a step function that times one operation; the
 * first three wait for the other side blocking, as an event loop, or
 * polling first as the runtime does (enum wait).
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

/*
 * How a floor waits for the other side, as the runtime does in each mode:
 * W_BLOCK sleeps in read(); W_EVLOOP sleeps in poll() (us, as the host) or
 * epoll_wait() (the peer, as the device); W_POLL first polls without
 * blocking for up to poll_ns, as the runtime's adaptive polling does at its
 * cap (lib/util/spin.h: the host spins on poll(..., 0), the device on
 * epoll_wait(..., 0)), then sleeps as W_EVLOOP. ep >= 0: wait on that epoll
 * set, else poll() fd. Returns 0 once fd is readable (W_BLOCK: at once, the
 * read blocks), -errno on failure.
 */
static int ready(int fd, int ep, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct epoll_event ev;

	return ep >= 0 ? epoll_wait(ep, &ev, 1, timeout_ms) : poll(&p, 1, timeout_ms);
}

static int wait_in(int fd, int ep, enum wait w, uint64_t poll_ns)
{
	int n = 0;

	if (w == W_BLOCK)
		return 0;
	if (w == W_POLL && poll_ns) {
		uint64_t until = vpcie_now_ns() + poll_ns;

		do
			n = ready(fd, ep, 0);
		while (n == 0 && vpcie_now_ns() < until);
	}
	while (n <= 0) {
		if (n < 0 && (errno != EINTR || g_stop))
			return -errno;
		n = ready(fd, ep, -1);
	}
	return 0;
}

/* In a peer: the epoll set it waits on (-1 for W_BLOCK); exits on failure. */
static int peer_epoll(int fd, enum wait w)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int ep;

	if (w == W_BLOCK)
		return -1;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		_exit(1);
	return ep;
}

static const char *wait_discipline(enum wait w)
{
	return w == W_POLL ? DISC_POLL : w == W_MIXED ? DISC_MIXED : DISC_BLOCK;
}

/* Suffix of the floor's kind in its name, and how it waits, for `what`. */
static const char *const wait_tag[] = {"", "_evloop", "_poll", "_mixed"};
static const char *const wait_how[] = {
	"blocking write/read",
	"waiting as event loops do (us poll(), the peer epoll_wait())",
	("both polling without blocking (poll/epoll_wait with timeout 0, up to the runtime's "
	 "polling cap) before waiting as event loops do"),
	"us blocking in read(), the peer polling as the runtime does",
};

/* -- AF_UNIX request/reply: the peer reads req bytes and answers resp bytes;
 *    a step is `chunks` exchanges. */
static int sock_rr_step(struct runner *r, double *out)
{
	uint64_t a = vpcie_now_ns();

	for (unsigned c = 0; c < r->chunks; c++) {
		int rc = write_full(r->fd, r->buf, r->req);

		if (!rc)
			rc = wait_in(r->fd, -1, r->wait, r->poll_ns);
		if (!rc)
			rc = read_full(r->fd, r->buf, r->resp);
		if (rc)
			return rc;
	}
	*out = (double)(vpcie_now_ns() - a) / (r->div > 0 ? r->div : 1);
	return 0;
}

static int sock_rr_init(struct runner *r, struct bench *b, size_t req, size_t resp,
			unsigned chunks, enum wait wait)
{
	size_t big = req > resp ? req : resp;
	enum wait w = wait == W_MIXED ? W_POLL : wait; /* the peer's */
	int sv[2];

	runner_zero(r, b);
	r->req = req;
	r->resp = resp;
	r->chunks = chunks;
	r->wait = wait == W_MIXED ? W_BLOCK : wait;
	r->poll_ns = b->poll_ns;
	r->buf = malloc(big);
	if (!r->buf)
		return -ENOMEM;
	memset(r->buf, 0x5a, big);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(r->buf);
		return -errno;
	}
	r->pid = fork_kid();
	if (r->pid == 0) {
		/* As the device's loop: wait, read, answer; with an event loop,
		 * look again without blocking (the device reads until EAGAIN). */
		int ep = peer_epoll(sv[1], w);
		uint8_t c;

		close(sv[0]);
		for (;;) {
			if (wait_in(sv[1], ep, w, r->poll_ns) || read_full(sv[1], r->buf, req) ||
			    write_full(sv[1], r->buf, resp))
				_exit(0);
			if (w != W_BLOCK && recv(sv[1], &c, 1, MSG_DONTWAIT | MSG_PEEK) == 0)
				_exit(0);
		}
	}
	return peer_started(r, sv, sock_rr_step);
}

int sock_rr_floor(struct runner *r, struct floor_spec *fs, struct bench *b, const char *kind,
		  const char *tail, size_t req, size_t resp, unsigned chunks, enum wait w)
{
	snprintf(fs->name, sizeof(fs->name), "floor.sock.%s%s.%s", kind, wait_tag[w], tail);
	if (chunks > 1)
		snprintf(fs->what, sizeof(fs->what),
			 "AF_UNIX request/reply between two processes, %s, %u x (%zu B request, "
			 "%zu B reply)", wait_how[w], chunks, req, resp);
	else
		snprintf(fs->what, sizeof(fs->what),
			 "AF_UNIX ping-pong between two processes, %s, %zu B request, %zu B reply",
			 wait_how[w], req, resp);
	fs->kind = K_LAT;
	fs->size = 0;
	fs->disc = wait_discipline(w);
	return sock_rr_init(r, b, req, resp, chunks, w);
}

int sock_rr_floors(struct runner *f0, struct runner *f1, struct spec *sp, struct bench *b,
		   bool poll, const char *kind, const char *tail, size_t req, size_t resp,
		   unsigned chunks)
{
	int rc = sock_rr_floor(f0, &sp->f[0], b, kind, tail, req, resp, chunks,
			       poll ? W_POLL : W_BLOCK);

	if (rc)
		return rc;
	rc = sock_rr_floor(f1, &sp->f[1], b, kind, tail, req, resp, chunks,
			   poll ? W_BLOCK : W_EVLOOP);
	if (rc)
		runner_fini(f0);
	return rc;
}

/* -- eventfd wake-up: the peer, woken by us, stamps CLOCK_MONOTONIC and
 *    writes an eventfd we wait on; the sample is wake - stamp. With intx,
 *    we then do the 36/16-byte round trip vfio INTx needs to unmask. */
struct efd_page {
	_Atomic uint64_t t;
	_Atomic int quit;
};

static int efd_step(struct runner *r, double *out)
{
	struct efd_page *pg = r->page;
	uint64_t one = 1, v, t;
	int rc = write_full(r->fd, &one, sizeof(one));

	if (!rc)
		rc = wait_in(r->fd2, -1, r->wait, r->poll_ns);
	if (!rc)
		rc = read_full(r->fd2, &v, sizeof(v));
	t = vpcie_now_ns();
	if (!rc && r->req) {
		rc = write_full(r->fd3, r->buf, r->req);
		if (!rc)
			rc = wait_in(r->fd3, -1, r->wait, r->poll_ns);
		if (!rc)
			rc = read_full(r->fd3, r->buf, r->resp);
		t = vpcie_now_ns();
	}
	if (!rc)
		*out = (double)(t - atomic_load_explicit(&pg->t, memory_order_relaxed));
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

static int efd_init(struct runner *r, struct bench *b, bool intx, enum wait w)
{
	int sv[2] = {-1, -1}, rc;

	runner_zero(r, b);
	r->wait = w;
	r->poll_ns = b->poll_ns;
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
		int ep = peer_epoll(r->fd, w), ep3 = intx ? peer_epoll(sv[1], w) : -1;
		uint64_t one = 1, v;

		for (;;) {
			if (wait_in(r->fd, ep, w, r->poll_ns))
				_exit(0);
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
			if (intx && (wait_in(sv[1], ep3, w, r->poll_ns) ||
				     read_full(sv[1], r->buf, REQ_SET_IRQS) ||
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

int efd_floor(struct runner *r, struct floor_spec *fs, struct bench *b, bool intx, enum wait w)
{
	snprintf(fs->name, sizeof(fs->name), "floor.eventfd%s%s", wait_tag[w], intx ? ".intx" : "");
	snprintf(fs->what, sizeof(fs->what),
		 "eventfd between two processes: the peer stamps the time and writes it, our "
		 "read() returns; %s%s", w == W_POLL ? "both polling first as the runtime does"
		 : "blocking", intx ? "; then a 36/16 B AF_UNIX round trip (the UNMASK vfio "
		 "INTx needs)" : "");
	fs->kind = K_LAT;
	fs->size = 0;
	fs->disc = wait_discipline(w);
	return efd_init(r, b, intx, w);
}

/* -- One-way stream of msg-byte messages: we write `batch` messages per
 *    write() (1: one per message), the peer reads in 64 KiB gulps and
 *    acknowledges each run of `count`; a step is a run, its sample ops/s. */
static int stream_step(struct runner *r, double *out)
{
	uint64_t t0 = vpcie_now_ns();
	uint8_t ack;
	int rc = 0;

	for (long k = 0; k < r->count && !rc; k += (long)r->chunks) {
		long n = r->count - k < (long)r->chunks ? r->count - k : (long)r->chunks;

		rc = write_full(r->fd, r->buf, (size_t)n * r->req);
	}
	if (!rc)
		rc = wait_in(r->fd, -1, r->wait, r->poll_ns);
	if (!rc)
		rc = read_full(r->fd, &ack, 1);
	if (!rc)
		*out = (double)r->count * 1e9 / (double)(vpcie_now_ns() - t0);
	return rc;
}

static int stream_init(struct runner *r, struct bench *b, size_t msg, long count,
		       unsigned batch, enum wait w)
{
	int sv[2];

	runner_zero(r, b);
	r->req = msg;
	r->count = count;
	r->chunks = batch ? batch : 1;
	r->wait = w;
	r->poll_ns = b->poll_ns;
	r->buf = calloc(r->chunks, msg);
	if (!r->buf)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(r->buf);
		return -errno;
	}
	r->pid = fork_kid();
	if (r->pid == 0) {
		static uint8_t in[65536];
		int ep = peer_epoll(sv[1], w);

		close(sv[0]);
		for (;;) {
			size_t got = 0;

			while (got < (size_t)count * msg) {
				ssize_t n;

				if (wait_in(sv[1], ep, w, r->poll_ns))
					_exit(0);
				n = read(sv[1], in, sizeof(in));
				if (n <= 0)
					_exit(0);
				got += (size_t)n;
			}
			if (write(sv[1], "k", 1) != 1)
				_exit(0);
		}
	}
	return peer_started(r, sv, stream_step);
}

int stream_floor(struct runner *r, struct floor_spec *fs, struct bench *b, long count,
		 unsigned batch, enum wait w)
{
	if (batch > 1) {
		snprintf(fs->name, sizeof(fs->name), "floor.sock.batch%s.%u", wait_tag[w], POST_MSG);
		snprintf(fs->what, sizeof(fs->what),
			 "AF_UNIX one-way stream, %u x %u B messages per write() (%u B, as the host "
			 "runtime batches posted writes), the reader gulps 64 KiB; %s", batch, POST_MSG,
			 batch * POST_MSG, wait_how[w]);
	} else {
		snprintf(fs->name, sizeof(fs->name), "floor.sock.oneway%s.%u", wait_tag[w], POST_MSG);
		snprintf(fs->what, sizeof(fs->what),
			 "AF_UNIX one-way stream, one write() per %u B message, the reader gulps "
			 "64 KiB; %s", POST_MSG, wait_how[w]);
	}
	fs->kind = K_RATE;
	fs->size = 0;
	fs->disc = wait_discipline(w);
	return stream_init(r, b, POST_MSG, count, batch, w);
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

int connect_floor(struct runner *r, struct floor_spec *fs, struct bench *b)
{
	snprintf(fs->name, sizeof(fs->name), "floor.connect");
	snprintf(fs->what, sizeof(fs->what),
		 "AF_UNIX connect() + one 32 B round trip with a listening process");
	fs->kind = K_LAT;
	fs->size = 0;
	fs->disc = DISC_BLOCK;
	return connect_init(r, b);
}
