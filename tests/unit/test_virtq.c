/* SPDX-License-Identifier: MIT */
/*
 * Virtqueues against in-memory rings: the driver side (vpcie_vring) and the
 * device side (vpcie_virtq) share one buffer standing for guest memory, read
 * either through direct pointers (zero-copy) or only through the accessor's
 * read/write (as with DMA messages). Round trips over split and packed rings
 * past every wrap-around, direct chains and indirect tables, out-of-order
 * completion, notification suppression both ways, and hostile drivers:
 * loops, indices out of range, malformed indirect tables, ordering
 * violations, rings and tables outside memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vpcie/virtio.h>
#include <vpcie/virtio_host.h>

#define BASE 0x10000ull     /* bus address of the buffer */
#define MEM (4u << 20)
#define RING_OFF 0          /* ring memory at the start */
#define DATA_OFF (2u << 20) /* data buffers in the upper half */

struct tmem {
	uint8_t *buf;
	bool direct;            /* offer pointers */
	unsigned reads, writes; /* accessor calls */
};

static int tm_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct tmem *m = ctx;

	m->reads++;
	if (addr < BASE || addr - BASE > MEM || len > MEM - (addr - BASE))
		return -EFAULT;
	memcpy(buf, m->buf + (addr - BASE), len);
	return 0;
}

static int tm_write(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	struct tmem *m = ctx;

	m->writes++;
	if (addr < BASE || addr - BASE > MEM || len > MEM - (addr - BASE))
		return -EFAULT;
	memcpy(m->buf + (addr - BASE), buf, len);
	return 0;
}

static void *tm_ptr(void *ctx, uint64_t addr, size_t len, bool write)
{
	struct tmem *m = ctx;

	(void)write;
	if (!m->direct || addr < BASE || addr - BASE > MEM || len > MEM - (addr - BASE))
		return NULL;
	return m->buf + (addr - BASE);
}

struct fx {
	struct tmem mem;
	struct vpcie_virtq_mem acc;
	struct vpcie_vring *r;
	struct vpcie_virtq *vq;
	struct vpcie_virtq_config cfg;
};

static void fx_init(struct fx *f, enum vpcie_virtq_layout layout, uint16_t size, bool direct,
		    unsigned indirect_max, bool event_idx)
{
	struct vpcie_vring_config rc = {
		.layout = layout, .size = size, .iova = BASE + RING_OFF,
		.indirect_max = indirect_max, .event_idx = event_idx,
	};
	int err = 0;

	memset(f, 0, sizeof(*f));
	f->mem.buf = aligned_alloc(4096, MEM);
	assert_non_null(f->mem.buf);
	memset(f->mem.buf, 0, MEM);
	f->mem.direct = direct;
	f->acc = (struct vpcie_virtq_mem){tm_read, tm_write, tm_ptr, &f->mem};
	assert_true(vpcie_vring_mem_size(layout, size, indirect_max) <= DATA_OFF);
	rc.mem = f->mem.buf + RING_OFF;
	f->r = vpcie_vring_new(&rc);
	assert_non_null(f->r);
	f->cfg = (struct vpcie_virtq_config){
		.layout = layout, .size = size,
		.desc = vpcie_vring_desc_addr(f->r),
		.driver = vpcie_vring_driver_addr(f->r),
		.device = vpcie_vring_device_addr(f->r),
		.indirect = indirect_max > 0, .event_idx = event_idx,
		/* tiny rings: still accept the driver's indirect tables */
		.max_chain = indirect_max > size ? indirect_max : 0,
	};
	f->vq = vpcie_virtq_new(&f->cfg, &f->acc, &err);
	assert_int_equal(err, 0);
	assert_non_null(f->vq);
}

static void fx_fini(struct fx *f)
{
	vpcie_virtq_free(f->vq);
	vpcie_vring_free(f->r);
	free(f->mem.buf);
}

static uint8_t *data(struct fx *f, uint64_t iova)
{
	return f->mem.buf + (iova - BASE);
}

/* ---- Round trips ---------------------------------------------------------- */

/* Where buffer n's elements live (at most 128 buffers in flight). */
static uint64_t out_addr(unsigned n, unsigned i)
{
	return BASE + DATA_OFF + (uint64_t)(n % 128) * 8192 + i * 512;
}

