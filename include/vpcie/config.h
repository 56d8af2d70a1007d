/* SPDX-License-Identifier: MIT */
/*
 * vpcie/config.h - a PCI Express configuration space with PCI semantics.
 *
 * A vpcie_cfg holds the 4 KiB of config space plus, per byte, a mask of bits
 * the host may write (wmask) and of bits that a written 1 clears (w1cmask).
 * vpcie_cfg_write() applies them, which gives read-only fields, BAR sizing by
 * all-ones writes (a BAR's wmask is ~(size-1) above its type bits), and RW1C
 * status bits for free. Capabilities are appended to the standard list (from
 * 0x40) and the extended list (from 0x100) by the builders below, which fill
 * in sane defaults and masks; the device runtime reacts to the writes that
 * matter (command register, MSI/MSI-X control, FLR).
 *
 * Register offsets and bit values are <linux/pci_regs.h>'s throughout.
 *
 * The walkers at the end work on any config space image (a device's, or the
 * bytes a host read over the wire) and never step outside it or loop.
 */
#ifndef VPCIE_CONFIG_H
#define VPCIE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/pci_regs.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VPCIE_CFG_SIZE 4096u /* PCI_CFG_SPACE_EXP_SIZE */

struct vpcie_cfg {
	uint8_t data[VPCIE_CFG_SIZE];
	uint8_t wmask[VPCIE_CFG_SIZE];
	uint8_t w1cmask[VPCIE_CFG_SIZE];
	uint16_t cap_next;     /* next free offset in 0x40..0xff, dword aligned */
	uint16_t cap_last;     /* offset of the last standard cap, 0 if none */
	uint16_t ext_next;     /* next free offset in 0x100..0xfff */
	uint16_t ext_last;     /* offset of the last extended cap, 0 if none */
};

struct vpcie_ids {
	uint16_t vendor;
	uint16_t device;
	uint16_t subsys_vendor;
	uint16_t subsys;
	uint32_t class_code; /* 24 bits: base << 16 | sub << 8 | prog-if */
	uint8_t revision;
};

/*
 * Reset to a type 0 header with ids, status "capabilities list" set once a cap
 * is added, command register writable in its defined bits (memory, I/O, bus
 * master, parity, SERR, INTx disable), interrupt line writable, interrupt pin
 * INTA.
 */
void vpcie_cfg_init(struct vpcie_cfg *cfg, const struct vpcie_ids *ids);

/* Raw little-endian accessors on the image (no masks; offsets must fit). */
uint8_t vpcie_cfg_get8(const struct vpcie_cfg *cfg, unsigned off);
uint16_t vpcie_cfg_get16(const struct vpcie_cfg *cfg, unsigned off);
uint32_t vpcie_cfg_get32(const struct vpcie_cfg *cfg, unsigned off);
void vpcie_cfg_set8(struct vpcie_cfg *cfg, unsigned off, uint8_t v);
void vpcie_cfg_set16(struct vpcie_cfg *cfg, unsigned off, uint16_t v);
void vpcie_cfg_set32(struct vpcie_cfg *cfg, unsigned off, uint32_t v);
/* Set the writable / write-1-to-clear bits of a 1/2/4-byte field. */
void vpcie_cfg_set_wmask(struct vpcie_cfg *cfg, unsigned off, unsigned size, uint32_t mask);
void vpcie_cfg_set_w1cmask(struct vpcie_cfg *cfg, unsigned off, unsigned size, uint32_t mask);

/*
 * Host access: read/write len bytes (any length, any alignment) at off.
 * Writes honour wmask and w1cmask byte by byte. Returns 0, or -EINVAL if the
 * range is outside config space.
 */
int vpcie_cfg_read(const struct vpcie_cfg *cfg, unsigned off, void *buf, size_t len);
int vpcie_cfg_write(struct vpcie_cfg *cfg, unsigned off, const void *buf, size_t len);

