/* SPDX-License-Identifier: MIT */
/*
 * vpcie/rtl.h - a device written in RTL (Verilog, VHDL) behind the device runtime.
 *
 * The bridge turns the runtime's world (BAR accesses, DMA, interrupts) into
 * the clocked channels of an RTL design and back. It knows nothing about the
 * simulator: a back-end (the Verilator shim, a scripted C model in tests)
 * fills in struct vpcie_rtl_model - set the inputs, read the outputs, clock
 * one rising edge - and the bridge owns the clock loop.
 *
 * Port names are VPCIe's (req_*, rep_*, mwr_*, msi_en), extended by a
 * superset: byte enables and tags on requests, device DMA reads (mrd_* and
 * the completion stream cpl_*), interrupt vectors and INTx, and ready/valid
 * on every channel. Directions below are the design's: the bridge drives
 * struct vpcie_rtl_in, the design drives struct vpcie_rtl_out. The
 * cycle-level handshake of each channel is in docs/rtl.md.
 *
 * One cycle, as the bridge runs it:
 *	1. compute the inputs from its state (ready signals never depend on
 *	   the same cycle's valid signals);
 *	2. model->set_inputs(), model->get_outputs(): outputs as they will be
 *	   at the coming edge (combinational paths allowed);
 *	3. a channel transfers at this edge iff its valid and ready are both 1;
 *	4. model->clock(): the rising edge.
 *
 * When it runs: a BAR read runs the clock until the design answers (or
 * read_timeout_cycles / read_timeout_ms pass: the host then gets an error
 * and a late answer is dropped by its tag). Writes are posted: queued, and
 * the clock runs from a device timer in bursts (the event loop serves the
 * socket between bursts; the burst length adapts to ~1 ms of wall time)
 * while the design has work (a transfer, or its busy output) and for
 * tail_cycles after it. Then the timer is not re-armed and the device
 * blocks in its event loop: an idle design costs no CPU and simulated time
 * stops (a design that needs free-running time must hold busy high).
 *
 * While a host access waits for the design (inside a BAR callback), only
 * the request and read-completion channels move: mwr/mrd/cpl/msi are held
 * (ready/valid low) and resume when the access returns. This keeps DMA out
 * of the runtime's callbacks (see vpcie_dev_dma_read in vpcie/device.h)
 * and keeps DMA data ahead of the interrupt that announces it.
 *
 * Threads: none; everything runs on the device's loop thread.
 */
#ifndef VPCIE_RTL_H
#define VPCIE_RTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vpcie/device.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Widest DMA beat (mwr_data, cpl_data) the bridge carries: 512 bits. */
#define VPCIE_RTL_PAYLOAD_MAX 64u

/* Bridge -> design. Data buses are little-endian byte arrays / integers. */
struct vpcie_rtl_in {
	bool rst;            /* synchronous reset, held for reset_cycles */
	/* Host access (request): one per handshake. req_addr is the BAR offset
	 * of an 8-byte aligned lane group; req_be has a bit per byte lane that
	 * the access touches; req_data carries write data in those lanes. */
	bool req_en;         /* valid */
	bool req_wr;
	uint8_t req_bar;     /* 0..5 */
	uint8_t req_be;
	uint8_t req_tag;     /* returned with the read completion */
	uint64_t req_addr;
	uint64_t req_data;
	bool rep_rdy;        /* always 1: the bridge takes every completion */
	bool mwr_rdy;        /* DMA write accepted at this edge if mwr_en */
	bool mrd_rdy;        /* DMA read request accepted at this edge if mrd_en */
	/* Completion stream of a DMA read: beats of cpl_size bytes (lane 0
	 * first), in address order, cpl_last on the final one. cpl_err: the
	 * host refused the read; this is the only (last) beat, data zero. */
	bool cpl_en;         /* valid */
	bool cpl_last;
	bool cpl_err;
	uint8_t cpl_tag;
	uint16_t cpl_size;
	uint8_t cpl_data[VPCIE_RTL_PAYLOAD_MAX];
	bool msi_rdy;        /* interrupt request accepted at this edge if msi_en */
	/* Additions after the first slice (a design may leave them unused): */
	/* With every beat of a DMA read's completion: a DMA write the design
	 * issued before that read failed (PCIe writes are posted; a read
	 * flushes them, so it is where a design learns of a failed write). */
	bool cpl_wfail;
	/* The failure (cpl_err, cpl_wfail) was an address outside the host's
	 * memory (-EFAULT), not e.g. bus mastering off or a lost connection. */
	bool cpl_fault;
	bool cpl_wfault;
	/* The host's interrupt set-up, as the function's own config space has
	 * it: irq_mode is enum vpcie_irq_mode (0 none, 1 INTx, 2 MSI, 3 MSI-X),
	 * irq_vectors the vectors usable in that mode (INTx: 1). */
	uint8_t irq_mode;
	uint16_t irq_vectors;
};

