/* SPDX-License-Identifier: MIT */
/*
 * PCI Express configuration space model: the image with its per-byte write
 * and write-1-to-clear masks, host accesses, BARs, expansion ROM, generic
 * capability list management and the image walkers.
 *
 * The capability builders (PM, PCIe, MSI, MSI-X, vendor) are in caps.c.
 */
#include "vpcie/config.h"

#include <errno.h>
#include <string.h>

#define STD_CAP_START  PCI_STD_HEADER_SIZEOF            /* 0x40 */
#define STD_CAP_END    PCI_CFG_SPACE_SIZE               /* 0x100 */
#define EXT_CAP_START  PCI_CFG_SPACE_SIZE               /* 0x100 */
#define EXT_CAP_END    PCI_CFG_SPACE_EXP_SIZE           /* 0x1000 */
#define STD_CAP_TTL    48
#define EXT_CAP_TTL    ((PCI_CFG_SPACE_EXP_SIZE - PCI_CFG_SPACE_SIZE) / 4)
#define NUM_BARS       6

_Static_assert(VPCIE_CFG_SIZE == PCI_CFG_SPACE_EXP_SIZE, "config space size");

/* ---- raw accessors -------------------------------------------------------- */

static bool range_ok(unsigned off, size_t len)
{
	return off <= VPCIE_CFG_SIZE && len <= VPCIE_CFG_SIZE - off;
}

static uint32_t le_get(const uint8_t *p, unsigned size)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static void le_put(uint8_t *p, unsigned size, uint32_t v)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Out-of-range raw accesses read 0 and write nothing. */
uint8_t vpcie_cfg_get8(const struct vpcie_cfg *cfg, unsigned off)
{
	return range_ok(off, 1) ? cfg->data[off] : 0;
}

uint16_t vpcie_cfg_get16(const struct vpcie_cfg *cfg, unsigned off)
{
	return range_ok(off, 2) ? (uint16_t)le_get(&cfg->data[off], 2) : 0;
}

uint32_t vpcie_cfg_get32(const struct vpcie_cfg *cfg, unsigned off)
{
	return range_ok(off, 4) ? le_get(&cfg->data[off], 4) : 0;
}

void vpcie_cfg_set8(struct vpcie_cfg *cfg, unsigned off, uint8_t v)
{
	if (range_ok(off, 1))
		cfg->data[off] = v;
}

void vpcie_cfg_set16(struct vpcie_cfg *cfg, unsigned off, uint16_t v)
{
	if (range_ok(off, 2))
		le_put(&cfg->data[off], 2, v);
}

void vpcie_cfg_set32(struct vpcie_cfg *cfg, unsigned off, uint32_t v)
{
	if (range_ok(off, 4))
		le_put(&cfg->data[off], 4, v);
}

static bool field_size_ok(unsigned off, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && range_ok(off, size);
}

void vpcie_cfg_set_wmask(struct vpcie_cfg *cfg, unsigned off, unsigned size, uint32_t mask)
{
	if (field_size_ok(off, size))
		le_put(&cfg->wmask[off], size, mask);
}

void vpcie_cfg_set_w1cmask(struct vpcie_cfg *cfg, unsigned off, unsigned size, uint32_t mask)
{
	if (field_size_ok(off, size))
		le_put(&cfg->w1cmask[off], size, mask);
}

/* ---- init ------------------------------------------------------------------ */

