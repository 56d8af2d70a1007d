/* SPDX-License-Identifier: MIT */
/*
 * Device-side DMA: the table of host memory the client mapped, and access to
 * it - a plain memcpy where the client passed an fd we may map, DMA_READ/
 * DMA_WRITE messages elsewhere.
 *
 * We mmap a client's fd only if it is sealed against shrinking
 * (F_SEAL_SHRINK): a client holding an unsealed file can truncate it under
 * our mapping, and the next access would kill the device with SIGBUS. Such a
 * map is served by messages instead. (The alternative, catching SIGBUS around
 * each copy, needs a process-wide signal handler and per-thread recovery
 * state: global state the library does not keep, and that would fight the
 * program's own handlers.) QEMU's memory-backend-memfd is sealed by default
 * and keeps the fast path; memory-backend-file cannot be sealed, works, and
 * is slower. With opts.dma_shm false every fd is closed and its map served
 * by messages the same way.
 *
 * Waiting for a DMA reply on the main socket, the client may send us commands
 * (QEMU keeps posting writes). They are queued and served, in order, once the
 * current work is done - never re-entered - so a device callback can DMA
 * without worrying about being called again underneath itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev_priv.h"
#include "../util/util.h"

#define DMA_MAX_MAPS 65535u
#define DEFERRED_MAX_BYTES (64u << 20)

/* Index of the first map whose end is above addr (maps are sorted, disjoint). */
static unsigned lower_bound(const struct vpcie_dev *dev, uint64_t addr)
{
	unsigned lo = 0, hi = dev->nmaps;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct dma_map *m = &dev->maps[mid];

		if (m->addr + m->size <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct dma_map *find_map(struct vpcie_dev *dev, uint64_t addr)
{
	unsigned i = lower_bound(dev, addr);

	if (i < dev->nmaps && dev->maps[i].addr <= addr)
		return &dev->maps[i];
	return NULL;
}

int dev_dma_map(struct vpcie_dev *dev, const struct vpcie_dma_map *m, int fd)
{
	const uint32_t known = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	struct dma_map nm = {.addr = m->addr, .size = m->size, .prot = m->flags};
	unsigned i;
	int ret = 0;

	if (!m->size || m->addr + m->size < m->addr || !(m->flags & known) ||
	    (m->flags & ~known)) {
		ret = -EINVAL;
		goto out;
	}
	i = lower_bound(dev, m->addr);
	if (i < dev->nmaps && dev->maps[i].addr < m->addr + m->size) {
		ret = -EEXIST;
		goto out;
	}
	if (dev->nmaps >= DMA_MAX_MAPS) {
		ret = -ENOSPC;
		goto out;
	}
	if (fd >= 0) {
		struct stat st;

		/* A file too small for the window is a broken request, whichever
		 * way we serve it (mapped, touching it would SIGBUS). */
		if (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) &&
		    (m->offset > (uint64_t)st.st_size || m->size > (uint64_t)st.st_size - m->offset))) {
			ret = -EINVAL;
			goto out;
		}
	}
	if (fd >= 0 && !dev->opts.dma_shm) {
		close(fd); /* message-only DMA */
		fd = -1;
	} else if (fd >= 0 && !vpcie_fd_size_sealed(fd)) {
		if (!dev->warned_unsealed)
			vpcie_warn(&dev->log, "client DMA memory is not sealed against shrinking: "
					      "served by messages");
		dev->warned_unsealed = true;
		close(fd);
		fd = -1;
	}
	if (fd >= 0) {
		int prot = ((m->flags & VFIO_DMA_MAP_FLAG_READ) ? PROT_READ : 0) |
			   ((m->flags & VFIO_DMA_MAP_FLAG_WRITE) ? PROT_WRITE : 0);
		uint64_t skew = m->offset % DEV_PAGE;

		if (m->size > SIZE_MAX - skew) {
			ret = -EINVAL;
			goto out;
		}
		nm.map_len = m->size + skew;
		nm.map_skew = skew;
		nm.ptr = mmap(NULL, nm.map_len, prot, MAP_SHARED, fd, (off_t)(m->offset - skew));
		if (nm.ptr == MAP_FAILED) {
			ret = -errno;
			goto out;
		}
	}
	if (dev->nmaps == dev->maps_cap) {
		unsigned cap = dev->maps_cap ? dev->maps_cap * 2 : 16;
		struct dma_map *p = realloc(dev->maps, cap * sizeof(*p));

		if (!p) {
			if (nm.ptr)
				munmap(nm.ptr, nm.map_len);
			ret = -ENOMEM;
			goto out;
		}
		dev->maps = p;
		dev->maps_cap = cap;
	}
	memmove(&dev->maps[i + 1], &dev->maps[i], (dev->nmaps - i) * sizeof(*dev->maps));
	dev->maps[i] = nm;
	dev->nmaps++;
	vpcie_dbg(&dev->log, "DMA map [%#llx, +%#llx) %s%s", (unsigned long long)m->addr,
		  (unsigned long long)m->size, fd >= 0 ? "fd" : "messages",
		  (m->flags & VFIO_DMA_MAP_FLAG_WRITE) ? " rw" : " ro");
out:
	if (fd >= 0)
		close(fd); /* the mapping keeps its own reference */
	return ret;
}

