/* SPDX-License-Identifier: MIT */
/*
 * lib/host/host_priv.h - internals of the host runtime shared by host.c
 * (connection, request engine, DMA service), region.c (region information),
 * region_io.c (region access through messages or mmap), cfg.c (config
 * space), bars.c (BAR sizing and assignment), mem.c (host memory for DMA),
 * irq.c (interrupts) and ring.c (the shared-memory ring transport).
 */
#ifndef VPCIE_HOST_PRIV_H
#define VPCIE_HOST_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vpcie/host.h>
#include <vpcie/ring.h>
#include <vpcie/trace.h>
#include <vpcie/transport.h>

#include "../util/spin.h"

/* Region indices we cache (PCI uses 0..8; device-specific ones follow). */
#define HOST_MAX_REGIONS 64u
/* fds we accept with one message (we announce it as max_msg_fds). */
#define HOST_MAX_FDS 16u
/* Room for a region info reply's capability chain beyond the fixed part. */
#define HOST_REGION_INFO_ARGSZ 8192u
/* BAR slots tracked: BAR0..5, then the expansion ROM (= VFIO ROM index 6). */
#define HOST_NR_BARS 7u
/* Most vectors any type can have (MSI-X table size limit). */
#define HOST_MAX_VECTORS 2048u

struct host_region {
	bool cached;
	bool has_sparse; /* info.sparse came from a SPARSE_MMAP capability */
	struct vpcie_host_region info;
	/* mmap state: reservation of map_len bytes; areas actually mapped. */
	uint8_t *map;
	size_t map_len;
	unsigned nr_areas;
	struct vpcie_sparse_area areas[VPCIE_MAX_SPARSE_AREAS];
};

struct vpcie_host_mem {
	struct vpcie_host *h;
	struct vpcie_host_mem *next;
	void *ptr;
	size_t size;
	uint64_t iova;
	unsigned flags;
};

#define HOST_IRQ_NONE (-1)
/* Polling the ring: look at the sockets and eventfds this often. */
#define HOST_SPIN_POLL_NS 4000u
/* Looks at the reply ring right after a command, before the full wait. */
#define HOST_RING_FAST_SPINS 256u

/* The shared-memory ring transport (ring.c, vpcie/ring.h). */
struct host_ring {
	void *mem;
	size_t len;
	uint32_t slots;
	int h2d_wake;            /* we write it to wake the device */
	int d2h_wake;            /* the device writes it to wake us */
	struct vpcie_ring h2d;   /* we produce commands */
	struct vpcie_ring d2h;   /* we consume replies and IRQ notices */
	bool dirty;              /* posted slots since the last reply: fence
				  * before anything goes on the socket */
	uint64_t stray;          /* malformed or unexpected slots dropped */
};

/* What host_pump() waits for (zero-initialise, then set extra_fd). */
struct pump {
	/* a reply with this id and command on the main socket */
	bool want_reply;
	uint16_t id;
	uint16_t cmd;
	struct vpcie_msg *reply;
	/* a ring reply with this id and op */
	bool want_ring;
	bool ring_got;
	uint16_t ring_id;
	uint16_t ring_op;
	struct vpcie_ring_slot *ring_reply;
	/* a free slot in the command ring */
	bool want_space;
	/* a ring interrupt notice for vector irq_vec */
	bool want_irq;
	unsigned irq_vec;
	/* return when this fd is readable (eventfd); -1 for none */
	int extra_fd;
	/* vpcie_host_poll(): return once commands were served and none pend */
	bool serve_mode;
	unsigned served;
};

struct vpcie_host {
	struct vpcie_logger lg;
	struct vpcie_host_opts opts;
	struct vpcie_chan *ch;    /* main socket */
	struct vpcie_chan *twin;  /* server-to-client commands, or NULL */
	struct host_ring *ring;   /* shared-memory ring transport, or NULL */
	struct vpcie_caps peer;   /* what the device answered */
	uint64_t xfer;            /* min(ours, theirs): split size for data */
	uint16_t next_id;
	bool broken;
	struct vpcie_spin spin;   /* adaptive polling while waiting */

	/* Posted writes not yet sent: whole messages, flushed in one syscall
	 * before anything that sends a request, waits, or touches a mapping. */
	uint8_t *post;
	size_t post_len;
	unsigned post_count;      /* writes in post (for the trace) */
	/* Commands without a reply went on the socket (posted writes, queued or
	 * sent) and no later reply has shown that the device handled them:
	 * an access through a mapping must fence first (host_fence()). The
	 * ring keeps the same state for its own posted slots (host_ring.dirty). */
	bool sock_unapplied;

	struct host_region *regions[HOST_MAX_REGIONS];

	struct vpcie_host_mem *mems;
	uint64_t dma_refused;
	uint64_t dma_served;

	/* config space size (cached from region 7 info), 0 if unknown */
	size_t cfg_size;

	struct vpcie_host_bar bars[HOST_NR_BARS];

	/* interrupts */
	int irq_type;  /* enum vpcie_host_irq_type or HOST_IRQ_NONE */
	unsigned irq_n;
	int *irq_fds;  /* irq_n eventfds */
	uint64_t *irq_ring; /* with the ring or interrupt messages: notices per
			     * vector not yet taken */
	bool intx_automasked; /* INTx needs an UNMASK after each event */
	unsigned msi_cap;      /* offsets found when enabling, 0 if none */
	uint16_t msi_flags;
	unsigned msix_cap;
	unsigned msix_bir;
	uint32_t msix_table_off;
	unsigned msix_table_size;

