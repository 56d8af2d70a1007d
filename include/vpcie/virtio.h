/* SPDX-License-Identifier: MIT */
/*
 * vpcie/virtio.h - write a virtio 1.x device as a vpcie endpoint.
 *
 * Two layers, usable separately:
 *
 * 1. Virtqueues (struct vpcie_virtq): the device side of one split or packed
 *    ring in the driver's memory. Memory is reached through a small accessor
 *    (struct vpcie_virtq_mem) so the same code runs against a vfio-user
 *    client's memory (vpcie_dma_*) and against plain buffers in unit tests.
 *    vpcie_virtq_pop() hands out the next descriptor chain as a request with
 *    its device-readable ("out") and device-writable ("in") segments;
 *    vpcie_virtq_push() returns it; vpcie_virtq_should_notify() applies the
 *    driver's interrupt suppression (flags or event index).
 *
 *    Nothing the driver wrote is trusted. Chains that loop, indices beyond the
 *    ring, nested or malformed indirect tables, readable segments after
 *    writable ones, chains longer than the limit, an available index that
 *    runs ahead by more than the ring size, or ring memory the device cannot
 *    reach make vpcie_virtq_pop() fail with -EINVAL / -EFAULT; the queue is
 *    then broken (every later pop fails the same way) and the transport is
 *    expected to set DEVICE_NEEDS_RESET. Data segments are only described,
 *    not checked: copying from/to a segment outside the driver's memory fails
 *    with -EFAULT and the device fails that request.
 *
 * 2. The virtio PCI modern transport (struct vpcie_virtio): a vpcie_dev with
 *    BAR0 holding the common, ISR, device-specific and notify structures
 *    (each announced by a vendor-specific virtio_pci_cap), MSI-X with one
 *    vector for configuration changes and one per queue, INTx through the ISR
 *    register when MSI-X is off, and a VIRTIO_PCI_CAP_PCI_CFG window. It runs
 *    the device status state machine, feature negotiation (VERSION_1 always,
 *    plus the ring features it implements), queue configuration and reset,
 *    and calls the device program when a queue is notified.
 *
 *	BAR0 (32-bit memory, callbacks, 32 KiB)
 *	  0x0000 common configuration     (struct virtio_pci_common_cfg + 4)
 *	  0x1000 ISR status               (1 byte; read clears, deasserts INTx)
 *	  0x2000 device configuration     (desc.config_size bytes)
 *	  0x3000 notify                   (4 bytes per queue, multiplier 4)
 *	  0x4000 MSI-X table, 0x6000 PBA  (served by the device runtime)
 *
 * Layouts and constants are the Linux uapi headers' (<linux/virtio_*.h>);
 * every multi-byte field in driver memory and registers is little-endian.
 *
 * Typical device program:
 *
 *	struct vpcie_virtio *v = vpcie_virtio_new(&desc, &ops, state, &dev_opts);
 *	memcpy(vpcie_virtio_config(v), &my_config, sizeof(my_config));
 *	vpcie_dev_listen(vpcie_virtio_dev(v), path);
 *	vpcie_dev_stop_on_signals(vpcie_virtio_dev(v));
 *	vpcie_dev_run(vpcie_virtio_dev(v));
 *	vpcie_virtio_free(v);
 *
 *	// ops.queue_notify:
 *	struct vpcie_virtq *vq = vpcie_virtio_queue(v, q);
 *	struct vpcie_virtq_req req;
 *	int rc;
 *	while ((rc = vpcie_virtq_pop(vq, &req)) > 0)
 *		vpcie_virtq_push(vq, &req, handle(&req));
 *	if (rc < 0)
 *		vpcie_virtio_needs_reset(v);
 *	vpcie_virtio_notify(v, q);
 *
 * Threads: none. Everything runs on the device's loop thread.
 */
#ifndef VPCIE_VIRTIO_H
#define VPCIE_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vpcie/device.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== */
/* Virtqueues                                                                */
/* ======================================================================== */

#define VPCIE_VIRTQ_MAX_SIZE 32768u /* both layouts: 2^15 entries at most */

