/* SPDX-License-Identifier: MIT */
/*
 * vpcie/device.h - write a PCIe endpoint as a process.
 *
 * A vpcie_dev is one PCI function served over one vfio-user socket. The
 * program describes it (IDs, BARs, capabilities), listens, and runs an event
 * loop; the library answers the host's config space, region, DMA-map and IRQ
 * messages and calls the program back for BAR accesses, resets and
 * connection changes. One client at a time; when it leaves, DMA maps and
 * interrupt fds are dropped, device state is kept, and the next client is
 * accepted.
 *
 * Threads: none are created. Every call on a device must come from the thread
 * that runs its loop (callbacks may call any function here).
 *
 * Typical program:
 *
 *	struct vpcie_dev *dev = vpcie_dev_new(&ids, &ops, state, NULL);
 *	vpcie_dev_set_bar(dev, 0, &bar0);
 *	vpcie_dev_add_msi(dev, 32, true);
 *	vpcie_dev_listen(dev, socket_path);
 *	vpcie_dev_stop_on_signals(dev);       // SIGINT/SIGTERM end the loop
 *	int rc = vpcie_dev_run(dev);
 *	vpcie_dev_free(dev);                 // removes the socket file
 */
#ifndef VPCIE_DEVICE_H
#define VPCIE_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vpcie/config.h>
#include <vpcie/log.h>
#include <vpcie/protocol.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vpcie_dev;

enum vpcie_reset_kind {
	VPCIE_RESET_DEVICE, /* VFIO_USER_DEVICE_RESET from the host */
	VPCIE_RESET_FLR,    /* Function Level Reset through the PCIe capability */
};

/* Program callbacks; each may be NULL. */
struct vpcie_dev_ops {
	/* Device state back to power-on; config space is reset by the library
	 * before this is called (BARs unprogrammed, interrupts disabled). */
	void (*reset)(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind);
	/* A client finished VERSION negotiation. */
	void (*connect)(struct vpcie_dev *dev, void *opaque);
	/* The client is gone; its DMA maps and IRQ fds are already dropped. */
	void (*disconnect)(struct vpcie_dev *dev, void *opaque);
	/* After the host wrote config space (post-masks); for device-specific
	 * reactions. off/len are the bytes the host wrote. */
	void (*cfg_written)(struct vpcie_dev *dev, void *opaque, unsigned off, size_t len);
};

struct vpcie_dev_opts {
	const char *name;                 /* for logs; default "vpcie" */
	enum vpcie_log_level log_level;   /* default from VPCIE_LOG, else INFO */
	vpcie_log_fn log_sink;            /* NULL: stderr */
	void *log_opaque;
	uint64_t max_data_xfer_size;      /* we offer; default 1 MiB. A client
					   * that proposes none is not told and
					   * may send the spec's 1 MiB. */
	unsigned max_msg_fds;             /* we accept; default 16. 1..253:
					   * vpcie_dev_new() refuses others with
					   * EINVAL (a client may always send 1) */
	bool offer_twin_socket;           /* enable twin socket if the client asks */
	int dma_timeout_ms;               /* DMA message round trip; default 5000 */
	int msg_timeout_ms;               /* a half-received message that makes no
					   * progress for this long drops the client;
					   * default 5000 */
	bool reset_supported;             /* VFIO_DEVICE_FLAGS_RESET; default true */
	/*
	 * Map the client's memory when DMA_MAP brings an fd (default true).
	 * false: message-only DMA - fds are closed and every access is a
	 * DMA_READ/DMA_WRITE message, so the client's memory never enters our
	 * address space (for clients not trusted that far). Either way an fd
	 * not sealed against shrinking (F_SEAL_SHRINK) is served by messages:
	 * its owner could truncate it under our mapping and crash us.
	 */
	bool dma_shm;
	/* Adaptive polling: after a message, poll this long at most (self-tuned
	 * below it) before sleeping. 0 turns it off. Default 50, or $VPCIE_POLL_US. */
	unsigned poll_max_us;
	/* Shared-memory ring transport (vpcie/ring.h) for a vpcie host that asks
	 * for it in VERSION; any other client gets plain vfio-user. Default
	 * true, or false if $VPCIE_DEV_RING is 0. */
	bool offer_ring;
	unsigned ring_slots;              /* per direction, power of two 16..65536;
					   * default 1024 */
	/* Largest DMA_READ asked in one message (also capped by both sides'
	 * max_data_xfer_size). 0 (default): what the client declares in its
	 * "vpcie_dma_read_max" capability (vpcie hosts do), else 64 KiB -
	 * QEMU up to at least 11.1 truncates replies bigger than its socket
	 * buffer (~208 KiB). */
	uint64_t dma_read_max;
	/* Fault injection (vpcie/fault.h, docs/fault.md): nfaults rule specs
	 * the device starts with (parsed by vpcie_dev_new(), which fails with
	 * EINVAL on a bad one), and whether vpcie_dev_serve() opens the control
	 * socket SOCKET.fault (mode 0600). Default none, off. */
	const char *const *faults;
	unsigned nfaults;
	bool fault_control;
	/* TLS 1.3 with this pre-shared key file (vpcie/tls.h) on every TCP
	 * connection; needed to listen on a non-loopback address. NULL: none. */
	const char *psk_file;
	/* Record every transaction into this file (vpcie/trace.h, docs/trace.md);
	 * NULL: off. Default $VPCIE_TRACE. vpcie_dev_new() fails if it cannot
	 * be opened. */
	const char *trace_path;
	/* New fields go here, at the end (see "ABI" below). */
};

