/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the device side of a virtqueue (vpcie/virtio.h) reading
 * rings a hostile driver wrote into its own memory. Built twice:
 * fuzz_virtq_split and fuzz_virtq_packed (FUZZ_VIRTQ_PACKED=1).
 *
 * "Guest memory" is one buffer of MEM_SIZE bytes at bus address MEM_BASE,
 * allocated at its exact size so ASan sees any access beyond it. The queue
 * reaches it through an accessor that bounds-checks every read and write,
 * and, depending on the input, also hands out direct pointers (all of
 * memory, or only its lower half so both paths mix in one chain).
 *
 * Input:
 *   byte 0     bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 direct pointers,
 *              bit 3 pointers only for the lower half of memory
 *   bytes 1-2  queue size (split: 1 << (v % 16); packed: v & 0x7fff, 0 is
 *              32768 as the API says)
 *   bytes 3-4  max_chain (0: the queue size)
 *   bytes 5-10 offsets in memory of the descriptor area, driver area and
 *              device area (aligned down as the layout requires; a queue
 *              that does not fit runs into the end of memory)
 *   then operations until the input ends, each an opcode byte:
 *     0 WRITE  u16 off, u8 len, len bytes: the driver stores into memory
 *     1 POP    u8 how: take a chain; bit 0: also read its readable part,
 *              write its writable part and ask for iovecs of both
 *     2 PUSH   u8 k, u32 written: complete in-flight chain k (mod count)
 *     3 NOTIFY vpcie_virtq_should_notify()
 *     4 DRAIN  pop and complete up to size + 1 chains (at most 1024), as
 *              a device's notify handler with a budget
 *
 * Invariants (abort() on violation): every chain has 1..max_chain segments
 * whose lengths add up to out_len/in_len; a split chain has an id below the
 * size and one slot, a packed chain 1..size slots; while memory does not
 * change, no more chains come out than the ring can hold (split: 2 * size,
 * chains seen before the change and one fresh look at the index; packed:
 * size + 1, one lap from where the last pop stopped); iovecs point into
 * memory; a broken queue stays broken with the same error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <vpcie/virtio.h>

#ifndef FUZZ_VIRTQ_PACKED
#define FUZZ_VIRTQ_PACKED 0
#endif

#define MEM_BASE 0x100000ull
#define MEM_SIZE (64u * 1024)
#define MAX_INFLIGHT 64u
#define DATA_CAP (64u * 1024)   /* payload bytes copied per request at most */
#define MAX_IOV 64u
#define DRAIN_BUDGET 1024u

struct fmem {
	uint8_t *buf;
	bool direct, half;
};

static bool inside(uint64_t addr, size_t len)
{
	return addr >= MEM_BASE && addr - MEM_BASE <= MEM_SIZE && len <= MEM_SIZE - (addr - MEM_BASE);
}

static int fm_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct fmem *m = ctx;

	if (!inside(addr, len))
		return -EFAULT;
	memcpy(buf, m->buf + (addr - MEM_BASE), len);
	return 0;
}

static int fm_write(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	struct fmem *m = ctx;

	if (!inside(addr, len))
		return -EFAULT;
	memcpy(m->buf + (addr - MEM_BASE), buf, len);
	return 0;
}

static void *fm_ptr(void *ctx, uint64_t addr, size_t len, bool write)
{
	struct fmem *m = ctx;

	(void)write;
	if (!m->direct || !inside(addr, len))
		return NULL;
	if (m->half && addr - MEM_BASE + len > MEM_SIZE / 2)
		return NULL;
	return m->buf + (addr - MEM_BASE);
}

/* What a completion needs of a chain (its segments die with the next pop). */
struct inflight {
	uint16_t id, ndesc;
	uint64_t in_len;
};

struct fuzz {
	struct vpcie_virtq *vq;
	struct fmem mem;
	unsigned size, max_chain;
	struct inflight fl[MAX_INFLIGHT];
	unsigned nfl;
	unsigned pops_unchanged; /* chains taken since memory last changed */
	uint16_t popped;         /* our count of chains taken */
	const uint8_t *p, *end;
};

static uint8_t scratch[DATA_CAP];

