/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the host runtime consuming the shared-memory ring
 * transport (vpcie/ring.h) that a hostile device writes.
 *
 * A fake device plays the other end of the host's channel, in the same
 * thread: the channel runs over an in-memory socketpair (fuzz_stream.h), the
 * fake answers each socket command as the host sends it, and serves the
 * command ring whenever the host looks for buffered bytes, which it does
 * before every wait. So every step is deterministic and nothing sleeps. The
 * fake answers VERSION with a correct ring (memfd sealed at the right size,
 * two eventfds), and every socket command honestly: a device with BAR0 and
 * BAR2 (4 KiB each), config space with MSI (8 vectors) and MSI-X (8
 * vectors, table in BAR0), backed by plain memory. The host runtime makes a
 * fixed sequence of calls: region reads and writes small enough for the
 * ring, posted writes, socket commands in between (so fences run), MSI-X and
 * MSI set-up, waits for interrupts, a reset.
 *
 * Each command the host puts in the command ring consumes one record of the
 * input, which says what the fake publishes in the reply ring for it; once
 * the input is used up the fake answers honestly, so the host's sequence
 * always runs to its end. A record:
 *
 *   u8 ctl
 *     bits 0-1  noise slots (0-3, 64 bytes each, published as they are:
 *               interrupt notices, stray or malformed replies...)
 *     bit 2     the reply is computed honestly; else 64 bytes follow and
 *               are published as the reply
 *     bit 3     no reply at all
 *     bit 4     u8 which, u32 value follow: stored into control word
 *               which % 8 (direction which / 4 % 2, line which % 4) after
 *               publishing (the next time the host looks while the fake has
 *               no command to serve, the fake restores its true consumer
 *               index, as freeing a slot would)
 *     bit 5     (given reply) take op and id from the command
 *     bit 6     (given reply) take index and offset from the command
 *     bit 7     the noise goes after the reply instead of before
 *
 * A host that will not find its reply (nothing published matches its op
 * and id with a well-formed slot) would wait for its timeout: the fake
 * hangs up at once instead, so the host sees a dead device. Every host call
 * must return (success or error), never crash, hang or leak; libFuzzer's
 * ASan and leak checks watch the host. Since the fake has served everything
 * before the host would wait, no call may time out (abort() otherwise),
 * unless a record scribbled over the reply ring's consumer index: the fake
 * may then publish over replies the host has not read, and the host waits
 * its timeout for them. The timeout is 1 ms, shorter than the host takes
 * to run a call on a busy machine: its deadline often passes before it
 * looks for the reply the fake has already published, and it must still
 * find it (the host's last look past the deadline). Input byte 0: bit 0
 * selects 64 ring slots instead of 16; bit 1 clear: the fake announces
 * sleep each time it runs out of commands (so the host kicks its wake
 * eventfd), set: it never does (a device that keeps polling).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <vpcie/host.h>
#include <vpcie/log.h>
#include <vpcie/protocol.h>
#include <vpcie/ring.h>
#include <vpcie/transport.h>

#include "fuzz_stream.h"

#define NREGIONS 9u
#define REGION_SIZE 4096u
#define MSI_CAP 0x40u
#define MSIX_CAP 0x50u
#define NVEC 8u

#define FAKE_END 1u /* our end of the fs_pair; the host has end 0 */

struct fake {
	struct vpcie_chan *ch;
	struct fs_pair *pair;
	bool hung;                 /* we hung up: serve nothing more */
	bool sleeper;              /* announce sleep when out of commands */
	uint8_t *mem;              /* shm[] of our slot count, cleared */
	size_t len;
	uint32_t slots;
	int h2d_wake, d2h_wake;    /* our copies (the host got dups) */
	struct vpcie_ring h2d, d2h;
	uint8_t region[NREGIONS][REGION_SIZE];
	const uint8_t *p, *end;    /* records */
	bool scribbled;            /* a record overwrote a control word */
	bool d2h_cons_scribbled;   /* ... the reply ring's consumer index */
};

static bool take(struct fake *f, void *out, size_t n)
{
	if ((size_t)(f->end - f->p) < n)
		return false;
	memcpy(out, f->p, n);
	f->p += n;
	return true;
}

static void wake(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* saturated: the peer wakes anyway */
	}
}

static bool region_ok(unsigned index, uint64_t off, uint64_t count)
{
	/* BAR0, BAR2 and config space exist. */
	if (index != 0 && index != 2 && index != VFIO_PCI_CONFIG_REGION_INDEX)
		return false;
	return count <= REGION_SIZE && off <= REGION_SIZE - count;
}