/*
 * ABI: the structures a program fills in (vpcie_ids, vpcie_dev_ops,
 * vpcie_dev_opts, vpcie_bar_desc, vpcie_bar_ops) may gain fields at their
 * end in later versions. The calls that take them are inline wrappers that
 * pass the library the sizes the program was compiled with, so a program
 * built against an older header
 * keeps working with a newer shared library (fields it does not know take
 * their defaults, callbacks it does not know are NULL), and one built
 * against a newer header that sets a field an older library does not know
 * is refused with EINVAL. Start such structures from zero (designated
 * initializers, = {0}, or vpcie_dev_opts_defaults()). The library keeps its
 * own copies: changing a structure after the call has no effect.
 */

void vpcie_dev_opts_defaults_sized(struct vpcie_dev_opts *opts, size_t size);
struct vpcie_dev *vpcie_dev_new_sized(const struct vpcie_ids *ids, size_t ids_size,
				      const struct vpcie_dev_ops *ops, size_t ops_size,
				      void *opaque, const struct vpcie_dev_opts *opts,
				      size_t opts_size);

/* Defaults for every field of vpcie_dev_opts. */
static inline void vpcie_dev_opts_defaults(struct vpcie_dev_opts *opts)
{
	vpcie_dev_opts_defaults_sized(opts, sizeof(struct vpcie_dev_opts));
}

/* Create a device (ops and opts may be NULL). Returns NULL with errno on
 * failure (EINVAL: max_msg_fds out of range, a bad rule in opts.faults, or
 * a field this library does not know). */
static inline struct vpcie_dev *vpcie_dev_new(const struct vpcie_ids *ids,
					      const struct vpcie_dev_ops *ops, void *opaque,
					      const struct vpcie_dev_opts *opts)
{
	return vpcie_dev_new_sized(ids, sizeof(struct vpcie_ids), ops, sizeof(struct vpcie_dev_ops),
				   opaque, opts, sizeof(struct vpcie_dev_opts));
}

/* Disconnect any client, close the listener (removing its socket file). */
void vpcie_dev_free(struct vpcie_dev *dev);

struct vpcie_logger *vpcie_dev_logger(struct vpcie_dev *dev);

/* Config space, for device-specific registers and capabilities. The runtime
 * owns it; keep changes coherent with what the host may have read. */
struct vpcie_cfg *vpcie_dev_cfg(struct vpcie_dev *dev);

/* ---- BARs --------------------------------------------------------------- */

/*
 * Callback-backed accesses. off is relative to the BAR start, len is 1..8 for
 * a CPU access and up to max_data_xfer_size for block transfers. Return 0, or
 * a negative errno that the host receives in an error reply. Reads must fill
 * buf entirely.
 */
