/* SPDX-License-Identifier: MIT */
/* TLS 1.3 with a pre-shared key (GnuTLS) as a byte stream under a channel,
 * and the key file that both ends hold. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include <vpcie/tls.h>

#include "../util/util.h"
#include "tls_priority.h"

#define TLS_PRIORITY VPCIE_TLS_PRIORITY
#define TLS_RECORD VPCIE_TLS_RECORD

/* ---- The key file -------------------------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int invalid(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
	return -EINVAL;
}

int vpcie_tls_psk_load(const char *path, struct vpcie_tls_psk *psk, char *why, size_t whylen)
{
	char line[VPCIE_TLS_MAX_IDENTITY + 2 * VPCIE_TLS_MAX_KEY + 8];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	memset(psk, 0, sizeof(*psk));
	if (why && whylen)
		why[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return invalid(why, whylen, "not a regular file");
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		if (why && whylen)
			snprintf(why, whylen, "group or others may access it (mode %03o); "
					      "chmod 600 it", (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	n = read(fd, line, sizeof(line) - 1);
	if (n < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	close(fd);
	line[n] = '\0';
	char *nl = strchr(line, '\n');

	if (!nl && (size_t)n == sizeof(line) - 1)
		rc = invalid(why, whylen, "first line too long");
	if (nl)
		*nl = '\0';
	char *colon = rc ? NULL : strrchr(line, ':');
	size_t ilen = colon ? (size_t)(colon - line) : 0, hlen = colon ? strlen(colon + 1) : 0;

	if (!rc && (!colon || ilen == 0 || ilen > VPCIE_TLS_MAX_IDENTITY))
		rc = invalid(why, whylen, "want one line IDENTITY:HEXKEY (psktool -u NAME -p FILE)");
	if (!rc && (hlen % 2 || hlen / 2 < VPCIE_TLS_MIN_KEY || hlen / 2 > VPCIE_TLS_MAX_KEY))
		rc = invalid(why, whylen, "the key must be 16 to 64 bytes in hex");
	for (size_t i = 0; !rc && i < hlen / 2; i++) {
		int hi = hexval(colon[1 + 2 * i]), lo = hexval(colon[2 + 2 * i]);

		if (hi < 0 || lo < 0)
			rc = invalid(why, whylen, "the key is not hexadecimal");
		else
			psk->key[i] = (uint8_t)(hi << 4 | lo);
	}
	if (!rc) {
		memcpy(psk->identity, line, ilen);
		psk->identity[ilen] = '\0';
		psk->key_len = hlen / 2;
	} else {
		vpcie_tls_psk_clear(psk);
	}
	explicit_bzero(line, sizeof(line));
	return rc;
}

void vpcie_tls_psk_clear(struct vpcie_tls_psk *psk)
{
	explicit_bzero(psk, sizeof(*psk));
}

/* ---- The stream ------------------------------------------------------------ */

struct tls_stream {
	gnutls_session_t s;
	gnutls_psk_server_credentials_t scred;
	gnutls_psk_client_credentials_t ccred;
	struct vpcie_tls_psk psk;
	int fd;
	uint8_t buf[TLS_RECORD]; /* small iovecs gathered into one record */
};

static void tls_free(struct tls_stream *t)
{
	if (t->s)
		gnutls_deinit(t->s);
	if (t->scred)
		gnutls_psk_free_server_credentials(t->scred);
	if (t->ccred)
		gnutls_psk_free_client_credentials(t->ccred);
	if (t->fd >= 0)
		close(t->fd);
	vpcie_tls_psk_clear(&t->psk);
	free(t);
}

static long map_err(ssize_t rc)
{
	switch (rc) {
	case GNUTLS_E_AGAIN:
	case GNUTLS_E_INTERRUPTED:
		return -EAGAIN;
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		return -ECONNRESET;
	default:
		return -EPROTO;
	}
}

/* One record per call: iovecs that fit are gathered (a header and a small
 * payload go as one record), a large one is sent from its place. After
 * -EAGAIN the channel calls again with the same bytes, as GnuTLS needs. */
static long tls_send(void *ctx, const struct iovec *iov, int iovcnt, const int *fds,
		     unsigned nfds)
{
	struct tls_stream *t = ctx;
	const void *p = iov[0].iov_base;
	size_t len = iov[0].iov_len;
	ssize_t n;

	(void)fds;
	if (nfds)
		return -EOPNOTSUPP;
	if (len < TLS_RECORD && iovcnt > 1) {
		len = 0;
		for (int i = 0; i < iovcnt && len < TLS_RECORD; i++) {
			size_t c = iov[i].iov_len < TLS_RECORD - len ? iov[i].iov_len : TLS_RECORD - len;

			memcpy(t->buf + len, iov[i].iov_base, c);
			len += c;
		}
		p = t->buf;
	} else if (len > TLS_RECORD) {
		len = TLS_RECORD;
	}
	n = gnutls_record_send(t->s, p, len);
	return n >= 0 ? (long)n : map_err(n);
}

