/* SPDX-License-Identifier: MIT */
/*
 * The NTB endpoint function of vpcie-ntb (ntb.h): config region and command
 * handshake, scratchpads, doorbells, memory windows and link state, for two
 * sides that are each other's peer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ntb.h"
#include "ntb_post.h"
#include "ntb_regs.h"
#include "../../lib/util/le.h"

struct ntb_side;

/* The opaque of memory window BAR i of a side. */
struct ntb_mwref {
	struct ntb_side *side;
	unsigned mw;
};

/* Where the peer's window i lands in this side's memory (set by this side's
 * CONFIGURE_MW, as the endpoint maps the peer's outbound window). */
struct ntb_xlat {
	bool valid;
	uint32_t gen;      /* bumped on every change: posted writes for an older
			    * translation are dropped */
	uint64_t addr, size;
};

/* Counters, logged when a host leaves. */
struct ntb_stats {
	uint64_t commands, commands_failed;
	uint64_t doorbells, doorbells_dropped;
	uint64_t mw_bytes, mw_dropped; /* window accesses with no valid target */
	uint64_t mw_posted;            /* window writes queued for the peer */
	uint64_t post_dropped;         /* ... lost: queue full, peer gone, DMA failed */
	uint64_t read_conflicts;       /* window reads answered all ones: the
					* peer was itself waiting on this host */
	uint64_t link_events;
};

struct ntb_side {
	struct ntb *ntb;
	unsigned idx;                      /* 0: A, 1: B */
	struct vpcie_dev *dev;
	struct vpcie_logger *lg;
	uint8_t ctrl[NTB_CTRL_SIZE];       /* config region as the host reads it */
	uint8_t spad[4 * NTB_MAX_SPADS];   /* self scratchpads (little-endian) */
	bool linkup;                       /* this host sent LINK_UP */
	bool db_on;                        /* CONFIGURE_DOORBELL done */
	bool db_msix;
	unsigned db_count;                 /* vectors the peer may ring */
	struct ntb_xlat xlat[NTB_MAX_MWS];
	struct ntb_mwref mwref[NTB_MAX_MWS];
	/* This host's posted window writes and doorbells, not yet delivered
	 * to the peer (ntb_post.h), and the timer that delivers them. */
	struct ntb_postq post;
	struct vpcie_timer *flush_timer;
	bool flush_armed;
	/* The device is inside one of this host's accesses, waiting for the
	 * peer's DMA reply: this host cannot answer a DMA request until that
	 * ends (QEMU's vCPU holds its lock), so the peer must not wait on it. */
	bool waiting;
	struct ntb_stats st;
};

struct ntb {
	struct ntb_config cfg;
	uint64_t bar0_size, bar1_size;
	bool link;                         /* both hosts are up */
	struct ntb_side side[2];
};

static const char side_name[2] = {'A', 'B'};

/* ---- Little helpers ------------------------------------------------------ */

static struct ntb_side *peer_of(struct ntb_side *s)
{
	return &s->ntb->side[!s->idx];
}

