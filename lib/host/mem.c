/* SPDX-License-Identifier: MIT */
/*
 * Host runtime: memory the device may DMA to. memfd-backed, registered with
 * DMA_MAP (the fd goes along only for VPCIE_HOST_MEM_SHARED); DMA_READ and
 * DMA_WRITE messages are served from it by host.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <vpcie/host.h>
#include <vpcie/transport.h>

#include "host_priv.h"
#include "../util/util.h"

static void unlink_mem(struct vpcie_host *h, struct vpcie_host_mem *m)
{
	for (struct vpcie_host_mem **pp = &h->mems; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			return;
		}
	}
}

static int send_map(struct vpcie_host *h, struct vpcie_host_mem *m, int fd)
{
	struct vpcie_dma_map req = {
		.argsz = sizeof(req),
		.flags = VFIO_DMA_MAP_FLAG_READ,
		.offset = 0,
		.addr = m->iova,
		.size = m->size,
	};
	struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};

	if (!(m->flags & VPCIE_HOST_MEM_READONLY))
		req.flags |= VFIO_DMA_MAP_FLAG_WRITE;
	return host_request(h, VPCIE_CMD_DMA_MAP, 0, &iov, 1, fd >= 0 ? &fd : NULL,
			    fd >= 0 ? 1 : 0, NULL);
}

struct vpcie_host_mem *vpcie_host_mem_alloc(struct vpcie_host *h, size_t size,
					    uint64_t iova, unsigned flags)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct vpcie_host_mem *m;
	size_t rounded;
	int fd, rc;

	if (!h || !size || iova % page ||
	    (flags & ~(unsigned)(VPCIE_HOST_MEM_SHARED | VPCIE_HOST_MEM_READONLY))) {
		errno = EINVAL;
		return NULL;
	}
	if (h->broken) {
		errno = ECONNRESET;
		return NULL;
	}
	if (size > SIZE_MAX - page) {
		errno = ENOMEM;
		return NULL;
	}
	rounded = (size_t)((size + page - 1) / page * page);
	if (iova > UINT64_MAX - rounded) {
		errno = EINVAL;
		return NULL;
	}
	for (struct vpcie_host_mem *o = h->mems; o; o = o->next)
		if (vpcie_ranges_overlap(iova, rounded, o->iova, o->size)) {
			errno = EEXIST;
			return NULL;
		}
	if ((flags & VPCIE_HOST_MEM_SHARED) && h->peer.max_msg_fds < 1) {
		errno = ENOTSUP;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	fd = vpcie_memfd_sized("vpcie-host-mem", rounded);
	if (fd < 0) {
		errno = -fd;
		goto fail_free;
	}
	m->ptr = mmap(NULL, rounded, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m->ptr == MAP_FAILED)
		goto fail_close;
	m->h = h;
	m->size = rounded;
	m->iova = iova;
	m->flags = flags;
	/* Listed before DMA_MAP goes out: the device may DMA as soon as it maps. */
	m->next = h->mems;
	h->mems = m;
	rc = send_map(h, m, (flags & VPCIE_HOST_MEM_SHARED) ? fd : -1);
	close(fd);
	if (rc < 0) {
		vpcie_warn(&h->lg, "DMA_MAP 0x%llx+0x%zx: %s", (unsigned long long)iova, rounded,
			   strerror(-rc));
		unlink_mem(h, m);
		munmap(m->ptr, m->size);
		free(m);
		errno = -rc;
		return NULL;
	}
	vpcie_dbg(&h->lg, "DMA_MAP 0x%llx+0x%zx%s%s", (unsigned long long)iova, rounded,
		  (flags & VPCIE_HOST_MEM_SHARED) ? " shared" : "",
		  (flags & VPCIE_HOST_MEM_READONLY) ? " ro" : "");
	return m;

fail_close:
	rc = errno;
	close(fd);
	errno = rc;
fail_free:
	rc = errno;
	free(m);
	errno = rc;
	return NULL;
}

void *vpcie_host_mem_ptr(const struct vpcie_host_mem *m)
{
	return m ? m->ptr : NULL;
}

uint64_t vpcie_host_mem_iova(const struct vpcie_host_mem *m)
{
	return m ? m->iova : 0;
}

size_t vpcie_host_mem_size(const struct vpcie_host_mem *m)
{
	return m ? m->size : 0;
}

int vpcie_host_mem_free(struct vpcie_host_mem *m)
{
	struct vpcie_host *h;
	struct vpcie_dma_unmap req;
	struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
	int rc;

	if (!m)
		return 0;
	h = m->h;
	req = (struct vpcie_dma_unmap){
		.argsz = sizeof(req), .flags = 0, .addr = m->iova, .size = m->size};
	rc = host_request(h, VPCIE_CMD_DMA_UNMAP, 0, &iov, 1, NULL, 0, NULL);
	if (rc < 0)
		vpcie_warn(&h->lg, "DMA_UNMAP 0x%llx+0x%zx: %s", (unsigned long long)m->iova,
			   m->size, strerror(-rc));
	/* Freed whatever the device said: it can no longer reach it by message. */
	unlink_mem(h, m);
	munmap(m->ptr, m->size);
	free(m);
	return rc;
}

void host_mems_free(struct vpcie_host *h)
{
	while (h->mems) {
		struct vpcie_host_mem *m = h->mems;

		h->mems = m->next;
		munmap(m->ptr, m->size);
		free(m);
	}
}
