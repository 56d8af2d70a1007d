/* SPDX-License-Identifier: MIT */
/*
 * `vpcie proxy`: one client session. The client (QEMU's vfio-user-pci, or
 * any vfio-user client) is on a UNIX socket and passes fds; the device is
 * on TCP (or TLS) and sees none. The proxy negotiates VERSION on both
 * sides, then relays messages with their ids unchanged (each side's ids
 * are its own), except for what fds change:
 *
 *  - DMA_MAP: the client's fd is mapped here if it is sealed against
 *    shrinking (proxy_maps.c) and the map goes on without it, so the
 *    device asks for DMA by DMA_READ/DMA_WRITE messages; the proxy answers
 *    those it can from its mapping and relays the rest to the client.
 *  - SET_IRQS: the client's eventfds stay here, the request goes on
 *    without fds (the device then sends VPCIE_CMD_IRQ_NOTIFY), and each
 *    notice is written to the matching eventfd.
 *  - REGION_INFO: no MMAP flag reaches the client (no fd can).
 *
 * Both sides are treated as hostile: every message is validated before it
 * is relayed, a reply must answer a request in flight, and a device that
 * breaks the protocol or goes away ends the session (the client sees its
 * device die, as with a local one).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vpcie/log.h>
#include <vpcie/tls.h>
#include <vpcie/transport.h>

#include "proxy_priv.h"

/* what we accept per message; QEMU refuses a server announcing more than 16 */
#define PROXY_MAX_FDS 16u
#define PROXY_MAX_VECTORS 2048u /* MSI-X's limit */
#define DRAIN_BATCH 64
#define NIDS 65536u

/* A client request in flight at the device. */
struct pend {
	uint16_t cmd; /* 0: none */
	uint64_t addr, size; /* DMA_MAP: the window, removed if the device refuses */
};

struct session {
	const struct proxy_cfg *cfg;
	const struct vpcie_logger *lg;
	struct vpcie_chan *cl, *dev;
	struct proxy_maps maps;
	int *irq[VFIO_PCI_NUM_IRQS]; /* the client's eventfds, -1: none */
	unsigned nirq[VFIO_PCI_NUM_IRQS];
	struct pend *to_dev; /* by client msg_id */
	uint16_t *to_cl;     /* device DMA requests relayed to the client, by id */
	uint64_t xfer;       /* negotiated max_data_xfer_size */
	uint64_t dma_local, dma_relayed, irqs; /* counted for the session's log line */
};

static void limits_for(uint64_t xfer, struct vpcie_chan_limits *lim)
{
	uint64_t big = xfer < (64u << 10) ? (64u << 10) : xfer;

	lim->max_msg_size = (uint32_t)(VPCIE_HDR_SIZE + 16u + big);
	lim->max_fds = PROXY_MAX_FDS;
}

static void irq_close(struct session *s, unsigned index)
{
	for (unsigned i = 0; i < s->nirq[index]; i++)
		if (s->irq[index][i] >= 0)
			close(s->irq[index][i]);
	free(s->irq[index]);
	s->irq[index] = NULL;
	s->nirq[index] = 0;
}

static void session_free(struct session *s)
{
	for (unsigned i = 0; i < VFIO_PCI_NUM_IRQS; i++)
		irq_close(s, i);
	proxy_maps_clear(&s->maps);
	if (s->cl)
		vpcie_chan_free(s->cl);
	if (s->dev)
		vpcie_chan_free(s->dev);
	free(s->to_dev);
	free(s->to_cl);
}

static int relay(struct vpcie_chan *to, const struct vpcie_msg *m, int timeout_ms)
{
	struct vpcie_msg_hdr h = m->hdr;
	struct iovec iov = {.iov_base = m->payload, .iov_len = m->payload_len};
	bool err = h.flags & VPCIE_MSGF_ERROR;

	/* an error reply is a header only, as the spec says */
	return vpcie_chan_send(to, &h, &iov, (m->payload_len && !err) ? 1 : 0, NULL, 0,
			       timeout_ms);
}

