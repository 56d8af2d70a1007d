/* SPDX-License-Identifier: MIT */
/* Unit tests for the configuration space model (vpcie/config.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vpcie/config.h"

static const struct vpcie_ids test_ids = {
	.vendor = 0x1af4,
	.device = 0x10f5,
	.subsys_vendor = 0x1234,
	.subsys = 0x5678,
	.class_code = 0xff0012,
	.revision = 0x07,
};

static struct vpcie_cfg *new_cfg(void)
{
	struct vpcie_cfg *cfg = malloc(sizeof(*cfg));
	assert_non_null(cfg);
	vpcie_cfg_init(cfg, &test_ids);
	return cfg;
}

/* Host-style accesses through vpcie_cfg_read/write. */
static uint32_t hread(const struct vpcie_cfg *cfg, unsigned off, size_t len)
{
	uint8_t b[4] = { 0 };
	uint32_t v = 0;

	assert_int_equal(vpcie_cfg_read(cfg, off, b, len), 0);
	for (size_t i = 0; i < len; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void hwrite(struct vpcie_cfg *cfg, unsigned off, size_t len, uint32_t v)
{
	uint8_t b[4];

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	assert_int_equal(vpcie_cfg_write(cfg, off, b, len), 0);
}

/* Write all-ones to a 32-bit register and return what reads back. */
static uint32_t size_probe(struct vpcie_cfg *cfg, unsigned off)
{
	hwrite(cfg, off, 4, 0xffffffffu);
	return hread(cfg, off, 4);
}

/* ---- header ----------------------------------------------------------------- */

static void test_init_values(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();

	assert_int_equal(hread(cfg, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(hread(cfg, PCI_DEVICE_ID, 2), 0x10f5);
	assert_int_equal(hread(cfg, PCI_CLASS_REVISION, 4), 0xff001207u);
	assert_int_equal(hread(cfg, PCI_REVISION_ID, 1), 0x07);
	assert_int_equal(hread(cfg, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1234);
	assert_int_equal(hread(cfg, PCI_SUBSYSTEM_ID, 2), 0x5678);
	assert_int_equal(hread(cfg, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_NORMAL);
	assert_int_equal(hread(cfg, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(hread(cfg, PCI_INTERRUPT_LINE, 1), 0);
	assert_int_equal(hread(cfg, PCI_COMMAND, 2), 0);
	assert_int_equal(hread(cfg, PCI_STATUS, 2), 0); /* no caps yet */
	assert_int_equal(hread(cfg, PCI_CAPABILITY_LIST, 1), 0);
	for (unsigned n = 0; n < 6; n++)
		assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_0 + 4 * n, 4), 0);
	assert_int_equal(hread(cfg, PCI_ROM_ADDRESS, 4), 0);
	assert_int_equal(hread(cfg, PCI_CFG_SPACE_SIZE, 4), 0);
	assert_int_equal(cfg->cap_next, 0x40);
	assert_int_equal(cfg->cap_last, 0);
	assert_int_equal(cfg->ext_next, 0x100);
	assert_int_equal(cfg->ext_last, 0);
	for (unsigned off = 0x40; off < VPCIE_CFG_SIZE; off++) {
		assert_int_equal(cfg->data[off], 0);
		assert_int_equal(cfg->wmask[off], 0);
		assert_int_equal(cfg->w1cmask[off], 0);
	}
	assert_int_equal(vpcie_cfg_next_cap(cfg->data, sizeof(cfg->data), 0), 0);
	assert_int_equal(vpcie_cfg_next_ext_cap(cfg->data, sizeof(cfg->data), 0), 0);

	/* A NULL ids leaves the ids zero but the rest of the header intact. */
	vpcie_cfg_init(cfg, NULL);
	assert_int_equal(hread(cfg, PCI_VENDOR_ID, 4), 0);
	assert_int_equal(hread(cfg, PCI_INTERRUPT_PIN, 1), 1);
	free(cfg);
}

static void test_id_registers_readonly(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();
	uint8_t before[PCI_STD_HEADER_SIZEOF], ones[PCI_STD_HEADER_SIZEOF];

	memcpy(before, cfg->data, sizeof(before));
	hwrite(cfg, PCI_VENDOR_ID, 4, 0xffffffffu);
	hwrite(cfg, PCI_CLASS_REVISION, 4, 0);
	hwrite(cfg, PCI_HEADER_TYPE, 1, 0x81);
	hwrite(cfg, PCI_SUBSYSTEM_VENDOR_ID, 4, 0xdeadbeefu);
	hwrite(cfg, PCI_INTERRUPT_PIN, 1, 4);
	hwrite(cfg, PCI_CAPABILITY_LIST, 1, 0x80);
	assert_memory_equal(cfg->data, before, sizeof(before));

	/* All-ones over the whole header: only the writable registers change. */
	memset(ones, 0xff, sizeof(ones));
	assert_int_equal(vpcie_cfg_write(cfg, 0, ones, sizeof(ones)), 0);
	assert_int_equal(hread(cfg, PCI_VENDOR_ID, 4), 0x10f51af4u);
	assert_int_equal(hread(cfg, PCI_CLASS_REVISION, 4), 0xff001207u);
	assert_int_equal(hread(cfg, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x56781234u);
	assert_int_equal(hread(cfg, PCI_CACHE_LINE_SIZE, 1), 0xff);
	assert_int_equal(hread(cfg, PCI_LATENCY_TIMER, 1), 0xff);
	assert_int_equal(hread(cfg, PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(hread(cfg, PCI_BIST, 1), 0);
	assert_int_equal(hread(cfg, PCI_INTERRUPT_LINE, 1), 0xff);
	assert_int_equal(hread(cfg, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(hread(cfg, PCI_MIN_GNT, 2), 0);
	assert_int_equal(hread(cfg, PCI_STATUS, 2), 0);
	free(cfg);
}

static void test_command_writable_bits(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();
	const uint16_t rw = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			    PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;

	hwrite(cfg, PCI_COMMAND, 2, 0xffff);
	assert_int_equal(hread(cfg, PCI_COMMAND, 2), rw);
	hwrite(cfg, PCI_COMMAND, 2, PCI_COMMAND_SPECIAL | PCI_COMMAND_INVALIDATE |
				    PCI_COMMAND_VGA_PALETTE | PCI_COMMAND_WAIT |
				    PCI_COMMAND_FAST_BACK);
	assert_int_equal(hread(cfg, PCI_COMMAND, 2), 0);
	hwrite(cfg, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	assert_int_equal(hread(cfg, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	/* A byte write to the upper half leaves the lower half alone. */
	hwrite(cfg, PCI_COMMAND + 1, 1, PCI_COMMAND_INTX_DISABLE >> 8);
	assert_int_equal(hread(cfg, PCI_COMMAND, 2),
			 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	/* Writing the command register does not touch status. */
	vpcie_cfg_set16(cfg, PCI_STATUS, PCI_STATUS_SIG_SYSTEM_ERROR);
	hwrite(cfg, PCI_COMMAND, 2, 0);
	assert_int_equal(hread(cfg, PCI_COMMAND, 2), 0);
	assert_int_equal(hread(cfg, PCI_STATUS, 2), PCI_STATUS_SIG_SYSTEM_ERROR);
	free(cfg);
}

static void test_status_rw1c(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();
	const uint16_t errs = PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |
			      PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT |
			      PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY;

	vpcie_cfg_set16(cfg, PCI_STATUS, errs | PCI_STATUS_INTERRUPT | PCI_STATUS_CAP_LIST);
	/* Writing 0 leaves everything. */
	hwrite(cfg, PCI_STATUS, 2, 0);
	assert_int_equal(hread(cfg, PCI_STATUS, 2), errs | PCI_STATUS_INTERRUPT | PCI_STATUS_CAP_LIST);
	/* Writing 1 to one error bit clears only it. */
	hwrite(cfg, PCI_STATUS, 2, PCI_STATUS_REC_MASTER_ABORT);
	assert_int_equal(hread(cfg, PCI_STATUS, 2),
			 (errs & ~PCI_STATUS_REC_MASTER_ABORT) | PCI_STATUS_INTERRUPT |
			 PCI_STATUS_CAP_LIST);
	/* Writing all-ones clears the error bits; INTx status and cap list stay. */
	hwrite(cfg, PCI_STATUS, 2, 0xffff);
	assert_int_equal(hread(cfg, PCI_STATUS, 2), PCI_STATUS_INTERRUPT | PCI_STATUS_CAP_LIST);
	/* RW1C does not set bits either. */
	vpcie_cfg_set16(cfg, PCI_STATUS, 0);
	hwrite(cfg, PCI_STATUS, 2, 0xffff);
	assert_int_equal(hread(cfg, PCI_STATUS, 2), 0);
	/* A dword write to command+status: command written, status bit cleared. */
	vpcie_cfg_set16(cfg, PCI_STATUS, PCI_STATUS_DETECTED_PARITY | PCI_STATUS_PARITY);
	hwrite(cfg, PCI_COMMAND, 4, (uint32_t)PCI_STATUS_PARITY << 16 | PCI_COMMAND_MEMORY);
	assert_int_equal(hread(cfg, PCI_COMMAND, 4),
			 (uint32_t)PCI_STATUS_DETECTED_PARITY << 16 | PCI_COMMAND_MEMORY);

	/* w1c independent of wmask, on an arbitrary register. */
	vpcie_cfg_set_w1cmask(cfg, 0x48, 1, 0x0f);
	vpcie_cfg_set_wmask(cfg, 0x48, 1, 0xf0);
	vpcie_cfg_set8(cfg, 0x48, 0x0f);
	hwrite(cfg, 0x48, 1, 0xa5);
	assert_int_equal(hread(cfg, 0x48, 1), 0xa0 | 0x0a);
	free(cfg);
}

/* ---- BARs ------------------------------------------------------------------------ */

static void test_bar_mem32_sizing(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();

	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM32, false, 4096), 0);
	assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_0, 4), PCI_BASE_ADDRESS_MEM_TYPE_32);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_0), 0xfffff000u);
	/* Smallest and largest 32-bit sizes. */
	assert_int_equal(vpcie_cfg_set_bar(cfg, 1, VPCIE_BAR_MEM32, false, 16), 0);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_1), 0xfffffff0u);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 2, VPCIE_BAR_MEM32, false, 1u << 31), 0);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_2), 0x80000000u);
	/* Neighbours are unaffected. */
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_3), 0);
	free(cfg);
}

static void test_bar_mem64_sizing(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();

	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM64, false, 1u << 20), 0);
	assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_0, 4), PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_1, 4), 0);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_0),
			 0xfff00000u | PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_1), 0xffffffffu);

	/* 16 GiB: lower dword only has its type bits, upper carries the size. */
	assert_int_equal(vpcie_cfg_set_bar(cfg, 2, VPCIE_BAR_MEM64, true, UINT64_C(1) << 34), 0);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_2),
			 PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_3), 0xfffffffcu);

	/* Exactly 4 GiB. */
	assert_int_equal(vpcie_cfg_set_bar(cfg, 4, VPCIE_BAR_MEM64, false, UINT64_C(1) << 32), 0);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_4), PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_5), 0xffffffffu);
	/* The kernel's decoding: size = ~(mask & ~0xf) + 1 over 64 bits. */
	{
		uint64_t m = (uint64_t)hread(cfg, PCI_BASE_ADDRESS_5, 4) << 32 |
			     (hread(cfg, PCI_BASE_ADDRESS_4, 4) & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK);
		assert_true(m == UINT64_C(0xffffffff00000000));
		assert_true(~m + 1 == UINT64_C(1) << 32);
	}
	free(cfg);
}

