/* SPDX-License-Identifier: MIT */
/*
 * The virtio PCI modern transport on top of the device runtime: IDs and
 * capabilities, BAR0 (common configuration, ISR, device configuration,
 * notify), the device status state machine, feature negotiation, queue
 * set-up and reset, interrupts (MSI-X vectors, or ISR + INTx), and the
 * VIRTIO_PCI_CAP_PCI_CFG access window.
 *
 * Virtqueue memory goes through the DMA API: a direct pointer where the
 * client shared its memory with an fd, DMA messages elsewhere.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_pci.h>

#include <vpcie/virtio.h>

#include "../util/abi.h"
#include "virtq_priv.h"

/* queue_notify_data and queue_reset follow queue_used_hi (virtio 1.2). */
#define COMMON_Q_NDATA 56u
#define COMMON_Q_RESET 58u

struct queue_regs {
	uint16_t size;        /* chosen by the driver; max until then */
	uint16_t vector;      /* MSI-X vector or VIRTIO_MSI_NO_VECTOR */
	bool enabled;
	uint64_t desc, driver, device;
	struct vpcie_virtq *vq; /* while enabled */
	bool kick;            /* queue_notify due from the kick timer */
};

struct vpcie_virtio {
	struct vpcie_dev *dev;
	struct vpcie_logger *lg;
	struct vpcie_virtio_desc desc;
	struct vpcie_virtio_ops ops;        /* the program's, copied */
	void *opaque;
	uint64_t offered;
	uint8_t *config;       /* desc.config_size bytes */
	unsigned nvec;         /* MSI-X vectors: config + one per queue */
	unsigned pcicfg_off;   /* the VIRTIO_PCI_CAP_PCI_CFG capability */

	/* Common configuration. */
	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	uint16_t msix_config;
	uint8_t status;
	uint8_t generation;
	uint16_t queue_select;
	struct queue_regs *q;

	uint8_t isr;
	struct vpcie_timer *kick_timer;
	unsigned serving;      /* queue_notify callbacks on the stack */
	bool reset_pending;    /* a reset arrived while serving */
};

/* ---- Virtqueue memory through the DMA API ------------------------------------- */

static int dma_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return vpcie_dev_dma_read(ctx, addr, buf, len);
}

static int dma_write(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	return vpcie_dev_dma_write(ctx, addr, buf, len);
}

static void *dma_ptr(void *ctx, uint64_t addr, size_t len, bool write)
{
	return vpcie_dev_dma_ptr(ctx, addr, len, write);
}

/* ---- Interrupts --------------------------------------------------------------- */

static void raise_irq(struct vpcie_virtio *v, uint16_t vector, uint8_t isr_bit)
{
	int rc = 0;

	switch (vpcie_dev_irq_mode(v->dev)) {
	case VPCIE_IRQ_MSIX:
		if (vector != VIRTIO_MSI_NO_VECTOR)
			rc = vpcie_dev_irq_raise(v->dev, vector);
		break;
	case VPCIE_IRQ_INTX:
		v->isr |= isr_bit;
		rc = vpcie_dev_irq_intx(v->dev, true);
		break;
	default:
		v->isr |= isr_bit; /* a polling driver still sees it in ISR */
		break;
	}
	if (rc < 0)
		vpcie_dbg(v->lg, "interrupt (vector %u): %s", vector, strerror(-rc));
}

void vpcie_virtio_notify(struct vpcie_virtio *v, unsigned q)
{
	if (q >= v->desc.num_queues || !v->q[q].vq)
		return;
	if (vpcie_virtq_should_notify(v->q[q].vq))
		raise_irq(v, v->q[q].vector, 1);
}