/* ---- VERSION on both sides ---------------------------------------------- */

static int read_version(const struct vpcie_msg *m, struct vpcie_caps *caps, uint16_t *minor)
{
	const struct vpcie_version *v = m->payload;
	size_t jlen;

	vpcie_caps_defaults(caps);
	caps->twin_fd_index = -1;
	if (!v || m->payload_len < sizeof(*v))
		return -EINVAL;
	if (v->major != VPCIE_PROTO_MAJOR)
		return -ENOTSUP;
	*minor = v->minor;
	jlen = strnlen(v->data, m->payload_len - sizeof(*v));
	return jlen ? vpcie_caps_from_json(v->data, jlen, caps) : 0;
}

static int send_version(struct vpcie_chan *ch, const struct vpcie_msg_hdr *req, uint16_t minor,
			const struct vpcie_caps *caps, uint32_t mask, int timeout_ms)
{
	struct vpcie_version ver = {.major = VPCIE_PROTO_MAJOR, .minor = minor};
	struct vpcie_msg_hdr h = {.cmd = VPCIE_CMD_VERSION, .flags = VPCIE_MSGF_COMMAND};
	char json[VPCIE_VERSION_JSON_MAX];
	struct iovec iov[2];
	int len = vpcie_caps_to_json_subset(caps, mask, json, sizeof(json));

	if (len < 0)
		return len;
	iov[0] = (struct iovec){.iov_base = &ver, .iov_len = sizeof(ver)};
	iov[1] = (struct iovec){.iov_base = json, .iov_len = (size_t)len};
	if (req)
		return vpcie_chan_reply(ch, req, iov, 2, NULL, 0, timeout_ms);
	return vpcie_chan_send(ch, &h, iov, 2, NULL, 0, timeout_ms);
}

static int connect_device(struct session *s)
{
	const struct proxy_cfg *cfg = s->cfg;
	struct vpcie_chan_limits lim;
	char name[300], why[256] = "";
	int fd;

	if (cfg->connect)
		return cfg->connect(cfg->connect_opaque, &s->dev);
	vpcie_endpoint_format(cfg->remote, name, sizeof(name));
	fd = vpcie_endpoint_connect(cfg->remote, cfg->timeout_ms, cfg->psk != NULL);
	if (fd < 0) {
		vpcie_err(s->lg, "cannot reach the device at %s: %s%s", name, strerror(-fd),
			  fd == -EACCES ? " (plaintext TCP is allowed on loopback addresses only: "
					  "use --psk-file)" : "");
		return fd;
	}
	limits_for(VPCIE_VERSION_JSON_MAX, &lim);
	if (cfg->psk) {
		errno = 0;
		s->dev = vpcie_tls_chan_new(fd, false, cfg->psk, &lim, cfg->timeout_ms, why,
					    sizeof(why));
		if (!s->dev) {
			int err = errno ? errno : EPROTO;

			vpcie_err(s->lg, "device at %s refused: TLS handshake failed: %s", name,
				  why[0] ? why : strerror(err));
			return -err;
		}
	} else {
		s->dev = vpcie_chan_new(fd, &lim);
		if (!s->dev)
			return -errno;
	}
	return 0;
}

