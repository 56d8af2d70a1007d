/* SPDX-License-Identifier: MIT */
/*
 * Interrupts: the eventfds the client attached with SET_IRQS, and the PCI
 * rules for when a raised vector may be signalled.
 *
 * Masks come from three places: config space (MSI per-vector mask bits,
 * MSI-X function mask, INTx Disable), the MSI-X table in a BAR, and the
 * client's SET_IRQS MASK/UNMASK actions (vfio INTx is also auto-masked after
 * each signal). A vector raised while masked becomes pending and is signalled
 * when the last mask goes away.
 *
 * QEMU emulates the MSI-X table itself and never forwards table writes; it
 * applies the guest's masks on its side of the eventfd. So a vector's table
 * mask bit is honoured only once the client has written that vector's
 * control word: a client that drives the table (our host runtime, a Linux-like
 * driver) gets PCI semantics, and QEMU gets raw eventfds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_priv.h"

static void close_all(int *fds, unsigned n)
{
	if (!fds)
		return;
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static int *new_fd_array(unsigned n)
{
	int *a = malloc(n * sizeof(int));

	if (a)
		for (unsigned i = 0; i < n; i++)
			a[i] = -1;
	return a;
}

int dev_irq_setup(struct vpcie_dev *dev)
{
	dev->irqs[VFIO_PCI_INTX_IRQ_INDEX].count =
		vpcie_cfg_get8(&dev->cfg, PCI_INTERRUPT_PIN) ? 1 : 0;
	dev->irqs[VFIO_PCI_MSI_IRQ_INDEX].count = dev->msi_nvec;
	dev->irqs[VFIO_PCI_MSIX_IRQ_INDEX].count = dev->msix_nvec;
	for (unsigned i = 0; i < DEV_NUM_IRQS; i++) {
		struct dev_irq *q = &dev->irqs[i];

		if (!q->count)
			continue;
		q->trigger = new_fd_array(q->count);
		q->mask_ev = new_fd_array(q->count);
		q->unmask_ev = new_fd_array(q->count);
		q->client_masked = calloc(q->count, 1);
		if (!q->trigger || !q->mask_ev || !q->unmask_ev || !q->client_masked)
			return -ENOMEM;
	}
	dev_irq_reset_state(dev);
	return 0;
}

void dev_irq_drop_fds(struct vpcie_dev *dev, unsigned index)
{
	struct dev_irq *q = &dev->irqs[index];

	close_all(q->trigger, q->count);
	close_all(q->mask_ev, q->count);
	close_all(q->unmask_ev, q->count);
	if (q->client_masked)
		memset(q->client_masked, 0, q->count);
}

void dev_irq_free(struct vpcie_dev *dev)
{
	for (unsigned i = 0; i < DEV_NUM_IRQS; i++) {
		struct dev_irq *q = &dev->irqs[i];

		dev_irq_drop_fds(dev, i);
		free(q->trigger);
		free(q->mask_ev);
		free(q->unmask_ev);
		free(q->client_masked);
		memset(q, 0, sizeof(*q));
	}
	free(dev->msix_table);
	free(dev->msix_ctrl_written);
	free(dev->msix_pending);
}

void dev_irq_reset_state(struct vpcie_dev *dev)
{
	for (unsigned v = 0; v < dev->msix_nvec; v++) {
		uint8_t *e = dev->msix_table + v * PCI_MSIX_ENTRY_SIZE;
		uint32_t ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;

		memset(e, 0, PCI_MSIX_ENTRY_SIZE);
		memcpy(e + PCI_MSIX_ENTRY_VECTOR_CTRL, &ctrl, sizeof(ctrl));
	}
	if (dev->msix_nvec) {
		memset(dev->msix_ctrl_written, 0, dev->msix_nvec);
		memset(dev->msix_pending, 0, ((dev->msix_nvec + 63) / 64) * sizeof(uint64_t));
	}
	dev->intx_level = dev->intx_pending = false;
	dev->msi_pending = 0;
	for (unsigned i = 0; i < DEV_NUM_IRQS; i++)
		if (dev->irqs[i].client_masked)
			memset(dev->irqs[i].client_masked, 0, dev->irqs[i].count);
}

uint32_t dev_irq_info_flags(unsigned index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
	case VFIO_PCI_MSI_IRQ_INDEX:
		return VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
	default:
		return VFIO_IRQ_INFO_EVENTFD;
	}
}

static void notify(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* eventfd counter overflow is the only failure: nothing to do */
	}
}

/* Fire vector n of index, whose eventfd fd the client attached: as a ring
 * notice when the ring is up and has room, else through the eventfd. */
