/* SPDX-License-Identifier: MIT */
/*
 * The RTL bridge (vpcie/rtl.h) against a scripted clocked model written in C
 * (no simulator) and a scripted host (the bridge's env): register reads and
 * writes with byte enables, posted-write ordering under back-pressure, a
 * design that never answers (timeout, then the late answer is dropped),
 * DMA write and read with their interrupts, INTx, and the rule that DMA and
 * interrupts wait while a host access is in progress; how DMA failures
 * reach the design (cpl_err/cpl_fault, a failed posted write reported with
 * the next read's cpl_wfail/cpl_wfault) and the host's interrupt set-up
 * (irq_mode, irq_vectors).
 *
 * Model, BAR0, 8 registers of 64 bits at 0x00..0x38:
 *	0x00 DMA address  0x08 DMA length  0x10 seed  0x18 MSI vector
 *	0x20 result (sum of the bytes a DMA read fetched; 0xdead on error)
 *	0x28 bit 0 drives INTx   0x38 doorbell: 1 = DMA write seed+i, 2 = DMA read
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vpcie/rtl.h>

#define PAYLOAD 8u

struct model {
	struct vpcie_rtl_in in;
	uint64_t reg[8];
	unsigned rdy_every;     /* req_rdy one cycle in N (0/1: always) */
	bool hang;              /* never answer reads */
	unsigned latency;       /* cycles from a taken read to its answer */
	uint64_t cyc;
	/* read answer pipeline */
	bool rd_pending;
	unsigned rd_wait;
	uint8_t rd_tag;
	uint64_t rd_data;
	/* write log, in the order the design took them */
	uint64_t wlog[512];
	unsigned nwlog;
	/* DMA engine */
	unsigned dma;           /* 0 idle, 1 writing, 2 read requested, 3 receiving, 4 msi */
	uint64_t done;
	uint64_t sum;
	unsigned cpl_flags;     /* last completion: 1 err, 2 fault, 4 wfail, 8 wfault */
};

static bool req_rdy(const struct model *m)
{
	return m->rdy_every <= 1 || m->cyc % m->rdy_every == 0;
}

static void m_set(void *o, const struct vpcie_rtl_in *in)
{
	((struct model *)o)->in = *in;
}

static void m_get(void *o, struct vpcie_rtl_out *out)
{
	struct model *m = o;

	out->req_rdy = req_rdy(m);
	out->rep_en = m->rd_pending && m->rd_wait == 0 && !m->hang;
	out->rep_tag = m->rd_tag;
	out->rep_data = m->rd_data;
	out->mwr_en = m->dma == 1;
	if (out->mwr_en) {
		uint64_t left = m->reg[1] - m->done;

		out->mwr_addr = m->reg[0] + m->done;
		out->mwr_size = (uint16_t)(left < PAYLOAD ? left : PAYLOAD);
		for (unsigned i = 0; i < out->mwr_size; i++)
			out->mwr_data[i] = (uint8_t)(m->reg[2] + m->done + i);
	}
	out->mrd_en = m->dma == 2;
	out->mrd_addr = m->reg[0];
	out->mrd_len = (uint32_t)m->reg[1];
	out->mrd_tag = 0x5a;
	out->cpl_rdy = m->dma == 3;
	out->msi_en = m->dma == 4;
	out->msi_vec = (uint16_t)m->reg[3];
	out->intx = m->reg[5] & 1;
	out->busy = m->dma != 0;
}

