/* SPDX-License-Identifier: MIT */
/*
 * Device side of the protocol: one handler per client command, and the
 * routing of region accesses to config space, the ROM, BAR memory, the
 * program's callbacks and the library's MSI-X table/PBA.
 *
 * A handler returns 0 when the client should stay (including after an error
 * reply) and -errno when it must be dropped (the socket failed, or the peer
 * broke the protocol beyond repair).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dev_priv.h"
#include "../util/util.h"

static int send_reply(struct vpcie_dev *dev, const struct vpcie_msg *msg,
		      const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds)
{
	if (msg->hdr.flags & VPCIE_MSGF_NO_REPLY)
		return 0;
	return vpcie_chan_reply(dev->chan, &msg->hdr, iov, iovcnt, fds, nfds,
				dev->opts.dma_timeout_ms);
}

static int send_error(struct vpcie_dev *dev, const struct vpcie_msg *msg, int err)
{
	vpcie_dbg(&dev->log, "%s (id %u): error %d (%s)", vpcie_cmd_name(msg->hdr.cmd),
		  msg->hdr.msg_id, err, strerror(err < 0 ? -err : err));
	if (msg->hdr.flags & VPCIE_MSGF_NO_REPLY) {
		/* A posted write has nobody to tell: say it in the log. */
		vpcie_warn(&dev->log, "posted %s failed: %s", vpcie_cmd_name(msg->hdr.cmd),
			   strerror(err < 0 ? -err : err));
		return 0;
	}
	return vpcie_chan_reply_error(dev->chan, &msg->hdr, err, dev->opts.dma_timeout_ms);
}

/* ---- Region routing ------------------------------------------------------ */

static uint64_t cfg_size(const struct vpcie_dev *dev)
{
	return dev->pcie_off || dev->cfg.ext_last ? VPCIE_CFG_SIZE : PCI_CFG_SPACE_SIZE;
}

static uint64_t region_size(const struct vpcie_dev *dev, unsigned idx)
{
	if (idx < 6)
		return dev->bars[idx].present ? dev->bars[idx].desc.size : 0;
	if (idx == VFIO_PCI_ROM_REGION_INDEX)
		return dev->rom_size;
	if (idx == VFIO_PCI_CONFIG_REGION_INDEX)
		return cfg_size(dev);
	return 0;
}

static int cfg_write_host(struct vpcie_dev *dev, unsigned off, const void *buf, size_t len)
{
	int ret = vpcie_cfg_write(&dev->cfg, off, buf, len);

	if (ret)
		return ret;
	if (dev->pcie_off && vpcie_ranges_overlap(off, len, dev->pcie_off + PCI_EXP_DEVCTL, 2)) {
		uint16_t ctl = vpcie_cfg_get16(&dev->cfg, dev->pcie_off + PCI_EXP_DEVCTL);

		if (ctl & PCI_EXP_DEVCTL_BCR_FLR) {
			vpcie_cfg_set16(&dev->cfg, dev->pcie_off + PCI_EXP_DEVCTL,
					ctl & ~PCI_EXP_DEVCTL_BCR_FLR);
			dev_do_reset(dev, VPCIE_RESET_FLR);
			return 0;
		}
	}
	if (vpcie_ranges_overlap(off, len, PCI_COMMAND, 2) ||
	    (dev->msi_off && vpcie_ranges_overlap(off, len, dev->msi_off, 24)) ||
	    (dev->msix_off && vpcie_ranges_overlap(off, len, dev->msix_off, PCI_CAP_MSIX_SIZEOF)))
		dev_irq_update(dev);
	if (dev->ops.cfg_written)
		dev->ops.cfg_written(dev, dev->opaque, off, len);
	return 0;
}

/* Which trap of bar b holds pos (-1: none); *next gets the next trap start. */
static int find_trap(const struct dev_bar *b, uint64_t pos, uint64_t *next)
{
	*next = UINT64_MAX;
	for (unsigned i = 0; i < b->ntraps; i++) {
		const struct vpcie_trap *t = &b->traps[i];

		if (pos >= t->off && pos - t->off < t->len)
			return (int)i;
		if (t->off > pos && t->off < *next)
			*next = t->off;
	}
	return -1;
}

