/* SPDX-License-Identifier: MIT */
/* The RTL bridge's state, shared by bridge.c (clock loop, channels) and
 * rtl_dev.c (binding to the device runtime). Not installed. */
#ifndef VPCIE_RTL_PRIV_H
#define VPCIE_RTL_PRIV_H

#include <vpcie/rtl.h>

struct rtl_req {
	bool wr;
	uint8_t bar, be, tag;
	uint64_t addr, data;
};

struct rtl_bar {
	struct vpcie_rtl *rtl;
	unsigned n;
};

struct vpcie_rtl {
	struct vpcie_rtl_opts opts;
	struct vpcie_rtl_model model;
	void *mo;
	struct vpcie_rtl_env env;
	void *env_opaque;
	struct vpcie_dev *dev;          /* NULL in tests */
	struct vpcie_timer *timer;
	struct rtl_bar bars[6];

	/* request channel: posted writes and the read, in order */
	struct rtl_req *q;
	unsigned qhead, qcount;
	uint8_t next_tag;
	bool rd_wait, rd_done;          /* a read was taken / was answered */
	uint8_t rd_tag;
	uint64_t rd_data;

	struct {                        /* DMA write beats coalesced */
		uint8_t *buf;
		uint64_t addr;
		uint32_t len;
	} mwr;
	struct {                        /* the one DMA read in flight */
		uint8_t *buf;
		uint64_t addr;
		uint32_t len, off;
		uint8_t tag;
		bool active, fetch, err, wfail, fault, wfault;
	} mrd;
	bool mwr_failed, mwr_fault;     /* a DMA write failed since the last read
					 * (with -EFAULT) */
	uint8_t irq_mode;               /* env->irq_config, refreshed per run/access */
	uint16_t irq_vectors;
	bool msi_pending;
	uint16_t msi_vec;
	bool intx_level, intx_seen;

	unsigned rst_left;
	uint64_t idle;                  /* quiet cycles */
	unsigned in_access;             /* inside a host access (BAR callback) */
	unsigned env_busy;              /* inside an env DMA call */
	uint64_t burst;                 /* cycles per timer run, adaptive */
	struct vpcie_rtl_stats st;
};

struct vpcie_rtl *rtl_alloc(const struct vpcie_rtl_model *model, void *model_opaque,
			    const struct vpcie_rtl_opts *opts);
void rtl_release(struct vpcie_rtl *r);
bool rtl_step(struct vpcie_rtl *r);
void rtl_irq_config(struct vpcie_rtl *r);

#endif