struct vpcie_bar_ops {
	int (*read)(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len);
	int (*write)(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf, size_t len);
};

/* A sub-range of a memory-backed BAR that still goes through ops. */
struct vpcie_trap {
	uint64_t off;
	uint64_t len;
};

#define VPCIE_MAX_TRAPS 8u

struct vpcie_bar_desc {
	uint64_t size;               /* power of two; >= 16 (memory) or 4 (I/O) */
	enum vpcie_bar_kind kind;    /* MEM32, MEM64 (uses BAR n+1) or IO */
	bool prefetchable;
	/*
	 * Memory-backed: the BAR is shared memory (memfd) that the host may
	 * mmap; vpcie_dev_bar_mem() gives the device's pointer. Trapped ranges
	 * are left out of the host's mapping (sparse mmap areas, page granular)
	 * and go to ops. Otherwise every access goes to ops.
	 */
	bool memory;
	const struct vpcie_trap *traps;
	unsigned ntraps;
	const struct vpcie_bar_ops *ops;
	void *opaque;
};

/*
 * Declare BAR n (desc and its ops are copied). Returns 0 or -EINVAL (bad
 * size/index/kind, traps outside the BAR, callback BAR without ops), -EBUSY,
 * -ENOMEM.
 */
int vpcie_dev_set_bar_sized(struct vpcie_dev *dev, unsigned n, const struct vpcie_bar_desc *desc,
			    size_t desc_size, size_t ops_size);
static inline int vpcie_dev_set_bar(struct vpcie_dev *dev, unsigned n,
				    const struct vpcie_bar_desc *desc)
{
	return vpcie_dev_set_bar_sized(dev, n, desc, sizeof(struct vpcie_bar_desc),
				       sizeof(struct vpcie_bar_ops));
}

/* The device's view of a memory-backed BAR (NULL otherwise). */
void *vpcie_dev_bar_mem(struct vpcie_dev *dev, unsigned n);

/* Expansion ROM with these contents (copied; size rounded up to 2^k). */
int vpcie_dev_set_rom(struct vpcie_dev *dev, const void *data, size_t len);

/* ---- Capabilities (return the config offset, or -errno) ----------------- */

int vpcie_dev_add_pm(struct vpcie_dev *dev);
int vpcie_dev_add_pcie(struct vpcie_dev *dev, bool flr);
/* MSI, 1..32 vectors (power of two), 64-bit, optional per-vector masking. */
int vpcie_dev_add_msi(struct vpcie_dev *dev, unsigned nvec, bool maskable);
/*
 * MSI-X, 1..2048 vectors. Table (16 B/vector) and PBA (8 B per 64 vectors)
 * live at the given offsets of the given BARs, which must already be set and
 * large enough; those ranges become trapped (served by the library).
 */
int vpcie_dev_add_msix(struct vpcie_dev *dev, unsigned nvec, unsigned table_bar,
		       uint32_t table_off, unsigned pba_bar, uint32_t pba_off);
int vpcie_dev_add_vendor_cap(struct vpcie_dev *dev, const void *data, uint8_t len);
int vpcie_dev_add_ext_cap(struct vpcie_dev *dev, uint16_t id, uint8_t version,
			  const void *data, size_t len);

/* ---- Connection and event loop ------------------------------------------ */

/*
 * Listen on an endpoint (vpcie/transport.h): a UNIX socket path (created
 * 0600, removed when the device is freed), "unix:PATH" or "tcp:HOST:PORT"
 * (over TCP no fd travels, see docs/tcp.md; a non-loopback address needs
 * opts.psk_file, i.e. TLS). Returns 0 or -errno (-EACCES: a non-loopback
 * address without TLS; -EPERM/-EINVAL: an unusable key file, logged).
 */
int vpcie_dev_listen(struct vpcie_dev *dev, const char *where);

/*
 * Serve an already connected socket (from --fd, or one end of a socketpair
 * in tests). The device does not accept further clients after this one
 * unless it also listens.
 */
int vpcie_dev_attach(struct vpcie_dev *dev, int fd);

/* Whether a client is connected and negotiated. */
bool vpcie_dev_connected(const struct vpcie_dev *dev);

