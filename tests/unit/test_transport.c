/* SPDX-License-Identifier: MIT */
/* Unit tests of the message transport over socketpairs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <vpcie/transport.h>

static const struct vpcie_chan_limits lim = {.max_msg_size = 8u << 20, .max_fds = 16};

static void pair(struct vpcie_chan **a, struct vpcie_chan **b)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*a = vpcie_chan_new(sv[0], &lim);
	*b = vpcie_chan_new(sv[1], &lim);
	assert_non_null(*a);
	assert_non_null(*b);
}

static int send_msg(struct vpcie_chan *ch, uint16_t id, const void *p, size_t len,
		    const int *fds, unsigned nfds)
{
	struct vpcie_msg_hdr h = {.msg_id = id, .cmd = VPCIE_CMD_REGION_WRITE};
	struct iovec iov = {(void *)p, len};

	return vpcie_chan_send(ch, &h, &iov, 1, fds, nfds, 5000);
}

static void test_roundtrip_and_batching(void **state)
{
	struct vpcie_chan *a, *b;
	struct vpcie_msg m;

	(void)state;
	pair(&a, &b);
	/* Several messages queued before the first receive: one read, many cuts. */
	for (uint16_t i = 0; i < 50; i++)
		assert_int_equal(send_msg(a, i, &i, sizeof(i), NULL, 0), 0);
	for (uint16_t i = 0; i < 50; i++) {
		assert_int_equal(vpcie_chan_recv(b, &m, 1000), 0);
		assert_int_equal(m.hdr.msg_id, i);
		assert_int_equal(m.hdr.size, VPCIE_HDR_SIZE + sizeof(i));
		assert_int_equal(m.payload_len, sizeof(i));
		assert_memory_equal(m.payload, &i, sizeof(i));
		vpcie_msg_release(&m);
	}
	assert_int_equal(vpcie_chan_recv(b, &m, 0), -EAGAIN);
	assert_int_equal(vpcie_chan_recv(b, &m, 20), -ETIMEDOUT);
	vpcie_chan_free(a);
	assert_int_equal(vpcie_chan_recv(b, &m, 1000), -ECONNRESET);
	vpcie_chan_free(b);
}

static void test_fds_follow_their_message(void **state)
{
	struct vpcie_chan *a, *b;
	struct vpcie_msg m;
	int e1 = eventfd(0, 0), e2 = eventfd(0, 0);
	int fds[2] = {e1, e2};
	uint64_t v;

	(void)state;
	pair(&a, &b);
	/* plain, with 2 fds, plain, with 1 fd: all in the socket before we read */
	assert_int_equal(send_msg(a, 1, "x", 1, NULL, 0), 0);
	assert_int_equal(send_msg(a, 2, "y", 1, fds, 2), 0);
	assert_int_equal(send_msg(a, 3, "z", 1, NULL, 0), 0);
	assert_int_equal(send_msg(a, 4, "w", 1, &e1, 1), 0);
	close(e1);
	close(e2);
	for (unsigned id = 1; id <= 4; id++) {
		assert_int_equal(vpcie_chan_recv(b, &m, 1000), 0);
		assert_int_equal(m.hdr.msg_id, id);
		assert_int_equal(m.nfds, id == 2 ? 2 : id == 4 ? 1 : 0);
		if (id == 2) {
			/* They are our eventfds, in order: writing one is seen by the other copy. */
			int f = vpcie_msg_take_fd(&m, 1);
			v = 5;
			assert_int_equal(write(f, &v, 8), 8);
			assert_int_equal(read(f, &v, 8), 8);
			assert_int_equal(v, 5);
			close(f);
			assert_int_equal(vpcie_msg_take_fd(&m, 1), -1); /* taken once */
		}
		vpcie_msg_release(&m); /* closes fds not taken */
	}
	vpcie_chan_free(a);
	vpcie_chan_free(b);
}

