/* SPDX-License-Identifier: MIT */
/*
 * Device-side DMA: the table of host memory the client mapped, and access to
 * it - a plain memcpy where the client passed an fd we may map, DMA_READ/
 * DMA_WRITE messages elsewhere.
 *
 * We mmap a client's fd only if it is sealed against shrinking
 * (F_SEAL_SHRINK): a client holding an unsealed file can truncate it under
 * our mapping, and the next access would kill the device with SIGBUS. Such a
 * map is served by messages instead, and so is a sealed file on hugetlbfs:
 * the seal does not stop FALLOC_FL_PUNCH_HOLE, and a punched huge page
 * touched again must come from the huge page pool (SIGBUS when it is empty;
 * a punched shmem page comes back as zeros). (The alternative, catching SIGBUS around
 * each copy, needs a process-wide signal handler and per-thread recovery
 * state: global state the library does not keep, and that would fight the
 * program's own handlers.) QEMU's memory-backend-memfd is sealed by default
 * and keeps the fast path; memory-backend-file cannot be sealed, works, and
 * is slower. With opts.dma_shm false every fd is closed and its map served
 * by messages the same way.
 *
 * Waiting for a DMA reply on the main socket, we may receive the client's
 * commands. A client may well wait for one of them before it serves our
 * request: QEMU's vCPU holds its big lock while it waits for a REGION_READ
 * reply, and QEMU serves DMA_READ/DMA_WRITE from its main loop, which needs
 * that lock. So when the DMA was started outside any command handler (from a
 * timer, or the program's own loop) the commands are served as they arrive,
 * as a real device answers MMIO while its DMA engine works. Inside a handler
 * they are queued and served, in order, once that handler is done - a
 * callback is never re-entered. Mappings the client removes while we wait
 * are unmapped only when the dispatcher runs again, so a pointer from
 * vpcie_dev_dma_ptr() stays valid for the rest of the callback.
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
/*
 * Largest DMA_READ asked in one message unless opts.dma_read_max, or the
 * client's "vpcie_dma_read_max" capability (vpcie hosts), says otherwise. QEMU (10.1 to at least 11.1) sends each reply with one
 * non-blocking sendmsg() and forgets what did not fit into its socket buffer
 * (net.core.wmem_default, 208 KiB by default): a larger DMA_READ reply
 * arrives truncated, and the stream is lost. 64 KiB leaves room.
 */