/*
 * Whether dispatch has work that vpcie_dev_fd() will not signal (messages
 * already read from the socket, queued commands, ring slots beyond one
 * dispatch's budget). A program with its own loop calls
 * vpcie_dev_dispatch(dev, 0) again instead of blocking while this is true.
 */
bool vpcie_dev_has_work(struct vpcie_dev *dev);

/* Whether the connected client uses the shared-memory ring transport. */
bool vpcie_dev_ring_active(const struct vpcie_dev *dev);

/*
 * One pollable fd (an epoll fd) that becomes readable when dispatch has work.
 * For programs with their own loop: poll it, then call vpcie_dev_dispatch(dev, 0).
 */
int vpcie_dev_fd(const struct vpcie_dev *dev);

/*
 * Handle whatever is ready (waiting up to timeout_ms for something):
 * accept, messages, timers. Returns 0, or -errno on a fatal error (a broken
 * client is not fatal: it is dropped and logged).
 */
int vpcie_dev_dispatch(struct vpcie_dev *dev, int timeout_ms);

/* Dispatch until vpcie_dev_stop(). Returns 0 or the fatal -errno. */
int vpcie_dev_run(struct vpcie_dev *dev);

/* Make vpcie_dev_run() return after the current dispatch. */
void vpcie_dev_stop(struct vpcie_dev *dev);

/* Block SIGINT and SIGTERM and have them stop the loop (via signalfd). */
int vpcie_dev_stop_on_signals(struct vpcie_dev *dev);

/*
 * The vfio-user backend program's main loop in one call: listen on
 * socket_path (or, if it is NULL, serve the connected socket fd, as --fd
 * asks), stop on SIGINT/SIGTERM, and run until stopped. Failures are logged.
 * Returns 0 or -errno; the caller still frees the device (removing the socket).
 */
int vpcie_dev_serve(struct vpcie_dev *dev, const char *socket_path, int fd);

/* ---- Timers (device-side work) ------------------------------------------ */

struct vpcie_timer;
typedef void (*vpcie_timer_fn)(struct vpcie_dev *dev, void *opaque);

/*
 * Call fn after delay_ns (0: on the next dispatch, after the current message
 * is answered), then every period_ns if non-zero. The timer belongs to the
 * device and is freed by vpcie_dev_timer_cancel() or vpcie_dev_free().
 */
struct vpcie_timer *vpcie_dev_timer_add(struct vpcie_dev *dev, uint64_t delay_ns,
					uint64_t period_ns, vpcie_timer_fn fn, void *opaque);
/* Re-arm a timer (one-shot after delay_ns, then period_ns). */
void vpcie_dev_timer_arm(struct vpcie_timer *t, uint64_t delay_ns, uint64_t period_ns);
void vpcie_dev_timer_cancel(struct vpcie_timer *t);

/* ---- DMA into host memory ----------------------------------------------- */

/*
 * Copy len bytes from/to host bus address addr. Uses the host's memory
 * directly where it was mapped with an fd (sealed against shrinking, and
 * opts.dma_shm on), DMA_READ/DMA_WRITE messages elsewhere (split at the
 * host's max_data_xfer_size, reads also at opts.dma_read_max); a range may
 * span several maps. Returns 0, -EFAULT
 * (some byte outside the host's maps or without the needed permission),
 * -EPERM (bus mastering disabled), -ENOTCONN, -ETIMEDOUT, or -EIO (the host
 * refused a message). The whole range is checked before the first byte
 * moves; on a later error (see below) a prefix may have been transferred.
 *
 * Waiting for the host's replies to DMA messages, the runtime keeps serving
 * the host's commands, as a real device answers MMIO while its DMA engine
 * works - a host may serve DMA only after the register access it is waiting
 * for (QEMU does: its vCPU holds the lock the DMA needs). Re-entrancy rule:
 *
 *  - called outside the runtime's callbacks (from a timer, or the program's
 *    own loop): commands are served while the call waits, so BAR callbacks,
 *    cfg_written, reset and the MSI/DMA-map/IRQ bookkeeping may run before
 *    it returns. Keep the state they share with the caller consistent
 *    across the call. The host may meanwhile unmap the memory, clear bus
 *    mastering or reset the function: the transfer then stops with -EFAULT
 *    or -EPERM. Pointers from vpcie_dev_dma_ptr() stay valid until the callback
 *    that got them returns.
 *  - called from a callback the runtime made for a host command (BAR
 *    read/write, cfg_written, reset, connect): commands are queued and
 *    served after that callback returns; no callback is re-entered. A host
 *    that waits for its access before serving DMA (QEMU with guest RAM not
 *    shared) then deadlocks until dma_timeout_ms: start DMA from a timer
 *    (vpcie_dev_timer_add(dev, 0, 0, ...)) instead, as a device's DMA
 *    engine runs after the doorbell write completed.
 */