static uint64_t in_addr(unsigned n, unsigned i)
{
	return out_addr(n, 0) + 4096 + i * 512;
}

/* Buffer n: 1..3 readable elements of 100+i bytes filled with n+i, 1..2
 * writable ones of 50+i bytes. */
static bool submit(struct fx *f, unsigned n, bool indirect)
{
	unsigned nout = 1 + n % 3, nin = 1 + n % 2;
	struct vpcie_vring_buf out[3], in[2];

	if (vpcie_vring_num_free(f->r) < (indirect ? 1 : nout + nin))
		return false;
	for (unsigned i = 0; i < nout; i++) {
		out[i] = (struct vpcie_vring_buf){out_addr(n, i), 100 + i};
		memset(data(f, out[i].addr), (int)(n + i), out[i].len);
	}
	for (unsigned i = 0; i < nin; i++) {
		in[i] = (struct vpcie_vring_buf){in_addr(n, i), 50 + i};
		memset(data(f, in[i].addr), 0, in[i].len);
	}
	assert_int_equal(vpcie_vring_add(f->r, out, nout, in, nin, indirect, (void *)(uintptr_t)(n + 1)), 0);
	return true;
}

/* Device side of buffer n: check what it reads, fill what it writes. */
static void serve(struct fx *f, const struct vpcie_virtq_req *q, unsigned n, bool packed_direct)
{
	uint8_t buf[512], fill[128];

	assert_int_equal(q->nout, 1 + n % 3);
	assert_int_equal(q->nin, 1 + n % 2);
	assert_int_equal(q->ndesc, packed_direct ? q->nout + q->nin : 1);
	assert_int_equal(vpcie_virtq_read(f->vq, q, 0, buf, q->out_len), 0);
	for (unsigned i = 0, off = 0; i < q->nout; off += 100 + i, i++)
		for (unsigned k = 0; k < 100 + i; k++)
			assert_int_equal(buf[off + k], (uint8_t)(n + i));
	memset(fill, 0xa0 + (int)(n % 16), sizeof(fill));
	assert_int_equal(vpcie_virtq_write(f->vq, q, 0, fill, q->in_len), 0);
}

/*
 * Submit total buffers in batches of varying size (up to what fits), let the
 * device serve each batch in order or complete it in reverse, and check
 * every completion on the driver side.
 */
static void roundtrip(enum vpcie_virtq_layout layout, uint16_t size, bool direct, bool indirect,
		      bool event_idx, unsigned total, bool reverse)
{
	bool packed_direct = layout == VPCIE_VIRTQ_PACKED && !indirect;
	unsigned submitted = 0, seen = 0, completed = 0, round = 0;
	struct fx f;

	fx_init(&f, layout, size, direct, indirect ? 8 : 0, event_idx);
	while (completed < total) {
		struct vpcie_virtq_req q, held[64];
		unsigned batch = 1 + round++ % 64, nheld = 0;
		int rc;

		for (unsigned b = 0; b < batch && submitted < total; b++)
			if (submit(&f, submitted, indirect))
				submitted++;
		while ((rc = vpcie_virtq_pop(f.vq, &q)) == 1) {
			serve(&f, &q, seen++, packed_direct);
			if (reverse && nheld < 64)
				held[nheld++] = q; /* id and ndesc are all push needs */
			else
				assert_int_equal(vpcie_virtq_push(f.vq, &q, (uint32_t)q.in_len), 0);
		}
		assert_int_equal(rc, 0);
		while (nheld) {
			const struct vpcie_virtq_req *h = &held[--nheld];

			assert_int_equal(vpcie_virtq_push(f.vq, h, (uint32_t)h->in_len), 0);
		}
		for (;;) {
			void *tok;
			uint32_t len;
			unsigned n;

			rc = vpcie_vring_get_used(f.r, &tok, &len);
			assert_true(rc >= 0);
			if (!rc)
				break;
			n = (unsigned)(uintptr_t)tok - 1;
			assert_true(n < submitted);
			assert_int_equal(len, n % 2 ? 101 : 50);
			assert_int_equal(*data(&f, in_addr(n, 0)), 0xa0 + n % 16);
			completed++;
		}
		assert_int_equal(vpcie_virtq_error(f.vq, NULL), 0);
	}
	assert_int_equal(vpcie_vring_num_free(f.r), f.cfg.size);
	assert_int_equal(vpcie_virtq_used_idx(f.vq), (uint16_t)total);
	fx_fini(&f);
}