static uint64_t pow2_ceil(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/*
 * Copy the overlap of an access [off, off+len) with a field [base,
 * base+size) of src (read) or into dst (write). Returns whether they meet.
 */
static bool overlap(uint64_t off, size_t len, uint64_t base, uint64_t size, uint64_t *from,
		    uint64_t *to)
{
	uint64_t lo = off > base ? off : base;
	uint64_t hi = off + len < base + size ? off + len : base + size;

	if (lo >= hi)
		return false;
	*from = lo;
	*to = hi;
	return true;
}

static void read_field(const uint8_t *field, uint64_t base, uint64_t size, uint64_t off,
		       uint8_t *buf, size_t len)
{
	uint64_t lo, hi;

	if (overlap(off, len, base, size, &lo, &hi))
		memcpy(buf + (lo - off), field + (lo - base), hi - lo);
}

static void write_field(uint8_t *field, uint64_t base, uint64_t size, uint64_t off,
			const uint8_t *buf, size_t len)
{
	uint64_t lo, hi;

	if (overlap(off, len, base, size, &lo, &hi))
		memcpy(field + (lo - base), buf + (lo - off), hi - lo);
}

/* ---- State shown in the config region ------------------------------------- */

static uint64_t mw_capacity(const struct ntb *ntb, unsigned mw)
{
	return mw == 0 ? ntb->cfg.mw_bar - NTB_MW1_OFFSET : ntb->cfg.mw_bar;
}

/* The read-only fields of both config regions, from the current state. */
static void refresh(struct ntb *ntb)
{
	for (unsigned i = 0; i < 2; i++) {
		struct ntb_side *s = &ntb->side[i];
		const struct ntb_side *p = peer_of(s);
		uint8_t *c = s->ctrl;

		le_put16(c + NTB_CTRL_LINK_STATUS, ntb->link ? NTB_LINK_STATUS_UP : 0);
		le_put32(c + NTB_CTRL_TOPOLOGY, i == 0 ? NTB_TOPO_B2B_USD : NTB_TOPO_B2B_DSD);
		le_put32(c + NTB_CTRL_MW_COUNT, ntb->cfg.mws);
		le_put32(c + NTB_CTRL_MW1_OFFSET, NTB_MW1_OFFSET);
		le_put32(c + NTB_CTRL_SPAD_OFFSET, NTB_SPAD_OFF);
		le_put32(c + NTB_CTRL_SPAD_COUNT, ntb->cfg.spads);
		le_put32(c + NTB_CTRL_DB_ENTRY_SIZE, NTB_DB_ENTRY_SIZE);
		/* Doorbell n of this host rings the peer's vector n: the data
		 * is the vector number, as pci-epf-ntb fills it for MSI. */
		for (unsigned n = 0; n < NTB_MAX_DB; n++) {
			bool on = p->db_on && n < p->db_count;

			le_put32(c + NTB_CTRL_DB_DATA(n), on ? n : 0);
			le_put32(c + NTB_CTRL_DB_OFFSET(n), 0);
		}
	}
}

/* ---- Interrupts and link -------------------------------------------------- */

static bool msi_like(enum vpcie_irq_mode m)
{
	return m == VPCIE_IRQ_MSI || m == VPCIE_IRQ_MSIX;
}

static void raise_link(struct ntb_side *s)
{
	int rc;

	if (!vpcie_dev_connected(s->dev) || !msi_like(vpcie_dev_irq_mode(s->dev)))
		return;
	rc = vpcie_dev_irq_raise(s->dev, NTB_LINK_VECTOR);
	if (rc < 0)
		vpcie_dbg(s->lg, "link event not delivered: %s", strerror(-rc));
	else
		s->st.link_events++;
}

/* Link up when both hosts said LINK_UP; each host gets the link vector on a
 * change (pci-epf-ntb's epf_ntb_link_up()). */
static void link_update(struct ntb *ntb)
{
	bool up = ntb->side[0].linkup && ntb->side[1].linkup;

	if (up == ntb->link)
		return;
	ntb->link = up;
	refresh(ntb);
	vpcie_info(ntb->side[0].lg, "link %s", up ? "up" : "down");
	raise_link(&ntb->side[0]);
	raise_link(&ntb->side[1]);
}

/* Raise the peer's vector n for host s's doorbell. */
static void raise_doorbell(struct ntb_side *s, unsigned n)
{
	struct ntb_side *p = peer_of(s);
	enum vpcie_irq_mode want = p->db_msix ? VPCIE_IRQ_MSIX : VPCIE_IRQ_MSI;
	int rc = -ENOENT;

	if (p->db_on && n < p->db_count && vpcie_dev_connected(p->dev) &&
	    vpcie_dev_irq_mode(p->dev) == want)
		rc = vpcie_dev_irq_raise(p->dev, n);
	if (rc < 0) {
		s->st.doorbells_dropped++;
		vpcie_dbg(s->lg, "doorbell %u: peer %c cannot take it (%s)", n,
			  side_name[p->idx], strerror(-rc));
		return;
	}
	s->st.doorbells++;
}

/* ---- Commands ------------------------------------------------------------- */

static int cmd_configure_db(struct ntb_side *s, uint32_t arg)
{
	unsigned count = arg & NTB_ARG_DB_COUNT_MASK;
	bool msix = arg & NTB_ARG_MSIX_ENABLE;
	enum vpcie_irq_mode mode = vpcie_dev_irq_mode(s->dev);

	if (arg & ~(NTB_ARG_DB_COUNT_MASK | NTB_ARG_MSIX_ENABLE) || count == 0 ||
	    count > NTB_MAX_DB) {
		vpcie_warn(s->lg, "CONFIGURE_DOORBELL: bad argument 0x%" PRIx32, arg);
		return -EINVAL;
	}
	if (mode != (msix ? VPCIE_IRQ_MSIX : VPCIE_IRQ_MSI) ||
	    count > vpcie_dev_irq_vectors(s->dev)) {
		vpcie_warn(s->lg, "CONFIGURE_DOORBELL: %u %s vectors asked, %u %s enabled", count,
			   msix ? "MSI-X" : "MSI", vpcie_dev_irq_vectors(s->dev),
			   mode == VPCIE_IRQ_MSIX ? "MSI-X" : mode == VPCIE_IRQ_MSI ? "MSI" : "other");
		return -EINVAL;
	}
	s->db_on = true;
	s->db_msix = msix;
	s->db_count = count;
	refresh(s->ntb);
	return 0;
}

static int cmd_configure_mw(struct ntb_side *s, uint32_t idx)
{
	const uint8_t *c = s->ctrl;
	uint64_t addr = (uint64_t)le_get32(c + NTB_CTRL_UPPER_ADDR) << 32 | le_get32(c + NTB_CTRL_LOWER_ADDR);
	uint64_t size = (uint64_t)le_get32(c + NTB_CTRL_UPPER_SIZE) << 32 | le_get32(c + NTB_CTRL_LOWER_SIZE);
	int rc;

	if (idx >= s->ntb->cfg.mws) {
		vpcie_warn(s->lg, "CONFIGURE_MW: no window %" PRIu32, idx);
		return -EINVAL;
	}
	if (size == 0 || size > mw_capacity(s->ntb, idx) || addr % NTB_XLAT_ALIGN) {
		vpcie_warn(s->lg, "CONFIGURE_MW %" PRIu32 ": 0x%" PRIx64 "+0x%" PRIx64
			   " refused (window 0x%" PRIx64 ", alignment 0x%x)", idx, addr, size,
			   mw_capacity(s->ntb, idx), NTB_XLAT_ALIGN);
		return -EINVAL;
	}
	/* The peer will read and write there: all of it must be this host's
	 * memory, as it mapped it for DMA. */
	rc = vpcie_dev_dma_check(s->dev, addr, size, true);
	if (rc) {
		vpcie_warn(s->lg, "CONFIGURE_MW %" PRIu32 ": 0x%" PRIx64 "+0x%" PRIx64
			   " is not this host's DMA memory (%s)", idx, addr, size, strerror(-rc));
		return rc;
	}
	s->xlat[idx] = (struct ntb_xlat){.valid = true, .gen = s->xlat[idx].gen + 1, .addr = addr,
					 .size = size};
	vpcie_dbg(s->lg, "window %" PRIu32 " of peer -> 0x%" PRIx64 "+0x%" PRIx64, idx, addr, size);
	return 0;
}

static int execute(struct ntb_side *s, uint32_t cmd, uint32_t arg)
{
	switch (cmd) {
	case NTB_CMD_CONFIGURE_DOORBELL:
		return cmd_configure_db(s, arg);
	case NTB_CMD_TEARDOWN_DOORBELL:
		s->db_on = false;
		refresh(s->ntb);
		return 0;
	case NTB_CMD_CONFIGURE_MW:
		return cmd_configure_mw(s, arg);
	case NTB_CMD_TEARDOWN_MW:
		if (arg >= s->ntb->cfg.mws)
			return -EINVAL;
		s->xlat[arg].valid = false;
		s->xlat[arg].gen++;
		return 0;
	case NTB_CMD_LINK_UP:
		s->linkup = true;
		link_update(s->ntb);
		return 0;
	case NTB_CMD_LINK_DOWN:
		s->linkup = false;
		link_update(s->ntb);
		return 0;
	default:
		/* pci-epf-ntb leaves the status alone and the host times out;
		 * an explicit error is kinder and the driver handles it. */
		vpcie_warn(s->lg, "unknown command %" PRIu32, cmd);
		return -EINVAL;
	}
}

/* COMMAND became non-zero: run it (no DMA, so right in the write handler). */
static void run_command(struct ntb_side *s)
{
	uint32_t cmd = le_get32(s->ctrl + NTB_CTRL_COMMAND);
	uint32_t arg = le_get32(s->ctrl + NTB_CTRL_ARGUMENT);
	int rc;

	le_put32(s->ctrl + NTB_CTRL_COMMAND, 0);
	le_put32(s->ctrl + NTB_CTRL_ARGUMENT, 0);
	rc = execute(s, cmd, arg);
	s->st.commands++;
	if (rc)
		s->st.commands_failed++;
	vpcie_dbg(s->lg, "command %" PRIu32 " argument 0x%" PRIx32 ": %s", cmd, arg,
		  rc ? "ERROR" : "OK");
	le_put16(s->ctrl + NTB_CTRL_CMD_STATUS, rc ? NTB_STATUS_ERROR : NTB_STATUS_OK);
}

/* ---- A host goes away or resets --------------------------------------------- */

/*
 * Everything the host set up is dropped: its translations point into memory
 * that is gone, its vectors too. The link goes down and the peer is told.
 * Scratchpads live in the endpoint's memory and stay (as on the real
 * function); ntb_transport clears its own on link down.
 */
static void side_reset(struct ntb_side *s)
{
	struct ntb_side *p = peer_of(s);

	memset(s->ctrl, 0, sizeof(s->ctrl));
	s->linkup = false;
	s->db_on = false;
	for (unsigned i = 0; i < NTB_MAX_MWS; i++) {
		s->xlat[i].valid = false;
		s->xlat[i].gen++;
	}
	/* What the peer posted into this host's memory has nowhere to go. */
	p->st.post_dropped += ntb_postq_clear(&p->post);
	refresh(s->ntb);
	link_update(s->ntb);
}

static void on_reset(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind)
{
	struct ntb_side *s = opaque;

	(void)dev;
	vpcie_info(s->lg, "host %c: %s reset", side_name[s->idx],
		   kind == VPCIE_RESET_FLR ? "function level" : "device");
	side_reset(s);
}

static void on_connect(struct vpcie_dev *dev, void *opaque)
{
	struct ntb_side *s = opaque;

	(void)dev;
	vpcie_info(s->lg, "host %c connected", side_name[s->idx]);
}

static void on_disconnect(struct vpcie_dev *dev, void *opaque)
{
	struct ntb_side *s = opaque;

	(void)dev;
	vpcie_info(s->lg, "host %c gone: %" PRIu64 " commands (%" PRIu64 " refused), %" PRIu64
		   " doorbells (%" PRIu64 " dropped), %" PRIu64 " window bytes (%" PRIu64
		   " accesses outside a translation, %" PRIu64 " writes posted, %" PRIu64
		   " posted entries lost, %" PRIu64 " reads in conflict), %" PRIu64 " link events",
		   side_name[s->idx], s->st.commands, s->st.commands_failed, s->st.doorbells,
		   s->st.doorbells_dropped, s->st.mw_bytes, s->st.mw_dropped, s->st.mw_posted,
		   s->st.post_dropped, s->st.read_conflicts, s->st.link_events);
	side_reset(s);
}

const struct vpcie_dev_ops *ntb_dev_ops(void)
{
	static const struct vpcie_dev_ops ops = {
		.reset = on_reset, .connect = on_connect, .disconnect = on_disconnect,
	};

	return &ops;
}

/* ---- BAR0: config region, self scratchpads, a copy of the peer's --------- */

static int bar0_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct ntb_side *s = opaque;
	uint64_t spad_bytes = 4ull * s->ntb->cfg.spads;

	(void)dev;
	if (off > s->ntb->bar0_size || len > s->ntb->bar0_size - off)
		return -EINVAL;
	memset(buf, 0, len);
	read_field(s->ctrl, 0, NTB_CTRL_SIZE, off, buf, len);
	read_field(s->spad, NTB_SPAD_OFF, spad_bytes, off, buf, len);
	read_field(peer_of(s)->spad, NTB_SPAD_OFF + spad_bytes, spad_bytes, off, buf, len);
	return 0;
}

