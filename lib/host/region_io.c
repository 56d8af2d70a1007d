/* SPDX-License-Identifier: MIT */
/*
 * Host runtime: region access through messages (read, write, posted,
 * REGION_WRITE_MULTI) or through the mmap of a region's mappable areas, and
 * the typed BAR helpers that pick one or the other.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <vpcie/host.h>
#include <vpcie/transport.h>

#include "../util/util.h"
#include "host_priv.h"

/* ---- Region access through messages -------------------------------------- */

static int region_read(struct vpcie_host *h, unsigned index, uint64_t off, void *buf, size_t len)
{
	size_t done = 0;
	int rc;

	if (!h || (!buf && len))
		return -EINVAL;
	rc = host_region_check(h, index, off, len);
	if (rc < 0)
		return rc;
	if (h->ring && len && len <= VPCIE_RING_INLINE_MAX)
		return host_ring_access(h, VPCIE_RING_OP_READ, index, off, buf, (uint32_t)len, false);
	while (done < len) {
		uint64_t chunk = len - done;
		struct vpcie_region_access req, ra;
		struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
		struct vpcie_msg rep;

		if (chunk > h->xfer)
			chunk = h->xfer;
		req = (struct vpcie_region_access){
			.offset = off + done, .region = index, .count = (uint32_t)chunk};
		rc = host_request(h, VPCIE_CMD_REGION_READ, 0, &iov, 1, NULL, 0, &rep);
		if (rc < 0)
			return rc;
		if (rep.payload_len < sizeof(ra)) {
			vpcie_msg_release(&rep);
			return -EPROTO;
		}
		memcpy(&ra, rep.payload, sizeof(ra));
		if (ra.offset != req.offset || ra.region != index || ra.count != chunk ||
		    rep.payload_len - sizeof(ra) < chunk) {
			vpcie_warn(&h->lg,
				   "REGION_READ %u@0x%llx+%u answered %u@0x%llx+%u (%zu bytes)",
				   index, (unsigned long long)req.offset, req.count, ra.region,
				   (unsigned long long)ra.offset, ra.count, rep.payload_len);
			vpcie_msg_release(&rep);
			return -EPROTO;
		}
		memcpy((uint8_t *)buf + done, (const uint8_t *)rep.payload + sizeof(ra),
		       (size_t)chunk);
		vpcie_msg_release(&rep);
		done += (size_t)chunk;
	}
	return 0;
}

/* The path an access of len bytes takes, as the trace says it. */
static unsigned trace_path(const struct vpcie_host *h, size_t len)
{
	return h->ring && len && len <= VPCIE_RING_INLINE_MAX ? VPCIE_TRACE_F_RING : 0;
}

int vpcie_host_region_read(struct vpcie_host *h, unsigned index, uint64_t off,
			   void *buf, size_t len)
{
	uint64_t t0;
	int rc;

	if (!h || !HOST_TRACING(h))
		return region_read(h, index, off, buf, len);
	/* trace point: region reads by message or ring */
	t0 = vpcie_trace_now();
	rc = region_read(h, index, off, buf, len);
	vpcie_trace_access(h->trace, t0, index, off, buf, len, trace_path(h, len), rc);
	return rc;
}

