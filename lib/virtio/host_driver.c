/* SPDX-License-Identifier: MIT */
/*
 * A virtio PCI modern driver on the host runtime, for tests and tools:
 * capability discovery, interrupts, reset, feature negotiation, queue set-up
 * in host memory, notifications and completion waits.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_pci.h>

#include <vpcie/virtio_host.h>

#define DEFAULT_IOVA 0x100000000ull
#define DEFAULT_MEM (16u << 20)
#define WAIT_SLICE_MS 5  /* re-check the ring this often when no interrupt comes */
#define RESET_TRIES 1000

struct cap_loc {
	bool present;
	unsigned bar;
	uint32_t off, len;
};

struct drv_queue {
	struct vpcie_vring *ring;
	uint16_t notify_off;
	uint64_t irqs;
};

struct vpcie_virtio_drv {
	struct vpcie_host *h;
	struct vpcie_virtio_drv_opts opts;
	struct cap_loc common, notify, isr, device;
	uint32_t notify_mult;
	struct vpcie_host_mem *mem;
	uint8_t *base;
	size_t buf_used;        /* bump allocator for buffers: [0, mem_size/2) */
	size_t ring_used;       /* for rings: [mem_size/2, mem_size), reset with the device */
	uint64_t features;
	unsigned nq;
	struct drv_queue *q;
	int nvec;               /* MSI-X vectors enabled */
	uint64_t config_irqs;
};

void vpcie_virtio_drv_opts_defaults(struct vpcie_virtio_drv_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->iova = DEFAULT_IOVA;
	opts->mem_size = DEFAULT_MEM;
	opts->shared = true;
	opts->irq = VPCIE_VIRTIO_DRV_MSIX;
	opts->indirect_max = 16;
}

/* ---- Register access --------------------------------------------------------- */

static int loc_read(struct vpcie_virtio_drv *d, const struct cap_loc *c, unsigned off,
		    void *buf, size_t len)
{
	if (!c->present || off > c->len || len > c->len - off)
		return -EINVAL;
	return vpcie_host_region_read(d->h, c->bar, (uint64_t)c->off + off, buf, len);
}

static int loc_write(struct vpcie_virtio_drv *d, const struct cap_loc *c, unsigned off,
		     const void *buf, size_t len)
{
	if (!c->present || off > c->len || len > c->len - off)
		return -EINVAL;
	return vpcie_host_region_write(d->h, c->bar, (uint64_t)c->off + off, buf, len);
}

int vpcie_virtio_drv_common_read(struct vpcie_virtio_drv *d, unsigned off, void *buf, size_t len)
{
	return loc_read(d, &d->common, off, buf, len);
}

int vpcie_virtio_drv_common_write(struct vpcie_virtio_drv *d, unsigned off, const void *buf,
				  size_t len)
{
	return loc_write(d, &d->common, off, buf, len);
}

static int rd8(struct vpcie_virtio_drv *d, unsigned off, uint8_t *v)
{
	return loc_read(d, &d->common, off, v, 1);
}

static int rd16(struct vpcie_virtio_drv *d, unsigned off, uint16_t *v)
{
	int rc = loc_read(d, &d->common, off, v, 2);

	*v = le16toh(*v);
	return rc;
}

static int rd32(struct vpcie_virtio_drv *d, unsigned off, uint32_t *v)
{
	int rc = loc_read(d, &d->common, off, v, 4);

	*v = le32toh(*v);
	return rc;
}

static int wr8(struct vpcie_virtio_drv *d, unsigned off, uint8_t v)
{
	return loc_write(d, &d->common, off, &v, 1);
}

static int wr16(struct vpcie_virtio_drv *d, unsigned off, uint16_t v)
{
	v = htole16(v);
	return loc_write(d, &d->common, off, &v, 2);
}

static int wr32(struct vpcie_virtio_drv *d, unsigned off, uint32_t v)
{
	v = htole32(v);
	return loc_write(d, &d->common, off, &v, 4);
}

static int wr64(struct vpcie_virtio_drv *d, unsigned off, uint64_t v)
{
	int rc = wr32(d, off, (uint32_t)v);

	return rc ? rc : wr32(d, off + 4, (uint32_t)(v >> 32));
}

int vpcie_virtio_drv_status(struct vpcie_virtio_drv *d, uint8_t *status)
{
	return rd8(d, VIRTIO_PCI_COMMON_STATUS, status);
}

int vpcie_virtio_drv_set_status(struct vpcie_virtio_drv *d, uint8_t status)
{
	return wr8(d, VIRTIO_PCI_COMMON_STATUS, status);
}