static void test_split_direct(void **s)
{
	(void)s;
	roundtrip(VPCIE_VIRTQ_SPLIT, 16, true, false, false, 500, false);
	roundtrip(VPCIE_VIRTQ_SPLIT, 16, false, false, false, 500, false);
}

static void test_split_indirect(void **s)
{
	(void)s;
	roundtrip(VPCIE_VIRTQ_SPLIT, 8, true, true, true, 300, true);
	roundtrip(VPCIE_VIRTQ_SPLIT, 8, false, true, false, 300, false);
}

static void test_split_wrap16(void **s)
{
	(void)s;
	/* Past the 16-bit index wrap, with the event index on. */
	roundtrip(VPCIE_VIRTQ_SPLIT, 8, true, false, true, 70000, false);
}

static void test_split_out_of_order(void **s)
{
	(void)s;
	roundtrip(VPCIE_VIRTQ_SPLIT, 64, true, false, false, 2000, true);
	roundtrip(VPCIE_VIRTQ_SPLIT, 32, false, true, true, 1000, true);
}

static void test_packed_direct(void **s)
{
	(void)s;
	roundtrip(VPCIE_VIRTQ_PACKED, 16, true, false, false, 500, false);
	roundtrip(VPCIE_VIRTQ_PACKED, 16, false, false, true, 500, false);
	/* Any size will do for packed rings; chains straddle the end. */
	roundtrip(VPCIE_VIRTQ_PACKED, 7, true, false, true, 1000, false);
}

static void test_packed_indirect(void **s)
{
	(void)s;
	roundtrip(VPCIE_VIRTQ_PACKED, 8, true, true, true, 500, true);
	roundtrip(VPCIE_VIRTQ_PACKED, 5, false, true, false, 500, false);
	roundtrip(VPCIE_VIRTQ_PACKED, 1, true, true, true, 100, false);
}

static void test_packed_out_of_order(void **s)
{
	(void)s;
	roundtrip(VPCIE_VIRTQ_PACKED, 64, true, false, false, 3000, true);
}

/* ---- Zero-copy ------------------------------------------------------------------ */

static void test_iov(void **s)
{
	struct fx f;
	struct vpcie_virtq_req q;
	struct vpcie_vring_buf out[2] = {{BASE + DATA_OFF, 100}, {BASE + DATA_OFF + 100, 60}};
	struct vpcie_vring_buf in[2] = {{BASE + DATA_OFF + 8192, 30}, {BASE + DATA_OFF + 4096, 40}};
	struct iovec iov[4];

	(void)s;
	fx_init(&f, VPCIE_VIRTQ_SPLIT, 8, true, 0, false);
	assert_int_equal(vpcie_vring_add(f.r, out, 2, in, 2, false, (void *)1), 0);
	assert_int_equal(vpcie_virtq_pop(f.vq, &q), 1);
	/* Adjacent readable elements merge into one iovec. */
	assert_int_equal(vpcie_virtq_iov(f.vq, &q, false, 10, 150, iov, 4), 1);
	assert_ptr_equal(iov[0].iov_base, data(&f, BASE + DATA_OFF + 10));
	assert_int_equal(iov[0].iov_len, 150);
	assert_int_equal(vpcie_virtq_iov(f.vq, &q, true, 0, 70, iov, 4), 2);
	assert_int_equal(iov[1].iov_len, 40);
	assert_int_equal(vpcie_virtq_iov(f.vq, &q, true, 0, 70, iov, 1), -E2BIG);
	assert_int_equal(vpcie_virtq_iov(f.vq, &q, true, 0, 71, iov, 4), -ERANGE);
	assert_int_equal(vpcie_virtq_read(f.vq, &q, 150, (uint8_t[11]){0}, 11), -ERANGE);
	/* Without pointers the caller must copy. */
	f.mem.direct = false;
	assert_int_equal(vpcie_virtq_iov(f.vq, &q, false, 0, 10, iov, 4), -ENOENT);
	fx_fini(&f);
}

/* ---- Notification suppression ----------------------------------------------------- */

static void add_one(struct fx *f, unsigned tok)
{
	struct vpcie_vring_buf in = {BASE + DATA_OFF, 16};

	assert_int_equal(vpcie_vring_add(f->r, NULL, 0, &in, 1, false, (void *)(uintptr_t)tok), 0);
}

