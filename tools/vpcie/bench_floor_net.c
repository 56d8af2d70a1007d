/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: floors over TCP loopback, plain or TLS. A peer process is
 * forked on one end of a loopback TCP connection with TCP_NODELAY on both
 * ends, as vpcie_endpoint_connect()/accept() set it; with TLS, both ends run
 * a GnuTLS 1.3 session with the runtime's priority string and the same
 * pre-shared key as the TLS device (lib/transport/tls_priority.h). Both
 * sides block in read()/gnutls_record_recv(), as the TCP paths do (they run
 * with polling off), so a path and its floor wait the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "../../lib/transport/tls_priority.h"
#include "bench_priv.h"

/* One end of a floor's connection: a TCP socket, and a TLS session on it. */
struct net_conn {
	int fd;
	gnutls_session_t s;
	gnutls_psk_client_credentials_t cc;
	gnutls_psk_server_credentials_t sc;
	const struct vpcie_tls_psk *psk;
};

int net_make_psk(struct bench *b)
{
	uint8_t key[32];
	char why[128];
	FILE *f;
	int fd, rc;

	if (b->psk.key_len)
		return 0;
	snprintf(b->psk_path, sizeof(b->psk_path), "%s/bench.psk", b->tmp);
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		return -EIO;
	fd = open(b->psk_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	fprintf(f, "vpcie-bench:");
	for (size_t i = 0; i < sizeof(key); i++)
		fprintf(f, "%02x", key[i]);
	fprintf(f, "\n");
	if (fclose(f))
		return -EIO;
	rc = vpcie_tls_psk_load(b->psk_path, &b->psk, why, sizeof(why));
	if (rc)
		fprintf(stderr, "vpcie bench: %s: %s\n", b->psk_path, why);
	return rc;
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A connected TCP pair on NET_ADDR: sv[0] ours, sv[1] the peer's (with
 * veth, the listening socket, and so the peer's end, in the namespace). */
static int tcp_pair(const struct bench *b, int sv[2])
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int l = netns_socket(b, SOCK_STREAM | SOCK_CLOEXEC), rc = 0;

	sv[0] = sv[1] = -1;
	if (l < 0)
		return l;
	if (inet_pton(AF_INET, NET_ADDR(b), &sa.sin_addr) != 1)
		rc = -EINVAL;
	if (!rc && (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
		    getsockname(l, (struct sockaddr *)&sa, &sl) < 0))
		rc = -errno;
	if (!rc) {
		sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&sa, sizeof(sa)) < 0)
			rc = -errno;
	}
	if (!rc) {
		sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (sv[1] < 0)
			rc = -errno;
	}
	close(l);
	if (rc) {
		if (sv[0] >= 0)
			close(sv[0]);
		sv[0] = sv[1] = -1;
		return rc;
	}
	nodelay(sv[0]);
	nodelay(sv[1]);
	return 0;
}

static int server_key(gnutls_session_t s, const char *identity, gnutls_datum_t *key)
{
	const struct net_conn *c = gnutls_session_get_ptr(s);

	if (!identity || strcmp(identity, c->psk->identity))
		return -1;
	key->data = gnutls_malloc(c->psk->key_len);
	if (!key->data)
		return -1;
	memcpy(key->data, c->psk->key, c->psk->key_len);
	key->size = (unsigned)c->psk->key_len;
	return 0;
}