static void m_clock(void *o)
{
	struct model *m = o;
	const struct vpcie_rtl_in *in = &m->in;
	struct vpcie_rtl_out out;

	memset(&out, 0, sizeof(out));
	m_get(m, &out);
	m->cyc++;
	if (in->rst) {
		memset(m->reg, 0, sizeof(m->reg));
		m->dma = 0;
		m->rd_pending = false;
		return;
	}
	if (out.rep_en && in->rep_rdy)
		m->rd_pending = false;
	else if (m->rd_pending && m->rd_wait)
		m->rd_wait--;
	if (in->req_en && out.req_rdy) {
		unsigned i = (unsigned)(in->req_addr >> 3) & 7;

		if (in->req_wr) {
			for (unsigned b = 0; b < 8; b++)
				if (in->req_be & (1u << b)) {
					m->reg[i] &= ~(0xffull << (8 * b));
					m->reg[i] |= in->req_data & (0xffull << (8 * b));
				}
			if (m->nwlog < 512)
				m->wlog[m->nwlog++] = m->reg[i];
			if (i == 7 && m->dma == 0) {
				m->done = 0;
				m->sum = 0;
				m->dma = m->reg[7] == 1 ? 1 : m->reg[7] == 2 ? 2 : 0;
			}
		} else {
			m->rd_pending = true;
			m->rd_wait = m->latency;
			m->rd_tag = in->req_tag;
			m->rd_data = m->reg[i];
		}
	}
	/* handshakes on the outputs the bridge saw before this edge */
	if (out.mwr_en && in->mwr_rdy) {
		m->done += out.mwr_size;
		if (m->done >= m->reg[1])
			m->dma = 4;
	}
	if (out.mrd_en && in->mrd_rdy)
		m->dma = 3;
	if (out.cpl_rdy && in->cpl_en) {
		assert_int_equal(in->cpl_tag, 0x5a);
		for (unsigned i = 0; i < in->cpl_size; i++)
			m->sum += in->cpl_data[i];
		if (in->cpl_last) {
			m->cpl_flags = (in->cpl_err ? 1u : 0) | (in->cpl_fault ? 2u : 0) |
				       (in->cpl_wfail ? 4u : 0) | (in->cpl_wfault ? 8u : 0);
			m->reg[4] = in->cpl_err ? 0xdead : m->sum;
			m->dma = 4;
		}
	}
	if (out.msi_en && in->msi_rdy)
		m->dma = 0;
}

static const struct vpcie_rtl_model model_ops = {
	.set_inputs = m_set,
	.get_outputs = m_get,
	.clock = m_clock,
};

/* ---- scripted host ---- */

#define HOST_BASE 0x10000u
#define HOST_SIZE 0x4000u

struct host {
	uint8_t mem[HOST_SIZE];
	char events[64];        /* 'W' DMA write, 'R' DMA read, 'I' irq, 'X'/'x' INTx */
	unsigned nev;
	unsigned vec;
	unsigned kicks;
	int fail_rc;            /* non-zero: every DMA fails with it */
};

static void ev(struct host *h, char c)
{
	if (h->nev < sizeof(h->events) - 1)
		h->events[h->nev++] = c;
}

static int h_read(void *o, uint64_t addr, void *buf, size_t len)
{
	struct host *h = o;

	ev(h, 'R');
	if (h->fail_rc)
		return h->fail_rc;
	if (addr < HOST_BASE || addr + len > HOST_BASE + HOST_SIZE)
		return -EFAULT;
	memcpy(buf, h->mem + (addr - HOST_BASE), len);
	return 0;
}

static int h_write(void *o, uint64_t addr, const void *buf, size_t len)
{
	struct host *h = o;

	ev(h, 'W');
	if (h->fail_rc)
		return h->fail_rc;
	if (addr < HOST_BASE || addr + len > HOST_BASE + HOST_SIZE)
		return -EFAULT;
	memcpy(h->mem + (addr - HOST_BASE), buf, len);
	return 0;
}

static int h_irq(void *o, unsigned vec)
{
	struct host *h = o;

	ev(h, 'I');
	h->vec = vec;
	return 0;
}

static int h_intx(void *o, bool asserted)
{
	ev(o, asserted ? 'X' : 'x');
	return 0;
}

static void h_kick(void *o)
{
	((struct host *)o)->kicks++;
}

