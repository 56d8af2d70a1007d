/* SPDX-License-Identifier: MIT */
/*
 * Host runtime: BAR sizing and assignment, the way Linux does it through
 * config space.
 */
#include <errno.h>
#include <string.h>

#include <linux/pci_regs.h>

#include <vpcie/host.h>

#include "host_priv.h"

/* ---- BARs ------------------------------------------------------------------ */

/* Save, write wr, read back, restore: the way Linux sizes a BAR register. */
static int probe_reg(struct vpcie_host *h, unsigned off, uint32_t wr, uint32_t *orig,
		     uint32_t *sz)
{
	int rc, rc2;

	*orig = vpcie_host_cfg_read32(h, off, &rc);
	if (rc < 0)
		return rc;
	rc = vpcie_host_cfg_write32(h, off, wr);
	if (rc < 0)
		return rc;
	*sz = vpcie_host_cfg_read32(h, off, &rc);
	rc2 = vpcie_host_cfg_write32(h, off, *orig);
	return rc < 0 ? rc : rc2;
}

static uint64_t lowest_bit(uint64_t v)
{
	return v & (~v + 1);
}

/* Naturally aligned allocation from *cursor; limit is the last usable address. */
static int bar_alloc(uint64_t *cursor, uint64_t size, uint64_t limit, uint64_t *addr)
{
	uint64_t a = *cursor;

	if (!size || (size & (size - 1)))
		return -EINVAL;
	if (a & (size - 1)) {
		if (a > UINT64_MAX - (size - 1))
			return -ENOSPC;
		a = (a + size - 1) & ~(size - 1);
	}
	if (a > limit || size - 1 > limit - a)
		return -ENOSPC;
	*addr = a;
	*cursor = a + size - 1 == UINT64_MAX ? UINT64_MAX : a + size;
	return 0;
}

