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
 *  - DMA requests relayed to the client get ids of the proxy's own, so a
 *    late reply meant for a device that has gone cannot reach its successor.
 *
 * Both sides are treated as hostile: every message is validated before it
 * is relayed, and a reply must answer a request in flight. A device that
 * breaks the protocol or goes away is dropped: the client's accesses then
 * fail while the proxy reconnects (proxy_device.c), or, without
 * reconnection, the session ends (the client sees its device die, as with
 * a local one).
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

#define PROXY_MAX_VECTORS 2048u /* MSI-X's limit */
#define DRAIN_BATCH 64

static void irq_close(struct proxy_session *s, unsigned index)
{
	for (unsigned i = 0; i < s->nirq[index]; i++)
		if (s->irq[index][i] >= 0)
			close(s->irq[index][i]);
	free(s->irq[index]);
	s->irq[index] = NULL;
	s->nirq[index] = 0;
}

static void session_free(struct proxy_session *s)
{
	for (unsigned i = 0; i < VFIO_PCI_NUM_IRQS; i++)
		irq_close(s, i);
	proxy_maps_clear(&s->maps);
	proxy_cfglog_clear(&s->cfgw);
	if (s->cl)
		vpcie_chan_free(s->cl);
	if (s->dev)
		vpcie_chan_free(s->dev);
	for (unsigned i = 0; i < PROXY_ID_PAGES; i++) {
		free(s->to_dev[i]);
		free(s->to_cl[i]);
	}
}

struct proxy_pend *proxy_pend_slot(struct proxy_session *s, uint16_t id)
{
	struct proxy_pend **page = &s->to_dev[id / PROXY_ID_PAGE];

	if (!*page && !(*page = calloc(PROXY_ID_PAGE, sizeof(**page))))
		return NULL;
	return &(*page)[id % PROXY_ID_PAGE];
}

struct proxy_relayed *proxy_relayed_slot(struct proxy_session *s, uint16_t id)
{
	struct proxy_relayed **page = &s->to_cl[id / PROXY_ID_PAGE];

	if (!*page && !(*page = calloc(PROXY_ID_PAGE, sizeof(**page))))
		return NULL;
	return &(*page)[id % PROXY_ID_PAGE];
}

/* m as it came, with msg_id id */
static int relay_as(struct vpcie_chan *to, const struct vpcie_msg *m, uint16_t id, int timeout_ms)
{
	struct vpcie_msg_hdr h = m->hdr;
	struct iovec iov = {.iov_base = m->payload, .iov_len = m->payload_len};
	bool err = h.flags & VPCIE_MSGF_ERROR;

	h.msg_id = id;
	/* an error reply is a header only, as the spec says */
	return vpcie_chan_send(to, &h, &iov, (m->payload_len && !err) ? 1 : 0, NULL, 0,
			       timeout_ms);
}

/* Send to the device; a failure marks it lost (its requests are answered later). */
static int to_device(struct proxy_session *s, const struct vpcie_msg *m, uint16_t id)
{
	int rc = relay_as(s->dev, m, id, s->op_ms);

	if (rc < 0) {
		vpcie_err(s->lg, "device connection lost sending %s: %s", vpcie_cmd_name(m->hdr.cmd),
			  strerror(-rc));
		s->dev_lost = true;
	}
	return 0;
}

/* Send to the client; a failure ends the session. */
static int to_client(struct proxy_session *s, int rc)
{
	if (rc < 0)
		s->cl_lost = true;
	return rc < 0 ? -EPIPE : 0;
}

static int dev_reply_error(struct proxy_session *s, const struct vpcie_msg_hdr *h, int err)
{
	if (vpcie_chan_reply_error(s->dev, h, err, s->op_ms) < 0) {
		vpcie_err(s->lg, "device connection lost: sending an error reply");
		s->dev_lost = true;
	}
	return 0;
}

/* ---- VERSION on both sides ---------------------------------------------- */