static void test_oversize_and_undersize(void **state)
{
	struct vpcie_chan *b;
	struct vpcie_msg m;
	int sv[2];
	struct vpcie_msg_hdr h = {.size = 9u << 20};

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	b = vpcie_chan_new(sv[1], &lim);
	assert_int_equal(write(sv[0], &h, sizeof(h)), sizeof(h));
	assert_int_equal(vpcie_chan_recv(b, &m, 1000), -EPROTO);
	vpcie_chan_free(b);
	close(sv[0]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	b = vpcie_chan_new(sv[1], &lim);
	h.size = 15;
	assert_int_equal(write(sv[0], &h, sizeof(h)), sizeof(h));
	assert_int_equal(vpcie_chan_recv(b, &m, 1000), -EPROTO);
	vpcie_chan_free(b);
	close(sv[0]);
}

/* Both ends send a message far larger than the socket buffer at the same time,
 * then read. Each send must absorb the peer's bytes while it waits. */
static void test_simultaneous_large_sends(void **state)
{
	const size_t len = 6u << 20;
	struct vpcie_chan *a, *b;
	uint8_t *buf = malloc(len);
	pid_t pid;
	int status;

	(void)state;
	assert_non_null(buf);
	memset(buf, 0x42, len);
	pair(&a, &b);
	pid = fork();
	if (pid == 0) {
		struct vpcie_msg m;
		int ok = send_msg(a, 1, buf, len, NULL, 0) == 0 &&
			 vpcie_chan_recv(a, &m, 5000) == 0 && m.payload_len == len;

		_exit(ok ? 0 : 1);
	}
	struct vpcie_msg m;

	assert_int_equal(send_msg(b, 2, buf, len, NULL, 0), 0);
	assert_int_equal(vpcie_chan_recv(b, &m, 5000), 0);
	assert_int_equal(m.payload_len, len);
	assert_int_equal(((uint8_t *)m.payload)[len - 1], 0x42);
	vpcie_msg_release(&m);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	vpcie_chan_free(a);
	vpcie_chan_free(b);
	free(buf);
}

/*
 * The channel over a stream that is not a socket: bytes live in memory, the
 * stream passes no fds, hands out at most a few bytes per call and says
 * "try again" every other call although it still holds bytes (as a TLS
 * stream does with a decoded record). Its poll fd never becomes readable, so
 * a channel that polled instead of asking pending() would time out.
 */
struct mem_stream {
	uint8_t data[4096];
	size_t len, pos;   /* bytes written by send; read position of recv */
	unsigned calls;    /* every odd call answers -EAGAIN */
	int efd;           /* poll fd: writable, never readable */
	bool closed;
};

static long mem_send(void *ctx, const struct iovec *iov, int iovcnt, const int *fds,
		     unsigned nfds)
{
	struct mem_stream *m = ctx;
	long n = 0;

	(void)fds;
	assert_int_equal(nfds, 0); /* the channel must not try */
	if (m->calls++ % 2)
		return -EAGAIN;
	for (int i = 0; i < iovcnt && n < 3; i++) {
		size_t k = iov[i].iov_len < (size_t)(3 - n) ? iov[i].iov_len : (size_t)(3 - n);

		assert_true(m->len + k <= sizeof(m->data));
		memcpy(m->data + m->len, iov[i].iov_base, k);
		m->len += k;
		n += (long)k;
	}
	return n;
}

static long mem_recv(void *ctx, void *buf, size_t len, int *fds, unsigned *nfds,
		     unsigned max_fds)
{
	struct mem_stream *m = ctx;

	(void)fds;
	(void)max_fds;
	*nfds = 0;
	if (m->calls++ % 2 || m->pos == m->len)
		return -EAGAIN;
	if (len > 2)
		len = 2;
	if (len > m->len - m->pos)
		len = m->len - m->pos;
	memcpy(buf, m->data + m->pos, len);
	m->pos += len;
	return (long)len;
}

static int mem_poll_fd(void *ctx)
{
	return ((struct mem_stream *)ctx)->efd;
}

static size_t mem_pending(void *ctx)
{
	struct mem_stream *m = ctx;

	return m->len - m->pos;
}

static void mem_close(void *ctx)
{
	((struct mem_stream *)ctx)->closed = true;
}

static const struct vpcie_stream_ops mem_ops = {
	.send = mem_send,
	.recv = mem_recv,
	.poll_fd = mem_poll_fd,
	.pending = mem_pending,
	.close = mem_close,
	.passes_fds = false,
};

static void test_stream_ops_seam(void **state)
{
	struct mem_stream ms = {.efd = eventfd(0, EFD_NONBLOCK)};
	struct vpcie_chan *ch;
	struct vpcie_msg m;
	int fd = eventfd(0, 0);

	(void)state;
	assert_true(ms.efd >= 0 && fd >= 0);
	ch = vpcie_chan_new_stream(&mem_ops, &ms, &lim);
	assert_non_null(ch);
	assert_false(vpcie_chan_passes_fds(ch));
	assert_int_equal(vpcie_chan_fd(ch), ms.efd);
	/* fds cannot travel: refused before a byte is sent */
	assert_int_equal(send_msg(ch, 1, "x", 1, &fd, 1), -EOPNOTSUPP);
	assert_int_equal(ms.len, 0);
	/* messages sent 3 bytes at a time come back whole, 2 bytes at a time */
	for (uint16_t i = 0; i < 20; i++) {
		char p[40];

		memset(p, 'a' + i, sizeof(p));
		assert_int_equal(send_msg(ch, i, p, i + 1u, NULL, 0), 0);
	}
	assert_true(vpcie_chan_has_buffered(ch)); /* held by the stream */
	for (uint16_t i = 0; i < 20; i++) {
		assert_int_equal(vpcie_chan_recv(ch, &m, 1000), 0);
		assert_int_equal(m.hdr.msg_id, i);
		assert_int_equal(m.payload_len, i + 1u);
		assert_int_equal(((uint8_t *)m.payload)[i], 'a' + i);
		assert_int_equal(m.nfds, 0);
		vpcie_msg_release(&m);
	}
	assert_int_equal(vpcie_chan_recv(ch, &m, 0), -EAGAIN);
	vpcie_chan_free(ch);
	assert_true(ms.closed);
	close(ms.efd);
	close(fd);
}


/* Endpoint names: what parses, what is refused, and the round trip. */
static void test_endpoint_names(void **state)
{
	struct vpcie_endpoint ep;
	char buf[300];

	(void)state;
	assert_int_equal(vpcie_endpoint_parse("/tmp/a.sock", &ep), 0);
	assert_int_equal(ep.kind, VPCIE_ENDPOINT_UNIX);
	assert_string_equal(ep.path, "/tmp/a.sock");
	assert_int_equal(vpcie_endpoint_parse("unix:rel.sock", &ep), 0);
	assert_string_equal(ep.path, "rel.sock");
	assert_int_equal(vpcie_endpoint_parse("tcp:127.0.0.1:5000", &ep), 0);
	assert_int_equal(ep.kind, VPCIE_ENDPOINT_TCP);
	assert_string_equal(ep.host, "127.0.0.1");
	assert_int_equal(ep.port, 5000);
	assert_int_equal(vpcie_endpoint_parse("tcp:[::1]:65535", &ep), 0);
	assert_string_equal(ep.host, "::1");
	assert_int_equal(ep.port, 65535);
	assert_int_equal(vpcie_endpoint_format(&ep, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "tcp:[::1]:65535");
	static const char *const bad[] = {
		"", "unix:", "tcp:", "tcp:host", "tcp:host:", "tcp::5", "tcp:h:0", "tcp:h:65536",
		"tcp:h:123456", "tcp:h:12a", "tcp:h:-1", "tcp:h:+1", "tcp:::1:5", "tcp:[::1]5",
		"tcp:[::1", "tcp:[]:5",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vpcie_endpoint_parse(bad[i], &ep), -EINVAL);
	memset(buf, 'a', 200);
	buf[200] = '\0';
	assert_int_equal(vpcie_endpoint_parse(buf, &ep), -ENAMETOOLONG);
	/* Plaintext TCP only on loopback: refused before any packet leaves. */
	assert_int_equal(vpcie_endpoint_parse("tcp:192.0.2.1:5000", &ep), 0);
	assert_int_equal(vpcie_endpoint_connect(&ep, 0, false), -EACCES);
	assert_int_equal(vpcie_endpoint_listen(&ep, false), -EACCES);
	assert_int_equal(vpcie_endpoint_parse("tcp:0.0.0.0:5000", &ep), 0);
	assert_int_equal(vpcie_endpoint_listen(&ep, false), -EACCES);
}

/* A TCP channel carries messages but refuses to send fds. */
static void test_tcp_channel(void **state)
{
	struct vpcie_endpoint ep;
	struct vpcie_chan_limits lim = {.max_msg_size = 4096, .max_fds = 8};
	int lfd = -1, port, cfd, afd;

	(void)state;
	for (port = 20000 + getpid() % 20000; lfd < 0 && port < 65000; port += 97) {
		char spec[64];

		snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d", port);
		assert_int_equal(vpcie_endpoint_parse(spec, &ep), 0);
		lfd = vpcie_endpoint_listen(&ep, false);
	}
	assert_true(lfd >= 0);
	cfd = vpcie_endpoint_connect(&ep, 1000, false);
	assert_true(cfd >= 0);
	for (int i = 0; i < 100 && (afd = vpcie_endpoint_accept(lfd)) == -EAGAIN; i++)
		poll(NULL, 0, 10);
	assert_true(afd >= 0);
	struct vpcie_chan *a = vpcie_chan_new(cfd, &lim), *b = vpcie_chan_new(afd, &lim);

	assert_non_null(a);
	assert_non_null(b);
	assert_false(vpcie_chan_passes_fds(a));
	assert_false(vpcie_chan_passes_fds(b));
	struct vpcie_msg_hdr hdr = {.msg_id = 7, .cmd = VPCIE_CMD_DEVICE_RESET};
	int fd = 0;

	assert_int_equal(vpcie_chan_send(a, &hdr, NULL, 0, &fd, 1, 1000), -EOPNOTSUPP);
	assert_int_equal(vpcie_chan_send(a, &hdr, NULL, 0, NULL, 0, 1000), 0);
	struct vpcie_msg m;

	assert_int_equal(vpcie_chan_recv(b, &m, 1000), 0);
	assert_int_equal(m.hdr.msg_id, 7);
	assert_int_equal(m.hdr.cmd, VPCIE_CMD_DEVICE_RESET);
	vpcie_msg_release(&m);
	vpcie_chan_free(a);
	vpcie_chan_free(b);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_and_batching),
		cmocka_unit_test(test_fds_follow_their_message),
		cmocka_unit_test(test_oversize_and_undersize),
		cmocka_unit_test(test_simultaneous_large_sends),
		cmocka_unit_test(test_stream_ops_seam),
		cmocka_unit_test(test_endpoint_names),
		cmocka_unit_test(test_tcp_channel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
