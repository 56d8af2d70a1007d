/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the device runtime consuming the shared-memory ring
 * transport (vpcie/ring.h) that a hostile host writes.
 *
 * The harness plays the host, in the same thread, on an in-memory
 * socketpair (fuzz_stream.h; the device is attached with
 * vpcie_dev_attach_chan()): it proposes the ring in VERSION, maps the memfd
 * the device answers with, optionally attaches interrupt eventfds and DMA
 * memory over the socket, then runs the operations of the input against
 * the device of fuzz_dev_model.h, calling vpcie_dev_dispatch() (the real
 * ring serving) in between. It writes command slots, the control words and
 * any byte of the shared memory, and reads back what the device publishes
 * in the reply ring. The device's DMA messages are answered as the device
 * sends them (it waits for the reply), from the harness's copy of the
 * window at 0x10000: below its last 4 KiB with the data, refused up to its
 * last 256 bytes, never above (the device then waits its 1 ms timeout).
 *
 * Input byte 0 (setup):
 *   bit 0  SET_IRQS MSI-X vectors 0-3 with eventfds (notices go in the ring)
 *   bit 1  SET_IRQS MSI vectors 0-3 with eventfds
 *   bit 2  DMA_MAP 64 KiB at 0x10000 with an unsealed memfd (the device
 *          serves it with DMA messages)
 *   bit 3  64 slots per ring instead of 16
 *   bit 4  DMA_MAP 64 KiB at 0x20000 with a sealed memfd (the device maps
 *          it: DMA is a plain store)
 * then operations until the input ends, each an opcode byte:
 *   0 CMD    u8 op, u8 flags, u8 count, u8 index, u32 offset, then for
 *            op WRITE min(count, 32) data bytes: a command slot with the
 *            next id, published (seq = index + 1)
 *   1 RAW    u8 publish, 64 bytes: a whole slot as is; published only if
 *            publish is odd (seq then overwritten), else seq stays as given
 *   2 RUN    u8 how: vpcie_dev_dispatch(); bit 0 write the h2d wake eventfd
 *            first, bit 1 do not consume replies afterwards
 *   3 CTRL   u8 which, u32 value: store into control word which % 8
 *            (direction which / 4 % 2, line which % 4)
 *   4 POKE   u16 offset, u8 len, len bytes: anywhere in the shared memory
 *            the device reads (header, control lines, command slots)
 *   5 SOCK   u8 what: a socket command (GET_INFO, a 64-byte config read,
 *            RESET, SET_IRQS disabling MSI-X), answered before the next op
 *   6 CLOSE  the host goes away; the device must drain the ring and drop it
 *
 * Invariants (abort() on violation): what the device publishes is a reply
 * (REPLY set) to the oldest published command still owed one, with its op,
 * id, index and offset (unless the input scribbled over the reply ring's
 * consumer index or the command slots themselves); replies to well-formed
 * commands and interrupt notices pass vpcie_ring_slot_check(D2H); a READ answered without error
 * carries exactly the bytes asked for; the device never produces more slots
 * than the ring holds; once the host is gone, the device lets it go.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <vpcie/device.h>
#include <vpcie/protocol.h>
#include <vpcie/ring.h>
#include <vpcie/transport.h>

#include "fuzz_dev_model.h"
#include "fuzz_stream.h"

#define MAX_OWED 4096u
#define H2D_CONS 64u            /* the command ring's consumer index line */
#define D2H_CONS (64u + 256u)   /* the reply ring's consumer index line */
#define D2H_CONS_END (D2H_CONS + 64u)
#define DMA_IOVA 0x10000u
#define DMA_SIZE (64u * 1024)
#define DMA_REFUSE (DMA_IOVA + DMA_SIZE - 4096u) /* from here: refused */
#define DMA_IGNORE (DMA_IOVA + DMA_SIZE - 256u)  /* from here: never answered */
#define INBOX 64u
#define DEV_END 0u /* the device's end of the fs_pair; ours is 1 */

/* A published command the device still owes a reply. */
struct owed {
	uint16_t op, id;
	uint32_t index;
	uint64_t offset;
	uint16_t count;
	bool wellformed;
};