/* Size BARs 0-5 and the ROM into bars[]; decoding must already be off. */
static int probe_bars(struct vpcie_host *h, struct vpcie_host_bar bars[HOST_NR_BARS])
{
	int rc;

	memset(bars, 0, HOST_NR_BARS * sizeof(bars[0]));
	for (unsigned i = 0; i < 6; i++) {
		unsigned off = PCI_BASE_ADDRESS_0 + 4 * i;
		uint32_t orig, sz, orig_hi = 0, sz_hi = 0;
		uint64_t mask;

		rc = probe_reg(h, off, UINT32_MAX, &orig, &sz);
		if (rc < 0)
			return rc;
		if (sz == 0 || sz == UINT32_MAX)
			continue;
		if ((orig & PCI_BASE_ADDRESS_SPACE) == PCI_BASE_ADDRESS_SPACE_IO) {
			mask = sz & (uint32_t)PCI_BASE_ADDRESS_IO_MASK;
			if (!mask)
				continue;
			bars[i].present = true;
			bars[i].is_io = true;
			bars[i].size = lowest_bit(mask);
			bars[i].addr = orig & (uint32_t)PCI_BASE_ADDRESS_IO_MASK;
			continue;
		}
		bars[i].prefetchable = orig & PCI_BASE_ADDRESS_MEM_PREFETCH;
		bars[i].addr = orig & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
		if ((orig & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64) {
			if (i == 5) {
				vpcie_warn(&h->lg, "BAR5 claims 64 bits: ignored");
				continue;
			}
			rc = probe_reg(h, off + 4, UINT32_MAX, &orig_hi, &sz_hi);
			if (rc < 0)
				return rc;
			mask = ((uint64_t)sz_hi << 32) | (sz & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK);
			bars[i].addr |= (uint64_t)orig_hi << 32;
			bars[i].is_64 = true;
		} else {
			mask = sz & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
		}
		if (mask) {
			bars[i].present = true;
			bars[i].size = lowest_bit(mask);
		}
		if (bars[i].is_64)
			i++; /* the upper half lives in the next slot */
	}
	/* Expansion ROM (optional; a device without one may refuse the write). */
	{
		uint32_t orig, sz;

		rc = probe_reg(h, PCI_ROM_ADDRESS, PCI_ROM_ADDRESS_MASK, &orig, &sz);
		if (rc == 0 && sz != UINT32_MAX && (sz & PCI_ROM_ADDRESS_MASK)) {
			bars[6].present = true;
			bars[6].size = lowest_bit(sz & PCI_ROM_ADDRESS_MASK);
			bars[6].addr = orig & PCI_ROM_ADDRESS_MASK;
		} else if (rc < 0 && rc != -EIO) {
			return rc;
		}
	}
	return 0;
}

int vpcie_host_size_bars(struct vpcie_host *h)
{
	struct vpcie_host_bar bars[HOST_NR_BARS];
	uint16_t cmd;
	int rc, rc2;

	if (!h)
		return -EINVAL;
	/* Decoding off while the registers hold all-ones, as an OS does. */
	cmd = vpcie_host_cfg_read16(h, PCI_COMMAND, &rc);
	if (rc < 0)
		return rc;
	rc = vpcie_host_cfg_write16(h, PCI_COMMAND,
				    cmd & (uint16_t)~(PCI_COMMAND_MEMORY | PCI_COMMAND_IO));
	if (rc == 0)
		rc = probe_bars(h, bars);
	rc2 = vpcie_host_cfg_write16(h, PCI_COMMAND, cmd);
	if (rc == 0 && rc2 == 0)
		memcpy(h->bars, bars, sizeof(bars));
	return rc < 0 ? rc : rc2;
}

/* The type bits a BAR register keeps below its address. */
static uint32_t bar_type_bits(const struct vpcie_host_bar *b)
{
	if (b->is_io)
		return PCI_BASE_ADDRESS_SPACE_IO;
	return (b->is_64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
	       (b->prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
}

int vpcie_host_assign_bars(struct vpcie_host *h, uint64_t mem_base, uint32_t io_base)
{
	struct vpcie_host_bar bars[HOST_NR_BARS];
	uint64_t mem = mem_base, io = io_base;
	bool any_io = false;
	uint16_t cmd;
	int rc;

	if (!h)
		return -EINVAL;
	/* Decoding stays off until every address is in place. */
	cmd = vpcie_host_cfg_read16(h, PCI_COMMAND, &rc);
	if (rc < 0)
		return rc;
	rc = vpcie_host_cfg_write16(h, PCI_COMMAND,
				    cmd & (uint16_t)~(PCI_COMMAND_MEMORY | PCI_COMMAND_IO));
	if (rc == 0)
		rc = probe_bars(h, bars);
	if (rc < 0)
		return rc;

	/*
	 * Assign naturally aligned addresses in slot order: I/O BARs from
	 * io_base; 32-bit memory BARs and the ROM first, then 64-bit ones, from
	 * mem_base, so a large 64-bit BAR cannot push the others above 4 GiB.
	 */
	for (unsigned k = 0; k < 2 * HOST_NR_BARS; k++) {
		unsigned i = k % HOST_NR_BARS;
		struct vpcie_host_bar *b = &bars[i];
		unsigned off = i == 6 ? PCI_ROM_ADDRESS : PCI_BASE_ADDRESS_0 + 4 * i;

		if (!b->present || (k < HOST_NR_BARS) == b->is_64)
			continue;
		if (b->is_io) {
			any_io = true;
			rc = bar_alloc(&io, b->size, UINT32_MAX, &b->addr);
		} else {
			rc = bar_alloc(&mem, b->size, b->is_64 ? UINT64_MAX : UINT32_MAX, &b->addr);
		}
		if (rc < 0) {
			vpcie_err(&h->lg, "BAR%u: no room for 0x%llx bytes", i,
				  (unsigned long long)b->size);
			return rc;
		}
		/* The ROM gets an address but stays disabled, as Linux leaves it. */
		rc = vpcie_host_cfg_write32(h, off, (uint32_t)b->addr |
							(i == 6 ? 0 : bar_type_bits(b)));
		if (rc == 0 && b->is_64)
			rc = vpcie_host_cfg_write32(h, off + 4, (uint32_t)(b->addr >> 32));
		if (rc < 0)
			return rc;
		vpcie_info(&h->lg, "BAR%u: %s%s%s 0x%llx bytes at 0x%llx", i,
			   b->is_io ? "io" : "mem", b->is_64 ? "64" : "",
			   b->prefetchable ? " pref" : "", (unsigned long long)b->size,
			   (unsigned long long)b->addr);
	}
	memcpy(h->bars, bars, sizeof(bars));

	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (any_io)
		cmd |= PCI_COMMAND_IO;
	return vpcie_host_cfg_write16(h, PCI_COMMAND, cmd);
}

const struct vpcie_host_bar *vpcie_host_bar(struct vpcie_host *h, unsigned n)
{
	if (!h || n >= HOST_NR_BARS)
		return NULL;
	return &h->bars[n];
}