static int bar_access(struct vpcie_dev *dev, unsigned n, uint64_t off, uint8_t *buf,
		      size_t len, bool write)
{
	struct dev_bar *b = &dev->bars[n];
	uint16_t cmd = vpcie_cfg_get16(&dev->cfg, PCI_COMMAND);
	uint16_t decode = b->desc.kind == VPCIE_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
	uint64_t end = off + len, pos = off;

	if (!(cmd & decode)) {
		/* Decoding off: like a master abort, reads see all-ones. */
		if (!write)
			memset(buf, 0xff, len);
		vpcie_dbg(&dev->log, "BAR%u access with decode disabled", n);
		return 0;
	}
	while (pos < end) {
		uint64_t next, seg;
		int t = find_trap(b, pos, &next);
		uint8_t *p = buf + (pos - off);
		int ret;

		if (t >= 0)
			seg = b->traps[t].off + b->traps[t].len - pos;
		else
			seg = (next == UINT64_MAX ? end : next) - pos;
		if (seg > end - pos)
			seg = end - pos;
		if (t >= (int)b->desc.ntraps) {
			bool handled = false;

			ret = dev_msix_access(dev, n, pos, p, seg, write, &handled);
			if (!handled)
				ret = -EINVAL;
		} else if (t < 0 && b->desc.memory) {
			if (write)
				memcpy(b->mem + pos, p, seg);
			else
				memcpy(p, b->mem + pos, seg);
			ret = 0;
		} else if (write) {
			ret = b->desc.ops->write(dev, b->desc.opaque, pos, p, seg);
		} else {
			ret = b->desc.ops->read(dev, b->desc.opaque, pos, p, seg);
		}
		if (ret)
			return ret < 0 ? ret : -EIO;
		pos += seg;
	}
	return 0;
}

static int region_access(struct vpcie_dev *dev, unsigned region, uint64_t off,
			 void *buf, size_t len, bool write)
{
	if (region >= DEV_NUM_REGIONS || len == 0 ||
	    !vpcie_range_ok(off, len, region_size(dev, region)))
		return -EINVAL;
	if (dev->fault) /* fault injection (fault_hooks.c) */
		return dev_fault_access(dev, region, off, buf, len, write);
	return dev_region_route(dev, region, off, buf, len, write);
}

int dev_region_route(struct vpcie_dev *dev, unsigned region, uint64_t off,
		     void *buf, size_t len, bool write)
{
	switch (region) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		if (write)
			return cfg_write_host(dev, (unsigned)off, buf, len);
		return vpcie_cfg_read(&dev->cfg, (unsigned)off, buf, len);
	case VFIO_PCI_ROM_REGION_INDEX:
		if (write)
			return -EINVAL;
		memcpy(buf, dev->rom + off, len);
		return 0;
	default:
		return bar_access(dev, region, off, buf, len, write);
	}
}

/* Every region access of the client, on the socket and the ring. */
int dev_region_access_via(struct vpcie_dev *dev, unsigned region, uint64_t off, void *buf,
			  size_t len, bool write, unsigned trace_flags)
{
	uint64_t t0;
	int ret;

	if (!DEV_TRACING(dev))
		return region_access(dev, region, off, buf, len, write);
	/* trace point: region and config accesses */
	t0 = vpcie_trace_now();
	ret = region_access(dev, region, off, buf, len, write);
	vpcie_trace_access(dev->trace, t0, region, off, buf, len,
			   trace_flags | (write ? VPCIE_TRACE_F_WRITE : 0), ret);
	return ret;
}

int dev_region_access(struct vpcie_dev *dev, unsigned region, uint64_t off,
		      void *buf, size_t len, bool write)
{
	return dev_region_access_via(dev, region, off, buf, len, write, 0);
}

/* ---- Reset --------------------------------------------------------------- */

void dev_cfg_reset(struct vpcie_dev *dev)
{
	if (dev->cfg_reset)
		memcpy(&dev->cfg, dev->cfg_reset, sizeof(dev->cfg));
}

void dev_do_reset(struct vpcie_dev *dev, enum vpcie_reset_kind kind)
{
	vpcie_info(&dev->log, "%s", kind == VPCIE_RESET_FLR ? "function level reset" : "device reset");
	if (DEV_TRACING(dev)) /* trace point: reset */
		vpcie_trace_event(dev->trace, 0, VPCIE_TRACE_RESET, 0, 0, 0, 0, 0,
				  kind == VPCIE_RESET_FLR, NULL);
	dev_cfg_reset(dev);
	dev_irq_reset_state(dev);
	/* As vfio-pci does: MSI/MSI-X are torn down; the client sets them up again. */
	dev_irq_drop_fds(dev, VFIO_PCI_MSI_IRQ_INDEX);
	dev_irq_drop_fds(dev, VFIO_PCI_MSIX_IRQ_INDEX);
	if (dev->ops.reset)
		dev->ops.reset(dev, dev->opaque, kind);
}

