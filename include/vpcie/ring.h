/* SPDX-License-Identifier: MIT */
/*
 * vpcie/ring.h - the shared-memory ring transport between a vpcie host and a
 * vpcie device.
 *
 * What it is
 * ----------
 * vfio-user moves every MMIO access as a message over an AF_UNIX socket: two
 * system calls and, when the peer sleeps, a wake-up per access. When both
 * ends are vpcie, they can instead exchange small commands through two
 * single-producer/single-consumer rings in a memfd both map, spinning on
 * memory while traffic flows and sleeping on an eventfd when it stops. The
 * socket stays: for negotiation, for everything the ring does not carry, for
 * passing fds, and as the only transport with any other peer.
 *
 * Negotiation (VERSION capabilities, see vpcie/protocol.h)
 * ------------------------------------------------------
 * The host proposes  "vpcie_ring": {"version": 1}  in its VERSION JSON. Other
 * vfio-user servers ignore the unknown member; QEMU never proposes it, so a
 * vpcie device only enables the ring when asked. A vpcie device that accepts
 * answers with
 *
 *   "vpcie_ring": {"version": 1, "slots": N, "fd_index": i,
 *                  "h2d_wake_fd_index": j, "d2h_wake_fd_index": k}
 *
 * and passes three fds with the VERSION reply at those indices: the memfd
 * holding both rings (sealed against shrinking and growing, exactly
 * vpcie_ring_mem_size(N) bytes), the eventfd the host writes to wake the
 * device (h2d wake) and the eventfd the device writes to wake the host (d2h
 * wake). The host checks all of it (version, indices, sizes, seals, fd types)
 * and refuses the connection (-EPROTO) if anything is off; a device that does
 * not answer leaves the host on plain vfio-user.
 *
 * Memory layout (offsets in the memfd; every index is a free-running uint32)
 * -------------
 *      0  struct vpcie_ring_info: magic, version, slots (informational: each
 *         side uses the negotiated values, never these)
 *     64  host->device (H2D) control: four cache lines, 256 bytes
 *           +0   cons      next slot the consumer will read   (consumer)
 *           +64  sleeping  0, or the consumer's sleep generation while it
 *                          blocks on its wake eventfd            (consumer)
 *           +128 waiting   0, or the producer's generation while it blocks
 *                          waiting for a free slot               (producer)
 *           +192 unused, 0
 *    320  device->host (D2H) control, the same four lines
 *   4096  H2D slots: N x 64 bytes
 *   4096 + 64N  D2H slots: N x 64 bytes
 *
 * N is a power of two from 16 to 65536. Ring index i (a free-running
 * uint32) lives in slot (i & (N-1)). The producer's index is not in the
 * shared memory: each slot carries it instead. The producer fills slot i,
 * then stores i + 1 in its seq field (release); the consumer at index i
 * waits for seq == i + 1 (acquire). So a slot is one cache line that moves
 * once from producer to consumer, with nothing else to fetch; the consumer
 * index (read by the producer only when its view says the ring is full)
 * and the flags live on lines of their own.
 *
 * What travels where
 * ------------------
 * H2D ring (host -> device), struct vpcie_ring_slot with op:
 *   READ   region read of count (1..32) bytes at index/offset. Replied.
 *   WRITE  region write of count (1..32) bytes from data[]. Replied, unless
 *          flags has VPCIE_RING_F_POSTED (a posted write: no reply).
 *   FENCE  no operation; replied once every slot before it was handled.
 * D2H ring (device -> host):
 *   replies: op and id of the command, VPCIE_RING_F_REPLY; READ replies
 *          carry index/offset/count and the data; an error reply has
 *          VPCIE_RING_F_ERROR and the errno in error (what a socket error
 *          reply would carry), and no data.
 *   IRQ    interrupt notice: vector offset of IRQ index `index` (VFIO INTx,
 *          MSI or MSI-X) fired. Sent instead of writing the vector's eventfd,
 *          only for vectors the host attached an eventfd to with SET_IRQS
 *          (same semantics as the eventfd: nothing is delivered otherwise);
 *          when fewer than two D2H slots are free the device writes the
 *          eventfd instead, so one slot always stays free for a reply and an
 *          interrupt is never lost or delayed behind a full ring.
 *   DMA completion: a device's DMA into shared host memory is a plain store
 *          into the host's memfd; publishing any later D2H slot is a release
 *          store, so a host that sees the reply to the command that started
 *          the DMA, or the interrupt notice the device raises after it, sees
 *          the data: the reply or notice is the completion notice. DMA
 *          through messages (DMA_READ/DMA_WRITE, memory without an fd) keeps
 *          the socket: its data is large and the device waits for the reply.
 * Everything else keeps the socket: region accesses over 32 bytes,
 * REGION_WRITE_MULTI, DMA_MAP/UNMAP, SET_IRQS, resets, region and IRQ info.
 * (Config space accesses are region accesses: they use the ring.)
 *
 * Ordering (the same semantics as the socket alone)
 * --------
 * The device handles H2D slots in ring order and socket commands in socket
 * order. Between the two, the host keeps one source at a time: before it
 * sends a command on the socket while posted ring writes may be unhandled,
 * it sends a FENCE and waits for its reply; every socket command the host
 * sends is then answered before the host uses the ring again (posted writes
 * too large for a slot go as writes that wait for their reply while the
 * ring is on). So a read always sees the posted writes before it, whichever
 * transport each went on. On disconnect the device first handles what is
 * left in the H2D ring (posted writes sent before the close are applied, as
 * bytes still in the socket would be), then tears the ring down with the
 * client; device state is kept, and the next client negotiates afresh (with
 * or without a ring).
 *
 * Waiting: spin, then block
 * -------
 * A consumer with nothing to read spins on the next slot's seq for its
 * adaptive polling window (poll_max_us in vpcie/device.h and vpcie/host.h;
 * looking at its other fds every few microseconds), then announces sleep
 * (vpcie_ring_sleep_prepare(): stores a new generation in `sleeping`, a full
 * fence, and a last look at the ring) and blocks on its wake eventfd. A
 * producer, after publishing a slot, fences and reads `sleeping`: non-zero
 * and not yet kicked for that generation means one eventfd write. The two
 * fences make a lost wake-up impossible, and the generation makes a burst of
 * slots cost one eventfd write per sleep, not one per slot. A producer that
 * finds the ring full spins, then sets `waiting` the same way; the consumer
 * checks it every 16 slots it frees (a full ring frees at least 16) and
 * wakes the producer. An idle connection costs nothing: both sides are
 * blocked. (With poll_max_us 0 nobody spins: every access then pays the
 * eventfd wake-ups.)
 *
 * Trust
 * -----
 * Everything in the shared memory is written by the peer, which may be
 * hostile or broken. Each side keeps its own indices and the geometry in
 * private memory; only the consumer index is read from the peer, and one
 * that claims more than N slots in flight, or slots never produced, is a
 * protocol error (-EPROTO) and the connection is dropped. A seq that is not
 * the expected one just means "not ready yet". A slot is copied out in one
 * piece before any field of it is looked at, and the copy is then checked
 * (vpcie_ring_slot_check()) and bounds-checked by the runtime like any
 * socket message: garbage is answered with an error, never followed. The
 * flags only decide whether a side makes a system call.
 *
 * These functions are the ring itself, used by both runtimes; programs do
 * not need them (they set vpcie_host_opts.ring / vpcie_dev_opts.offer_ring).
 * A struct vpcie_ring is one end of one direction and belongs to one thread.
 */
