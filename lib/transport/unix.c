/* SPDX-License-Identifier: MIT */
/* AF_UNIX stream sockets: listening for and connecting to a device, and the
 * byte stream (with fds) under a channel; the same stream without fds for
 * TCP sockets (endpoints: tcp.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vpcie/transport.h>

#include "../util/util.h"

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

/* Is something accepting connections on path? */
static bool socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return alive;
}

int vpcie_unix_listen(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, ret = fill_addr(&sa, path);

	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		/* Replace a stale socket file left by a dead process, nothing else. */
		if (ret == -EADDRINUSE && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    !socket_alive(&sa) && unlink(path) == 0 &&
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			ret = 0;
		if (ret) {
			close(fd);
			return ret;
		}
	}
	/* Owner only: a device serves whoever connects. Before listen(), so
	 * no connection is accepted with wider permissions. */
	if (chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		ret = -errno;
		close(fd);
		unlink(path);
		return ret;
	}
	return fd;
}

int vpcie_unix_connect(const char *path, int timeout_ms)
{
	uint64_t deadline = vpcie_deadline(timeout_ms);
	struct sockaddr_un sa;
	int ret = fill_addr(&sa, path);

	if (ret)
		return ret;
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		ret = -errno;
		close(fd);
		/* The device may still be starting: retry until the deadline. */
		if ((ret != -ENOENT && ret != -ECONNREFUSED && ret != -EAGAIN) ||
		    vpcie_ms_left(deadline) == 0)
			return ret;
		poll(NULL, 0, 10);
	}
}

/* ---- The UNIX stream socket under a channel ------------------------------ */

/* ctx is the socket fd itself, so a UNIX channel needs no allocation. */
static int ctx_fd(void *ctx)
{
	return (int)(intptr_t)ctx;
}

static long unix_send(void *ctx, const struct iovec *iov, int iovcnt, const int *fds,
		      unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VPCIE_MAX_FDS_LIMIT)];
		struct cmsghdr align;
	} ctrl;
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)iov;
	mh.msg_iovlen = (size_t)iovcnt;
	if (nfds) {
		struct cmsghdr *c;

		if (nfds > VPCIE_MAX_FDS_LIMIT)
			return -EINVAL;
		mh.msg_control = ctrl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(ctx_fd(ctx), &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return (long)n;
}

static long unix_recv(void *ctx, void *buf, size_t len, int *fds, unsigned *nfds,
		      unsigned max_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VPCIE_MAX_FDS_LIMIT)];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = {buf, len};
	struct msghdr mh;
	ssize_t n;
	int ret = 0;

	*nfds = 0;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctrl.buf;
	mh.msg_controllen = sizeof(ctrl.buf);
	do
		n = recvmsg(ctx_fd(ctx), &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); mh.msg_controllen && c;
	     c = CMSG_NXTHDR(&mh, c)) {
		size_t cnt;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < cnt; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (*nfds < max_fds) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				ret = -EPROTO;
			}
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		ret = -EPROTO;
	return ret ? ret : (long)n;
}

static int unix_poll_fd(void *ctx)
{
	return ctx_fd(ctx);
}

static void unix_close(void *ctx)
{
	close(ctx_fd(ctx));
}

static const struct vpcie_stream_ops unix_stream_ops = {
	.send = unix_send,
	.recv = unix_recv,
	.poll_fd = unix_poll_fd,
	.close = unix_close,
	.passes_fds = true,
};

/* TCP: the same calls (no SCM_RIGHTS is ever sent, one received is
 * refused by max_fds = 0), but the channel knows no fd can travel. */
static const struct vpcie_stream_ops inet_stream_ops = {
	.send = unix_send,
	.recv = unix_recv,
	.poll_fd = unix_poll_fd,
	.close = unix_close,
	.passes_fds = false,
};

struct vpcie_chan *vpcie_chan_new(int fd, const struct vpcie_chan_limits *lim)
{
	int fl = fcntl(fd, F_GETFL), dom;
	socklen_t dlen = sizeof(dom);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return NULL;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dlen) == 0 && dom != AF_UNIX)
		return vpcie_chan_new_stream(&inet_stream_ops, (void *)(intptr_t)fd, lim);
	return vpcie_chan_new_stream(&unix_stream_ops, (void *)(intptr_t)fd, lim);
}