/* ---- Handlers ------------------------------------------------------------ */

/*
 * The largest data transfer we take from this client. Our reply may only hold
 * capabilities the client proposed (the spec: a subset), so a client that
 * proposed no max_data_xfer_size never hears ours and assumes the spec's
 * default for us: we must then take that much too.
 */
static uint64_t client_xfer_limit(const struct vpcie_dev *dev, const struct vpcie_caps *client)
{
	uint64_t ours = dev->opts.max_data_xfer_size, assumed = 1u << 20;

	if (client->present & VPCIE_CAP_MAX_DATA_XFER_SIZE)
		return ours;
	return ours > assumed ? ours : assumed;
}

static int handle_version(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	const struct vpcie_version *v = msg->payload;
	struct vpcie_version out = {.major = VPCIE_PROTO_MAJOR};
	struct vpcie_chan_limits lim;
	struct vpcie_caps client, ours;
	char json[512];
	int sv[2] = {-1, -1}, fds[4], ring_fds[3], ret, jlen;
	unsigned nfds = 0;
	/* The twin socket's and the ring's fds travel with the reply: a VERSION
	 * sent without one gets neither (they would only dangle). */
	bool replying = !(msg->hdr.flags & VPCIE_MSGF_NO_REPLY);

	if (dev->negotiated)
		return send_error(dev, msg, EINVAL);
	if (v->major != VPCIE_PROTO_MAJOR) {
		vpcie_warn(&dev->log, "client speaks protocol %u.%u; we speak %u.x", v->major,
			   v->minor, VPCIE_PROTO_MAJOR);
		send_error(dev, msg, ENOTSUP);
		return -EPROTO;
	}
	ret = vpcie_caps_from_json(v->data, msg->payload_len - sizeof(*v), &client);
	if (ret) {
		vpcie_warn(&dev->log, "malformed VERSION capabilities");
		send_error(dev, msg, EINVAL);
		return -EPROTO;
	}
	out.minor = v->minor < VPCIE_PROTO_MINOR ? v->minor : VPCIE_PROTO_MINOR;
	dev->peer = client;

	vpcie_caps_defaults(&ours);
	ours.max_msg_fds = dev->opts.max_msg_fds;
	ours.max_data_xfer_size = dev->opts.max_data_xfer_size;
	ours.max_dma_maps = 65535;
	ours.write_multiple = client.write_multiple; /* only what was proposed */
	/* Interrupts by message only where no eventfd can travel (TCP). */
	ours.irq_msg = client.irq_msg && !vpcie_chan_passes_fds(dev->chan);
	if (!replying && (client.twin_socket || client.ring))
		vpcie_warn(&dev->log, "VERSION without a reply: no twin socket, no ring");
	if (replying && client.twin_socket && dev->opts.offer_twin_socket &&
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
		ours.twin_socket = true;
		ours.twin_fd_index = (int)nfds;
		fds[nfds++] = sv[1];
	}
	/* The ring only for a client that proposed it (a vpcie host) and can
	 * take the fds; version 1 is all we speak. */
	if (replying && client.ring && client.ring_version >= 1 && dev->opts.offer_ring &&
	    client.max_msg_fds >= nfds + 3) {
		ret = dev_ring_create(dev, ring_fds);
		if (ret) {
			vpcie_warn(&dev->log, "cannot set up the ring (%s): socket only",
				   strerror(-ret));
		} else {
			ours.ring = true;
			ours.ring_version = VPCIE_RING_VERSION;
			ours.ring_slots = dev->ring->slots;
			ours.ring_fd_index = (int)nfds;
			ours.ring_h2d_wake_fd_index = (int)nfds + 1;
			ours.ring_d2h_wake_fd_index = (int)nfds + 2;
			for (int i = 0; i < 3; i++)
				fds[nfds++] = ring_fds[i];
		}
	}
	jlen = vpcie_caps_to_json_subset(&ours, client.present, json, sizeof(json));
	if (jlen < 0) {
		ret = jlen;
		goto out;
	}
	struct iovec iov[2] = {{&out, sizeof(out)}, {json, (size_t)jlen}};

	ret = send_reply(dev, msg, iov, 2, fds, nfds);
	if (ret)
		goto out;
	/* Our limits for what the client may send; DMA replies up to the chunk size. */
	dev->xfer_limit = client_xfer_limit(dev, &client);
	dev_chan_limits(dev, dev->xfer_limit, &lim);
	vpcie_chan_set_limits(dev->chan, &lim);
	if (ours.twin_socket) {
		dev->twin = vpcie_chan_new(sv[0], &lim);
		sv[0] = -1;
		if (!dev->twin) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (ours.ring) {
		ret = dev_ring_activate(dev);
		if (ret)
			goto out;
	}
	dev->negotiated = true;
	dev->irq_msg = ours.irq_msg;
	vpcie_info(&dev->log, "client negotiated protocol %u.%u (max transfer %llu, %s%s%s)",
		   out.major, out.minor, (unsigned long long)client.max_data_xfer_size,
		   vpcie_chan_passes_fds(dev->chan) ? "fds" : "no fds",
		   dev->twin ? ", twin socket" : "", dev->ring ? ", ring transport"
				   : dev->irq_msg ? ", interrupts by message" : "");
	if (dev->ops.connect)
		dev->ops.connect(dev, dev->opaque);
out:
	if (ret && dev->ring)
		dev_ring_destroy(dev);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return ret;
}

static int handle_dma_map(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	const struct vpcie_dma_map *m = msg->payload;
	int ret;

	if (msg->nfds > 1)
		return send_error(dev, msg, EINVAL);
	ret = dev_dma_map(dev, m, vpcie_msg_take_fd(msg, 0));
	if (ret)
		return send_error(dev, msg, -ret);
	return send_reply(dev, msg, NULL, 0, NULL, 0);
}

static int handle_dma_unmap(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	struct vpcie_dma_unmap u;
	int ret;

	memcpy(&u, msg->payload, sizeof(u));
	ret = dev_dma_unmap(dev, &u);
	if (ret)
		return send_error(dev, msg, -ret);
	u.argsz = sizeof(u);
	struct iovec iov = {&u, sizeof(u)};

	return send_reply(dev, msg, &iov, 1, NULL, 0);
}

static int handle_get_info(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	struct vpcie_device_info info = {
		.argsz = sizeof(info),
		.flags = VFIO_DEVICE_FLAGS_PCI |
			 (dev->opts.reset_supported ? VFIO_DEVICE_FLAGS_RESET : 0),
		.num_regions = DEV_NUM_REGIONS,
		.num_irqs = DEV_NUM_IRQS,
	};
	struct iovec iov = {&info, sizeof(info)};

	return send_reply(dev, msg, &iov, 1, NULL, 0);
}

/* Mappable areas of a memory-backed BAR: the pages no trap touches. */
static unsigned sparse_areas(const struct dev_bar *b, struct vpcie_sparse_area *areas)
{
	unsigned n = 0;
	uint64_t pos = 0, size = b->desc.size;

	while (pos < size && n < VPCIE_MAX_SPARSE_AREAS) {
		uint64_t start = pos, end = size;
		bool moved = true;

		/* Skip past any trap page that covers start. */
		while (moved) {
			moved = false;
			for (unsigned i = 0; i < b->ntraps; i++) {
				uint64_t ts = b->traps[i].off & ~(uint64_t)(DEV_PAGE - 1);
				uint64_t te = (b->traps[i].off + b->traps[i].len + DEV_PAGE - 1) &
					      ~(uint64_t)(DEV_PAGE - 1);

				if (start >= ts && start < te) {
					start = te;
					moved = true;
				}
			}
		}
		if (start >= size)
			break;
		for (unsigned i = 0; i < b->ntraps; i++) {
			uint64_t ts = b->traps[i].off & ~(uint64_t)(DEV_PAGE - 1);

			if (ts > start && ts < end)
				end = ts;
		}
		areas[n].offset = start;
		areas[n].size = end - start;
		n++;
		pos = end;
	}
	return n;
}

static int handle_region_info(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	const struct vpcie_region_info *req = msg->payload;
	struct vpcie_region_info info = {0};
	struct vpcie_cap_sparse_mmap cap = {0};
	struct vpcie_sparse_area areas[VPCIE_MAX_SPARSE_AREAS];
	unsigned idx = req->index, nareas = 0;
	size_t need = sizeof(info);
	int fd = -1;

	if (idx >= DEV_NUM_REGIONS)
		return send_error(dev, msg, EINVAL);
	info.index = idx;
	info.size = region_size(dev, idx);
	if (idx == VFIO_PCI_CONFIG_REGION_INDEX)
		info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	else if (idx == VFIO_PCI_ROM_REGION_INDEX && info.size)
		info.flags = VFIO_REGION_INFO_FLAG_READ;
	if (idx < 6 && dev->bars[idx].present) {
		const struct dev_bar *b = &dev->bars[idx];

		info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		/* Only whole pages can be mapped, and only where the fd can travel. */
		if (b->desc.memory && b->desc.size >= DEV_PAGE && vpcie_chan_passes_fds(dev->chan)) {
			nareas = sparse_areas(b, areas);
			if (nareas)
				fd = b->memfd;
			if (nareas && b->ntraps) {
				cap.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
				cap.version = 1;
				cap.nr_areas = nareas;
				need += sizeof(cap) + nareas * sizeof(areas[0]);
			}
		}
	}
	if (fd >= 0 && dev->fault && dev_fault_traps_region(dev, idx))
		fd = -1; /* faults on it: a host mapping would go around them */
	if (fd >= 0)
		info.flags |= VFIO_REGION_INFO_FLAG_MMAP;
	info.argsz = (uint32_t)need;
	struct iovec iov[3] = {{&info, sizeof(info)}, {&cap, sizeof(cap)},
			       {areas, nareas * sizeof(areas[0])}};
	int iovcnt = 1;

	/* A buffer too small for the full info: argsz tells the client to ask
	 * again; no caps flag, since QEMU checks cap_offset against what it got,
	 * and no fd, which goes with the full info only (libvfio-user's client
	 * fails on an fd with a partial reply, as its server never sends one). */
	if (req->argsz < need) {
		fd = -1;
	} else if (need > sizeof(info)) {
		info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
		info.cap_offset = sizeof(info);
		iovcnt = 3;
	}
	return send_reply(dev, msg, iov, iovcnt, &fd, fd >= 0 ? 1 : 0);
}

static int handle_io_fds(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	const struct vpcie_region_io_fds *req = msg->payload;
	struct vpcie_region_io_fds r = {.argsz = sizeof(r), .index = req->index};
	struct iovec iov = {&r, sizeof(r)};

	if (req->index >= DEV_NUM_REGIONS)
		return send_error(dev, msg, EINVAL);
	return send_reply(dev, msg, &iov, 1, NULL, 0);
}

static int handle_irq_info(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	const struct vpcie_irq_info *req = msg->payload;
	struct vpcie_irq_info r;
	struct iovec iov = {&r, sizeof(r)};

	if (req->index >= DEV_NUM_IRQS)
		return send_error(dev, msg, EINVAL);
	r.argsz = sizeof(r);
	r.index = req->index;
	r.count = dev->irqs[req->index].count;
	r.flags = r.count ? dev_irq_info_flags(req->index) : 0;
	return send_reply(dev, msg, &iov, 1, NULL, 0);
}

static int handle_set_irqs(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	int ret = dev_set_irqs(dev, msg->payload, msg);

	if (ret)
		return send_error(dev, msg, -ret);
	return send_reply(dev, msg, NULL, 0, NULL, 0);
}

static int handle_region_read(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	struct vpcie_region_access r;
	uint8_t small[64], *data = small;
	int ret;

	memcpy(&r, msg->payload, sizeof(r));
	if (r.count > sizeof(small)) {
		data = malloc(r.count);
		if (!data)
			return send_error(dev, msg, ENOMEM);
	}
	ret = dev_region_access(dev, r.region, r.offset, data, r.count, false);
	if (ret == DEV_FAULT_NOREPLY) {
		ret = 0;
	} else if (ret) {
		ret = send_error(dev, msg, -ret);
	} else {
		struct iovec iov[2] = {{&r, sizeof(r)}, {data, r.count}};

		ret = send_reply(dev, msg, iov, 2, NULL, 0);
	}
	if (data != small)
		free(data);
	return ret;
}

static int handle_region_write(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	struct vpcie_region_access r;
	int ret;

	memcpy(&r, msg->payload, sizeof(r));
	ret = dev_region_access_via(dev, r.region, r.offset, (uint8_t *)msg->payload + sizeof(r),
				    r.count, true,
				    msg->hdr.flags & VPCIE_MSGF_NO_REPLY ? VPCIE_TRACE_F_POSTED : 0);
	if (ret == DEV_FAULT_NOREPLY)
		return 0;
	if (ret)
		return send_error(dev, msg, -ret);
	struct iovec iov = {&r, sizeof(r)};

	return send_reply(dev, msg, &iov, 1, NULL, 0);
}

static int handle_write_multi(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	const struct vpcie_write_multi *m = msg->payload;
	struct vpcie_write_multi r = {.wr_cnt = m->wr_cnt};
	struct iovec iov = {&r, sizeof(r)};

	/* Check every entry first: a bad one must not leave the others half applied.
	 * (A device callback can still refuse an entry; earlier ones then stand.) */
	for (uint64_t i = 0; i < m->wr_cnt; i++) {
		struct vpcie_write_multi_entry e;

		memcpy(&e, &m->wrs[i], sizeof(e));
		if (e.region >= DEV_NUM_REGIONS ||
		    !vpcie_range_ok(e.offset, e.count, region_size(dev, e.region)))
			return send_error(dev, msg, EINVAL);
	}
	for (uint64_t i = 0; i < m->wr_cnt; i++) {
		struct vpcie_write_multi_entry e;
		int ret;

		memcpy(&e, &m->wrs[i], sizeof(e));
		ret = dev_region_access(dev, e.region, e.offset, e.data, e.count, true);
		if (ret == DEV_FAULT_NOREPLY)
			return 0;
		if (ret)
			return send_error(dev, msg, -ret);
	}
	return send_reply(dev, msg, &iov, 1, NULL, 0);
}

static int handle_reset(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	if (!dev->opts.reset_supported)
		return send_error(dev, msg, ENOTSUP);
	dev_do_reset(dev, VPCIE_RESET_DEVICE);
	return send_reply(dev, msg, NULL, 0, NULL, 0);
}

static int handle_msg(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	unsigned cmd = msg->hdr.cmd, type = msg->hdr.flags & VPCIE_MSGF_TYPE_MASK;
	int ret;

	if (type == VPCIE_MSGF_REPLY) {
		vpcie_dbg(&dev->log, "unexpected reply to %s (id %u) dropped",
			  vpcie_cmd_name(cmd), msg->hdr.msg_id);
		return 0;
	}
	if (type != VPCIE_MSGF_COMMAND)
		return send_error(dev, msg, EINVAL);
	ret = vpcie_validate_command(cmd, msg->payload, msg->payload_len, dev->xfer_limit);
	if (ret) {
		vpcie_dbg(&dev->log, "malformed %s (%u bytes)", vpcie_cmd_name(cmd),
			  (unsigned)msg->payload_len);
		return send_error(dev, msg, -ret);
	}
	if (!dev->negotiated && cmd != VPCIE_CMD_VERSION)
		return send_error(dev, msg, EINVAL);

	switch (cmd) {
	case VPCIE_CMD_VERSION:
		return handle_version(dev, msg);
	case VPCIE_CMD_DMA_MAP:
		return handle_dma_map(dev, msg);
	case VPCIE_CMD_DMA_UNMAP:
		return handle_dma_unmap(dev, msg);
	case VPCIE_CMD_DEVICE_GET_INFO:
		return handle_get_info(dev, msg);
	case VPCIE_CMD_DEVICE_GET_REGION_INFO:
		return handle_region_info(dev, msg);
	case VPCIE_CMD_DEVICE_GET_REGION_IO_FDS:
		return handle_io_fds(dev, msg);
	case VPCIE_CMD_DEVICE_GET_IRQ_INFO:
		return handle_irq_info(dev, msg);
	case VPCIE_CMD_DEVICE_SET_IRQS:
		return handle_set_irqs(dev, msg);
	case VPCIE_CMD_REGION_READ:
		return handle_region_read(dev, msg);
	case VPCIE_CMD_REGION_WRITE:
		return handle_region_write(dev, msg);
	case VPCIE_CMD_REGION_WRITE_MULTI:
		return handle_write_multi(dev, msg);
	case VPCIE_CMD_DEVICE_RESET:
		return handle_reset(dev, msg);
	case VPCIE_CMD_DEVICE_FEATURE:   /* migration is not built yet */
	case VPCIE_CMD_MIG_DATA_READ:
	case VPCIE_CMD_MIG_DATA_WRITE:
		return send_error(dev, msg, ENOTSUP);
	default:                         /* DMA_READ/WRITE go the other way */
		return send_error(dev, msg, EINVAL);
	}
}

int dev_handle_msg(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	int ret;

	dev->handler_depth++; /* a DMA wait in here queues commands (dma.c) */
	ret = handle_msg(dev, msg);
	dev->handler_depth--;
	return ret;
}