/* BAR kinds, as the low bits of a BAR register say. */
enum vpcie_bar_kind {
	VPCIE_BAR_MEM32 = 0,
	VPCIE_BAR_MEM64 = 1,
	VPCIE_BAR_IO = 2,
};

/*
 * Declare BAR n (0-5) of size bytes (a power of two; >= 16 for memory, >= 4
 * and <= 256 for I/O). A 64-bit BAR occupies n and n+1. Returns 0, -EINVAL
 * (bad size/index, 64-bit BAR at 5) or -EBUSY (slot already used).
 */
int vpcie_cfg_set_bar(struct vpcie_cfg *cfg, unsigned n, enum vpcie_bar_kind kind,
		      bool prefetchable, uint64_t size);

/* Current address programmed in BAR n (64-bit aware), type bits stripped. */
uint64_t vpcie_cfg_bar_addr(const struct vpcie_cfg *cfg, unsigned n);

/* Expansion ROM of size bytes (power of two >= 2 KiB), or 0 to remove. */
int vpcie_cfg_set_rom(struct vpcie_cfg *cfg, uint32_t size);

/*
 * Append a standard capability of len bytes (header included, >= 2) with
 * the given id; links it into the list. Returns its offset or -ENOSPC.
 */
int vpcie_cfg_add_cap(struct vpcie_cfg *cfg, uint8_t id, size_t len);

/* Append an extended capability (len includes the 4-byte header). */
int vpcie_cfg_add_ext_cap(struct vpcie_cfg *cfg, uint16_t id, uint8_t version, size_t len);

/* Builders for the capabilities the library knows. Each returns the offset. */

/* Power Management: D0/D3hot, PMCSR power state writable, no PME. */
int vpcie_cfg_add_pm(struct vpcie_cfg *cfg);

/*
 * PCI Express endpoint, version 2; link x1 at 2.5 GT/s. With flr, DevCap
 * advertises FLR and DevCtl's "Initiate FLR" bit is writable (it reads back
 * 0; the device runtime notices the write).
 */
int vpcie_cfg_add_pcie(struct vpcie_cfg *cfg, bool flr);

/*
 * MSI with nvec (1..32, a power of two) vectors, 64-bit addresses, and
 * per-vector masking if maskable. Multiple Message Capable = log2(nvec).
 */
int vpcie_cfg_add_msi(struct vpcie_cfg *cfg, unsigned nvec, bool maskable);

/*
 * MSI-X with nvec (1..2048) vectors; table at table_off in BAR table_bar and
 * PBA at pba_off in BAR pba_bar (offsets 8-byte aligned). The table itself
 * lives in the BAR; the device runtime serves it.
 */
int vpcie_cfg_add_msix(struct vpcie_cfg *cfg, unsigned nvec, unsigned table_bar,
		       uint32_t table_off, unsigned pba_bar, uint32_t pba_off);

/* Vendor-specific capability: data (len bytes) follows id/next/length. */
int vpcie_cfg_add_vendor(struct vpcie_cfg *cfg, const void *data, uint8_t len);

/* ---- Walkers over any config space image --------------------------------- */

/*
 * Offset of the first standard capability with this id in image (len bytes:
 * 256 or 4096), or 0 if none. Stops after 48 steps, so a looped list ends.
 */
unsigned vpcie_cfg_find_cap(const uint8_t *image, size_t len, uint8_t id);

/* Offset of the first extended capability with this id, or 0 (len 4096). */
unsigned vpcie_cfg_find_ext_cap(const uint8_t *image, size_t len, uint16_t id);

/*
 * Iterate standard capabilities: pass 0 to get the first, then the previous
 * offset; returns 0 at the end. Same loop bound as above.
 */
unsigned vpcie_cfg_next_cap(const uint8_t *image, size_t len, unsigned prev);
unsigned vpcie_cfg_next_ext_cap(const uint8_t *image, size_t len, unsigned prev);

#ifdef __cplusplus
}
#endif
#endif
