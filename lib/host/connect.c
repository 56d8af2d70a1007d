/* SPDX-License-Identifier: MIT */
/*
 * Host runtime: the connection. Default options, connecting (UNIX, TCP,
 * TLS, an fd the caller owns), negotiating VERSION (limits, the twin
 * socket, the shared-memory ring), closing, and the accessors for what
 * negotiation found.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vpcie/host.h>
#include <vpcie/tls.h>
#include <vpcie/transport.h>

#include "../util/abi.h"
#include "../util/util.h"
#include "host_priv.h"

#define HOST_DEFAULT_TIMEOUT_MS 5000
#define HOST_DEFAULT_XFER (1u << 20)

static void opts_defaults(struct vpcie_host_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->timeout_ms = HOST_DEFAULT_TIMEOUT_MS;
	opts->connect_timeout_ms = HOST_DEFAULT_TIMEOUT_MS;
	opts->max_data_xfer_size = HOST_DEFAULT_XFER;
	opts->twin_socket = false;
	opts->write_multiple = true;
	opts->log_level = VPCIE_LOG_WARN;
	opts->poll_max_us = vpcie_env_poll_us(50);
	opts->ring = getenv("VPCIE_HOST_RING") && !strcmp(getenv("VPCIE_HOST_RING"), "1");
	opts->trace_path = getenv("VPCIE_TRACE");
	if (opts->trace_path && !*opts->trace_path)
		opts->trace_path = NULL;
}

void vpcie_host_opts_defaults_sized(struct vpcie_host_opts *opts, size_t size)
{
	struct vpcie_host_opts d;

	opts_defaults(&d);
	vpcie_abi_fill(opts, size, &d, sizeof(d));
}

static void host_chan_limits(const struct vpcie_host *h, struct vpcie_chan_limits *lim)
{
	uint64_t big = h->opts.max_data_xfer_size;

	if (big < HOST_REGION_INFO_ARGSZ + sizeof(struct vpcie_region_info))
		big = HOST_REGION_INFO_ARGSZ + sizeof(struct vpcie_region_info);
	if (big < VPCIE_VERSION_JSON_MAX + sizeof(struct vpcie_version))
		big = VPCIE_VERSION_JSON_MAX + sizeof(struct vpcie_version);
	/* DMA_WRITE command / REGION_READ reply: 16-byte fixed part + data. */
	lim->max_msg_size = (uint32_t)(VPCIE_HDR_SIZE + 16u + big);
	lim->max_fds = HOST_MAX_FDS;
}