/*
 * How the queue reaches the driver's memory (bus addresses). read/write
 * return 0 or -errno (-EFAULT: not the driver's memory). ptr is optional: a
 * direct pointer to [addr, addr+len) or NULL when the range must go through
 * read/write; pointers are only used within one vpcie_virtq call, or until
 * the caller returns to its event loop for vpcie_virtq_iov().
 */
struct vpcie_virtq_mem {
	int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
	int (*write)(void *ctx, uint64_t addr, const void *buf, size_t len);
	void *(*ptr)(void *ctx, uint64_t addr, size_t len, bool write);
	void *ctx;
};

enum vpcie_virtq_layout {
	VPCIE_VIRTQ_SPLIT,  /* descriptor table, available ring, used ring */
	VPCIE_VIRTQ_PACKED, /* descriptor ring and two event suppression structs */
};

struct vpcie_virtq_config {
	enum vpcie_virtq_layout layout;
	uint16_t size;       /* entries: split a power of two, both 1..32768 (0 = 32768) */
	uint64_t desc;       /* descriptor area (16-byte aligned) */
	uint64_t driver;     /* split: available ring (2); packed: driver event suppression (4) */
	uint64_t device;     /* split: used ring (4); packed: device event suppression (4) */
	bool indirect;       /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool event_idx;      /* VIRTIO_RING_F_EVENT_IDX negotiated */
	unsigned max_chain;  /* most descriptors per request, indirect ones included;
			      * 0: the queue size (the spec's default limit) */
};

/* One element of a request: a range of driver memory. */
struct vpcie_virtq_seg {
	uint64_t addr;
	uint32_t len;
};

/*
 * A descriptor chain taken from the ring. seg[0..nout) are device-readable,
 * seg[nout..nout+nin) device-writable (the spec's ordering, enforced by pop).
 * seg points into the queue's storage and is valid until the next pop on the
 * same queue; a device that keeps requests in flight copies what it needs.
 */
struct vpcie_virtq_req {
	uint16_t id;        /* split: head index; packed: buffer id */
	uint16_t ndesc;     /* ring slots the chain occupies (packed) */
	unsigned nout, nin;
	uint64_t out_len;   /* sum of readable lengths */
	uint64_t in_len;    /* sum of writable lengths */
	const struct vpcie_virtq_seg *seg;
};

struct vpcie_virtq;

/*
 * Create the device side of a queue the driver has set up. Checks the size
 * and the alignment of the three areas; driver memory is not touched until
 * the first pop, which writes the device's initial suppression state (split:
 * used->flags 0 and, with event_idx, avail_event; packed: device event
 * flags ENABLE). Returns NULL with *err (if non-NULL) set: -EINVAL (bad
 * size or alignment), -ENOMEM.
 */
struct vpcie_virtq *vpcie_virtq_new(const struct vpcie_virtq_config *cfg,
				    const struct vpcie_virtq_mem *mem, int *err);
void vpcie_virtq_free(struct vpcie_virtq *vq);

const struct vpcie_virtq_config *vpcie_virtq_config(const struct vpcie_virtq *vq);

/*
 * Take the next available chain. Returns 1 (req filled), 0 (ring empty; with
 * event_idx the device's event index has been published and re-checked), or
 * a negative errno once the driver broke the ring: -EINVAL (malformed chain
 * or ring state), -EFAULT (ring or indirect table outside its memory),
 * another -errno from the accessor. After an error the queue stays broken.
 */
int vpcie_virtq_pop(struct vpcie_virtq *vq, struct vpcie_virtq_req *req);

/*
 * Give a chain back as used, written bytes having been stored in its
 * writable part. Completions may come in any order (split) or are written
 * in completion order (packed). Returns 0 or -errno (ring unreachable; the
 * queue is then broken).
 */
int vpcie_virtq_push(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req,
		     uint32_t written);

/*
 * Whether the driver wants an interrupt for what was pushed since the last
 * call: VRING_AVAIL_F_NO_INTERRUPT / the used_event index (split), or the
 * driver event suppression flags / descriptor event (packed). False when
 * nothing new was pushed.
 */