void vpcie_virtio_config_changed(struct vpcie_virtio *v)
{
	v->generation++;
	if (v->status & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_irq(v, v->msix_config, VIRTIO_PCI_ISR_CONFIG);
}

void vpcie_virtio_needs_reset(struct vpcie_virtio *v)
{
	if ((v->status & VIRTIO_CONFIG_S_NEEDS_RESET) || v->reset_pending)
		return;
	vpcie_warn(v->lg, "device needs reset");
	v->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	if (v->status & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_irq(v, v->msix_config, VIRTIO_PCI_ISR_CONFIG);
}

/* ---- Reset, status, features ------------------------------------------------------ */

/* Registers and queues to their reset values. */
static void reset_state(struct vpcie_virtio *v)
{
	for (unsigned i = 0; i < v->desc.num_queues; i++) {
		struct queue_regs *q = &v->q[i];

		vpcie_virtq_free(q->vq);
		memset(q, 0, sizeof(*q));
		q->size = v->desc.queue_size;
		q->vector = VIRTIO_MSI_NO_VECTOR;
	}
	v->dfselect = v->gfselect = 0;
	v->driver_features = 0;
	v->msix_config = VIRTIO_MSI_NO_VECTOR;
	v->status = 0;
	v->queue_select = 0;
	if (v->isr && vpcie_dev_irq_mode(v->dev) == VPCIE_IRQ_INTX)
		vpcie_dev_irq_intx(v->dev, false);
	v->isr = 0;
}

/*
 * While a queue is being served, its code may wait for DMA, and the runtime
 * serves the host's commands meanwhile (vpcie_dev_dma_read() in vpcie/device.h):
 * a reset then stops the queues at once (their next pop or push fails with
 * -ECANCELED) and completes when that code returns. Until then
 * device_status reads back non-zero, which the driver waits for, and other
 * writes to the common configuration are ignored.
 */
static void virtio_reset(struct vpcie_virtio *v)
{
	if (v->serving) {
		v->reset_pending = true;
		for (unsigned i = 0; i < v->desc.num_queues; i++)
			if (v->q[i].vq)
				vq_fail(v->q[i].vq, -ECANCELED, "device reset");
		return;
	}
	v->reset_pending = false;
	if (v->ops.reset)
		v->ops.reset(v, v->opaque);
	reset_state(v);
}

static bool features_acceptable(struct vpcie_virtio *v, uint64_t f)
{
	if (f & ~v->offered) {
		vpcie_warn(v->lg, "driver accepted features never offered: 0x%" PRIx64, f & ~v->offered);
		return false;
	}
	if (!(f & (1ull << VIRTIO_F_VERSION_1))) {
		vpcie_warn(v->lg, "driver did not accept VIRTIO_F_VERSION_1 (legacy is not supported)");
		return false;
	}
	return !v->ops.features_ok || v->ops.features_ok(v, v->opaque, f);
}

static void set_status(struct vpcie_virtio *v, uint8_t s)
{
	uint8_t old = v->status;

	if (s == 0) {
		vpcie_dbg(v->lg, "reset by the driver");
		virtio_reset(v);
		return;
	}
	if ((s & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !features_acceptable(v, v->driver_features))
		s &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK; /* the driver reads it back */
	v->status = (uint8_t)((s & ~VIRTIO_CONFIG_S_NEEDS_RESET) | (old & VIRTIO_CONFIG_S_NEEDS_RESET));
	if ((s & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK)) {
		if (!(s & VIRTIO_CONFIG_S_FEATURES_OK)) {
			vpcie_warn(v->lg, "DRIVER_OK without FEATURES_OK");
			vpcie_virtio_needs_reset(v);
			return;
		}
		vpcie_info(v->lg, "driver ready: features 0x%" PRIx64 ", %s rings", v->driver_features,
			   (v->driver_features & (1ull << VIRTIO_F_RING_PACKED)) ? "packed" : "split");
		if (v->ops.driver_ok)
			v->ops.driver_ok(v, v->opaque);
	}
}

/* ---- Queues ------------------------------------------------------------------------ */

static bool has(const struct vpcie_virtio *v, unsigned bit)
{
	return v->driver_features & (1ull << bit);
}

static void enable_queue(struct vpcie_virtio *v, unsigned n)
{
	struct queue_regs *q = &v->q[n];
	struct vpcie_virtq_config cfg = {
		.layout = has(v, VIRTIO_F_RING_PACKED) ? VPCIE_VIRTQ_PACKED : VPCIE_VIRTQ_SPLIT,
		.size = q->size,
		.desc = q->desc,
		.driver = q->driver,
		.device = q->device,
		.indirect = has(v, VIRTIO_RING_F_INDIRECT_DESC),
		.event_idx = has(v, VIRTIO_RING_F_EVENT_IDX),
		.max_chain = v->desc.max_chain,
	};
	struct vpcie_virtq_mem mem = {dma_read, dma_write, dma_ptr, v->dev};
	int err;

	if (!(v->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		vpcie_warn(v->lg, "queue %u enabled before FEATURES_OK", n);
		vpcie_virtio_needs_reset(v);
		return;
	}
	if (q->size == 0 || q->size > v->desc.queue_size ||
	    (cfg.layout == VPCIE_VIRTQ_SPLIT && (q->size & (q->size - 1)))) {
		vpcie_warn(v->lg, "queue %u: bad size %u (max %u)", n, q->size, v->desc.queue_size);
		vpcie_virtio_needs_reset(v);
		return;
	}
	q->vq = vpcie_virtq_new(&cfg, &mem, &err);
	if (!q->vq) {
		vpcie_warn(v->lg, "queue %u: %s (desc 0x%" PRIx64 " driver 0x%" PRIx64
			   " device 0x%" PRIx64 ")", n, strerror(-err), q->desc, q->driver, q->device);
		vpcie_virtio_needs_reset(v);
		return;
	}
	q->enabled = true;
	vpcie_dbg(v->lg, "queue %u: %u entries, vector %u", n, q->size, q->vector);
}

struct vpcie_virtq *vpcie_virtio_queue(struct vpcie_virtio *v, unsigned q)
{
	return q < v->desc.num_queues ? v->q[q].vq : NULL;
}

static bool queue_live(const struct vpcie_virtio *v, unsigned q)
{
	return q < v->desc.num_queues && v->q[q].vq &&
	       (v->status & (VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET)) ==
		       VIRTIO_CONFIG_S_DRIVER_OK;
}

static void queue_notified(struct vpcie_virtio *v, unsigned q)
{
	if (!queue_live(v, q)) {
		vpcie_dbg(v->lg, "notify for queue %u ignored (status 0x%x)", q, v->status);
		return;
	}
	if (!v->ops.queue_notify)
		return;
	v->serving++;
	v->ops.queue_notify(v, v->opaque, q);
	v->serving--;
	if (!v->serving && v->reset_pending)
		virtio_reset(v);
}

static void run_kicks(struct vpcie_dev *dev, void *opaque)
{
	struct vpcie_virtio *v = opaque;

	(void)dev;
	for (unsigned q = 0; q < v->desc.num_queues; q++) {
		if (v->q[q].kick) {
			v->q[q].kick = false;
			queue_notified(v, q);
		}
	}
}

int vpcie_virtio_kick(struct vpcie_virtio *v, unsigned q)
{
	if (q >= v->desc.num_queues)
		return -EINVAL;
	v->q[q].kick = true;
	if (v->kick_timer) {
		vpcie_dev_timer_arm(v->kick_timer, 0, 0);
		return 0;
	}
	v->kick_timer = vpcie_dev_timer_add(v->dev, 0, 0, run_kicks, v);
	return v->kick_timer ? 0 : -ENOMEM;
}

/* ---- Common configuration ---------------------------------------------------------- */

static void put16(uint8_t *img, unsigned off, uint16_t x)
{
	x = htole16(x);
	memcpy(img + off, &x, 2);
}

static void put32(uint8_t *img, unsigned off, uint32_t x)
{
	x = htole32(x);
	memcpy(img + off, &x, 4);
}

static uint32_t get(const uint8_t *img, unsigned off, unsigned size)
{
	uint32_t x = 0;

	memcpy(&x, img + off, size);
	return le32toh(x);
}

static uint32_t window(uint64_t bits, uint32_t select)
{
	return select < 2 ? (uint32_t)(bits >> (32 * select)) : 0;
}

/* The register file as the driver sees it now. */
static void common_image(const struct vpcie_virtio *v, uint8_t img[64])
{
	memset(img, 0, 64);
	put32(img, VIRTIO_PCI_COMMON_DFSELECT, v->dfselect);
	put32(img, VIRTIO_PCI_COMMON_DF, window(v->offered, v->dfselect));
	put32(img, VIRTIO_PCI_COMMON_GFSELECT, v->gfselect);
	put32(img, VIRTIO_PCI_COMMON_GF, window(v->driver_features, v->gfselect));
	put16(img, VIRTIO_PCI_COMMON_MSIX, v->msix_config);
	put16(img, VIRTIO_PCI_COMMON_NUMQ, (uint16_t)v->desc.num_queues);
	img[VIRTIO_PCI_COMMON_STATUS] = v->status;
	img[VIRTIO_PCI_COMMON_CFGGENERATION] = v->generation;
	put16(img, VIRTIO_PCI_COMMON_Q_SELECT, v->queue_select);
	if (v->queue_select < v->desc.num_queues) {
		const struct queue_regs *q = &v->q[v->queue_select];

		put16(img, VIRTIO_PCI_COMMON_Q_SIZE, q->size);
		put16(img, VIRTIO_PCI_COMMON_Q_MSIX, q->vector);
		put16(img, VIRTIO_PCI_COMMON_Q_ENABLE, q->enabled);
		put16(img, VIRTIO_PCI_COMMON_Q_NOFF, v->queue_select);
		put32(img, VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)q->desc);
		put32(img, VIRTIO_PCI_COMMON_Q_DESCHI, (uint32_t)(q->desc >> 32));
		put32(img, VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)q->driver);
		put32(img, VIRTIO_PCI_COMMON_Q_AVAILHI, (uint32_t)(q->driver >> 32));
		put32(img, VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)q->device);
		put32(img, VIRTIO_PCI_COMMON_Q_USEDHI, (uint32_t)(q->device >> 32));
	}
}

static uint16_t valid_vector(const struct vpcie_virtio *v, uint32_t vec)
{
	/* A vector we do not have reads back as NO_VECTOR: the driver checks. */
	return vec < v->nvec ? (uint16_t)vec : VIRTIO_MSI_NO_VECTOR;
}

static void set_addr(uint64_t *a, bool high, uint32_t x)
{
	*a = high ? (*a & 0xffffffffull) | (uint64_t)x << 32 : (*a & ~0xffffffffull) | x;
}

/* One register written with value x. */
static void common_field(struct vpcie_virtio *v, unsigned off, uint32_t x)
{
	struct queue_regs *q = v->queue_select < v->desc.num_queues ? &v->q[v->queue_select] : NULL;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		v->dfselect = x;
		return;
	case VIRTIO_PCI_COMMON_GFSELECT:
		v->gfselect = x;
		return;
	case VIRTIO_PCI_COMMON_GF:
		if (v->status & VIRTIO_CONFIG_S_FEATURES_OK)
			return; /* frozen once accepted */
		if (v->gfselect < 2)
			v->driver_features = (v->driver_features & ~(0xffffffffull << (32 * v->gfselect))) |
					     (uint64_t)x << (32 * v->gfselect);
		return;
	case VIRTIO_PCI_COMMON_MSIX:
		v->msix_config = valid_vector(v, x);
		return;
	case VIRTIO_PCI_COMMON_STATUS:
		set_status(v, (uint8_t)x);
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		v->queue_select = (uint16_t)x;
		return;
	}
	if (!q)
		return;
	if (off == VIRTIO_PCI_COMMON_Q_MSIX) {
		q->vector = valid_vector(v, x);
		return;
	}
	if (q->enabled) {
		vpcie_dbg(v->lg, "queue %u is enabled: write to 0x%x ignored", v->queue_select, off);
		return;
	}
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE: q->size = (uint16_t)x; break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (x == 1)
			enable_queue(v, v->queue_select);
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO: set_addr(&q->desc, false, x); break;
	case VIRTIO_PCI_COMMON_Q_DESCHI: set_addr(&q->desc, true, x); break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO: set_addr(&q->driver, false, x); break;
	case VIRTIO_PCI_COMMON_Q_AVAILHI: set_addr(&q->driver, true, x); break;
	case VIRTIO_PCI_COMMON_Q_USEDLO: set_addr(&q->device, false, x); break;
	case VIRTIO_PCI_COMMON_Q_USEDHI: set_addr(&q->device, true, x); break;
	default: break; /* read-only, or queue_reset (not offered) */
	}
}