static int region_write_path(struct vpcie_host *h, unsigned index, uint64_t off,
			     const void *buf, size_t len, bool posted)
{
	size_t done = 0;
	int rc;

	if (!h || (!buf && len))
		return -EINVAL;
	rc = host_region_check(h, index, off, len);
	if (rc < 0)
		return rc;
	if (h->ring && !posted && len && len <= VPCIE_RING_INLINE_MAX)
		return host_ring_access(h, VPCIE_RING_OP_WRITE, index, off, (void *)buf,
					(uint32_t)len, false);
	while (done < len) {
		uint64_t chunk = len - done;
		struct vpcie_region_access req, ra;
		struct iovec iov[2];
		struct vpcie_msg rep;

		if (chunk > h->xfer)
			chunk = h->xfer;
		req = (struct vpcie_region_access){
			.offset = off + done, .region = index, .count = (uint32_t)chunk};
		iov[0] = (struct iovec){.iov_base = &req, .iov_len = sizeof(req)};
		iov[1] = (struct iovec){.iov_base = (uint8_t *)buf + done, .iov_len = (size_t)chunk};
		if (posted) {
			rc = host_post_write(h, index, req.offset, iov[1].iov_base, req.count);
			if (rc < 0)
				return rc;
			done += (size_t)chunk;
			continue;
		}
		rc = host_request(h, VPCIE_CMD_REGION_WRITE, 0, iov, 2, NULL, 0, &rep);
		if (rc < 0)
			return rc;
		if (rep.payload_len < sizeof(ra)) {
			vpcie_warn(&h->lg, "REGION_WRITE reply of %zu bytes", rep.payload_len);
			vpcie_msg_release(&rep);
			return -EPROTO;
		}
		memcpy(&ra, rep.payload, sizeof(ra));
		vpcie_msg_release(&rep);
		if (ra.offset != req.offset || ra.region != index || ra.count != chunk) {
			vpcie_warn(&h->lg, "REGION_WRITE %u@0x%llx+%u answered %u@0x%llx+%u",
				   index, (unsigned long long)req.offset, req.count, ra.region,
				   (unsigned long long)ra.offset, ra.count);
			return -EPROTO;
		}
		done += (size_t)chunk;
	}
	return 0;
}

static int region_write(struct vpcie_host *h, unsigned index, uint64_t off,
			const void *buf, size_t len, bool posted)
{
	uint64_t t0;
	int rc;

	if (!h || !HOST_TRACING(h))
		return region_write_path(h, index, off, buf, len, posted);
	/* trace point: region writes by message or ring */
	t0 = vpcie_trace_now();
	rc = region_write_path(h, index, off, buf, len, posted);
	vpcie_trace_access(h->trace, t0, index, off, buf, len,
			   VPCIE_TRACE_F_WRITE | (posted ? VPCIE_TRACE_F_POSTED : 0) | trace_path(h, len),
			   rc);
	return rc;
}

int vpcie_host_region_write(struct vpcie_host *h, unsigned index, uint64_t off,
			    const void *buf, size_t len)
{
	return region_write(h, index, off, buf, len, false);
}

int vpcie_host_region_write_posted(struct vpcie_host *h, unsigned index, uint64_t off,
				   const void *buf, size_t len)
{
	return region_write(h, index, off, buf, len, true);
}