int vpcie_virtio_drv_isr(struct vpcie_virtio_drv *d, uint8_t *isr)
{
	return loc_read(d, &d->isr, 0, isr, 1);
}

/* ---- Capabilities -------------------------------------------------------------- */

static int find_caps(struct vpcie_virtio_drv *d)
{
	uint8_t img[VPCIE_CFG_SIZE];
	size_t len = sizeof(img);
	unsigned off = 0;
	int rc = vpcie_host_cfg_dump(d->h, img, &len);

	if (rc)
		return rc;
	while ((off = vpcie_cfg_next_cap(img, len, off)) != 0) {
		struct virtio_pci_cap cap;
		struct cap_loc *c = NULL;
		const struct vpcie_host_bar *bar;

		if (img[off] != PCI_CAP_ID_VNDR || off + sizeof(cap) > len ||
		    img[off + PCI_CAP_FLAGS] < sizeof(cap))
			continue;
		memcpy(&cap, img + off, sizeof(cap));
		switch (cap.cfg_type) {
		case VIRTIO_PCI_CAP_COMMON_CFG: c = &d->common; break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG: c = &d->notify; break;
		case VIRTIO_PCI_CAP_ISR_CFG: c = &d->isr; break;
		case VIRTIO_PCI_CAP_DEVICE_CFG: c = &d->device; break;
		default: break;
		}
		if (!c || c->present || cap.bar > 5)
			continue; /* the first of each type counts, as in Linux */
		bar = vpcie_host_bar(d->h, cap.bar);
		if (!bar || !bar->present || bar->is_io ||
		    (uint64_t)le32toh(cap.offset) + le32toh(cap.length) > bar->size)
			continue;
		if (c == &d->notify) {
			uint32_t mult;

			if (off + sizeof(struct virtio_pci_notify_cap) > len ||
			    img[off + PCI_CAP_FLAGS] < sizeof(struct virtio_pci_notify_cap))
				continue;
			memcpy(&mult, img + off + sizeof(cap), 4);
			d->notify_mult = le32toh(mult);
		}
		*c = (struct cap_loc){true, cap.bar, le32toh(cap.offset), le32toh(cap.length)};
	}
	if (!d->common.present || !d->notify.present || !d->isr.present ||
	    d->common.len < VIRTIO_PCI_COMMON_Q_USEDHI + 4)
		return -ENODEV;
	return 0;
}

static int enable_irqs(struct vpcie_virtio_drv *d)
{
	uint16_t nq;
	int rc;

	rc = rd16(d, VIRTIO_PCI_COMMON_NUMQ, &nq);
	if (rc)
		return rc;
	if (nq == 0)
		return -ENODEV;
	d->nq = nq;
	d->q = calloc(nq, sizeof(*d->q));
	if (!d->q)
		return -ENOMEM;
	switch (d->opts.irq) {
	case VPCIE_VIRTIO_DRV_MSIX:
		rc = vpcie_host_irq_enable(d->h, VPCIE_HOST_IRQ_MSIX, nq + 1u);
		if (rc > 0)
			d->nvec = rc;
		return rc < 0 ? rc : 0;
	case VPCIE_VIRTIO_DRV_INTX:
		rc = vpcie_host_irq_enable(d->h, VPCIE_HOST_IRQ_INTX, 1);
		return rc < 0 ? rc : 0;
	default:
		return 0;
	}
}

struct vpcie_virtio_drv *vpcie_virtio_drv_open(struct vpcie_host *h,
					       const struct vpcie_virtio_drv_opts *opts, int *err)
{
	struct vpcie_virtio_drv *d = calloc(1, sizeof(*d));
	int rc = -ENOMEM;

	if (!d || !h)
		goto fail;
	d->h = h;
	if (opts)
		d->opts = *opts;
	else
		vpcie_virtio_drv_opts_defaults(&d->opts);
	if (!d->opts.mem_size)
		d->opts.mem_size = DEFAULT_MEM;
	rc = find_caps(d);
	if (!rc)
		rc = enable_irqs(d);
	if (rc)
		goto fail;
	d->mem = vpcie_host_mem_alloc(h, d->opts.mem_size, d->opts.iova,
				      d->opts.shared ? VPCIE_HOST_MEM_SHARED : 0);
	if (!d->mem) {
		rc = -errno;
		goto fail;
	}
	d->base = vpcie_host_mem_ptr(d->mem);
	if (err)
		*err = 0;
	return d;
fail:
	if (d) {
		if (d->nvec || d->opts.irq == VPCIE_VIRTIO_DRV_INTX)
			vpcie_host_irq_disable(h);
		free(d->q);
		free(d);
	}
	if (err)
		*err = rc;
	return NULL;
}

