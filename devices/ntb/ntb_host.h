/* SPDX-License-Identifier: MIT */
/*
 * ntb_host.h - drive one side of vpcie-ntb from the host runtime the way
 * Linux's ntb_hw_epf does it (no VM): the tests and the benchmark use it.
 *
 * Each call is the driver operation of the same name in ntb_hw_epf.c
 * (ntb_epf_send_command, ntb_epf_mw_set_trans, ntb_epf_peer_db_set, ...),
 * done with the same register accesses.
 */
#ifndef VPCIE_NTB_HOST_H
#define VPCIE_NTB_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vpcie/host.h>

struct ntbh {
	struct vpcie_host *h;
	uint32_t mw_count, mw1_offset, spad_offset, spad_count, db_entry_size;
	uint64_t bar_size[6];
	unsigned nvec;      /* interrupt vectors enabled (0: none yet) */
	int cmd_timeout_ms; /* NTB_EPF_COMMAND_TIMEOUT: 1000 */
};

/* Connect to one endpoint, check the IDs, assign BARs from mem_base, read the
 * config region's geometry. Returns 0 or -errno. */
int ntbh_open(struct ntbh *n, const char *where, uint64_t mem_base, bool ring);
void ntbh_close(struct ntbh *n);

/* ntb_epf_init_isr(): MSI-X (msix) or MSI with nvec vectors, then
 * CONFIGURE_DOORBELL(nvec). Returns 0, -EINVAL (status ERROR), -errno. */
int ntbh_init_isr(struct ntbh *n, unsigned nvec, bool msix);

/* ntb_epf_send_command(): 0, -EINVAL (COMMAND_STATUS_ERROR), -ETIMEDOUT. */
int ntbh_cmd(struct ntbh *n, uint32_t cmd, uint32_t arg);

/* Config region register (32-bit) at off; 0xffffffff on error. */
uint32_t ntbh_ctrl(struct ntbh *n, unsigned off);
bool ntbh_link_is_up(struct ntbh *n);

int ntbh_mw_set_trans(struct ntbh *n, unsigned idx, uint64_t addr, uint64_t size);
int ntbh_mw_clear_trans(struct ntbh *n, unsigned idx);
/* The peer window idx as ntb_epf_peer_mw_get_addr() sees it. */
uint64_t ntbh_peer_mw_size(const struct ntbh *n, unsigned idx);
/* Copy through window idx (BAR 2+idx, past MW1_OFFSET for window 0). */
int ntbh_mw_write(struct ntbh *n, unsigned idx, uint64_t off, const void *buf, size_t len);
int ntbh_mw_read(struct ntbh *n, unsigned idx, uint64_t off, void *buf, size_t len);

int ntbh_spad_write(struct ntbh *n, unsigned idx, uint32_t v);
uint32_t ntbh_spad_read(struct ntbh *n, unsigned idx);
int ntbh_peer_spad_write(struct ntbh *n, unsigned idx, uint32_t v);
uint32_t ntbh_peer_spad_read(struct ntbh *n, unsigned idx);

/* Ring doorbell entry `entry` of the peer: DB_DATA(entry) written at
 * entry * DB_ENTRY_SIZE + DB_OFFSET(entry) of BAR2 (ntb_epf_peer_db_set
 * computes entry = ffs(db_bits) + 1). */
int ntbh_ring(struct ntbh *n, unsigned entry);

#endif