static int bar0_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf,
		      size_t len)
{
	struct ntb_side *s = opaque;
	uint64_t spad_bytes = 4ull * s->ntb->cfg.spads;

	(void)dev;
	if (off > s->ntb->bar0_size || len > s->ntb->bar0_size - off)
		return -EINVAL;
	/* Host-writable fields: COMMAND, ARGUMENT, CMD_STATUS, ADDR, SIZE. */
	write_field(s->ctrl, 0, NTB_CTRL_LINK_STATUS, off, buf, len);
	write_field(s->ctrl + NTB_CTRL_LOWER_ADDR, NTB_CTRL_LOWER_ADDR,
		    NTB_CTRL_MW_COUNT - NTB_CTRL_LOWER_ADDR, off, buf, len);
	write_field(s->spad, NTB_SPAD_OFF, spad_bytes, off, buf, len);
	write_field(peer_of(s)->spad, NTB_SPAD_OFF + spad_bytes, spad_bytes, off, buf, len);
	if (off < NTB_CTRL_COMMAND + 4 && off + len > NTB_CTRL_COMMAND &&
	    le_get32(s->ctrl + NTB_CTRL_COMMAND))
		run_command(s);
	return 0;
}

/* ---- BAR1: the peer's scratchpads --------------------------------------- */