static void forget_queues(struct vpcie_virtio_drv *d)
{
	for (unsigned i = 0; i < d->nq; i++) {
		vpcie_vring_free(d->q[i].ring);
		d->q[i].ring = NULL;
	}
	d->ring_used = 0;
}

void vpcie_virtio_drv_close(struct vpcie_virtio_drv *d)
{
	if (!d)
		return;
	vpcie_virtio_drv_set_status(d, 0); /* stop the device's DMA first */
	forget_queues(d);
	if (d->opts.irq != VPCIE_VIRTIO_DRV_POLL)
		vpcie_host_irq_disable(d->h);
	vpcie_host_mem_free(d->mem);
	free(d->q);
	free(d);
}

struct vpcie_host *vpcie_virtio_drv_host(struct vpcie_virtio_drv *d)
{
	return d->h;
}

/* ---- Memory -------------------------------------------------------------------- */

static void *bump(struct vpcie_virtio_drv *d, size_t *used, size_t base, size_t limit,
		  size_t size, size_t align, uint64_t *iova)
{
	size_t start;

	if (!align || (align & (align - 1)))
		return NULL;
	start = (*used + align - 1) & ~(align - 1);
	if (start > limit || size > limit - start)
		return NULL;
	*used = start + size;
	memset(d->base + base + start, 0, size);
	if (iova)
		*iova = d->opts.iova + base + start;
	return d->base + base + start;
}

void *vpcie_virtio_drv_alloc(struct vpcie_virtio_drv *d, size_t size, size_t align,
			     uint64_t *iova)
{
	return bump(d, &d->buf_used, 0, d->opts.mem_size / 2, size, align, iova);
}

/* ---- Bring-up -------------------------------------------------------------------- */

int vpcie_virtio_drv_reset(struct vpcie_virtio_drv *d)
{
	uint8_t s = 0xff;
	int rc = vpcie_virtio_drv_set_status(d, 0);

	for (int i = 0; !rc && i < RESET_TRIES; i++) {
		rc = vpcie_virtio_drv_status(d, &s);
		if (!rc && s == 0)
			break;
	}
	forget_queues(d);
	d->features = 0;
	if (rc)
		return rc;
	return s == 0 ? 0 : -ETIMEDOUT;
}

int vpcie_virtio_drv_device_features(struct vpcie_virtio_drv *d, uint64_t *features)
{
	uint32_t lo, hi;
	int rc = wr32(d, VIRTIO_PCI_COMMON_DFSELECT, 0);

	if (!rc)
		rc = rd32(d, VIRTIO_PCI_COMMON_DF, &lo);
	if (!rc)
		rc = wr32(d, VIRTIO_PCI_COMMON_DFSELECT, 1);
	if (!rc)
		rc = rd32(d, VIRTIO_PCI_COMMON_DF, &hi);
	if (!rc)
		*features = (uint64_t)hi << 32 | lo;
	return rc;
}

int vpcie_virtio_drv_negotiate(struct vpcie_virtio_drv *d, uint64_t want, uint64_t *got)
{
	uint64_t offered, f;
	uint8_t s;
	int rc = vpcie_virtio_drv_reset(d);

	if (!rc)
		rc = vpcie_virtio_drv_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	if (!rc)
		rc = vpcie_virtio_drv_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	if (!rc)
		rc = vpcie_virtio_drv_device_features(d, &offered);
	if (!rc && d->opts.irq == VPCIE_VIRTIO_DRV_MSIX)
		rc = wr16(d, VIRTIO_PCI_COMMON_MSIX, 0); /* configuration changes: vector 0 */
	if (rc)
		return rc;
	f = (want & offered) | (1ull << VIRTIO_F_VERSION_1);
	rc = wr32(d, VIRTIO_PCI_COMMON_GFSELECT, 0);
	if (!rc)
		rc = wr32(d, VIRTIO_PCI_COMMON_GF, (uint32_t)f);
	if (!rc)
		rc = wr32(d, VIRTIO_PCI_COMMON_GFSELECT, 1);
	if (!rc)
		rc = wr32(d, VIRTIO_PCI_COMMON_GF, (uint32_t)(f >> 32));
	if (!rc)
		rc = vpcie_virtio_drv_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
						     VIRTIO_CONFIG_S_FEATURES_OK);
	if (!rc)
		rc = vpcie_virtio_drv_status(d, &s);
	if (rc)
		return rc;
	if (!(s & VIRTIO_CONFIG_S_FEATURES_OK))
		return -ENOTSUP;
	d->features = f;
	if (got)
		*got = f;
	return 0;
}