struct harness {
	struct fdev *f;
	struct vpcie_chan *ch;
	struct fs_pair pair;
	struct vpcie_msg inbox[INBOX]; /* what the device sent, but DMA requests */
	unsigned ninbox;
	uint8_t dma[DMA_SIZE];      /* the host memory DMA messages reach */
	uint8_t *mem;
	size_t len;
	uint32_t slots;
	int h2d_wake, d2h_wake;
	struct vpcie_ring d2h;      /* we consume the device's replies */
	uint32_t prod;              /* our producer index in the h2d ring */
	uint16_t next_id;
	uint16_t msg_id;
	struct owed owed[MAX_OWED];
	unsigned owed_head, nowed;
	bool gone;
	/* We scribbled over the reply ring's consumer index or the command
	 * slots: the device may then legitimately overwrite replies we did not
	 * read or run commands we did not record, so only notices and the
	 * shape of replies are checked from then on. */
	bool tainted;
	/* We scribbled over the command ring's consumer index: what it reads
	 * is then no longer the device's progress (see RAW). */
	bool h2d_cons_scribbled;
};

static void drop_inbox(struct harness *hs)
{
	for (unsigned i = 0; i < hs->ninbox; i++)
		vpcie_msg_release(&hs->inbox[i]);
	hs->ninbox = 0;
}

/* A DMA request from the device, answered as a host would: from dma[] below
 * DMA_REFUSE, refused up to DMA_IGNORE, never answered above (the device
 * then waits its DMA timeout). */
static void answer_dma(struct harness *hs, const struct vpcie_msg *m)
{
	struct vpcie_dma_access a;
	bool wr = m->hdr.cmd == VPCIE_CMD_DMA_WRITE;
	struct iovec iov[2];
	uint8_t *p;

	if (m->payload_len < sizeof(a))
		goto refuse;
	memcpy(&a, m->payload, sizeof(a));
	if (a.addr >= DMA_IGNORE && a.addr < DMA_IOVA + DMA_SIZE)
		return;
	if (a.addr < DMA_IOVA || a.addr >= DMA_REFUSE || a.count > DMA_SIZE ||
	    a.addr - DMA_IOVA > DMA_SIZE - a.count || (wr && m->payload_len - sizeof(a) < a.count))
		goto refuse;
	p = hs->dma + (a.addr - DMA_IOVA);
	if (wr) {
		struct vpcie_dma_write_reply r = {.addr = a.addr, .count = (uint32_t)a.count};

		memcpy(p, (const uint8_t *)m->payload + sizeof(a), a.count);
		iov[0] = (struct iovec){&r, sizeof(r)};
		vpcie_chan_reply(hs->ch, &m->hdr, iov, 1, NULL, 0, 100);
	} else {
		iov[0] = (struct iovec){&a, sizeof(a)};
		iov[1] = (struct iovec){p, a.count};
		vpcie_chan_reply(hs->ch, &m->hdr, iov, 2, NULL, 0, 100);
	}
	return;
refuse:
	vpcie_chan_reply_error(hs->ch, &m->hdr, EFAULT, 100);
}

/* Take what the device sent on the socket: DMA requests are answered at
 * once (the device waits for them), anything else is kept in the inbox. */
static void pump_sock(struct harness *hs)
{
	for (;;) {
		struct vpcie_msg m;
		int rc = vpcie_chan_recv(hs->ch, &m, 0);

		if (rc) {
			if (rc != -EAGAIN && rc != -ETIMEDOUT)
				hs->gone = true;
			return;
		}
		if ((m.hdr.flags & VPCIE_MSGF_TYPE_MASK) == VPCIE_MSGF_COMMAND &&
		    (m.hdr.cmd == VPCIE_CMD_DMA_READ || m.hdr.cmd == VPCIE_CMD_DMA_WRITE)) {
			answer_dma(hs, &m);
			vpcie_msg_release(&m);
		} else if (hs->ninbox < INBOX) {
			hs->inbox[hs->ninbox++] = m;
		} else {
			vpcie_msg_release(&m);
		}
	}
}

/* The device sent bytes (fs_pair hook): take them at once. */
static void device_sent(void *opaque)
{
	pump_sock(opaque);
}

/* Send a socket command and let the device answer it (the reply and its fds
 * are released). Returns the reply's error (0 ok), or -1 without a reply. */
