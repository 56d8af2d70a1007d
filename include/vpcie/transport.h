/* SPDX-License-Identifier: MIT */
/*
 * vpcie/transport.h - moving whole vfio-user messages (and their file
 * descriptors) over a stream socket.
 *
 * A vpcie_chan owns one connected stream socket. Sending is one sendmsg() per
 * message (header and payload as iovecs, fds as SCM_RIGHTS). Receiving reads
 * as many bytes as the socket has into a buffer and cuts messages out of it,
 * so a burst of small messages costs one recvmsg(). File descriptors that
 * arrive are attached to the message they travelled with and are owned by
 * the received vpcie_msg until taken.
 *
 * The socket is non-blocking; every call that may wait takes a timeout in
 * milliseconds (-1 waits forever, 0 never waits). A peer that sends a header
 * claiming more than the channel's max_msg_size, or too many fds, is a
 * protocol error: the channel reports -EPROTO and must be closed.
 *
 * Layers: vpcie_chan is the message layer (framing, buffering, limits, fds
 * attached to their message). Below it sits a byte stream described by a
 * small operations table, struct vpcie_stream_ops: non-blocking send and
 * receive of bytes (with fds where the stream can carry them), the fd to
 * poll, and bytes the stream holds already decoded. The UNIX socket is one
 * implementation (vpcie_chan_new); TCP or TLS streams, or a fuzzer feeding
 * bytes from memory, are others (vpcie_chan_new_stream). The shared-memory
 * ring (vpcie/ring.h) is not a byte stream: it carries its own small
 * messages beside a channel.
 */
#ifndef VPCIE_TRANSPORT_H
#define VPCIE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vpcie/protocol.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A received message. Payload memory and fds belong to the message. */
struct vpcie_msg {
	struct vpcie_msg_hdr hdr;
	void *payload;      /* hdr.size - VPCIE_HDR_SIZE bytes (NULL if 0) */
	size_t payload_len;
	void *alloc;        /* allocation payload points into; freed on release */
	int *fds;           /* nfds descriptors; -1 once taken */
	unsigned nfds;
};

/* Release payload and close every fd not taken. Safe on a zeroed msg. */
void vpcie_msg_release(struct vpcie_msg *msg);

/* Take ownership of fd number i (returns -1 if absent or already taken). */
int vpcie_msg_take_fd(struct vpcie_msg *msg, unsigned i);

struct vpcie_chan;

struct vpcie_chan_limits {
	uint32_t max_msg_size; /* largest message accepted, header included */
	unsigned max_fds;      /* most fds accepted with one message */
};

/*
 * A byte stream under a channel. Every call is non-blocking; the channel
 * waits by polling poll_fd(). Errors are negative errnos.
 */
struct vpcie_stream_ops {
	/* Send bytes from iov[0..iovcnt); fds (only if passes_fds) go with the
	 * first byte. Returns the bytes sent (> 0), -EAGAIN when the stream
	 * is full, or -errno (-EPIPE/-ECONNRESET: peer gone). */
	long (*send)(void *ctx, const struct iovec *iov, int iovcnt, const int *fds,
		     unsigned nfds);
	/* Receive up to len bytes into buf. fds that arrived with them are
	 * stored in fds[0..*nfds) (at most max_fds; more is -EPROTO, with the
	 * extra ones closed). Returns bytes received (> 0), 0 at end of
	 * stream, -EAGAIN when nothing is there, or -errno. */
	long (*recv)(void *ctx, void *buf, size_t len, int *fds, unsigned *nfds,
		     unsigned max_fds);
	/* The fd to poll for POLLIN/POLLOUT. */
	int (*poll_fd)(void *ctx);
	/* Bytes the stream already holds that poll_fd() would not report
	 * (e.g. decrypted TLS records); NULL if it never holds any. */
	size_t (*pending)(void *ctx);
	/* Release the stream (closes its fd). */
	void (*close)(void *ctx);
	/* Whether fds can travel (UNIX sockets: yes; TCP: no). */
	bool passes_fds;
};

/*
 * A channel over any byte stream (ops must outlive the channel; ctx is
 * owned by it and released with ops->close, also on failure). Returns NULL
 * with errno set on failure.
 */
struct vpcie_chan *vpcie_chan_new_stream(const struct vpcie_stream_ops *ops, void *ctx,
					 const struct vpcie_chan_limits *lim);

/*
 * A channel over a connected stream socket: UNIX (fds travel) or TCP (no
 * fds; the channel refuses to send any). Ownership passes to the
 * channel; it is made non-blocking and close-on-exec. Returns NULL with
 * errno set on failure, in which case fd is closed.
 */
struct vpcie_chan *vpcie_chan_new(int fd, const struct vpcie_chan_limits *lim);

/* Whether this channel's stream can carry file descriptors. */
bool vpcie_chan_passes_fds(const struct vpcie_chan *ch);

/* Close the socket, drop buffered bytes and fds, free the channel. */
void vpcie_chan_free(struct vpcie_chan *ch);

/* The stream's fd, for poll/epoll. Readable or has buffered messages: see below. */
int vpcie_chan_fd(const struct vpcie_chan *ch);

/* Change limits, e.g. after VERSION negotiation. */
void vpcie_chan_set_limits(struct vpcie_chan *ch, const struct vpcie_chan_limits *lim);