uint64_t vpcie_virtio_drv_features(const struct vpcie_virtio_drv *d)
{
	return d->features;
}

unsigned vpcie_virtio_drv_num_queues(const struct vpcie_virtio_drv *d)
{
	return d->nq;
}

static uint16_t queue_vector(const struct vpcie_virtio_drv *d, unsigned q)
{
	if (d->opts.irq != VPCIE_VIRTIO_DRV_MSIX)
		return VIRTIO_MSI_NO_VECTOR;
	return q + 1 < (unsigned)d->nvec ? (uint16_t)(q + 1) : VIRTIO_MSI_NO_VECTOR;
}

int vpcie_virtio_drv_setup_queue(struct vpcie_virtio_drv *d, unsigned q, uint16_t size)
{
	bool packed = d->features & (1ull << VIRTIO_F_RING_PACKED);
	enum vpcie_virtq_layout layout = packed ? VPCIE_VIRTQ_PACKED : VPCIE_VIRTQ_SPLIT;
	unsigned ind = (d->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC)) ? d->opts.indirect_max : 0;
	struct vpcie_vring_config rc_cfg;
	uint16_t max, vec, en;
	uint64_t iova;
	void *mem;
	int rc;

	if (q >= d->nq)
		return -EINVAL;
	vpcie_vring_free(d->q[q].ring);
	d->q[q].ring = NULL;
	rc = wr16(d, VIRTIO_PCI_COMMON_Q_SELECT, (uint16_t)q);
	if (!rc)
		rc = rd16(d, VIRTIO_PCI_COMMON_Q_SIZE, &max);
	if (!rc)
		rc = rd16(d, VIRTIO_PCI_COMMON_Q_NOFF, &d->q[q].notify_off);
	if (rc)
		return rc;
	if (max == 0)
		return -ENOENT;
	if (size == 0)
		size = max;
	mem = bump(d, &d->ring_used, d->opts.mem_size / 2, d->opts.mem_size - d->opts.mem_size / 2,
		   vpcie_vring_mem_size(layout, size, ind), 4096, &iova);
	if (!mem)
		return -ENOMEM;
	rc_cfg = (struct vpcie_vring_config){
		.layout = layout, .size = size, .mem = mem, .iova = iova, .indirect_max = ind,
		.event_idx = d->features & (1ull << VIRTIO_RING_F_EVENT_IDX),
	};
	d->q[q].ring = vpcie_vring_new(&rc_cfg);
	if (!d->q[q].ring)
		return -errno;
	vec = queue_vector(d, q);
	rc = wr16(d, VIRTIO_PCI_COMMON_Q_SIZE, size);
	if (!rc)
		rc = wr16(d, VIRTIO_PCI_COMMON_Q_MSIX, vec);
	if (!rc)
		rc = wr64(d, VIRTIO_PCI_COMMON_Q_DESCLO, vpcie_vring_desc_addr(d->q[q].ring));
	if (!rc)
		rc = wr64(d, VIRTIO_PCI_COMMON_Q_AVAILLO, vpcie_vring_driver_addr(d->q[q].ring));
	if (!rc)
		rc = wr64(d, VIRTIO_PCI_COMMON_Q_USEDLO, vpcie_vring_device_addr(d->q[q].ring));
	if (!rc)
		rc = wr16(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
	if (!rc)
		rc = rd16(d, VIRTIO_PCI_COMMON_Q_ENABLE, &en);
	if (rc)
		return rc;
	return en == 1 ? 0 : -EIO;
}

int vpcie_virtio_drv_driver_ok(struct vpcie_virtio_drv *d)
{
	uint8_t s;
	int rc = vpcie_virtio_drv_status(d, &s);

	return rc ? rc : vpcie_virtio_drv_set_status(d, s | VIRTIO_CONFIG_S_DRIVER_OK);
}

int vpcie_virtio_drv_config_read(struct vpcie_virtio_drv *d, unsigned off, void *buf, size_t len)
{
	for (int tries = 0; tries < 100; tries++) {
		uint8_t g1, g2;
		int rc = rd8(d, VIRTIO_PCI_COMMON_CFGGENERATION, &g1);

		if (!rc)
			rc = loc_read(d, &d->device, off, buf, len);
		if (!rc)
			rc = rd8(d, VIRTIO_PCI_COMMON_CFGGENERATION, &g2);
		if (rc)
			return rc;
		if (g1 == g2)
			return 0;
	}
	return -EAGAIN;
}