/* Writable registers in address order: offset and width. */
static const struct { uint8_t off, size; } common_regs[] = {
	{VIRTIO_PCI_COMMON_DFSELECT, 4}, {VIRTIO_PCI_COMMON_GFSELECT, 4},
	{VIRTIO_PCI_COMMON_GF, 4},       {VIRTIO_PCI_COMMON_MSIX, 2},
	{VIRTIO_PCI_COMMON_STATUS, 1},   {VIRTIO_PCI_COMMON_Q_SELECT, 2},
	{VIRTIO_PCI_COMMON_Q_SIZE, 2},   {VIRTIO_PCI_COMMON_Q_MSIX, 2},
	{VIRTIO_PCI_COMMON_Q_DESCLO, 4}, {VIRTIO_PCI_COMMON_Q_DESCHI, 4},
	{VIRTIO_PCI_COMMON_Q_AVAILLO, 4}, {VIRTIO_PCI_COMMON_Q_AVAILHI, 4},
	{VIRTIO_PCI_COMMON_Q_USEDLO, 4}, {VIRTIO_PCI_COMMON_Q_USEDHI, 4},
	/* Enable last: a wide write that also sets addresses applies them first. */
	{VIRTIO_PCI_COMMON_Q_ENABLE, 2},
};

static void common_write(struct vpcie_virtio *v, unsigned off, const uint8_t *buf, size_t len)
{
	uint8_t img[64];

	if (off >= sizeof(img) || v->reset_pending)
		return;
	if (len > sizeof(img) - off)
		len = sizeof(img) - off;
	/* Partial writes merge into the current values. */
	common_image(v, img);
	memcpy(img + off, buf, len);
	for (unsigned i = 0; i < sizeof(common_regs) / sizeof(common_regs[0]); i++) {
		unsigned r = common_regs[i].off, n = common_regs[i].size;

		if (r < off + len && off < r + n)
			common_field(v, r, get(img, r, n));
	}
}

