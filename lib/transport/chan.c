/* SPDX-License-Identifier: MIT */
/*
 * Message framing over a byte stream (struct vpcie_stream_ops).
 *
 * Receive side: bytes go into one buffer, messages are cut out of it, so a
 * burst of small messages costs one receive call. File descriptors need care
 * on a stream: Linux ends a recvmsg() right after the segment that carried
 * fds, and a sender attaches fds to the first segment of the message they
 * belong to. So fds returned by one receive belong to the message containing
 * the last byte that call returned. We record them against that stream
 * offset and hand them to whichever message spans it.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vpcie/transport.h>

#include "../util/util.h"

#define CHAN_BUF_DEFAULT (64u * 1024)
/* Messages at least this big are handed over whole instead of copied. */
#define CHAN_HANDOVER_MIN (16u * 1024)
#define CHAN_MAX_IOV 16
#define CHAN_FD_BATCHES 8
/* Never receive with less room than this. */
#define CHAN_MIN_READ 4096u

struct fd_batch {
	uint64_t stream_off; /* offset of the last byte received with them */
	unsigned nfds;
	int fds[VPCIE_MAX_FDS_LIMIT];
};

struct vpcie_chan {
	const struct vpcie_stream_ops *ops;
	void *ctx;
	struct vpcie_chan_limits lim;
	uint8_t *buf;
	size_t cap, start, end;  /* buffered bytes are buf[start, end) */
	uint64_t stream_start;   /* stream offset of buf[start] */
	struct fd_batch *batches;
	unsigned nbatches;
};