void vpcie_cfg_init(struct vpcie_cfg *cfg, const struct vpcie_ids *ids)
{
	memset(cfg, 0, sizeof(*cfg));

	if (ids) {
		vpcie_cfg_set16(cfg, PCI_VENDOR_ID, ids->vendor);
		vpcie_cfg_set16(cfg, PCI_DEVICE_ID, ids->device);
		vpcie_cfg_set32(cfg, PCI_CLASS_REVISION,
				ids->revision | (ids->class_code & 0xffffffu) << 8);
		vpcie_cfg_set16(cfg, PCI_SUBSYSTEM_VENDOR_ID, ids->subsys_vendor);
		vpcie_cfg_set16(cfg, PCI_SUBSYSTEM_ID, ids->subsys);
	}
	vpcie_cfg_set8(cfg, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);
	vpcie_cfg_set8(cfg, PCI_INTERRUPT_PIN, 1); /* INTA */

	vpcie_cfg_set_wmask(cfg, PCI_COMMAND, 2,
			    PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			    PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	vpcie_cfg_set_w1cmask(cfg, PCI_STATUS, 2,
			      PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |
			      PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT |
			      PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY);
	vpcie_cfg_set_wmask(cfg, PCI_CACHE_LINE_SIZE, 1, 0xff);
	vpcie_cfg_set_wmask(cfg, PCI_LATENCY_TIMER, 1, 0xff);
	vpcie_cfg_set_wmask(cfg, PCI_INTERRUPT_LINE, 1, 0xff);

	cfg->cap_next = STD_CAP_START;
	cfg->cap_last = 0;
	cfg->ext_next = EXT_CAP_START;
	cfg->ext_last = 0;
}

/* ---- host access ------------------------------------------------------------ */

int vpcie_cfg_read(const struct vpcie_cfg *cfg, unsigned off, void *buf, size_t len)
{
	if (!range_ok(off, len) || (len && !buf))
		return -EINVAL;
	if (len)
		memcpy(buf, &cfg->data[off], len);
	return 0;
}

int vpcie_cfg_write(struct vpcie_cfg *cfg, unsigned off, const void *buf, size_t len)
{
	const uint8_t *src = buf;

	if (!range_ok(off, len) || (len && !buf))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		size_t o = off + i;
		uint8_t v = src[i];
		uint8_t wm = cfg->wmask[o];
		uint8_t nv = (uint8_t)((cfg->data[o] & ~wm) | (v & wm));

		nv &= (uint8_t)~(v & cfg->w1cmask[o]);
		cfg->data[o] = nv;
	}
	return 0;
}

/* ---- BARs ------------------------------------------------------------------ */

static unsigned bar_off(unsigned n)
{
	return PCI_BASE_ADDRESS_0 + 4 * n;
}

static uint32_t get_wmask32(const struct vpcie_cfg *cfg, unsigned off)
{
	return le_get(&cfg->wmask[off], 4);
}

/* A slot is in use if it is writable or carries type bits. */
static bool bar_slot_used(const struct vpcie_cfg *cfg, unsigned n)
{
	unsigned off = bar_off(n);
	return get_wmask32(cfg, off) != 0 || vpcie_cfg_get32(cfg, off) != 0;
}