static int bar1_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct ntb_side *s = opaque;

	(void)dev;
	if (off > s->ntb->bar1_size || len > s->ntb->bar1_size - off)
		return -EINVAL;
	memset(buf, 0, len);
	read_field(peer_of(s)->spad, 0, 4ull * s->ntb->cfg.spads, off, buf, len);
	return 0;
}

static int bar1_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf,
		      size_t len)
{
	struct ntb_side *s = opaque;

	(void)dev;
	if (off > s->ntb->bar1_size || len > s->ntb->bar1_size - off)
		return -EINVAL;
	write_field(peer_of(s)->spad, 0, 4ull * s->ntb->cfg.spads, off, buf, len);
	return 0;
}

/* ---- Posted window writes ------------------------------------------------------ */

/*
 * docs/ntb.md, "Posted window writes and the cross-host deadlock": a store
 * into a window is posted. When the peer's memory is not mapped here, the
 * store is queued (s->post) and delivered by DMA messages from a timer, after
 * the writer's access has been answered; a doorbell rung meanwhile queues
 * behind it, and a read through a window first delivers what is queued.
 * Waiting on the peer from inside a host's access (s->waiting) is allowed
 * only while the peer is not itself waiting on that host.
 */

static void arm_flush(struct ntb_side *s)
{
	if (!s->flush_armed) {
		s->flush_armed = true;
		vpcie_dev_timer_arm(s->flush_timer, 0, 0);
	}
}

