/* SPDX-License-Identifier: MIT */
/*
 * Host runtime: region information (with the sparse-mmap capability), region
 * access through messages or mmap, config space helpers, and BAR sizing and
 * assignment.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <vpcie/config.h>
#include <vpcie/host.h>
#include <vpcie/transport.h>

#include "../util/util.h"
#include "host_priv.h"

/* Capabilities followed in a region info reply before giving up. */
#define HOST_MAX_REGION_CAPS 64u

/* ---- Region information ------------------------------------------------- */

/* Walk the vfio capability chain of a region info reply (len bytes). */
static int parse_region_caps(struct vpcie_host *h, const uint8_t *buf, size_t len,
			     struct host_region *r, bool *has_sparse)
{
	struct vpcie_region_info ri;
	uint32_t off;
	unsigned step;

	memcpy(&ri, buf, sizeof(ri));
	off = ri.cap_offset;
	for (step = 0; off && step < HOST_MAX_REGION_CAPS; step++) {
		struct vfio_info_cap_header ch;

		if (off < sizeof(struct vpcie_region_info) || off > len ||
		    len - off < sizeof(ch)) {
			vpcie_warn(&h->lg, "region %u: capability at %u outside reply (%zu bytes)",
				   r->info.index, off, len);
			return -EPROTO;
		}
		memcpy(&ch, buf + off, sizeof(ch));
		if (ch.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP && !*has_sparse) {
			struct vpcie_cap_sparse_mmap sm;

			if (len - off < sizeof(sm)) {
				vpcie_warn(&h->lg, "region %u: truncated sparse mmap capability",
					   r->info.index);
				return -EPROTO;
			}
			memcpy(&sm, buf + off, sizeof(sm));
			if (sm.nr_areas > VPCIE_MAX_SPARSE_AREAS ||
			    (len - off - sizeof(sm)) / sizeof(struct vpcie_sparse_area) <
				    sm.nr_areas) {
				vpcie_warn(&h->lg, "region %u: bad sparse area count %u",
					   r->info.index, sm.nr_areas);
				return -EPROTO;
			}
			for (uint32_t i = 0; i < sm.nr_areas; i++) {
				struct vpcie_sparse_area a;

				memcpy(&a, buf + off + sizeof(sm) + i * sizeof(a), sizeof(a));
				if (!vpcie_range_ok(a.offset, a.size, r->info.size)) {
					vpcie_warn(&h->lg,
						   "region %u: sparse area 0x%llx+0x%llx outside "
						   "region of 0x%llx",
						   r->info.index, (unsigned long long)a.offset,
						   (unsigned long long)a.size,
						   (unsigned long long)r->info.size);
					return -EPROTO;
				}
				r->info.sparse[i] = a;
			}
			r->info.nr_sparse = sm.nr_areas;
			*has_sparse = true;
		}
		off = ch.next;
	}
	if (off) {
		vpcie_warn(&h->lg, "region %u: capability chain too long", r->info.index);
		return -EPROTO;
	}
	return 0;
}

static int query_region(struct vpcie_host *h, unsigned index, struct host_region *r,
			bool *has_sparse)
{
	struct vpcie_region_info req = {
		.argsz = (uint32_t)(sizeof(req) + HOST_REGION_INFO_ARGSZ),
		.index = index,
	};
	struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
	struct vpcie_region_info ri;
	struct vpcie_msg rep;
	int rc;

	rc = host_request(h, VPCIE_CMD_DEVICE_GET_REGION_INFO, 0, &iov, 1, NULL, 0, &rep);
	if (rc < 0)
		return rc;
	if (rep.payload_len < sizeof(ri)) {
		rc = -EPROTO;
		goto out;
	}
	memcpy(&ri, rep.payload, sizeof(ri));
	if (ri.index != index) {
		vpcie_warn(&h->lg, "region info for %u answered index %u", index, ri.index);
		rc = -EPROTO;
		goto out;
	}
	memset(&r->info, 0, sizeof(r->info));
	r->info.index = index;
	r->info.flags = ri.flags;
	r->info.size = ri.size;
	r->info.offset = ri.offset;
	r->info.fd = -1;
	if ((ri.flags & VFIO_REGION_INFO_FLAG_CAPS) && ri.cap_offset) {
		rc = parse_region_caps(h, rep.payload, rep.payload_len, r, has_sparse);
		if (rc < 0)
			goto out;
	}
	if (ri.flags & VFIO_REGION_INFO_FLAG_MMAP) {
		r->info.fd = vpcie_msg_take_fd(&rep, 0);
		if (r->info.fd < 0)
			vpcie_warn(&h->lg, "region %u: MMAP flag but no fd; using messages",
				   index);
	}
	rc = 0;
out:
	vpcie_msg_release(&rep);
	return rc;
}

