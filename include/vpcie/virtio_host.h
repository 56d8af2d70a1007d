/* SPDX-License-Identifier: MIT */
/*
 * vpcie/virtio_host.h - the driver side of virtio, for tests without a VM.
 *
 * 1. Driver rings (struct vpcie_vring): a split or packed virtqueue in the
 *    driver's own memory - adding buffers (direct chains or one indirect
 *    table), deciding whether to notify (the device's suppression state),
 *    collecting used buffers, and asking for interrupts (flags or event
 *    index). It works on any memory: host memory registered with the device
 *    (below), or a plain buffer in unit tests next to the device side of
 *    <vpcie/virtio.h>. A few "raw" calls let tests publish descriptors that
 *    break the rules on purpose.
 *
 * 2. The host driver (struct vpcie_virtio_drv): brings a virtio PCI modern
 *    device up through a vpcie_host handle the way Linux's virtio_pci does -
 *    finds the virtio capabilities, enables MSI-X (a vector for configuration
 *    changes and one per queue) or INTx, resets, negotiates features, sets up
 *    queues in host memory (shared with the device by fd, or reached by DMA
 *    messages), sets DRIVER_OK - then submits buffers, notifies, and waits
 *    for completions while serving the device's DMA requests.
 *
 * Nothing here trusts the device either: a used element naming a buffer
 * that is not in flight makes vpcie_vring_get_used() fail with -EPROTO.
 *
 * Threads: none; one handle per thread.
 */
#ifndef VPCIE_VIRTIO_HOST_H
#define VPCIE_VIRTIO_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include <vpcie/host.h>
#include <vpcie/virtio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== */
/* Driver rings                                                              */
/* ======================================================================== */

struct vpcie_vring;

struct vpcie_vring_config {
	enum vpcie_virtq_layout layout;
	uint16_t size;           /* split: a power of two; 1..32768 */
	void *mem;               /* vpcie_vring_mem_size() bytes, 16-byte aligned */
	uint64_t iova;           /* the device's address for mem (16-byte aligned) */
	unsigned indirect_max;   /* entries per indirect table; 0: no indirect */
	bool event_idx;          /* VIRTIO_RING_F_EVENT_IDX negotiated */
};

/* One element of a buffer, in the device's address space. */
struct vpcie_vring_buf {
	uint64_t addr;
	uint32_t len;
};

/* Bytes of memory a ring needs: descriptors, the driver and device areas,
 * and one indirect table per entry. */
size_t vpcie_vring_mem_size(enum vpcie_virtq_layout layout, uint16_t size,
			    unsigned indirect_max);

/* Lay the ring out in cfg->mem (zeroing it). NULL with errno on bad input. */
struct vpcie_vring *vpcie_vring_new(const struct vpcie_vring_config *cfg);
void vpcie_vring_free(struct vpcie_vring *r);

/* Addresses to program into the device (queue_desc, _driver, _device). */
uint64_t vpcie_vring_desc_addr(const struct vpcie_vring *r);
uint64_t vpcie_vring_driver_addr(const struct vpcie_vring *r);
uint64_t vpcie_vring_device_addr(const struct vpcie_vring *r);
uint16_t vpcie_vring_size(const struct vpcie_vring *r);

/* Descriptors free for new buffers (a chain takes nout + nin, an indirect
 * buffer one). */
unsigned vpcie_vring_num_free(const struct vpcie_vring *r);

/*
 * Make a buffer available: nout device-readable elements, then nin
 * device-writable ones, as a direct chain or (indirect) through this
 * entry's indirect table. token comes back from vpcie_vring_get_used().
 * Returns 0, -ENOSPC (ring full), -EINVAL (no elements, too many for the
 * indirect table, indirect not configured).
 */
int vpcie_vring_add(struct vpcie_vring *r, const struct vpcie_vring_buf *out, unsigned nout,
		    const struct vpcie_vring_buf *in, unsigned nin, bool indirect, void *token);