static int negotiate(struct proxy_session *s)
{
	struct vpcie_caps *cl = &s->cl_caps, dc, rc_caps;
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
	rc = proxy_read_version(&v, cl, &minor);
	if (rc < 0) {
		vpcie_warn(s->lg, "client's VERSION is malformed or of another version");
		goto refuse;
	}
	if (cl->max_data_xfer_size > VPCIE_MAX_XFER_LIMIT)
		cl->max_data_xfer_size = VPCIE_MAX_XFER_LIMIT;
	rc = proxy_connect_device(s);
	if (rc == 0)
		rc = proxy_device_version(s, &dc);
	if (rc < 0) {
		rc = rc == -EPROTO ? -EIO : rc;
		goto refuse;
	}
	s->irq_msg = dc.irq_msg;
	s->xfer = cl->max_data_xfer_size < dc.max_data_xfer_size ? cl->max_data_xfer_size
								   : dc.max_data_xfer_size;
	proxy_chan_limits(s->xfer, &lim);
	vpcie_chan_set_limits(s->cl, &lim);
	lim.max_fds = 0;
	vpcie_chan_set_limits(s->dev, &lim);

	vpcie_caps_defaults(&rc_caps);
	rc_caps.twin_fd_index = -1;
	rc_caps.max_msg_fds = 16; /* QEMU refuses a server announcing more */
	rc_caps.max_data_xfer_size = s->xfer;
	rc_caps.max_dma_maps = dc.max_dma_maps < PROXY_MAX_MAPS ? dc.max_dma_maps : PROXY_MAX_MAPS;
	rc_caps.pgsizes = dc.pgsizes;
	rc_caps.write_multiple = dc.write_multiple && cl->write_multiple;
	rc = proxy_send_version(s->cl, &v.hdr,
				minor < VPCIE_PROTO_MINOR ? minor : VPCIE_PROTO_MINOR, &rc_caps,
				cl->present & (VPCIE_CAP_MAX_MSG_FDS | VPCIE_CAP_MAX_DATA_XFER_SIZE |
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
static int keep_irq_fds(struct proxy_session *s, struct vpcie_msg *m, bool *kept)
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
		*kept = true;
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
	*kept = true;
	return 0;
}

/* Config-space writes are kept, to be replayed into a device that restarted. */
static void keep_cfg_writes(struct proxy_session *s, const struct vpcie_msg *m)
{
	if (m->hdr.cmd == VPCIE_CMD_REGION_WRITE) {
		const struct vpcie_region_access *a = m->payload;

		if (a->region == VFIO_PCI_CONFIG_REGION_INDEX)
			proxy_cfglog_add(&s->cfgw, a->offset, a->data, a->count);
	} else if (m->hdr.cmd == VPCIE_CMD_REGION_WRITE_MULTI) {
		const struct vpcie_write_multi *w = m->payload;

		for (uint64_t i = 0; i < w->wr_cnt; i++)
			if (w->wrs[i].region == VFIO_PCI_CONFIG_REGION_INDEX)
				proxy_cfglog_add(&s->cfgw, w->wrs[i].offset, w->wrs[i].data,
						 w->wrs[i].count);
	} else if (m->hdr.cmd == VPCIE_CMD_DEVICE_RESET) {
		proxy_cfglog_clear(&s->cfgw); /* the device's config space is reset */
	}
}

static int from_client_command(struct proxy_session *s, struct vpcie_msg *m)
{
	const struct vpcie_msg_hdr *h = &m->hdr;
	int rc = vpcie_validate_command(h->cmd, m->payload, m->payload_len, s->xfer);
	struct proxy_pend p = {.cmd = h->cmd}, *slot = NULL;
	bool unsealed;

	/* The slot first, so that no effect is kept for a request that cannot be tracked. */
	if (rc == 0 && !(h->flags & VPCIE_MSGF_NO_REPLY) && !(slot = proxy_pend_slot(s, h->msg_id)))
		rc = -ENOMEM;
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
			p.kept = rc == 0;
		}
	} else if (rc == 0 && h->cmd == VPCIE_CMD_DMA_UNMAP) {
		const struct vpcie_dma_unmap *um = m->payload;

		if (um->flags & VFIO_DMA_UNMAP_FLAG_ALL)
			proxy_maps_clear(&s->maps);
		else
			proxy_maps_remove(&s->maps, um->addr, um->size);
		p.flags = um->flags;
		p.addr = um->addr;
		p.size = um->size;
	} else if (rc == 0 && h->cmd == VPCIE_CMD_DEVICE_SET_IRQS) {
		rc = keep_irq_fds(s, m, &p.kept);
	} else if (rc == 0 && h->cmd == VPCIE_CMD_REGION_READ) {
		const struct vpcie_region_access *a = m->payload;

		p.flags = a->region;
		p.addr = a->offset;
		p.size = a->count;
	} else if (rc == 0) {
		keep_cfg_writes(s, m);
	}
	if (rc < 0) {
		vpcie_dbg(s->lg, "client %s refused: %s", vpcie_cmd_name(h->cmd), strerror(-rc));
		if (h->flags & VPCIE_MSGF_NO_REPLY)
			return 0;
		return to_client(s, vpcie_chan_reply_error(s->cl, h, -rc, s->cfg->timeout_ms));
	}
	if (!proxy_dev_up(s))
		return proxy_answer_away(s, h, &p);
	if (slot)
		*slot = p;
	return to_device(s, m, h->msg_id);
}