int host_region_get(struct vpcie_host *h, unsigned index, struct host_region **out)
{
	struct host_region *r;
	bool has_sparse = false;
	int rc;

	if (index >= HOST_MAX_REGIONS)
		return -EINVAL;
	r = h->regions[index];
	if (r && r->cached) {
		*out = r;
		return 0;
	}
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		r->info.fd = -1;
		h->regions[index] = r;
	}
	rc = query_region(h, index, r, &has_sparse);
	if (rc < 0)
		return rc;
	/* A sparse capability with no areas means: nothing mappable. */
	r->has_sparse = has_sparse;
	r->cached = true;
	*out = r;
	return 0;
}

void host_regions_free(struct vpcie_host *h)
{
	for (unsigned i = 0; i < HOST_MAX_REGIONS; i++) {
		struct host_region *r = h->regions[i];

		if (!r)
			continue;
		if (r->map)
			munmap(r->map, r->map_len);
		if (r->info.fd >= 0)
			close(r->info.fd);
		free(r);
		h->regions[i] = NULL;
	}
}

int host_region_check(struct vpcie_host *h, unsigned index, uint64_t off, uint64_t len)
{
	struct host_region *r;
	int rc = host_region_get(h, index, &r);

	if (rc < 0)
		return rc;
	if (!vpcie_range_ok(off, len, r->info.size))
		return -EINVAL;
	return 0;
}

int vpcie_host_region_info(struct vpcie_host *h, unsigned index,
			   const struct vpcie_host_region **out)
{
	struct host_region *r;
	int rc;

	if (!h || !out)
		return -EINVAL;
	rc = host_region_get(h, index, &r);
	if (rc < 0)
		return rc;
	*out = &r->info;
	return 0;
}

/* ---- Region access through messages -------------------------------------- */

int vpcie_host_region_read(struct vpcie_host *h, unsigned index, uint64_t off,
			   void *buf, size_t len)
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

static int region_write(struct vpcie_host *h, unsigned index, uint64_t off,
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
	if (!vpcie_fd_size_sealed(r->info.fd))
		vpcie_warn(&h->lg, "region %u: device memory not sealed against shrinking", index);

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
		rc = host_flush(h); /* a read pushes posted writes ahead of it */
		if (rc == 0)
			v = *(volatile uint32_t *)(h->regions[bar]->map + off);
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
	if (!h)
		return -EINVAL;
	if (bar < HOST_MAX_REGIONS && off % 4 == 0 && h->regions[bar] &&
	    (h->regions[bar]->info.flags & VFIO_REGION_INFO_FLAG_WRITE) &&
	    mapped_area(h->regions[bar], off, 4)) {
		*(volatile uint32_t *)(h->regions[bar]->map + off) = v;
		return 0;
	}
	return vpcie_host_region_write(h, bar, off, &v, 4);
}

/* ---- Config space -------------------------------------------------------- */

int vpcie_host_cfg_read(struct vpcie_host *h, unsigned off, void *buf, size_t len)
{
	return vpcie_host_region_read(h, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len);
}

int vpcie_host_cfg_write(struct vpcie_host *h, unsigned off, const void *buf, size_t len)
{
	return vpcie_host_region_write(h, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len);
}

uint32_t vpcie_host_cfg_read32(struct vpcie_host *h, unsigned off, int *err)
{
	uint32_t v;
	int rc = vpcie_host_cfg_read(h, off, &v, sizeof(v));

	if (err)
		*err = rc;
	return rc < 0 ? UINT32_MAX : le32toh(v);
}

uint16_t vpcie_host_cfg_read16(struct vpcie_host *h, unsigned off, int *err)
{
	uint16_t v;
	int rc = vpcie_host_cfg_read(h, off, &v, sizeof(v));

	if (err)
		*err = rc;
	return rc < 0 ? UINT16_MAX : le16toh(v);
}

int vpcie_host_cfg_write16(struct vpcie_host *h, unsigned off, uint16_t v)
{
	uint16_t le = htole16(v);

	return vpcie_host_cfg_write(h, off, &le, sizeof(le));
}

int vpcie_host_cfg_write32(struct vpcie_host *h, unsigned off, uint32_t v)
{
	uint32_t le = htole32(v);

	return vpcie_host_cfg_write(h, off, &le, sizeof(le));
}

int vpcie_host_cfg_dump(struct vpcie_host *h, uint8_t *image, size_t *len)
{
	struct host_region *r;
	uint64_t size;
	int rc;

	if (!h || !image || !len)
		return -EINVAL;
	rc = host_region_get(h, VFIO_PCI_CONFIG_REGION_INDEX, &r);
	if (rc < 0)
		return rc;
	size = r->info.size;
	if (size > VPCIE_CFG_SIZE)
		size = VPCIE_CFG_SIZE;
	if (size > *len)
		size = *len;
	rc = vpcie_host_cfg_read(h, 0, image, (size_t)size);
	if (rc < 0)
		return rc;
	*len = (size_t)size;
	return 0;
}