void vpcie_msg_release(struct vpcie_msg *msg)
{
	for (unsigned i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	free(msg->fds);
	free(msg->alloc);
	memset(msg, 0, sizeof(*msg));
}

int vpcie_msg_take_fd(struct vpcie_msg *msg, unsigned i)
{
	int fd;

	if (i >= msg->nfds)
		return -1;
	fd = msg->fds[i];
	msg->fds[i] = -1;
	return fd;
}

struct vpcie_chan *vpcie_chan_new_stream(const struct vpcie_stream_ops *ops, void *ctx,
					 const struct vpcie_chan_limits *lim)
{
	struct vpcie_chan *ch = calloc(1, sizeof(*ch));

	if (!ch)
		goto fail;
	ch->buf = malloc(CHAN_BUF_DEFAULT);
	ch->batches = calloc(CHAN_FD_BATCHES, sizeof(*ch->batches));
	if (!ch->buf || !ch->batches)
		goto fail;
	ch->cap = CHAN_BUF_DEFAULT;
	ch->ops = ops;
	ch->ctx = ctx;
	vpcie_chan_set_limits(ch, lim);
	return ch;
fail:
	if (ch) {
		free(ch->buf);
		free(ch->batches);
		free(ch);
	}
	ops->close(ctx);
	errno = ENOMEM;
	return NULL;
}

bool vpcie_chan_passes_fds(const struct vpcie_chan *ch)
{
	return ch->ops->passes_fds;
}

static void drop_batches(struct vpcie_chan *ch)
{
	for (unsigned b = 0; b < ch->nbatches; b++)
		for (unsigned i = 0; i < ch->batches[b].nfds; i++)
			close(ch->batches[b].fds[i]);
	ch->nbatches = 0;
}

void vpcie_chan_free(struct vpcie_chan *ch)
{
	if (!ch)
		return;
	drop_batches(ch);
	ch->ops->close(ch->ctx);
	free(ch->batches);
	free(ch->buf);
	free(ch);
}

int vpcie_chan_fd(const struct vpcie_chan *ch)
{
	return ch->ops->poll_fd(ch->ctx);
}

void vpcie_chan_set_limits(struct vpcie_chan *ch, const struct vpcie_chan_limits *lim)
{
	ch->lim = *lim;
	if (ch->lim.max_fds > VPCIE_MAX_FDS_LIMIT)
		ch->lim.max_fds = VPCIE_MAX_FDS_LIMIT;
	if (!ch->ops->passes_fds)
		ch->lim.max_fds = 0;
}

/* Size of the complete message at the head of the buffer, 0 if incomplete,
 * -EPROTO if its header is unacceptable. */
static long head_msg_size(const struct vpcie_chan *ch)
{
	struct vpcie_msg_hdr hdr;

	if (ch->end - ch->start < VPCIE_HDR_SIZE)
		return 0;
	memcpy(&hdr, ch->buf + ch->start, sizeof(hdr));
	if (hdr.size < VPCIE_HDR_SIZE || hdr.size > ch->lim.max_msg_size)
		return -EPROTO;
	return ch->end - ch->start >= hdr.size ? (long)hdr.size : 0;
}

/* Bytes the stream decoded already, which polling its fd would not report. */
static size_t stream_pending(const struct vpcie_chan *ch)
{
	return ch->ops->pending ? ch->ops->pending(ch->ctx) : 0;
}

int vpcie_chan_has_buffered(const struct vpcie_chan *ch)
{
	/* a broken header also needs attention */
	return head_msg_size(ch) != 0 || stream_pending(ch) > 0;
}

bool vpcie_chan_partial(const struct vpcie_chan *ch)
{
	return ch->end > ch->start && head_msg_size(ch) == 0;
}

uint64_t vpcie_chan_received(const struct vpcie_chan *ch)
{
	return ch->stream_start + (ch->end - ch->start);
}

/* Make room for the message at the head (whose header may say it is large)
 * and for at least some more bytes. The buffer may hold up to two maximal
 * messages plus slack, so a sender waiting for space can keep absorbing. */
static int make_room(struct vpcie_chan *ch)
{
	size_t need = CHAN_BUF_DEFAULT, have = ch->end - ch->start;
	size_t limit = 2 * (size_t)ch->lim.max_msg_size + CHAN_BUF_DEFAULT;

	if (have >= VPCIE_HDR_SIZE) {
		struct vpcie_msg_hdr hdr;

		memcpy(&hdr, ch->buf + ch->start, sizeof(hdr));
		if (hdr.size < VPCIE_HDR_SIZE || hdr.size > ch->lim.max_msg_size)
			return -EPROTO;
		if (hdr.size > need)
			need = hdr.size;
	}
	if (ch->start + need <= ch->cap && ch->cap - ch->end >= CHAN_MIN_READ)
		return 0;
	if (ch->start) {
		memmove(ch->buf, ch->buf + ch->start, have);
		ch->start = 0;
		ch->end = have;
	}
	if (need < have + CHAN_MIN_READ)
		need = have + CHAN_MIN_READ;
	if (need > ch->cap) {
		uint8_t *nb;

		if (need < 2 * ch->cap)
			need = 2 * ch->cap;
		if (need > limit)
			need = limit;
		if (need < have + CHAN_MIN_READ)
			return -ENOBUFS; /* the peer keeps sending and never reads */
		nb = realloc(ch->buf, need);
		if (!nb)
			return -ENOMEM;
		ch->buf = nb;
		ch->cap = need;
	}
	return 0;
}

/* Record fds[0..n) as arrived with the stream byte at stream_off. They are
 * ours to close from here on. */
static int store_fds(struct vpcie_chan *ch, const int *fds, unsigned n, uint64_t stream_off)
{
	struct fd_batch *b;

	if (ch->nbatches >= CHAN_FD_BATCHES || n > ch->lim.max_fds) {
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
		return -EPROTO;
	}
	b = &ch->batches[ch->nbatches++];
	b->stream_off = stream_off;
	b->nfds = n;
	memcpy(b->fds, fds, n * sizeof(int));
	return 0;
}

/* One receive into the buffer. 0: got bytes; -EAGAIN; -ECONNRESET; -errno. */
static int fill(struct vpcie_chan *ch)
{
	int fds[VPCIE_MAX_FDS_LIMIT];
	unsigned nfds = 0;
	long n;
	int ret;

	ret = make_room(ch);
	if (ret)
		return ret;
	n = ch->ops->recv(ch->ctx, ch->buf + ch->end, ch->cap - ch->end, fds, &nfds,
			  VPCIE_MAX_FDS_LIMIT);
	if (n < 0) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		return (int)n;
	}
	if (nfds) {
		/* fds without a byte to carry them belong to no message */
		if (n == 0) {
			for (unsigned i = 0; i < nfds; i++)
				close(fds[i]);
			return -EPROTO;
		}
		ret = store_fds(ch, fds, nfds, ch->stream_start + (ch->end - ch->start) + (size_t)n - 1);
		if (ret)
			return ret;
	}
	if (n == 0)
		return -ECONNRESET;
	ch->end += (size_t)n;
	return 0;
}

