/* SPDX-License-Identifier: MIT */
/* `vpcie proxy`: the client memory windows the proxy maps (proxy_priv.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxy_priv.h"
#include "../../lib/util/util.h"

#define PAGE 4096u

/* Index of the first window whose end is above addr. */
static unsigned lower_bound(const struct proxy_maps *t, uint64_t addr)
{
	unsigned lo = 0, hi = t->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (t->v[mid].addr + t->v[mid].size <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int map_fd(struct proxy_map *nm, const struct vpcie_dma_map *m, int fd)
{
	int prot = ((m->flags & VFIO_DMA_MAP_FLAG_READ) ? PROT_READ : 0) |
		   ((m->flags & VFIO_DMA_MAP_FLAG_WRITE) ? PROT_WRITE : 0);
	uint64_t skew = m->offset % PAGE;
	void *p;

	if (m->size > SIZE_MAX - skew)
		return -EINVAL;
	p = mmap(NULL, (size_t)(m->size + skew), prot, MAP_SHARED, fd, (off_t)(m->offset - skew));
	if (p == MAP_FAILED)
		return -errno;
	nm->map_base = p;
	nm->map_len = (size_t)(m->size + skew);
	nm->ptr = (uint8_t *)p + skew;
	return 0;
}

int proxy_maps_add(struct proxy_maps *t, const struct vpcie_dma_map *m, int fd, bool *unsealed)
{
	const uint32_t known = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	struct proxy_map nm = {.addr = m->addr, .size = m->size, .prot = m->flags};
	struct stat st;
	unsigned i;
	int rc = 0;

	*unsealed = false;
	if (!m->size || m->addr + m->size < m->addr || !(m->flags & known) ||
	    (m->flags & ~known) || m->offset > (uint64_t)INT64_MAX) {
		rc = -EINVAL;
		goto out;
	}
	i = lower_bound(t, m->addr);
	if (i < t->n && t->v[i].addr < m->addr + m->size) {
		rc = -EEXIST;
		goto out;
	}
	if (t->n >= PROXY_MAX_MAPS) {
		rc = -ENOSPC;
		goto out;
	}
	if (fd >= 0 && (fstat(fd, &st) < 0 ||
			(S_ISREG(st.st_mode) && (m->offset > (uint64_t)st.st_size ||
						 m->size > (uint64_t)st.st_size - m->offset)))) {
		rc = -EINVAL; /* touching the missing part would SIGBUS */
		goto out;
	}
	if (fd >= 0 && !vpcie_fd_size_sealed(fd)) {
		*unsealed = true;
		close(fd);
		fd = -1;
	}
	if (fd >= 0) {
		rc = map_fd(&nm, m, fd);
		if (rc)
			goto out;
	}
	if (t->n == t->cap) {
		unsigned cap = t->cap ? t->cap * 2 : 16;
		struct proxy_map *p = realloc(t->v, cap * sizeof(*p));

		if (!p) {
			if (nm.map_base)
				munmap(nm.map_base, nm.map_len);
			rc = -ENOMEM;
			goto out;
		}
		t->v = p;
		t->cap = cap;
	}
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
	t->v[i] = nm;
	t->n++;
out:
	if (fd >= 0)
		close(fd); /* the mapping holds its own reference */
	return rc;
}

int proxy_maps_remove(struct proxy_maps *t, uint64_t addr, uint64_t size)
{
	unsigned i = lower_bound(t, addr);

	if (i >= t->n || t->v[i].addr != addr || t->v[i].size != size)
		return -ENOENT;
	if (t->v[i].map_base)
		munmap(t->v[i].map_base, t->v[i].map_len);
	memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
	t->n--;
	return 0;
}

void proxy_maps_clear(struct proxy_maps *t)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->v[i].map_base)
			munmap(t->v[i].map_base, t->v[i].map_len);
	free(t->v);
	*t = (struct proxy_maps){0};
}

uint8_t *proxy_maps_find(const struct proxy_maps *t, uint64_t addr, uint64_t len, bool write)
{
	unsigned i = lower_bound(t, addr);
	const struct proxy_map *m;

	if (i >= t->n)
		return NULL;
	m = &t->v[i];
	if (!m->ptr || m->addr > addr || !vpcie_range_within(addr, len, m->addr, m->size))
		return NULL;
	if (!(m->prot & (write ? VFIO_DMA_MAP_FLAG_WRITE : VFIO_DMA_MAP_FLAG_READ)))
		return NULL;
	return m->ptr + (addr - m->addr);
}