static void complete_all(struct fx *f)
{
	struct vpcie_virtq_req q;

	while (vpcie_virtq_pop(f->vq, &q) == 1)
		assert_int_equal(vpcie_virtq_push(f->vq, &q, 1), 0);
}

static void drain_used(struct fx *f)
{
	void *t;
	uint32_t l;

	while (vpcie_vring_get_used(f->r, &t, &l) == 1)
		;
}

static void suppression(enum vpcie_virtq_layout layout)
{
	struct fx f;

	/* Flags only (no event index). */
	fx_init(&f, layout, 8, true, 0, false);
	assert_false(vpcie_virtq_should_notify(f.vq)); /* nothing pushed */
	add_one(&f, 1);
	assert_true(vpcie_vring_kick_needed(f.r));
	assert_false(vpcie_vring_kick_needed(f.r)); /* nothing new */
	complete_all(&f);
	assert_true(vpcie_virtq_should_notify(f.vq));
	assert_false(vpcie_virtq_should_notify(f.vq));
	drain_used(&f);
	vpcie_vring_interrupt_after(f.r, 0);
	add_one(&f, 2);
	complete_all(&f);
	assert_false(vpcie_virtq_should_notify(f.vq));
	vpcie_vring_interrupt_after(f.r, 1);
	drain_used(&f);
	fx_fini(&f);

	/* Event index: an interrupt only once the 3rd next buffer is used. */
	fx_init(&f, layout, 8, true, 0, true);
	vpcie_vring_interrupt_after(f.r, 3);
	for (unsigned i = 0; i < 3; i++) {
		add_one(&f, 10 + i);
		complete_all(&f);
		if (i < 2)
			assert_false(vpcie_virtq_should_notify(f.vq));
		else
			assert_true(vpcie_virtq_should_notify(f.vq));
	}
	drain_used(&f);
	vpcie_vring_interrupt_after(f.r, 1);
	add_one(&f, 20);
	complete_all(&f);
	assert_true(vpcie_virtq_should_notify(f.vq));
	drain_used(&f);
	/* Several completions in one batch crossing the event: one interrupt. */
	vpcie_vring_interrupt_after(f.r, 2);
	add_one(&f, 21);
	add_one(&f, 22);
	add_one(&f, 23);
	complete_all(&f);
	assert_true(vpcie_virtq_should_notify(f.vq));
	drain_used(&f);
	fx_fini(&f);
}

static void test_suppress_split(void **s)
{
	(void)s;
	suppression(VPCIE_VIRTQ_SPLIT);
}

static void test_suppress_packed(void **s)
{
	(void)s;
	suppression(VPCIE_VIRTQ_PACKED);
}

/* Split with event index: the device asks for a kick only past what it has
 * seen, and publishes that once it found the ring empty. */
static void test_kick_event_idx(void **s)
{
	struct fx f;
	struct vpcie_virtq_req q;

	(void)s;
	fx_init(&f, VPCIE_VIRTQ_SPLIT, 8, true, 0, true);
	assert_int_equal(vpcie_virtq_pop(f.vq, &q), 0); /* publishes avail_event = 0 */
	add_one(&f, 1);
	assert_true(vpcie_vring_kick_needed(f.r));
	add_one(&f, 2); /* device has not caught up: no kick */
	assert_false(vpcie_vring_kick_needed(f.r));
	complete_all(&f); /* empties the ring: avail_event = 2 */
	drain_used(&f);
	add_one(&f, 3);
	assert_true(vpcie_vring_kick_needed(f.r));
	fx_fini(&f);
}

/* ---- Hostile drivers: split ------------------------------------------------------- */