static void h_irq_config(void *o, uint8_t *mode, uint16_t *vectors)
{
	(void)o;
	*mode = 3; /* MSI-X */
	*vectors = 2048;
}

static const struct vpcie_rtl_env host_env = {
	.dma_read = h_read,
	.dma_write = h_write,
	.irq = h_irq,
	.intx = h_intx,
	.kick = h_kick,
	.irq_config = h_irq_config,
};

struct fx {
	struct model m;
	struct host h;
	struct vpcie_rtl *r;
};

static struct fx *fx_new(uint64_t timeout_cycles)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vpcie_rtl_opts o = {
		.payload_bytes = PAYLOAD,
		.tail_cycles = 16,
		.read_timeout_cycles = timeout_cycles,
		.queue_depth = 64,
		.max_read = 1024,
		.env = &host_env,
	};

	assert_non_null(f);
	o.env_opaque = &f->h;
	f->r = vpcie_rtl_new(NULL, &model_ops, &f->m, &o);
	assert_non_null(f->r);
	vpcie_rtl_run(f->r, 1000); /* reset */
	return f;
}

static void fx_free(struct fx *f)
{
	vpcie_rtl_free(f->r);
	free(f);
}

static void wr64(struct fx *f, uint64_t off, uint64_t v)
{
	assert_int_equal(vpcie_rtl_write(f->r, 0, off, &v, 8), 0);
}

static uint64_t rd64(struct fx *f, uint64_t off)
{
	uint64_t v = 0;

	assert_int_equal(vpcie_rtl_read(f->r, 0, off, &v, 8), 0);
	return v;
}

static void run_idle(struct fx *f)
{
	for (int i = 0; i < 1000 && vpcie_rtl_run(f->r, 4096); i++)
		;
	assert_false(vpcie_rtl_run(f->r, 4096));
}

static void test_bad_args(void **state)
{
	struct model m;
	struct vpcie_rtl_opts o = {.payload_bytes = 65, .env = &host_env};
	struct host h;

	(void)state;
	o.env_opaque = &h;
	assert_null(vpcie_rtl_new(NULL, &model_ops, &m, NULL)); /* no dev, no env */
	assert_int_equal(errno, EINVAL);
	assert_null(vpcie_rtl_new(NULL, &model_ops, &m, &o));  /* beat too wide */
	assert_int_equal(errno, EINVAL);
}

static void test_read_write(void **state)
{
	struct fx *f = fx_new(10000);
	uint32_t v32;
	uint8_t b[4] = {0xa1, 0xa2, 0xa3, 0xa4};
	uint16_t v16;

	(void)state;
	f->m.latency = 3;
	wr64(f, 0x10, 0x1122334455667788ull);
	assert_true(f->h.kicks > 0);
	assert_int_equal(rd64(f, 0x10), 0x1122334455667788ull);
	/* 4 bytes in the upper lanes: only those bytes change */
	v32 = 0xdeadbeef;
	assert_int_equal(vpcie_rtl_write(f->r, 0, 0x14, &v32, 4), 0);
	assert_int_equal(rd64(f, 0x10), 0xdeadbeef55667788ull);
	assert_int_equal(vpcie_rtl_read(f->r, 0, 0x14, &v32, 4), 0);
	assert_int_equal(v32, 0xdeadbeef);
	/* across a lane group: split in two requests */
	assert_int_equal(vpcie_rtl_write(f->r, 0, 0x16, b, 4), 0);
	assert_int_equal(rd64(f, 0x10) >> 48, 0xa2a1);
	assert_int_equal(rd64(f, 0x18) & 0xffff, 0xa4a3);
	assert_int_equal(vpcie_rtl_read(f->r, 0, 0x17, &v16, 2), 0);
	assert_int_equal(v16, 0xa3a2);
	assert_int_equal(vpcie_rtl_read(f->r, 6, 0, &v16, 2), -EINVAL);
	fx_free(f);
}

/* Posted writes reach the design in order, under back-pressure, and a read
 * behind them sees the last one. */