/* A client's reply to a DMA request the proxy relayed from the device. */
static int from_client_reply(struct proxy_session *s, struct vpcie_msg *m)
{
	struct proxy_relayed *e = proxy_relayed_at(s, m->hdr.msg_id);
	struct vpcie_msg_hdr h = m->hdr;

	if (!e || !e->cmd || e->cmd != m->hdr.cmd) {
		vpcie_warn(s->lg, "client replied to no request (id %u, %s): dropped",
			   m->hdr.msg_id, vpcie_cmd_name(m->hdr.cmd));
		return 0;
	}
	h.msg_id = e->dev_id;
	if (e->stale || !proxy_dev_up(s)) {
		vpcie_dbg(s->lg, "client's %s reply for a device that is gone: dropped",
			  vpcie_cmd_name(e->cmd));
		*e = (struct proxy_relayed){0};
		return 0;
	}
	*e = (struct proxy_relayed){0};
	if (!(m->hdr.flags & VPCIE_MSGF_ERROR) &&
	    vpcie_validate_reply(h.cmd, m->payload, m->payload_len, s->xfer) < 0) {
		vpcie_warn(s->lg, "malformed %s reply from the client", vpcie_cmd_name(h.cmd));
		return dev_reply_error(s, &h, EIO);
	}
	return to_device(s, m, h.msg_id);
}

static int from_client(struct proxy_session *s, struct vpcie_msg *m)
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

/* Remember what identifies the device, to recognise it when it comes back. */
static void note_identity(struct proxy_session *s, const struct proxy_pend *p,
			  const struct vpcie_msg *m)
{
	if (p->cmd == VPCIE_CMD_DEVICE_GET_INFO) {
		memcpy(&s->info, m->payload, sizeof(s->info));
		s->have_info = true;
	} else if (p->cmd == VPCIE_CMD_REGION_READ && p->flags == VFIO_PCI_CONFIG_REGION_INDEX &&
		   p->addr == 0 && p->size >= 4) {
		const struct vpcie_region_access *a = m->payload;

		if (a->count >= 4) {
			memcpy(&s->id, a->data, 4);
			s->have_id = true;
		}
	}
}

