/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer harnesses: turning a fuzz input into messages.
 *
 * Structured inputs are a sequence of records, each
 *
 *	u16 w (little-endian): bits 0-11 length L, bits 12-15 fd spec F
 *	L bytes: a message header (zero-padded to 16 bytes if shorter),
 *	         then its payload
 *
 * The header's size field is fixed up to the real length so that framing
 * holds and the fuzzer reaches the handlers. F attaches descriptors:
 * 0 none, 1 a 64 KiB memfd, 2 a pipe's read end, 3-15 that many minus 2
 * eventfds. gen_corpus.py writes seeds in this format.
 */
#ifndef VPCIE_FUZZ_COMMON_H
#define VPCIE_FUZZ_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vpcie/protocol.h>
#include <vpcie/transport.h>

#define FUZZ_MAX_FDS 13u

/* One chunk of bytes to send, with fds going along with its first byte. */
struct fuzz_seg {
	uint8_t *buf;
	size_t len, sent;
	int fds[FUZZ_MAX_FDS];
	unsigned nfds;
};

struct fuzz_out {
	struct fuzz_seg *segs;
	size_t n, cap, cur;
	size_t hold; /* memory streams: the last segments not released yet */
};

static inline void fuzz_out_free(struct fuzz_out *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->segs[i].buf);
		for (unsigned k = 0; k < o->segs[i].nfds; k++)
			close(o->segs[i].fds[k]);
	}
	free(o->segs);
	memset(o, 0, sizeof(*o));
}

/* Append a segment (data copied). Returns the segment or NULL. */
static inline struct fuzz_seg *fuzz_out_add(struct fuzz_out *o, const void *a, size_t alen,
					    const void *b, size_t blen)
{
	struct fuzz_seg *s;

	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct fuzz_seg *p = realloc(o->segs, cap * sizeof(*p));

		if (!p)
			return NULL;
		o->segs = p;
		o->cap = cap;
	}
	s = &o->segs[o->n];
	memset(s, 0, sizeof(*s));
	s->len = alen + blen;
	s->buf = malloc(s->len ? s->len : 1);
	if (!s->buf)
		return NULL;
	if (alen)
		memcpy(s->buf, a, alen);
	if (blen)
		memcpy(s->buf + alen, b, blen);
	o->n++;
	return s;
}

static inline void fuzz_attach_fds(struct fuzz_seg *s, unsigned spec)
{
	if (spec == 1) {
		int fd = memfd_create("fuzz", MFD_CLOEXEC);

		if (fd >= 0 && ftruncate(fd, 64 * 1024) == 0)
			s->fds[s->nfds++] = fd;
		else if (fd >= 0)
			close(fd);
	} else if (spec == 2) {
		int p[2];

		if (pipe2(p, O_CLOEXEC) == 0) {
			close(p[1]);
			s->fds[s->nfds++] = p[0];
		}
	} else if (spec >= 3) {
		for (unsigned i = 0; i < spec - 2 && i < FUZZ_MAX_FDS; i++) {
			int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

			if (fd >= 0)
				s->fds[s->nfds++] = fd;
		}
	}
}

/* Cut structured records out of data into o. */
static inline int fuzz_records(struct fuzz_out *o, const uint8_t *data, size_t size)
{
	size_t pos = 0;

	while (pos + 2 <= size) {
		unsigned w = data[pos] | (unsigned)data[pos + 1] << 8;
		size_t len = w & 0x0fff, hlen;
		unsigned spec = w >> 12;
		struct vpcie_msg_hdr hdr;
		struct fuzz_seg *s;

		pos += 2;
		if (len > size - pos)
			len = size - pos;
		memset(&hdr, 0, sizeof(hdr));
		hlen = len < sizeof(hdr) ? len : sizeof(hdr);
		memcpy(&hdr, data + pos, hlen);
		hdr.size = (uint32_t)(sizeof(hdr) + (len - hlen));
		s = fuzz_out_add(o, &hdr, sizeof(hdr), data + pos + hlen, len - hlen);
		if (!s)
			return -ENOMEM;
		fuzz_attach_fds(s, spec);
		pos += len;
	}
	return 0;
}

/*
 * Send as much of o as the socket takes without blocking. Returns true once
 * everything went out; false if the socket is full (or broken: then the
 * rest is dropped and true returned).
 */
static inline bool fuzz_out_pump(struct fuzz_out *o, int fd)
{
	while (o->cur < o->n) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * FUZZ_MAX_FDS)];
			struct cmsghdr align;
		} ctrl;
		struct iovec iov[64];
		struct msghdr mh = {.msg_iov = iov};
		struct fuzz_seg *s = &o->segs[o->cur];
		size_t k = 0;
		ssize_t n;

		/* Gather this segment and the fd-less ones after it: one skb, not
		 * hundreds, so a burst of small messages fits the socket. */
		for (size_t i = o->cur; i < o->n && k < 64; i++) {
			struct fuzz_seg *t = &o->segs[i];

			if (i > o->cur && t->nfds)
				break;
			iov[k].iov_base = t->buf + t->sent;
			iov[k++].iov_len = t->len - t->sent;
		}
		mh.msg_iovlen = k;
		if (s->sent == 0 && s->nfds) {
			struct cmsghdr *c;

			mh.msg_control = ctrl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * s->nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * s->nfds);
			memcpy(CMSG_DATA(c), s->fds, sizeof(int) * s->nfds);
		}
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return false;
			o->cur = o->n; /* peer gone */
			return true;
		}
		while (n > 0 || (o->cur < o->n && o->segs[o->cur].sent == o->segs[o->cur].len)) {
			struct fuzz_seg *t = &o->segs[o->cur];
			size_t take = t->len - t->sent;

			if ((size_t)n < take)
				take = (size_t)n;
			t->sent += take;
			n -= (ssize_t)take;
			if (t->sent < t->len)
				break;
			o->cur++;
			if (o->cur >= o->n)
				break;
		}
	}
	return true;
}