bool vpcie_virtq_should_notify(struct vpcie_virtq *vq);

/* The error that broke the queue (0 while healthy); *why (if non-NULL) gets
 * a static description of the driver's mistake. */
int vpcie_virtq_error(const struct vpcie_virtq *vq, const char **why);

/* Chains taken and completed so far (wrapping 16-bit counters as in the ring). */
uint16_t vpcie_virtq_last_avail(const struct vpcie_virtq *vq);
uint16_t vpcie_virtq_used_idx(const struct vpcie_virtq *vq);

/* ---- Request payload ------------------------------------------------------ */

/*
 * Copy len bytes at offset off of the request's readable part into buf, or
 * from buf into its writable part (offsets count from the start of that
 * part, across segments). Returns 0, -ERANGE (beyond the part), or the
 * accessor's -errno (-EFAULT: a segment outside the driver's memory).
 */
int vpcie_virtq_read(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req,
		     uint64_t off, void *buf, size_t len);
int vpcie_virtq_write(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req,
		      uint64_t off, const void *buf, size_t len);

/*
 * Zero-copy: direct pointers for [off, off+len) of the readable (writable =
 * false) or writable part, in at most max iovecs. Returns the iovec count,
 * -ENOENT if some byte is not directly mapped (use read/write instead),
 * -E2BIG if more than max iovecs are needed, -ERANGE beyond the part. The
 * pointers are valid until the caller returns to the event loop.
 */
int vpcie_virtq_iov(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req, bool writable,
		    uint64_t off, uint64_t len, struct iovec *iov, unsigned max);

/* ======================================================================== */
/* Virtio PCI modern transport                                               */
/* ======================================================================== */

#define VPCIE_VIRTIO_VENDOR 0x1af4u       /* Red Hat, Inc. (virtio) */
#define VPCIE_VIRTIO_PCI_DEVICE_BASE 0x1040u /* modern device ID = base + VIRTIO_ID_* */
#define VPCIE_VIRTIO_MAX_QUEUES 256u
#define VPCIE_VIRTIO_MAX_CONFIG 4096u

/* Transport features the layer implements; offer any subset of them. */
#define VPCIE_VIRTIO_F_TRANSPORT                                                 \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |  \
	 (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_F_RING_PACKED))

/* BAR0 layout (see the top of this file). */
#define VPCIE_VIRTIO_BAR 0u
#define VPCIE_VIRTIO_BAR_SIZE 0x8000u
#define VPCIE_VIRTIO_COMMON_OFF 0x0000u
#define VPCIE_VIRTIO_COMMON_LEN 0x3cu /* up to queue_reset */
#define VPCIE_VIRTIO_ISR_OFF 0x1000u
#define VPCIE_VIRTIO_DEVCFG_OFF 0x2000u
#define VPCIE_VIRTIO_NOTIFY_OFF 0x3000u
#define VPCIE_VIRTIO_NOTIFY_MULT 4u
#define VPCIE_VIRTIO_MSIX_TABLE_OFF 0x4000u
#define VPCIE_VIRTIO_MSIX_PBA_OFF 0x6000u

struct vpcie_virtio;

/* What the device is. */
struct vpcie_virtio_desc {
	uint16_t device_id;        /* VIRTIO_ID_* (PCI device ID 0x1040 + this) */
	uint32_t class_code;       /* PCI class, e.g. 0x010000 for a block device */
	uint16_t subsys;           /* subsystem ID; 0: 0x1100 */
	uint64_t features;         /* offered: device bits | transport bits (masked to
				    * VPCIE_VIRTIO_F_TRANSPORT; VERSION_1 always added) */
	unsigned num_queues;       /* 1..VPCIE_VIRTIO_MAX_QUEUES */
	uint16_t queue_size;       /* largest queue size the driver may choose (power of 2) */
	size_t config_size;        /* device-specific configuration bytes (<= 4096) */
	unsigned max_chain;        /* see vpcie_virtq_config.max_chain; 0: queue size */
};