#ifndef VPCIE_RING_H
#define VPCIE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VPCIE_RING_VERSION 1
#define VPCIE_RING_MAGIC 0x474e4952u /* "RING" */
#define VPCIE_RING_SLOT_SIZE 64u
#define VPCIE_RING_INLINE_MAX 32u    /* data bytes one slot carries */
#define VPCIE_RING_SLOTS_MIN 16u
#define VPCIE_RING_SLOTS_MAX 65536u
#define VPCIE_RING_SLOTS_DEFAULT 1024u
#define VPCIE_RING_HDR_SIZE 4096u    /* info + control lines; slots follow */

enum vpcie_ring_dir {
	VPCIE_RING_H2D = 0, /* host -> device: commands */
	VPCIE_RING_D2H = 1, /* device -> host: replies and interrupt notices */
};

enum vpcie_ring_op {
	VPCIE_RING_OP_READ = 1,
	VPCIE_RING_OP_WRITE = 2,
	VPCIE_RING_OP_FENCE = 3,
	VPCIE_RING_OP_IRQ = 4,  /* D2H only, never a reply */
};

#define VPCIE_RING_F_REPLY (1u << 0)
#define VPCIE_RING_F_ERROR (1u << 1)
#define VPCIE_RING_F_POSTED (1u << 2)
#define VPCIE_RING_F_KNOWN (VPCIE_RING_F_REPLY | VPCIE_RING_F_ERROR | VPCIE_RING_F_POSTED)

/* One 64-byte slot. Host-endian, like the rest of vfio-user over AF_UNIX. */
struct vpcie_ring_slot {
	uint16_t op;       /* enum vpcie_ring_op */
	uint16_t id;       /* command id, echoed by its reply */
	uint16_t flags;    /* VPCIE_RING_F_* */
	uint16_t count;    /* bytes of data[] in use (0..VPCIE_RING_INLINE_MAX) */
	uint32_t index;    /* region index (READ/WRITE), VFIO IRQ index (IRQ) */
	uint32_t error;    /* errno of an error reply, else 0 */
	uint64_t offset;   /* region offset (READ/WRITE), vector (IRQ) */
	uint32_t seq;      /* ring index + 1, stored last by vpcie_ring_push() */
	uint32_t reserved; /* 0 */
	uint8_t data[VPCIE_RING_INLINE_MAX];
};