int vpcie_host_region_write_multi(struct vpcie_host *h,
				  const struct vpcie_write_multi_entry *wrs, size_t n)
{
	int rc;

	if (!h || (!wrs && n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (wrs[i].count == 0 || wrs[i].count > sizeof(wrs[i].data))
			return -EINVAL;
		rc = host_region_check(h, wrs[i].region, wrs[i].offset, wrs[i].count);
		if (rc < 0)
			return rc;
	}
	if (!h->peer.write_multiple) {
		for (size_t i = 0; i < n; i++) {
			rc = vpcie_host_region_write(h, wrs[i].region, wrs[i].offset,
						     wrs[i].data, wrs[i].count);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	for (size_t done = 0; done < n;) {
		size_t cnt = n - done;
		struct vpcie_write_multi hdr;
		struct iovec iov[2];
		struct vpcie_msg rep;
		uint64_t wr_cnt;

		if (cnt > VPCIE_WRITE_MULTI_MAX)
			cnt = VPCIE_WRITE_MULTI_MAX;
		hdr.wr_cnt = cnt;
		iov[0] = (struct iovec){.iov_base = &hdr, .iov_len = sizeof(hdr)};
		iov[1] = (struct iovec){.iov_base = (void *)(wrs + done),
					.iov_len = cnt * sizeof(*wrs)};
		rc = host_request(h, VPCIE_CMD_REGION_WRITE_MULTI, 0, iov, 2, NULL, 0, &rep);
		if (rc < 0)
			return rc;
		if (rep.payload_len < sizeof(wr_cnt)) {
			vpcie_msg_release(&rep);
			return -EPROTO;
		}
		memcpy(&wr_cnt, rep.payload, sizeof(wr_cnt));
		vpcie_msg_release(&rep);
		for (size_t i = 0; HOST_TRACING(h) && i < cnt; i++) /* trace point: WRITE_MULTI */
			vpcie_trace_access(h->trace, 0, wrs[done + i].region, wrs[done + i].offset,
					   wrs[done + i].data, wrs[done + i].count,
					   VPCIE_TRACE_F_WRITE, wr_cnt == cnt ? 0 : -EIO);
		if (wr_cnt != cnt) {
			vpcie_warn(&h->lg, "REGION_WRITE_MULTI of %zu writes: device did %llu", cnt,
				   (unsigned long long)wr_cnt);
			return -EIO;
		}
		done += cnt;
	}
	return 0;
}

/* ---- mmap ----------------------------------------------------------------- */

static const struct vpcie_sparse_area *mapped_area(const struct host_region *r,
						   uint64_t off, uint64_t len)
{
	if (!r || !r->map)
		return NULL;
	for (unsigned i = 0; i < r->nr_areas && i < VPCIE_MAX_SPARSE_AREAS; i++)
		if (r->areas[i].size &&
		    vpcie_range_within(off, len, r->areas[i].offset, r->areas[i].size))
			return &r->areas[i];
	return NULL;
}

bool vpcie_host_region_is_mapped(struct vpcie_host *h, unsigned index, uint64_t off, size_t len)
{
	if (!h || index >= HOST_MAX_REGIONS || !len)
		return false;
	return mapped_area(h->regions[index], off, len) != NULL;
}

void *vpcie_host_region_map(struct vpcie_host *h, unsigned index)
{
	struct vpcie_sparse_area areas[VPCIE_MAX_SPARSE_AREAS];
	struct host_region *r;
	unsigned nr;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t resv;
	int prot = 0, rc;
	uint8_t *base;

	if (!h) {
		errno = EINVAL;
		return NULL;
	}
	rc = host_region_get(h, index, &r);
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	if (r->map)
		return r->map;
	if (!(r->info.flags & VFIO_REGION_INFO_FLAG_MMAP) || r->info.fd < 0 || !r->info.size) {
		errno = ENXIO;
		return NULL;
	}
	if (r->info.flags & VFIO_REGION_INFO_FLAG_READ)
		prot |= PROT_READ;
	if (r->info.flags & VFIO_REGION_INFO_FLAG_WRITE)
		prot |= PROT_WRITE;
	if (!prot) {
		errno = EACCES;
		return NULL;
	}
	if (!r->has_sparse) {
		nr = 1;
		areas[0] = (struct vpcie_sparse_area){.offset = 0, .size = r->info.size};
	} else {
		nr = r->info.nr_sparse;
		memcpy(areas, r->info.sparse, nr * sizeof(areas[0]));
	}
	/* Check the areas before touching the address space. */
	unsigned usable = 0;
	struct stat st;

	/* A file shorter than what we map would fault (SIGBUS) on access. */
	if (fstat(r->info.fd, &st) < 0) {
		vpcie_warn(&h->lg, "region %u: fstat of region fd: %s", index, strerror(errno));
		return NULL;
	}
	if (!vpcie_fd_map_safe(r->info.fd)) { /* (region.c keeps no such fd) */
		errno = EPERM;
		return NULL;
	}

	for (unsigned i = 0; i < nr; i++) {
		const struct vpcie_sparse_area *a = &areas[i];

		if (!a->size)
			continue;
		if (!vpcie_range_ok(a->offset, a->size, r->info.size) || a->offset % page ||
		    (a->size % page && a->offset + a->size != r->info.size) ||
		    r->info.offset % page || a->offset > UINT64_MAX - r->info.offset ||
		    r->info.offset + a->offset > (uint64_t)INT64_MAX ||
		    (S_ISREG(st.st_mode) &&
		     !vpcie_range_ok(r->info.offset + a->offset, a->size, (uint64_t)st.st_size))) {
			vpcie_warn(&h->lg, "region %u: area 0x%llx+0x%llx not mappable", index,
				   (unsigned long long)a->offset, (unsigned long long)a->size);
			errno = EINVAL;
			return NULL;
		}
		usable++;
	}
	if (!usable) {
		errno = ENXIO;
		return NULL;
	}
	if (r->info.size > SIZE_MAX - page) {
		errno = ENOMEM;
		return NULL;
	}
	resv = (r->info.size + page - 1) / page * page;
	base = mmap(NULL, (size_t)resv, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	for (unsigned i = 0; i < nr; i++) {
		const struct vpcie_sparse_area *a = &areas[i];
		void *p;

		if (!a->size)
			continue;
		p = mmap(base + a->offset, (size_t)a->size, prot, MAP_SHARED | MAP_FIXED,
			 r->info.fd, (off_t)(r->info.offset + a->offset));
		if (p == MAP_FAILED) {
			int e = errno;

			vpcie_warn(&h->lg, "region %u: mmap of area 0x%llx+0x%llx: %s", index,
				   (unsigned long long)a->offset, (unsigned long long)a->size,
				   strerror(e));
			munmap(base, (size_t)resv);
			errno = e;
			return NULL;
		}
	}
	memcpy(r->areas, areas, nr * sizeof(areas[0]));
	r->nr_areas = nr;
	r->map = base;
	r->map_len = (size_t)resv;
	return base;
}

uint32_t vpcie_host_bar_read32(struct vpcie_host *h, unsigned bar, uint64_t off, int *err)
{
	uint32_t v = UINT32_MAX;
	int rc;

	if (!h) {
		if (err)
			*err = -EINVAL;
		return v;
	}
	if (bar < HOST_MAX_REGIONS && off % 4 == 0 && h->regions[bar] &&
	    (h->regions[bar]->info.flags & VFIO_REGION_INFO_FLAG_READ) &&
	    mapped_area(h->regions[bar], off, 4)) {
		/* A load does not go through the device's command stream: the
		 * posted writes before it must be applied first, not just sent. */
		uint64_t t0 = HOST_TRACE_T0(h);

		rc = host_fence(h);
		if (rc == 0)
			v = *(volatile uint32_t *)(h->regions[bar]->map + off);
		if (HOST_TRACING(h)) /* trace point: loads through a mapping */
			vpcie_trace_access(h->trace, t0, bar, off, &v, 4, VPCIE_TRACE_F_MMAP, rc);
		if (err)
			*err = rc;
		return v;
	}
	rc = vpcie_host_region_read(h, bar, off, &v, 4);
	if (rc < 0)
		v = UINT32_MAX;
	if (err)
		*err = rc;
	return v;
}

int vpcie_host_bar_write32(struct vpcie_host *h, unsigned bar, uint64_t off, uint32_t v)
{
	int rc;

	if (!h)
		return -EINVAL;
	if (bar < HOST_MAX_REGIONS && off % 4 == 0 && h->regions[bar] &&
	    (h->regions[bar]->info.flags & VFIO_REGION_INFO_FLAG_WRITE) &&
	    mapped_area(h->regions[bar], off, 4)) {
		/* Nor does a store: it must not overtake earlier posted writes. */
		uint64_t t0 = HOST_TRACE_T0(h);

		rc = host_fence(h);
		if (rc == 0)
			*(volatile uint32_t *)(h->regions[bar]->map + off) = v;
		if (HOST_TRACING(h)) /* trace point: stores through a mapping */
			vpcie_trace_access(h->trace, t0, bar, off, &v, 4,
					   VPCIE_TRACE_F_WRITE | VPCIE_TRACE_F_MMAP, rc);
		return rc;
	}
	return vpcie_host_region_write(h, bar, off, &v, 4);
}