static void put_split(struct fx *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		      uint16_t next)
{
	struct vring_desc *d = (struct vring_desc *)vpcie_vring_desc_table(f->r) + i;

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* Publish head and expect pop to fail with err, then stay failed. */
static void expect_broken(struct fx *f, int err)
{
	struct vpcie_virtq_req q;
	const char *why = NULL;

	assert_int_equal(vpcie_virtq_pop(f->vq, &q), err);
	assert_int_equal(vpcie_virtq_error(f->vq, &why), err);
	assert_non_null(why);
	assert_int_equal(vpcie_virtq_pop(f->vq, &q), err);
	assert_int_equal(vpcie_virtq_push(f->vq, &q, 0), err);
}

static void split_case(void (*build)(struct fx *f), int err, bool direct)
{
	struct fx f;

	fx_init(&f, VPCIE_VIRTQ_SPLIT, 8, direct, 8, false);
	build(&f);
	expect_broken(&f, err);
	fx_fini(&f);
}

static void b_loop(struct fx *f)
{
	put_split(f, 0, BASE + DATA_OFF, 16, VRING_DESC_F_NEXT, 1);
	put_split(f, 1, BASE + DATA_OFF, 16, VRING_DESC_F_NEXT, 2);
	put_split(f, 2, BASE + DATA_OFF, 16, VRING_DESC_F_NEXT, 0);
	vpcie_vring_split_publish(f->r, 0);
}

static void b_self_loop(struct fx *f)
{
	put_split(f, 3, BASE + DATA_OFF, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3);
	vpcie_vring_split_publish(f->r, 3);
}

static void b_next_range(struct fx *f)
{
	put_split(f, 0, BASE + DATA_OFF, 16, VRING_DESC_F_NEXT, 8);
	vpcie_vring_split_publish(f->r, 0);
}

static void b_head_range(struct fx *f)
{
	vpcie_vring_split_publish(f->r, 8);
}

static void b_avail_jump(struct fx *f)
{
	vpcie_vring_split_set_avail_idx(f->r, 9);
}

static void b_order(struct fx *f)
{
	put_split(f, 0, BASE + DATA_OFF, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	put_split(f, 1, BASE + DATA_OFF, 16, 0, 0);
	vpcie_vring_split_publish(f->r, 0);
}

static uint64_t ind_table(struct fx *f, unsigned n, const struct vring_desc *d)
{
	uint64_t at = BASE + DATA_OFF + 65536;

	memcpy(data(f, at), d, n * sizeof(*d));
	return at;
}

static void b_nested_indirect(struct fx *f)
{
	struct vring_desc t[2] = {{BASE + DATA_OFF, 16, VRING_DESC_F_NEXT, 1},
				  {BASE + DATA_OFF, 32, VRING_DESC_F_INDIRECT, 0}};

	put_split(f, 0, ind_table(f, 2, t), 32, VRING_DESC_F_INDIRECT, 0);
	vpcie_vring_split_publish(f->r, 0);
}

static void b_indirect_len(struct fx *f)
{
	put_split(f, 0, BASE + DATA_OFF, 24, VRING_DESC_F_INDIRECT, 0);
	vpcie_vring_split_publish(f->r, 0);
}

static void b_indirect_empty(struct fx *f)
{
	put_split(f, 0, BASE + DATA_OFF, 0, VRING_DESC_F_INDIRECT, 0);
	vpcie_vring_split_publish(f->r, 0);
}

static void b_indirect_next(struct fx *f)
{
	struct vring_desc t[1] = {{BASE + DATA_OFF, 16, 0, 0}};

	put_split(f, 0, ind_table(f, 1, t), 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	put_split(f, 1, BASE + DATA_OFF, 16, 0, 0);
	vpcie_vring_split_publish(f->r, 0);
}

static void b_indirect_huge(struct fx *f)
{
	/* 9 entries with a chain limit of 8 (the queue size) */
	put_split(f, 0, BASE + DATA_OFF, 9 * 16, VRING_DESC_F_INDIRECT, 0);
	vpcie_vring_split_publish(f->r, 0);
}

static void b_indirect_loop(struct fx *f)
{
	struct vring_desc t[2] = {{BASE + DATA_OFF, 16, VRING_DESC_F_NEXT, 1},
				  {BASE + DATA_OFF, 16, VRING_DESC_F_NEXT, 0}};

	put_split(f, 0, ind_table(f, 2, t), 32, VRING_DESC_F_INDIRECT, 0);
	vpcie_vring_split_publish(f->r, 0);
}

static void b_indirect_outside(struct fx *f)
{
	put_split(f, 0, BASE + MEM - 16, 32, VRING_DESC_F_INDIRECT, 0);
	vpcie_vring_split_publish(f->r, 0);
}

static void b_indirect_wraps(struct fx *f)
{
	put_split(f, 0, UINT64_MAX - 15, 32, VRING_DESC_F_INDIRECT, 0);
	vpcie_vring_split_publish(f->r, 0);
}

static void test_split_hostile(void **s)
{
	(void)s;
	for (int direct = 0; direct < 2; direct++) {
		split_case(b_loop, -EINVAL, direct);
		split_case(b_self_loop, -EINVAL, direct);
		split_case(b_next_range, -EINVAL, direct);
		split_case(b_head_range, -EINVAL, direct);
		split_case(b_avail_jump, -EINVAL, direct);
		split_case(b_order, -EINVAL, direct);
		split_case(b_nested_indirect, -EINVAL, direct);
		split_case(b_indirect_len, -EINVAL, direct);
		split_case(b_indirect_empty, -EINVAL, direct);
		split_case(b_indirect_next, -EINVAL, direct);
		split_case(b_indirect_huge, -EINVAL, direct);
		split_case(b_indirect_loop, -EINVAL, direct);
		split_case(b_indirect_outside, -EFAULT, direct);
		split_case(b_indirect_wraps, -EFAULT, direct);
	}
}

/* Indirect descriptors when the feature was not negotiated. */
static void test_split_indirect_unnegotiated(void **s)
{
	struct fx f;
	struct vring_desc t[1] = {{BASE + DATA_OFF, 16, 0, 0}};

	(void)s;
	fx_init(&f, VPCIE_VIRTQ_SPLIT, 8, true, 0, false);
	put_split(&f, 0, ind_table(&f, 1, t), 16, VRING_DESC_F_INDIRECT, 0);
	vpcie_vring_split_publish(f.r, 0);
	expect_broken(&f, -EINVAL);
	fx_fini(&f);
}

/* A chain longer than max_chain (set below the queue size). */
static void test_chain_limit(void **s)
{
	struct fx f;
	struct vpcie_vring_buf b[5];
	struct vpcie_virtq_req q;
	int err;

	(void)s;
	fx_init(&f, VPCIE_VIRTQ_SPLIT, 16, true, 0, false);
	vpcie_virtq_free(f.vq);
	f.cfg.max_chain = 4;
	f.vq = vpcie_virtq_new(&f.cfg, &f.acc, &err);
	assert_non_null(f.vq);
	for (unsigned i = 0; i < 5; i++)
		b[i] = (struct vpcie_vring_buf){BASE + DATA_OFF + i * 64, 64};
	assert_int_equal(vpcie_vring_add(f.r, b, 4, NULL, 0, false, (void *)1), 0);
	assert_int_equal(vpcie_virtq_pop(f.vq, &q), 1);
	assert_int_equal(q.nout, 4);
	assert_int_equal(vpcie_virtq_push(f.vq, &q, 0), 0);
	assert_int_equal(vpcie_vring_add(f.r, b, 5, NULL, 0, false, (void *)2), 0);
	expect_broken(&f, -EINVAL);
	fx_fini(&f);
}

/* Rings outside memory fail the queue; data outside memory only fails the
 * copy (the device fails that request). */
static void test_outside_memory(void **s)
{
	struct fx f;
	struct vpcie_virtq_req q;
	struct vpcie_vring_buf out = {BASE + MEM - 8, 16}, in = {0x1000, 4};
	uint8_t buf[16];
	int err;

	(void)s;
	for (int direct = 0; direct < 2; direct++) {
		fx_init(&f, VPCIE_VIRTQ_SPLIT, 8, direct, 0, false);
		assert_int_equal(vpcie_vring_add(f.r, &out, 1, &in, 1, false, (void *)1), 0);
		assert_int_equal(vpcie_virtq_pop(f.vq, &q), 1);
		assert_int_equal(vpcie_virtq_read(f.vq, &q, 0, buf, 16), -EFAULT);
		assert_int_equal(vpcie_virtq_read(f.vq, &q, 0, buf, 8), 0);
		assert_int_equal(vpcie_virtq_write(f.vq, &q, 0, buf, 1), -EFAULT);
		assert_int_equal(vpcie_virtq_push(f.vq, &q, 0), 0);
		assert_int_equal(vpcie_virtq_error(f.vq, NULL), 0);
		vpcie_virtq_free(f.vq);

		/* Descriptor table outside memory. */
		f.cfg.desc = BASE + MEM;
		f.vq = vpcie_virtq_new(&f.cfg, &f.acc, &err);
		assert_non_null(f.vq);
		add_one(&f, 2);
		expect_broken(&f, -EFAULT);
		vpcie_virtq_free(f.vq);

		/* Used ring outside memory: the first pop cannot initialise it. */
		f.cfg.desc = vpcie_vring_desc_addr(f.r);
		f.cfg.device = 0x4000;
		f.vq = vpcie_virtq_new(&f.cfg, &f.acc, &err);
		assert_non_null(f.vq);
		expect_broken(&f, -EFAULT);
		fx_fini(&f);
	}
}

static void test_bad_config(void **s)
{
	struct tmem m = {0};
	struct vpcie_virtq_mem acc = {tm_read, tm_write, tm_ptr, &m};
	struct vpcie_virtq_config c = {.layout = VPCIE_VIRTQ_SPLIT, .size = 6, .desc = BASE,
				       .driver = BASE + 4096, .device = BASE + 8192};
	struct vpcie_virtq *vq;
	int err = 0;

	(void)s;
	assert_null(vpcie_virtq_new(&c, &acc, &err)); /* split: not a power of two */
	assert_int_equal(err, -EINVAL);
	c.size = 8;
	c.desc = BASE + 8;
	assert_null(vpcie_virtq_new(&c, &acc, &err)); /* descriptors misaligned */
	c.desc = BASE;
	c.device = BASE + 8194;
	assert_null(vpcie_virtq_new(&c, &acc, &err)); /* used ring misaligned */
	c.device = BASE + 8192;
	c.driver = BASE + 1;
	assert_null(vpcie_virtq_new(&c, &acc, &err));
	c.driver = BASE + 4096;
	c.layout = 7;
	assert_null(vpcie_virtq_new(&c, &acc, &err));
	c.layout = VPCIE_VIRTQ_PACKED;
	c.size = 6; /* fine for packed */
	vq = vpcie_virtq_new(&c, &acc, &err);
	assert_non_null(vq);
	vpcie_virtq_free(vq);
	c.driver = BASE + 4098; /* event structures are 4-byte aligned */
	assert_null(vpcie_virtq_new(&c, &acc, &err));
}

/* ---- Hostile drivers: packed ------------------------------------------------------ */

static void packed_case(const struct vring_packed_desc *d, unsigned n, int err, unsigned indirect)
{
	struct fx f;

	fx_init(&f, VPCIE_VIRTQ_PACKED, 8, true, indirect, false);
	vpcie_vring_packed_publish(f.r, d, n);
	expect_broken(&f, err);
	fx_fini(&f);
}

static void test_packed_hostile(void **s)
{
	struct vring_packed_desc all_next[8], d[2];

	(void)s;
	/* A chain through every slot and back to its head. */
	for (unsigned i = 0; i < 8; i++)
		all_next[i] = (struct vring_packed_desc){BASE + DATA_OFF, 16, 0, VRING_DESC_F_NEXT};
	packed_case(all_next, 8, -EINVAL, 0);
	/* Readable after writable. */
	d[0] = (struct vring_packed_desc){BASE + DATA_OFF, 16, 0, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE};
	d[1] = (struct vring_packed_desc){BASE + DATA_OFF, 16, 0, 0};
	packed_case(d, 2, -EINVAL, 0);
	/* Indirect: without the feature, with NEXT, after direct ones, bad length. */
	d[0] = (struct vring_packed_desc){BASE + DATA_OFF, 16, 0, VRING_DESC_F_INDIRECT};
	packed_case(d, 1, -EINVAL, 0);
	d[0].flags = VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT;
	d[1] = (struct vring_packed_desc){BASE + DATA_OFF, 16, 0, 0};
	packed_case(d, 2, -EINVAL, 8);
	d[0] = (struct vring_packed_desc){BASE + DATA_OFF, 16, 0, VRING_DESC_F_NEXT};
	d[1] = (struct vring_packed_desc){BASE + DATA_OFF, 16, 0, VRING_DESC_F_INDIRECT};
	packed_case(d, 2, -EINVAL, 8);
	d[0] = (struct vring_packed_desc){BASE + DATA_OFF, 20, 0, VRING_DESC_F_INDIRECT};
	packed_case(d, 1, -EINVAL, 8);
	d[0] = (struct vring_packed_desc){BASE + MEM, 32, 0, VRING_DESC_F_INDIRECT};
	packed_case(d, 1, -EFAULT, 8);
}

/* In a packed indirect table only WRITE counts: NEXT and INDIRECT there are
 * reserved and ignored, and the buffer id comes from the ring descriptor. */
static void test_packed_indirect_flags_ignored(void **s)
{
	struct fx f;
	struct vring_packed_desc t[2] = {
		{BASE + DATA_OFF, 16, 99, VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT},
		{BASE + DATA_OFF + 64, 8, 99, VRING_DESC_F_WRITE},
	}, d = {BASE + DATA_OFF + 65536, 32, 5, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE};
	struct vpcie_virtq_req q;

	(void)s;
	fx_init(&f, VPCIE_VIRTQ_PACKED, 8, false, 8, false);
	memcpy(data(&f, BASE + DATA_OFF + 65536), t, sizeof(t));
	vpcie_vring_packed_publish(f.r, &d, 1);
	assert_int_equal(vpcie_virtq_pop(f.vq, &q), 1);
	assert_int_equal(q.id, 5);
	assert_int_equal(q.nout, 1);
	assert_int_equal(q.nin, 1);
	assert_int_equal(q.in_len, 8);
	fx_fini(&f);
}

/* The driver notices a device that completes a buffer it never had. */
static void test_driver_checks_device(void **s)
{
	struct fx f;
	struct vpcie_virtq_req q;
	void *t;
	uint32_t l;

	(void)s;
	fx_init(&f, VPCIE_VIRTQ_SPLIT, 8, true, 0, false);
	add_one(&f, 1);
	assert_int_equal(vpcie_virtq_pop(f.vq, &q), 1);
	q.id = 5; /* not in flight */
	assert_int_equal(vpcie_virtq_push(f.vq, &q, 1), 0);
	assert_int_equal(vpcie_vring_get_used(f.r, &t, &l), -EPROTO);
	fx_fini(&f);
}

/* Rings full of random bytes: pop, copy and push must return (any result),
 * never crash, loop or touch memory outside the accessor. */
static void test_random_garbage(void **s)
{
	uint64_t x = 0x243f6a8885a308d3ull;

	(void)s;
	for (unsigned iter = 0; iter < 400; iter++) {
		enum vpcie_virtq_layout l = iter % 2 ? VPCIE_VIRTQ_PACKED : VPCIE_VIRTQ_SPLIT;
		struct fx f;
		size_t len = vpcie_vring_mem_size(l, 16, 4);

		fx_init(&f, l, 16, iter % 4 < 2, 4, iter % 3 == 0);
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* Some addresses inside memory, most anywhere. */
			f.mem.buf[RING_OFF + i] = (uint8_t)(x >> 24);
		}
		for (unsigned k = 0; k < 40; k++) {
			struct vpcie_virtq_req q;
			uint8_t buf[64];
			int rc = vpcie_virtq_pop(f.vq, &q);

			if (rc <= 0)
				break;
			assert_true(q.nout + q.nin <= 16);
			vpcie_virtq_read(f.vq, &q, 0, buf, q.out_len < sizeof(buf) ? q.out_len : sizeof(buf));
			vpcie_virtq_write(f.vq, &q, 0, buf, q.in_len < sizeof(buf) ? q.in_len : sizeof(buf));
			vpcie_virtq_push(f.vq, &q, 1);
			vpcie_virtq_should_notify(f.vq);
		}
		fx_fini(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_direct),
		cmocka_unit_test(test_split_indirect),
		cmocka_unit_test(test_split_wrap16),
		cmocka_unit_test(test_split_out_of_order),
		cmocka_unit_test(test_packed_direct),
		cmocka_unit_test(test_packed_indirect),
		cmocka_unit_test(test_packed_out_of_order),
		cmocka_unit_test(test_iov),
		cmocka_unit_test(test_suppress_split),
		cmocka_unit_test(test_suppress_packed),
		cmocka_unit_test(test_kick_event_idx),
		cmocka_unit_test(test_split_hostile),
		cmocka_unit_test(test_split_indirect_unnegotiated),
		cmocka_unit_test(test_chain_limit),
		cmocka_unit_test(test_outside_memory),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_packed_hostile),
		cmocka_unit_test(test_packed_indirect_flags_ignored),
		cmocka_unit_test(test_driver_checks_device),
		cmocka_unit_test(test_random_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
