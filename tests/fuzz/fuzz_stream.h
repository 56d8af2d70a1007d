/* SPDX-License-Identifier: MIT */
/*
 * An in-memory socketpair for fuzz targets that play the peer in the same
 * thread as the runtime under test: no thread, no wake-ups, no system call
 * per message. Two ends (struct vpcie_stream_ops, vpcie/transport.h) over two
 * byte queues; each end goes under a vpcie_chan_new_stream() channel.
 *
 * fds sent with bytes are duplicated (the sender keeps its own, as with
 * SCM_RIGHTS) and handed over by the receive that returns the last byte of
 * the send that carried them, as Linux ends a recvmsg() (see
 * lib/transport/chan.c). An end that closes or hangs up makes the other
 * end's receives return 0 once the queued bytes are read, and its sends fail
 * with -EPIPE; one that shuts down writing (shutdown(SHUT_WR)) only the
 * former.
 *
 * Hooks let the fake peer run inside the runtime's own calls: on_send after
 * bytes were queued (the peer answers a message at once), on_pending when the
 * runtime asks whether bytes are buffered (vpcie_chan_has_buffered(): the
 * runtimes ask before every wait, so a peer serving from it answers before
 * the runtime would block). An end whose peer hung up reports one pending
 * byte, so the runtime reads the end of the stream instead of waiting.
 *
 * poll_fd() is an eventfd nobody writes (shared by all pairs, never closed):
 * a runtime only polls when nothing is buffered, and then nothing will come
 * until its timeout.
 */
#ifndef VPCIE_FUZZ_STREAM_H
#define VPCIE_FUZZ_STREAM_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <vpcie/protocol.h>
#include <vpcie/transport.h>

#define FS_MARKS 16u
#define FS_MAX_QUEUED (4u << 20)

/* fds that went with the send ending at stream offset end. */
struct fs_mark {
	uint64_t end;
	unsigned n;
	int fds[16];
};

/* Bytes one end sent and the other has not read: stream offsets [rd, wr). */
struct fs_queue {
	uint8_t *buf;
	size_t cap;
	uint64_t rd, wr;
	struct fs_mark marks[FS_MARKS];
	unsigned nmarks;
};

struct fs_pair;

struct fs_end {
	struct fs_pair *pair;
	unsigned side;
	void (*on_send)(void *opaque);
	void (*on_pending)(void *opaque);
	void *opaque;
};

struct fs_pair {
	struct fs_queue q[2]; /* q[i]: sent by end i */
	struct fs_end end[2];
	bool closed[2];       /* end i sends nothing more: EOF for the other */
	bool gone[2];         /* end i reads nothing more: -EPIPE for the other */
	int poll_fd;
};