static void config_init(struct fake *f)
{
	uint8_t *c = f->region[VFIO_PCI_CONFIG_REGION_INDEX];

	c[0] = 0x34, c[1] = 0x12, c[2] = 0x50, c[3] = 0x56;
	c[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	c[PCI_CLASS_DEVICE + 1] = 0xff;
	c[PCI_CAPABILITY_LIST] = MSI_CAP;
	c[MSI_CAP] = PCI_CAP_ID_MSI;
	c[MSI_CAP + 1] = MSIX_CAP;
	c[MSI_CAP + 2] = PCI_MSI_FLAGS_64BIT | (3 << 1); /* 8 vectors */
	c[MSI_CAP + 3] = PCI_MSI_FLAGS_MASKBIT >> 8;
	c[MSIX_CAP] = PCI_CAP_ID_MSIX;
	c[MSIX_CAP + 2] = NVEC - 1;
	c[MSIX_CAP + 4] = 0x00, c[MSIX_CAP + 5] = 0x08;  /* table: BAR0 + 0x800 */
	c[MSIX_CAP + 8] = 0x00, c[MSIX_CAP + 9] = 0x0c;  /* PBA: BAR0 + 0xc00 */
}

/* ---- Socket side: an honest device ------------------------------------------ */

/* The rings' memory for 16 and 64 slots: created, sealed and mapped once,
 * cleared for each input (the host maps and unmaps its own view). */
static struct {
	int fd;
	uint8_t *mem;
} shm[2] = {{-1, NULL}, {-1, NULL}};

static int shm_get(uint32_t slots, size_t len, uint8_t **mem)
{
	unsigned i = slots == 64;

	if (shm[i].fd < 0) {
		shm[i].fd = memfd_create("fuzz-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (shm[i].fd < 0 || ftruncate(shm[i].fd, (off_t)len) < 0 ||
		    fcntl(shm[i].fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
			abort();
		shm[i].mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, shm[i].fd, 0);
		if (shm[i].mem == MAP_FAILED)
			abort();
	}
	memset(shm[i].mem, 0, len);
	*mem = shm[i].mem;
	return shm[i].fd;
}

static int answer_version(struct fake *f, struct vpcie_msg *m)
{
	struct vpcie_version out = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
	struct vpcie_caps caps;
	char json[512];
	int fds[3], n;
	struct iovec iov[2];

	fds[0] = shm_get(f->slots, f->len, &f->mem);
	vpcie_ring_mem_init(f->mem, f->slots);
	if (vpcie_ring_open(&f->h2d, f->mem, f->len, f->slots, VPCIE_RING_H2D, false) ||
	    vpcie_ring_open(&f->d2h, f->mem, f->len, f->slots, VPCIE_RING_D2H, true))
		abort();
	f->h2d_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->d2h_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->h2d_wake < 0 || f->d2h_wake < 0)
		abort();
	fds[1] = f->h2d_wake;
	fds[2] = f->d2h_wake;
	vpcie_caps_defaults(&caps);
	caps.max_msg_fds = 16;
	caps.max_data_xfer_size = 4096;
	caps.twin_fd_index = -1;
	caps.ring = true;
	caps.ring_version = VPCIE_RING_VERSION;
	caps.ring_slots = f->slots;
	caps.ring_fd_index = 0;
	caps.ring_h2d_wake_fd_index = 1;
	caps.ring_d2h_wake_fd_index = 2;
	n = vpcie_caps_to_json(&caps, json, sizeof(json));
	if (n < 0)
		abort();
	iov[0] = (struct iovec){&out, sizeof(out)};
	iov[1] = (struct iovec){json, (size_t)n};
	return vpcie_chan_reply(f->ch, &m->hdr, iov, 2, fds, 3, 1000);
}

static int answer(struct fake *f, struct vpcie_msg *m)
{
	const void *pl = m->payload;
	struct iovec iov[2];

	switch (m->hdr.cmd) {
	case VPCIE_CMD_VERSION:
		if (f->mem)
			break;
		return answer_version(f, m);
	case VPCIE_CMD_DEVICE_GET_INFO: {
		struct vpcie_device_info di = {.argsz = sizeof(di),
					       .flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
					       .num_regions = NREGIONS, .num_irqs = 5};

		iov[0] = (struct iovec){&di, sizeof(di)};
		return vpcie_chan_reply(f->ch, &m->hdr, iov, 1, NULL, 0, 1000);
	}
	case VPCIE_CMD_DEVICE_GET_REGION_INFO: {
		struct vpcie_region_info ri = {.argsz = sizeof(ri)};

		if (m->payload_len < sizeof(ri))
			break;
		memcpy(&ri.index, (const uint8_t *)pl + offsetof(struct vpcie_region_info, index), 4);
		if (region_ok(ri.index, 0, 0)) {
			ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
			ri.size = REGION_SIZE;
		}
		iov[0] = (struct iovec){&ri, sizeof(ri)};
		return vpcie_chan_reply(f->ch, &m->hdr, iov, 1, NULL, 0, 1000);
	}
	case VPCIE_CMD_DEVICE_GET_IRQ_INFO: {
		struct vpcie_irq_info ii = {.argsz = sizeof(ii), .flags = VFIO_IRQ_INFO_EVENTFD};

		if (m->payload_len < sizeof(ii))
			break;
		memcpy(&ii.index, (const uint8_t *)pl + offsetof(struct vpcie_irq_info, index), 4);
		ii.count = ii.index == VFIO_PCI_INTX_IRQ_INDEX ? 1
			   : ii.index == VFIO_PCI_MSI_IRQ_INDEX || ii.index == VFIO_PCI_MSIX_IRQ_INDEX
				   ? NVEC : 0;
		iov[0] = (struct iovec){&ii, sizeof(ii)};
		return vpcie_chan_reply(f->ch, &m->hdr, iov, 1, NULL, 0, 1000);
	}
	case VPCIE_CMD_DEVICE_SET_IRQS:
	case VPCIE_CMD_DEVICE_RESET:
		return vpcie_chan_reply(f->ch, &m->hdr, NULL, 0, NULL, 0, 1000);
	case VPCIE_CMD_REGION_READ:
	case VPCIE_CMD_REGION_WRITE: {
		struct vpcie_region_access ra;
		bool wr = m->hdr.cmd == VPCIE_CMD_REGION_WRITE;

		if (m->payload_len < sizeof(ra))
			break;
		memcpy(&ra, pl, sizeof(ra));
		if (!region_ok(ra.region, ra.offset, ra.count) ||
		    (wr && m->payload_len - sizeof(ra) < ra.count))
			break;
		if (wr)
			memcpy(f->region[ra.region] + ra.offset, (const uint8_t *)pl + sizeof(ra),
			       ra.count);
		iov[0] = (struct iovec){&ra, sizeof(ra)};
		iov[1] = (struct iovec){f->region[ra.region] + ra.offset, ra.count};
		if (m->hdr.flags & VPCIE_MSGF_NO_REPLY)
			return 0;
		return vpcie_chan_reply(f->ch, &m->hdr, iov, wr ? 1 : 2, NULL, 0, 1000);
	}
	default:
		break;
	}
	return vpcie_chan_reply_error(f->ch, &m->hdr, EINVAL, 1000);
}

/* ---- Ring side: whatever the records say --------------------------------------- */

/* The honest reply to command s (false: none, a posted write). */
static bool honest(struct fake *f, const struct vpcie_ring_slot *s, struct vpcie_ring_slot *r)
{
	bool ok = vpcie_ring_slot_check(s, VPCIE_RING_H2D) == 0 &&
		  (s->op == VPCIE_RING_OP_FENCE || region_ok(s->index, s->offset, s->count));

	if (ok && s->op == VPCIE_RING_OP_WRITE)
		memcpy(f->region[s->index] + s->offset, s->data, s->count);
	if (s->flags & VPCIE_RING_F_POSTED)
		return false;
	memset(r, 0, sizeof(*r));
	r->op = s->op;
	r->id = s->id;
	r->index = s->index;
	r->offset = s->offset;
	r->flags = VPCIE_RING_F_REPLY;
	if (!ok) {
		r->flags |= VPCIE_RING_F_ERROR;
		r->error = EINVAL;
	} else if (s->op == VPCIE_RING_OP_READ) {
		r->count = s->count;
		memcpy(r->data, f->region[s->index] + s->offset, s->count);
	}
	return true;
}

static bool matches(const struct vpcie_ring_slot *r, const struct vpcie_ring_slot *cmd)
{
	return r->op == cmd->op && r->id == cmd->id && !vpcie_ring_slot_check(r, VPCIE_RING_D2H);
}

/* Publish one slot; true if the host got it. */
static bool put(struct fake *f, const struct vpcie_ring_slot *r)
{
	return vpcie_ring_push(&f->d2h, r) == 0;
}

/* Handle one command; returns false to hang up. */
static bool command(struct fake *f, const struct vpcie_ring_slot *s)
{
	struct vpcie_ring_slot noise[3], r;
	bool posted = s->flags & VPCIE_RING_F_POSTED, have_reply, answered = false;
	uint8_t ctl, which = 0;
	uint32_t value = 0;
	unsigned nnoise;

	have_reply = honest(f, s, &r); /* applies writes either way */
	if (!take(f, &ctl, 1))
		ctl = 4; /* records used up: the honest reply */
	nnoise = ctl & 3;
	for (unsigned i = 0; i < nnoise; i++)
		if (!take(f, &noise[i], sizeof(noise[i])))
			nnoise = i;
	if (!(ctl & 4)) {
		if (!take(f, &r, sizeof(r)))
			memset(&r, 0, sizeof(r));
		if (ctl & 0x20) {
			r.op = s->op;
			r.id = s->id;
		}
		if (ctl & 0x40) {
			r.index = s->index;
			r.offset = s->offset;
		}
		have_reply = true;
	}
	if (ctl & 8)
		have_reply = false;
	if ((ctl & 0x10) && (!take(f, &which, 1) || !take(f, &value, 4)))
		ctl &= (uint8_t)~0x10;

	for (unsigned i = 0; !(ctl & 0x80) && i < nnoise; i++)
		answered |= put(f, &noise[i]) && matches(&noise[i], s);
	if (have_reply)
		answered |= put(f, &r) && matches(&r, s);
	for (unsigned i = 0; (ctl & 0x80) && i < nnoise; i++)
		answered |= put(f, &noise[i]) && matches(&noise[i], s);
	if (ctl & 0x10) {
		memcpy(f->mem + 64 + (which / 4 % 2) * 256 + (which % 4) * 64, &value, 4);
		f->scribbled = true;
		if (which % 8 == 4)
			f->d2h_cons_scribbled = true;
	}
	if (vpcie_ring_kick_needed(&f->d2h))
		wake(f->d2h_wake);
	return posted || answered;
}

static void hang_up(struct fake *f)
{
	f->hung = true;
	fs_hang_up(f->pair, FAKE_END);
}

/* The host sent bytes: answer every whole command at once. */
static void serve_socket(void *opaque)
{
	struct fake *f = opaque;
	struct vpcie_msg m;
	int rc;

	while (!f->hung && (rc = vpcie_chan_recv(f->ch, &m, 0)) != -EAGAIN) {
		if (rc == 0) {
			rc = answer(f, &m);
			vpcie_msg_release(&m);
		}
		if (rc)
			hang_up(f);
	}
}

/* The host looks for buffered bytes (before any wait): serve the command
 * ring, as a device running alongside would have by now. */
static void serve_ring(void *opaque)
{
	struct fake *f = opaque;
	struct vpcie_ring_slot s;
	bool busy = false;

	if (!f->mem || f->hung)
		return;
	vpcie_ring_awake(&f->h2d);
	for (;;) {
		while (vpcie_ring_pop(&f->h2d, &s) == 1) {
			if (vpcie_ring_take_kick(&f->h2d))
				wake(f->d2h_wake); /* the host waits for a free slot */
			busy = true;
			if (!command(f, &s)) {
				hang_up(f);
				return;
			}
		}
		if (!busy && f->scribbled) {
			/* Nothing to serve while the host waits: a scribbled
			 * consumer index may have it wait for space we never
			 * free. Put the true one back, as freeing a slot would. */
			__atomic_store_n((uint32_t *)(void *)(f->mem + 64), f->h2d.head,
					 __ATOMIC_RELEASE);
			f->scribbled = false;
		}
		/* Announce sleep (the host must kick us); a last look first. */
		if (!f->sleeper || !vpcie_ring_sleep_prepare(&f->h2d))
			break;
		vpcie_ring_awake(&f->h2d);
	}
}

/* ---- The host's side ------------------------------------------------------------- */

static void quiet(void *opaque, enum vpcie_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

/* Every reply the fake published where the host can read it is found at
 * once: the host times out only if the input had the fake overwrite replies
 * it had not read yet (through the scribbled consumer index of the reply
 * ring). */
static void check(const struct fake *f, int rc)
{
	if (rc == -ETIMEDOUT && !f->d2h_cons_scribbled)
		abort();
}

static void host_calls(struct vpcie_host *h, const struct fake *f)
{
	uint8_t buf[64] = "abcdefghijklmnopqrstuvwxyz012345";
	int err;

	check(f, vpcie_host_region_read(h, 0, 0, buf, 4));
	check(f, vpcie_host_region_write(h, 0, 8, buf, 8));
	check(f, vpcie_host_region_read(h, 0, 8, buf, 8));
	check(f, vpcie_host_region_write_posted(h, 0, 16, buf, 4));
	check(f, vpcie_host_region_write_posted(h, 2, 0, buf, 32));
	check(f, vpcie_host_region_read(h, 2, 0, buf, 32));
	check(f, vpcie_host_region_write_posted(h, 0, 0, buf, 4));
	check(f, vpcie_host_region_read(h, 0, 0, buf, 64)); /* socket, after a fence */
	vpcie_host_cfg_read16(h, PCI_VENDOR_ID, &err);
	check(f, err);
	check(f, vpcie_host_region_write_posted(h, 2, 64, buf, 8));
	check(f, vpcie_host_flush(h));
	check(f, vpcie_host_irq_enable(h, VPCIE_HOST_IRQ_MSIX, 2));
	vpcie_host_bar_read32(h, 2, 0, &err); /* its reply may bring notices */
	check(f, err);
	vpcie_host_irq_wait(h, 0, 0);
	vpcie_host_irq_take(h, 1);
	check(f, vpcie_host_irq_mask(h, 1, true));
	check(f, vpcie_host_irq_mask(h, 1, false));
	check(f, vpcie_host_poll(h, 0));
	check(f, vpcie_host_irq_enable(h, VPCIE_HOST_IRQ_MSI, 4));
	vpcie_host_bar_read32(h, 2, 4, &err);
	check(f, err);
	vpcie_host_irq_wait(h, 3, 0);
	vpcie_host_irq_take(h, 0);
	check(f, vpcie_host_irq_disable(h));
	check(f, vpcie_host_reset(h));
	for (unsigned i = 0; i < 4; i++) {
		check(f, vpcie_host_bar_write32(h, 0, 4 * i, i));
		vpcie_host_bar_read32(h, 0, 4 * i, &err);
		check(f, err);
	}
	check(f, vpcie_host_region_read(h, 7, 4094, buf, 4)); /* refused before the ring */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vpcie_chan_limits lim = {.max_msg_size = 1u << 20, .max_fds = 16};
	struct vpcie_host_opts opts;
	struct vpcie_chan *hch;
	struct vpcie_host *h;
	struct fs_pair pair;
	struct fake *f;
	int err;

	if (size < 1)
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	f->slots = data[0] & 1 ? 64 : 16;
	f->sleeper = !(data[0] & 2);
	f->len = vpcie_ring_mem_size(f->slots);
	f->p = data + 1;
	f->end = data + size;
	f->h2d_wake = f->d2h_wake = -1;
	f->pair = &pair;
	config_init(f);
	fs_pair_init(&pair);
	pair.end[0].on_send = serve_socket;
	pair.end[0].on_pending = serve_ring;
	pair.end[0].opaque = f;
	f->ch = vpcie_chan_new_stream(&fs_ops, &pair.end[FAKE_END], &lim);
	hch = vpcie_chan_new_stream(&fs_ops, &pair.end[0], &lim);
	if (!f->ch || !hch)
		abort();

	vpcie_host_opts_defaults(&opts);
	opts.ring = true;
	opts.poll_max_us = 0;     /* no spinning: look once, then wait */
	/* Waited for only when a record lost replies; and so short that the
	 * deadline passes while the host works (see check()). */
	opts.timeout_ms = 1;
	opts.max_data_xfer_size = 4096;
	opts.log_level = VPCIE_LOG_ERROR;
	opts.log_sink = quiet;
	h = vpcie_host_open_chan(hch, &opts, &err);
	if (!h || !vpcie_host_ring(h))
		abort(); /* the fake's VERSION answer is correct */
	host_calls(h, f);
	vpcie_host_close(h);

	vpcie_chan_free(f->ch);
	fs_pair_release(&pair);
	if (f->h2d_wake >= 0)
		close(f->h2d_wake);
	if (f->d2h_wake >= 0)
		close(f->d2h_wake);
	free(f);
	return 0;
}