/* Whether the device wants a notification for what was added since the
 * last call (VRING_USED_F_NO_NOTIFY / avail_event, or the device event
 * suppression structure). */
bool vpcie_vring_kick_needed(struct vpcie_vring *r);

/* Take the next used buffer: 1 (token, len set), 0 (none), -EPROTO (the
 * device returned an id that is not in flight). */
int vpcie_vring_get_used(struct vpcie_vring *r, void **token, uint32_t *len);

/*
 * Interrupt policy for used buffers. n == 0: none (split
 * VRING_AVAIL_F_NO_INTERRUPT, packed flags DISABLE). n == 1: on every used
 * buffer. n > 1 (needs event_idx): only once the n-th next used buffer
 * (split) / used descriptor slot (packed) has been written.
 */
void vpcie_vring_interrupt_after(struct vpcie_vring *r, unsigned n);

/* ---- Raw access for misbehaving on purpose ------------------------------ */

/* The descriptor area: struct vring_desc[size] or struct vring_packed_desc[size]. */
void *vpcie_vring_desc_table(struct vpcie_vring *r);

/* Split: put head into the available ring and publish avail->idx + 1;
 * set_idx publishes an arbitrary available index. No bookkeeping: after
 * either, reset the device and set the queue up again. */
void vpcie_vring_split_publish(struct vpcie_vring *r, uint16_t head);
void vpcie_vring_split_set_avail_idx(struct vpcie_vring *r, uint16_t idx);

/* Packed: write n descriptors (addr, len, id, flags as given, plus the
 * AVAIL/USED bits of the lap) at the next available slots, the first one
 * last, and move on. Same caveat as above. */
void vpcie_vring_packed_publish(struct vpcie_vring *r, const struct vring_packed_desc *d,
				unsigned n);

/* ======================================================================== */
/* Host driver                                                               */
/* ======================================================================== */

struct vpcie_virtio_drv;

enum vpcie_virtio_drv_irq {
	VPCIE_VIRTIO_DRV_MSIX, /* vector 0 configuration, vector 1 + q for queue q */
	VPCIE_VIRTIO_DRV_INTX, /* INTx and the ISR register */
	VPCIE_VIRTIO_DRV_POLL, /* no interrupts: waits poll the rings */
};

struct vpcie_virtio_drv_opts {
	uint64_t iova;           /* host memory bus address; default 4 GiB */
	size_t mem_size;         /* default 16 MiB: rings and vpcie_virtio_drv_alloc() */
	bool shared;             /* send the memfd (zero-copy) or leave the device to
				  * DMA messages; default true */
	enum vpcie_virtio_drv_irq irq; /* default MSI-X */
	unsigned indirect_max;   /* indirect table entries per queue entry; default 16 */
};

void vpcie_virtio_drv_opts_defaults(struct vpcie_virtio_drv_opts *opts);

/*
 * Find the virtio capabilities of the device behind h, register host memory
 * and enable interrupts. BARs must already be assigned
 * (vpcie_host_assign_bars(), which also turns bus mastering on). The handle
 * borrows h: close it before h. Returns NULL with *err set: -ENODEV (not a
 * virtio modern device / capabilities missing or outside their BAR), or the
 * host runtime's error.
 */
struct vpcie_virtio_drv *vpcie_virtio_drv_open(struct vpcie_host *h,
					       const struct vpcie_virtio_drv_opts *opts, int *err);
/* Reset the device (best effort), free the rings and host memory. */
void vpcie_virtio_drv_close(struct vpcie_virtio_drv *d);

struct vpcie_host *vpcie_virtio_drv_host(struct vpcie_virtio_drv *d);

/* ---- Bring-up ------------------------------------------------------------- */

/* Write 0 to device_status and wait for it to read back 0; forget the queues
 * (their ring memory is reused). */
int vpcie_virtio_drv_reset(struct vpcie_virtio_drv *d);

