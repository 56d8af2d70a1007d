/* SPDX-License-Identifier: MIT */
/*
 * Virtqueue internals shared by virtq.c (object, memory helpers, chain
 * building, payload copies), virtq_split.c and virtq_packed.c.
 */
#ifndef VPCIE_VIRTQ_PRIV_H
#define VPCIE_VIRTQ_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <vpcie/virtio.h>

/* Size of one descriptor in either layout (struct vring_desc / vring_packed_desc). */
#define VQ_DESC_SIZE 16u

struct vpcie_virtq {
	struct vpcie_virtq_config cfg;
	struct vpcie_virtq_mem mem;
	unsigned size;          /* cfg.size with 0 meaning 32768 */
	unsigned max_chain;
	int error;              /* sticky: first failure, 0 while healthy */
	bool started;           /* initial suppression state written */
	const char *why;        /* what the driver did wrong */

	/* Segments of the request being built (grows up to max_chain). */
	struct vpcie_virtq_seg *seg;
	unsigned seg_cap;
	/* Indirect table copy when it is not directly mapped. */
	uint8_t *ind;
	size_t ind_cap;

	/* Counters visible through the API (16-bit, wrapping). */
	uint16_t last_avail;    /* chains popped */
	uint16_t used_idx;      /* chains pushed */
	uint32_t pending;       /* split: chains, packed: slots pushed since the last notify check */

	/* Split ring. */
	uint16_t shadow_avail;  /* driver's avail->idx as last read */
	uint16_t signalled_used;

	/* Packed ring. */
	uint16_t avail_pos, used_pos;
	bool avail_wrap, used_wrap;
	uint32_t signalled_lin; /* used position at the last notify check, 0..2*size-1 */
};

/* A request under construction. */
struct vq_chain {
	unsigned n, nout, nin;
	uint64_t out_len, in_len;
};

/* ---- virtq.c ------------------------------------------------------------ */

/* Record the failure (first one wins) and return it. */
int vq_fail(struct vpcie_virtq *vq, int err, const char *why);

/* Driver memory access: a direct pointer when the accessor has one, else
 * read/write. The 16-bit helpers are atomic (acquire/release) on a pointer. */
int vq_rd(struct vpcie_virtq *vq, uint64_t addr, void *buf, size_t len);
int vq_wr(struct vpcie_virtq *vq, uint64_t addr, const void *buf, size_t len);
int vq_load16(struct vpcie_virtq *vq, uint64_t addr, uint16_t *v);
int vq_store16(struct vpcie_virtq *vq, uint64_t addr, uint16_t v);

/* Append a segment; enforces the chain limit and readable-before-writable. */
int vq_chain_add(struct vpcie_virtq *vq, struct vq_chain *c, uint64_t addr, uint32_t len,
		 bool writable);

/* Fill req from a completed chain. */
void vq_chain_finish(struct vpcie_virtq *vq, const struct vq_chain *c,
		     struct vpcie_virtq_req *req, uint16_t id, uint16_t ndesc);

/*
 * Load the indirect table at addr/len (checked: non-empty, a multiple of 16,
 * at most max_chain entries). *table points to its descriptors (driver
 * memory or the queue's copy), *count gets their number.
 */
int vq_indirect(struct vpcie_virtq *vq, uint64_t addr, uint32_t len, const uint8_t **table,
		unsigned *count);

/* Little-endian field access in a descriptor image. */
uint16_t vq_le16(const uint8_t *p);
uint32_t vq_le32(const uint8_t *p);
uint64_t vq_le64(const uint8_t *p);

/* ---- virtq_split.c / virtq_packed.c ------------------------------------- */

int vq_split_init(struct vpcie_virtq *vq);
int vq_split_pop(struct vpcie_virtq *vq, struct vpcie_virtq_req *req);
int vq_split_push(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req, uint32_t written);
bool vq_split_should_notify(struct vpcie_virtq *vq);

int vq_packed_init(struct vpcie_virtq *vq);
int vq_packed_pop(struct vpcie_virtq *vq, struct vpcie_virtq_req *req);
int vq_packed_push(struct vpcie_virtq *vq, const struct vpcie_virtq_req *req, uint32_t written);
bool vq_packed_should_notify(struct vpcie_virtq *vq);

#endif
