/* SPDX-License-Identifier: MIT */
/*
 * vpcie/host.h - drive a vfio-user device without a VM.
 *
 * The host runtime plays the root complex and the driver: it connects to a
 * device socket, negotiates, reads the device's regions and config space,
 * assigns BAR addresses, enables interrupts the way Linux does (programming
 * the MSI/MSI-X capability, then attaching eventfds), provides host memory
 * for the device's DMA, and resets it. Tests, `vpcie lspci`, `vpcie pcitest`
 * and the benchmarks are built on it.
 *
 * The device is not trusted: every reply is validated, every DMA request is
 * checked against the memory registered with vpcie_host_mem_alloc() (anything
 * else is refused with an error reply and counted), every wait has a
 * timeout, and no memory is shared that either side could shrink under the
 * other's mapping (the device's region memory is mapped only if sealed
 * against shrinking; the host seals the memory it shares for DMA).
 *
 * A request that gets no reply within the timeout fails with -ETIMEDOUT and
 * the handle is then broken (later calls fail at once with -ECONNRESET).
 *
 * Threads: none are created. While a call waits for a reply it also serves
 * the device's DMA requests, so a device may DMA while handling a write.
 * Between calls, a device's DMA requests are served by vpcie_host_poll() and
 * vpcie_host_irq_wait(). Several devices can be driven from one process,
 * each through its own handle.
 */
#ifndef VPCIE_HOST_H
#define VPCIE_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vpcie/config.h>
#include <vpcie/log.h>
#include <vpcie/protocol.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vpcie_host;

struct vpcie_host_opts {
	int timeout_ms;              /* per request; default 5000 */
	int connect_timeout_ms;      /* waiting for the socket; default 5000 */
	uint64_t max_data_xfer_size; /* we propose; default 1 MiB */
	bool twin_socket;            /* ask for a twin socket; default false */
	bool write_multiple;         /* offer REGION_WRITE_MULTI; default true */
	enum vpcie_log_level log_level; /* default from VPCIE_LOG, else WARN */
	/* Adaptive polling: while waiting, poll this long at most (self-tuned
	 * below it) before sleeping. 0 turns it off. Default 50, or $VPCIE_POLL_US. */
	unsigned poll_max_us;
	vpcie_log_fn log_sink;          /* NULL: stderr */
	void *log_opaque;
	/* Propose the shared-memory ring transport (vpcie/ring.h) in VERSION; a
	 * vpcie device that accepts carries small region accesses, posted
	 * writes and interrupts through shared memory; any other device just
	 * keeps the socket. Default false, or true if $VPCIE_HOST_RING is 1. */
	bool ring;
	/* TLS 1.3 with this pre-shared key file (vpcie/tls.h) over TCP; needed
	 * to reach a non-loopback address. NULL (default): plaintext. */
	const char *psk_file;
	/* Record every transaction into this file (vpcie/trace.h, docs/trace.md);
	 * NULL: off. Default $VPCIE_TRACE. Opening fails if it cannot be opened. */
	const char *trace_path;
};

/*
 * ABI: vpcie_host_opts may gain fields at its end in later versions. The
 * calls that take it are inline wrappers that pass the library the size the
 * program was compiled with: fields an older program does not know take
 * their defaults; a newer program that sets a field an older library does
 * not know is refused with -EINVAL. Start from vpcie_host_opts_defaults().
 */
void vpcie_host_opts_defaults_sized(struct vpcie_host_opts *opts, size_t size);
static inline void vpcie_host_opts_defaults(struct vpcie_host_opts *opts)
{
	vpcie_host_opts_defaults_sized(opts, sizeof(struct vpcie_host_opts));
}

/*
 * Connect to the device at path -- a UNIX socket path, "unix:PATH" or
 * "tcp:HOST:PORT" (vpcie/transport.h) -- and negotiate VERSION. Over TCP
 * no fd travels: memory is served by DMA_READ/DMA_WRITE messages, regions
 * are accessed by messages, interrupts arrive as vpcie interrupt messages.
 * Returns NULL and sets *err (if non-NULL) to -errno on failure:
 * -ENOENT/-ECONNREFUSED (no device), -EACCES (plaintext TCP to a
 * non-loopback address, or the TLS handshake refused: wrong key), -EPERM or
 * -EINVAL (opts->psk_file unusable, see vpcie_tls_psk_load), -EPROTO (bad
 * VERSION reply, or a TLS peer that is not speaking TLS), -ETIMEDOUT.
 */