int vpcie_host_find_cap(struct vpcie_host *h, uint8_t id)
{
	uint8_t img[VPCIE_CFG_SIZE];
	size_t len = sizeof(img);
	int rc = vpcie_host_cfg_dump(h, img, &len);

	if (rc < 0)
		return rc;
	if (len < PCI_STD_HEADER_SIZEOF)
		return 0;
	return (int)vpcie_cfg_find_cap(img, len, id);
}

int vpcie_host_find_ext_cap(struct vpcie_host *h, uint16_t id)
{
	uint8_t img[VPCIE_CFG_SIZE];
	size_t len = sizeof(img);
	int rc = vpcie_host_cfg_dump(h, img, &len);

	if (rc < 0)
		return rc;
	if (len < VPCIE_CFG_SIZE)
		return 0;
	return (int)vpcie_cfg_find_ext_cap(img, len, id);
}

/* ---- BARs ------------------------------------------------------------------ */

/* Save, write wr, read back, restore: the way Linux sizes a BAR register. */
static int probe_reg(struct vpcie_host *h, unsigned off, uint32_t wr, uint32_t *orig,
		     uint32_t *sz)
{
	int rc, rc2;

	*orig = vpcie_host_cfg_read32(h, off, &rc);
	if (rc < 0)
		return rc;
	rc = vpcie_host_cfg_write32(h, off, wr);
	if (rc < 0)
		return rc;
	*sz = vpcie_host_cfg_read32(h, off, &rc);
	rc2 = vpcie_host_cfg_write32(h, off, *orig);
	return rc < 0 ? rc : rc2;
}

static uint64_t lowest_bit(uint64_t v)
{
	return v & (~v + 1);
}

/* Naturally aligned allocation from *cursor; limit is the last usable address. */
static int bar_alloc(uint64_t *cursor, uint64_t size, uint64_t limit, uint64_t *addr)
{
	uint64_t a = *cursor;

	if (!size || (size & (size - 1)))
		return -EINVAL;
	if (a & (size - 1)) {
		if (a > UINT64_MAX - (size - 1))
			return -ENOSPC;
		a = (a + size - 1) & ~(size - 1);
	}
	if (a > limit || size - 1 > limit - a)
		return -ENOSPC;
	*addr = a;
	*cursor = a + size - 1 == UINT64_MAX ? UINT64_MAX : a + size;
	return 0;
}