/* One posted write into the peer's memory, if its translation still holds. */
static int deliver_write(struct ntb_side *s, const struct ntb_post *e)
{
	struct ntb_side *p = peer_of(s);
	const struct ntb_xlat *x = &p->xlat[e->mw];
	uint8_t *mem;

	if (!x->valid || x->gen != e->gen)
		return -ESTALE;
	mem = vpcie_dev_dma_ptr(p->dev, e->addr, e->len, true);
	if (mem) {
		memcpy(mem, e->data, e->len);
		return 0;
	}
	return vpcie_dev_dma_write(p->dev, e->addr, e->data, e->len);
}

/* Deliver s's queue in order. -EBUSY if a delivery is already running. */
static int deliver(struct ntb_side *s)
{
	struct ntb_postq *q = &s->post;
	struct ntb_post *e;

	if (q->busy)
		return -EBUSY;
	while ((e = ntb_postq_head(q))) {
		int rc = 0;

		q->busy = true;
		if (e->kind == NTB_POST_DOORBELL)
			raise_doorbell(s, e->mw);
		else
			rc = deliver_write(s, e);
		q->busy = false;
		if (q->cancel_head) {
			q->cancel_head = false; /* dropped (and counted) meanwhile */
		} else if (rc) {
			s->st.post_dropped++;
			vpcie_dbg(s->lg, "posted write to 0x%" PRIx64 "+0x%zx lost: %s", e->addr,
				  e->len, strerror(-rc));
		}
		ntb_postq_pop(q);
	}
	return 0;
}