static void trigger(struct vpcie_dev *dev, unsigned index, unsigned n, int fd)
{
	if (dev->ring && dev_ring_irq(dev, index, n) == 0)
		return;
	notify(fd);
}

/* Signal the client's eventfd for vector n of index. */
static int deliver(struct vpcie_dev *dev, unsigned index, unsigned n)
{
	int fd = dev->irqs[index].trigger[n];

	if (fd < 0) {
		vpcie_dbg(&dev->log, "vector %u of irq index %u has no eventfd: lost", n, index);
		return -ENOENT;
	}
	trigger(dev, index, n, fd);
	return 0;
}

/* ---- Mode and masks from config space ------------------------------------ */

static uint16_t msi_flags(const struct vpcie_dev *dev)
{
	return dev->msi_off ? vpcie_cfg_get16(&dev->cfg, dev->msi_off + PCI_MSI_FLAGS) : 0;
}

static uint16_t msix_flags(const struct vpcie_dev *dev)
{
	return dev->msix_off ? vpcie_cfg_get16(&dev->cfg, dev->msix_off + PCI_MSIX_FLAGS) : 0;
}

enum vpcie_irq_mode vpcie_dev_irq_mode(struct vpcie_dev *dev)
{
	if (msix_flags(dev) & PCI_MSIX_FLAGS_ENABLE)
		return VPCIE_IRQ_MSIX;
	if (msi_flags(dev) & PCI_MSI_FLAGS_ENABLE)
		return VPCIE_IRQ_MSI;
	if (dev->irqs[VFIO_PCI_INTX_IRQ_INDEX].count)
		return VPCIE_IRQ_INTX;
	return VPCIE_IRQ_NONE;
}

static unsigned msi_enabled_vectors(const struct vpcie_dev *dev)
{
	unsigned n = 1u << ((msi_flags(dev) & PCI_MSI_FLAGS_QSIZE) >> 4);

	return n > dev->msi_nvec ? dev->msi_nvec : n;
}

unsigned vpcie_dev_irq_vectors(struct vpcie_dev *dev)
{
	switch (vpcie_dev_irq_mode(dev)) {
	case VPCIE_IRQ_MSIX:
		return dev->msix_nvec;
	case VPCIE_IRQ_MSI:
		return msi_enabled_vectors(dev);
	case VPCIE_IRQ_INTX:
		return 1;
	default:
		return 0;
	}
}

