/* SPDX-License-Identifier: MIT */
/* Endpoints by name ("unix:PATH", a bare PATH, "tcp:HOST:PORT") and TCP
 * sockets: listening, connecting, the loopback-only rule for plaintext. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vpcie/transport.h>

#include "../util/util.h"

int vpcie_endpoint_parse(const char *spec, struct vpcie_endpoint *ep)
{
	const char *hp, *colon;
	size_t hlen, plen;

	if (!spec || !ep)
		return -EINVAL;
	memset(ep, 0, sizeof(*ep));
	if (strncmp(spec, "tcp:", 4) != 0) {
		const char *path = strncmp(spec, "unix:", 5) == 0 ? spec + 5 : spec;
		size_t n = strlen(path);

		if (n == 0 || n >= sizeof(ep->path))
			return n ? -ENAMETOOLONG : -EINVAL;
		ep->kind = VPCIE_ENDPOINT_UNIX;
		memcpy(ep->path, path, n + 1);
		return 0;
	}
	hp = spec + 4;
	if (*hp == '[') { /* [IPv6]:PORT */
		const char *end = strchr(hp, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		hlen = (size_t)(end - hp - 1);
		hp++;
		colon = end + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon || memchr(hp, ':', (size_t)(colon - hp)))
			return -EINVAL; /* an IPv6 address needs brackets */
		hlen = (size_t)(colon - hp);
	}
	plen = strlen(colon + 1);
	if (hlen == 0 || hlen >= sizeof(ep->host) || plen == 0 || plen > 5 ||
	    strspn(colon + 1, "0123456789") != plen)
		return -EINVAL;
	unsigned long port = strtoul(colon + 1, NULL, 10);

	if (port == 0 || port > 65535)
		return -EINVAL;
	ep->kind = VPCIE_ENDPOINT_TCP;
	memcpy(ep->host, hp, hlen);
	ep->host[hlen] = '\0';
	ep->port = (uint16_t)port;
	return 0;
}

int vpcie_endpoint_format(const struct vpcie_endpoint *ep, char *buf, size_t len)
{
	int n;

	if (ep->kind == VPCIE_ENDPOINT_UNIX)
		n = snprintf(buf, len, "%s", ep->path);
	else
		n = snprintf(buf, len, strchr(ep->host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u",
			     ep->host, ep->port);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

bool vpcie_sockaddr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *b = in6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127;
	}
	return sa->sa_family == AF_UNIX;
}

/* Resolve ep; every address it names must be loopback (plaintext rule). */
static int resolve(const struct vpcie_endpoint *ep, bool passive, bool tls,
		   struct addrinfo **out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = passive ? AI_PASSIVE : 0};
	char port[8];
	int rc;

	snprintf(port, sizeof(port), "%u", ep->port);
	rc = getaddrinfo(ep->host, port, &hints, out);
	if (rc)
		return rc == EAI_SYSTEM ? -errno : rc == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH;
	for (struct addrinfo *a = *out; a && !tls; a = a->ai_next) {
		if (!vpcie_sockaddr_is_loopback(a->ai_addr)) {
			freeaddrinfo(*out);
			*out = NULL;
			return -EACCES;
		}
	}
	return 0;
}

/* TCP_NODELAY (a message is a transaction: never wait to fill a segment)
 * and keep-alive (a peer that vanished without a FIN is noticed). */
static void tune(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

static int tcp_listen(const struct vpcie_endpoint *ep, bool tls)
{
	struct addrinfo *res;
	int fd = -1, rc = resolve(ep, true, tls, &res), one = 1;

	if (rc)
		return rc;
	rc = -EADDRNOTAVAIL;
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 8) < 0) {
			rc = -errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : rc;
}

static int tcp_connect(const struct vpcie_endpoint *ep, int timeout_ms, bool tls)
{
	uint64_t deadline = vpcie_deadline(timeout_ms);
	struct addrinfo *res;
	int rc = resolve(ep, false, tls, &res);

	if (rc)
		return rc;
	for (;;) {
		for (struct addrinfo *a = res; a; a = a->ai_next) {
			int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

			if (fd < 0) {
				rc = -errno;
				continue;
			}
			if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
				tune(fd);
				freeaddrinfo(res);
				return fd;
			}
			rc = -errno;
			close(fd);
		}
		/* The device may still be starting: retry until the deadline. */
		if (rc != -ECONNREFUSED || vpcie_ms_left(deadline) == 0)
			break;
		poll(NULL, 0, 10);
	}
	freeaddrinfo(res);
	return rc;
}

int vpcie_endpoint_listen(const struct vpcie_endpoint *ep, bool tls)
{
	return ep->kind == VPCIE_ENDPOINT_TCP ? tcp_listen(ep, tls) : vpcie_unix_listen(ep->path);
}

int vpcie_endpoint_connect(const struct vpcie_endpoint *ep, int timeout_ms, bool tls)
{
	return ep->kind == VPCIE_ENDPOINT_TCP ? tcp_connect(ep, timeout_ms, tls)
					      : vpcie_unix_connect(ep->path, timeout_ms);
}

int vpcie_endpoint_accept(int listen_fd)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int dom;
	socklen_t len = sizeof(dom);

	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) == 0 && dom != AF_UNIX)
		tune(fd);
	return fd;
}
