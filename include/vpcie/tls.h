/* SPDX-License-Identifier: MIT */
/*
 * vpcie/tls.h - TLS 1.3 with a pre-shared key under a channel (GnuTLS).
 *
 * vfio-user over TCP to anything but a loopback address must be
 * authenticated and encrypted. Both ends hold the same key file, one line
 * "identity:hexkey" as GnuTLS's `psktool -u NAME -p FILE` writes it; a key
 * file that its group or others may read is refused. The handshake runs
 * when the connection is made (bounded by a timeout, so a client that
 * stalls in it is dropped); afterwards the channel is an ordinary vpcie_chan
 * whose stream is TLS records over TCP (no fds travel).
 */
#ifndef VPCIE_TLS_H
#define VPCIE_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <vpcie/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VPCIE_TLS_MAX_IDENTITY 128
#define VPCIE_TLS_MIN_KEY 16 /* bytes: at least 128 bits */
#define VPCIE_TLS_MAX_KEY 64

struct vpcie_tls_psk {
	char identity[VPCIE_TLS_MAX_IDENTITY + 1];
	uint8_t key[VPCIE_TLS_MAX_KEY];
	size_t key_len;
};

/*
 * Load the first "identity:hexkey" line of path. Returns 0 or -errno:
 * -EPERM (group/other may read the file), -EINVAL (malformed: why is a
 * sentence in why[0..whylen), if why is non-NULL), -ENOENT...
 */
int vpcie_tls_psk_load(const char *path, struct vpcie_tls_psk *psk, char *why, size_t whylen);

/* Forget the key (zeroed memory). */
void vpcie_tls_psk_clear(struct vpcie_tls_psk *psk);

/*
 * Run the TLS 1.3 handshake on a connected TCP socket fd, as server (the
 * device) or client (the host), with psk, within timeout_ms; on success a
 * channel over it. fd is owned by the call (closed on failure). NULL with
 * errno set on failure: EACCES (wrong key/identity, or the peer is not
 * speaking TLS with a key), ETIMEDOUT, ECONNRESET, EPROTO; a description
 * of the failure in why[0..whylen) if why is non-NULL.
 */
struct vpcie_chan *vpcie_tls_chan_new(int fd, bool server, const struct vpcie_tls_psk *psk,
				      const struct vpcie_chan_limits *lim, int timeout_ms,
				      char *why, size_t whylen);

#ifdef __cplusplus
}
#endif
#endif
