/* SPDX-License-Identifier: MIT */
/*
 * Host runtime: interrupts, set up the way a Linux driver and vfio do it.
 * The MSI / MSI-X capability (or the INTx Disable bit) is programmed through
 * config space, then one eventfd per vector is attached with SET_IRQS.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <vpcie/config.h>
#include <vpcie/host.h>

#include "../util/util.h"
#include "host_priv.h"

/* What we program as message address/data: any fixed values do. The data
 * keeps its low 5 bits clear since MSI ORs the vector number into them. */
#define HOST_MSI_ADDR 0xfee00000u
#define HOST_MSI_DATA 0x4000u

static int set_irqs(struct vpcie_host *h, uint32_t flags, uint32_t index, uint32_t start,
		    uint32_t count, const int *fds, unsigned nfds)
{
	struct vpcie_irq_set s = {
		.argsz = sizeof(s),
		.flags = flags,
		.index = index,
		.start = start,
		.count = count,
	};
	struct iovec iov = {.iov_base = &s, .iov_len = sizeof(s)};
	uint64_t t0 = HOST_TRACE_T0(h);
	int rc = host_request(h, VPCIE_CMD_DEVICE_SET_IRQS, 0, &iov, 1, fds, nfds, NULL);

	if (HOST_TRACING(h)) /* trace point: SET_IRQS */
		vpcie_trace_event(h->trace, t0, VPCIE_TRACE_IRQ_SET, index, start, count, 0, rc,
				  flags, NULL);
	return rc;
}

void host_irq_forget(struct vpcie_host *h)
{
	if (h->irq_fds) {
		for (unsigned i = 0; i < h->irq_n; i++)
			if (h->irq_fds[i] >= 0)
				close(h->irq_fds[i]);
		free(h->irq_fds);
	}
	free(h->irq_ring);
	h->irq_ring = NULL;
	h->irq_fds = NULL;
	h->irq_n = 0;
	h->irq_type = HOST_IRQ_NONE;
	h->intx_automasked = false;
}

static uint16_t img16(const uint8_t *img, unsigned off)
{
	uint16_t v;

	memcpy(&v, img + off, sizeof(v));
	return le16toh(v);
}

static uint32_t img32(const uint8_t *img, unsigned off)
{
	uint32_t v;

	memcpy(&v, img + off, sizeof(v));
	return le32toh(v);
}

/* Read-modify-write a 16-bit config register. */
static int cfg_update16(struct vpcie_host *h, unsigned off, uint16_t clear, uint16_t set)
{
	int rc;
	uint16_t v = vpcie_host_cfg_read16(h, off, &rc);

	if (rc < 0)
		return rc;
	return vpcie_host_cfg_write16(h, off, (uint16_t)((v & ~clear) | set));
}

/* One config dump: find the MSI and MSI-X capabilities. */
static int find_irq_caps(struct vpcie_host *h, uint8_t *img, size_t *len)
{
	int rc;

	*len = VPCIE_CFG_SIZE;
	rc = vpcie_host_cfg_dump(h, img, len);
	if (rc < 0)
		return rc;
	if (*len < PCI_STD_HEADER_SIZEOF)
		return -EPROTO;
	h->msi_cap = vpcie_cfg_find_cap(img, *len, PCI_CAP_ID_MSI);
	h->msix_cap = vpcie_cfg_find_cap(img, *len, PCI_CAP_ID_MSIX);
	/* Everything we touch must lie inside the image. */
	if (h->msi_cap && h->msi_cap + PCI_MSI_FLAGS + 2 <= *len) {
		unsigned need;

		h->msi_flags = img16(img, h->msi_cap + PCI_MSI_FLAGS);
		if (h->msi_flags & PCI_MSI_FLAGS_64BIT)
			need = (h->msi_flags & PCI_MSI_FLAGS_MASKBIT) ? PCI_MSI_MASK_64 + 4
								      : PCI_MSI_DATA_64 + 2;
		else
			need = (h->msi_flags & PCI_MSI_FLAGS_MASKBIT) ? PCI_MSI_MASK_32 + 4
								      : PCI_MSI_DATA_32 + 2;
		if (h->msi_cap + need > *len)
			h->msi_cap = 0;
	} else {
		h->msi_cap = 0;
	}
	if (h->msix_cap && h->msix_cap + PCI_CAP_MSIX_SIZEOF > *len)
		h->msix_cap = 0;
	return 0;
}

/* Clear MSI / MSI-X enable bits that are set in the image (device state may
 * survive from an earlier client). */