/* A blocking TLS session on c->fd, handshake done: 0 or a GnuTLS error. */
static int tls_start(struct net_conn *c, bool server, const struct vpcie_tls_psk *psk)
{
	gnutls_datum_t key = {.data = (unsigned char *)psk->key, .size = (unsigned)psk->key_len};
	int rc = gnutls_init(&c->s, server ? GNUTLS_SERVER : GNUTLS_CLIENT);

	if (rc < 0) {
		c->s = NULL;
		return rc;
	}
	c->psk = psk;
	gnutls_session_set_ptr(c->s, c);
	rc = gnutls_priority_set_direct(c->s, VPCIE_TLS_PRIORITY, NULL);
	if (rc >= 0 && server) {
		rc = gnutls_psk_allocate_server_credentials(&c->sc);
		if (rc >= 0) {
			gnutls_psk_set_server_credentials_function(c->sc, server_key);
			rc = gnutls_credentials_set(c->s, GNUTLS_CRD_PSK, c->sc);
		}
	} else if (rc >= 0) {
		rc = gnutls_psk_allocate_client_credentials(&c->cc);
		if (rc >= 0)
			rc = gnutls_psk_set_client_credentials(c->cc, psk->identity, &key,
							       GNUTLS_PSK_KEY_RAW);
		if (rc >= 0)
			rc = gnutls_credentials_set(c->s, GNUTLS_CRD_PSK, c->cc);
	}
	if (rc < 0)
		return rc;
	gnutls_transport_set_int(c->s, c->fd);
	do
		rc = gnutls_handshake(c->s);
	while (rc < 0 && !gnutls_error_is_fatal(rc) && !g_stop);
	/* From here on as the runtime's TLS stream: a non-blocking socket,
	 * poll() when GnuTLS has nothing (net_wait). */
	if (rc >= 0 && fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
		rc = GNUTLS_E_PUSH_ERROR;
	return rc;
}

static void conn_close(struct net_conn *c)
{
	if (c->s)
		gnutls_deinit(c->s);
	if (c->cc)
		gnutls_psk_free_client_credentials(c->cc);
	if (c->sc)
		gnutls_psk_free_server_credentials(c->sc);
	if (c->fd >= 0)
		close(c->fd);
	c->s = NULL;
	c->cc = NULL;
	c->sc = NULL;
	c->fd = -1;
}

/* After GNUTLS_E_AGAIN: sleep in poll() until the socket is ready the way
 * GnuTLS wants (the runtime's channel waits so, with polling off). */
static int net_wait(struct net_conn *c)
{
	struct pollfd p = {.fd = c->fd,
			   .events = gnutls_record_get_direction(c->s) ? POLLOUT : POLLIN};

	if (g_stop)
		return -EINTR;
	if (poll(&p, 1, -1) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

/* Whole buffers, as records of at most VPCIE_TLS_RECORD bytes (as the
 * runtime's TLS stream sends them). */
static int net_write(struct net_conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!c->s)
		return write_full(c->fd, buf, len);
	while (len) {
		size_t n = len < VPCIE_TLS_RECORD ? len : VPCIE_TLS_RECORD;
		ssize_t k = gnutls_record_send(c->s, p, n);

		if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED) {
			int rc = net_wait(c);

			if (rc)
				return rc;
			continue;
		}
		if (k < 0)
			return -EPIPE;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

static int net_read(struct net_conn *c, void *buf, size_t len)
{
	uint8_t *p = buf;

	if (!c->s)
		return read_full(c->fd, buf, len);
	while (len) {
		ssize_t k = gnutls_record_recv(c->s, p, len);

		if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED) {
			int rc = net_wait(c);

			if (rc)
				return rc;
			continue;
		}
		if (k <= 0)
			return -ECONNRESET;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

/* What a floor's peer does with each request, until the connection ends. */
enum net_peer { NP_RR, NP_STREAM_TO_HOST, NP_STREAM_TO_DEVICE, NP_NOTIFY };

struct notify_page {
	_Atomic uint64_t t;
};

static void peer_loop(struct runner *r, struct net_conn *c, enum net_peer kind)
{
	for (;;) {
		int rc = 0;

		switch (kind) {
		case NP_RR:
			rc = net_read(c, r->buf, r->req);
			if (!rc)
				rc = net_write(c, r->buf, r->resp);
			break;
		case NP_STREAM_TO_HOST:
			rc = net_read(c, r->buf, 1);
			if (!rc)
				rc = net_write(c, r->buf, r->size);
			break;
		case NP_STREAM_TO_DEVICE:
			rc = net_read(c, r->buf, r->size);
			if (!rc)
				rc = net_write(c, r->buf, 1);
			break;
		case NP_NOTIFY:
			rc = net_read(c, r->buf, r->req);
			if (!rc) {
				struct notify_page *pg = r->page;

				atomic_store_explicit(&pg->t, vpcie_now_ns(), memory_order_relaxed);
				rc = net_write(c, r->buf, r->resp);
			}
			break;
		}
		if (rc)
			return;
	}
}

static void net_fini(struct runner *r)
{
	struct net_conn *c = r->ctx;

	if (c) {
		conn_close(c); /* the peer sees the end of the stream and exits */
		free(c);
		r->ctx = NULL;
	}
	peer_fini(r);
}

/* Fork the peer on a fresh loopback connection (TLS: both ends shake
 * hands) and arm r with step. r->buf, req, resp, size, page are set. */
static int net_start(struct runner *r, struct bench *b, bool tls, enum net_peer kind,
		     int (*step)(struct runner *, double *))
{
	struct net_conn *c = calloc(1, sizeof(*c));
	int sv[2], rc;

	if (!c) {
		peer_fini(r);
		return -ENOMEM;
	}
	c->fd = -1;
	rc = tls ? net_make_psk(b) : 0;
	if (!rc)
		rc = tcp_pair(b, sv);
	if (rc) {
		free(c);
		peer_fini(r); /* frees r->buf and r->page */
		return rc;
	}
	r->pid = fork_kid();
	if (r->pid == 0) {
		struct net_conn pc = {.fd = sv[1]};

		close(sv[0]);
		if (!tls || tls_start(&pc, true, &b->psk) >= 0)
			peer_loop(r, &pc, kind);
		conn_close(&pc);
		_exit(0);
	}
	close(sv[1]);
	c->fd = sv[0];
	r->ctx = c;
	r->step = step;
	r->fini = net_fini;
	r->live = true;
	if (r->pid < 0) {
		r->pid = 0;
		runner_fini(r);
		return -EAGAIN;
	}
	if (tls && (rc = tls_start(c, false, &b->psk)) < 0) {
		fprintf(stderr, "vpcie bench: TLS floor: handshake failed: %s\n",
			gnutls_strerror(rc));
		runner_fini(r);
		return -EPROTO;
	}
	return 0;
}

static int alloc_buf(struct runner *r, size_t len)
{
	r->buf = malloc(len ? len : 1);
	if (!r->buf)
		return -ENOMEM;
	memset(r->buf, 0x5a, len ? len : 1);
	return 0;
}

static const char *net_name(const struct bench *b, bool tls)
{
	return b->veth ? (tls ? "veth.tls" : "veth.tcp") : tls ? "tls" : "tcp";
}

static const char *net_how(const struct bench *b, bool tls)
{
	if (b->veth)
		return tls ? "TLS 1.3 (GnuTLS, the runtime's priority and key) over TCP across a veth pair"
			   : "TCP across a veth pair (TCP_NODELAY)";
	return tls ? "TLS 1.3 (GnuTLS, the runtime's priority and key) over TCP loopback"
		   : "TCP loopback (TCP_NODELAY)";
}

/* -- request/reply */
static int net_rr_step(struct runner *r, double *out)
{
	struct net_conn *c = r->ctx;
	uint64_t a = vpcie_now_ns();

	for (unsigned k = 0; k < r->chunks; k++) {
		int rc = net_write(c, r->buf, r->req);

		if (!rc)
			rc = net_read(c, r->buf, r->resp);
		if (rc)
			return rc;
	}
	*out = (double)(vpcie_now_ns() - a);
	return 0;
}

int net_rr_floor(struct runner *r, struct floor_spec *fs, struct bench *b, bool tls,
		 const char *kind, const char *tail, size_t req, size_t resp, unsigned chunks)
{
	int rc;

	snprintf(fs->name, sizeof(fs->name), "floor.%s.%s.%s", net_name(b, tls), kind, tail);
	if (chunks > 1)
		snprintf(fs->what, sizeof(fs->what),
			 "%s request/reply between two processes, blocking, %u x (%zu B request, "
			 "%zu B reply)", net_how(b, tls), chunks, req, resp);
	else
		snprintf(fs->what, sizeof(fs->what),
			 "%s ping-pong between two processes, blocking, %zu B request, %zu B reply",
			 net_how(b, tls), req, resp);
	fs->kind = K_LAT;
	fs->size = 0;
	fs->disc = DISC_BLOCK;
	runner_zero(r, b);
	r->req = req;
	r->resp = resp;
	r->chunks = chunks ? chunks : 1;
	rc = alloc_buf(r, req > resp ? req : resp);
	return rc ? rc : net_start(r, b, tls, NP_RR, net_rr_step);
}

/* -- one-way stream */
static int net_stream_step(struct runner *r, double *out)
{
	struct net_conn *c = r->ctx;
	uint64_t a = vpcie_now_ns();
	int rc;

	if (r->to_host) {
		rc = net_write(c, r->buf, 1);
		if (!rc)
			rc = net_read(c, r->buf, r->size);
	} else {
		rc = net_write(c, r->buf, r->size);
		if (!rc)
			rc = net_read(c, r->buf, 1);
	}
	if (!rc)
		*out = (double)(vpcie_now_ns() - a);
	return rc;
}

int net_stream_floor(struct runner *r, struct floor_spec *fs, struct bench *b, bool tls,
		     uint64_t size, bool to_host)
{
	int rc;

	snprintf(fs->name, sizeof(fs->name), "floor.%s.stream.%s.%llu", net_name(b, tls),
		 to_host ? "to_host" : "to_device", (unsigned long long)size);
	snprintf(fs->what, sizeof(fs->what),
		 "%s: %llu B in one stream %s, blocking, after a 1 B %s",
		 net_how(b, tls), (unsigned long long)size,
		 to_host ? "from the peer to us" : "from us to the peer",
		 to_host ? "request" : "acknowledgement");
	fs->kind = K_BW;
	fs->size = size;
	fs->disc = DISC_BLOCK;
	runner_zero(r, b);
	r->size = size;
	r->to_host = to_host;
	rc = alloc_buf(r, size);
	return rc ? rc
		  : net_start(r, b, tls, to_host ? NP_STREAM_TO_HOST : NP_STREAM_TO_DEVICE,
			      net_stream_step);
}

/* -- notification */
static int net_notify_step(struct runner *r, double *out)
{
	struct net_conn *c = r->ctx;
	struct notify_page *pg = r->page;
	int rc = net_write(c, r->buf, r->req);
	uint64_t t;

	if (!rc)
		rc = net_read(c, r->buf, r->resp);
	t = vpcie_now_ns();
	if (!rc)
		*out = (double)(t - atomic_load_explicit(&pg->t, memory_order_relaxed));
	return rc;
}

int net_notify_floor(struct runner *r, struct floor_spec *fs, struct bench *b, bool tls,
		     size_t req, size_t resp)
{
	int rc;

	snprintf(fs->name, sizeof(fs->name), "floor.%s.notify.%zu.%zu", net_name(b, tls), req, resp);
	snprintf(fs->what, sizeof(fs->what),
		 "%s: we send %zu B, the peer stamps the time and sends %zu B, we wake up "
		 "(blocking); wake-up minus stamp", net_how(b, tls), req, resp);
	fs->kind = K_LAT;
	fs->size = 0;
	fs->disc = DISC_BLOCK;
	runner_zero(r, b);
	r->req = req;
	r->resp = resp;
	r->page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r->page == MAP_FAILED) {
		r->page = NULL;
		return -errno;
	}
	rc = alloc_buf(r, req > resp ? req : resp);
	if (rc) {
		munmap(r->page, 4096);
		r->page = NULL;
		return rc;
	}
	return net_start(r, b, tls, NP_NOTIFY, net_notify_step);
}