static bool bar_is_mem64(uint32_t v)
{
	return (v & PCI_BASE_ADDRESS_SPACE) == PCI_BASE_ADDRESS_SPACE_MEMORY &&
	       (v & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64;
}

/*
 * Whether slot n is the upper half of a 64-bit BAR: decoded from BAR 0 up,
 * as a host does, so an upper dword with a stray 0x4 is not misread.
 */
static bool bar_is_upper_half(const struct vpcie_cfg *cfg, unsigned n)
{
	unsigned i = 0;

	while (i < n) {
		if (bar_slot_used(cfg, i) && bar_is_mem64(vpcie_cfg_get32(cfg, bar_off(i)))) {
			if (i + 1 == n)
				return true;
			i += 2;
		} else {
			i++;
		}
	}
	return false;
}

static bool is_pow2_u64(uint64_t v)
{
	return v && !(v & (v - 1));
}

int vpcie_cfg_set_bar(struct vpcie_cfg *cfg, unsigned n, enum vpcie_bar_kind kind,
		      bool prefetchable, uint64_t size)
{
	uint32_t type, wmask_lo;

	if (n >= NUM_BARS || !is_pow2_u64(size))
		return -EINVAL;

	switch (kind) {
	case VPCIE_BAR_MEM32:
		if (size < 16 || size > (UINT64_C(1) << 31))
			return -EINVAL;
		type = PCI_BASE_ADDRESS_SPACE_MEMORY | PCI_BASE_ADDRESS_MEM_TYPE_32;
		break;
	case VPCIE_BAR_MEM64:
		if (size < 16 || size > (UINT64_C(1) << 63) || n == NUM_BARS - 1)
			return -EINVAL;
		type = PCI_BASE_ADDRESS_SPACE_MEMORY | PCI_BASE_ADDRESS_MEM_TYPE_64;
		break;
	case VPCIE_BAR_IO:
		if (size < 4 || size > 256 || prefetchable)
			return -EINVAL;
		type = PCI_BASE_ADDRESS_SPACE_IO;
		break;
	default:
		return -EINVAL;
	}
	if (prefetchable)
		type |= PCI_BASE_ADDRESS_MEM_PREFETCH;

	if (bar_slot_used(cfg, n) || (kind == VPCIE_BAR_MEM64 && bar_slot_used(cfg, n + 1)))
		return -EBUSY;

	wmask_lo = (uint32_t)~(size - 1);
	wmask_lo &= kind == VPCIE_BAR_IO ? (uint32_t)PCI_BASE_ADDRESS_IO_MASK
					 : (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;

	vpcie_cfg_set32(cfg, bar_off(n), type);
	vpcie_cfg_set_wmask(cfg, bar_off(n), 4, wmask_lo);
	vpcie_cfg_set_w1cmask(cfg, bar_off(n), 4, 0);
	if (kind == VPCIE_BAR_MEM64) {
		vpcie_cfg_set32(cfg, bar_off(n + 1), 0);
		vpcie_cfg_set_wmask(cfg, bar_off(n + 1), 4, (uint32_t)~((size - 1) >> 32));
		vpcie_cfg_set_w1cmask(cfg, bar_off(n + 1), 4, 0);
	}
	return 0;
}

uint64_t vpcie_cfg_bar_addr(const struct vpcie_cfg *cfg, unsigned n)
{
	uint32_t lo;

	if (n >= NUM_BARS || !bar_slot_used(cfg, n) || bar_is_upper_half(cfg, n))
		return 0;
	lo = vpcie_cfg_get32(cfg, bar_off(n));
	if ((lo & PCI_BASE_ADDRESS_SPACE) == PCI_BASE_ADDRESS_SPACE_IO)
		return lo & (uint32_t)PCI_BASE_ADDRESS_IO_MASK;
	if (bar_is_mem64(lo) && n + 1 < NUM_BARS)
		return (lo & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK) |
		       (uint64_t)vpcie_cfg_get32(cfg, bar_off(n + 1)) << 32;
	return lo & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
}

int vpcie_cfg_set_rom(struct vpcie_cfg *cfg, uint32_t size)
{
	if (size == 0) {
		vpcie_cfg_set32(cfg, PCI_ROM_ADDRESS, 0);
		vpcie_cfg_set_wmask(cfg, PCI_ROM_ADDRESS, 4, 0);
		return 0;
	}
	if (!is_pow2_u64(size) || size < 2048)
		return -EINVAL;
	vpcie_cfg_set32(cfg, PCI_ROM_ADDRESS, 0);
	vpcie_cfg_set_wmask(cfg, PCI_ROM_ADDRESS, 4,
			    (~(size - 1) & PCI_ROM_ADDRESS_MASK) | PCI_ROM_ADDRESS_ENABLE);
	vpcie_cfg_set_w1cmask(cfg, PCI_ROM_ADDRESS, 4, 0);
	return 0;
}

/* ---- capability lists ------------------------------------------------------- */

static unsigned align4(size_t v)
{
	return (unsigned)((v + 3) & ~(size_t)3);
}

static void clear_region(struct vpcie_cfg *cfg, unsigned off, size_t len)
{
	memset(&cfg->data[off], 0, len);
	memset(&cfg->wmask[off], 0, len);
	memset(&cfg->w1cmask[off], 0, len);
}

int vpcie_cfg_add_cap(struct vpcie_cfg *cfg, uint8_t id, size_t len)
{
	unsigned off = cfg->cap_next;

	if (len < 2)
		return -EINVAL;
	if (off < STD_CAP_START || off >= STD_CAP_END || (off & 3) ||
	    len > (size_t)(STD_CAP_END - off))
		return -ENOSPC;

	clear_region(cfg, off, len);
	cfg->data[off + PCI_CAP_LIST_ID] = id;
	cfg->data[off + PCI_CAP_LIST_NEXT] = 0;

	if (cfg->cap_last == 0) {
		cfg->data[PCI_CAPABILITY_LIST] = (uint8_t)off;
		vpcie_cfg_set16(cfg, PCI_STATUS,
				vpcie_cfg_get16(cfg, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	} else {
		cfg->data[cfg->cap_last + PCI_CAP_LIST_NEXT] = (uint8_t)off;
	}
	cfg->cap_last = (uint16_t)off;
	cfg->cap_next = (uint16_t)align4(off + len);
	return (int)off;
}

int vpcie_cfg_add_ext_cap(struct vpcie_cfg *cfg, uint16_t id, uint8_t version, size_t len)
{
	unsigned off = cfg->ext_next;

	if (len < 4 || version > 0xf)
		return -EINVAL;
	if (off < EXT_CAP_START || off >= EXT_CAP_END || (off & 3) ||
	    len > (size_t)(EXT_CAP_END - off))
		return -ENOSPC;

	clear_region(cfg, off, len);
	vpcie_cfg_set32(cfg, off, (uint32_t)id | (uint32_t)version << 16);

	if (cfg->ext_last != 0) {
		uint32_t h = vpcie_cfg_get32(cfg, cfg->ext_last);
		vpcie_cfg_set32(cfg, cfg->ext_last, (h & 0x000fffffu) | (uint32_t)off << 20);
	}
	cfg->ext_last = (uint16_t)off;
	cfg->ext_next = (uint16_t)align4(off + len);
	return (int)off;
}

/* ---- walkers ------------------------------------------------------------------ */

/*
 * Collect the standard capability chain of image into chain[], in order,
 * stopping at the end of the list, at a pointer below 0x40, at an entry that
 * does not fit in len, at an id of 0xff (what a missing device reads), at a
 * repeated entry, or after STD_CAP_TTL steps. Returns the count.
 */
static unsigned std_chain(const uint8_t *image, size_t len, uint16_t chain[STD_CAP_TTL])
{
	uint8_t seen[STD_CAP_END / 4] = { 0 };
	unsigned n = 0, pos;

	if (!image || len < PCI_CAPABILITY_LIST + 1 || len < PCI_STATUS + 2)
		return 0;
	if (!(le_get(&image[PCI_STATUS], 2) & PCI_STATUS_CAP_LIST))
		return 0;
	pos = image[PCI_CAPABILITY_LIST];
	while (n < STD_CAP_TTL) {
		pos &= ~3u;
		if (pos < STD_CAP_START || (size_t)pos + 2 > len)
			break;
		if (seen[pos / 4] || image[pos + PCI_CAP_LIST_ID] == 0xff)
			break;
		seen[pos / 4] = 1;
		chain[n++] = (uint16_t)pos;
		pos = image[pos + PCI_CAP_LIST_NEXT];
	}
	return n;
}

static bool ext_header_valid(uint32_t h)
{
	return h != 0 && h != 0xffffffffu;
}

/* Same for the extended list: from 0x100, headers 0 and ~0 end it. */
static unsigned ext_chain(const uint8_t *image, size_t len, uint16_t chain[EXT_CAP_TTL])
{
	uint8_t seen[EXT_CAP_END / 4] = { 0 };
	unsigned n = 0, pos = EXT_CAP_START;

	if (!image)
		return 0;
	while (n < EXT_CAP_TTL) {
		uint32_t h;

		if (pos < EXT_CAP_START || (size_t)pos + 4 > len || seen[pos / 4])
			break;
		h = le_get(&image[pos], 4);
		if (!ext_header_valid(h))
			break;
		seen[pos / 4] = 1;
		chain[n++] = (uint16_t)pos;
		pos = PCI_EXT_CAP_NEXT(h);
	}
	return n;
}

unsigned vpcie_cfg_find_cap(const uint8_t *image, size_t len, uint8_t id)
{
	uint16_t chain[STD_CAP_TTL];
	unsigned n = std_chain(image, len, chain);

	for (unsigned i = 0; i < n; i++)
		if (image[chain[i] + PCI_CAP_LIST_ID] == id)
			return chain[i];
	return 0;
}

unsigned vpcie_cfg_find_ext_cap(const uint8_t *image, size_t len, uint16_t id)
{
	uint16_t chain[EXT_CAP_TTL];
	unsigned n = ext_chain(image, len, chain);

	for (unsigned i = 0; i < n; i++)
		if (PCI_EXT_CAP_ID(le_get(&image[chain[i]], 4)) == id)
			return chain[i];
	return 0;
}

/*
 * The iterators rebuild the chain on each call (the images are small) so
 * that they are stateless yet cannot cycle: the entry after prev is the one
 * after prev's first occurrence in the loop-free chain. A prev that is not on
 * the chain ends the iteration.
 */
static unsigned chain_next(const uint16_t *chain, unsigned n, unsigned prev)
{
	if (prev == 0)
		return n ? chain[0] : 0;
	for (unsigned i = 0; i < n; i++)
		if (chain[i] == prev)
			return i + 1 < n ? chain[i + 1] : 0;
	return 0;
}

unsigned vpcie_cfg_next_cap(const uint8_t *image, size_t len, unsigned prev)
{
	uint16_t chain[STD_CAP_TTL];
	unsigned n = std_chain(image, len, chain);

	return chain_next(chain, n, prev);
}

unsigned vpcie_cfg_next_ext_cap(const uint8_t *image, size_t len, unsigned prev)
{
	uint16_t chain[EXT_CAP_TTL];
	unsigned n = ext_chain(image, len, chain);

	return chain_next(chain, n, prev);
}