_Static_assert(sizeof(struct vpcie_ring_slot) == VPCIE_RING_SLOT_SIZE, "ring slot size");

/* At offset 0 of the shared memory. */
struct vpcie_ring_info {
	uint32_t magic;
	uint32_t version;
	uint32_t slots;
	uint32_t slot_size;
};

/* One end of one direction. Private to its process; fields are internal. */
struct vpcie_ring {
	void *ctrl;        /* the direction's control lines in the shared memory */
	uint8_t *slots;    /* the direction's slots in the shared memory */
	uint32_t size, mask;
	uint32_t head;     /* producer: next index to fill; consumer: next to read */
	uint32_t seen;     /* producer: consumer index last read */
	uint32_t gen;      /* our sleep / wait generation (never 0 once used) */
	uint32_t kicked;   /* the peer's generation we last woke */
	bool producer;
	bool announced;    /* we set sleeping / waiting and have not cleared it */
	bool kick_peer;    /* consumer: the waiting producer must be woken */
};

/* Whether slots is a power of two within [SLOTS_MIN, SLOTS_MAX]. */
bool vpcie_ring_slots_valid(uint32_t slots);

/* Bytes of shared memory for two rings of slots each; 0 if slots is invalid. */
size_t vpcie_ring_mem_size(uint32_t slots);

/* Initialise fresh shared memory (vpcie_ring_mem_size(slots) bytes): the
 * info block, every index and flag zero. Done by the side that creates it. */
void vpcie_ring_mem_init(void *mem, uint32_t slots);

/*
 * Attach to direction dir of the rings in mem (len bytes, which must be at
 * least vpcie_ring_mem_size(slots)) as its producer or consumer. Starts at
 * index 0, as a freshly initialised ring does. Returns 0 or -EINVAL.
 */
int vpcie_ring_open(struct vpcie_ring *r, void *mem, size_t len, uint32_t slots,
		    enum vpcie_ring_dir dir, bool producer);

/* ---- Producer ----------------------------------------------------------- */

/*
 * Copy *s into the next slot and publish it (its seq, with a release store;
 * s->seq is ignored). Returns 0, -EAGAIN if the ring is full, -EPROTO if
 * the consumer's index is impossible.
 */
int vpcie_ring_push(struct vpcie_ring *r, const struct vpcie_ring_slot *s);

/*
 * After one or more pushes: whether the consumer is asleep and has not been
 * woken for this sleep yet (then write its wake eventfd once). Full fence.
 */
bool vpcie_ring_kick_needed(struct vpcie_ring *r);

/* Free slots (re-reading the consumer's index), or -EPROTO. */
int vpcie_ring_free(struct vpcie_ring *r);

/* Slots published and not yet consumed, or -EPROTO. */
int vpcie_ring_pending(struct vpcie_ring *r);

/*
 * About to block until a slot frees: announce it (new generation in
 * `waiting`, full fence) and look again. Returns the free slots now (> 0:
 * do not block; call vpcie_ring_wait_done() either way), or -EPROTO.
 */
int vpcie_ring_wait_prepare(struct vpcie_ring *r);
void vpcie_ring_wait_done(struct vpcie_ring *r);

/* ---- Consumer ----------------------------------------------------------- */

/* Whether the next slot is ready to read (one load, no system call). */
bool vpcie_ring_ready(const struct vpcie_ring *r);

/*
 * Copy the next slot into *out (in one piece, before anything looks at it)
 * and free it. Returns 1, or 0 if it is not ready. The copy is not
 * validated: see vpcie_ring_slot_check().
 */
int vpcie_ring_pop(struct vpcie_ring *r, struct vpcie_ring_slot *out);

/* After pops: whether the producer waits for space and must be woken (once
 * per wait). Clears the indication. */
bool vpcie_ring_take_kick(struct vpcie_ring *r);

/*
 * About to block on the wake eventfd: announce sleep (new generation in
 * `sleeping`, full fence) and look again. Returns true if a slot is ready
 * now (do not block). Call vpcie_ring_awake() once awake (or not blocking
 * after all); it only writes the shared flag if it was set.
 */
bool vpcie_ring_sleep_prepare(struct vpcie_ring *r);
void vpcie_ring_awake(struct vpcie_ring *r);

/* ---- Slots -------------------------------------------------------------- */

/*
 * Check a copied-out slot for the static rules of its direction: a known op
 * (H2D: READ, WRITE, FENCE commands; D2H: replies to those, or IRQ), known
 * flags, count within VPCIE_RING_INLINE_MAX (READ/WRITE commands: 1..32,
 * READ replies: 1..32 unless an error), nothing in reserved. Returns 0 or
 * -EINVAL. Region bounds are the receiver's business.
 */
int vpcie_ring_slot_check(const struct vpcie_ring_slot *s, enum vpcie_ring_dir dir);

#ifdef __cplusplus
}
#endif
#endif