/* Mask or Pending Bits register; only a maskable capability has them. */
static unsigned msi_reg(const struct vpcie_dev *dev, bool pending)
{
	bool is64 = msi_flags(dev) & PCI_MSI_FLAGS_64BIT;

	if (pending)
		return dev->msi_off + (is64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32);
	return dev->msi_off + (is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
}

/* Pending MSI vectors: in the capability's Pending Bits when it has them
 * (the host can read them there), else (a vector the client masked with
 * SET_IRQS) in the device's own word - never in config bytes past the
 * capability. */
static uint32_t msi_pending(const struct vpcie_dev *dev)
{
	if (msi_flags(dev) & PCI_MSI_FLAGS_MASKBIT)
		return vpcie_cfg_get32(&dev->cfg, msi_reg(dev, true));
	return dev->msi_pending;
}

static void msi_set_pending(struct vpcie_dev *dev, uint32_t bits)
{
	if (msi_flags(dev) & PCI_MSI_FLAGS_MASKBIT)
		vpcie_cfg_set32(&dev->cfg, msi_reg(dev, true), bits);
	else
		dev->msi_pending = bits;
}

static bool msi_masked(const struct vpcie_dev *dev, unsigned n)
{
	if (dev->irqs[VFIO_PCI_MSI_IRQ_INDEX].client_masked[n])
		return true;
	if (!(msi_flags(dev) & PCI_MSI_FLAGS_MASKBIT))
		return false;
	return vpcie_cfg_get32(&dev->cfg, msi_reg(dev, false)) & (1u << n);
}

static uint32_t msix_ctrl(const struct vpcie_dev *dev, unsigned n)
{
	uint32_t c;

	memcpy(&c, dev->msix_table + n * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL, 4);
	return c;
}

static bool msix_masked(const struct vpcie_dev *dev, unsigned n)
{
	return (msix_flags(dev) & PCI_MSIX_FLAGS_MASKALL) ||
	       dev->irqs[VFIO_PCI_MSIX_IRQ_INDEX].client_masked[n] ||
	       (dev->msix_ctrl_written[n] && (msix_ctrl(dev, n) & PCI_MSIX_ENTRY_CTRL_MASKBIT));
}

static bool bus_master(const struct vpcie_dev *dev)
{
	return vpcie_cfg_get16(&dev->cfg, PCI_COMMAND) & PCI_COMMAND_MASTER;
}

/* ---- INTx ---------------------------------------------------------------- */

static void intx_update(struct vpcie_dev *dev)
{
	struct dev_irq *q = &dev->irqs[VFIO_PCI_INTX_IRQ_INDEX];
	uint16_t status = vpcie_cfg_get16(&dev->cfg, PCI_STATUS);
	bool want = dev->intx_level || dev->intx_pending;

	if (!q->count)
		return;
	/* Interrupt Status reflects the device's line, whatever the masks say. */
	vpcie_cfg_set16(&dev->cfg, PCI_STATUS,
			want ? status | PCI_STATUS_INTERRUPT : status & ~PCI_STATUS_INTERRUPT);
	if (!want || q->client_masked[0] || q->trigger[0] < 0 ||
	    (vpcie_cfg_get16(&dev->cfg, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) ||
	    vpcie_dev_irq_mode(dev) != VPCIE_IRQ_INTX)
		return;
	trigger(dev, VFIO_PCI_INTX_IRQ_INDEX, 0, q->trigger[0]);
	/* vfio INTx is auto-masked: the client unmasks after servicing it. */
	q->client_masked[0] = 1;
	notify(q->mask_ev[0]);
	dev->intx_pending = false;
	if (!dev->intx_level)
		vpcie_cfg_set16(&dev->cfg, PCI_STATUS,
				vpcie_cfg_get16(&dev->cfg, PCI_STATUS) & ~PCI_STATUS_INTERRUPT);
}

int vpcie_dev_irq_intx(struct vpcie_dev *dev, bool asserted)
{
	if (!dev->irqs[VFIO_PCI_INTX_IRQ_INDEX].count)
		return -ENODEV;
	dev->intx_level = asserted;
	intx_update(dev);
	return 0;
}

/* ---- Raising and pending delivery ----------------------------------------- */

int vpcie_dev_irq_raise(struct vpcie_dev *dev, unsigned n)
{
	if (!dev->chan || !dev->negotiated)
		return -ENOTCONN;
	switch (vpcie_dev_irq_mode(dev)) {
	case VPCIE_IRQ_MSIX:
		if (n >= dev->msix_nvec)
			return -EINVAL;
		if (!bus_master(dev))
			return -EPERM;
		if (msix_masked(dev, n)) {
			dev->msix_pending[n / 64] |= 1ull << (n % 64);
			return 0;
		}
		return deliver(dev, VFIO_PCI_MSIX_IRQ_INDEX, n);
	case VPCIE_IRQ_MSI:
		if (n >= msi_enabled_vectors(dev))
			return -EINVAL;
		if (!bus_master(dev))
			return -EPERM;
		if (msi_masked(dev, n)) {
			msi_set_pending(dev, msi_pending(dev) | (1u << n));
			return 0;
		}
		return deliver(dev, VFIO_PCI_MSI_IRQ_INDEX, n);
	case VPCIE_IRQ_INTX:
		if (n != 0)
			return -EINVAL;
		dev->intx_pending = true; /* a pulse: delivered now or on unmask */
		intx_update(dev);
		return 0;
	default:
		return -ENODEV;
	}
}

bool vpcie_dev_irq_pending(struct vpcie_dev *dev, unsigned n)
{
	switch (vpcie_dev_irq_mode(dev)) {
	case VPCIE_IRQ_MSIX:
		return n < dev->msix_nvec && (dev->msix_pending[n / 64] >> (n % 64)) & 1;
	case VPCIE_IRQ_MSI:
		return n < msi_enabled_vectors(dev) && (msi_pending(dev) >> n) & 1;
	case VPCIE_IRQ_INTX:
		return dev->intx_pending;
	default:
		return false;
	}
}

void dev_irq_update(struct vpcie_dev *dev)
{
	enum vpcie_irq_mode mode = vpcie_dev_irq_mode(dev);

	intx_update(dev);
	if (!bus_master(dev))
		return;
	if (mode == VPCIE_IRQ_MSIX) {
		for (unsigned w = 0; w < (dev->msix_nvec + 63) / 64; w++) {
			uint64_t bits = dev->msix_pending[w];

			while (bits) {
				unsigned n = w * 64 + (unsigned)__builtin_ctzll(bits);

				bits &= bits - 1;
				if (!msix_masked(dev, n)) {
					dev->msix_pending[w] &= ~(1ull << (n % 64));
					deliver(dev, VFIO_PCI_MSIX_IRQ_INDEX, n);
				}
			}
		}
	} else if (mode == VPCIE_IRQ_MSI) {
		uint32_t pend = msi_pending(dev);

		for (unsigned n = 0; n < msi_enabled_vectors(dev); n++) {
			if ((pend & (1u << n)) && !msi_masked(dev, n)) {
				pend &= ~(1u << n);
				msi_set_pending(dev, pend);
				deliver(dev, VFIO_PCI_MSI_IRQ_INDEX, n);
			}
		}
	}
}

/* ---- SET_IRQS ------------------------------------------------------------- */

static int set_eventfds(struct vpcie_dev *dev, struct dev_irq *q, int *arr,
			const struct vpcie_irq_set *s, struct vpcie_msg *msg)
{
	if (msg->nfds == 0) {
		close_all(arr + s->start, s->count); /* no fds: de-assign the range */
		return 0;
	}
	if (msg->nfds != s->count)
		return -EINVAL;
	for (unsigned i = 0; i < s->count; i++) {
		int fd = vpcie_msg_take_fd(msg, i);

		if (arr[s->start + i] >= 0)
			close(arr[s->start + i]);
		arr[s->start + i] = fd;
	}
	(void)q;
	dev_irq_update(dev); /* e.g. an INTx line already asserted */
	return 0;
}

int dev_set_irqs(struct vpcie_dev *dev, const struct vpcie_irq_set *s, struct vpcie_msg *msg)
{
	uint32_t data = s->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t action = s->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	struct dev_irq *q;

	if (s->index >= DEV_NUM_IRQS)
		return -EINVAL;
	q = &dev->irqs[s->index];
	if (action == VFIO_IRQ_SET_ACTION_TRIGGER && data == VFIO_IRQ_SET_DATA_NONE &&
	    s->count == 0) {
		dev_irq_drop_fds(dev, s->index); /* disable the whole index */
		return 0;
	}
	if (!q->count || s->count == 0 || s->start >= q->count || s->count > q->count - s->start)
		return -EINVAL;
	if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
		int *arr = action == VFIO_IRQ_SET_ACTION_TRIGGER ? q->trigger
			   : action == VFIO_IRQ_SET_ACTION_MASK  ? q->mask_ev
								 : q->unmask_ev;

		return set_eventfds(dev, q, arr, s, msg);
	}
	if (msg->nfds)
		return -EINVAL;
	for (unsigned i = 0; i < s->count; i++) {
		unsigned v = s->start + i;

		if (data == VFIO_IRQ_SET_DATA_BOOL && !s->data[i])
			continue;
		if (action == VFIO_IRQ_SET_ACTION_MASK) {
			q->client_masked[v] = 1;
			notify(q->mask_ev[v]);
		} else if (action == VFIO_IRQ_SET_ACTION_UNMASK) {
			q->client_masked[v] = 0;
			notify(q->unmask_ev[v]);
		} else if (s->index == VFIO_PCI_INTX_IRQ_INDEX) {
			dev->intx_pending = true; /* loopback trigger through the line */
		} else {
			deliver(dev, s->index, v);
		}
	}
	dev_irq_update(dev);
	return 0;
}

/* ---- MSI-X table and PBA in a BAR ------------------------------------------ */

int dev_msix_access(struct vpcie_dev *dev, unsigned bar, uint64_t off, void *buf,
		    size_t len, bool write, bool *handled)
{
	uint64_t tlen = (uint64_t)dev->msix_nvec * PCI_MSIX_ENTRY_SIZE;
	uint64_t plen = ((dev->msix_nvec + 63) / 64) * 8;

	*handled = false;
	if (!dev->msix_nvec)
		return 0;
	if (bar == dev->msix_table_bar && off >= dev->msix_table_off &&
	    off - dev->msix_table_off + len <= tlen) {
		uint64_t rel = off - dev->msix_table_off;

		*handled = true;
		if (!write) {
			memcpy(buf, dev->msix_table + rel, len);
			return 0;
		}
		memcpy(dev->msix_table + rel, buf, len);
		for (uint64_t v = rel / PCI_MSIX_ENTRY_SIZE; v <= (rel + len - 1) / PCI_MSIX_ENTRY_SIZE; v++) {
			uint64_t c = v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL;

			if (rel < c + 4 && c < rel + len)
				dev->msix_ctrl_written[v] = 1;
		}
		dev_irq_update(dev);
		return 0;
	}
	if (bar == dev->msix_pba_bar && off >= dev->msix_pba_off &&
	    off - dev->msix_pba_off + len <= plen) {
		*handled = true;
		if (!write) /* PBA is read-only; the host byte order is the wire's */
			memcpy(buf, (uint8_t *)dev->msix_pending + (off - dev->msix_pba_off), len);
		return 0;
	}
	return 0;
}