static int sock_call(struct harness *hs, uint16_t cmd, const void *payload, size_t len,
		     const int *fds, unsigned nfds, struct vpcie_msg *out)
{
	struct vpcie_msg_hdr hdr = {.msg_id = ++hs->msg_id, .cmd = cmd};
	struct iovec iov = {(void *)payload, len};

	if (hs->gone || vpcie_chan_send(hs->ch, &hdr, &iov, len ? 1 : 0, fds, nfds, 100))
		return -1;
	for (int round = 0; round < 64; round++) {
		vpcie_dev_dispatch(hs->f->dev, 0);
		pump_sock(hs);
		for (unsigned i = 0; i < hs->ninbox; i++) {
			struct vpcie_msg *m = &hs->inbox[i];
			int err;

			if (m->hdr.msg_id != hdr.msg_id || !(m->hdr.flags & VPCIE_MSGF_REPLY))
				continue;
			err = m->hdr.flags & VPCIE_MSGF_ERROR ? (int)(m->hdr.error ? m->hdr.error : EIO)
							      : 0;
			if (out) {
				*out = *m;
				memset(m, 0, sizeof(*m));
			}
			drop_inbox(hs);
			return err;
		}
		drop_inbox(hs);
		if (hs->gone)
			return -1;
	}
	return -1;
}