/* Device program callbacks; each may be NULL. */
struct vpcie_virtio_ops {
	/* At FEATURES_OK: accept (true) or refuse the driver's features. The
	 * transport already refused features never offered or lacking VERSION_1. */
	bool (*features_ok)(struct vpcie_virtio *v, void *opaque, uint64_t features);
	/* DRIVER_OK was set: queues are live. */
	void (*driver_ok)(struct vpcie_virtio *v, void *opaque);
	/* The driver notified queue q (DRIVER_OK set, queue enabled, no
	 * NEEDS_RESET). Process it here or later (vpcie_virtio_kick). */
	void (*queue_notify)(struct vpcie_virtio *v, void *opaque, unsigned q);
	/* Before the virtio state returns to its reset values: status 0 written,
	 * PCI reset/FLR, or the client disconnected. Queue objects are still
	 * there (finish or drop in-flight work); they are freed after. */
	void (*reset)(struct vpcie_virtio *v, void *opaque);
	/* The driver wrote the device-specific configuration (already stored). */
	void (*config_write)(struct vpcie_virtio *v, void *opaque, unsigned off, size_t len);
};

/*
 * Create the device: a vpcie_dev (owned by the returned object) with IDs,
 * BAR0, capabilities (PCIe, MSI-X with num_queues + 1 vectors, the virtio
 * vendor capabilities) and its own vpcie_dev_ops. dev_opts may be NULL.
 * Returns NULL with errno set (EINVAL for a bad desc).
 */
struct vpcie_virtio *vpcie_virtio_new_sized(const struct vpcie_virtio_desc *desc,
					    size_t desc_size, const struct vpcie_virtio_ops *ops,
					    size_t ops_size, void *opaque,
					    const struct vpcie_dev_opts *dev_opts, size_t opts_size);
/* desc, ops and dev_opts are copied; the sizes are passed as "ABI" in
 * vpcie/device.h describes. */
static inline struct vpcie_virtio *vpcie_virtio_new(const struct vpcie_virtio_desc *desc,
						    const struct vpcie_virtio_ops *ops, void *opaque,
						    const struct vpcie_dev_opts *dev_opts)
{
	return vpcie_virtio_new_sized(desc, sizeof(struct vpcie_virtio_desc), ops,
				      sizeof(struct vpcie_virtio_ops), opaque, dev_opts,
				      sizeof(struct vpcie_dev_opts));
}
void vpcie_virtio_free(struct vpcie_virtio *v);

/* The underlying device: listen, attach, run, log with it. */
struct vpcie_dev *vpcie_virtio_dev(struct vpcie_virtio *v);

/* The device-specific configuration (desc.config_size bytes, little-endian),
 * owned by the transport. Fill it before serving; after a later change call
 * vpcie_virtio_config_changed(). */
void *vpcie_virtio_config(struct vpcie_virtio *v);

/* Bump config_generation and send a configuration change interrupt. */
void vpcie_virtio_config_changed(struct vpcie_virtio *v);

/* Device status byte (VIRTIO_CONFIG_S_*) and the negotiated features. */
uint8_t vpcie_virtio_status(const struct vpcie_virtio *v);
uint64_t vpcie_virtio_features(const struct vpcie_virtio *v);
unsigned vpcie_virtio_num_queues(const struct vpcie_virtio *v);

/* Queue q if enabled by the driver (features negotiated), else NULL. */
struct vpcie_virtq *vpcie_virtio_queue(struct vpcie_virtio *v, unsigned q);

/* Interrupt the driver for queue q if vpcie_virtq_should_notify() says so:
 * its MSI-X vector, or ISR bit 0 and INTx. */
void vpcie_virtio_notify(struct vpcie_virtio *v, unsigned q);

/* Call ops.queue_notify for q on the next dispatch (after the current
 * message is answered), e.g. to continue after a processing budget. */
int vpcie_virtio_kick(struct vpcie_virtio *v, unsigned q);

/* The driver broke something: set DEVICE_NEEDS_RESET, stop serving queues
 * until the driver resets the device, send a configuration interrupt. */
void vpcie_virtio_needs_reset(struct vpcie_virtio *v);

#ifdef __cplusplus
}
#endif
#endif