static void test_posted_order(void **state)
{
	struct fx *f = fx_new(100000);
	struct vpcie_rtl_stats st;

	(void)state;
	f->m.rdy_every = 3;
	for (uint64_t i = 1; i <= 200; i++)
		wr64(f, 0x08, i); /* more than the queue holds: the write clocks to make room */
	assert_int_equal(rd64(f, 0x08), 200);
	assert_int_equal(f->m.nwlog, 200);
	for (unsigned i = 0; i < 200; i++)
		assert_int_equal(f->m.wlog[i], i + 1);
	vpcie_rtl_get_stats(f->r, &st);
	assert_int_equal(st.writes, 200);
	assert_int_equal(st.reads, 1);
	fx_free(f);
}

/* A design that never answers: the host gets -ETIMEDOUT, not a hang; when it
 * answers late, the stale completion is dropped and the next read is right. */
static void test_hung_read(void **state)
{
	struct fx *f = fx_new(5000);
	struct vpcie_rtl_stats st;
	uint64_t v;

	(void)state;
	wr64(f, 0x10, 42);
	f->m.hang = true;
	assert_int_equal(vpcie_rtl_read(f->r, 0, 0x10, &v, 8), -ETIMEDOUT);
	vpcie_rtl_get_stats(f->r, &st);
	assert_int_equal(st.read_timeouts, 1);
	assert_true(st.cycles < 5000 + 1000);
	f->m.hang = false; /* the old answer comes out now, with the old tag */
	f->m.latency = 2;
	wr64(f, 0x10, 43);
	assert_int_equal(rd64(f, 0x10), 43);
	vpcie_rtl_get_stats(f->r, &st);
	assert_int_equal(st.stale_completions, 1);
	/* a design that never takes the request at all */
	f->m.rdy_every = 1u << 30;
	f->m.cyc = 1;
	assert_int_equal(vpcie_rtl_read(f->r, 0, 0x10, &v, 8), -ETIMEDOUT);
	f->m.rdy_every = 0;
	assert_int_equal(rd64(f, 0x10), 43);
	fx_free(f);
}

static void test_dma_write_msi(void **state)
{
	struct fx *f = fx_new(10000);

	(void)state;
	wr64(f, 0x00, HOST_BASE + 0x100);
	wr64(f, 0x08, 1000); /* not a multiple of the beat */
	wr64(f, 0x10, 7);
	wr64(f, 0x18, 3);
	wr64(f, 0x38, 1);
	run_idle(f);
	for (unsigned i = 0; i < 1000; i++)
		assert_int_equal(f->h.mem[0x100 + i], (uint8_t)(7 + i));
	assert_int_equal(f->h.mem[0x100 + 1000], 0);
	assert_int_equal(f->h.mem[0xff], 0);
	/* beats coalesced into one host write, before the interrupt */
	assert_string_equal(f->h.events, "WI");
	assert_int_equal(f->h.vec, 3);
	fx_free(f);
}

static void test_dma_read(void **state)
{
	struct fx *f = fx_new(10000);
	uint64_t sum = 0;

	(void)state;
	for (unsigned i = 0; i < 777; i++) {
		f->h.mem[0x200 + i] = (uint8_t)(i * 13);
		sum += (uint8_t)(i * 13);
	}
	wr64(f, 0x00, HOST_BASE + 0x200);
	wr64(f, 0x08, 777);
	wr64(f, 0x38, 2);
	run_idle(f);
	assert_int_equal(rd64(f, 0x20), sum);
	assert_string_equal(f->h.events, "RI");
	/* outside the host's memory: an error completion */
	wr64(f, 0x00, 0x100);
	wr64(f, 0x38, 2);
	run_idle(f);
	assert_int_equal(rd64(f, 0x20), 0xdead);
	/* longer than max_read: an error completion without asking the host */
	wr64(f, 0x00, HOST_BASE);
	wr64(f, 0x08, 4096);
	wr64(f, 0x38, 2);
	run_idle(f);
	assert_int_equal(rd64(f, 0x20), 0xdead);
	assert_string_equal(f->h.events, "RIRII");
	fx_free(f);
}