struct vpcie_host *vpcie_host_open_sized(const char *path, const struct vpcie_host_opts *opts,
					 size_t opts_size, int *err);
static inline struct vpcie_host *vpcie_host_open(const char *path,
						 const struct vpcie_host_opts *opts, int *err)
{
	return vpcie_host_open_sized(path, opts, sizeof(struct vpcie_host_opts), err);
}

/* Same over an already connected socket (ownership passes). */
struct vpcie_host *vpcie_host_open_fd_sized(int fd, const struct vpcie_host_opts *opts,
					    size_t opts_size, int *err);
static inline struct vpcie_host *vpcie_host_open_fd(int fd, const struct vpcie_host_opts *opts,
						    int *err)
{
	return vpcie_host_open_fd_sized(fd, opts, sizeof(struct vpcie_host_opts), err);
}

/*
 * Same over a message channel the caller built (vpcie/transport.h), e.g.
 * over its own byte stream with vpcie_chan_new_stream(): a transport of
 * its own, or a fuzzer feeding bytes from memory. Ownership of ch passes,
 * also on failure; its limits are set from opts.
 */
struct vpcie_chan;
struct vpcie_host *vpcie_host_open_chan_sized(struct vpcie_chan *ch,
					      const struct vpcie_host_opts *opts, size_t opts_size,
					      int *err);
static inline struct vpcie_host *vpcie_host_open_chan(struct vpcie_chan *ch,
						      const struct vpcie_host_opts *opts, int *err)
{
	return vpcie_host_open_chan_sized(ch, opts, sizeof(struct vpcie_host_opts), err);
}

/* Unmap host memory, close eventfds and the connection. */
void vpcie_host_close(struct vpcie_host *h);

struct vpcie_logger *vpcie_host_logger(struct vpcie_host *h);

/* Capabilities the device answered with. */
const struct vpcie_caps *vpcie_host_peer_caps(const struct vpcie_host *h);

/* Whether a twin socket was negotiated. */
bool vpcie_host_twin(const struct vpcie_host *h);

/* Whether the shared-memory ring transport was negotiated. */
bool vpcie_host_ring(const struct vpcie_host *h);

/* ---- Device, region and IRQ information --------------------------------- */

int vpcie_host_device_info(struct vpcie_host *h, struct vpcie_device_info *out);

struct vpcie_host_region {
	uint32_t index;
	uint32_t flags;   /* VFIO_REGION_INFO_FLAG_* */
	uint64_t size;
	uint64_t offset;  /* mmap offset into the fd */
	int fd;           /* mappable regions: owned by the handle; else -1 (also
			   * when the device's memory is not sealed against
			   * shrinking: it is then reached through messages) */
	unsigned nr_sparse;
	struct vpcie_sparse_area sparse[VPCIE_MAX_SPARSE_AREAS];
};

/* Cached after the first query; the fd stays owned by the handle. */
int vpcie_host_region_info(struct vpcie_host *h, unsigned index,
			   const struct vpcie_host_region **out);

int vpcie_host_irq_info(struct vpcie_host *h, unsigned index, struct vpcie_irq_info *out);

/* ---- Region access ------------------------------------------------------ */

/*
 * Read/write len bytes at off of region index through messages (split at the
 * device's max_data_xfer_size). Returns 0, -EINVAL (outside the region), -EIO
 * with the device's errno logged (error reply), -ETIMEDOUT, -ECONNRESET.
 */
int vpcie_host_region_read(struct vpcie_host *h, unsigned index, uint64_t off,
			   void *buf, size_t len);
int vpcie_host_region_write(struct vpcie_host *h, unsigned index, uint64_t off,
			    const void *buf, size_t len);
/*
 * Posted write (NO_REPLY): returns without waiting for the device. Posted
 * writes are queued and sent in batches (one syscall for many; with the ring
 * transport, one slot each), and are delivered on close.
 *
 * Ordering, as PCI demands it, for one handle (one device):
 *  - Every read the runtime does sees every write before it, posted or not,
 *    whatever the path: a read through messages (region and config reads,
 *    vpcie_host_bar_read32() of an offset that is not mapped) follows the
 *    writes in the device's command stream; a read through the mapping
 *    (vpcie_host_bar_read32() of a mapped offset) first waits until the
 *    device has applied the posted writes still outstanding.
 *  - A store through the mapping (vpcie_host_bar_write32() of a mapped
 *    offset) is not overtaken by earlier posted writes: it waits the same
 *    way first. A later message access sees it.
 *  - Code that reads or writes through a mapped pointer of its own calls
 *    vpcie_host_flush() first: once it returns 0, the device has applied
 *    every earlier write.
 * Waiting costs one round trip, and only while posted writes are
 * outstanding (a reply to any later request also ends that): an access
 * through the mapping with nothing outstanding is a plain load or store.
 * Errors of posted writes are not reported; a broken connection surfaces on
 * later calls.
 */