static void flush_timer(struct vpcie_dev *dev, void *opaque)
{
	struct ntb_side *s = opaque;

	(void)dev;
	s->flush_armed = false;
	deliver(s);
}

/*
 * Deliver s's queue now, from inside one of s's accesses: only while the peer
 * is not waiting on s (it could not answer) and no delivery runs. 0 once the
 * queue is empty, else -EDEADLK.
 */
static int deliver_now(struct ntb_side *s)
{
	int rc;

	if (ntb_postq_empty(&s->post))
		return 0;
	if (peer_of(s)->waiting || s->post.busy)
		return -EDEADLK;
	s->waiting = true;
	rc = deliver(s);
	s->waiting = false;
	return rc ? -EDEADLK : 0;
}

/* Host s wrote doorbell entry n: the peer's vector n, behind s's posted
 * writes. */
static void ring(struct ntb_side *s, unsigned n)
{
	if (!ntb_postq_empty(&s->post)) {
		if (ntb_postq_doorbell(&s->post, n) == 0) {
			arm_flush(s);
			return;
		}
		if (deliver_now(s)) {
			s->st.doorbells_dropped++;
			s->st.post_dropped++;
			return;
		}
	}
	raise_doorbell(s, n);
}

/* ---- Memory windows --------------------------------------------------------- */

/* A store of host s at addr of the peer's memory (through window mw). */
static int mw_store(struct ntb_side *s, unsigned mw, uint64_t addr, const uint8_t *buf, size_t n)
{
	struct ntb_side *p = peer_of(s);
	int rc;

	if (ntb_postq_empty(&s->post)) {
		uint8_t *mem = vpcie_dev_dma_ptr(p->dev, addr, n, true);

		if (mem) { /* mapped: nothing to wait for */
			memcpy(mem, buf, n);
			return 0;
		}
	}
	rc = vpcie_dev_dma_check(p->dev, addr, n, true);
	if (!rc)
		rc = ntb_postq_write(&s->post, mw, p->xlat[mw].gen, addr, buf, n);
	if (rc == -ENOBUFS && deliver_now(s) == 0)
		rc = ntb_postq_write(&s->post, mw, p->xlat[mw].gen, addr, buf, n);
	if (rc) {
		if (rc == -ENOBUFS || rc == -ENOMEM)
			s->st.post_dropped++;
		return rc;
	}
	s->st.mw_posted++;
	arm_flush(s);
	return 0;
}

/* A load of host s from addr of the peer's memory: sees s's earlier stores. */
static int mw_load(struct ntb_side *s, uint64_t addr, uint8_t *buf, size_t n)
{
	struct ntb_side *p = peer_of(s);
	uint8_t *mem;
	int rc = deliver_now(s);

	if (rc) {
		s->st.read_conflicts++;
		return rc;
	}
	mem = vpcie_dev_dma_ptr(p->dev, addr, n, false);
	if (mem) {
		memcpy(buf, mem, n);
		return 0;
	}
	if (p->waiting) {
		/* p waits on s, s (this read) would wait on p: neither host can
		 * answer. Complete this one as a read of nothing. */
		s->st.read_conflicts++;
		return -EDEADLK;
	}
	s->waiting = true;
	rc = vpcie_dev_dma_read(p->dev, addr, buf, n);
	s->waiting = false;
	return rc;
}

/*
 * Host s accesses [off, off+len) of its window mw: the bytes go to or come
 * from the peer's memory at the peer's translation. Outside a translation
 * (none yet, torn down, peer gone) writes are dropped and reads return all
 * ones, as a read of nothing on PCIe does; so do reads that would deadlock
 * (mw_load).
 */