static int device_reply(struct proxy_session *s, struct vpcie_msg *m)
{
	struct proxy_pend *p = proxy_pend_at(s, m->hdr.msg_id);

	if (!p || !p->cmd || p->cmd != m->hdr.cmd) {
		vpcie_err(s->lg, "device replied to no request (id %u, %s): dropping it",
			  m->hdr.msg_id, vpcie_cmd_name(m->hdr.cmd));
		s->dev_lost = true;
		return 0;
	}
	if (m->hdr.flags & VPCIE_MSGF_ERROR) {
		if (p->cmd == VPCIE_CMD_DMA_MAP)
			proxy_maps_remove(&s->maps, p->addr, p->size);
	} else if (vpcie_validate_reply(p->cmd, m->payload, m->payload_len, s->xfer) < 0) {
		vpcie_warn(s->lg, "malformed %s reply from the device", vpcie_cmd_name(p->cmd));
		if (p->cmd == VPCIE_CMD_DMA_MAP)
			proxy_maps_remove(&s->maps, p->addr, p->size);
		*p = (struct proxy_pend){0};
		return to_client(s, vpcie_chan_reply_error(s->cl, &m->hdr, EIO,
							   s->cfg->timeout_ms));
	} else if (p->cmd == VPCIE_CMD_DEVICE_GET_REGION_INFO) {
		struct vpcie_region_info *ri = m->payload;

		ri->flags &= ~(uint32_t)VFIO_REGION_INFO_FLAG_MMAP; /* no fd reaches the client */
	} else {
		note_identity(s, p, m);
	}
	*p = (struct proxy_pend){0};
	return to_client(s, relay_as(s->cl, m, m->hdr.msg_id, s->cfg->timeout_ms));
}

static int irq_notify(struct proxy_session *s, const struct vpcie_msg *m)
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

/* A free id for a request to the client, or -1. */
static int client_id(struct proxy_session *s)
{
	for (unsigned i = 0; i < PROXY_NIDS; i++) {
		uint16_t id = s->cl_next_id++;
		const struct proxy_relayed *e = proxy_relayed_at(s, id);

		if (!e || !e->cmd)
			return id;
	}
	return -1;
}

/* DMA_READ/DMA_WRITE: answered from the proxy's mapping, or relayed. */
static int device_dma(struct proxy_session *s, struct vpcie_msg *m)
{
	const struct vpcie_msg_hdr *h = &m->hdr;
	const struct vpcie_dma_access *a = m->payload;
	bool write = h->cmd == VPCIE_CMD_DMA_WRITE;
	bool no_reply = h->flags & VPCIE_MSGF_NO_REPLY;
	uint8_t *p = proxy_maps_find(&s->maps, a->addr, a->count, write);
	struct proxy_relayed *e = NULL;
	int rc, id;

	if (!p) {
		id = client_id(s);
		if (id < 0)
			return no_reply ? 0 : dev_reply_error(s, h, EBUSY);
		if (!no_reply && !(e = proxy_relayed_slot(s, (uint16_t)id)))
			return dev_reply_error(s, h, ENOMEM);
		s->dma_relayed++;
		if (e)
			*e = (struct proxy_relayed){.cmd = h->cmd, .dev_id = h->msg_id};
		return to_client(s, relay_as(s->cl, m, (uint16_t)id, s->cfg->timeout_ms));
	}
	s->dma_local++;
	if (write) {
		struct vpcie_dma_write_reply r = {.addr = a->addr, .count = (uint32_t)a->count};
		struct iovec iov = {.iov_base = &r, .iov_len = sizeof(r)};

		memcpy(p, a->data, a->count);
		if (no_reply)
			return 0;
		rc = vpcie_chan_reply(s->dev, h, &iov, 1, NULL, 0, s->op_ms);
	} else {
		struct vpcie_dma_access r = {.addr = a->addr, .count = a->count};
		struct iovec iov[2] = {{.iov_base = &r, .iov_len = sizeof(r)},
				       {.iov_base = p, .iov_len = a->count}};

		rc = vpcie_chan_reply(s->dev, h, iov, 2, NULL, 0, s->op_ms);
	}
	if (rc < 0) {
		vpcie_err(s->lg, "device connection lost: %s", strerror(-rc));
		s->dev_lost = true;
	}
	return 0;
}