static void release_map(struct dma_map *m)
{
	if (m->ptr)
		munmap(m->ptr, m->map_len);
}

void dev_dma_unmap_all(struct vpcie_dev *dev)
{
	for (unsigned i = 0; i < dev->nmaps; i++)
		release_map(&dev->maps[i]);
	dev->nmaps = 0;
}

int dev_dma_unmap(struct vpcie_dev *dev, const struct vpcie_dma_unmap *u)
{
	unsigned i;

	if (u->flags & VFIO_DMA_UNMAP_FLAG_ALL) {
		dev_dma_unmap_all(dev);
		return 0;
	}
	if (u->flags)
		return -ENOTSUP; /* dirty bitmaps, vaddr invalidation */
	i = lower_bound(dev, u->addr);
	if (i >= dev->nmaps || dev->maps[i].addr != u->addr || dev->maps[i].size != u->size)
		return -ENOENT;
	release_map(&dev->maps[i]);
	memmove(&dev->maps[i], &dev->maps[i + 1], (dev->nmaps - i - 1) * sizeof(*dev->maps));
	dev->nmaps--;
	return 0;
}

/* ---- Requests to the client ---------------------------------------------- */

static int defer(struct vpcie_dev *dev, struct vpcie_msg *m)
{
	if (dev->ndeferred >= DEV_MAX_DEFERRED ||
	    dev->deferred_bytes + m->payload_len > DEFERRED_MAX_BYTES)
		return -ENOBUFS;
	if (!dev->deferred) {
		dev->deferred = calloc(DEV_MAX_DEFERRED, sizeof(*dev->deferred));
		if (!dev->deferred)
			return -ENOMEM;
	}
	dev->deferred[(dev->deferred_head + dev->ndeferred) % DEV_MAX_DEFERRED] = *m;
	dev->ndeferred++;
	dev->deferred_bytes += m->payload_len;
	memset(m, 0, sizeof(*m));
	return 0;
}

int dev_request(struct vpcie_dev *dev, struct vpcie_msg_hdr *hdr, const struct iovec *iov,
		int iovcnt, struct vpcie_msg *reply)
{
	struct vpcie_chan *ch = dev->twin ? dev->twin : dev->chan;
	uint64_t deadline;
	int ret;

	if (!ch || !dev->negotiated || dev->drop_client)
		return -ENOTCONN;
	hdr->msg_id = dev->next_id++;
	hdr->flags = VPCIE_MSGF_COMMAND;
	hdr->error = 0;
	deadline = vpcie_deadline(dev->opts.dma_timeout_ms);
	ret = vpcie_chan_send(ch, hdr, iov, iovcnt, NULL, 0, dev->opts.dma_timeout_ms);
	while (ret == 0) {
		struct vpcie_msg m;
		unsigned type;

		ret = vpcie_chan_recv(ch, &m, vpcie_ms_left(deadline));
		if (ret)
			break;
		type = m.hdr.flags & VPCIE_MSGF_TYPE_MASK;
		if (type == VPCIE_MSGF_REPLY && m.hdr.msg_id == hdr->msg_id &&
		    m.hdr.cmd == hdr->cmd) {
			if (m.hdr.flags & VPCIE_MSGF_ERROR) {
				vpcie_dbg(&dev->log, "client refused %s: %s", vpcie_cmd_name(hdr->cmd),
					  strerror((int)m.hdr.error));
				vpcie_msg_release(&m);
				return -EIO;
			}
			*reply = m;
			return 0;
		}
		if (type == VPCIE_MSGF_COMMAND && ch == dev->chan) {
			ret = defer(dev, &m);
		} else {
			vpcie_dbg(&dev->log, "stray %s (id %u) while waiting", vpcie_cmd_name(m.hdr.cmd),
				  m.hdr.msg_id);
		}
		vpcie_msg_release(&m);
	}
	if (ret == -EAGAIN)
		ret = -ETIMEDOUT;
	vpcie_warn(&dev->log, "%s request failed: %s", vpcie_cmd_name(hdr->cmd), strerror(-ret));
	if (ret != -ETIMEDOUT)
		dev->drop_client = true; /* the socket is unusable; the loop will drop it */
	return ret;
}

/* ---- DMA ------------------------------------------------------------------ */

static uint64_t dma_chunk(const struct vpcie_dev *dev)
{
	uint64_t c = dev->peer.max_data_xfer_size;

	if (c > dev->opts.max_data_xfer_size)
		c = dev->opts.max_data_xfer_size;
	return c ? c : 4096;
}