/* ---- BAR0 ---------------------------------------------------------------------------- */

static bool inside(uint64_t off, size_t len, uint64_t base, uint64_t size)
{
	return off >= base && len <= size && off - base <= size - len;
}

/* peek: no side effects (the PCI_CFG window reads ahead of the driver). */
static void bar_read_bytes(struct vpcie_virtio *v, uint64_t off, uint8_t *buf, size_t len,
			   bool peek)
{
	memset(buf, 0, len);
	if (inside(off, len, VPCIE_VIRTIO_COMMON_OFF, 0x1000)) {
		uint8_t img[64];
		uint64_t o = off - VPCIE_VIRTIO_COMMON_OFF;

		common_image(v, img);
		if (o < sizeof(img))
			memcpy(buf, img + o, len < sizeof(img) - o ? len : sizeof(img) - o);
	} else if (inside(off, len, VPCIE_VIRTIO_ISR_OFF, 0x1000)) {
		if (off == VPCIE_VIRTIO_ISR_OFF) {
			buf[0] = v->isr;
			if (!peek && v->isr) {
				v->isr = 0;
				if (vpcie_dev_irq_mode(v->dev) == VPCIE_IRQ_INTX)
					vpcie_dev_irq_intx(v->dev, false);
			}
		}
	} else if (inside(off, len, VPCIE_VIRTIO_DEVCFG_OFF, 0x1000)) {
		uint64_t o = off - VPCIE_VIRTIO_DEVCFG_OFF;

		if (o < v->desc.config_size)
			memcpy(buf, v->config + o,
			       len < v->desc.config_size - o ? len : v->desc.config_size - o);
	}
	/* notify area and holes read as zero */
}