/* Design -> bridge. */
struct vpcie_rtl_out {
	bool req_rdy;        /* design takes the request at this edge */
	bool rep_en;         /* read completion valid (rep_rdy is always 1) */
	uint8_t rep_tag;     /* req_tag of the read it answers */
	uint64_t rep_data;   /* in the lanes of the request's req_be */
	/* DMA write: mwr_size bytes (1..payload) of mwr_data, lane 0 first, to
	 * host bus address mwr_addr. */
	bool mwr_en;         /* valid */
	uint16_t mwr_size;
	uint64_t mwr_addr;
	uint8_t mwr_data[VPCIE_RTL_PAYLOAD_MAX];
	/* DMA read request: mrd_len bytes (1..max_read) from mrd_addr; data
	 * comes back on cpl_* with cpl_tag = mrd_tag. One outstanding. */
	bool mrd_en;         /* valid */
	uint8_t mrd_tag;
	uint32_t mrd_len;
	uint64_t mrd_addr;
	bool cpl_rdy;        /* design takes the completion beat at this edge */
	bool msi_en;         /* raise interrupt vector msi_vec (MSI/MSI-X) */
	uint16_t msi_vec;
	bool intx;           /* INTx line level (asserted while 1) */
	bool busy;           /* the design wants the clock to keep running */
};

/* A clocked model (a simulator back-end, or a C model in tests). */
struct vpcie_rtl_model {
	void (*set_inputs)(void *model, const struct vpcie_rtl_in *in);
	void (*get_outputs)(void *model, struct vpcie_rtl_out *out);
	void (*clock)(void *model);   /* one rising edge */
};

/*
 * Where the bridge's DMA and interrupts go. NULL in the options: the device
 * runtime (vpcie_dev_dma_read/write, vpcie_dev_irq_raise/intx, a device
 * timer for kick). Unit tests put a scripted host here. Return 0 or -errno.
 */
struct vpcie_rtl_env {
	int (*dma_read)(void *opaque, uint64_t addr, void *buf, size_t len);
	int (*dma_write)(void *opaque, uint64_t addr, const void *buf, size_t len);
	int (*irq)(void *opaque, unsigned vec);
	int (*intx)(void *opaque, bool asserted);
	/* Work arrived (a posted write): call vpcie_rtl_run() soon. */
	void (*kick)(void *opaque);
	/* Optional: the host's interrupt mode and vectors (irq_mode and
	 * irq_vectors of struct vpcie_rtl_in); NULL reads as mode 0. */
	void (*irq_config)(void *opaque, uint8_t *mode, uint16_t *vectors);
};

struct vpcie_rtl_opts {
	unsigned payload_bytes;        /* DMA beat width: 1..64, default 8 */
	unsigned reset_cycles;         /* default 4 */
	unsigned tail_cycles;          /* clock after the last activity; default 256 */
	uint64_t read_timeout_cycles;  /* default 1000000 */
	unsigned read_timeout_ms;      /* default 1000 */
	unsigned queue_depth;          /* posted requests queued; default 256 */
	uint32_t max_read;             /* largest mrd_len; default 4096 */
	const struct vpcie_rtl_env *env;
	void *env_opaque;
};

struct vpcie_rtl;

/*
 * A bridge for the model on dev (dev may be NULL when opts->env is given:
 * tests). The model stays the caller's; it must outlive the bridge. The
 * design is held in reset for reset_cycles on the first run. Returns NULL
 * with errno (EINVAL: bad options, or neither dev nor env).
 */
struct vpcie_rtl *vpcie_rtl_new(struct vpcie_dev *dev, const struct vpcie_rtl_model *model,
				void *model_opaque, const struct vpcie_rtl_opts *opts);
/* Cancels its timer; call before vpcie_dev_free(). */
void vpcie_rtl_free(struct vpcie_rtl *rtl);

/*
 * Declare BAR n of the device served by the design: desc as for
 * vpcie_dev_set_bar() but callback-backed (memory false); its ops and
 * opaque are replaced by the bridge's. Returns vpcie_dev_set_bar()'s result.
 */
int vpcie_rtl_set_bar(struct vpcie_rtl *rtl, unsigned n, const struct vpcie_bar_desc *desc);

/*
 * Host accesses (what the BAR callbacks call; tests call them directly).
 * Split at 8-byte lane groups. A write is queued (posted) and returns 0
 * unless the queue stays full for read_timeout; a read runs the clock until
 * the design answers every piece. Returns 0, -EINVAL (bar > 5), -ETIMEDOUT
 * (the design did not answer or take the request in time).
 */
int vpcie_rtl_read(struct vpcie_rtl *rtl, unsigned bar, uint64_t off, void *buf, size_t len);
int vpcie_rtl_write(struct vpcie_rtl *rtl, unsigned bar, uint64_t off, const void *buf,
		    size_t len);

/*
 * Run up to max_cycles (fewer when the design goes idle: no work and
 * tail_cycles quiet cycles). Returns true if it wants to run again.
 */
bool vpcie_rtl_run(struct vpcie_rtl *rtl, uint64_t max_cycles);

/* Back to power-on: drop queued requests and DMA in flight, assert rst for
 * reset_cycles (call it from the device's reset callback). */
void vpcie_rtl_reset(struct vpcie_rtl *rtl);

struct vpcie_rtl_stats {
	uint64_t cycles;
	uint64_t reads, writes;      /* requests the design took */
	uint64_t read_timeouts;
	uint64_t stale_completions;  /* rep_en with no matching read (dropped) */
	uint64_t mwr_beats, mrd_requests, irqs;
	uint64_t dma_errors;         /* env DMA calls that failed, bad sizes */
};
void vpcie_rtl_get_stats(const struct vpcie_rtl *rtl, struct vpcie_rtl_stats *st);

#ifdef __cplusplus
}
#endif
#endif
