/* SPDX-License-Identifier: MIT */
/*
 * Host runtime: region information (the info request and its capability
 * chain, with the sparse-mmap capability), cached per region.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

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
		if (r->info.fd < 0) {
			vpcie_warn(&h->lg, "region %u: MMAP flag but no fd; using messages",
				   index);
		} else if (!vpcie_fd_size_sealed(r->info.fd)) {
			/* The device could shrink the file under our mapping, and
			 * the next access would fault (SIGBUS): never map it. The
			 * info is cached, so this is said once per region. */
			vpcie_warn(&h->lg, "region %u: device memory not sealed against "
					   "shrinking; using messages", index);
			close(r->info.fd);
			r->info.fd = -1;
		}
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