static void bar_write_bytes(struct vpcie_virtio *v, uint64_t off, const uint8_t *buf, size_t len)
{
	if (inside(off, len, VPCIE_VIRTIO_COMMON_OFF, 0x1000)) {
		common_write(v, (unsigned)(off - VPCIE_VIRTIO_COMMON_OFF), buf, len);
	} else if (inside(off, len, VPCIE_VIRTIO_NOTIFY_OFF, 0x1000)) {
		uint64_t q = (off - VPCIE_VIRTIO_NOTIFY_OFF) / VPCIE_VIRTIO_NOTIFY_MULT;

		if (q >= v->desc.num_queues)
			return;
		/* Rings reached through DMA messages: served from the kick timer,
		 * once this write is answered - the host may serve our DMA only
		 * after its vCPU is done with this access (vpcie_dev_dma_read() in
		 * vpcie/device.h). With the rings mapped, at once. */
		if (v->q[q].vq && !vpcie_dev_dma_ptr(v->dev, v->q[q].desc, 1, false))
			vpcie_virtio_kick(v, (unsigned)q);
		else
			queue_notified(v, (unsigned)q);
	} else if (inside(off, len, VPCIE_VIRTIO_DEVCFG_OFF, 0x1000)) {
		uint64_t o = off - VPCIE_VIRTIO_DEVCFG_OFF;

		if (!v->ops.config_write || o >= v->desc.config_size)
			return;
		if (len > v->desc.config_size - o)
			len = (size_t)(v->desc.config_size - o);
		memcpy(v->config + o, buf, len);
		v->ops.config_write(v, v->opaque, (unsigned)o, len);
	}
	/* ISR is read-only; writes elsewhere are ignored */
}