/*
 * Read and discard whatever the peer sent, closing descriptors that came
 * along. Returns 1 if the peer closed its end, 0 otherwise.
 */
static inline int fuzz_drain(int fd)
{
	static uint8_t sink[256 * 1024];

	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 253)];
			struct cmsghdr align;
		} ctrl;
		struct iovec iov = {sink, sizeof(sink)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf)};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int rfd;

				memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(rfd);
			}
		}
		if (n == 0)
			return 1;
	}
}

/*
 * A byte stream served from memory (struct vpcie_stream_ops): the peer's
 * bytes come out of a fuzz_out, segment by segment, with each segment's fds
 * handed over with its first byte; what the runtime sends is counted and
 * dropped; the end of the fuzz_out is the end of the stream. No socket, no
 * drainer thread: a protocol target runs at the speed of the code under
 * test, not of the kernel's socket paths. poll_fd is an eventfd, readable
 * while there are bytes (or the end) to read, so a wait never blocks on
 * them.
 *
 * A harness that interleaves peers releases the input a segment at a time:
 * it sets in->hold (the trailing segments the stream does not show yet:
 * reading up to them is -EAGAIN, and a wait sleeps) and calls
 * fuzz_mem_release() for each next one.
 */
struct fuzz_mem_stream {
	struct fuzz_out *in;   /* not owned */
	int efd;
	bool *closed;          /* set when the runtime releases the stream */
	size_t sent;           /* bytes the runtime sent */
	bool idle;             /* efd emptied: nothing to read until a release */
};

static inline long fuzz_mem_send(void *ctx, const struct iovec *iov, int iovcnt, const int *fds,
				 unsigned nfds)
{
	struct fuzz_mem_stream *m = ctx;
	size_t n = 0;

	(void)fds;
	(void)nfds;
	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	m->sent += n;
	return n ? (long)n : -EINVAL;
}

static inline long fuzz_mem_recv(void *ctx, void *buf, size_t len, int *fds, unsigned *nfds,
				 unsigned max_fds)
{
	struct fuzz_mem_stream *m = ctx;
	struct fuzz_out *o = m->in;
	struct fuzz_seg *s;
	size_t take;

	*nfds = 0;
	size_t end = o->n - (o->hold < o->n ? o->hold : o->n);

	while (o->cur < end && o->segs[o->cur].sent == o->segs[o->cur].len) {
		for (unsigned k = 0; k < o->segs[o->cur].nfds; k++) /* fds of an empty segment */
			close(o->segs[o->cur].fds[k]);
		o->segs[o->cur].nfds = 0;
		o->cur++;
	}
	if (o->cur >= end) {
		eventfd_t v;

		if (end == o->n)
			return 0;
		if (!m->idle) /* not readable until a release */
			(void)eventfd_read(m->efd, &v);
		m->idle = true;
		return -EAGAIN;
	}
	s = &o->segs[o->cur];
	if (s->sent == 0 && s->nfds) {
		unsigned k = s->nfds < max_fds ? s->nfds : max_fds;
		bool over = s->nfds > max_fds;

		memcpy(fds, s->fds, k * sizeof(int));
		*nfds = k;
		for (unsigned i = k; i < s->nfds; i++)
			close(s->fds[i]);
		s->nfds = 0;
		if (over) {
			for (unsigned i = 0; i < k; i++)
				close(fds[i]);
			*nfds = 0;
			return -EPROTO;
		}
	}
	take = s->len - s->sent < len ? s->len - s->sent : len;
	memcpy(buf, s->buf + s->sent, take);
	s->sent += take;
	return (long)take;
}

static inline int fuzz_mem_poll_fd(void *ctx)
{
	return ((struct fuzz_mem_stream *)ctx)->efd;
}

static inline void fuzz_mem_close(void *ctx)
{
	struct fuzz_mem_stream *m = ctx;

	if (m->closed)
		*m->closed = true;
	close(m->efd);
	free(m);
}

static const struct vpcie_stream_ops fuzz_mem_ops = {
	.send = fuzz_mem_send,
	.recv = fuzz_mem_recv,
	.poll_fd = fuzz_mem_poll_fd,
	.close = fuzz_mem_close,
	.passes_fds = true,
};

/* Show the stream's next held segment (a no-op once all are shown). The
 * stream must not have been released by its channel (*closed false). */
static inline void fuzz_mem_release(struct fuzz_mem_stream *m)
{
	if (m->in->hold)
		m->in->hold--;
	if (m->idle)
		(void)eventfd_write(m->efd, 1);
	m->idle = false;
}

/* A channel reading in (which must outlive it); *closed is set when it is
 * freed. If stream is not NULL, *stream is the memory stream under it, for
 * fuzz_mem_release() (valid until *closed is set). */
static inline struct vpcie_chan *fuzz_mem_chan_stream(struct fuzz_out *in, bool *closed,
						      struct fuzz_mem_stream **stream)
{
	struct vpcie_chan_limits lim = {.max_msg_size = 1u << 20, .max_fds = 16};
	struct fuzz_mem_stream *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->in = in;
	m->closed = closed;
	m->efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->efd < 0) {
		free(m);
		return NULL;
	}
	if (stream)
		*stream = m;
	return vpcie_chan_new_stream(&fuzz_mem_ops, m, &lim);
}

static inline struct vpcie_chan *fuzz_mem_chan(struct fuzz_out *in, bool *closed)
{
	return fuzz_mem_chan_stream(in, closed, NULL);
}

#endif