/* Move fds recorded within [off, off+size) of the stream into msg. */
static int attach_fds(struct vpcie_chan *ch, struct vpcie_msg *msg, uint64_t off, uint64_t size)
{
	unsigned keep = 0, total = 0;

	for (unsigned b = 0; b < ch->nbatches; b++)
		if (ch->batches[b].stream_off < off + size)
			total += ch->batches[b].nfds;
	if (total > ch->lim.max_fds)
		return -EPROTO;
	if (total) {
		msg->fds = malloc(total * sizeof(int));
		if (!msg->fds)
			return -ENOMEM;
	}
	for (unsigned b = 0; b < ch->nbatches; b++) {
		struct fd_batch *fb = &ch->batches[b];

		if (fb->stream_off >= off + size) {
			if (keep != b)
				ch->batches[keep] = *fb;
			keep++;
			continue;
		}
		for (unsigned i = 0; i < fb->nfds; i++) {
			if (fb->stream_off >= off)
				msg->fds[msg->nfds++] = fb->fds[i];
			else
				close(fb->fds[i]); /* belonged to nothing we kept */
		}
		fb->nfds = 0;
	}
	for (unsigned b = keep; b < ch->nbatches; b++)
		ch->batches[b].nfds = 0;
	ch->nbatches = keep;
	return 0;
}

static int cut(struct vpcie_chan *ch, struct vpcie_msg *msg, size_t size)
{
	uint64_t off = ch->stream_start;
	size_t plen = size - VPCIE_HDR_SIZE;
	int ret;

	memset(msg, 0, sizeof(*msg));
	memcpy(&msg->hdr, ch->buf + ch->start, VPCIE_HDR_SIZE);
	msg->payload_len = plen;
	if (plen >= CHAN_HANDOVER_MIN && ch->start == 0) {
		/* Hand the buffer over; keep whatever follows in a new one. */
		size_t rest = ch->end - size;
		uint8_t *nb = malloc(rest > CHAN_BUF_DEFAULT ? rest : CHAN_BUF_DEFAULT);

		if (!nb)
			return -ENOMEM;
		memcpy(nb, ch->buf + size, rest);
		msg->alloc = ch->buf;
		msg->payload = ch->buf + VPCIE_HDR_SIZE;
		ch->buf = nb;
		ch->cap = rest > CHAN_BUF_DEFAULT ? rest : CHAN_BUF_DEFAULT;
		ch->start = 0;
		ch->end = rest;
	} else {
		if (plen) {
			msg->alloc = malloc(plen);
			if (!msg->alloc)
				return -ENOMEM;
			memcpy(msg->alloc, ch->buf + ch->start + VPCIE_HDR_SIZE, plen);
			msg->payload = msg->alloc;
		}
		ch->start += size;
		if (ch->start == ch->end)
			ch->start = ch->end = 0;
	}
	ch->stream_start += size;
	ret = attach_fds(ch, msg, off, size);
	if (ret)
		vpcie_msg_release(msg);
	return ret;
}

int vpcie_chan_recv(struct vpcie_chan *ch, struct vpcie_msg *msg, int timeout_ms)
{
	uint64_t deadline = vpcie_deadline(timeout_ms);

	memset(msg, 0, sizeof(*msg));
	for (;;) {
		long size = head_msg_size(ch);
		int ret;

		if (size < 0)
			return (int)size;
		if (size > 0)
			return cut(ch, msg, (size_t)size);
		ret = fill(ch);
		if (ret == 0)
			continue;
		if (ret != -EAGAIN)
			return ret;
		int left = vpcie_ms_left(deadline);
		if (left == 0)
			return timeout_ms == 0 ? -EAGAIN : -ETIMEDOUT;
		struct pollfd p = {.fd = vpcie_chan_fd(ch), .events = POLLIN};

		if (stream_pending(ch))
			continue; /* decoded bytes wait inside the stream: no poll */
		if (poll(&p, 1, left) < 0 && errno != EINTR)
			return -errno;
	}
}