static int disable_msi_msix(struct vpcie_host *h, const uint8_t *img, bool msi, bool msix)
{
	int rc = 0;

	if (msi && h->msi_cap && (img16(img, h->msi_cap + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_ENABLE))
		rc = cfg_update16(h, h->msi_cap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE, 0);
	if (rc == 0 && msix && h->msix_cap &&
	    (img16(img, h->msix_cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_ENABLE))
		rc = cfg_update16(h, h->msix_cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 0);
	return rc;
}

static unsigned msi_mask_off(const struct vpcie_host *h)
{
	return h->msi_cap +
	       ((h->msi_flags & PCI_MSI_FLAGS_64BIT) ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
}

static int enable_msi(struct vpcie_host *h, const uint8_t *img, unsigned n)
{
	uint16_t flags = h->msi_flags;
	unsigned qmask = (flags & PCI_MSI_FLAGS_QMASK) >> 1, log2n = 0;
	int rc;

	if (!h->msi_cap)
		return -EINVAL;
	if (qmask > 5)
		qmask = 5;
	if (n > (1u << qmask))
		return -EINVAL;
	while ((1u << log2n) < n)
		log2n++;
	rc = disable_msi_msix(h, img, true, true);
	if (rc < 0)
		return rc;
	flags &= (uint16_t)~PCI_MSI_FLAGS_ENABLE;
	rc = vpcie_host_cfg_write32(h, h->msi_cap + PCI_MSI_ADDRESS_LO, HOST_MSI_ADDR);
	if (rc == 0 && (flags & PCI_MSI_FLAGS_64BIT)) {
		rc = vpcie_host_cfg_write32(h, h->msi_cap + PCI_MSI_ADDRESS_HI, 0);
		if (rc == 0)
			rc = vpcie_host_cfg_write16(h, h->msi_cap + PCI_MSI_DATA_64, HOST_MSI_DATA);
	} else if (rc == 0) {
		rc = vpcie_host_cfg_write16(h, h->msi_cap + PCI_MSI_DATA_32, HOST_MSI_DATA);
	}
	if (rc == 0 && (flags & PCI_MSI_FLAGS_MASKBIT)) {
		uint32_t mask = img32(img, msi_mask_off(h));
		uint32_t bits = n >= 32 ? UINT32_MAX : (1u << n) - 1;

		rc = vpcie_host_cfg_write32(h, msi_mask_off(h), mask & ~bits);
	}
	if (rc < 0)
		return rc;
	flags = (uint16_t)((flags & ~PCI_MSI_FLAGS_QSIZE) | (log2n << 4));
	rc = vpcie_host_cfg_write16(h, h->msi_cap + PCI_MSI_FLAGS, flags);
	if (rc == 0)
		rc = vpcie_host_cfg_write16(h, h->msi_cap + PCI_MSI_FLAGS,
					    flags | PCI_MSI_FLAGS_ENABLE);
	if (rc == 0)
		h->msi_flags = flags | PCI_MSI_FLAGS_ENABLE;
	return rc;
}

/* Write 32-bit words at off of BAR bar: mmap if mapped, else coalesced. */
static int bar_write_dwords(struct vpcie_host *h, unsigned bar, uint64_t off,
			    const uint32_t *v, unsigned n)
{
	struct vpcie_write_multi_entry wrs[64];
	int rc;

	if (vpcie_host_region_is_mapped(h, bar, off, (size_t)n * 4)) {
		for (unsigned i = 0; i < n; i++) {
			rc = vpcie_host_bar_write32(h, bar, off + 4u * i, v[i]);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	for (unsigned done = 0; done < n;) {
		unsigned cnt = n - done > 64 ? 64 : n - done;

		memset(wrs, 0, sizeof(wrs));
		for (unsigned i = 0; i < cnt; i++) {
			wrs[i].offset = off + 4u * (done + i);
			wrs[i].region = bar;
			wrs[i].count = 4;
			memcpy(wrs[i].data, &v[done + i], 4);
		}
		rc = vpcie_host_region_write_multi(h, wrs, cnt);
		if (rc < 0)
			return rc;
		done += cnt;
	}
	return 0;
}

static int enable_msix(struct vpcie_host *h, const uint8_t *img, unsigned n)
{
	uint16_t flags;
	uint32_t table;
	int rc;

	if (!h->msix_cap)
		return -EINVAL;
	flags = img16(img, h->msix_cap + PCI_MSIX_FLAGS);
	table = img32(img, h->msix_cap + PCI_MSIX_TABLE);
	h->msix_table_size = (flags & PCI_MSIX_FLAGS_QSIZE) + 1u;
	h->msix_bir = table & PCI_MSIX_TABLE_BIR;
	h->msix_table_off = table & PCI_MSIX_TABLE_OFFSET;
	if (n > h->msix_table_size)
		return -EINVAL;
	if (h->msix_bir > 5) {
		vpcie_warn(&h->lg, "MSI-X table in BIR %u", h->msix_bir);
		return -EPROTO;
	}
	rc = host_region_check(h, h->msix_bir, h->msix_table_off,
			       (uint64_t)h->msix_table_size * PCI_MSIX_ENTRY_SIZE);
	if (rc == -EINVAL) {
		vpcie_warn(&h->lg, "MSI-X table (%u entries at 0x%x) outside BAR%u",
			   h->msix_table_size, h->msix_table_off, h->msix_bir);
		return -EPROTO;
	}
	if (rc < 0)
		return rc;
	rc = disable_msi_msix(h, img, true, false);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < n; i++) {
		uint32_t e[4] = {HOST_MSI_ADDR, 0, HOST_MSI_DATA + i, 0};

		rc = bar_write_dwords(h, h->msix_bir,
				      h->msix_table_off + (uint64_t)i * PCI_MSIX_ENTRY_SIZE, e, 4);
		if (rc < 0)
			return rc;
	}
	flags = (uint16_t)((flags & ~PCI_MSIX_FLAGS_MASKALL) | PCI_MSIX_FLAGS_ENABLE);
	return vpcie_host_cfg_write16(h, h->msix_cap + PCI_MSIX_FLAGS, flags);
}

/* Clear config enable bits for type (best effort on the way out). */
static int cfg_disable(struct vpcie_host *h, int type)
{
	switch (type) {
	case VPCIE_HOST_IRQ_MSI:
		if (!h->msi_cap)
			return 0;
		return cfg_update16(h, h->msi_cap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE, 0);
	case VPCIE_HOST_IRQ_MSIX:
		if (!h->msix_cap)
			return 0;
		return cfg_update16(h, h->msix_cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 0);
	case VPCIE_HOST_IRQ_INTX:
		return cfg_update16(h, PCI_COMMAND, 0, PCI_COMMAND_INTX_DISABLE);
	default:
		return 0;
	}
}

int vpcie_host_irq_disable(struct vpcie_host *h)
{
	int rc, rc2;

	if (!h)
		return -EINVAL;
	if (h->irq_type == HOST_IRQ_NONE)
		return 0;
	rc = set_irqs(h, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		      (uint32_t)h->irq_type, 0, 0, NULL, 0);
	rc2 = cfg_disable(h, h->irq_type);
	host_irq_forget(h);
	return rc < 0 ? rc : rc2;
}

bool host_irq_note(struct vpcie_host *h, unsigned index, uint64_t vec, const struct pump *p)
{
	if (!h->irq_ring || (int)index != h->irq_type || vec >= h->irq_n) {
		vpcie_dbg(&h->lg, "stale interrupt notice (index %u vector %llu)", index,
			  (unsigned long long)vec);
		return false;
	}
	h->irq_ring[vec]++;
	return p && p->want_irq && p->irq_vec == vec;
}

int host_irq_message(struct vpcie_host *h, const struct vpcie_msg *m, const struct pump *p)
{
	struct vpcie_irq_notify n;

	if (!h->peer.irq_msg || m->payload_len != sizeof(n)) {
		vpcie_warn(&h->lg, "dropping %s interrupt message (%zu bytes)",
			   h->peer.irq_msg ? "malformed" : "unnegotiated", m->payload_len);
		return 0;
	}
	memcpy(&n, m->payload, sizeof(n));
	return host_irq_note(h, n.index, n.vector, p) ? 1 : 0;
}

/* Create n eventfds and attach them in chunks the device accepts; with
 * interrupt messages, attach them all at once without fds (the eventfds
 * stay ours, for the pump to wait on). */
static int attach_eventfds(struct vpcie_host *h, unsigned type, unsigned n)
{
	unsigned per = h->peer.max_msg_fds;
	int rc;

	if (h->peer.irq_msg)
		per = n;
	else if (per == 0 || !vpcie_chan_passes_fds(h->ch))
		return -ENOTSUP;
	if (per > VPCIE_MAX_FDS_LIMIT)
		per = VPCIE_MAX_FDS_LIMIT;
	h->irq_fds = calloc(n, sizeof(int));
	if (!h->irq_fds)
		return -ENOMEM;
	if (h->ring || h->peer.irq_msg) {
		/* The device sends interrupt notices through the ring or as messages. */
		h->irq_ring = calloc(n, sizeof(*h->irq_ring));
		if (!h->irq_ring)
			return -ENOMEM;
	}
	h->irq_n = n;
	for (unsigned i = 0; i < n; i++)
		h->irq_fds[i] = -1;
	for (unsigned i = 0; i < n; i++) {
		h->irq_fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (h->irq_fds[i] < 0)
			return -errno;
	}
	for (unsigned start = 0; start < n;) {
		unsigned cnt = n - start > per ? per : n - start;

		rc = set_irqs(h, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, type,
			      start, cnt, h->irq_fds + start, h->peer.irq_msg ? 0 : cnt);
		if (rc < 0)
			return rc;
		start += cnt;
	}
	return 0;
}

int vpcie_host_irq_enable(struct vpcie_host *h, enum vpcie_host_irq_type type, unsigned nvec)
{
	uint8_t img[VPCIE_CFG_SIZE];
	struct vpcie_irq_info info;
	size_t len;
	unsigned n = nvec;
	int rc;

	if (!h || nvec == 0 || nvec > HOST_MAX_VECTORS ||
	    (type != VPCIE_HOST_IRQ_INTX && type != VPCIE_HOST_IRQ_MSI &&
	     type != VPCIE_HOST_IRQ_MSIX))
		return -EINVAL;
	if (type == VPCIE_HOST_IRQ_MSI) {
		if (nvec > 32)
			return -EINVAL;
		while (n & (n - 1))
			n++;
	}
	if (type == VPCIE_HOST_IRQ_INTX && nvec != 1)
		return -EINVAL;

	rc = vpcie_host_irq_disable(h);
	if (rc < 0 && h->broken)
		return rc;
	rc = vpcie_host_irq_info(h, (unsigned)type, &info);
	if (rc < 0)
		return rc;
	if (info.count < n) {
		vpcie_warn(&h->lg, "IRQ type %d: %u vectors wanted, device offers %u", type, n,
			   info.count);
		return -EINVAL;
	}
	rc = find_irq_caps(h, img, &len);
	if (rc < 0)
		return rc;

	switch (type) {
	case VPCIE_HOST_IRQ_MSI:
		rc = enable_msi(h, img, n);
		break;
	case VPCIE_HOST_IRQ_MSIX:
		rc = enable_msix(h, img, n);
		break;
	case VPCIE_HOST_IRQ_INTX:
		rc = disable_msi_msix(h, img, true, true);
		if (rc == 0)
			rc = vpcie_host_cfg_write16(
				h, PCI_COMMAND,
				(uint16_t)(img16(img, PCI_COMMAND) & ~PCI_COMMAND_INTX_DISABLE));
		h->intx_automasked = info.flags & VFIO_IRQ_INFO_AUTOMASKED;
		break;
	}
	if (rc == 0 && type != VPCIE_HOST_IRQ_INTX)
		rc = cfg_update16(h, PCI_COMMAND, 0, PCI_COMMAND_INTX_DISABLE);
	if (rc < 0)
		return rc;

	h->irq_type = (int)type;
	rc = attach_eventfds(h, (unsigned)type, n);
	if (rc < 0) {
		vpcie_warn(&h->lg, "attaching %u eventfds: %s", n, strerror(-rc));
		if (!h->broken) {
			set_irqs(h, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				 (uint32_t)type, 0, 0, NULL, 0);
			cfg_disable(h, (int)type);
		}
		host_irq_forget(h);
		return rc;
	}
	vpcie_info(&h->lg, "IRQ type %d: %u vectors enabled", type, n);
	return (int)n;
}

static int intx_unmask(struct vpcie_host *h)
{
	if (h->irq_type != VPCIE_HOST_IRQ_INTX || !h->intx_automasked)
		return 0;
	return set_irqs(h, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
			VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL, 0);
}

/* Non-blocking read of an eventfd: the count, 0 if none, or -errno. */
static int64_t drain(int fd)
{
	uint64_t v;

	for (int tries = 0; tries < 16; tries++) {
		ssize_t r = read(fd, &v, sizeof(v));

		if (r == (ssize_t)sizeof(v))
			return v > INT64_MAX ? INT64_MAX : (int64_t)v;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		return r < 0 ? -errno : -EIO;
	}
	return 0;
}

/* Events of vector n so far: ring notices (read now from the ring, no
 * waiting) plus the eventfd's count; consumed. -errno on failure. */
static int64_t take(struct vpcie_host *h, unsigned n)
{
	int64_t got = 0, fd;

	if (h->ring) {
		struct pump p = {.extra_fd = -1};
		int rc = host_ring_drain(h, &p);

		if (rc < 0)
			return rc;
	}
	if (h->irq_ring) {
		got = h->irq_ring[n] > INT64_MAX ? INT64_MAX : (int64_t)h->irq_ring[n];
		h->irq_ring[n] = 0;
	}
	fd = drain(h->irq_fds[n]);
	if (fd < 0)
		return fd;
	if (HOST_TRACING(h) && (got || fd)) /* trace point: interrupts received */
		vpcie_trace_event(h->trace, 0, VPCIE_TRACE_IRQ, (unsigned)h->irq_type, n,
				  (uint64_t)(got + (fd > INT64_MAX - got ? 0 : fd)),
				  got && h->ring ? VPCIE_TRACE_F_RING : 0, 0, 0, NULL);
	return got > INT64_MAX - fd ? INT64_MAX : got + fd;
}

int vpcie_host_irq_wait_events(struct vpcie_host *h, unsigned n, int timeout_ms,
			       uint64_t *events)
{
	uint64_t deadline = vpcie_deadline(timeout_ms);

	if (events)
		*events = 0;

	if (!h || h->irq_type == HOST_IRQ_NONE || n >= h->irq_n)
		return -EINVAL;
	for (;;) {
		struct pump p = {.extra_fd = h->irq_fds[n], .want_irq = h->irq_ring != NULL,
				 .irq_vec = n};
		int64_t got = take(h, n);
		int rc;

		if (got < 0)
			return (int)got;
		if (got > 0) {
			if (events)
				*events = (uint64_t)got;
			rc = intx_unmask(h);
			return rc < 0 ? rc : 0;
		}
		/* Serve the device meanwhile; an eventfd or a ring notice ends it. */
		rc = host_pump(h, &p, vpcie_ms_left(deadline));
		if (rc < 0)
			return rc;
	}
}

uint64_t vpcie_host_irq_take(struct vpcie_host *h, unsigned n)
{
	int64_t got;

	if (!h || h->irq_type == HOST_IRQ_NONE || n >= h->irq_n)
		return 0;
	got = take(h, n);
	if (got <= 0)
		return 0;
	intx_unmask(h);
	return (uint64_t)got;
}

int vpcie_host_irq_mask(struct vpcie_host *h, unsigned n, bool masked)
{
	int rc;

	if (!h || h->irq_type == HOST_IRQ_NONE || n >= h->irq_n)
		return -EINVAL;
	switch (h->irq_type) {
	case VPCIE_HOST_IRQ_MSI: {
		uint32_t mask;

		if (!(h->msi_flags & PCI_MSI_FLAGS_MASKBIT))
			return -ENOTSUP;
		mask = vpcie_host_cfg_read32(h, msi_mask_off(h), &rc);
		if (rc < 0)
			return rc;
		mask = masked ? mask | (1u << n) : mask & ~(1u << n);
		return vpcie_host_cfg_write32(h, msi_mask_off(h), mask);
	}
	case VPCIE_HOST_IRQ_MSIX: {
		uint64_t off = h->msix_table_off + (uint64_t)n * PCI_MSIX_ENTRY_SIZE +
			       PCI_MSIX_ENTRY_VECTOR_CTRL;
		uint32_t ctrl = vpcie_host_bar_read32(h, h->msix_bir, off, &rc);

		if (rc < 0)
			return rc;
		ctrl = masked ? ctrl | PCI_MSIX_ENTRY_CTRL_MASKBIT
			      : ctrl & ~(uint32_t)PCI_MSIX_ENTRY_CTRL_MASKBIT;
		return vpcie_host_bar_write32(h, h->msix_bir, off, ctrl);
	}
	case VPCIE_HOST_IRQ_INTX:
		return set_irqs(h,
				VFIO_IRQ_SET_DATA_NONE |
					(masked ? VFIO_IRQ_SET_ACTION_MASK : VFIO_IRQ_SET_ACTION_UNMASK),
				VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL, 0);
	default:
		return -EINVAL;
	}
}

int vpcie_host_msix_function_mask(struct vpcie_host *h, bool masked)
{
	int cap;

	if (!h)
		return -EINVAL;
	cap = h->msix_cap ? (int)h->msix_cap : vpcie_host_find_cap(h, PCI_CAP_ID_MSIX);
	if (cap < 0)
		return cap;
	if (cap == 0)
		return -ENOTSUP;
	h->msix_cap = (unsigned)cap;
	return cfg_update16(h, (unsigned)cap + PCI_MSIX_FLAGS,
			    masked ? 0 : PCI_MSIX_FLAGS_MASKALL,
			    masked ? PCI_MSIX_FLAGS_MASKALL : 0);
}