static int msg_read(struct vpcie_dev *dev, uint64_t addr, uint8_t *buf, uint64_t len)
{
	struct vpcie_dma_access req = {.addr = addr, .count = len};
	struct vpcie_msg_hdr hdr = {.cmd = VPCIE_CMD_DMA_READ};
	struct iovec iov = {&req, sizeof(req)};
	struct vpcie_msg reply;
	const struct vpcie_dma_access *r;
	int ret = dev_request(dev, &hdr, &iov, 1, &reply);

	if (ret)
		return ret;
	r = reply.payload;
	if (vpcie_validate_reply(VPCIE_CMD_DMA_READ, reply.payload, reply.payload_len, len) ||
	    r->addr != addr || r->count != len) {
		vpcie_warn(&dev->log, "malformed DMA_READ reply");
		ret = -EIO;
	} else {
		memcpy(buf, r->data, len);
	}
	vpcie_msg_release(&reply);
	return ret;
}

static int msg_write(struct vpcie_dev *dev, uint64_t addr, const uint8_t *buf, uint64_t len)
{
	struct vpcie_dma_access req = {.addr = addr, .count = len};
	struct vpcie_msg_hdr hdr = {.cmd = VPCIE_CMD_DMA_WRITE};
	struct iovec iov[2] = {{&req, sizeof(req)}, {(void *)buf, len}};
	struct vpcie_msg reply;
	struct vpcie_dma_write_reply r;
	int ret = dev_request(dev, &hdr, iov, 2, &reply);

	if (ret)
		return ret;
	if (vpcie_validate_reply(VPCIE_CMD_DMA_WRITE, reply.payload, reply.payload_len, len)) {
		ret = -EIO;
	} else {
		memcpy(&r, reply.payload, sizeof(r));
		if (r.addr != addr || r.count != len)
			ret = -EIO;
	}
	if (ret)
		vpcie_warn(&dev->log, "malformed DMA_WRITE reply");
	vpcie_msg_release(&reply);
	return ret;
}

/* Every byte of [addr, addr+len) mapped with prot? */
static int check_range(struct vpcie_dev *dev, uint64_t addr, uint64_t len, uint32_t prot)
{
	if (!dev->chan || !dev->negotiated)
		return -ENOTCONN;
	if (!(vpcie_cfg_get16(&dev->cfg, PCI_COMMAND) & PCI_COMMAND_MASTER))
		return -EPERM;
	if (addr + len < addr)
		return -EFAULT;
	while (len) {
		struct dma_map *m = find_map(dev, addr);
		uint64_t n;

		if (!m || !(m->prot & prot))
			return -EFAULT;
		n = m->addr + m->size - addr;
		if (n > len)
			n = len;
		addr += n;
		len -= n;
	}
	return 0;
}

static int dma_rw(struct vpcie_dev *dev, uint64_t addr, uint8_t *buf, size_t len, bool write)
{
	int ret = check_range(dev, addr, len, write ? VFIO_DMA_MAP_FLAG_WRITE : VFIO_DMA_MAP_FLAG_READ);

	if (ret)
		return ret;
	while (len) {
		struct dma_map *m = find_map(dev, addr);
		uint64_t n = m->addr + m->size - addr;

		if (n > len)
			n = len;
		if (m->ptr) {
			uint8_t *p = m->ptr + m->map_skew + (addr - m->addr);

			if (write)
				memcpy(p, buf, n);
			else
				memcpy(buf, p, n);
		} else {
			/* The map may vanish while we wait (a queued UNMAP is not run
			 * until we return), so m stays valid for this loop. */
			for (uint64_t done = 0; done < n;) {
				uint64_t c = n - done < dma_chunk(dev) ? n - done : dma_chunk(dev);

				ret = write ? msg_write(dev, addr + done, buf + done, c)
					    : msg_read(dev, addr + done, buf + done, c);
				if (ret)
					return ret;
				done += c;
			}
		}
		addr += n;
		buf += n;
		len -= n;
	}
	return 0;
}

int vpcie_dma_read(struct vpcie_dev *dev, uint64_t addr, void *buf, size_t len)
{
	return dma_rw(dev, addr, buf, len, false);
}

int vpcie_dma_write(struct vpcie_dev *dev, uint64_t addr, const void *buf, size_t len)
{
	return dma_rw(dev, addr, (uint8_t *)buf, len, true);
}

void *vpcie_dma_ptr(struct vpcie_dev *dev, uint64_t addr, size_t len, bool write)
{
	struct dma_map *m;

	if (check_range(dev, addr, len, write ? VFIO_DMA_MAP_FLAG_WRITE : VFIO_DMA_MAP_FLAG_READ))
		return NULL;
	m = find_map(dev, addr);
	if (!m || !m->ptr || !vpcie_range_within(addr, len, m->addr, m->size))
		return NULL;
	return m->ptr + m->map_skew + (addr - m->addr);
}