static int mw_access(struct ntb_side *s, unsigned mw, uint64_t off, uint8_t *buf, size_t len,
		     bool write)
{
	struct ntb_side *p = peer_of(s);
	const struct ntb_xlat *x = &p->xlat[mw];
	size_t n = 0;

	if (x->valid && off < x->size) {
		uint64_t addr = x->addr + off;
		int rc;

		n = x->size - off < len ? (size_t)(x->size - off) : len;
		rc = write ? mw_store(s, mw, addr, buf, n) : mw_load(s, addr, buf, n);
		if (rc) {
			vpcie_dbg(s->lg, "window %u: peer memory 0x%" PRIx64 "+0x%zx: %s", mw, addr,
				  n, strerror(-rc));
			n = 0;
		}
	}
	s->st.mw_bytes += n;
	if (n < len) {
		s->st.mw_dropped++;
		if (!write)
			memset(buf + n, 0xff, len - n);
	}
	return 0;
}

static int mw_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct ntb_mwref *r = opaque;

	(void)dev;
	if (off > r->side->ntb->cfg.mw_bar || len > r->side->ntb->cfg.mw_bar - off)
		return -EINVAL;
	return mw_access(r->side, r->mw, off, buf, len, false);
}

static int mw_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf, size_t len)
{
	struct ntb_mwref *r = opaque;

	(void)dev;
	if (off > r->side->ntb->cfg.mw_bar || len > r->side->ntb->cfg.mw_bar - off)
		return -EINVAL;
	return mw_access(r->side, r->mw, off, (uint8_t *)buf, len, true);
}

/* ---- BAR2: doorbells, then window 1 ---------------------------------------- */

static int bar2_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct ntb_side *s = opaque;
	uint64_t size = s->ntb->cfg.mw_bar;

	(void)dev;
	if (off > size || len > size - off)
		return -EINVAL;
	memset(buf, 0, len); /* doorbells and the gap read as zero */
	if (off + len > NTB_MW1_OFFSET) {
		uint64_t skip = off < NTB_MW1_OFFSET ? NTB_MW1_OFFSET - off : 0;

		return mw_access(s, 0, off + skip - NTB_MW1_OFFSET, (uint8_t *)buf + skip,
				 len - skip, false);
	}
	return 0;
}

static int bar2_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf,
		      size_t len)
{
	struct ntb_side *s = opaque;
	uint64_t size = s->ntb->cfg.mw_bar;

	(void)dev;
	if (off > size || len > size - off)
		return -EINVAL;
	if (off < NTB_MAX_DB * NTB_DB_ENTRY_SIZE)
		ring(s, (unsigned)(off / NTB_DB_ENTRY_SIZE));
	if (off + len > NTB_MW1_OFFSET) {
		uint64_t skip = off < NTB_MW1_OFFSET ? NTB_MW1_OFFSET - off : 0;

		return mw_access(s, 0, off + skip - NTB_MW1_OFFSET, (uint8_t *)buf + skip,
				 len - skip, true);
	}
	return 0;
}

/* ---- Set-up --------------------------------------------------------------- */

void ntb_config_defaults(struct ntb_config *cfg)
{
	*cfg = (struct ntb_config){
		.mws = NTB_DEFAULT_MWS, .mw_bar = NTB_DEFAULT_MW_BAR,
		.spads = NTB_DEFAULT_SPADS, .msix = NTB_MAX_DB, .msi = NTB_MAX_DB,
	};
}

static bool config_ok(const struct ntb_config *c)
{
	return c->mws >= 1 && c->mws <= NTB_MAX_MWS && c->mw_bar >= NTB_MIN_MW_BAR &&
	       c->mw_bar <= NTB_MAX_MW_BAR && !(c->mw_bar & (c->mw_bar - 1)) && c->spads >= 1 &&
	       c->spads <= NTB_MAX_SPADS && (c->msix == 0 || (c->msix >= 4 && c->msix <= NTB_MAX_DB)) &&
	       c->msi <= NTB_MAX_DB && !(c->msi & (c->msi - 1)) && (c->msi || c->msix);
}

struct ntb *ntb_new(const struct ntb_config *cfg)
{
	struct ntb *ntb;