static void test_bar_prefetch_bit(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();

	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM32, true, 256), 0);
	assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_0, 4), PCI_BASE_ADDRESS_MEM_PREFETCH);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 2, VPCIE_BAR_MEM64, true, 65536), 0);
	assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_2, 4),
			 PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
	/* Type bits survive writes of zero and of all-ones. */
	hwrite(cfg, PCI_BASE_ADDRESS_0, 4, 0);
	assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_0, 4), PCI_BASE_ADDRESS_MEM_PREFETCH);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_0), 0xffffff00u | PCI_BASE_ADDRESS_MEM_PREFETCH);
	hwrite(cfg, PCI_BASE_ADDRESS_2, 4, 0);
	assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_2, 4),
			 PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
	/* Prefetchable I/O makes no sense. */
	assert_int_equal(vpcie_cfg_set_bar(cfg, 4, VPCIE_BAR_IO, true, 16), -EINVAL);
	free(cfg);
}

static void test_bar_io_sizing(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();

	assert_int_equal(vpcie_cfg_set_bar(cfg, 1, VPCIE_BAR_IO, false, 32), 0);
	assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_1, 4), PCI_BASE_ADDRESS_SPACE_IO);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_1), 0xffffffe0u | PCI_BASE_ADDRESS_SPACE_IO);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 2, VPCIE_BAR_IO, false, 4), 0);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_2), 0xfffffffcu | PCI_BASE_ADDRESS_SPACE_IO);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 3, VPCIE_BAR_IO, false, 256), 0);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_3), 0xffffff00u | PCI_BASE_ADDRESS_SPACE_IO);
	hwrite(cfg, PCI_BASE_ADDRESS_3, 4, 0xc000);
	assert_int_equal(vpcie_cfg_bar_addr(cfg, 3), 0xc000);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 4, VPCIE_BAR_IO, false, 512), -EINVAL);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 4, VPCIE_BAR_IO, false, 2), -EINVAL);
	free(cfg);
}

static void test_bar_unused_reads_zero(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();

	assert_int_equal(vpcie_cfg_set_bar(cfg, 2, VPCIE_BAR_MEM32, false, 4096), 0);
	for (unsigned n = 0; n < 6; n++) {
		if (n == 2)
			continue;
		assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_0 + 4 * n), 0);
		assert_int_equal(vpcie_cfg_bar_addr(cfg, n), 0);
	}
	/* Rejected declarations leave the slot unused. */
	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM32, false, 12), -EINVAL);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_0), 0);
	free(cfg);
}

static void test_bar_errors(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();

	assert_int_equal(vpcie_cfg_set_bar(cfg, 6, VPCIE_BAR_MEM32, false, 4096), -EINVAL);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM32, false, 0), -EINVAL);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM32, false, 8), -EINVAL);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM32, false, 4097), -EINVAL);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM32, false, 3 << 12), -EINVAL);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM32, false, UINT64_C(1) << 32),
			 -EINVAL);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM64, false, 8), -EINVAL);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 5, VPCIE_BAR_MEM64, false, 4096), -EINVAL);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, (enum vpcie_bar_kind)7, false, 4096), -EINVAL);

	/* Busy: same slot, upper half of a 64-bit BAR, 64-bit over a used slot. */
	assert_int_equal(vpcie_cfg_set_bar(cfg, 1, VPCIE_BAR_MEM64, false, 4096), 0);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 1, VPCIE_BAR_MEM32, false, 4096), -EBUSY);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 2, VPCIE_BAR_IO, false, 16), -EBUSY);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM64, false, 4096), -EBUSY);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM32, false, 4096), 0);
	/* A >= 4 GiB 64-bit BAR has no writable low bits but is still in use. */
	assert_int_equal(vpcie_cfg_set_bar(cfg, 3, VPCIE_BAR_MEM64, false, UINT64_C(1) << 33), 0);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 3, VPCIE_BAR_MEM32, false, 4096), -EBUSY);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 4, VPCIE_BAR_MEM32, false, 4096), -EBUSY);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 5, VPCIE_BAR_MEM32, false, 4096), 0);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 5, VPCIE_BAR_MEM32, false, 4096), -EBUSY);
	/* Largest 64-bit BAR. */
	vpcie_cfg_init(cfg, &test_ids);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM64, false, UINT64_C(1) << 63), 0);
	assert_int_equal(size_probe(cfg, PCI_BASE_ADDRESS_1), 0x80000000u);
	free(cfg);
}