/* VERSION with the device on behalf of a client that proposed cl. */
static int device_version(struct session *s, const struct vpcie_caps *cl, struct vpcie_caps *dc)
{
	struct vpcie_caps ours;
	struct vpcie_msg rep = {0};
	uint16_t minor = 0;
	int rc;

	vpcie_caps_defaults(&ours);
	ours.twin_fd_index = -1;
	ours.max_msg_fds = 0;
	ours.max_data_xfer_size = cl->max_data_xfer_size;
	ours.write_multiple = cl->write_multiple;
	/* DMA_READs the proxy relays are answered by the client: its limit */
	ours.dma_read_max = (cl->present & VPCIE_CAP_DMA_READ_MAX) ? cl->dma_read_max : 0;
	ours.irq_msg = true;
	rc = send_version(s->dev, NULL, VPCIE_PROTO_MINOR, &ours,
			  VPCIE_CAP_MAX_MSG_FDS | VPCIE_CAP_MAX_DATA_XFER_SIZE |
				  VPCIE_CAP_WRITE_MULTIPLE | VPCIE_CAP_DMA_READ_MAX |
				  VPCIE_CAP_IRQ_MSG,
			  s->cfg->timeout_ms);
	if (rc == 0)
		rc = vpcie_chan_recv(s->dev, &rep, s->cfg->timeout_ms);
	if (rc < 0) {
		vpcie_err(s->lg, "device did not answer VERSION: %s", strerror(-rc));
		return rc;
	}
	rc = -EPROTO;
	if (rep.hdr.cmd != VPCIE_CMD_VERSION ||
	    (rep.hdr.flags & VPCIE_MSGF_TYPE_MASK) != VPCIE_MSGF_REPLY) {
		vpcie_err(s->lg, "device answered VERSION with something else");
	} else if (rep.hdr.flags & VPCIE_MSGF_ERROR) {
		vpcie_err(s->lg, "device refused VERSION: %s", strerror((int)rep.hdr.error));
	} else if (read_version(&rep, dc, &minor) < 0 || minor > VPCIE_PROTO_MINOR ||
		   dc->max_data_xfer_size == 0) {
		vpcie_err(s->lg, "device's VERSION reply is malformed or of another version");
	} else {
		rc = 0;
		if (!dc->irq_msg)
			vpcie_warn(s->lg, "device does not send interrupts as messages "
					  "(vpcie_irq_msg): the client will get none");
	}
	vpcie_msg_release(&rep);
	return rc;
}

static int negotiate(struct session *s)
{
	struct vpcie_caps cl, dc, rc_caps;
	struct vpcie_chan_limits lim;
	struct vpcie_msg v = {0};
	uint16_t minor = 0;
	int rc;

	rc = vpcie_chan_recv(s->cl, &v, s->cfg->timeout_ms);
	if (rc < 0) {
		vpcie_warn(s->lg, "client sent no VERSION: %s", strerror(-rc));
		return rc;
	}
	if (v.hdr.cmd != VPCIE_CMD_VERSION ||
	    (v.hdr.flags & VPCIE_MSGF_TYPE_MASK) != VPCIE_MSGF_COMMAND) {
		vpcie_warn(s->lg, "client did not start with VERSION");
		rc = -EPROTO;
		goto refuse;
	}
	rc = read_version(&v, &cl, &minor);
	if (rc < 0) {
		vpcie_warn(s->lg, "client's VERSION is malformed or of another version");
		goto refuse;
	}
	if (cl.max_data_xfer_size > VPCIE_MAX_XFER_LIMIT)
		cl.max_data_xfer_size = VPCIE_MAX_XFER_LIMIT;
	rc = connect_device(s);
	if (rc == 0)
		rc = device_version(s, &cl, &dc);
	if (rc < 0) {
		rc = rc == -EPROTO ? -EIO : rc;
		goto refuse;
	}
	s->xfer = cl.max_data_xfer_size < dc.max_data_xfer_size ? cl.max_data_xfer_size
								 : dc.max_data_xfer_size;
	limits_for(s->xfer, &lim);
	vpcie_chan_set_limits(s->cl, &lim);
	vpcie_chan_set_limits(s->dev, &lim);

	vpcie_caps_defaults(&rc_caps);
	rc_caps.twin_fd_index = -1;
	rc_caps.max_msg_fds = PROXY_MAX_FDS;
	rc_caps.max_data_xfer_size = s->xfer;
	rc_caps.max_dma_maps = dc.max_dma_maps < PROXY_MAX_MAPS ? dc.max_dma_maps : PROXY_MAX_MAPS;
	rc_caps.pgsizes = dc.pgsizes;
	rc_caps.write_multiple = dc.write_multiple && cl.write_multiple;
	rc = send_version(s->cl, &v.hdr, minor < VPCIE_PROTO_MINOR ? minor : VPCIE_PROTO_MINOR,
			  &rc_caps,
			  cl.present & (VPCIE_CAP_MAX_MSG_FDS | VPCIE_CAP_MAX_DATA_XFER_SIZE |
					VPCIE_CAP_MAX_DMA_MAPS | VPCIE_CAP_PGSIZES |
					VPCIE_CAP_WRITE_MULTIPLE),
			  s->cfg->timeout_ms);
	vpcie_msg_release(&v);
	if (rc == 0)
		vpcie_info(s->lg, "client connected: max_xfer %llu, device interrupts %s",
			   (unsigned long long)s->xfer, dc.irq_msg ? "by message" : "none");
	return rc;
refuse:
	vpcie_chan_reply_error(s->cl, &v.hdr, -rc, s->cfg->timeout_ms);
	vpcie_msg_release(&v);
	return rc;
}