static int bar_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	(void)dev;
	bar_read_bytes(opaque, off, buf, len, false);
	return 0;
}

static int bar_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf, size_t len)
{
	(void)dev;
	bar_write_bytes(opaque, off, buf, len);
	return 0;
}

/* ---- Device runtime callbacks --------------------------------------------------------- */

static void on_reset(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind)
{
	(void)dev;
	(void)kind;
	virtio_reset(opaque);
}

static void on_disconnect(struct vpcie_dev *dev, void *opaque)
{
	struct vpcie_virtio *v = opaque;

	(void)dev;
	/* The rings lived in the departed client's memory. */
	if (v->status)
		virtio_reset(v);
}

/* The PCI configuration access window (virtio_pci_cfg_cap). */
#define PCICFG_BAR (offsetof(struct virtio_pci_cap, bar))
#define PCICFG_OFFSET (offsetof(struct virtio_pci_cap, offset))
#define PCICFG_LENGTH (offsetof(struct virtio_pci_cap, length))
#define PCICFG_DATA (offsetof(struct virtio_pci_cfg_cap, pci_cfg_data))

static void on_cfg_written(struct vpcie_dev *dev, void *opaque, unsigned off, size_t len)
{
	struct vpcie_virtio *v = opaque;
	struct vpcie_cfg *cfg = vpcie_dev_cfg(dev);
	unsigned base = v->pcicfg_off;
	uint32_t boff, blen;
	uint8_t data[4];

	if (!base || off >= base + PCICFG_DATA + 4 || off + len <= base + PCICFG_BAR)
		return;
	boff = vpcie_cfg_get32(cfg, base + PCICFG_OFFSET);
	blen = vpcie_cfg_get32(cfg, base + PCICFG_LENGTH);
	if (vpcie_cfg_get8(cfg, base + PCICFG_BAR) != VPCIE_VIRTIO_BAR ||
	    (blen != 1 && blen != 2 && blen != 4) || boff % blen ||
	    !inside(boff, blen, 0, VPCIE_VIRTIO_BAR_SIZE))
		return;
	if (off + len > base + PCICFG_DATA) {
		vpcie_cfg_read(cfg, base + PCICFG_DATA, data, blen);
		bar_write_bytes(v, boff, data, blen);
	} else {
		/* Window moved: fetch what a read of pci_cfg_data returns. */
		bar_read_bytes(v, boff, data, blen, true);
		for (unsigned i = 0; i < blen; i++)
			vpcie_cfg_set8(cfg, base + PCICFG_DATA + i, data[i]);
	}
}