static void test_bar_addr(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();

	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM32, false, 4096), 0);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 1, VPCIE_BAR_MEM64, true, 1u << 16), 0);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 3, VPCIE_BAR_IO, false, 64), 0);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 4, VPCIE_BAR_MEM64, false, 4096), 0);

	/* The host sizes first, then programs; low bits it writes are ignored. */
	(void)size_probe(cfg, PCI_BASE_ADDRESS_0);
	hwrite(cfg, PCI_BASE_ADDRESS_0, 4, 0xfebf1fffu);
	assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_0, 4), 0xfebf1000u);
	assert_true(vpcie_cfg_bar_addr(cfg, 0) == 0xfebf1000u);

	hwrite(cfg, PCI_BASE_ADDRESS_1, 4, 0x12340000u);
	hwrite(cfg, PCI_BASE_ADDRESS_2, 4, 0x00000080u);
	assert_true(vpcie_cfg_bar_addr(cfg, 1) == UINT64_C(0x0000008012340000));
	assert_true(vpcie_cfg_bar_addr(cfg, 2) == 0); /* upper half */
	/* An upper dword holding 0x4 must not be taken for a 64-bit BAR. */
	hwrite(cfg, PCI_BASE_ADDRESS_2, 4, 0x00000004u);
	assert_true(vpcie_cfg_bar_addr(cfg, 1) == UINT64_C(0x0000000412340000));
	assert_true(vpcie_cfg_bar_addr(cfg, 2) == 0);

	hwrite(cfg, PCI_BASE_ADDRESS_3, 4, 0x0000e0ffu);
	assert_true(vpcie_cfg_bar_addr(cfg, 3) == 0xe0c0);

	hwrite(cfg, PCI_BASE_ADDRESS_4, 4, 0xd0000000u);
	hwrite(cfg, PCI_BASE_ADDRESS_5, 4, 0x00000004u);
	assert_true(vpcie_cfg_bar_addr(cfg, 4) == UINT64_C(0x4d0000000));
	assert_true(vpcie_cfg_bar_addr(cfg, 5) == 0);
	assert_true(vpcie_cfg_bar_addr(cfg, 6) == 0);

	/* Byte-wise programming of the address. */
	hwrite(cfg, PCI_BASE_ADDRESS_0 + 3, 1, 0xc0);
	assert_true(vpcie_cfg_bar_addr(cfg, 0) == 0xc0bf1000u);
	free(cfg);
}

static void test_rom(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();

	assert_int_equal(size_probe(cfg, PCI_ROM_ADDRESS), 0);
	assert_int_equal(vpcie_cfg_set_rom(cfg, 1000), -EINVAL);
	assert_int_equal(vpcie_cfg_set_rom(cfg, 1024), -EINVAL);
	assert_int_equal(vpcie_cfg_set_rom(cfg, 3 << 11), -EINVAL);
	assert_int_equal(vpcie_cfg_set_rom(cfg, 64 * 1024), 0);
	assert_int_equal(hread(cfg, PCI_ROM_ADDRESS, 4), 0);
	assert_int_equal(size_probe(cfg, PCI_ROM_ADDRESS), 0xffff0000u | PCI_ROM_ADDRESS_ENABLE);
	hwrite(cfg, PCI_ROM_ADDRESS, 4, 0xfeb00000u | PCI_ROM_ADDRESS_ENABLE | 0x7fe);
	assert_int_equal(hread(cfg, PCI_ROM_ADDRESS, 4), 0xfeb00000u | PCI_ROM_ADDRESS_ENABLE);
	hwrite(cfg, PCI_ROM_ADDRESS, 1, 0);
	assert_int_equal(hread(cfg, PCI_ROM_ADDRESS, 4), 0xfeb00000u);

	assert_int_equal(vpcie_cfg_set_rom(cfg, 2048), 0);
	assert_int_equal(size_probe(cfg, PCI_ROM_ADDRESS), 0xfffff800u | PCI_ROM_ADDRESS_ENABLE);

	assert_int_equal(vpcie_cfg_set_rom(cfg, 0), 0);
	assert_int_equal(hread(cfg, PCI_ROM_ADDRESS, 4), 0);
	assert_int_equal(size_probe(cfg, PCI_ROM_ADDRESS), 0);
	free(cfg);
}

/* ---- capabilities ------------------------------------------------------------------ */

