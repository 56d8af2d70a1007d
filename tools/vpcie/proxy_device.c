/* SPDX-License-Identifier: MIT */
/*
 * `vpcie proxy`: the connection to the device. Connecting (TCP, TLS) and
 * negotiating VERSION on the client's behalf; when the device goes away,
 * answering what was in flight; and reconnecting, with backoff and a
 * bound, to a device that came back, replaying into it what the client had
 * set up: DMA maps, config-space writes, interrupt triggers
 * (docs/tcp.md, "When the device goes away").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vpcie/log.h>
#include <vpcie/tls.h>
#include <vpcie/transport.h>

#include "proxy_priv.h"

int64_t proxy_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void proxy_chan_limits(uint64_t xfer, struct vpcie_chan_limits *lim)
{
	uint64_t big = xfer < (64u << 10) ? (64u << 10) : xfer;

	lim->max_msg_size = (uint32_t)(VPCIE_HDR_SIZE + 16u + big);
	lim->max_fds = 16;
}

int proxy_read_version(const struct vpcie_msg *m, struct vpcie_caps *caps, uint16_t *minor)
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

int proxy_send_version(struct vpcie_chan *ch, const struct vpcie_msg_hdr *req, uint16_t minor,
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

int proxy_connect_device(struct proxy_session *s)
{
	const struct proxy_cfg *cfg = s->cfg;
	struct vpcie_chan_limits lim;
	char name[300], why[256] = "";
	int fd;

	if (cfg->connect)
		return cfg->connect(cfg->connect_opaque, &s->dev);
	vpcie_endpoint_format(cfg->remote, name, sizeof(name));
	fd = vpcie_endpoint_connect(cfg->remote, s->op_ms, cfg->psk != NULL);
	if (fd < 0) {
		vpcie_err(s->lg, "cannot reach the device at %s: %s%s", name, strerror(-fd),
			  fd == -EACCES ? " (plaintext TCP is allowed on loopback addresses only: "
					  "use --psk-file)" : "");
		return fd;
	}
	proxy_chan_limits(VPCIE_VERSION_JSON_MAX, &lim);
	lim.max_fds = 0; /* none travels over TCP */
	if (cfg->psk) {
		errno = 0;
		s->dev = vpcie_tls_chan_new(fd, false, cfg->psk, &lim, s->op_ms, why, sizeof(why));
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

int proxy_device_version(struct proxy_session *s, struct vpcie_caps *dc)
{
	const struct vpcie_caps *cl = &s->cl_caps;
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
	rc = proxy_send_version(s->dev, NULL, VPCIE_PROTO_MINOR, &ours,
				VPCIE_CAP_MAX_MSG_FDS | VPCIE_CAP_MAX_DATA_XFER_SIZE |
					VPCIE_CAP_WRITE_MULTIPLE | VPCIE_CAP_DMA_READ_MAX |
					VPCIE_CAP_IRQ_MSG,
				s->op_ms);
	if (rc == 0)
		rc = vpcie_chan_recv(s->dev, &rep, s->op_ms);
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
	} else if (proxy_read_version(&rep, dc, &minor) < 0 || minor > VPCIE_PROTO_MINOR ||
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

/* ---- The device went away ------------------------------------------------ */

int proxy_answer_away(struct proxy_session *s, const struct vpcie_msg_hdr *h,
		      const struct proxy_pend *p)
{
	struct vpcie_dma_unmap um = {.argsz = sizeof(um), .flags = p->flags, .addr = p->addr,
				     .size = p->size};
	struct iovec iov = {.iov_base = &um, .iov_len = sizeof(um)};
	int rc;

	if (h->flags & VPCIE_MSGF_NO_REPLY)
		return 0;
	if (p->kept || h->cmd == VPCIE_CMD_DEVICE_RESET)
		rc = vpcie_chan_reply(s->cl, h, NULL, 0, NULL, 0, s->cfg->timeout_ms);
	else if (h->cmd == VPCIE_CMD_DMA_UNMAP)
		rc = vpcie_chan_reply(s->cl, h, &iov, 1, NULL, 0, s->cfg->timeout_ms);
	else
		rc = vpcie_chan_reply_error(s->cl, h, ENODEV, s->cfg->timeout_ms);
	if (rc < 0)
		s->cl_lost = true;
	return rc < 0 ? -EPIPE : 0;
}

int proxy_device_gone(struct proxy_session *s)
{
	unsigned answered = 0, stale = 0;

	for (unsigned id = 0; id < PROXY_NIDS; id++) {
		struct proxy_pend *p = proxy_pend_at(s, (uint16_t)id);
		struct vpcie_msg_hdr h;

		if (!p) {
			id |= PROXY_ID_PAGE - 1; /* a page never used: nothing in flight */
			continue;
		}
		if (!p->cmd)
			continue;
		h = (struct vpcie_msg_hdr){.msg_id = (uint16_t)id, .cmd = p->cmd,
					   .flags = VPCIE_MSGF_COMMAND};
		if (!s->cl_lost)
			proxy_answer_away(s, &h, p);
		*p = (struct proxy_pend){0};
		answered++;
	}
	for (unsigned id = 0; id < PROXY_NIDS; id++) {
		struct proxy_relayed *e = proxy_relayed_at(s, (uint16_t)id);

		if (!e) {
			id |= PROXY_ID_PAGE - 1;
			continue;
		}
		if (e->cmd && !e->stale) {
			e->stale = true; /* the client's late reply is dropped */
			stale++;
		}
	}
	vpcie_chan_free(s->dev);
	s->dev = NULL;
	s->dev_lost = false;
	if (s->cl_lost)
		return -EPIPE;
	if (!s->cfg->reconnect_s) {
		vpcie_info(s->lg, "device gone: closing the client (--no-reconnect)");
		return -ENOTCONN;
	}
	vpcie_warn(s->lg, "device gone: %u requests in flight answered, %u DMA requests "
			  "abandoned; reconnecting for up to %u s, the client's accesses fail "
			  "meanwhile", answered, stale, s->cfg->reconnect_s);
	s->away_since = proxy_now_ms();
	s->attempts = 0;
	s->backoff_ms = PROXY_RETRY_FIRST_MS;
	s->next_try = s->away_since + s->backoff_ms;
	return 0;
}

/* ---- Reconnection and replay --------------------------------------------- */

/*
 * A request of the proxy's own to the device, and its reply in *rep (to
 * release). Device commands arriving meanwhile (DMA, interrupts) are
 * served as usual. 0 (check rep->hdr.flags for an error reply) or -errno.
 */
static int dev_call(struct proxy_session *s, uint16_t cmd, const struct iovec *iov, int niov,
		    struct vpcie_msg *rep)
{
	struct vpcie_msg_hdr h = {.msg_id = s->replay_id++, .cmd = cmd,
				  .flags = VPCIE_MSGF_COMMAND};
	int rc = vpcie_chan_send(s->dev, &h, iov, niov, NULL, 0, s->op_ms);

	while (rc == 0) {
		*rep = (struct vpcie_msg){0};
		rc = vpcie_chan_recv(s->dev, rep, s->op_ms);
		if (rc < 0)
			break;
		if ((rep->hdr.flags & VPCIE_MSGF_TYPE_MASK) == VPCIE_MSGF_REPLY) {
			if (rep->hdr.msg_id == h.msg_id && rep->hdr.cmd == cmd &&
			    ((rep->hdr.flags & VPCIE_MSGF_ERROR) ||
			     vpcie_validate_reply(cmd, rep->payload, rep->payload_len, s->xfer) == 0))
				return 0;
			vpcie_msg_release(rep);
			return -EPROTO;
		}
		rc = proxy_from_device(s, rep);
		vpcie_msg_release(rep);
		if (rc == 0 && (s->dev_lost || s->cl_lost))
			rc = -EPIPE;
	}
	return rc;
}

static int err_of(const struct vpcie_msg *rep)
{
	return (rep->hdr.flags & VPCIE_MSGF_ERROR) ? (rep->hdr.error ? (int)rep->hdr.error : EIO)
						   : 0;
}

/* Is it the device the client knew? -EXDEV if not. */
static int same_device(struct proxy_session *s)
{
	struct vpcie_msg rep;
	int rc;

	if (s->have_info) {
		struct vpcie_device_info q = {.argsz = sizeof(q)};
		struct iovec iov = {.iov_base = &q, .iov_len = sizeof(q)};
		const struct vpcie_device_info *i;

		rc = dev_call(s, VPCIE_CMD_DEVICE_GET_INFO, &iov, 1, &rep);
		if (rc < 0)
			return rc;
		i = rep.payload;
		rc = err_of(&rep) ? -EXDEV
				  : (i->flags != s->info.flags || i->num_regions != s->info.num_regions ||
				     i->num_irqs != s->info.num_irqs) ? -EXDEV : 0;
		vpcie_msg_release(&rep);
		if (rc < 0) {
			vpcie_err(s->lg, "the device that answered is not the one the client knew "
					 "(DEVICE_GET_INFO differs)");
			return rc;
		}
	}
	if (s->have_id) {
		struct vpcie_region_access q = {.offset = 0, .region = VFIO_PCI_CONFIG_REGION_INDEX,
						.count = 4};
		struct iovec iov = {.iov_base = &q, .iov_len = sizeof(q)};
		const struct vpcie_region_access *a;
		uint32_t id = 0;

		rc = dev_call(s, VPCIE_CMD_REGION_READ, &iov, 1, &rep);
		if (rc < 0)
			return rc;
		a = rep.payload;
		rc = -EXDEV;
		if (!err_of(&rep) && a->count == 4) {
			memcpy(&id, a->data, 4);
			rc = id == s->id ? 0 : -EXDEV;
		}
		vpcie_msg_release(&rep);
		if (rc < 0) {
			vpcie_err(s->lg, "the device that answered is not the one the client knew "
					 "(vendor:device %04x:%04x, was %04x:%04x)", id & 0xffff,
				  id >> 16, s->id & 0xffff, s->id >> 16);
			return rc;
		}
	}
	return 0;
}

struct replayed {
	unsigned maps, cfg, irqs, refused;
};

/* One replayed request; a refusal is logged and counted, not fatal. */
static int replay_one(struct proxy_session *s, uint16_t cmd, const struct iovec *iov, int niov,
		      struct replayed *r, const char *what)
{
	struct vpcie_msg rep;
	int rc = dev_call(s, cmd, iov, niov, &rep);

	if (rc < 0)
		return rc;
	if (err_of(&rep)) {
		vpcie_warn(s->lg, "device refused the replayed %s: %s", what,
			   strerror(err_of(&rep)));
		r->refused++;
	}
	vpcie_msg_release(&rep);
	return 0;
}

static int replay(struct proxy_session *s, struct replayed *r)
{
	int rc;

	for (unsigned i = 0; i < s->maps.n; i++) {
		const struct proxy_map *m = &s->maps.v[i];
		struct vpcie_dma_map dm = {.argsz = sizeof(dm), .flags = m->prot, .addr = m->addr,
					   .size = m->size};
		struct iovec iov = {.iov_base = &dm, .iov_len = sizeof(dm)};

		rc = replay_one(s, VPCIE_CMD_DMA_MAP, &iov, 1, r, "DMA map");
		if (rc < 0)
			return rc;
		r->maps++;
	}
	for (unsigned i = 0; i < s->cfgw.n; i++) {
		const struct proxy_cfgw *w = &s->cfgw.v[i];
		struct vpcie_region_access a = {.offset = w->off,
						.region = VFIO_PCI_CONFIG_REGION_INDEX,
						.count = w->len};
		struct iovec iov[2] = {{.iov_base = &a, .iov_len = sizeof(a)},
				       {.iov_base = w->data, .iov_len = w->len}};

		rc = replay_one(s, VPCIE_CMD_REGION_WRITE, iov, 2, r, "config write");
		if (rc < 0)
			return rc;
		r->cfg++;
	}
	for (unsigned idx = 0; idx < VFIO_PCI_NUM_IRQS; idx++) {
		for (unsigned v = 0; v < s->nirq[idx];) {
			struct vpcie_irq_set is = {.argsz = sizeof(is), .index = idx, .start = v,
						   .flags = VFIO_IRQ_SET_DATA_EVENTFD |
							    VFIO_IRQ_SET_ACTION_TRIGGER};
			struct iovec iov = {.iov_base = &is, .iov_len = sizeof(is)};

			if (s->irq[idx][v] < 0) {
				v++;
				continue;
			}
			while (v < s->nirq[idx] && s->irq[idx][v] >= 0)
				v++;
			is.count = v - is.start;
			rc = replay_one(s, VPCIE_CMD_DEVICE_SET_IRQS, &iov, 1, r,
					"interrupt set-up");
			if (rc < 0)
				return rc;
			r->irqs++;
		}
	}
	return 0;
}

static int attempt(struct proxy_session *s, struct replayed *r)
{
	struct vpcie_chan_limits lim;
	struct vpcie_caps dc;
	int rc = proxy_connect_device(s);

	if (rc == 0)
		rc = proxy_device_version(s, &dc);
	if (rc == 0 && (dc.max_data_xfer_size < s->xfer || (s->irq_msg && !dc.irq_msg))) {
		vpcie_err(s->lg, "the device that answered allows less than the one before "
				 "(max_data_xfer_size %llu, was %llu%s)",
			  (unsigned long long)dc.max_data_xfer_size, (unsigned long long)s->xfer,
			  dc.irq_msg ? "" : "; no interrupts by message");
		rc = -EXDEV;
	}
	if (rc < 0)
		return rc;
	proxy_chan_limits(s->xfer, &lim);
	lim.max_fds = 0;
	vpcie_chan_set_limits(s->dev, &lim);
	s->replay_id = 0;
	rc = same_device(s);
	return rc < 0 ? rc : replay(s, r);
}

int proxy_reconnect(struct proxy_session *s)
{
	struct replayed r = {0};
	int64_t now = proxy_now_ms();
	int rc;

	if (now - s->away_since >= (int64_t)s->cfg->reconnect_s * 1000) {
		vpcie_err(s->lg, "device did not come back within %u s (%u attempts): closing "
				 "the client", s->cfg->reconnect_s, s->attempts);
		return -ETIMEDOUT;
	}
	s->attempts++;
	vpcie_info(s->lg, "reconnecting to the device: attempt %u, away %.1f s", s->attempts,
		   (double)(now - s->away_since) / 1000.0);
	s->op_ms = s->cfg->timeout_ms < PROXY_RETRY_OP_MS ? s->cfg->timeout_ms : PROXY_RETRY_OP_MS;
	rc = attempt(s, &r);
	s->op_ms = s->cfg->timeout_ms;
	if (s->cl_lost)
		return -EPIPE;
	if (rc < 0 || s->dev_lost) {
		if (s->dev)
			vpcie_chan_free(s->dev);
		s->dev = NULL;
		s->dev_lost = false;
		vpcie_info(s->lg, "attempt %u failed (%s): next in %u ms", s->attempts,
			   strerror(rc < 0 ? -rc : EPIPE), s->backoff_ms);
		s->next_try = proxy_now_ms() + s->backoff_ms;
		s->backoff_ms = s->backoff_ms * 2 > PROXY_RETRY_MAX_MS ? PROXY_RETRY_MAX_MS
								      : s->backoff_ms * 2;
		return 0;
	}
	s->reconnects++;
	vpcie_info(s->lg, "device back after %u attempts, %.1f s away: replayed %u DMA maps, "
			  "%u config writes, %u interrupt set-ups (%u refused)%s",
		   s->attempts, (double)(proxy_now_ms() - s->away_since) / 1000.0, r.maps, r.cfg,
		   r.irqs, r.refused,
		   s->cfgw.overflowed ? "; the oldest config writes were dropped" : "");
	return 0;
}