	struct vpcie_trace *trace; /* opts.trace_path open, or NULL */
};

/* Trace points (vpcie/trace.h) cost this one test when tracing is off. */
#define HOST_TRACING(h) __builtin_expect((h)->trace != NULL, 0)
#define HOST_TRACE_T0(h) (HOST_TRACING(h) ? vpcie_trace_now() : 0)

/* ---- host.c ------------------------------------------------------------- */

#define HOST_POST_BUF (64u * 1024)   /* posted-write batch buffer */
#define HOST_POST_FLUSH (16u * 1024) /* send once this much is queued */

/* Send the queued posted writes (0 if none). Sent is not applied: see
 * host_fence(). */
int host_flush(struct vpcie_host *h);

/*
 * The ordering point for accesses that bypass the device's command stream
 * (loads and stores through a mapped region): return once the device has
 * applied every write sent or queued before, on the socket and on the ring.
 * Costs nothing when no posted write is outstanding; otherwise one round
 * trip (a ring FENCE, and/or a DEVICE_GET_INFO on the socket, which the
 * device answers only after the commands before it).
 */
int host_fence(struct vpcie_host *h);

/* Queue a posted REGION_WRITE (sent at the next flush). */
int host_post_write(struct vpcie_host *h, unsigned index, uint64_t off, const void *data,
		    uint32_t count);

/*
 * Send command cmd (extra header flags in flags, e.g. VPCIE_MSGF_NO_REPLY)
 * with the payload pieces and fds, then wait for its reply (unless NO_REPLY),
 * serving device commands meanwhile. The reply is checked: error flag ->
 * -EIO, payload -> vpcie_validate_reply() (-EPROTO). If reply is non-NULL it
 * receives the message on success (caller releases); otherwise the reply is
 * released here. Returns 0 or -errno; -ECONNRESET once the handle is broken.
 */
int host_request(struct vpcie_host *h, unsigned cmd, uint32_t flags,
		 const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds,
		 struct vpcie_msg *reply);

/* Serve device commands (and the ring) until p's condition holds (0): a
 * reply, a free slot, an interrupt notice, or extra_fd (if >= 0) readable;
 * or the timeout passes (-ETIMEDOUT; in serve mode 0), or the connection
 * fails. */
int host_pump(struct vpcie_host *h, struct pump *p, int timeout_ms);

/* Mark the handle broken (logged once); returns the error to report. */
int host_mark_broken(struct vpcie_host *h, int rc, const char *what);

/* ---- ring.c ------------------------------------------------------------- */

/* After VERSION: check the device's ring answer and map it (0 if it did
 * not answer one; -EPROTO if the answer is unacceptable). */
int host_ring_setup(struct vpcie_host *h, struct vpcie_msg *rep);
void host_ring_free(struct vpcie_host *h);
/*
 * A region access through the ring: op VPCIE_RING_OP_READ (into buf) or
 * WRITE (from buf), count 1..VPCIE_RING_INLINE_MAX; posted writes do not
 * wait. Returns 0, -EIO (device error), -EPROTO, -ETIMEDOUT, -ECONNRESET.
 */
int host_ring_access(struct vpcie_host *h, unsigned op, unsigned index, uint64_t off,
		     void *buf, uint32_t count, bool posted);
/* Posted writes may be unhandled: wait until the device has handled them. */
int host_ring_fence(struct vpcie_host *h);
/* Consume what the device put in the reply ring (replies for p, interrupt
 * notices). Returns 1 if p's condition now holds, 0, or -errno. */
int host_ring_drain(struct vpcie_host *h, struct pump *p);
/* Something to consume, or (want_space) a free slot: without a system call. */
bool host_ring_ready(struct vpcie_host *h, const struct pump *p);

/* ---- region.c ----------------------------------------------------------- */

/* Cached region (queried on first use). */
int host_region_get(struct vpcie_host *h, unsigned index, struct host_region **out);
/* Close region fds, unmap, free. */
void host_regions_free(struct vpcie_host *h);
/* Check [off, off+len) lies inside region index; returns 0 or -EINVAL. */
int host_region_check(struct vpcie_host *h, unsigned index, uint64_t off, uint64_t len);

/* ---- mem.c -------------------------------------------------------------- */

/* The registered memory containing [addr, addr+len), or NULL. */
struct vpcie_host_mem *host_mem_find(struct vpcie_host *h, uint64_t addr, uint64_t len);
/* Unmap and free every allocation without telling the device. */
void host_mems_free(struct vpcie_host *h);

/* ---- irq.c -------------------------------------------------------------- */

/* Close the eventfds and forget the IRQ state (no messages). */
void host_irq_forget(struct vpcie_host *h);

/* Count one interrupt notice (ring slot or VPCIE_CMD_IRQ_NOTIFY) for vector
 * vec of index; returns true if it is for the vector p waits on. */
bool host_irq_note(struct vpcie_host *h, unsigned index, uint64_t vec, const struct pump *p);

/* A VPCIE_CMD_IRQ_NOTIFY from the device: 1 if it ends p's wait, else 0
 * (a malformed or unexpected one is dropped with a warning). */
int host_irq_message(struct vpcie_host *h, const struct vpcie_msg *m, const struct pump *p);

#endif