static long tls_recv(void *ctx, void *buf, size_t len, int *fds, unsigned *nfds,
		     unsigned max_fds)
{
	struct tls_stream *t = ctx;
	ssize_t n = gnutls_record_recv(t->s, buf, len);

	(void)fds;
	(void)max_fds;
	*nfds = 0;
	return n >= 0 ? (long)n : map_err(n);
}

static int tls_poll_fd(void *ctx)
{
	return ((struct tls_stream *)ctx)->fd;
}

static size_t tls_pending(void *ctx)
{
	return gnutls_record_check_pending(((struct tls_stream *)ctx)->s);
}

static void tls_close(void *ctx)
{
	struct tls_stream *t = ctx;

	gnutls_bye(t->s, GNUTLS_SHUT_WR); /* best effort: never waits (non-blocking) */
	tls_free(t);
}

static const struct vpcie_stream_ops tls_stream_ops = {
	.send = tls_send,
	.recv = tls_recv,
	.poll_fd = tls_poll_fd,
	.pending = tls_pending,
	.close = tls_close,
	.passes_fds = false,
};

/* Server side: the key for the identity the client names, or refuse. */
static int server_key(gnutls_session_t s, const char *identity, gnutls_datum_t *key)
{
	const struct tls_stream *t = gnutls_session_get_ptr(s);

	if (!identity || strcmp(identity, t->psk.identity) != 0)
		return -1;
	key->data = gnutls_malloc(t->psk.key_len);
	if (!key->data)
		return -1;
	memcpy(key->data, t->psk.key, t->psk.key_len);
	key->size = (unsigned)t->psk.key_len;
	return 0;
}

static int setup(struct tls_stream *t, bool server)
{
	gnutls_datum_t key = {.data = t->psk.key, .size = (unsigned)t->psk.key_len};
	int rc = gnutls_init(&t->s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK);

	if (rc < 0)
		return rc;
	gnutls_session_set_ptr(t->s, t);
	rc = gnutls_priority_set_direct(t->s, TLS_PRIORITY, NULL);
	if (rc < 0)
		return rc;
	if (server) {
		rc = gnutls_psk_allocate_server_credentials(&t->scred);
		if (rc < 0)
			return rc;
		gnutls_psk_set_server_credentials_function(t->scred, server_key);
		rc = gnutls_credentials_set(t->s, GNUTLS_CRD_PSK, t->scred);
	} else {
		rc = gnutls_psk_allocate_client_credentials(&t->ccred);
		if (rc < 0)
			return rc;
		rc = gnutls_psk_set_client_credentials(t->ccred, t->psk.identity, &key,
						       GNUTLS_PSK_KEY_RAW);
		if (rc >= 0)
			rc = gnutls_credentials_set(t->s, GNUTLS_CRD_PSK, t->ccred);
	}
	if (rc >= 0)
		gnutls_transport_set_int(t->s, t->fd);
	return rc;
}

static int handshake(struct tls_stream *t, int timeout_ms)
{
	uint64_t deadline = vpcie_deadline(timeout_ms);
	int rc;

	while ((rc = gnutls_handshake(t->s)) < 0) {
		if (gnutls_error_is_fatal(rc))
			return rc;
		struct pollfd p = {.fd = t->fd,
				   .events = gnutls_record_get_direction(t->s) ? POLLOUT : POLLIN};
		int left = vpcie_ms_left(deadline);

		if (left == 0)
			return GNUTLS_E_TIMEDOUT;
		if (poll(&p, 1, left) < 0 && errno != EINTR)
			return GNUTLS_E_PULL_ERROR;
	}
	return 0;
}

struct vpcie_chan *vpcie_tls_chan_new(int fd, bool server, const struct vpcie_tls_psk *psk,
				      const struct vpcie_chan_limits *lim, int timeout_ms,
				      char *why, size_t whylen)
{
	struct tls_stream *t = calloc(1, sizeof(*t));
	int rc, fl;

	if (why && whylen)
		why[0] = '\0';
	if (!t) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	t->fd = fd;
	t->psk = *psk;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		rc = GNUTLS_E_PUSH_ERROR;
	else
		rc = setup(t, server);
	if (rc >= 0)
		rc = handshake(t, timeout_ms);
	if (rc < 0) {
		int e = rc == GNUTLS_E_TIMEDOUT		      ? ETIMEDOUT
			: rc == GNUTLS_E_PREMATURE_TERMINATION ? ECONNRESET
			: rc == GNUTLS_E_PUSH_ERROR || rc == GNUTLS_E_PULL_ERROR ? ECONNRESET
			: rc == GNUTLS_E_UNEXPECTED_PACKET_LENGTH ||
					rc == GNUTLS_E_UNSUPPORTED_VERSION_PACKET ||
					rc == GNUTLS_E_UNEXPECTED_PACKET
				? EPROTO
				: EACCES;

		if (why && whylen)
			snprintf(why, whylen, "TLS handshake failed: %s", gnutls_strerror(rc));
		tls_free(t);
		errno = e;
		return NULL;
	}
	return vpcie_chan_new_stream(&tls_stream_ops, t, lim);
}