static int negotiate(struct harness *hs, uint32_t slots)
{
	struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
	struct vpcie_caps caps, peer;
	char buf[sizeof(v) + 512];
	struct vpcie_msg rep;
	int n, fd;

	vpcie_caps_defaults(&caps);
	caps.max_msg_fds = 16;
	caps.twin_fd_index = -1;
	caps.ring = true;
	caps.ring_version = VPCIE_RING_VERSION;
	n = vpcie_caps_to_json(&caps, buf + sizeof(v), sizeof(buf) - sizeof(v));
	if (n < 0)
		abort();
	memcpy(buf, &v, sizeof(v));
	if (sock_call(hs, VPCIE_CMD_VERSION, buf, sizeof(v) + (size_t)n, NULL, 0, &rep) != 0)
		abort(); /* a well-behaved VERSION must be accepted */
	vpcie_caps_defaults(&peer);
	if (rep.payload_len <= sizeof(v) ||
	    vpcie_caps_from_json((const char *)rep.payload + sizeof(v), rep.payload_len - sizeof(v),
				 &peer) ||
	    !peer.ring || peer.ring_slots != slots || vpcie_ring_mem_size(slots) == 0)
		abort(); /* the device must offer the ring it was configured with */
	hs->slots = slots;
	hs->len = vpcie_ring_mem_size(slots);
	fd = vpcie_msg_take_fd(&rep, (unsigned)peer.ring_fd_index);
	hs->h2d_wake = vpcie_msg_take_fd(&rep, (unsigned)peer.ring_h2d_wake_fd_index);
	hs->d2h_wake = vpcie_msg_take_fd(&rep, (unsigned)peer.ring_d2h_wake_fd_index);
	vpcie_msg_release(&rep);
	if (fd < 0 || hs->h2d_wake < 0 || hs->d2h_wake < 0)
		abort();
	hs->mem = mmap(NULL, hs->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (hs->mem == MAP_FAILED)
		abort();
	if (vpcie_ring_open(&hs->d2h, hs->mem, hs->len, slots, VPCIE_RING_D2H, false))
		abort();
	return 0;
}

static void set_irqs(struct harness *hs, uint32_t index, unsigned n)
{
	struct vpcie_irq_set s = {.argsz = sizeof(s),
				  .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  .index = index, .count = n};
	/* Created once: the device gets copies, and nobody reads what it
	 * signals through them, so nothing carries over between inputs. */
	static int fds[4] = {-1, -1, -1, -1};

	for (unsigned i = 0; i < n; i++)
		if (fds[i] < 0 && (fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
			abort();
	sock_call(hs, VPCIE_CMD_DEVICE_SET_IRQS, &s, sizeof(s), fds, n, NULL);
}

/* 64 KiB at iova from a memfd: unsealed, the device serves it with DMA
 * messages (it only keeps the fd to check its size: one memfd does for all
 * inputs); sealed against resizing, the device maps it and writes it, so
 * that one is new for each input. */
static void dma_map(struct harness *hs, uint64_t iova, bool sealed)
{
	struct vpcie_dma_map m = {.argsz = sizeof(m),
				  .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
				  .addr = iova, .size = DMA_SIZE};
	static int unsealed = -1;
	int fd = sealed ? -1 : unsealed;

	if (fd < 0) {
		fd = memfd_create("fuzz-dma", MFD_CLOEXEC | (sealed ? MFD_ALLOW_SEALING : 0));
		if (fd < 0 || ftruncate(fd, DMA_SIZE) < 0 ||
		    (sealed && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0))
			abort();
		if (!sealed)
			unsealed = fd;
	}
	sock_call(hs, VPCIE_CMD_DMA_MAP, &m, sizeof(m), &fd, 1, NULL);
	if (sealed)
		close(fd);
}

static uint8_t *h2d_slot(struct harness *hs, uint32_t i)
{
	return hs->mem + VPCIE_RING_HDR_SIZE + (size_t)(i & (hs->slots - 1)) * VPCIE_RING_SLOT_SIZE;
}

/* Write s into the next h2d slot and publish it; remember the reply owed. */
static void publish(struct harness *hs, struct vpcie_ring_slot *s)
{
	s->seq = hs->prod + 1;
	/* Everything but seq, then seq (release), as a producer does. */
	memcpy(h2d_slot(hs, hs->prod), s, offsetof(struct vpcie_ring_slot, seq));
	memcpy(h2d_slot(hs, hs->prod) + offsetof(struct vpcie_ring_slot, reserved), &s->reserved,
	       VPCIE_RING_SLOT_SIZE - offsetof(struct vpcie_ring_slot, reserved));
	__atomic_store_n((uint32_t *)(void *)(h2d_slot(hs, hs->prod) +
					      offsetof(struct vpcie_ring_slot, seq)),
			 s->seq, __ATOMIC_RELEASE);
	hs->prod++;
	if (!(s->flags & VPCIE_RING_F_POSTED) && hs->nowed < MAX_OWED) {
		hs->owed[(hs->owed_head + hs->nowed) % MAX_OWED] = (struct owed){
			.op = s->op, .id = s->id, .index = s->index, .offset = s->offset,
			.count = s->count,
			.wellformed = vpcie_ring_slot_check(s, VPCIE_RING_H2D) == 0,
		};
		hs->nowed++;
	}
}

/* Take what the device published and check it. */
static void consume(struct harness *hs)
{
	struct vpcie_ring_slot r;
	unsigned n = 0;

	while (vpcie_ring_pop(&hs->d2h, &r) == 1) {
		if (++n > hs->slots && !hs->tainted)
			abort(); /* more than the ring holds without us freeing any */
		if (r.op == VPCIE_RING_OP_IRQ && !(r.flags & VPCIE_RING_F_REPLY)) {
			if (vpcie_ring_slot_check(&r, VPCIE_RING_D2H) || r.index > VFIO_PCI_MSIX_IRQ_INDEX)
				abort();
			continue;
		}
		if (!(r.flags & VPCIE_RING_F_REPLY))
			abort(); /* neither a notice nor a reply */
		if (hs->tainted)
			continue;
		if (hs->nowed == 0)
			abort(); /* a reply to nothing */
		{
			struct owed o = hs->owed[hs->owed_head];

			hs->owed_head = (hs->owed_head + 1) % MAX_OWED;
			hs->nowed--;
			if (r.op != o.op || r.id != o.id || r.index != o.index || r.offset != o.offset)
				abort(); /* out of order, or not an echo of the command */
			if (o.wellformed && vpcie_ring_slot_check(&r, VPCIE_RING_D2H))
				abort();
			if (o.wellformed && o.op == VPCIE_RING_OP_READ &&
			    !(r.flags & VPCIE_RING_F_ERROR) && r.count != o.count)
				abort();
		}
	}
}

static void run(struct harness *hs, unsigned how)
{
	uint64_t v = 1;

	if ((how & 1) && write(hs->h2d_wake, &v, sizeof(v)) < 0) {
		/* saturated: the device is awake anyway */
	}
	vpcie_dev_dispatch(hs->f->dev, 0);
	/* d2h_wake is never drained: we never announce sleep on the reply
	 * ring, so the device only writes it when the input scribbled there. */
	if (!(how & 2))
		consume(hs);
	/* Other socket messages are dropped. */
	pump_sock(hs);
	drop_inbox(hs);
}

static void sock_cmd(struct harness *hs, unsigned what)
{
	switch (what % 4) {
	case 0: {
		struct vpcie_device_info in = {.argsz = sizeof(in)};

		sock_call(hs, VPCIE_CMD_DEVICE_GET_INFO, &in, sizeof(in), NULL, 0, NULL);
		break;
	}
	case 1: {
		struct vpcie_region_access ra = {.region = VFIO_PCI_CONFIG_REGION_INDEX, .count = 64};

		sock_call(hs, VPCIE_CMD_REGION_READ, &ra, sizeof(ra), NULL, 0, NULL);
		break;
	}
	case 2:
		sock_call(hs, VPCIE_CMD_DEVICE_RESET, NULL, 0, NULL, 0, NULL);
		break;
	case 3: {
		struct vpcie_irq_set s = {.argsz = sizeof(s),
					  .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
					  .index = VFIO_PCI_MSIX_IRQ_INDEX};

		sock_call(hs, VPCIE_CMD_DEVICE_SET_IRQS, &s, sizeof(s), NULL, 0, NULL);
		break;
	}
	}
}

/* The host goes away: the device must notice and drop it. */
static void close_host(struct harness *hs)
{
	fs_shutdown_wr(&hs->pair, !DEV_END);
	for (int round = 0; round < 64 && !hs->gone; round++) {
		vpcie_dev_dispatch(hs->f->dev, 0);
		consume(hs);
		pump_sock(hs);
		drop_inbox(hs);
	}
	if (!hs->gone)
		abort(); /* the device kept a host whose socket ended */
}

struct reader {
	const uint8_t *p, *end;
};

static bool take(struct reader *rd, void *out, size_t n)
{
	if ((size_t)(rd->end - rd->p) < n)
		return false;
	memcpy(out, rd->p, n);
	rd->p += n;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader rd = {data, data + size};
	struct vpcie_chan_limits lim = {.max_msg_size = 1u << 20, .max_fds = 16};
	struct vpcie_dev_opts opts;
	struct vpcie_chan *dch;
	struct harness *hs;
	uint8_t setup;

	if (!take(&rd, &setup, 1))
		return 0;
	/* ~170 KiB: kept resident across inputs (a fresh calloc costs an
	 * mmap, page faults and a munmap each time), cleared for each. */
	static struct harness hs_store;
	hs = &hs_store;
	memset(hs, 0, sizeof(*hs));
	hs->f = calloc(1, sizeof(*hs->f));
	if (!hs->f)
		abort();
	fs_pair_init(&hs->pair);
	hs->pair.end[DEV_END].on_send = device_sent;
	hs->pair.end[DEV_END].opaque = hs;
	vpcie_dev_opts_defaults(&opts);
	opts.max_data_xfer_size = 4096;
	opts.offer_ring = true;
	opts.ring_slots = setup & 8 ? 64 : 16;
	opts.poll_max_us = 0; /* no spinning: dispatch(0) returns at once */
	/* Requests we answer are answered inside the device's send, so the
	 * timeout is only ever waited out by the ones we ignore: 1 ms, not 20
	 * (those few inputs took 95% of the corpus's run time). */
	opts.dma_timeout_ms = 1;
	make_device(hs->f, &opts);
	hs->ch = vpcie_chan_new_stream(&fs_ops, &hs->pair.end[!DEV_END], &lim);
	dch = vpcie_chan_new_stream(&fs_ops, &hs->pair.end[DEV_END], &lim);
	if (!hs->ch || !dch || vpcie_dev_attach_chan(hs->f->dev, dch) != 0)
		abort();
	hs->h2d_wake = hs->d2h_wake = -1;
	negotiate(hs, opts.ring_slots);
	if (setup & 1)
		set_irqs(hs, VFIO_PCI_MSIX_IRQ_INDEX, 4);
	if (setup & 2)
		set_irqs(hs, VFIO_PCI_MSI_IRQ_INDEX, 4);
	if (setup & 4)
		dma_map(hs, DMA_IOVA, false);
	if (setup & 16)
		dma_map(hs, DMA_IOVA + DMA_SIZE, true);

	for (bool closed = false; !closed;) {
		uint8_t op, b[8];
		struct vpcie_ring_slot s;

		if (!take(&rd, &op, 1))
			break;
		switch (op % 7) {
		case 0: /* CMD */
			if (!take(&rd, b, 8))
				goto out;
			memset(&s, 0, sizeof(s));
			s.op = b[0];
			s.flags = b[1];
			s.count = b[2];
			s.index = b[3];
			s.offset = (uint64_t)b[4] | (uint64_t)b[5] << 8 | (uint64_t)b[6] << 16 |
				   (uint64_t)b[7] << 24;
			s.id = hs->next_id++;
			if (s.op == VPCIE_RING_OP_WRITE &&
			    !take(&rd, s.data, s.count < VPCIE_RING_INLINE_MAX ? s.count
										: VPCIE_RING_INLINE_MAX))
				goto out;
			publish(hs, &s);
			break;
		case 1: /* RAW */
			if (!take(&rd, b, 1) || !take(&rd, &s, sizeof(s)))
				goto out;
			if ((b[0] & 1) || s.seq == hs->prod + 1) {
				publish(hs, &s); /* ready either way: record it */
			} else {
				/* The next slot may still hold a command the device
				 * has not read (the ring is full): overwriting it, with
				 * whatever seq, changes which commands the device sees. */
				uint32_t cons = __atomic_load_n((uint32_t *)(void *)(hs->mem + H2D_CONS),
								__ATOMIC_ACQUIRE);

				if (hs->h2d_cons_scribbled || hs->prod - cons >= hs->slots)
					hs->tainted = true;
				memcpy(h2d_slot(hs, hs->prod), &s, sizeof(s));
			}
			break;
		case 2: /* RUN */
			if (!take(&rd, b, 1))
				goto out;
			run(hs, b[0]);
			break;
		case 3: { /* CTRL */
			uint32_t v;
			unsigned dir, line;

			if (!take(&rd, b, 1) || !take(&rd, &v, 4))
				goto out;
			dir = b[0] / 4 % 2;
			line = b[0] % 4;
			memcpy(hs->mem + 64 + dir * 256 + line * 64, &v, 4);
			if (line == 0 && dir == VPCIE_RING_D2H)
				hs->tainted = true; /* the reply ring's consumer index */
			else if (line == 0)
				hs->h2d_cons_scribbled = true;
			break;
		}
		case 4: { /* POKE */
			size_t off, len, end;

			if (!take(&rd, b, 3))
				goto out;
			/* The reply slots are ours to read, never the device's. */
			end = VPCIE_RING_HDR_SIZE + (size_t)hs->slots * VPCIE_RING_SLOT_SIZE;
			off = ((size_t)b[0] | (size_t)b[1] << 8) % end;
			len = b[2];
			if (len > (size_t)(rd.end - rd.p))
				len = (size_t)(rd.end - rd.p);
			if (len > end - off)
				len = end - off;
			memcpy(hs->mem + off, rd.p, len);
			rd.p += len;
			if (off < H2D_CONS + 64u && off + len > H2D_CONS)
				hs->h2d_cons_scribbled = true;
			/* The reply ring's consumer index, or command slots. */
			if ((off < D2H_CONS_END && off + len > D2H_CONS) ||
			    (off + len > VPCIE_RING_HDR_SIZE &&
			     off < VPCIE_RING_HDR_SIZE + (size_t)hs->slots * VPCIE_RING_SLOT_SIZE))
				hs->tainted = true;
			break;
		}
		case 5: /* SOCK */
			if (!take(&rd, b, 1))
				goto out;
			sock_cmd(hs, b[0]);
			break;
		case 6: /* CLOSE */
			closed = true;
			break;
		}
	}
out:
	run(hs, 1);
	if (!hs->gone)
		close_host(hs);
	vpcie_dev_free(hs->f->dev);
	drop_inbox(hs);
	vpcie_chan_free(hs->ch);
	fs_pair_release(&hs->pair);
	munmap(hs->mem, hs->len);
	close(hs->h2d_wake);
	close(hs->d2h_wake);
	free(hs->f);
	return 0;
}
