/* SPDX-License-Identifier: MIT */
/*
 * ntb.h - the NTB endpoint function of vpcie-ntb: two PCI functions, one per
 * host, joined by scratchpads, doorbells and memory windows.
 *
 * The model owns no socket and no loop: ntb_new() declares the BARs and
 * interrupt capabilities on two vpcie devices the caller created (side A
 * and side B), and their callbacks do the rest. Everything runs on the
 * thread that dispatches both devices (vpcie/device.h), so a callback of one
 * side may act on the other (raise its interrupt, copy into its memory).
 *
 * What each side sees is Linux's ntb_hw_epf contract (ntb_regs.h): a config
 * region with a command/status handshake in BAR0, the peer's scratchpads in
 * BAR1, doorbells and memory window 1 in BAR2, windows 2-4 in BARs 3-5.
 *
 * A host's CONFIGURE_MW gives the translation of the window its *peer*
 * writes into: accesses to side B's window i land in side A's memory at the
 * address A configured (and the other way). Every access is trapped and
 * copied: directly through the owner's memory when it shared it with an fd
 * (vpcie_dev_dma_ptr), by DMA messages otherwise. docs/ntb.md explains why
 * the window cannot be handed to the peer as mapped memory.
 */
#ifndef VPCIE_NTB_H
#define VPCIE_NTB_H

#include <stdbool.h>
#include <stdint.h>

#include <vpcie/device.h>

struct ntb;

struct ntb_config {
	unsigned mws;        /* memory windows, 1..NTB_MAX_MWS */
	uint64_t mw_bar;     /* size of each memory window BAR (power of two) */
	unsigned spads;      /* scratchpads per side, 1..NTB_MAX_SPADS */
	unsigned msix;       /* MSI-X vectors: 0 or 4..32 */
	unsigned msi;        /* MSI vectors: 0 or a power of two up to 32 */
};

/* Defaults of every field (what the program's options start from). */
void ntb_config_defaults(struct ntb_config *cfg);

/*
 * Build the NTB on two fresh devices (created with ntb_dev_ops() and the
 * opaque ntb_side_opaque() returns): BARs, PM, MSI, PCIe, MSI-X. Returns
 * NULL with errno (EINVAL: a bad config or device set-up).
 */
struct ntb *ntb_new(const struct ntb_config *cfg);
int ntb_attach(struct ntb *ntb, struct vpcie_dev *a, struct vpcie_dev *b);
void ntb_free(struct ntb *ntb);

/* The callbacks and opaque to create side s's device (0: A, 1: B) with. */
const struct vpcie_dev_ops *ntb_dev_ops(void);
void *ntb_side_opaque(struct ntb *ntb, unsigned s);

/* Counters for the logs (and the tests through the debug log). */
struct ntb_stats {
	uint64_t commands, commands_failed;
	uint64_t doorbells, doorbells_dropped;
	uint64_t mw_bytes, mw_dropped; /* window accesses with no valid target */
	uint64_t link_events;
};
void ntb_stats(const struct ntb *ntb, unsigned s, struct ntb_stats *out);

#endif