/* ---- I/O -------------------------------------------------------------------------- */

struct vpcie_vring *vpcie_virtio_drv_vring(struct vpcie_virtio_drv *d, unsigned q)
{
	return q < d->nq ? d->q[q].ring : NULL;
}

int vpcie_virtio_drv_notify(struct vpcie_virtio_drv *d, unsigned q)
{
	uint16_t v = htole16((uint16_t)q);
	uint64_t off;

	if (q >= d->nq)
		return -EINVAL;
	off = (uint64_t)d->q[q].notify_off * d->notify_mult;
	if (off + 2 > d->notify.len)
		return -EINVAL;
	return vpcie_host_region_write_posted(d->h, d->notify.bar, d->notify.off + off, &v, 2);
}

int vpcie_virtio_drv_kick(struct vpcie_virtio_drv *d, unsigned q)
{
	if (q >= d->nq || !d->q[q].ring)
		return -EINVAL;
	return vpcie_vring_kick_needed(d->q[q].ring) ? vpcie_virtio_drv_notify(d, q) : 0;
}

/* Collect interrupts that fired; with INTx, read ISR to learn what they were. */
static void collect(struct vpcie_virtio_drv *d, bool intx_fired)
{
	if (d->opts.irq == VPCIE_VIRTIO_DRV_MSIX) {
		d->config_irqs += vpcie_host_irq_take(d->h, 0);
		for (unsigned q = 0; q < d->nq && q + 1 < (unsigned)d->nvec; q++)
			d->q[q].irqs += vpcie_host_irq_take(d->h, q + 1);
	} else if (d->opts.irq == VPCIE_VIRTIO_DRV_INTX) {
		uint8_t isr = 0;

		if (!intx_fired && !vpcie_host_irq_take(d->h, 0))
			return;
		if (vpcie_virtio_drv_isr(d, &isr))
			return;
		if (isr & 1)
			for (unsigned q = 0; q < d->nq; q++)
				d->q[q].irqs++;
		if (isr & VIRTIO_PCI_ISR_CONFIG)
			d->config_irqs++;
	}
}

/* Wait up to ms for something: an interrupt of queue q (or any, q < 0) or
 * the device's DMA requests. */
static int wait_some(struct vpcie_virtio_drv *d, int q, int ms)
{
	int rc;

	switch (d->opts.irq) {
	case VPCIE_VIRTIO_DRV_MSIX: {
		unsigned vec = q >= 0 && (unsigned)q + 1 < (unsigned)d->nvec ? (unsigned)q + 1 : 0;

		rc = vpcie_host_irq_wait(d->h, vec, ms);
		if (rc == 0) {
			if (vec)
				d->q[vec - 1].irqs++;
			else
				d->config_irqs++;
		}
		collect(d, false);
		break;
	}
	case VPCIE_VIRTIO_DRV_INTX:
		rc = vpcie_host_irq_wait(d->h, 0, ms);
		collect(d, rc == 0);
		break;
	default:
		rc = vpcie_host_poll(d->h, ms);
		break;
	}
	return rc == -ETIMEDOUT || rc > 0 ? 0 : rc;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vpcie_virtio_drv_wait(struct vpcie_virtio_drv *d, unsigned q, void **token, uint32_t *len,
			  int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	if (q >= d->nq || !d->q[q].ring)
		return -EINVAL;
	for (;;) {
		int rc = vpcie_vring_get_used(d->q[q].ring, token, len);

		if (rc)
			return rc;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		rc = wait_some(d, (int)q, WAIT_SLICE_MS);
		if (rc)
			return rc;
	}
}

int vpcie_virtio_drv_idle(struct vpcie_virtio_drv *d, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (now_ms() < deadline) {
		int rc = wait_some(d, -1, WAIT_SLICE_MS);

		if (rc)
			return rc;
	}
	collect(d, false);
	return 0;
}

uint64_t vpcie_virtio_drv_take_interrupts(struct vpcie_virtio_drv *d, unsigned q)
{
	uint64_t n;

	if (q >= d->nq)
		return 0;
	collect(d, false);
	n = d->q[q].irqs;
	d->q[q].irqs = 0;
	return n;
}

uint64_t vpcie_virtio_drv_take_config_interrupts(struct vpcie_virtio_drv *d)
{
	uint64_t n;

	collect(d, false);
	n = d->config_irqs;
	d->config_irqs = 0;
	return n;
}