static int negotiate(struct vpcie_host *h)
{
	struct vpcie_caps ours;
	char json[VPCIE_VERSION_JSON_MAX];
	struct vpcie_version ver = {.major = VPCIE_PROTO_MAJOR, .minor = VPCIE_PROTO_MINOR};
	struct iovec iov[2];
	struct vpcie_msg rep;
	const struct vpcie_version *rv;
	int len, rc;

	vpcie_caps_defaults(&ours);
	ours.max_msg_fds = HOST_MAX_FDS;
	ours.max_data_xfer_size = h->opts.max_data_xfer_size;
	ours.write_multiple = h->opts.write_multiple;
	/* our channel sends a reply whole however large (it waits for room) */
	ours.dma_read_max = h->opts.max_data_xfer_size;
	/* Without fds (TCP): no twin socket, no ring, interrupts by message. */
	ours.twin_socket = h->opts.twin_socket && vpcie_chan_passes_fds(h->ch);
	ours.twin_fd_index = -1;
	ours.ring = h->opts.ring && vpcie_chan_passes_fds(h->ch);
	ours.irq_msg = !vpcie_chan_passes_fds(h->ch);
	ours.ring_version = VPCIE_RING_VERSION;
	len = vpcie_caps_to_json(&ours, json, sizeof(json));
	if (len < 0)
		return len;
	iov[0] = (struct iovec){.iov_base = &ver, .iov_len = sizeof(ver)};
	iov[1] = (struct iovec){.iov_base = json, .iov_len = (size_t)len};
	/* max_xfer for the validation of the VERSION reply does not matter. */
	h->xfer = h->opts.max_data_xfer_size;
	rc = host_request(h, VPCIE_CMD_VERSION, 0, iov, 2, NULL, 0, &rep);
	if (rc == -EIO || rc == -EPROTO)
		return -EPROTO;
	if (rc < 0)
		return rc;

	rv = rep.payload;
	if (rep.payload_len < sizeof(*rv) || !rv) {
		rc = -EPROTO;
		goto out;
	}
	if (rv->major != VPCIE_PROTO_MAJOR || rv->minor > VPCIE_PROTO_MINOR) {
		vpcie_err(&h->lg, "device answered version %u.%u, we speak %u.%u", rv->major,
			  rv->minor, VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR);
		rc = -EPROTO;
		goto out;
	}
	vpcie_caps_defaults(&h->peer);
	h->peer.twin_fd_index = -1;
	{
		size_t jlen = rep.payload_len - sizeof(*rv);

		jlen = strnlen(rv->data, jlen);
		if (jlen) {
			rc = vpcie_caps_from_json(rv->data, jlen, &h->peer);
			if (rc < 0) {
				vpcie_err(&h->lg, "device capabilities unreadable: %s",
					  strerror(-rc));
				rc = -EPROTO;
				goto out;
			}
		}
	}
	if (h->peer.max_data_xfer_size == 0) {
		vpcie_err(&h->lg, "device announces max_data_xfer_size 0");
		rc = -EPROTO;
		goto out;
	}
	h->xfer = h->opts.max_data_xfer_size < h->peer.max_data_xfer_size
			  ? h->opts.max_data_xfer_size
			  : h->peer.max_data_xfer_size;
	if (h->xfer > VPCIE_MAX_XFER_LIMIT)
		h->xfer = VPCIE_MAX_XFER_LIMIT;
	if (h->peer.max_msg_fds > VPCIE_MAX_FDS_LIMIT)
		h->peer.max_msg_fds = VPCIE_MAX_FDS_LIMIT;
	if (!h->opts.write_multiple)
		h->peer.write_multiple = false;
	if (vpcie_chan_passes_fds(h->ch))
		h->peer.irq_msg = false; /* never proposed: eventfds it is */
	else
		h->peer.max_msg_fds = 0; /* whatever it says, no fd can reach it */

	/* Twin socket. */
	if (h->peer.twin_socket && h->peer.twin_fd_index >= 0) {
		struct vpcie_chan_limits lim;
		int fd;

		if (!h->opts.twin_socket) {
			vpcie_err(&h->lg, "device set up a twin socket we did not ask for");
			rc = -EPROTO;
			goto out;
		}
		fd = vpcie_msg_take_fd(&rep, (unsigned)h->peer.twin_fd_index);
		if (fd < 0) {
			vpcie_err(&h->lg, "twin socket fd_index %d: no such fd (%u received)",
				  h->peer.twin_fd_index, rep.nfds);
			rc = -EPROTO;
			goto out;
		}
		host_chan_limits(h, &lim);
		h->twin = vpcie_chan_new(fd, &lim);
		if (!h->twin) {
			rc = -errno;
			goto out;
		}
	} else if (h->peer.twin_socket && h->opts.twin_socket) {
		vpcie_err(&h->lg, "twin socket supported but no fd_index: inconsistent reply");
		rc = -EPROTO;
		goto out;
	} else {
		h->peer.twin_socket = false;
	}
	/* Ring transport: the device answers it or leaves us on the socket. */
	rc = host_ring_setup(h, &rep);
	if (rc < 0)
		goto out;
	vpcie_info(&h->lg,
		   "negotiated %u.%u: max_xfer %llu, max_msg_fds %u, write_multiple %d, twin %d, "
		   "ring %d", rv->major, rv->minor, (unsigned long long)h->xfer, h->peer.max_msg_fds,
		   h->peer.write_multiple, h->twin != NULL, h->ring != NULL);
	rc = 0;
out:
	vpcie_msg_release(&rep);
	return rc;
}

/* Release what open was given: the channel if there is one, else the fd. */
static void open_drop(int fd, struct vpcie_chan *ch)
{
	if (ch)
		vpcie_chan_free(ch);
	else if (fd >= 0)
		close(fd);
}