int vpcie_dev_dma_read(struct vpcie_dev *dev, uint64_t addr, void *buf, size_t len);
int vpcie_dev_dma_write(struct vpcie_dev *dev, uint64_t addr, const void *buf, size_t len);

/*
 * Direct pointer to [addr, addr+len) if it lies in one fd-mapped region with
 * the needed permission (write: VFIO_DMA_MAP_FLAG_WRITE), else NULL. Valid
 * until the host unmaps it or disconnects, and at least until the callback
 * (or dispatch) that got it returns; do not keep it across dispatches.
 */
void *vpcie_dev_dma_ptr(struct vpcie_dev *dev, uint64_t addr, size_t len, bool write);

/*
 * Whether every byte of [addr, addr+len) is in the host's DMA maps, readable
 * and (if write) writable, and the device may DMA: 0, -EFAULT (a byte
 * outside the maps or without the permission, or a range that wraps),
 * -EPERM (bus mastering disabled), -ENOTCONN. Moves nothing; for checking
 * an address a host hands over (a buffer, a window translation) before
 * accepting it. The maps may change later: every transfer checks again.
 */
int vpcie_dev_dma_check(struct vpcie_dev *dev, uint64_t addr, uint64_t len, bool write);

/* ---- Interrupts --------------------------------------------------------- */

enum vpcie_irq_mode {
	VPCIE_IRQ_NONE,
	VPCIE_IRQ_INTX,
	VPCIE_IRQ_MSI,
	VPCIE_IRQ_MSIX,
};

/* Mode the host enabled (MSI-X over MSI over INTx, as config space says). */
enum vpcie_irq_mode vpcie_dev_irq_mode(struct vpcie_dev *dev);

/* Vectors usable in the current mode (MSI: enabled count; INTx: 1). */
unsigned vpcie_dev_irq_vectors(struct vpcie_dev *dev);

/*
 * Signal vector n in the current mode. MSI/MSI-X: dropped with -EPERM unless
 * bus mastering is on; if the vector (or MSI-X function) is masked its pending
 * bit is set and the message is sent on unmask. INTx (n must be 0): asserts
 * the line (see vpcie_dev_irq_intx). Returns 0 (sent or made pending), -EINVAL
 * (n beyond the enabled vectors), -ENODEV (mode NONE), -ENOTCONN, -ENOENT
 * (the mode is enabled in config space, e.g. by an earlier client, but the
 * current client attached no eventfd for the vector: the interrupt is lost).
 *
 * Like MSI edges on a bus, interrupts raised back to back before the host
 * handled the first may reach it as one: a vfio-user client is woken once
 * for all of them (its eventfd adds them up; vpcie_host_irq_wait_events()
 * tells how many), and a guest driver sees one interrupt. A device that
 * needs each event seen keeps a count or status in a register, as hardware
 * does.
 */
int vpcie_dev_irq_raise(struct vpcie_dev *dev, unsigned n);

/*
 * Set the INTx line level. Asserting sets the Interrupt Status bit and, unless
 * INTx Disable is set or the host masked it, signals the host's INTx eventfd;
 * vfio INTx is level-triggered and auto-masked, so the line re-signals when
 * the host unmasks while it is still asserted.
 */
int vpcie_dev_irq_intx(struct vpcie_dev *dev, bool asserted);

/* True if MSI/MSI-X vector n is pending (masked when raised); false for a
 * vector beyond those enabled in the current mode. */
bool vpcie_dev_irq_pending(struct vpcie_dev *dev, unsigned n);

#ifdef __cplusplus
}
#endif
#endif