/* ---- Construction ---------------------------------------------------------------------- */

static int add_virtio_cap(struct vpcie_virtio *v, uint8_t type, uint32_t off, uint32_t len,
			  const void *extra, size_t extra_len)
{
	struct virtio_pci_cap cap = {
		.cfg_type = type,
		.bar = VPCIE_VIRTIO_BAR,
		.offset = htole32(off),
		.length = htole32(len),
	};
	uint8_t buf[sizeof(cap) + 4];
	const size_t hdr = offsetof(struct virtio_pci_cap, cfg_type); /* id, next, len */

	memcpy(buf, &cap, sizeof(cap));
	if (extra_len)
		memcpy(buf + sizeof(cap), extra, extra_len);
	return vpcie_dev_add_vendor_cap(v->dev, buf + hdr, (uint8_t)(sizeof(cap) + extra_len - hdr));
}

static int add_caps(struct vpcie_virtio *v)
{
	uint32_t mult = htole32(VPCIE_VIRTIO_NOTIFY_MULT);
	uint8_t zero[4] = {0};
	struct vpcie_cfg *cfg = vpcie_dev_cfg(v->dev);
	int off;

	if (vpcie_dev_add_pm(v->dev) < 0 || vpcie_dev_add_pcie(v->dev, true) < 0)
		return -ENOSPC;
	if (vpcie_dev_add_msix(v->dev, v->nvec, VPCIE_VIRTIO_BAR, VPCIE_VIRTIO_MSIX_TABLE_OFF,
			       VPCIE_VIRTIO_BAR, VPCIE_VIRTIO_MSIX_PBA_OFF) < 0)
		return -EINVAL;
	if (add_virtio_cap(v, VIRTIO_PCI_CAP_COMMON_CFG, VPCIE_VIRTIO_COMMON_OFF,
			   VPCIE_VIRTIO_COMMON_LEN, NULL, 0) < 0 ||
	    add_virtio_cap(v, VIRTIO_PCI_CAP_NOTIFY_CFG, VPCIE_VIRTIO_NOTIFY_OFF,
			   v->desc.num_queues * VPCIE_VIRTIO_NOTIFY_MULT, &mult, sizeof(mult)) < 0 ||
	    add_virtio_cap(v, VIRTIO_PCI_CAP_ISR_CFG, VPCIE_VIRTIO_ISR_OFF, 1, NULL, 0) < 0)
		return -ENOSPC;
	if (v->desc.config_size &&
	    add_virtio_cap(v, VIRTIO_PCI_CAP_DEVICE_CFG, VPCIE_VIRTIO_DEVCFG_OFF,
			   (uint32_t)v->desc.config_size, NULL, 0) < 0)
		return -ENOSPC;
	off = add_virtio_cap(v, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, zero, sizeof(zero));
	if (off < 0)
		return -ENOSPC;
	/* The window's bar, offset, length and data are the driver's to write. */
	v->pcicfg_off = (unsigned)off;
	vpcie_cfg_set_wmask(cfg, v->pcicfg_off + PCICFG_BAR, 1, 0xff);
	vpcie_cfg_set_wmask(cfg, v->pcicfg_off + PCICFG_OFFSET, 4, 0xffffffffu);
	vpcie_cfg_set_wmask(cfg, v->pcicfg_off + PCICFG_LENGTH, 4, 0xffffffffu);
	vpcie_cfg_set_wmask(cfg, v->pcicfg_off + PCICFG_DATA, 4, 0xffffffffu);
	return 0;
}