	if (!config_ok(cfg)) {
		errno = EINVAL;
		return NULL;
	}
	ntb = calloc(1, sizeof(*ntb));
	if (!ntb)
		return NULL;
	ntb->cfg = *cfg;
	ntb->bar0_size = pow2_ceil(NTB_SPAD_OFF + 8ull * cfg->spads);
	ntb->bar1_size = pow2_ceil(4ull * cfg->spads < 16 ? 16 : 4ull * cfg->spads);
	for (unsigned i = 0; i < 2; i++) {
		struct ntb_side *s = &ntb->side[i];

		s->ntb = ntb;
		s->idx = i;
		for (unsigned m = 0; m < NTB_MAX_MWS; m++)
			s->mwref[m] = (struct ntb_mwref){s, m};
	}
	refresh(ntb);
	return ntb;
}

void *ntb_side_opaque(struct ntb *ntb, unsigned s)
{
	return &ntb->side[s & 1];
}

static int setup_side(struct ntb_side *s)
{
	static const struct vpcie_bar_ops bar0_ops = {bar0_read, bar0_write};
	static const struct vpcie_bar_ops bar1_ops = {bar1_read, bar1_write};
	static const struct vpcie_bar_ops bar2_ops = {bar2_read, bar2_write};
	static const struct vpcie_bar_ops mw_ops = {mw_read, mw_write};
	const struct ntb_config *c = &s->ntb->cfg;
	int rc;

	rc = vpcie_dev_set_bar(s->dev, NTB_BAR_CONFIG, &(struct vpcie_bar_desc){
		.size = s->ntb->bar0_size, .kind = VPCIE_BAR_MEM32, .ops = &bar0_ops, .opaque = s});
	if (!rc)
		rc = vpcie_dev_set_bar(s->dev, NTB_BAR_PEER_SPAD, &(struct vpcie_bar_desc){
			.size = s->ntb->bar1_size, .kind = VPCIE_BAR_MEM32, .ops = &bar1_ops,
			.opaque = s});
	if (!rc)
		rc = vpcie_dev_set_bar(s->dev, NTB_BAR_DB_MW1, &(struct vpcie_bar_desc){
			.size = c->mw_bar, .kind = VPCIE_BAR_MEM32, .ops = &bar2_ops, .opaque = s});
	for (unsigned m = 1; !rc && m < c->mws; m++)
		rc = vpcie_dev_set_bar(s->dev, NTB_BAR_MW(m), &(struct vpcie_bar_desc){
			.size = c->mw_bar, .kind = VPCIE_BAR_MEM32, .ops = &mw_ops,
			.opaque = &s->mwref[m]});
	if (rc)
		return rc;
	if (vpcie_dev_add_pm(s->dev) < 0 || (c->msi && vpcie_dev_add_msi(s->dev, c->msi, true) < 0) ||
	    vpcie_dev_add_pcie(s->dev, true) < 0 ||
	    (c->msix && vpcie_dev_add_msix(s->dev, c->msix, NTB_BAR_CONFIG, NTB_MSIX_TABLE_OFF,
					   NTB_BAR_CONFIG, NTB_MSIX_PBA_OFF) < 0))
		return -EINVAL;
	return 0;
}

int ntb_attach(struct ntb *ntb, struct vpcie_dev *a, struct vpcie_dev *b)
{
	struct vpcie_dev *devs[2] = {a, b};

	for (unsigned i = 0; i < 2; i++) {
		struct ntb_side *s = &ntb->side[i];
		int rc;

		s->dev = devs[i];
		s->lg = vpcie_dev_logger(devs[i]);
		rc = setup_side(s);
		if (rc)
			return rc;
		/* Armed when something is posted; until then due in ~290 years. */
		s->flush_timer = vpcie_dev_timer_add(s->dev, UINT64_MAX / 2, 0, flush_timer, s);
		if (!s->flush_timer)
			return -ENOMEM;
	}
	return 0;
}

void ntb_free(struct ntb *ntb)
{
	if (!ntb)
		return;
	for (unsigned i = 0; i < 2; i++)
		ntb_postq_free(&ntb->side[i].post);
	free(ntb);
}