static void test_cap_chain(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();
	static const uint8_t vdata[5] = { 1, 2, 3, 4, 5 };
	int pm, exp, msi, msix, vndr;

	pm = vpcie_cfg_add_pm(cfg);
	assert_int_equal(pm, 0x40);
	assert_int_equal(hread(cfg, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
	assert_int_equal(hread(cfg, PCI_CAPABILITY_LIST, 1), 0x40);
	exp = vpcie_cfg_add_pcie(cfg, true);
	msi = vpcie_cfg_add_msi(cfg, 8, true);
	msix = vpcie_cfg_add_msix(cfg, 16, 1, 0, 1, 0x800);
	vndr = vpcie_cfg_add_vendor(cfg, vdata, sizeof(vdata));
	assert_true(exp > 0 && msi > 0 && msix > 0 && vndr > 0);
	assert_int_equal(exp, pm + PCI_PM_SIZEOF);
	assert_int_equal(msi, exp + ((PCI_CAP_EXP_ENDPOINT_SIZEOF_V2 + 3) & ~3));
	assert_int_equal(msix, msi + PCI_MSI_PENDING_64 + 4);
	assert_int_equal(vndr, msix + PCI_CAP_MSIX_SIZEOF);
	assert_int_equal(cfg->cap_last, vndr);
	assert_int_equal(cfg->cap_next, (vndr + 3 + 5 + 3) & ~3);

	/* Linked by the next pointers, in order. */
	assert_int_equal(hread(cfg, pm + PCI_CAP_LIST_NEXT, 1), exp);
	assert_int_equal(hread(cfg, exp + PCI_CAP_LIST_NEXT, 1), msi);
	assert_int_equal(hread(cfg, msi + PCI_CAP_LIST_NEXT, 1), msix);
	assert_int_equal(hread(cfg, msix + PCI_CAP_LIST_NEXT, 1), vndr);
	assert_int_equal(hread(cfg, vndr + PCI_CAP_LIST_NEXT, 1), 0);

	/* Walk. */
	const int want[] = { pm, exp, msi, msix, vndr };
	const uint8_t ids[] = { PCI_CAP_ID_PM, PCI_CAP_ID_EXP, PCI_CAP_ID_MSI,
				PCI_CAP_ID_MSIX, PCI_CAP_ID_VNDR };
	unsigned pos = 0, i = 0;
	while ((pos = vpcie_cfg_next_cap(cfg->data, sizeof(cfg->data), pos)) != 0) {
		assert_true(i < 5);
		assert_int_equal(pos, want[i]);
		assert_int_equal(cfg->data[pos], ids[i]);
		i++;
	}
	assert_int_equal(i, 5);
	/* The walker works on a 256-byte image too. */
	assert_int_equal(vpcie_cfg_next_cap(cfg->data, 256, (unsigned)msix), vndr);

	/* Find. */
	for (i = 0; i < 5; i++) {
		assert_int_equal(vpcie_cfg_find_cap(cfg->data, sizeof(cfg->data), ids[i]), want[i]);
		assert_int_equal(vpcie_cfg_find_cap(cfg->data, 256, ids[i]), want[i]);
	}
	assert_int_equal(vpcie_cfg_find_cap(cfg->data, sizeof(cfg->data), PCI_CAP_ID_AGP), 0);

	/* The vendor cap: length byte counts the header, data follows, RO. */
	assert_int_equal(hread(cfg, vndr + PCI_CAP_FLAGS, 1), 3 + sizeof(vdata));
	assert_memory_equal(&cfg->data[vndr + 3], vdata, sizeof(vdata));
	hwrite(cfg, vndr, 4, 0xffffffffu);
	hwrite(cfg, vndr + 4, 4, 0xffffffffu);
	assert_int_equal(hread(cfg, vndr + PCI_CAP_FLAGS, 1), 3 + sizeof(vdata));
	assert_memory_equal(&cfg->data[vndr + 3], vdata, sizeof(vdata));
	assert_int_equal(cfg->data[vndr], PCI_CAP_ID_VNDR);

	/* Next pointers and the first-cap pointer are read-only to the host. */
	hwrite(cfg, pm, 2, 0);
	hwrite(cfg, PCI_CAPABILITY_LIST, 1, 0);
	hwrite(cfg, PCI_STATUS, 2, 0xffff);
	assert_int_equal(vpcie_cfg_find_cap(cfg->data, sizeof(cfg->data), PCI_CAP_ID_VNDR), vndr);

	/* Vendor cap limits. */
	assert_int_equal(vpcie_cfg_add_vendor(cfg, vdata, 253), -EINVAL);
	assert_int_equal(vpcie_cfg_add_vendor(cfg, NULL, 4), -EINVAL);
	assert_int_equal(vpcie_cfg_add_cap(cfg, PCI_CAP_ID_VNDR, 1), -EINVAL);
	int empty = vpcie_cfg_add_vendor(cfg, NULL, 0);
	assert_true(empty > 0);
	assert_int_equal(hread(cfg, (unsigned)empty + PCI_CAP_FLAGS, 1), 3);
	free(cfg);
}

static void test_pm_cap(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();
	int pm = vpcie_cfg_add_pm(cfg);
	unsigned o = (unsigned)pm;

	assert_true(pm >= 0x40);
	assert_int_equal(hread(cfg, o + PCI_PM_PMC, 2) & PCI_PM_CAP_VER_MASK, 3);
	assert_int_equal(hread(cfg, o + PCI_PM_PMC, 2) &
			 (PCI_PM_CAP_D1 | PCI_PM_CAP_D2 | PCI_PM_CAP_PME_MASK), 0);
	assert_int_equal(hread(cfg, o + PCI_PM_CTRL, 2), PCI_PM_CTRL_NO_SOFT_RESET);
	hwrite(cfg, o + PCI_PM_CTRL, 2, 3); /* D3hot */
	assert_int_equal(hread(cfg, o + PCI_PM_CTRL, 2), PCI_PM_CTRL_NO_SOFT_RESET | 3);
	hwrite(cfg, o + PCI_PM_CTRL, 2, 0xfffc); /* back to D0, other bits RO */
	assert_int_equal(hread(cfg, o + PCI_PM_CTRL, 2), PCI_PM_CTRL_NO_SOFT_RESET);
	hwrite(cfg, o + PCI_PM_PMC, 2, 0);
	assert_int_equal(hread(cfg, o + PCI_PM_PMC, 2) & PCI_PM_CAP_VER_MASK, 3);
	assert_int_equal(cfg->cap_next, o + PCI_PM_SIZEOF);
	free(cfg);
}

static void test_pcie_cap(void **state)
{
	(void)state;
	for (int flr = 0; flr <= 1; flr++) {
		struct vpcie_cfg *cfg = new_cfg();
		int exp = vpcie_cfg_add_pcie(cfg, flr);
		unsigned o = (unsigned)exp;
		const uint16_t devctl_rw = PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE |
					   PCI_EXP_DEVCTL_FERE | PCI_EXP_DEVCTL_URRE |
					   PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_PAYLOAD |
					   PCI_EXP_DEVCTL_EXT_TAG | PCI_EXP_DEVCTL_NOSNOOP_EN |
					   PCI_EXP_DEVCTL_READRQ;

		assert_int_equal(exp, 0x40);
		assert_int_equal(cfg->cap_next, 0x40 + ((PCI_CAP_EXP_ENDPOINT_SIZEOF_V2 + 3) & ~3));
		assert_int_equal(hread(cfg, o + PCI_EXP_FLAGS, 2),
				 2 | PCI_EXP_TYPE_ENDPOINT << 4);
		uint32_t devcap = hread(cfg, o + PCI_EXP_DEVCAP, 4);
		assert_int_equal(devcap & PCI_EXP_DEVCAP_PAYLOAD, 1); /* 256 bytes */
		assert_int_equal(!!(devcap & PCI_EXP_DEVCAP_FLR), flr);

		hwrite(cfg, o + PCI_EXP_DEVCTL, 2, 0xffff);
		assert_int_equal(hread(cfg, o + PCI_EXP_DEVCTL, 2),
				 devctl_rw | (flr ? PCI_EXP_DEVCTL_BCR_FLR : 0));
		hwrite(cfg, o + PCI_EXP_DEVCTL, 2, 0);
		assert_int_equal(hread(cfg, o + PCI_EXP_DEVCTL, 2), 0);

		/* DevSta errors RW1C; AUX power / transactions pending RO. */
		vpcie_cfg_set16(cfg, o + PCI_EXP_DEVSTA,
				PCI_EXP_DEVSTA_CED | PCI_EXP_DEVSTA_URD | PCI_EXP_DEVSTA_TRPND);
		hwrite(cfg, o + PCI_EXP_DEVSTA, 2, 0);
		assert_int_equal(hread(cfg, o + PCI_EXP_DEVSTA, 2),
				 PCI_EXP_DEVSTA_CED | PCI_EXP_DEVSTA_URD | PCI_EXP_DEVSTA_TRPND);
		hwrite(cfg, o + PCI_EXP_DEVSTA, 2, PCI_EXP_DEVSTA_CED);
		assert_int_equal(hread(cfg, o + PCI_EXP_DEVSTA, 2),
				 PCI_EXP_DEVSTA_URD | PCI_EXP_DEVSTA_TRPND);
		hwrite(cfg, o + PCI_EXP_DEVSTA, 2, 0xffff);
		assert_int_equal(hread(cfg, o + PCI_EXP_DEVSTA, 2), PCI_EXP_DEVSTA_TRPND);

		/* Link x1 at 2.5 GT/s, read-only. */
		uint32_t lnkcap = hread(cfg, o + PCI_EXP_LNKCAP, 4);
		assert_int_equal(lnkcap & PCI_EXP_LNKCAP_SLS, PCI_EXP_LNKCAP_SLS_2_5GB);
		assert_int_equal((lnkcap & PCI_EXP_LNKCAP_MLW) >> 4, 1);
		assert_int_equal(hread(cfg, o + PCI_EXP_LNKSTA, 2),
				 PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1);
		hwrite(cfg, o + PCI_EXP_LNKCAP, 4, 0);
		hwrite(cfg, o + PCI_EXP_LNKSTA, 2, 0xffff);
		assert_int_equal(hread(cfg, o + PCI_EXP_LNKCAP, 4), lnkcap);
		assert_int_equal(hread(cfg, o + PCI_EXP_LNKSTA, 2),
				 PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1);
		hwrite(cfg, o + PCI_EXP_DEVCAP, 4, 0);
		assert_int_equal(hread(cfg, o + PCI_EXP_DEVCAP, 4), devcap);

		/* Version 2: completion timeout disable. */
		assert_true(hread(cfg, o + PCI_EXP_DEVCAP2, 4) & PCI_EXP_DEVCAP2_COMP_TMOUT_DIS);
		hwrite(cfg, o + PCI_EXP_DEVCTL2, 2, 0xffff);
		assert_int_equal(hread(cfg, o + PCI_EXP_DEVCTL2, 2), PCI_EXP_DEVCTL2_COMP_TMOUT_DIS);
		/* Nothing past the cap is touched. */
		assert_int_equal(cfg->data[o + PCI_CAP_EXP_ENDPOINT_SIZEOF_V2], 0);
		assert_int_equal(cfg->wmask[o + PCI_CAP_EXP_ENDPOINT_SIZEOF_V2], 0);
		free(cfg);
	}
}

static void test_msi_cap(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();
	int msi = vpcie_cfg_add_msi(cfg, 4, true);
	unsigned o = (unsigned)msi;

	assert_int_equal(msi, 0x40);
	assert_int_equal(cfg->cap_next, 0x40 + 24);
	assert_int_equal(hread(cfg, o + PCI_MSI_FLAGS, 2),
			 PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | (2 << 1));
	hwrite(cfg, o + PCI_MSI_FLAGS, 2, 0xffff);
	assert_int_equal(hread(cfg, o + PCI_MSI_FLAGS, 2),
			 PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | (2 << 1) |
			 PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE);
	hwrite(cfg, o + PCI_MSI_FLAGS, 2, 2 << 4); /* MME = 4 vectors, disabled */
	assert_int_equal(hread(cfg, o + PCI_MSI_FLAGS, 2) & (PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE),
			 2 << 4);

	hwrite(cfg, o + PCI_MSI_ADDRESS_LO, 4, 0xfee0100fu);
	assert_int_equal(hread(cfg, o + PCI_MSI_ADDRESS_LO, 4), 0xfee0100cu);
	hwrite(cfg, o + PCI_MSI_ADDRESS_HI, 4, 0x89abcdefu);
	assert_int_equal(hread(cfg, o + PCI_MSI_ADDRESS_HI, 4), 0x89abcdefu);
	hwrite(cfg, o + PCI_MSI_DATA_64, 4, 0xffff4321u);
	assert_int_equal(hread(cfg, o + PCI_MSI_DATA_64, 4), 0x4321);

	/* Mask bits: only nvec of them. */
	hwrite(cfg, o + PCI_MSI_MASK_64, 4, 0xffffffffu);
	assert_int_equal(hread(cfg, o + PCI_MSI_MASK_64, 4), 0xf);
	hwrite(cfg, o + PCI_MSI_MASK_64, 4, 0x5);
	assert_int_equal(hread(cfg, o + PCI_MSI_MASK_64, 4), 0x5);
	/* Pending: read-only, the device sets them. */
	hwrite(cfg, o + PCI_MSI_PENDING_64, 4, 0xffffffffu);
	assert_int_equal(hread(cfg, o + PCI_MSI_PENDING_64, 4), 0);
	vpcie_cfg_set32(cfg, o + PCI_MSI_PENDING_64, 0x2);
	hwrite(cfg, o + PCI_MSI_PENDING_64, 4, 0);
	assert_int_equal(hread(cfg, o + PCI_MSI_PENDING_64, 4), 0x2);

	/* Non-maskable: 14 bytes rounded to 16; no mask bit. */
	int msi2 = vpcie_cfg_add_msi(cfg, 1, false);
	assert_int_equal(msi2, 0x40 + 24);
	assert_int_equal(cfg->cap_next, 0x40 + 24 + 16);
	assert_int_equal(hread(cfg, (unsigned)msi2 + PCI_MSI_FLAGS, 2), PCI_MSI_FLAGS_64BIT);
	hwrite(cfg, (unsigned)msi2 + PCI_MSI_MASK_64 - 4, 4, 0xffffffffu);
	assert_int_equal(hread(cfg, (unsigned)msi2 + PCI_MSI_DATA_64, 4), 0xffff);

	/* 32 vectors: the full mask register. */
	int msi3 = vpcie_cfg_add_msi(cfg, 32, true);
	assert_true(msi3 > 0);
	assert_int_equal(hread(cfg, (unsigned)msi3 + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_QMASK, 5 << 1);
	hwrite(cfg, (unsigned)msi3 + PCI_MSI_MASK_64, 4, 0xffffffffu);
	assert_int_equal(hread(cfg, (unsigned)msi3 + PCI_MSI_MASK_64, 4), 0xffffffffu);

	/* Validation. */
	assert_int_equal(vpcie_cfg_add_msi(cfg, 0, true), -EINVAL);
	assert_int_equal(vpcie_cfg_add_msi(cfg, 3, true), -EINVAL);
	assert_int_equal(vpcie_cfg_add_msi(cfg, 64, true), -EINVAL);
	free(cfg);
}

static void test_msix_cap(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();
	int x = vpcie_cfg_add_msix(cfg, 2048, 2, 0x1000, 4, 0x3008);
	unsigned o = (unsigned)x;

	assert_int_equal(x, 0x40);
	assert_int_equal(cfg->cap_next, 0x40 + PCI_CAP_MSIX_SIZEOF);
	assert_int_equal(hread(cfg, o + PCI_MSIX_FLAGS, 2), 2047);
	assert_int_equal(hread(cfg, o + PCI_MSIX_TABLE, 4), 0x1000 | 2);
	assert_int_equal(hread(cfg, o + PCI_MSIX_PBA, 4), 0x3008 | 4);

	hwrite(cfg, o + PCI_MSIX_FLAGS, 2, 0xffff);
	assert_int_equal(hread(cfg, o + PCI_MSIX_FLAGS, 2),
			 2047 | PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	hwrite(cfg, o + PCI_MSIX_FLAGS, 2, 0);
	assert_int_equal(hread(cfg, o + PCI_MSIX_FLAGS, 2), 2047);
	hwrite(cfg, o + PCI_MSIX_FLAGS + 1, 1, PCI_MSIX_FLAGS_ENABLE >> 8);
	assert_int_equal(hread(cfg, o + PCI_MSIX_FLAGS, 2), 2047 | PCI_MSIX_FLAGS_ENABLE);
	hwrite(cfg, o + PCI_MSIX_TABLE, 4, 0xffffffffu);
	hwrite(cfg, o + PCI_MSIX_PBA, 4, 0);
	assert_int_equal(hread(cfg, o + PCI_MSIX_TABLE, 4), 0x1000 | 2);
	assert_int_equal(hread(cfg, o + PCI_MSIX_PBA, 4), 0x3008 | 4);

	int y = vpcie_cfg_add_msix(cfg, 1, 0, 0, 0, 8);
	assert_true(y > 0);
	assert_int_equal(hread(cfg, (unsigned)y + PCI_MSIX_FLAGS, 2), 0);

	assert_int_equal(vpcie_cfg_add_msix(cfg, 0, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(vpcie_cfg_add_msix(cfg, 2049, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(vpcie_cfg_add_msix(cfg, 8, 6, 0, 0, 0), -EINVAL);
	assert_int_equal(vpcie_cfg_add_msix(cfg, 8, 0, 0, 6, 0), -EINVAL);
	assert_int_equal(vpcie_cfg_add_msix(cfg, 8, 0, 4, 0, 0), -EINVAL);
	assert_int_equal(vpcie_cfg_add_msix(cfg, 8, 0, 0, 0, 0x801), -EINVAL);
	/* Failures did not consume space. */
	assert_int_equal(cfg->cap_next, y + PCI_CAP_MSIX_SIZEOF);
	free(cfg);
}

static void test_ext_caps_chain(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();
	int a, b, c;

	a = vpcie_cfg_add_ext_cap(cfg, PCI_EXT_CAP_ID_DSN, 1, PCI_EXT_CAP_DSN_SIZEOF);
	assert_int_equal(a, 0x100);
	assert_int_equal(hread(cfg, 0x100, 4), PCI_EXT_CAP_ID_DSN | 1u << 16);
	assert_int_equal(vpcie_cfg_next_ext_cap(cfg->data, sizeof(cfg->data), 0), 0x100);
	b = vpcie_cfg_add_ext_cap(cfg, PCI_EXT_CAP_ID_VNDR, 1, 10); /* rounded to 12 */
	c = vpcie_cfg_add_ext_cap(cfg, PCI_EXT_CAP_ID_LTR, 1, PCI_EXT_CAP_LTR_SIZEOF);
	assert_int_equal(b, 0x10c);
	assert_int_equal(c, 0x118);
	assert_int_equal(hread(cfg, 0x100, 4), PCI_EXT_CAP_ID_DSN | 1u << 16 | 0x10cu << 20);
	assert_int_equal(hread(cfg, 0x10c, 4), PCI_EXT_CAP_ID_VNDR | 1u << 16 | 0x118u << 20);
	assert_int_equal(hread(cfg, 0x118, 4), PCI_EXT_CAP_ID_LTR | 1u << 16);
	assert_int_equal(cfg->ext_last, 0x118);
	assert_int_equal(cfg->ext_next, 0x120);

	unsigned pos = 0, n = 0;
	const unsigned want[] = { 0x100, 0x10c, 0x118 };
	while ((pos = vpcie_cfg_next_ext_cap(cfg->data, sizeof(cfg->data), pos)) != 0) {
		assert_true(n < 3);
		assert_int_equal(pos, want[n]);
		n++;
	}
	assert_int_equal(n, 3);
	assert_int_equal(vpcie_cfg_find_ext_cap(cfg->data, sizeof(cfg->data), PCI_EXT_CAP_ID_LTR), 0x118);
	assert_int_equal(vpcie_cfg_find_ext_cap(cfg->data, sizeof(cfg->data), PCI_EXT_CAP_ID_VNDR), 0x10c);
	assert_int_equal(vpcie_cfg_find_ext_cap(cfg->data, sizeof(cfg->data), PCI_EXT_CAP_ID_ERR), 0);
	/* A 256-byte image has no extended space. */
	assert_int_equal(vpcie_cfg_find_ext_cap(cfg->data, 256, PCI_EXT_CAP_ID_DSN), 0);
	assert_int_equal(vpcie_cfg_next_ext_cap(cfg->data, 256, 0), 0);
	/* Headers are read-only. */
	hwrite(cfg, 0x100, 4, 0);
	assert_int_equal(vpcie_cfg_find_ext_cap(cfg->data, sizeof(cfg->data), PCI_EXT_CAP_ID_LTR), 0x118);
	/* Validation. */
	assert_int_equal(vpcie_cfg_add_ext_cap(cfg, 1, 16, 8), -EINVAL);
	assert_int_equal(vpcie_cfg_add_ext_cap(cfg, 1, 1, 3), -EINVAL);
	free(cfg);
}

static void test_enospc(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();
	int r, n = 0;

	/* 0x40..0xff holds 24 PM caps of 8 bytes. */
	while ((r = vpcie_cfg_add_pm(cfg)) > 0)
		n++;
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(n, (0x100 - 0x40) / PCI_PM_SIZEOF);
	assert_int_equal(cfg->cap_next, 0x100);
	assert_int_equal(vpcie_cfg_add_cap(cfg, PCI_CAP_ID_VNDR, 2), -ENOSPC);
	/* Nothing was written at or past 0x100. */
	assert_int_equal(hread(cfg, 0x100, 4), 0);
	assert_int_equal(cfg->cap_last, 0xf8);
	assert_int_equal(hread(cfg, 0xf8 + PCI_CAP_LIST_NEXT, 1), 0);

	/* An exact fit succeeds, one byte more does not. */
	vpcie_cfg_init(cfg, &test_ids);
	assert_int_equal(vpcie_cfg_add_cap(cfg, PCI_CAP_ID_VNDR, 0x100 - 0x40 + 1), -ENOSPC);
	assert_int_equal(cfg->cap_last, 0);
	assert_int_equal(hread(cfg, PCI_STATUS, 2), 0);
	assert_int_equal(vpcie_cfg_add_cap(cfg, PCI_CAP_ID_VNDR, 0xb0), 0x40);
	assert_int_equal(vpcie_cfg_add_pcie(cfg, false), -ENOSPC);
	assert_int_equal(vpcie_cfg_add_msi(cfg, 1, true), -ENOSPC);
	assert_int_equal(vpcie_cfg_add_msix(cfg, 1, 0, 0, 0, 0), 0xf0);
	assert_int_equal(vpcie_cfg_add_pm(cfg), -ENOSPC);
	assert_int_equal(vpcie_cfg_add_cap(cfg, PCI_CAP_ID_VNDR, 4), 0xfc);
	assert_int_equal(vpcie_cfg_add_cap(cfg, PCI_CAP_ID_VNDR, 2), -ENOSPC);
	assert_int_equal(vpcie_cfg_find_cap(cfg->data, 256, PCI_CAP_ID_MSIX), 0xf0);
	assert_int_equal(vpcie_cfg_next_cap(cfg->data, 256, 0xf0), 0xfc);

	/* Extended: 0x100..0xfff. */
	assert_int_equal(vpcie_cfg_add_ext_cap(cfg, 0x23, 1, 0x1000 - 0x100 + 1), -ENOSPC);
	assert_int_equal(vpcie_cfg_add_ext_cap(cfg, 0x23, 1, 0x1000 - 0x100 - 8), 0x100);
	assert_int_equal(vpcie_cfg_add_ext_cap(cfg, 0x24, 1, 12), -ENOSPC);
	assert_int_equal(vpcie_cfg_add_ext_cap(cfg, 0x24, 1, 8), 0xff8);
	assert_int_equal(vpcie_cfg_add_ext_cap(cfg, 0x25, 1, 4), -ENOSPC);
	assert_int_equal(vpcie_cfg_find_ext_cap(cfg->data, 4096, 0x24), 0xff8);
	free(cfg);
}

/* ---- walker safety ----------------------------------------------------------------- */

static void set_cap(uint8_t *img, unsigned pos, uint8_t id, uint8_t next)
{
	img[pos] = id;
	img[pos + 1] = next;
}

static void put32(uint8_t *img, unsigned pos, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		img[pos + i] = (uint8_t)(v >> (8 * i));
}

static void test_walker_loop(void **state)
{
	(void)state;
	uint8_t *img = calloc(1, 4096);
	unsigned pos, steps;

	assert_non_null(img);
	img[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	img[PCI_CAPABILITY_LIST] = 0x40;
	set_cap(img, 0x40, PCI_CAP_ID_PM, 0x50);
	set_cap(img, 0x50, PCI_CAP_ID_MSI, 0x60);
	set_cap(img, 0x60, PCI_CAP_ID_EXP, 0x40); /* back to the start */
	assert_int_equal(vpcie_cfg_find_cap(img, 4096, PCI_CAP_ID_EXP), 0x60);
	assert_int_equal(vpcie_cfg_find_cap(img, 4096, PCI_CAP_ID_MSIX), 0);
	for (pos = 0, steps = 0; (pos = vpcie_cfg_next_cap(img, 4096, pos)) != 0; steps++)
		assert_true(steps < 48);
	assert_int_equal(steps, 3);

	/* Self loop, and a loop into the middle. */
	set_cap(img, 0x60, PCI_CAP_ID_EXP, 0x60);
	assert_int_equal(vpcie_cfg_find_cap(img, 256, PCI_CAP_ID_VNDR), 0);
	set_cap(img, 0x60, PCI_CAP_ID_EXP, 0x52); /* low bits masked: 0x50 */
	for (pos = 0, steps = 0; (pos = vpcie_cfg_next_cap(img, 256, pos)) != 0; steps++)
		assert_true(steps < 48);
	assert_int_equal(steps, 3);
	/* A prev that is not on the list ends the iteration. */
	assert_int_equal(vpcie_cfg_next_cap(img, 256, 0x80), 0);

	/* Extended: a loop and a self loop. */
	put32(img, 0x100, 0x0001u | 1u << 16 | 0x200u << 20);
	put32(img, 0x200, 0x0003u | 1u << 16 | 0x100u << 20);
	assert_int_equal(vpcie_cfg_find_ext_cap(img, 4096, 3), 0x200);
	assert_int_equal(vpcie_cfg_find_ext_cap(img, 4096, 0x18), 0);
	for (pos = 0, steps = 0; (pos = vpcie_cfg_next_ext_cap(img, 4096, pos)) != 0; steps++)
		assert_true(steps < 960);
	assert_int_equal(steps, 2);
	put32(img, 0x200, 0x0003u | 1u << 16 | 0x200u << 20);
	assert_int_equal(vpcie_cfg_find_ext_cap(img, 4096, 0x18), 0);
	/* All-ones at 0x100 (no device) means no extended caps. */
	put32(img, 0x100, 0xffffffffu);
	assert_int_equal(vpcie_cfg_next_ext_cap(img, 4096, 0), 0);
	free(img);
}

static void test_walker_bounds(void **state)
{
	(void)state;
	uint8_t *img = calloc(1, 256);
	uint8_t *small;

	assert_non_null(img);
	img[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	img[PCI_CAPABILITY_LIST] = 0x40;
	set_cap(img, 0x40, PCI_CAP_ID_PM, 0x30); /* below 0x40: end */
	assert_int_equal(vpcie_cfg_find_cap(img, 256, PCI_CAP_ID_PM), 0x40);
	assert_int_equal(vpcie_cfg_next_cap(img, 256, 0x40), 0);
	set_cap(img, 0x40, PCI_CAP_ID_PM, 0xfc);
	set_cap(img, 0xfc, PCI_CAP_ID_VNDR, 0);
	assert_int_equal(vpcie_cfg_find_cap(img, 256, PCI_CAP_ID_VNDR), 0xfc);
	/* The same image cut at 0xfd: the cap at 0xfc doesn't fit. */
	small = malloc(0xfd);
	assert_non_null(small);
	memcpy(small, img, 0xfd);
	assert_int_equal(vpcie_cfg_find_cap(small, 0xfd, PCI_CAP_ID_VNDR), 0);
	assert_int_equal(vpcie_cfg_next_cap(small, 0xfd, 0x40), 0);
	free(small);
	/* Cut at 0x40: nothing to find, nothing read beyond. */
	small = malloc(0x40);
	assert_non_null(small);
	memcpy(small, img, 0x40);
	assert_int_equal(vpcie_cfg_find_cap(small, 0x40, PCI_CAP_ID_PM), 0);
	assert_int_equal(vpcie_cfg_next_cap(small, 0x40, 0), 0);
	free(small);
	/* Tiny or NULL images. */
	assert_int_equal(vpcie_cfg_find_cap(img, 4, PCI_CAP_ID_PM), 0);
	assert_int_equal(vpcie_cfg_find_cap(NULL, 0, PCI_CAP_ID_PM), 0);
	assert_int_equal(vpcie_cfg_next_ext_cap(NULL, 4096, 0), 0);
	/* Without the status bit the list is ignored. */
	img[PCI_STATUS] = 0;
	assert_int_equal(vpcie_cfg_find_cap(img, 256, PCI_CAP_ID_PM), 0);
	/* An id of 0xff ends the list, as Linux does. */
	img[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	set_cap(img, 0x40, 0xff, 0xfc);
	assert_int_equal(vpcie_cfg_find_cap(img, 256, PCI_CAP_ID_VNDR), 0);
	free(img);

	/* Extended pointer past len, and a cap straddling len. */
	img = calloc(1, 0x208);
	assert_non_null(img);
	put32(img, 0x100, 0x0001u | 1u << 16 | 0x204u << 20);
	put32(img, 0x204, 0x0002u | 1u << 16 | 0x300u << 20);
	assert_int_equal(vpcie_cfg_find_ext_cap(img, 0x208, 2), 0x204);
	assert_int_equal(vpcie_cfg_next_ext_cap(img, 0x208, 0x204), 0);
	assert_int_equal(vpcie_cfg_find_ext_cap(img, 0x207, 2), 0);
	assert_int_equal(vpcie_cfg_next_ext_cap(img, 0x207, 0x100), 0);
	/* Next pointer below 0x100 ends the list. */
	put32(img, 0x100, 0x0001u | 1u << 16 | 0x0fcu << 20);
	assert_int_equal(vpcie_cfg_next_ext_cap(img, 0x208, 0x100), 0);
	/* Too short for the first header. */
	assert_int_equal(vpcie_cfg_next_ext_cap(img, 0x103, 0), 0);
	free(img);
}

/* Reference walkers in the style of Linux's TTL loops, for cross-checking. */
static unsigned ref_std_list(const uint8_t *img, size_t len, unsigned *out)
{
	unsigned n = 0, pos, ttl = 48;

	if (len < 0x40 || !(img[PCI_STATUS] & PCI_STATUS_CAP_LIST))
		return 0;
	pos = img[PCI_CAPABILITY_LIST];
	while (ttl--) {
		if (pos < 0x40)
			break;
		pos &= ~3u;
		if (pos + 2 > len || img[pos] == 0xff)
			break;
		for (unsigned i = 0; i < n; i++)
			if (out[i] == pos)
				return n;
		out[n++] = pos;
		pos = img[pos + 1];
	}
	return n;
}

static uint64_t rng_state;

static uint32_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 32);
}

static void fill_random_image(uint8_t *img, size_t len)
{
	unsigned mode = rng() % 4;

	for (size_t i = 0; i < len; i++)
		img[i] = (uint8_t)rng();
	if (mode == 0 || len < 0x40)
		return; /* pure noise */
	/* Mostly plausible structure: the status bit, pointers into caps. */
	img[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	img[PCI_CAPABILITY_LIST] = (uint8_t)(0x40 + rng() % 0xc0);
	for (unsigned pos = 0x40; pos + 1 < len && pos < 0x100; pos += 4) {
		if (rng() % 3)
			img[pos + 1] = (uint8_t)(0x40 + rng() % 0xc0);
		if (mode == 2 && rng() % 8 == 0)
			img[pos + 1] = (uint8_t)(rng() % 0x44); /* ends */
	}
	for (unsigned pos = 0x100; pos + 4 <= len; pos += 4) {
		if (rng() % 2) {
			uint32_t next = 0x100 + (rng() % 0xf00);
			if (mode == 3 && rng() % 4 == 0)
				next = rng() % 0x1000;
			put32(img, pos, (rng() & 0xfffff) | next << 20);
		}
	}
}

static void check_walkers(const uint8_t *img, size_t len)
{
	unsigned ref[48], nref, pos, steps;

	/* Standard list: matches the reference, stays in bounds, ends. */
	nref = ref_std_list(img, len, ref);
	for (pos = 0, steps = 0; (pos = vpcie_cfg_next_cap(img, len, pos)) != 0; steps++) {
		assert_true(steps < 48);
		assert_true(pos >= 0x40 && pos + 2 <= len && pos < 0x100 && !(pos & 3));
		assert_true(steps < nref);
		assert_int_equal(pos, ref[steps]);
	}
	assert_int_equal(steps, nref);
	for (int k = 0; k < 4; k++) {
		uint8_t id = (k == 0 && nref) ? img[ref[nref - 1]] : (uint8_t)rng();
		unsigned want = 0;
		for (unsigned i = 0; i < nref; i++)
			if (img[ref[i]] == id) {
				want = ref[i];
				break;
			}
		assert_int_equal(vpcie_cfg_find_cap(img, len, id), want);
	}

	/* Extended list: in bounds, no repeats, ends within the bound. */
	unsigned seen[960];
	for (pos = 0, steps = 0; (pos = vpcie_cfg_next_ext_cap(img, len, pos)) != 0; steps++) {
		assert_true(steps < 960);
		assert_true(pos >= 0x100 && pos + 4 <= len && !(pos & 3));
		for (unsigned i = 0; i < steps; i++)
			assert_true(seen[i] != pos);
		seen[steps] = pos;
	}
	/* find_ext_cap returns the first entry in walk order with the id. */
	for (int k = 0; k < 3; k++) {
		uint16_t id = (uint16_t)rng();
		unsigned want = 0;
		if (k < 2 && steps) {
			unsigned at = seen[k == 0 ? steps - 1 : rng() % steps];
			id = (uint16_t)(img[at] | img[at + 1] << 8);
		}
		for (unsigned i = 0; i < steps; i++)
			if ((uint16_t)(img[seen[i]] | img[seen[i] + 1] << 8) == id) {
				want = seen[i];
				break;
			}
		assert_int_equal(vpcie_cfg_find_ext_cap(img, len, id), want);
	}
}

static void test_walker_fuzz(void **state)
{
	(void)state;
	rng_state = UINT64_C(0x9e3779b97f4a7c15);

	for (int iter = 0; iter < 20000; iter++) {
		size_t len;
		switch (iter % 4) {
		case 0: len = 256; break;
		case 1: len = 4096; break;
		default: len = rng() % 4097; break;
		}
		/* Exactly len bytes on the heap, so ASan flags any overrun. */
		uint8_t *img = malloc(len ? len : 1);
		assert_non_null(img);
		fill_random_image(img, len);
		check_walkers(img, len);
		free(img);
	}
}

/* A long but legal extended chain (every dword) is walked completely. */
static void test_walker_long_ext_chain(void **state)
{
	(void)state;
	uint8_t *img = calloc(1, 4096);
	unsigned pos, steps;

	assert_non_null(img);
	for (pos = 0x100; pos < 0x1000; pos += 4)
		put32(img, pos, 0x0001u | 1u << 16 | (pos + 4 < 0x1000 ? pos + 4 : 0) << 20);
	put32(img, 0xffc, 0x0042u | 1u << 16);
	for (pos = 0, steps = 0; (pos = vpcie_cfg_next_ext_cap(img, 4096, pos)) != 0; steps++)
		assert_true(steps < 960);
	assert_int_equal(steps, 960);
	assert_int_equal(vpcie_cfg_find_ext_cap(img, 4096, 0x42), 0xffc);
	free(img);
}

/* ---- access sizes and ranges --------------------------------------------------------- */

static void test_unaligned_access(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();
	uint8_t buf[16];

	/* Reads of any size and alignment see the little-endian image. */
	assert_int_equal(vpcie_cfg_read(cfg, 1, buf, 3), 0);
	assert_int_equal(buf[0], 0x1a);
	assert_int_equal(buf[1], 0xf5);
	assert_int_equal(buf[2], 0x10);
	assert_int_equal(hread(cfg, PCI_CLASS_REVISION + 1, 3), 0xff0012);
	assert_int_equal(vpcie_cfg_read(cfg, 0, buf, 0), 0);

	/* A 3-byte write spanning interrupt line, pin and min_gnt. */
	hwrite(cfg, PCI_INTERRUPT_LINE, 3, 0x00ffff0b);
	assert_int_equal(hread(cfg, PCI_INTERRUPT_LINE, 4), 0x0000010b);

	/* A write spanning the latency timer, header type and BIST. */
	hwrite(cfg, PCI_LATENCY_TIMER, 3, 0x808040);
	assert_int_equal(hread(cfg, PCI_CACHE_LINE_SIZE, 4), 0x00004000);

	/* Odd-size writes across BAR0 and BAR1. */
	assert_int_equal(vpcie_cfg_set_bar(cfg, 0, VPCIE_BAR_MEM32, false, 256), 0);
	assert_int_equal(vpcie_cfg_set_bar(cfg, 1, VPCIE_BAR_MEM32, false, 4096), 0);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(vpcie_cfg_write(cfg, PCI_BASE_ADDRESS_0 + 1, buf, 7), 0);
	assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_0, 4), 0xffffff00u);
	assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_1, 4), 0xfffff000u);
	assert_int_equal(hread(cfg, PCI_BASE_ADDRESS_2, 4), 0);
	/* Word write at an odd offset across the cap pointer region. */
	hwrite(cfg, PCI_CAPABILITY_LIST - 1, 2, 0xffff);
	assert_int_equal(hread(cfg, PCI_CAPABILITY_LIST - 1, 2), 0);

	/* Raw accessors are little-endian and ignore masks. */
	vpcie_cfg_set32(cfg, 0x81, 0x11223344u);
	assert_int_equal(cfg->data[0x81], 0x44);
	assert_int_equal(cfg->data[0x84], 0x11);
	assert_int_equal(vpcie_cfg_get16(cfg, 0x82), 0x2233);
	assert_int_equal(vpcie_cfg_get16(cfg, 0x83), 0x1122);
	assert_int_equal(vpcie_cfg_get8(cfg, 0x83), 0x22);
	assert_int_equal(vpcie_cfg_get32(cfg, 0x81), 0x11223344u);
	vpcie_cfg_set16(cfg, VPCIE_CFG_SIZE - 2, 0xabcd);
	assert_int_equal(vpcie_cfg_get16(cfg, VPCIE_CFG_SIZE - 2), 0xabcd);
	vpcie_cfg_set_wmask(cfg, 0x81, 4, 0x00ff00ffu);
	assert_int_equal(cfg->wmask[0x81], 0xff);
	assert_int_equal(cfg->wmask[0x82], 0x00);
	assert_int_equal(cfg->wmask[0x83], 0xff);
	hwrite(cfg, 0x81, 4, 0xaabbccddu);
	assert_int_equal(vpcie_cfg_get32(cfg, 0x81), 0x11bb33ddu);
	free(cfg);
}

static void test_out_of_range(void **state)
{
	(void)state;
	struct vpcie_cfg *cfg = new_cfg();
	uint8_t buf[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	assert_int_equal(vpcie_cfg_read(cfg, VPCIE_CFG_SIZE, buf, 1), -EINVAL);
	assert_int_equal(vpcie_cfg_read(cfg, VPCIE_CFG_SIZE - 3, buf, 4), -EINVAL);
	assert_int_equal(vpcie_cfg_read(cfg, 0xffffffffu, buf, 4), -EINVAL);
	assert_int_equal(vpcie_cfg_read(cfg, 0, buf, VPCIE_CFG_SIZE + 1), -EINVAL);
	assert_int_equal(vpcie_cfg_read(cfg, 4, buf, SIZE_MAX), -EINVAL);
	assert_int_equal(vpcie_cfg_read(cfg, VPCIE_CFG_SIZE - 4, buf, 4), 0);
	assert_int_equal(vpcie_cfg_read(cfg, 0, NULL, 4), -EINVAL);

	memset(buf, 0xff, sizeof(buf));
	vpcie_cfg_set_wmask(cfg, VPCIE_CFG_SIZE - 4, 4, 0xffffffffu);
	assert_int_equal(vpcie_cfg_write(cfg, VPCIE_CFG_SIZE - 2, buf, 4), -EINVAL);
	/* A rejected write changes nothing, not even the part in range. */
	assert_int_equal(vpcie_cfg_get32(cfg, VPCIE_CFG_SIZE - 4), 0);
	assert_int_equal(vpcie_cfg_write(cfg, 0xfffffffeu, buf, 4), -EINVAL);
	assert_int_equal(vpcie_cfg_write(cfg, 0, buf, SIZE_MAX), -EINVAL);
	assert_int_equal(vpcie_cfg_write(cfg, 0, NULL, 1), -EINVAL);
	assert_int_equal(vpcie_cfg_write(cfg, VPCIE_CFG_SIZE - 4, buf, 4), 0);
	assert_int_equal(vpcie_cfg_get32(cfg, VPCIE_CFG_SIZE - 4), 0xffffffffu);

	/* Raw accessors ignore out-of-range offsets. */
	assert_int_equal(vpcie_cfg_get32(cfg, VPCIE_CFG_SIZE - 2), 0);
	assert_int_equal(vpcie_cfg_get8(cfg, VPCIE_CFG_SIZE), 0);
	vpcie_cfg_set32(cfg, VPCIE_CFG_SIZE - 1, 0);
	vpcie_cfg_set_wmask(cfg, VPCIE_CFG_SIZE - 1, 2, 0);
	vpcie_cfg_set_wmask(cfg, 0x80, 3, 0xffffff);
	assert_int_equal(cfg->wmask[0x80], 0);
	assert_int_equal(vpcie_cfg_get32(cfg, VPCIE_CFG_SIZE - 4), 0xffffffffu);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_values),
		cmocka_unit_test(test_id_registers_readonly),
		cmocka_unit_test(test_command_writable_bits),
		cmocka_unit_test(test_status_rw1c),
		cmocka_unit_test(test_bar_mem32_sizing),
		cmocka_unit_test(test_bar_mem64_sizing),
		cmocka_unit_test(test_bar_prefetch_bit),
		cmocka_unit_test(test_bar_io_sizing),
		cmocka_unit_test(test_bar_unused_reads_zero),
		cmocka_unit_test(test_bar_errors),
		cmocka_unit_test(test_bar_addr),
		cmocka_unit_test(test_rom),
		cmocka_unit_test(test_cap_chain),
		cmocka_unit_test(test_pm_cap),
		cmocka_unit_test(test_pcie_cap),
		cmocka_unit_test(test_msi_cap),
		cmocka_unit_test(test_msix_cap),
		cmocka_unit_test(test_ext_caps_chain),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_walker_loop),
		cmocka_unit_test(test_walker_bounds),
		cmocka_unit_test(test_walker_fuzz),
		cmocka_unit_test(test_walker_long_ext_chain),
		cmocka_unit_test(test_unaligned_access),
		cmocka_unit_test(test_out_of_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