static bool take(struct fuzz *f, void *out, size_t n)
{
	if ((size_t)(f->end - f->p) < n)
		return false;
	memcpy(out, f->p, n);
	f->p += n;
	return true;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void check_iov(const struct iovec *iov, int n, struct fuzz *f)
{
	for (int i = 0; i < n; i++) {
		const uint8_t *b = iov[i].iov_base;

		if (b < f->mem.buf || iov[i].iov_len > MEM_SIZE ||
		    (size_t)(b - f->mem.buf) > MEM_SIZE - iov[i].iov_len)
			abort(); /* a pointer outside the driver's memory */
	}
}

/* The payload of the chain just popped: read, write, iovecs. */
static void touch(struct fuzz *f, const struct vpcie_virtq_req *req)
{
	struct iovec iov[MAX_IOV];
	size_t n;
	int rc;

	n = req->out_len < DATA_CAP ? (size_t)req->out_len : DATA_CAP;
	vpcie_virtq_read(f->vq, req, 0, scratch, n);
	if (req->out_len > 1)
		vpcie_virtq_read(f->vq, req, req->out_len / 2, scratch, 1);
	rc = vpcie_virtq_iov(f->vq, req, false, 0, n, iov, MAX_IOV);
	if (rc > 0)
		check_iov(iov, rc, f);
	n = req->in_len < DATA_CAP ? (size_t)req->in_len : DATA_CAP;
	memset(scratch, 0xa5, n);
	if (n && vpcie_virtq_write(f->vq, req, 0, scratch, n) == 0)
		f->pops_unchanged = 0; /* the device wrote into driver memory */
	rc = vpcie_virtq_iov(f->vq, req, true, 0, n, iov, MAX_IOV);
	if (rc > 0)
		check_iov(iov, rc, f);
	/* Beyond the part: always refused. */
	if (vpcie_virtq_read(f->vq, req, req->out_len, scratch, 1) != -ERANGE ||
	    vpcie_virtq_write(f->vq, req, req->in_len, scratch, 1) != -ERANGE)
		abort();
}

static void check_req(struct fuzz *f, const struct vpcie_virtq_req *req)
{
	uint64_t out = 0, in = 0;
	unsigned n = req->nout + req->nin;

	if (n == 0 || n > f->max_chain || !req->seg)
		abort();
	for (unsigned i = 0; i < n; i++) {
		if (i < req->nout)
			out += req->seg[i].len;
		else
			in += req->seg[i].len;
	}
	if (out != req->out_len || in != req->in_len)
		abort();
	if (FUZZ_VIRTQ_PACKED ? req->ndesc == 0 || req->ndesc > f->size
			      : req->ndesc != 1 || req->id >= f->size)
		abort();
	/* From unchanged memory, no more chains than the ring holds: split,
	 * what was seen available before the change (at most size) plus one
	 * fresh look at the index (at most size more); packed, one lap from
	 * wherever the last pop stopped. */
	if (++f->pops_unchanged > (FUZZ_VIRTQ_PACKED ? f->size + 1 : 2 * f->size))
		abort();
	f->popped++;
	if (vpcie_virtq_last_avail(f->vq) != f->popped)
		abort();
}

/* Returns what vpcie_virtq_pop() returned. */
static int pop(struct fuzz *f, bool data)
{
	struct vpcie_virtq_req req;
	int rc = vpcie_virtq_pop(f->vq, &req), again;

	if (rc < 0) {
		const char *why;

		if (vpcie_virtq_error(f->vq, &why) != rc || !why)
			abort();
		again = vpcie_virtq_pop(f->vq, &req);
		if (again != rc)
			abort(); /* a broken queue stays broken */
		return rc;
	}
	if (rc == 0)
		return 0;
	if (rc != 1)
		abort();
	check_req(f, &req);
	if (data)
		touch(f, &req);
	if (f->nfl == MAX_INFLIGHT) {
		/* Complete the oldest to make room. */
		vpcie_virtq_push(f->vq, &(struct vpcie_virtq_req){.id = f->fl[0].id,
			.ndesc = f->fl[0].ndesc, .in_len = f->fl[0].in_len}, 0);
		f->pops_unchanged = 0;
		memmove(f->fl, f->fl + 1, (MAX_INFLIGHT - 1) * sizeof(f->fl[0]));
		f->nfl--;
	}
	f->fl[f->nfl++] = (struct inflight){req.id, req.ndesc, req.in_len};
	return 1;
}

static void push(struct fuzz *f, unsigned k, uint32_t written)
{
	struct inflight c;
	uint16_t used;

	if (!f->nfl)
		return;
	k %= f->nfl;
	c = f->fl[k];
	memmove(f->fl + k, f->fl + k + 1, (f->nfl - k - 1) * sizeof(f->fl[0]));
	f->nfl--;
	used = vpcie_virtq_used_idx(f->vq);
	if (vpcie_virtq_push(f->vq, &(struct vpcie_virtq_req){.id = c.id, .ndesc = c.ndesc,
							       .in_len = c.in_len}, written) == 0 &&
	    vpcie_virtq_used_idx(f->vq) != (uint16_t)(used + 1))
		abort();
	f->pops_unchanged = 0; /* the used ring may alias anything */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz f;
	struct vpcie_virtq_config cfg;
	struct vpcie_virtq_mem acc;
	uint8_t hdr[11];
	unsigned v;
	int err = 0;

	memset(&f, 0, sizeof(f));
	f.p = data;
	f.end = data + size;
	if (!take(&f, hdr, sizeof(hdr)))
		return 0;
	f.mem.buf = calloc(1, MEM_SIZE);
	if (!f.mem.buf)
		return 0;
	f.mem.direct = hdr[0] & 4;
	f.mem.half = hdr[0] & 8;
	acc = (struct vpcie_virtq_mem){fm_read, fm_write, fm_ptr, &f.mem};

	memset(&cfg, 0, sizeof(cfg));
	v = rd16(hdr + 1);
	cfg.layout = FUZZ_VIRTQ_PACKED ? VPCIE_VIRTQ_PACKED : VPCIE_VIRTQ_SPLIT;
	cfg.size = (uint16_t)(FUZZ_VIRTQ_PACKED ? v & 0x7fff : 1u << (v % 16));
	cfg.max_chain = rd16(hdr + 3);
	cfg.desc = MEM_BASE + (rd16(hdr + 5) & ~15u);
	cfg.driver = MEM_BASE + (rd16(hdr + 7) & (FUZZ_VIRTQ_PACKED ? ~3u : ~1u));
	cfg.device = MEM_BASE + (rd16(hdr + 9) & ~3u);
	cfg.indirect = hdr[0] & 1;
	cfg.event_idx = hdr[0] & 2;
	f.vq = vpcie_virtq_new(&cfg, &acc, &err);
	if (!f.vq) {
		if (err >= 0)
			abort();
		free(f.mem.buf);
		return 0;
	}
	f.size = cfg.size ? cfg.size : VPCIE_VIRTQ_MAX_SIZE;
	f.max_chain = cfg.max_chain ? cfg.max_chain : f.size;

	for (;;) {
		uint8_t op, b[4], w[3];
		uint32_t written;

		if (!take(&f, &op, 1))
			break;
		switch (op % 5) {
		case 0: { /* WRITE */
			size_t off, len;

			if (!take(&f, w, 3))
				goto done;
			off = rd16(w);
			len = w[2];
			if (len > (size_t)(f.end - f.p))
				len = (size_t)(f.end - f.p);
			if (len > MEM_SIZE - off)
				len = MEM_SIZE - off;
			memcpy(f.mem.buf + off, f.p, len);
			f.p += len;
			f.pops_unchanged = 0;
			break;
		}
		case 1: /* POP */
			if (!take(&f, b, 1))
				goto done;
			pop(&f, b[0] & 1);
			break;
		case 2: /* PUSH */
			if (!take(&f, b, 1) || !take(&f, &written, 4))
				goto done;
			push(&f, b[0], written);
			break;
		case 3: /* NOTIFY */
			vpcie_virtq_should_notify(f.vq);
			break;
		case 4: { /* DRAIN, with a budget as virtio-blk has: completions
			   * may rewrite the rings (a driver can alias them) */
			unsigned budget = f.size < DRAIN_BUDGET ? f.size + 1 : DRAIN_BUDGET;

			while (budget-- && pop(&f, true) == 1)
				push(&f, f.nfl - 1, (uint32_t)f.fl[f.nfl - 1].in_len);
			vpcie_virtq_should_notify(f.vq);
			break;
		}
		}
	}
done:
	vpcie_virtq_free(f.vq);
	free(f.mem.buf);
	return 0;
}