int vpcie_host_region_write_posted(struct vpcie_host *h, unsigned index, uint64_t off,
				   const void *buf, size_t len);

/*
 * Send the posted writes queued so far and wait until the device has applied
 * them (nothing is sent if none are outstanding). Returns 0, -ETIMEDOUT or
 * -ECONNRESET.
 */
int vpcie_host_flush(struct vpcie_host *h);
/* Coalesce up to n small writes (each <= 8 bytes) into REGION_WRITE_MULTI
 * (falls back to single writes if the device does not support it). */
int vpcie_host_region_write_multi(struct vpcie_host *h,
				  const struct vpcie_write_multi_entry *wrs, size_t n);

/* Typed MMIO helpers on BAR n, through messages or the mmap when mapped
 * (with vpcie_host_region_map()); ordered with posted writes as above. */
uint32_t vpcie_host_bar_read32(struct vpcie_host *h, unsigned bar, uint64_t off, int *err);
int vpcie_host_bar_write32(struct vpcie_host *h, unsigned bar, uint64_t off, uint32_t v);

/*
 * mmap the mappable part of BAR/region index (whole region, or its sparse
 * areas). Returns the base pointer of a reservation of the region's size in
 * which only mappable areas are backed, or NULL (errno set) if the region has
 * no mappable part. Unmapped on close. Only memory the device sealed against
 * shrinking (F_SEAL_SHRINK) is mapped, so the device cannot make an access
 * fault; for any other region fd this fails with ENXIO (warned once, when the
 * region info arrives) and the region is reached through messages.
 */
void *vpcie_host_region_map(struct vpcie_host *h, unsigned index);

/* True if [off, off+len) of region index is inside a mapped area. */
bool vpcie_host_region_is_mapped(struct vpcie_host *h, unsigned index, uint64_t off, size_t len);

/* ---- Config space ------------------------------------------------------- */

int vpcie_host_cfg_read(struct vpcie_host *h, unsigned off, void *buf, size_t len);
int vpcie_host_cfg_write(struct vpcie_host *h, unsigned off, const void *buf, size_t len);
uint32_t vpcie_host_cfg_read32(struct vpcie_host *h, unsigned off, int *err);
uint16_t vpcie_host_cfg_read16(struct vpcie_host *h, unsigned off, int *err);
int vpcie_host_cfg_write16(struct vpcie_host *h, unsigned off, uint16_t v);
int vpcie_host_cfg_write32(struct vpcie_host *h, unsigned off, uint32_t v);

/* Read the whole config space (size: 256 or 4096, as the region says). */
int vpcie_host_cfg_dump(struct vpcie_host *h, uint8_t *image, size_t *len);

/* Offset of a standard / extended capability, 0 if absent, -errno on error. */
int vpcie_host_find_cap(struct vpcie_host *h, uint8_t id);
int vpcie_host_find_ext_cap(struct vpcie_host *h, uint16_t id);

struct vpcie_host_bar {
	bool present;
	bool is_io;
	bool is_64;
	bool prefetchable;
	uint64_t size;
	uint64_t addr; /* assigned bus address */
};

/*
 * Size every BAR and the expansion ROM the Linux way (decoding off, save,
 * write all-ones, read back, restore): vpcie_host_bar() then reports each
 * with the address currently programmed. The device is left as it was.
 */
int vpcie_host_size_bars(struct vpcie_host *h);

/*
 * Size every BAR as above, assign naturally aligned addresses from mem_base
 * / io_base (32-bit BARs and the ROM first), and enable memory, I/O and bus
 * mastering in the command register. The ROM gets an address but stays
 * disabled, as Linux leaves it.
 */
int vpcie_host_assign_bars(struct vpcie_host *h, uint64_t mem_base, uint32_t io_base);

/* BAR n (0-5; 6 is the expansion ROM) as last sized or assigned. */
const struct vpcie_host_bar *vpcie_host_bar(struct vpcie_host *h, unsigned n);