/* ---- Client to device ----------------------------------------------------- */

/* Keep SET_IRQS's eventfds; the request then goes on without them. */
static int keep_irq_fds(struct session *s, struct vpcie_msg *m)
{
	const struct vpcie_irq_set *is = m->payload;
	uint32_t data = is->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t action = is->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	bool trigger_fds = data == VFIO_IRQ_SET_DATA_EVENTFD && action == VFIO_IRQ_SET_ACTION_TRIGGER;
	unsigned idx = is->index;

	if (idx >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	if (m->nfds && (!trigger_fds || m->nfds != is->count))
		return -EINVAL; /* eventfds are relayed for triggers only */
	if (data == VFIO_IRQ_SET_DATA_NONE && action == VFIO_IRQ_SET_ACTION_TRIGGER &&
	    is->count == 0) {
		irq_close(s, idx); /* the index is disabled */
		return 0;
	}
	if (!trigger_fds)
		return 0;
	if (is->count > PROXY_MAX_VECTORS || is->start > PROXY_MAX_VECTORS - is->count)
		return -EINVAL;
	if (is->start + is->count > s->nirq[idx]) {
		unsigned n = is->start + is->count;
		int *p = realloc(s->irq[idx], n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		for (unsigned i = s->nirq[idx]; i < n; i++)
			p[i] = -1;
		s->irq[idx] = p;
		s->nirq[idx] = n;
	}
	for (unsigned i = 0; i < is->count; i++) {
		int *slot = &s->irq[idx][is->start + i];

		if (*slot >= 0)
			close(*slot);
		/* no fds: the client de-assigns the range; notices for it are dropped */
		*slot = m->nfds ? vpcie_msg_take_fd(m, i) : -1;
	}
	return 0;
}

static int from_client_command(struct session *s, struct vpcie_msg *m)
{
	const struct vpcie_msg_hdr *h = &m->hdr;
	int rc = vpcie_validate_command(h->cmd, m->payload, m->payload_len, s->xfer);
	struct pend p = {.cmd = h->cmd};
	bool unsealed;

	if (rc == 0 && m->nfds && h->cmd != VPCIE_CMD_DMA_MAP && h->cmd != VPCIE_CMD_DEVICE_SET_IRQS)
		rc = -EINVAL;
	if (rc == 0 && (h->cmd == VPCIE_CMD_VERSION || h->cmd == VPCIE_CMD_DMA_READ ||
			h->cmd == VPCIE_CMD_DMA_WRITE))
		rc = -EINVAL; /* VERSION again, or a server's command */
	if (rc == 0 && h->cmd == VPCIE_CMD_DMA_MAP) {
		const struct vpcie_dma_map *dm = m->payload;

		if (m->nfds > 1) {
			rc = -EINVAL;
		} else {
			rc = proxy_maps_add(&s->maps, dm, m->nfds ? vpcie_msg_take_fd(m, 0) : -1,
					    &unsealed);
			if (unsealed && !s->maps.warned_unsealed) {
				vpcie_warn(s->lg, "client DMA memory is not sealed against "
						  "shrinking: its DMA is relayed to the client");
				s->maps.warned_unsealed = true;
			}
			p.addr = dm->addr;
			p.size = dm->size;
		}
	} else if (rc == 0 && h->cmd == VPCIE_CMD_DMA_UNMAP) {
		const struct vpcie_dma_unmap *um = m->payload;

		if (um->flags & VFIO_DMA_UNMAP_FLAG_ALL)
			proxy_maps_clear(&s->maps);
		else
			proxy_maps_remove(&s->maps, um->addr, um->size);
	} else if (rc == 0 && h->cmd == VPCIE_CMD_DEVICE_SET_IRQS) {
		rc = keep_irq_fds(s, m);
	}
	if (rc < 0) {
		vpcie_dbg(s->lg, "client %s refused: %s", vpcie_cmd_name(h->cmd), strerror(-rc));
		if (h->flags & VPCIE_MSGF_NO_REPLY)
			return 0;
		return vpcie_chan_reply_error(s->cl, h, -rc, s->cfg->timeout_ms) ? -EPIPE : 0;
	}
	if (!(h->flags & VPCIE_MSGF_NO_REPLY))
		s->to_dev[h->msg_id] = p;
	rc = relay(s->dev, m, s->cfg->timeout_ms);
	if (rc < 0)
		vpcie_err(s->lg, "device connection lost sending %s: %s", vpcie_cmd_name(h->cmd),
			  strerror(-rc));
	return rc;
}

/* A client's reply to a DMA request the proxy relayed from the device. */
static int from_client_reply(struct session *s, struct vpcie_msg *m)
{
	uint16_t cmd = s->to_cl[m->hdr.msg_id];
	int rc;

	if (!cmd || cmd != m->hdr.cmd) {
		vpcie_warn(s->lg, "client replied to no request (id %u, %s): dropped",
			   m->hdr.msg_id, vpcie_cmd_name(m->hdr.cmd));
		return 0;
	}
	s->to_cl[m->hdr.msg_id] = 0;
	if (!(m->hdr.flags & VPCIE_MSGF_ERROR) &&
	    vpcie_validate_reply(cmd, m->payload, m->payload_len, s->xfer) < 0) {
		vpcie_warn(s->lg, "malformed %s reply from the client", vpcie_cmd_name(cmd));
		rc = vpcie_chan_reply_error(s->dev, &m->hdr, EIO, s->cfg->timeout_ms);
	} else {
		rc = relay(s->dev, m, s->cfg->timeout_ms);
	}
	if (rc < 0)
		vpcie_err(s->lg, "device connection lost: %s", strerror(-rc));
	return rc;
}

static int from_client(struct session *s, struct vpcie_msg *m)
{
	if ((m->hdr.flags & VPCIE_MSGF_TYPE_MASK) == VPCIE_MSGF_REPLY)
		return from_client_reply(s, m);
	if ((m->hdr.flags & VPCIE_MSGF_TYPE_MASK) != VPCIE_MSGF_COMMAND) {
		vpcie_warn(s->lg, "client message of unknown type: dropped");
		return 0;
	}
	return from_client_command(s, m);
}

/* ---- Device to client ----------------------------------------------------- */

static int device_reply(struct session *s, struct vpcie_msg *m)
{
	struct pend *p = &s->to_dev[m->hdr.msg_id];
	int rc;

	if (!p->cmd || p->cmd != m->hdr.cmd) {
		vpcie_err(s->lg, "device replied to no request (id %u, %s): closing",
			  m->hdr.msg_id, vpcie_cmd_name(m->hdr.cmd));
		return -EPROTO;
	}
	if (m->hdr.flags & VPCIE_MSGF_ERROR) {
		if (p->cmd == VPCIE_CMD_DMA_MAP)
			proxy_maps_remove(&s->maps, p->addr, p->size);
	} else if (vpcie_validate_reply(p->cmd, m->payload, m->payload_len, s->xfer) < 0) {
		vpcie_warn(s->lg, "malformed %s reply from the device", vpcie_cmd_name(p->cmd));
		if (p->cmd == VPCIE_CMD_DMA_MAP)
			proxy_maps_remove(&s->maps, p->addr, p->size);
		p->cmd = 0;
		return vpcie_chan_reply_error(s->cl, &m->hdr, EIO, s->cfg->timeout_ms) ? -EPIPE
										      : 0;
	} else if (p->cmd == VPCIE_CMD_DEVICE_GET_REGION_INFO) {
		struct vpcie_region_info *ri = m->payload;

		ri->flags &= ~(uint32_t)VFIO_REGION_INFO_FLAG_MMAP; /* no fd reaches the client */
	}
	p->cmd = 0;
	rc = relay(s->cl, m, s->cfg->timeout_ms);
	return rc < 0 ? -EPIPE : 0;
}

static int irq_notify(struct session *s, const struct vpcie_msg *m)
{
	const struct vpcie_irq_notify *n = m->payload;
	uint64_t one = 1;

	if (m->payload_len != sizeof(*n) || n->index >= VFIO_PCI_NUM_IRQS ||
	    n->vector >= s->nirq[n->index] || s->irq[n->index][n->vector] < 0) {
		vpcie_dbg(s->lg, "interrupt notice for no eventfd: dropped");
		return 0;
	}
	s->irqs++;
	if (write(s->irq[n->index][n->vector], &one, sizeof(one)) != sizeof(one))
		vpcie_dbg(s->lg, "eventfd write failed: %s", strerror(errno));
	return 0;
}

/* DMA_READ/DMA_WRITE: answered from the proxy's mapping, or relayed. */
static int device_dma(struct session *s, struct vpcie_msg *m)
{
	const struct vpcie_msg_hdr *h = &m->hdr;
	const struct vpcie_dma_access *a = m->payload;
	bool write = h->cmd == VPCIE_CMD_DMA_WRITE;
	bool no_reply = h->flags & VPCIE_MSGF_NO_REPLY;
	uint8_t *p = proxy_maps_find(&s->maps, a->addr, a->count, write);
	int rc;

	if (!p) {
		s->dma_relayed++;
		if (!no_reply)
			s->to_cl[h->msg_id] = h->cmd;
		return relay(s->cl, m, s->cfg->timeout_ms) < 0 ? -EPIPE : 0;
	}
	s->dma_local++;
	if (write) {
		struct vpcie_dma_write_reply r = {.addr = a->addr, .count = (uint32_t)a->count};
		struct iovec iov = {.iov_base = &r, .iov_len = sizeof(r)};

		memcpy(p, a->data, a->count);
		if (no_reply)
			return 0;
		rc = vpcie_chan_reply(s->dev, h, &iov, 1, NULL, 0, s->cfg->timeout_ms);
	} else {
		struct vpcie_dma_access r = {.addr = a->addr, .count = a->count};
		struct iovec iov[2] = {{.iov_base = &r, .iov_len = sizeof(r)},
				       {.iov_base = p, .iov_len = a->count}};

		rc = vpcie_chan_reply(s->dev, h, iov, 2, NULL, 0, s->cfg->timeout_ms);
	}
	if (rc < 0)
		vpcie_err(s->lg, "device connection lost: %s", strerror(-rc));
	return rc;
}

static int from_device(struct session *s, struct vpcie_msg *m)
{
	const struct vpcie_msg_hdr *h = &m->hdr;
	int rc;

	if ((h->flags & VPCIE_MSGF_TYPE_MASK) == VPCIE_MSGF_REPLY)
		return device_reply(s, m);
	if (m->nfds || (h->flags & VPCIE_MSGF_TYPE_MASK) != VPCIE_MSGF_COMMAND) {
		vpcie_err(s->lg, "device sent a malformed message: closing");
		return -EPROTO;
	}
	if (h->cmd == VPCIE_CMD_IRQ_NOTIFY)
		return irq_notify(s, m);
	rc = -ENOTSUP;
	if (h->cmd == VPCIE_CMD_DMA_READ || h->cmd == VPCIE_CMD_DMA_WRITE)
		rc = vpcie_validate_command(h->cmd, m->payload, m->payload_len, s->xfer);
	if (rc == 0)
		return device_dma(s, m);
	vpcie_warn(s->lg, "device %s refused: %s", vpcie_cmd_name(h->cmd), strerror(-rc));
	if (h->flags & VPCIE_MSGF_NO_REPLY)
		return 0;
	return vpcie_chan_reply_error(s->dev, h, -rc, s->cfg->timeout_ms);
}

/* ---- The loop ------------------------------------------------------------- */

static int drain(struct session *s, struct vpcie_chan *ch,
		 int (*fn)(struct session *, struct vpcie_msg *), const char *who)
{
	for (int i = 0; i < DRAIN_BATCH; i++) {
		struct vpcie_msg m = {0};
		int rc = vpcie_chan_recv(ch, &m, 0);

		if (rc == -EAGAIN || rc == -ETIMEDOUT)
			return 0;
		if (rc < 0) {
			if (rc == -ECONNRESET)
				vpcie_info(s->lg, "%s closed the connection", who);
			else
				vpcie_err(s->lg, "%s connection broken: %s", who, strerror(-rc));
			return rc;
		}
		rc = fn(s, &m);
		vpcie_msg_release(&m);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int proxy_session_run(const struct proxy_cfg *cfg, int client_fd, int stop_fd)
{
	struct session s = {.cfg = cfg, .lg = cfg->lg};
	struct vpcie_chan_limits lim;
	int rc;

	limits_for(VPCIE_VERSION_JSON_MAX, &lim);
	s.cl = vpcie_chan_new(client_fd, &lim);
	s.to_dev = calloc(NIDS, sizeof(*s.to_dev));
	s.to_cl = calloc(NIDS, sizeof(*s.to_cl));
	if (!s.cl || !s.to_dev || !s.to_cl) {
		rc = -ENOMEM;
		goto out;
	}
	rc = negotiate(&s);
	if (rc < 0) {
		rc = 0; /* the client was told; serve the next one */
		goto out;
	}
	for (;;) {
		bool buffered = vpcie_chan_has_buffered(s.cl) || vpcie_chan_has_buffered(s.dev);
		struct pollfd pfd[3] = {{.fd = stop_fd, .events = POLLIN},
					{.fd = vpcie_chan_fd(s.cl), .events = POLLIN},
					{.fd = vpcie_chan_fd(s.dev), .events = POLLIN}};

		if (poll(pfd, 3, buffered ? 0 : -1) < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (pfd[0].revents) {
			rc = 1;
			break;
		}
		rc = drain(&s, s.cl, from_client, "client");
		if (rc == 0)
			rc = drain(&s, s.dev, from_device, "device");
		if (rc < 0) {
			vpcie_info(s.lg, "session over: %llu DMA served from mapped memory, %llu "
					 "relayed to the client, %llu interrupts",
				   (unsigned long long)s.dma_local, (unsigned long long)s.dma_relayed,
				   (unsigned long long)s.irqs);
			rc = 0;
			break;
		}
	}
out:
	session_free(&s); /* vpcie_chan_new closed client_fd if it failed */
	return rc;
}