/* Size BARs 0-5 and the ROM into bars[]; decoding must already be off. */
static int probe_bars(struct vpcie_host *h, struct vpcie_host_bar bars[HOST_NR_BARS])
{
	int rc;

	memset(bars, 0, HOST_NR_BARS * sizeof(bars[0]));
	for (unsigned i = 0; i < 6; i++) {
		unsigned off = PCI_BASE_ADDRESS_0 + 4 * i;
		uint32_t orig, sz, orig_hi = 0, sz_hi = 0;
		uint64_t mask;

		rc = probe_reg(h, off, UINT32_MAX, &orig, &sz);
		if (rc < 0)
			return rc;
		if (sz == 0 || sz == UINT32_MAX)
			continue;
		if ((orig & PCI_BASE_ADDRESS_SPACE) == PCI_BASE_ADDRESS_SPACE_IO) {
			mask = sz & (uint32_t)PCI_BASE_ADDRESS_IO_MASK;
			if (!mask)
				continue;
			bars[i].present = true;
			bars[i].is_io = true;
			bars[i].size = lowest_bit(mask);
			bars[i].addr = orig & (uint32_t)PCI_BASE_ADDRESS_IO_MASK;
			continue;
		}
		bars[i].prefetchable = orig & PCI_BASE_ADDRESS_MEM_PREFETCH;
		bars[i].addr = orig & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
		if ((orig & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64) {
			if (i == 5) {
				vpcie_warn(&h->lg, "BAR5 claims 64 bits: ignored");
				continue;
			}
			rc = probe_reg(h, off + 4, UINT32_MAX, &orig_hi, &sz_hi);
			if (rc < 0)
				return rc;
			mask = ((uint64_t)sz_hi << 32) | (sz & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK);
			bars[i].addr |= (uint64_t)orig_hi << 32;
			bars[i].is_64 = true;
		} else {
			mask = sz & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
		}
		if (mask) {
			bars[i].present = true;
			bars[i].size = lowest_bit(mask);
		}
		if (bars[i].is_64)
			i++; /* the upper half lives in the next slot */
	}
	/* Expansion ROM (optional; a device without one may refuse the write). */
	{
		uint32_t orig, sz;

		rc = probe_reg(h, PCI_ROM_ADDRESS, PCI_ROM_ADDRESS_MASK, &orig, &sz);
		if (rc == 0 && sz != UINT32_MAX && (sz & PCI_ROM_ADDRESS_MASK)) {
			bars[6].present = true;
			bars[6].size = lowest_bit(sz & PCI_ROM_ADDRESS_MASK);
			bars[6].addr = orig & PCI_ROM_ADDRESS_MASK;
		} else if (rc < 0 && rc != -EIO) {
			return rc;
		}
	}
	return 0;
}

int vpcie_host_size_bars(struct vpcie_host *h)
{
	struct vpcie_host_bar bars[HOST_NR_BARS];
	uint16_t cmd;
	int rc, rc2;

	if (!h)
		return -EINVAL;
	/* Decoding off while the registers hold all-ones, as an OS does. */
	cmd = vpcie_host_cfg_read16(h, PCI_COMMAND, &rc);
	if (rc < 0)
		return rc;
	rc = vpcie_host_cfg_write16(h, PCI_COMMAND,
				    cmd & (uint16_t)~(PCI_COMMAND_MEMORY | PCI_COMMAND_IO));
	if (rc == 0)
		rc = probe_bars(h, bars);
	rc2 = vpcie_host_cfg_write16(h, PCI_COMMAND, cmd);
	if (rc == 0 && rc2 == 0)
		memcpy(h->bars, bars, sizeof(bars));
	return rc < 0 ? rc : rc2;
}

/* The type bits a BAR register keeps below its address. */
static uint32_t bar_type_bits(const struct vpcie_host_bar *b)
{
	if (b->is_io)
		return PCI_BASE_ADDRESS_SPACE_IO;
	return (b->is_64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
	       (b->prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
}

int vpcie_host_assign_bars(struct vpcie_host *h, uint64_t mem_base, uint32_t io_base)
{
	struct vpcie_host_bar bars[HOST_NR_BARS];
	uint64_t mem = mem_base, io = io_base;
	bool any_io = false;
	uint16_t cmd;
	int rc;

	if (!h)
		return -EINVAL;
	/* Decoding stays off until every address is in place. */
	cmd = vpcie_host_cfg_read16(h, PCI_COMMAND, &rc);
	if (rc < 0)
		return rc;
	rc = vpcie_host_cfg_write16(h, PCI_COMMAND,
				    cmd & (uint16_t)~(PCI_COMMAND_MEMORY | PCI_COMMAND_IO));
	if (rc == 0)
		rc = probe_bars(h, bars);
	if (rc < 0)
		return rc;

	/*
	 * Assign naturally aligned addresses in slot order: I/O BARs from
	 * io_base; 32-bit memory BARs and the ROM first, then 64-bit ones, from
	 * mem_base, so a large 64-bit BAR cannot push the others above 4 GiB.
	 */
	for (unsigned k = 0; k < 2 * HOST_NR_BARS; k++) {
		unsigned i = k % HOST_NR_BARS;
		struct vpcie_host_bar *b = &bars[i];
		unsigned off = i == 6 ? PCI_ROM_ADDRESS : PCI_BASE_ADDRESS_0 + 4 * i;

		if (!b->present || (k < HOST_NR_BARS) == b->is_64)
			continue;
		if (b->is_io) {
			any_io = true;
			rc = bar_alloc(&io, b->size, UINT32_MAX, &b->addr);
		} else {
			rc = bar_alloc(&mem, b->size, b->is_64 ? UINT64_MAX : UINT32_MAX, &b->addr);
		}
		if (rc < 0) {
			vpcie_err(&h->lg, "BAR%u: no room for 0x%llx bytes", i,
				  (unsigned long long)b->size);
			return rc;
		}
		/* The ROM gets an address but stays disabled, as Linux leaves it. */
		rc = vpcie_host_cfg_write32(h, off, (uint32_t)b->addr |
							(i == 6 ? 0 : bar_type_bits(b)));
		if (rc == 0 && b->is_64)
			rc = vpcie_host_cfg_write32(h, off + 4, (uint32_t)(b->addr >> 32));
		if (rc < 0)
			return rc;
		vpcie_info(&h->lg, "BAR%u: %s%s%s 0x%llx bytes at 0x%llx", i,
			   b->is_io ? "io" : "mem", b->is_64 ? "64" : "",
			   b->prefetchable ? " pref" : "", (unsigned long long)b->size,
			   (unsigned long long)b->addr);
	}
	memcpy(h->bars, bars, sizeof(bars));

	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (any_io)
		cmd |= PCI_COMMAND_IO;
	return vpcie_host_cfg_write16(h, PCI_COMMAND, cmd);
}

const struct vpcie_host_bar *vpcie_host_bar(struct vpcie_host *h, unsigned n)
{
	if (!h || n >= HOST_NR_BARS)
		return NULL;
	return &h->bars[n];
}