/* Send v[0..cnt) (and fds with the first bytes), waiting until deadline. */
static int send_iov(struct vpcie_chan *ch, struct iovec *v, int cnt, const int *fds,
		    unsigned nfds, uint64_t deadline)
{
	int first = 0;
	bool absorb = true;

	if (nfds && !ch->ops->passes_fds)
		return -EOPNOTSUPP;
	while (first < cnt) {
		long n = ch->ops->send(ch->ctx, &v[first], cnt - first, fds, nfds);

		if (n == -EAGAIN) {
			int left = vpcie_ms_left(deadline), rc;
			/* While the peer does not read, keep reading what it sends:
			 * two peers both blocked in a large send would deadlock. */
			struct pollfd p = {.fd = vpcie_chan_fd(ch),
					   .events = POLLOUT | (absorb ? POLLIN : 0)};

			if (left == 0)
				return -ETIMEDOUT;
			if (poll(&p, 1, left) < 0 && errno != EINTR)
				return -errno;
			if (p.revents & POLLIN) {
				rc = fill(ch);
				if (rc == -ECONNRESET)
					return -EPIPE;
				if (rc && rc != -EAGAIN)
					absorb = false; /* buffer full or framing broken: recv will say */
			}
			continue;
		}
		if (n < 0)
			return (int)n;
		/* fds went with the first bytes; never send them twice. */
		fds = NULL;
		nfds = 0;
		while (n > 0 && first < cnt) {
			if ((size_t)n >= v[first].iov_len) {
				n -= (long)v[first].iov_len;
				first++;
			} else {
				v[first].iov_base = (uint8_t *)v[first].iov_base + n;
				v[first].iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 0;
}

int vpcie_chan_send(struct vpcie_chan *ch, struct vpcie_msg_hdr *hdr,
		    const struct iovec *iov, int iovcnt, const int *fds,
		    unsigned nfds, int timeout_ms)
{
	struct iovec v[CHAN_MAX_IOV + 1];
	uint64_t total = VPCIE_HDR_SIZE;
	int cnt = 1;

	if (iovcnt < 0 || iovcnt > CHAN_MAX_IOV || nfds > VPCIE_MAX_FDS_LIMIT)
		return -EINVAL;
	v[0].iov_base = hdr;
	v[0].iov_len = VPCIE_HDR_SIZE;
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_len)
			continue;
		v[cnt++] = iov[i];
		total += iov[i].iov_len;
	}
	if (total > UINT32_MAX)
		return -E2BIG;
	hdr->size = (uint32_t)total;
	return send_iov(ch, v, cnt, fds, nfds, vpcie_deadline(timeout_ms));
}

int vpcie_chan_send_raw(struct vpcie_chan *ch, const void *buf, size_t len, int timeout_ms)
{
	struct iovec v = {(void *)buf, len};

	return len ? send_iov(ch, &v, 1, NULL, 0, vpcie_deadline(timeout_ms)) : 0;
}

int vpcie_chan_reply(struct vpcie_chan *ch, const struct vpcie_msg_hdr *req,
		     const struct iovec *iov, int iovcnt, const int *fds,
		     unsigned nfds, int timeout_ms)
{
	struct vpcie_msg_hdr h = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.flags = VPCIE_MSGF_REPLY,
	};

	return vpcie_chan_send(ch, &h, iov, iovcnt, fds, nfds, timeout_ms);
}

int vpcie_chan_reply_error(struct vpcie_chan *ch, const struct vpcie_msg_hdr *req,
			   int err, int timeout_ms)
{
	struct vpcie_msg_hdr h = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.flags = VPCIE_MSGF_REPLY | VPCIE_MSGF_ERROR,
		.error = (uint32_t)(err > 0 ? err : -err),
	};

	return vpcie_chan_send(ch, &h, NULL, 0, NULL, 0, timeout_ms);
}