/* Open over fd, or over ch when it is not NULL (fd is then unused). */
static struct vpcie_host *host_open(int fd, struct vpcie_chan *ch,
				    const struct vpcie_host_opts *opts, size_t opts_size, int *err)
{
	struct vpcie_chan_limits lim;
	struct vpcie_host *h;
	int rc;

	if (fd < 0 && !ch) {
		rc = -EBADF;
		goto fail_fd;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		rc = -ENOMEM;
		open_drop(fd, ch);
		goto fail_fd;
	}
	opts_defaults(&h->opts);
	if (opts && vpcie_abi_copy(&h->opts, sizeof(h->opts), opts, opts_size)) {
		rc = -EINVAL;
		free(h);
		open_drop(fd, ch);
		goto fail_fd;
	}
	if (h->opts.timeout_ms == 0)
		h->opts.timeout_ms = HOST_DEFAULT_TIMEOUT_MS;
	if (h->opts.max_data_xfer_size == 0)
		h->opts.max_data_xfer_size = HOST_DEFAULT_XFER;
	if (h->opts.max_data_xfer_size > VPCIE_MAX_XFER_LIMIT)
		h->opts.max_data_xfer_size = VPCIE_MAX_XFER_LIMIT;
	vpcie_logger_init(&h->lg, "vpcie-host", h->opts.log_level);
	vpcie_spin_init(&h->spin, (uint64_t)h->opts.poll_max_us * 1000u);
	h->lg.sink = h->opts.log_sink;
	h->lg.opaque = h->opts.log_opaque;
	h->irq_type = HOST_IRQ_NONE;
	vpcie_caps_defaults(&h->peer);
	h->peer.twin_fd_index = -1;
	h->xfer = h->opts.max_data_xfer_size;
	if (h->opts.trace_path) {
		rc = vpcie_trace_open(&h->trace, h->opts.trace_path, VPCIE_TRACE_SIDE_HOST,
				      program_invocation_short_name);
		if (rc < 0) {
			vpcie_err(&h->lg, "cannot open trace %s: %s", h->opts.trace_path,
				  strerror(-rc));
			free(h);
			open_drop(fd, ch);
			goto fail_fd;
		}
	}

	host_chan_limits(h, &lim);
	if (ch) {
		vpcie_chan_set_limits(ch, &lim);
		h->ch = ch;
	} else if (h->opts.psk_file) {
		struct vpcie_tls_psk psk;

		rc = vpcie_tls_psk_load(h->opts.psk_file, &psk, NULL, 0);
		if (rc) {
			free(h);
			open_drop(fd, ch);
			goto fail_fd;
		}
		errno = 0;
		h->ch = vpcie_tls_chan_new(fd, false, &psk, &lim, h->opts.timeout_ms, NULL, 0);
		vpcie_tls_psk_clear(&psk);
	} else {
		h->ch = vpcie_chan_new(fd, &lim);
	}
	if (!h->ch) {
		rc = errno ? -errno : -ENOMEM;
		vpcie_trace_close(h->trace);
		free(h);
		goto fail_fd;
	}
	rc = negotiate(h);
	if (rc < 0) {
		vpcie_host_close(h);
		if (rc == -ECONNRESET || rc == -EPIPE)
			rc = -EPROTO; /* closed instead of answering VERSION */
		if (err)
			*err = rc;
		return NULL;
	}
	if (HOST_TRACING(h)) /* trace point: connect */
		vpcie_trace_event(h->trace, 0, VPCIE_TRACE_CONNECT, 0, 0, 0, 0, 0, 0, NULL);
	if (err)
		*err = 0;
	return h;

fail_fd:
	if (err)
		*err = rc;
	return NULL;
}

struct vpcie_host *vpcie_host_open_fd_sized(int fd, const struct vpcie_host_opts *opts,
					    size_t opts_size, int *err)
{
	return host_open(fd, NULL, opts, opts_size, err);
}

struct vpcie_host *vpcie_host_open_chan_sized(struct vpcie_chan *ch,
					      const struct vpcie_host_opts *opts, size_t opts_size,
					      int *err)
{
	if (!ch) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	return host_open(-1, ch, opts, opts_size, err);
}

struct vpcie_host *vpcie_host_open_sized(const char *path, const struct vpcie_host_opts *opts,
					 size_t opts_size, int *err)
{
	struct vpcie_host_opts o;
	int fd;

	opts_defaults(&o);
	if (!path || (opts && vpcie_abi_copy(&o, sizeof(o), opts, opts_size))) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	struct vpcie_endpoint ep;

	fd = vpcie_endpoint_parse(path, &ep);
	if (fd == 0)
		fd = vpcie_endpoint_connect(&ep, o.connect_timeout_ms, o.psk_file != NULL);
	if (fd < 0) {
		if (err)
			*err = fd;
		return NULL;
	}
	return vpcie_host_open_fd_sized(fd, &o, sizeof(o), err);
}

void vpcie_host_close(struct vpcie_host *h)
{
	if (!h)
		return;
	if (!h->broken)
		host_flush(h); /* posted writes are delivered, not dropped */
	host_irq_forget(h);
	host_mems_free(h);
	host_regions_free(h);
	host_ring_free(h);
	if (h->twin)
		vpcie_chan_free(h->twin);
	if (h->ch)
		vpcie_chan_free(h->ch);
	free(h->post);
	if (HOST_TRACING(h)) /* trace point: disconnect */
		vpcie_trace_event(h->trace, 0, VPCIE_TRACE_DISCONNECT, 0, 0, 0, 0, 0, 0,
				  h->broken ? "connection broken" : "closed");
	vpcie_trace_close(h->trace);
	free(h);
}

struct vpcie_logger *vpcie_host_logger(struct vpcie_host *h)
{
	return h ? &h->lg : NULL;
}

const struct vpcie_caps *vpcie_host_peer_caps(const struct vpcie_host *h)
{
	return h ? &h->peer : NULL;
}

bool vpcie_host_twin(const struct vpcie_host *h)
{
	return h && h->twin;
}

bool vpcie_host_ring(const struct vpcie_host *h)
{
	return h && h->ring;
}

uint64_t vpcie_host_dma_refused(const struct vpcie_host *h)
{
	return h ? h->dma_refused : 0;
}

uint64_t vpcie_host_dma_served(const struct vpcie_host *h)
{
	return h ? h->dma_served : 0;
}