int vpcie_virtio_drv_status(struct vpcie_virtio_drv *d, uint8_t *status);
int vpcie_virtio_drv_set_status(struct vpcie_virtio_drv *d, uint8_t status);
int vpcie_virtio_drv_device_features(struct vpcie_virtio_drv *d, uint64_t *features);

/*
 * Reset, ACKNOWLEDGE | DRIVER, route configuration changes to MSI-X vector 0
 * (in MSI-X mode), accept want & offered (VERSION_1 always), FEATURES_OK,
 * and check it stuck. *got (if non-NULL) receives the
 * accepted set. Returns 0, -ENOTSUP (device refused), or -errno.
 */
int vpcie_virtio_drv_negotiate(struct vpcie_virtio_drv *d, uint64_t want, uint64_t *got);

uint64_t vpcie_virtio_drv_features(const struct vpcie_virtio_drv *d);
unsigned vpcie_virtio_drv_num_queues(const struct vpcie_virtio_drv *d);

/* Set queue q up with size entries (0: the device's maximum) in the
 * negotiated layout and enable it. Returns 0, or -EIO if the device did not
 * enable it, -ENOMEM (host memory exhausted), -errno. */
int vpcie_virtio_drv_setup_queue(struct vpcie_virtio_drv *d, unsigned q, uint16_t size);

/* Set DRIVER_OK. */
int vpcie_virtio_drv_driver_ok(struct vpcie_virtio_drv *d);

/* Read the device-specific configuration consistently (config_generation). */
int vpcie_virtio_drv_config_read(struct vpcie_virtio_drv *d, unsigned off, void *buf, size_t len);

/* Raw common configuration access (1, 2 or 4 bytes), for tests. */
int vpcie_virtio_drv_common_read(struct vpcie_virtio_drv *d, unsigned off, void *buf, size_t len);
int vpcie_virtio_drv_common_write(struct vpcie_virtio_drv *d, unsigned off, const void *buf,
				  size_t len);

/* Read (and so clear) the ISR status byte. */
int vpcie_virtio_drv_isr(struct vpcie_virtio_drv *d, uint8_t *isr);

/* ---- I/O ----------------------------------------------------------------------- */

/* Host memory for buffers: size bytes aligned to align (a power of two),
 * zeroed; its device address in *iova. NULL when exhausted. Allocations
 * live until close (resets do not free them). */
void *vpcie_virtio_drv_alloc(struct vpcie_virtio_drv *d, size_t size, size_t align,
			     uint64_t *iova);

/* The ring of queue q (after setup), for vpcie_vring_add() and friends. */
struct vpcie_vring *vpcie_virtio_drv_vring(struct vpcie_virtio_drv *d, unsigned q);

/* Notify queue q if the device asked for it (kick) or unconditionally
 * (notify); a posted write, as a CPU does it. */
int vpcie_virtio_drv_kick(struct vpcie_virtio_drv *d, unsigned q);
int vpcie_virtio_drv_notify(struct vpcie_virtio_drv *d, unsigned q);

/*
 * Wait up to timeout_ms for a used buffer on queue q, serving the device's
 * DMA meanwhile and counting interrupts. Returns 1 (token, len set),
 * -ETIMEDOUT, -EPROTO, or -errno from the host runtime.
 */
int vpcie_virtio_drv_wait(struct vpcie_virtio_drv *d, unsigned q, void **token, uint32_t *len,
			  int timeout_ms);

/* Let the device run for up to timeout_ms (serving its DMA) and collect
 * interrupts; for "nothing should happen" checks. */
int vpcie_virtio_drv_idle(struct vpcie_virtio_drv *d, int timeout_ms);

/* Interrupts seen so far for queue q / for configuration changes; the
 * counter is returned and reset. */
uint64_t vpcie_virtio_drv_take_interrupts(struct vpcie_virtio_drv *d, unsigned q);
uint64_t vpcie_virtio_drv_take_config_interrupts(struct vpcie_virtio_drv *d);

#ifdef __cplusplus
}
#endif
#endif