/* True if a complete message is already buffered (poll would not report it). */
int vpcie_chan_has_buffered(const struct vpcie_chan *ch);

/* True if part of a message has arrived but not all of it. */
bool vpcie_chan_partial(const struct vpcie_chan *ch);

/* Bytes received so far on this channel (a progress counter). */
uint64_t vpcie_chan_received(const struct vpcie_chan *ch);

/*
 * Send one message: hdr (its size field is filled in from the iovecs), then
 * iovcnt payload pieces, then nfds fds. Waits up to timeout_ms for socket
 * space. Returns 0, -ETIMEDOUT, -EPIPE/-ECONNRESET (peer gone), -EOPNOTSUPP
 * (fds on a stream that cannot carry them; nothing sent) or -errno.
 */
int vpcie_chan_send(struct vpcie_chan *ch, struct vpcie_msg_hdr *hdr,
		    const struct iovec *iov, int iovcnt, const int *fds,
		    unsigned nfds, int timeout_ms);

/*
 * Receive one whole message into *msg (which the caller releases). Waits up
 * to timeout_ms. Returns 0, -EAGAIN/-ETIMEDOUT (nothing complete in time),
 * -ECONNRESET (orderly or abrupt close), -EPROTO (peer broke framing or fd
 * limits: close the channel) or -errno.
 */
int vpcie_chan_recv(struct vpcie_chan *ch, struct vpcie_msg *msg, int timeout_ms);

/*
 * Send bytes that already hold whole messages (headers with their sizes set),
 * e.g. a batch of posted writes: one syscall for many messages. No fds.
 */
int vpcie_chan_send_raw(struct vpcie_chan *ch, const void *buf, size_t len, int timeout_ms);

/* Convenience: send a reply header (+payload) echoing req's id and command. */
int vpcie_chan_reply(struct vpcie_chan *ch, const struct vpcie_msg_hdr *req,
		     const struct iovec *iov, int iovcnt, const int *fds,
		     unsigned nfds, int timeout_ms);

/* Send an error reply (header only, as the spec demands) with errno err > 0. */
int vpcie_chan_reply_error(struct vpcie_chan *ch, const struct vpcie_msg_hdr *req,
			   int err, int timeout_ms);

/* ---- UNIX socket endpoints --------------------------------------------- */

/*
 * Listen on path (an existing socket file is replaced only if nothing is
 * listening on it). Returns the listening fd or -errno.
 */
int vpcie_unix_listen(const char *path);

/* Connect to path, waiting up to timeout_ms for the socket to appear/accept. */
int vpcie_unix_connect(const char *path, int timeout_ms);

/* ---- Endpoints by name: UNIX sockets and TCP -------------------------- */

/*
 * Where a device listens and a host connects, written as
 *   unix:PATH  or a bare PATH       a UNIX stream socket
 *   tcp:HOST:PORT, tcp:[IPV6]:PORT  TCP (IPv4 or IPv6; HOST a name or address)
 * TCP carries no file descriptors: DMA travels as DMA_READ/DMA_WRITE
 * messages, regions are accessed by messages and interrupts as vpcie
 * interrupt messages (docs/tcp.md). Plaintext TCP is allowed on loopback
 * addresses only: a HOST that resolves to any other address is refused
 * with -EACCES unless the connection runs TLS (vpcie/tls.h).
 */
enum vpcie_endpoint_kind { VPCIE_ENDPOINT_UNIX, VPCIE_ENDPOINT_TCP };

struct vpcie_endpoint {
	enum vpcie_endpoint_kind kind;
	char path[108];  /* UNIX: the socket's path (sun_path's size) */
	char host[256];  /* TCP: host name or address, without brackets */
	uint16_t port;   /* TCP: 1..65535 */
};

/* Parse spec into ep: 0, -EINVAL (malformed) or -ENAMETOOLONG. */
int vpcie_endpoint_parse(const char *spec, struct vpcie_endpoint *ep);

/* Write ep back in the form parse takes; its length or -ENOSPC. */
int vpcie_endpoint_format(const struct vpcie_endpoint *ep, char *buf, size_t len);

/* Listen on ep (non-blocking, close-on-exec): the fd or -errno (-EACCES:
 * a non-loopback TCP address while tls is false -- the caller promises to
 * run TLS (vpcie/tls.h) on every connection when it passes true). */
int vpcie_endpoint_listen(const struct vpcie_endpoint *ep, bool tls);

/* Connect to ep, retrying a refused/missing endpoint up to timeout_ms:
 * a blocking fd or -errno (-EACCES as above). TCP sockets get TCP_NODELAY
 * and keep-alive. */
int vpcie_endpoint_connect(const struct vpcie_endpoint *ep, int timeout_ms, bool tls);

/* Accept one connection from a listening fd of either kind (non-blocking,
 * close-on-exec, TCP tuned as above): the fd or -errno (-EAGAIN: none). */
int vpcie_endpoint_accept(int listen_fd);

/* Whether sa is a loopback address (UNIX sockets count as loopback). */
struct sockaddr;
bool vpcie_sockaddr_is_loopback(const struct sockaddr *sa);

#ifdef __cplusplus
}
#endif
#endif