/* A failed read is cpl_err (+ cpl_fault for an address outside the host's
 * memory); a failed posted write is reported by the next read's completion
 * (cpl_wfail, cpl_wfault), once. */
static void test_dma_faults(void **state)
{
	struct fx *f = fx_new(10000);

	(void)state;
	/* the host's interrupt set-up reaches the design */
	assert_int_equal(f->m.in.irq_mode, 3);
	assert_int_equal(f->m.in.irq_vectors, 2048);
	/* a DMA write outside host memory, then a good read: wfail + wfault */
	wr64(f, 0x00, 0x100);
	wr64(f, 0x08, 64);
	wr64(f, 0x38, 1);
	run_idle(f);
	wr64(f, 0x00, HOST_BASE);
	wr64(f, 0x38, 2);
	run_idle(f);
	assert_int_equal(f->m.cpl_flags, 4 | 8);
	assert_int_not_equal(rd64(f, 0x20), 0xdead);
	/* reported once */
	wr64(f, 0x38, 2);
	run_idle(f);
	assert_int_equal(f->m.cpl_flags, 0);
	/* a read outside host memory: err + fault */
	wr64(f, 0x00, 0x100);
	wr64(f, 0x38, 2);
	run_idle(f);
	assert_int_equal(f->m.cpl_flags, 1 | 2);
	/* the host refuses every DMA (bus mastering off): not an address fault */
	f->h.fail_rc = -EPERM;
	wr64(f, 0x00, HOST_BASE);
	wr64(f, 0x38, 1);
	run_idle(f);
	wr64(f, 0x38, 2);
	run_idle(f);
	assert_int_equal(f->m.cpl_flags, 1 | 4);
	assert_string_equal(f->h.events, "WIRIRIRIWIRI");
	fx_free(f);
}

/* DMA and interrupts wait while a host access is in progress. */
static void test_dma_held_during_access(void **state)
{
	struct fx *f = fx_new(10000);

	(void)state;
	wr64(f, 0x00, HOST_BASE);
	wr64(f, 0x08, 64);
	wr64(f, 0x38, 1);
	/* the read clocks the doorbell write in, but no DMA may move */
	assert_int_equal(rd64(f, 0x08), 64);
	assert_int_equal(f->h.nev, 0);
	assert_int_equal(f->h.mem[1], 0);
	run_idle(f);
	assert_string_equal(f->h.events, "WI");
	assert_int_equal(f->h.mem[1], 1);
	fx_free(f);
}

static void test_intx_and_idle(void **state)
{
	struct fx *f = fx_new(10000);
	struct vpcie_rtl_stats a, b;

	(void)state;
	wr64(f, 0x28, 1);
	run_idle(f);
	wr64(f, 0x28, 0);
	run_idle(f);
	assert_string_equal(f->h.events, "Xx");
	/* idle: a run stops after the tail and the clock does not advance */
	vpcie_rtl_get_stats(f->r, &a);
	assert_false(vpcie_rtl_run(f->r, 1000000));
	vpcie_rtl_get_stats(f->r, &b);
	assert_int_equal(b.cycles, a.cycles);
	/* reset: registers back to zero */
	wr64(f, 0x10, 9);
	run_idle(f);
	assert_int_equal(rd64(f, 0x10), 9);
	vpcie_rtl_reset(f->r);
	run_idle(f);
	assert_int_equal(rd64(f, 0x10), 0);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_posted_order),
		cmocka_unit_test(test_hung_read),
		cmocka_unit_test(test_dma_write_msi),
		cmocka_unit_test(test_dma_read),
		cmocka_unit_test(test_dma_faults),
		cmocka_unit_test(test_dma_held_during_access),
		cmocka_unit_test(test_intx_and_idle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