static inline int fs_never_fd(void)
{
	static int fd = -1;

	if (fd < 0 && (fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		abort();
	return fd;
}

static inline void fs_pair_init(struct fs_pair *p)
{
	memset(p, 0, sizeof(*p));
	for (unsigned i = 0; i < 2; i++) {
		p->end[i].pair = p;
		p->end[i].side = i;
	}
	p->poll_fd = fs_never_fd();
}

/* After both channels were freed: drop what nobody read. */
static inline void fs_pair_release(struct fs_pair *p)
{
	for (unsigned i = 0; i < 2; i++) {
		for (unsigned m = 0; m < p->q[i].nmarks; m++)
			for (unsigned k = 0; k < p->q[i].marks[m].n; k++)
				close(p->q[i].marks[m].fds[k]);
		free(p->q[i].buf);
	}
	memset(p, 0, sizeof(*p));
}

/* The end goes away (shutdown(SHUT_RDWR) of its socket). */
static inline void fs_hang_up(struct fs_pair *p, unsigned side)
{
	p->closed[side] = p->gone[side] = true;
}

/* The end stops sending (shutdown(SHUT_WR) of its socket). */
static inline void fs_shutdown_wr(struct fs_pair *p, unsigned side)
{
	p->closed[side] = true;
}

static long fs_send(void *ctx, const struct iovec *iov, int iovcnt, const int *fds,
		    unsigned nfds)
{
	struct fs_end *e = ctx;
	struct fs_pair *p = e->pair;
	struct fs_queue *q = &p->q[e->side];
	size_t total = 0, used = (size_t)(q->wr - q->rd);

	if (p->closed[e->side] || p->gone[!e->side])
		return -EPIPE;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total == 0)
		return -EINVAL;
	if (nfds > 16 || (nfds && q->nmarks == FS_MARKS))
		return -ETOOMANYREFS;
	if (used + total > FS_MAX_QUEUED)
		return -ENOBUFS; /* the peer never reads */
	if (used + total > q->cap) {
		size_t cap = q->cap ? q->cap : 4096;
		uint8_t *nb;

		while (cap < used + total)
			cap *= 2;
		/* Unread bytes are kept at buf[0] (fs_recv moves them down). */
		nb = realloc(q->buf, cap);
		if (!nb)
			return -ENOMEM;
		q->buf = nb;
		q->cap = cap;
	}
	if (nfds) {
		struct fs_mark *m = &q->marks[q->nmarks];

		for (unsigned i = 0; i < nfds; i++) {
			m->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
			if (m->fds[i] < 0) {
				int err = -errno;

				while (i--)
					close(m->fds[i]);
				return err;
			}
		}
		m->n = nfds;
		m->end = q->wr + total;
		q->nmarks++;
	}
	for (int i = 0; i < iovcnt; i++) {
		memcpy(q->buf + used, iov[i].iov_base, iov[i].iov_len);
		used += iov[i].iov_len;
	}
	q->wr += total;
	if (e->on_send)
		e->on_send(e->opaque);
	return (long)total;
}

static long fs_recv(void *ctx, void *buf, size_t len, int *fds, unsigned *nfds,
		    unsigned max_fds)
{
	struct fs_end *e = ctx;
	struct fs_pair *p = e->pair;
	struct fs_queue *q = &p->q[!e->side];
	size_t avail = (size_t)(q->wr - q->rd), n = len < avail ? len : avail;
	long ret;

	*nfds = 0;
	if (avail == 0)
		return p->closed[!e->side] ? 0 : -EAGAIN;
	if (q->nmarks && q->marks[0].end - q->rd <= n) {
		struct fs_mark *m = &q->marks[0];

		n = (size_t)(m->end - q->rd);
		for (unsigned i = 0; i < m->n; i++) {
			if (i < max_fds)
				fds[(*nfds)++] = m->fds[i];
			else
				close(m->fds[i]);
		}
		ret = m->n > max_fds ? -EPROTO : 0;
		memmove(&q->marks[0], &q->marks[1], (q->nmarks - 1) * sizeof(q->marks[0]));
		q->nmarks--;
		if (ret)
			return ret;
	}
	memcpy(buf, q->buf, n);
	memmove(q->buf, q->buf + n, avail - n);
	q->rd += n;
	return (long)n;
}

static int fs_poll_fd(void *ctx)
{
	return ((struct fs_end *)ctx)->pair->poll_fd;
}

static size_t fs_pending(void *ctx)
{
	struct fs_end *e = ctx;
	struct fs_pair *p = e->pair;
	size_t avail;

	if (e->on_pending)
		e->on_pending(e->opaque);
	avail = (size_t)(p->q[!e->side].wr - p->q[!e->side].rd);
	return avail ? avail : p->closed[!e->side] ? 1 : 0;
}

static void fs_close(void *ctx)
{
	struct fs_end *e = ctx;

	fs_hang_up(e->pair, e->side);
}

static const struct vpcie_stream_ops fs_ops = {
	.send = fs_send,
	.recv = fs_recv,
	.poll_fd = fs_poll_fd,
	.pending = fs_pending,
	.close = fs_close,
	.passes_fds = true,
};

#endif