#define DMA_READ_MAX_DEFAULT (64u << 10)

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
	} else if (fd >= 0 && !vpcie_fd_map_safe(fd)) {
		if (!dev->warned_unsealed)
			vpcie_warn(&dev->log, "client DMA memory is not sealed against shrinking, "
					      "or is on hugetlbfs: served by messages");
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

void dev_dma_release_zombies(struct vpcie_dev *dev)
{
	for (unsigned i = 0; i < dev->nzombies; i++)
		munmap(dev->zombies[i].ptr, dev->zombies[i].len);
	dev->nzombies = 0;
}

/* Unmap m now, or (during a DMA wait, when device code may hold pointers into
 * it) once the dispatcher runs again. */
static int retire_map(struct vpcie_dev *dev, struct dma_map *m)
{
	if (!m->ptr || !dev->dma_depth) {
		release_map(m);
		return 0;
	}
	if (dev->nzombies == dev->zombies_cap) {
		unsigned cap = dev->zombies_cap ? dev->zombies_cap * 2 : 16;
		struct dma_zombie *p;

		if (cap > DMA_MAX_MAPS)
			return -EBUSY;
		p = realloc(dev->zombies, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		dev->zombies = p;
		dev->zombies_cap = cap;
	}
	dev->zombies[dev->nzombies++] = (struct dma_zombie){m->ptr, m->map_len};
	return 0;
}

void dev_dma_unmap_all(struct vpcie_dev *dev)
{
	for (unsigned i = 0; i < dev->nmaps; i++)
		release_map(&dev->maps[i]);
	dev->nmaps = 0;
	dev_dma_release_zombies(dev);
}

int dev_dma_unmap(struct vpcie_dev *dev, const struct vpcie_dma_unmap *u)
{
	unsigned i, n = 0;
	int ret;

	if (u->flags & VFIO_DMA_UNMAP_FLAG_ALL) {
		for (; n < dev->nmaps; n++) {
			ret = retire_map(dev, &dev->maps[n]);
			if (ret)
				break;
		}
		/* What could not be retired stays mapped. */
		if (n < dev->nmaps) /* (maps may be NULL when there are none) */
			memmove(dev->maps, &dev->maps[n], (dev->nmaps - n) * sizeof(*dev->maps));
		dev->nmaps -= n;
		return dev->nmaps ? -EBUSY : 0;
	}
	if (u->flags)
		return -ENOTSUP; /* dirty bitmaps, vaddr invalidation */
	i = lower_bound(dev, u->addr);
	if (i >= dev->nmaps || dev->maps[i].addr != u->addr || dev->maps[i].size != u->size)
		return -ENOENT;
	ret = retire_map(dev, &dev->maps[i]);
	if (ret)
		return ret;
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

bool dev_deferred_pop(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	if (!dev->ndeferred)
		return false;
	*msg = dev->deferred[dev->deferred_head];
	dev->deferred_head = (dev->deferred_head + 1) % DEV_MAX_DEFERRED;
	dev->ndeferred--;
	dev->deferred_bytes -= msg->payload_len;
	return true;
}

void dev_deferred_clear(struct vpcie_dev *dev)
{
	struct vpcie_msg m;

	while (dev_deferred_pop(dev, &m))
		vpcie_msg_release(&m);
	dev->deferred_head = 0;
	dev->deferred_bytes = 0;
}

/* Serve the queued commands in order (no handler is running). A handler may
 * itself wait for DMA and queue more: they are served here too. */
static int serve_deferred(struct vpcie_dev *dev)
{
	struct vpcie_msg m;

	while (!dev->drop_client && dev_deferred_pop(dev, &m)) {
		int ret = dev_handle_msg(dev, &m);

		vpcie_msg_release(&m);
		if (ret) {
			vpcie_warn(&dev->log, "while waiting for DMA: %s", strerror(-ret));
			dev->drop_client = true; /* the loop will drop it */
		}
	}
	return dev->drop_client ? -ENOTCONN : 0;
}

static int wait_reply(struct vpcie_dev *dev, struct vpcie_chan *ch,
		      const struct vpcie_msg_hdr *hdr, uint64_t deadline,
		      struct vpcie_msg *reply)
{
	for (;;) {
		struct vpcie_msg m;
		unsigned type;
		int ret = vpcie_chan_recv(ch, &m, vpcie_ms_left(deadline));

		if (ret)
			return ret;
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
			/* Queued behind any older ones, so order is kept. */
			ret = defer(dev, &m);
			if (!ret && !dev->handler_depth)
				ret = serve_deferred(dev);
		} else {
			vpcie_dbg(&dev->log, "stray %s (id %u) while waiting", vpcie_cmd_name(m.hdr.cmd),
				  m.hdr.msg_id);
		}
		vpcie_msg_release(&m);
		if (ret)
			return ret;
	}
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
	dev->dma_depth++;
	ret = vpcie_chan_send(ch, hdr, iov, iovcnt, NULL, 0, dev->opts.dma_timeout_ms);
	if (ret == 0)
		ret = wait_reply(dev, ch, hdr, deadline, reply);
	dev->dma_depth--;
	if (ret == 0 || ret == -EIO)
		return ret;
	if (ret == -EAGAIN)
		ret = -ETIMEDOUT;
	vpcie_warn(&dev->log, "%s request failed: %s", vpcie_cmd_name(hdr->cmd), strerror(-ret));
	if (ret != -ETIMEDOUT)
		dev->drop_client = true; /* the socket is unusable; the loop will drop it */
	return ret;
}

/* ---- DMA ------------------------------------------------------------------ */

/* Bytes per DMA_READ or DMA_WRITE message. */
static uint64_t dma_chunk(const struct vpcie_dev *dev, bool write)
{
	uint64_t c = dev->peer.max_data_xfer_size;
	uint64_t rmax = dev->opts.dma_read_max  ? dev->opts.dma_read_max
			: dev->peer.dma_read_max ? dev->peer.dma_read_max
						 : DMA_READ_MAX_DEFAULT;

	if (c > dev->opts.max_data_xfer_size)
		c = dev->opts.max_data_xfer_size;
	if (!write && c > rmax)
		c = rmax;
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

/*
 * DMA_WRITE requests in flight at once when a transfer spans several chunks:
 * the client (a vpcie host or QEMU) handles them in order and answers each
 * with a small reply, so sending the next chunks before the first reply
 * arrives keeps the link busy instead of paying a round trip per chunk.
 * Only writes: a DMA_READ reply carries the data, and QEMU drops what does
 * not fit its socket buffer (DMA_READ_MAX_DEFAULT above), so reads stay one
 * at a time.
 */
#define DMA_WRITE_WINDOW 4u

/* len bytes at addr as DMA_WRITEs of at most chunk bytes, up to
 * DMA_WRITE_WINDOW in flight; replies are checked in order. */
static int msg_write_pipelined(struct vpcie_dev *dev, uint64_t addr, const uint8_t *buf,
			       uint64_t len, uint64_t chunk)
{
	struct vpcie_chan *ch = dev->twin ? dev->twin : dev->chan;
	struct vpcie_msg_hdr hdr[DMA_WRITE_WINDOW];
	uint64_t at[DMA_WRITE_WINDOW], cnt[DMA_WRITE_WINDOW];
	uint64_t sent = 0;
	unsigned head = 0, tail = 0;
	bool malformed = false;
	int ret = 0;

	if (!ch || !dev->negotiated || dev->drop_client)
		return -ENOTCONN;
	dev->dma_depth++;
	/* Commands that arrive meanwhile stay queued for the loop, even outside
	 * a handler: one served here could DMA and take our replies as strays. */
	dev->handler_depth++;
	while (!ret && (sent < len || tail != head)) {
		if (sent < len && head - tail < DMA_WRITE_WINDOW) {
			unsigned k = head % DMA_WRITE_WINDOW;
			uint64_t n = len - sent < chunk ? len - sent : chunk;
			struct vpcie_dma_access req = {.addr = addr + sent, .count = n};
			struct iovec iov[2] = {{&req, sizeof(req)}, {(void *)(buf + sent), n}};

			hdr[k] = (struct vpcie_msg_hdr){.cmd = VPCIE_CMD_DMA_WRITE,
							.msg_id = dev->next_id++,
							.flags = VPCIE_MSGF_COMMAND};
			at[k] = addr + sent;
			cnt[k] = n;
			ret = vpcie_chan_send(ch, &hdr[k], iov, 2, NULL, 0, dev->opts.dma_timeout_ms);
			sent += n;
			head++;
			continue;
		}
		unsigned k = tail % DMA_WRITE_WINDOW;
		struct vpcie_msg reply;
		struct vpcie_dma_write_reply r;

		ret = wait_reply(dev, ch, &hdr[k], vpcie_deadline(dev->opts.dma_timeout_ms), &reply);
		tail++;
		if (ret)
			break;
		if (vpcie_validate_reply(VPCIE_CMD_DMA_WRITE, reply.payload, reply.payload_len,
					 cnt[k])) {
			ret = -EIO;
		} else {
			memcpy(&r, reply.payload, sizeof(r));
			if (r.addr != at[k] || r.count != cnt[k])
				ret = -EIO;
		}
		malformed = ret != 0;
		vpcie_msg_release(&reply);
	}
	dev->handler_depth--;
	dev->dma_depth--;
	vpcie_dbg(&dev->log, "DMA_WRITE of %llu B at 0x%llx: %u messages, up to %u in flight: %s",
		  (unsigned long long)len, (unsigned long long)addr, head, DMA_WRITE_WINDOW,
		  ret ? strerror(-ret) : "done");
	/* Replies still owed after a failure arrive later and are dropped as
	 * strays (wait_reply matches ids). */
	if (ret == 0 || (ret == -EIO && !malformed))
		return ret;
	if (malformed) {
		vpcie_warn(&dev->log, "malformed DMA_WRITE reply");
		return ret;
	}
	if (ret == -EAGAIN)
		ret = -ETIMEDOUT;
	vpcie_warn(&dev->log, "DMA_WRITE request failed: %s", strerror(-ret));
	if (ret != -ETIMEDOUT)
		dev->drop_client = true; /* the socket is unusable; the loop will drop it */
	return ret;
}

/* May we DMA at all? */
static int dma_allowed(struct vpcie_dev *dev)
{
	if (!dev->chan || !dev->negotiated)
		return -ENOTCONN;
	if (!(vpcie_cfg_get16(&dev->cfg, PCI_COMMAND) & PCI_COMMAND_MASTER))
		return -EPERM;
	return 0;
}

/* Every byte of [addr, addr+len) mapped with prot? */
static int check_range(struct vpcie_dev *dev, uint64_t addr, uint64_t len, uint32_t prot)
{
	int ret = dma_allowed(dev);

	if (ret)
		return ret;
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

/*
 * The whole range is checked first, so a bad one moves no byte. While we
 * wait for a message's reply the client's commands may be served (see the
 * top of this file): maps, bus mastering and the connection are looked at
 * again before every piece, and the transfer stops at the first piece that
 * is no longer allowed.
 */
int dev_dma_rw(struct vpcie_dev *dev, uint64_t addr, void *data, size_t len, bool write)
{
	uint8_t *buf = data;
	uint32_t prot = write ? VFIO_DMA_MAP_FLAG_WRITE : VFIO_DMA_MAP_FLAG_READ;
	int ret = check_range(dev, addr, len, prot);

	while (ret == 0 && len) {
		struct dma_map *m = find_map(dev, addr);
		uint64_t n;

		ret = dma_allowed(dev);
		if (ret)
			break;
		if (!m || !(m->prot & prot)) {
			ret = -EFAULT;
			break;
		}
		n = m->addr + m->size - addr;
		if (n > len)
			n = len;
		uint64_t t0 = DEV_TRACE_T0(dev);
		bool shm = m->ptr != NULL;

		if (shm) {
			uint8_t *p = m->ptr + m->map_skew + (addr - m->addr);

			if (write)
				memcpy(p, buf, n);
			else
				memcpy(buf, p, n);
		} else {
			/* m may be gone when the messages return. */
			uint64_t c = dma_chunk(dev, write);

			if (write && n > c) {
				ret = msg_write_pipelined(dev, addr, buf, n, c);
			} else {
				if (n > c)
					n = c;
				ret = write ? msg_write(dev, addr, buf, n) : msg_read(dev, addr, buf, n);
			}
		}
		if (DEV_TRACING(dev)) /* trace point: DMA, one record per piece */
			vpcie_trace_dma(dev->trace, t0, addr, n,
					(write ? VPCIE_TRACE_F_WRITE : 0) | (shm ? 0 : VPCIE_TRACE_F_MSG),
					ret);
		addr += n;
		buf += n;
		len -= n;
	}
	return ret;
}

int dev_dma_msg(struct vpcie_dev *dev, uint64_t addr, void *buf, size_t len, bool write)
{
	if (!dev->chan || !dev->negotiated)
		return -ENOTCONN;
	return write ? msg_write(dev, addr, buf, len) : msg_read(dev, addr, buf, len);
}

/* Fault injection (fault_hooks.c) sees every transfer first. */
int vpcie_dev_dma_read(struct vpcie_dev *dev, uint64_t addr, void *buf, size_t len)
{
	if (dev->fault)
		return dev_fault_dma(dev, addr, buf, len, false);
	return dev_dma_rw(dev, addr, buf, len, false);
}

int vpcie_dev_dma_write(struct vpcie_dev *dev, uint64_t addr, const void *buf, size_t len)
{
	if (dev->fault)
		return dev_fault_dma(dev, addr, (void *)buf, len, true);
	return dev_dma_rw(dev, addr, (void *)buf, len, true);
}

int vpcie_dev_dma_check(struct vpcie_dev *dev, uint64_t addr, uint64_t len, bool write)
{
	int ret = check_range(dev, addr, len, VFIO_DMA_MAP_FLAG_READ);

	if (!ret && write)
		ret = check_range(dev, addr, len, VFIO_DMA_MAP_FLAG_WRITE);
	return ret;
}

void *vpcie_dev_dma_ptr(struct vpcie_dev *dev, uint64_t addr, size_t len, bool write)
{
	struct dma_map *m;

	/* DMA faults act on vpcie_dev_dma_read/write: send the device there. */
	if (dev->fault && dev_fault_traps_dma(dev))
		return NULL;
	if (check_range(dev, addr, len, write ? VFIO_DMA_MAP_FLAG_WRITE : VFIO_DMA_MAP_FLAG_READ))
		return NULL;
	m = find_map(dev, addr);
	if (!m || !m->ptr || !vpcie_range_within(addr, len, m->addr, m->size))
		return NULL;
	if (DEV_TRACING(dev)) /* trace point: zero-copy DMA (when the pointer is taken) */
		vpcie_trace_dma(dev->trace, 0, addr, len, write ? VPCIE_TRACE_F_WRITE : 0, 0);
	return m->ptr + m->map_skew + (addr - m->addr);
}