/* ---- Host memory for device DMA ----------------------------------------- */

struct vpcie_host_mem;

enum vpcie_host_mem_flags {
	VPCIE_HOST_MEM_SHARED = 1u << 0, /* send the memfd: zero-copy device access */
	VPCIE_HOST_MEM_READONLY = 1u << 1, /* device may read only */
};

/*
 * Allocate size bytes (rounded up to pages) of memfd-backed memory and
 * register it with DMA_MAP at bus address iova (page aligned). With
 * VPCIE_HOST_MEM_SHARED the fd goes along; otherwise the device must use
 * DMA_READ/DMA_WRITE messages, which the host serves from this memory.
 * Returns NULL with errno set.
 */
struct vpcie_host_mem *vpcie_host_mem_alloc(struct vpcie_host *h, size_t size,
					    uint64_t iova, unsigned flags);
void *vpcie_host_mem_ptr(const struct vpcie_host_mem *m);
uint64_t vpcie_host_mem_iova(const struct vpcie_host_mem *m);
size_t vpcie_host_mem_size(const struct vpcie_host_mem *m);
/* DMA_UNMAP and free. */
int vpcie_host_mem_free(struct vpcie_host_mem *m);

/* DMA requests from the device that were refused (outside registered memory,
 * bad permission, malformed). */
uint64_t vpcie_host_dma_refused(const struct vpcie_host *h);
/* DMA requests served (DMA_READ + DMA_WRITE messages). */
uint64_t vpcie_host_dma_served(const struct vpcie_host *h);

/* ---- Interrupts --------------------------------------------------------- */

enum vpcie_host_irq_type {
	VPCIE_HOST_IRQ_INTX = 0, /* = VFIO_PCI_INTX_IRQ_INDEX */
	VPCIE_HOST_IRQ_MSI = 1,  /* = VFIO_PCI_MSI_IRQ_INDEX */
	VPCIE_HOST_IRQ_MSIX = 2, /* = VFIO_PCI_MSIX_IRQ_INDEX */
};

/*
 * Enable nvec vectors of one type, disabling the others, as a Linux driver
 * does: MSI - program address/data and Multiple Message Enable, set enable;
 * MSI-X - write table entries unmasked, set enable; INTx - clear INTx
 * Disable. Then attach one eventfd per vector with SET_IRQS. Returns the
 * number of vectors enabled (MSI rounds nvec up to a power of two) or -errno
 * (-EINVAL if the device offers fewer).
 */
int vpcie_host_irq_enable(struct vpcie_host *h, enum vpcie_host_irq_type type, unsigned nvec);
int vpcie_host_irq_disable(struct vpcie_host *h);

/*
 * Wait up to timeout_ms for vector n to fire, serving the device's DMA
 * requests meanwhile. Consumes every event the vector had: interrupts the
 * device raised before we looked reach us as one wake-up (the eventfd adds
 * them up), as a second MSI edge finds the first still pending on a real
 * bus, and a guest's driver sees one interrupt. *events (if not NULL) gets
 * how many were raised. Returns 0, -ETIMEDOUT, -EINVAL.
 */
int vpcie_host_irq_wait_events(struct vpcie_host *h, unsigned n, int timeout_ms,
			       uint64_t *events);
static inline int vpcie_host_irq_wait(struct vpcie_host *h, unsigned n, int timeout_ms)
{
	return vpcie_host_irq_wait_events(h, n, timeout_ms, NULL);
}

/* Count of events vector n has fired and not yet been waited for (drains). */
uint64_t vpcie_host_irq_take(struct vpcie_host *h, unsigned n);

/* Mask/unmask vector n: MSI per-vector mask bit, MSI-X table entry mask, or
 * (INTx) SET_IRQS MASK/UNMASK. */
int vpcie_host_irq_mask(struct vpcie_host *h, unsigned n, bool masked);

/* MSI-X function mask bit. */
int vpcie_host_msix_function_mask(struct vpcie_host *h, bool masked);

/* ---- Misc --------------------------------------------------------------- */

/* DEVICE_RESET. Interrupt setup and BAR addresses must be redone after. */
int vpcie_host_reset(struct vpcie_host *h);

/* Serve the device's pending requests (DMA), waiting up to timeout_ms for
 * the first one. Returns the number served, or -errno. */
int vpcie_host_poll(struct vpcie_host *h, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