struct vpcie_virtio *vpcie_virtio_new_sized(const struct vpcie_virtio_desc *descp,
					    size_t desc_size, const struct vpcie_virtio_ops *ops,
					    size_t ops_size, void *opaque,
					    const struct vpcie_dev_opts *dev_opts, size_t opts_size)
{
	struct vpcie_virtio_desc dc = {0};
	const struct vpcie_virtio_desc *desc = &dc;
	static const struct vpcie_dev_ops dev_ops = {
		.reset = on_reset,
		.disconnect = on_disconnect,
		.cfg_written = on_cfg_written,
	};
	static const struct vpcie_bar_ops bar_ops = {bar_read, bar_write};
	struct vpcie_ids ids;
	struct vpcie_virtio *v;
	int rc;

	if (!descp || vpcie_abi_copy(&dc, sizeof(dc), descp, desc_size) ||
	    desc->num_queues < 1 || desc->num_queues > VPCIE_VIRTIO_MAX_QUEUES ||
	    desc->queue_size == 0 || (desc->queue_size & (desc->queue_size - 1)) ||
	    desc->queue_size > VPCIE_VIRTQ_MAX_SIZE ||
	    desc->config_size > VPCIE_VIRTIO_MAX_CONFIG) {
		errno = EINVAL;
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->desc = *desc;
	if (ops && vpcie_abi_copy(&v->ops, sizeof(v->ops), ops, ops_size)) {
		free(v);
		errno = EINVAL;
		return NULL;
	}
	v->opaque = opaque;
	/* Bits 24..49 belong to the transport: keep only those we implement. */
	v->offered = (desc->features & ~(((1ull << 50) - 1) & ~((1ull << 24) - 1))) |
		     (desc->features & VPCIE_VIRTIO_F_TRANSPORT) | (1ull << VIRTIO_F_VERSION_1);
	v->nvec = desc->num_queues + 1;
	v->q = calloc(desc->num_queues, sizeof(*v->q));
	v->config = calloc(1, desc->config_size ? desc->config_size : 1);
	if (!v->q || !v->config)
		goto fail;
	ids = (struct vpcie_ids){
		.vendor = VPCIE_VIRTIO_VENDOR,
		.device = (uint16_t)(VPCIE_VIRTIO_PCI_DEVICE_BASE + desc->device_id),
		.subsys_vendor = VPCIE_VIRTIO_VENDOR,
		.subsys = desc->subsys ? desc->subsys : 0x1100,
		.class_code = desc->class_code,
		.revision = 1, /* a modern (non-transitional) device */
	};
	v->dev = vpcie_dev_new_sized(&ids, sizeof(ids), &dev_ops, sizeof(dev_ops), v, dev_opts,
				     opts_size);
	if (!v->dev)
		goto fail;
	v->lg = vpcie_dev_logger(v->dev);
	rc = vpcie_dev_set_bar(v->dev, VPCIE_VIRTIO_BAR, &(struct vpcie_bar_desc){
		.size = VPCIE_VIRTIO_BAR_SIZE, .kind = VPCIE_BAR_MEM32, .ops = &bar_ops, .opaque = v});
	if (!rc)
		rc = add_caps(v);
	if (rc) {
		errno = -rc;
		goto fail;
	}
	reset_state(v);
	return v;
fail:
	rc = errno;
	vpcie_virtio_free(v);
	errno = rc;
	return NULL;
}

void vpcie_virtio_free(struct vpcie_virtio *v)
{
	if (!v)
		return;
	/* No callbacks into the program from here on (dropping the client
	 * resets the virtio state through on_disconnect). */
	memset(&v->ops, 0, sizeof(v->ops));
	vpcie_dev_free(v->dev); /* also frees the kick timer */
	if (v->q)
		for (unsigned i = 0; i < v->desc.num_queues; i++)
			vpcie_virtq_free(v->q[i].vq);
	free(v->q);
	free(v->config);
	free(v);
}

struct vpcie_dev *vpcie_virtio_dev(struct vpcie_virtio *v)
{
	return v->dev;
}

void *vpcie_virtio_config(struct vpcie_virtio *v)
{
	return v->config;
}

uint8_t vpcie_virtio_status(const struct vpcie_virtio *v)
{
	return v->status;
}

uint64_t vpcie_virtio_features(const struct vpcie_virtio *v)
{
	return v->status & VIRTIO_CONFIG_S_FEATURES_OK ? v->driver_features : 0;
}

unsigned vpcie_virtio_num_queues(const struct vpcie_virtio *v)
{
	return v->desc.num_queues;
}