int proxy_from_device(struct proxy_session *s, struct vpcie_msg *m)
{
	const struct vpcie_msg_hdr *h = &m->hdr;
	int rc;

	if ((h->flags & VPCIE_MSGF_TYPE_MASK) == VPCIE_MSGF_REPLY)
		return device_reply(s, m);
	if (m->nfds || (h->flags & VPCIE_MSGF_TYPE_MASK) != VPCIE_MSGF_COMMAND) {
		vpcie_err(s->lg, "device sent a malformed message: dropping it");
		s->dev_lost = true;
		return 0;
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
	return dev_reply_error(s, h, -rc);
}

/* ---- The loop ------------------------------------------------------------- */

/*
 * Handle what ch has buffered or readable, up to a batch. A receive error
 * is returned; errors of handling are in s->cl_lost / s->dev_lost.
 */
static int drain(struct proxy_session *s, struct vpcie_chan *ch,
		 int (*fn)(struct proxy_session *, struct vpcie_msg *), const char *who)
{
	for (int i = 0; i < DRAIN_BATCH && !s->cl_lost && !s->dev_lost; i++) {
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

/* One turn of the loop: 1 stop, 0 go on, -errno the session is over. */
static int turn(struct proxy_session *s, int stop_fd)
{
	bool up = s->dev != NULL;
	bool buffered = vpcie_chan_has_buffered(s->cl) || (up && vpcie_chan_has_buffered(s->dev));
	struct pollfd pfd[3] = {{.fd = stop_fd, .events = POLLIN},
				{.fd = vpcie_chan_fd(s->cl), .events = POLLIN},
				{.fd = up ? vpcie_chan_fd(s->dev) : -1, .events = POLLIN}};
	int timeout = -1, rc;

	if (!up) {
		int64_t left = s->next_try - proxy_now_ms();

		timeout = left < 0 ? 0 : (int)left;
	}
	if (poll(pfd, 3, buffered ? 0 : timeout) < 0 && errno != EINTR)
		return -errno;
	if (pfd[0].revents)
		return 1;
	rc = drain(s, s->cl, from_client, "client");
	if (rc < 0 || s->cl_lost)
		return rc < 0 ? rc : -EPIPE;
	if (s->dev && !s->dev_lost && drain(s, s->dev, proxy_from_device, "device") < 0)
		s->dev_lost = true;
	if (s->cl_lost)
		return -EPIPE;
	if (s->dev && s->dev_lost) {
		rc = proxy_device_gone(s);
		if (rc < 0)
			return rc;
	}
	if (!s->dev && proxy_now_ms() >= s->next_try)
		return proxy_reconnect(s);
	return 0;
}

int proxy_session_run(const struct proxy_cfg *cfg, int client_fd, int stop_fd)
{
	struct proxy_session s = {.cfg = cfg, .lg = cfg->lg, .op_ms = cfg->timeout_ms};
	struct vpcie_chan_limits lim;
	bool over = false;
	int rc;

	proxy_chan_limits(VPCIE_VERSION_JSON_MAX, &lim);
	s.cl = vpcie_chan_new(client_fd, &lim);
	if (!s.cl) {
		rc = -ENOMEM;
		goto out;
	}
	rc = negotiate(&s);
	if (rc < 0) {
		rc = 0; /* the client was told; serve the next one */
		goto out;
	}
	do
		rc = turn(&s, stop_fd);
	while (rc == 0);
	/* Ended by the client, the device or a signal: the totals are logged
	 * either way (a signal may come before the client's end is read). */
	over = true;
	if (rc < 0)
		rc = 0;
out:
	session_free(&s); /* vpcie_chan_new closed client_fd if it failed */
	/* Logged once its fds and mappings are released. */
	if (over)
		vpcie_info(s.lg, "session over: %llu DMA served from mapped memory, %llu relayed "
				 "to the client, %llu interrupts, %llu reconnections%s",
			   (unsigned long long)s.dma_local, (unsigned long long)s.dma_relayed,
			   (unsigned long long)s.irqs, (unsigned long long)s.reconnects,
			   rc == 1 ? " (stopped by a signal)" : "");
	return rc;
}
