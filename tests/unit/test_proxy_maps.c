/* SPDX-License-Identifier: MIT */
/* `vpcie proxy`'s table of client DMA memory (tools/vpcie/proxy_maps.c):
 * only fds sealed against shrinking are mapped, windows are checked
 * against the file, overlaps refused, lookups bounded by one window.
 * And its log of config-space writes (tools/vpcie/proxy_cfglog.c): one
 * record per shape, the newest last, bounded. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../tools/vpcie/proxy_priv.h"

#define RW (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)

static int memfd(size_t size, bool seal)
{
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (seal)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	return fd;
}

static void sealed_is_mapped(void **state)
{
	struct proxy_maps t = {0};
	struct vpcie_dma_map m = {.argsz = sizeof(m), .flags = RW, .offset = 4096 + 8,
				  .addr = 0x10000, .size = 4096};
	int fd = memfd(3 * 4096, true);
	bool unsealed;
	uint8_t *p;

	(void)state;
	assert_int_equal(pwrite(fd, "hello", 5, 4096 + 8), 5);
	assert_int_equal(proxy_maps_add(&t, &m, dup(fd), &unsealed), 0);
	assert_false(unsealed);
	p = proxy_maps_find(&t, 0x10000, 5, false);
	assert_non_null(p);
	assert_memory_equal(p, "hello", 5); /* offset honoured, unaligned too */
	memcpy(proxy_maps_find(&t, 0x10ffc, 4, true), "abcd", 4);
	char buf[4];
	assert_int_equal(pread(fd, buf, 4, 4096 + 8 + 0xffc), 4);
	assert_memory_equal(buf, "abcd", 4);
	/* past the window, or straddling its end: relayed, not served */
	assert_null(proxy_maps_find(&t, 0x10ffc, 5, false));
	assert_null(proxy_maps_find(&t, 0x11000, 1, false));
	assert_null(proxy_maps_find(&t, 0xffff, 2, false));
	assert_int_equal(proxy_maps_remove(&t, 0x10000, 4095), -ENOENT);
	assert_int_equal(proxy_maps_remove(&t, 0x10000, 4096), 0);
	assert_null(proxy_maps_find(&t, 0x10000, 1, false));
	proxy_maps_clear(&t);
	close(fd);
}

static void unsealed_is_relayed(void **state)
{
	struct proxy_maps t = {0};
	struct vpcie_dma_map m = {.argsz = sizeof(m), .flags = RW, .addr = 0, .size = 4096};
	bool unsealed;

	(void)state;
	/* the client could truncate it under our mapping: never mapped */
	assert_int_equal(proxy_maps_add(&t, &m, memfd(4096, false), &unsealed), 0);
	assert_true(unsealed);
	assert_null(proxy_maps_find(&t, 0, 1, false));
	/* no fd at all (private RAM): recorded, relayed */
	m.addr = 4096;
	assert_int_equal(proxy_maps_add(&t, &m, -1, &unsealed), 0);
	assert_false(unsealed);
	assert_null(proxy_maps_find(&t, 4096, 1, false));
	assert_int_equal(t.n, 2u);
	proxy_maps_clear(&t);
}

static void bad_windows_refused(void **state)
{
	struct proxy_maps t = {0};
	struct vpcie_dma_map m = {.argsz = sizeof(m), .flags = RW, .addr = 0x1000, .size = 8192};
	bool unsealed;

	(void)state;
	/* a file smaller than the window would SIGBUS the proxy */
	assert_int_equal(proxy_maps_add(&t, &m, memfd(4096, true), &unsealed), -EINVAL);
	m.offset = 8192;
	assert_int_equal(proxy_maps_add(&t, &m, memfd(8192, true), &unsealed), -EINVAL);
	m.offset = 0;
	m.size = 0;
	assert_int_equal(proxy_maps_add(&t, &m, -1, &unsealed), -EINVAL);
	m.size = 2;
	m.addr = UINT64_MAX;
	assert_int_equal(proxy_maps_add(&t, &m, -1, &unsealed), -EINVAL); /* wraps */
	m.addr = 0x1000;
	m.flags = 0x80;
	assert_int_equal(proxy_maps_add(&t, &m, -1, &unsealed), -EINVAL);
	m.flags = VFIO_DMA_MAP_FLAG_READ;
	m.size = 4096;
	assert_int_equal(proxy_maps_add(&t, &m, memfd(4096, true), &unsealed), 0);
	/* read-only to the device: a DMA_WRITE is not served here */
	assert_null(proxy_maps_find(&t, 0x1000, 1, true));
	assert_non_null(proxy_maps_find(&t, 0x1000, 1, false));
	m.addr = 0x1800;
	assert_int_equal(proxy_maps_add(&t, &m, -1, &unsealed), -EEXIST);
	m.addr = 0;
	assert_int_equal(proxy_maps_add(&t, &m, -1, &unsealed), 0); /* adjacent is fine */
	assert_int_equal(t.n, 2u);
	proxy_maps_clear(&t);
	assert_int_equal(t.n, 0u);
}

static void cfglog_newest_last(void **state)
{
	struct proxy_cfglog l = {0};
	uint16_t cmd = 0x0006;
	uint32_t bar = 0xfe000000, v;
	uint8_t b = 0x42;

	(void)state;
	assert_int_equal(proxy_cfglog_add(&l, 0x04, &cmd, 2), 0);  /* command */
	assert_int_equal(proxy_cfglog_add(&l, 0x10, &bar, 4), 0);  /* BAR0 */
	assert_int_equal(proxy_cfglog_add(&l, 0x05, &b, 1), 0);    /* a byte of command */
	cmd = 0x0406;
	assert_int_equal(proxy_cfglog_add(&l, 0x04, &cmd, 2), 0);  /* the same shape again */
	assert_int_equal(l.n, 3u);
	/* replayed in this order, each byte ends with its newest value */
	assert_int_equal(l.v[0].off, 0x10);
	assert_int_equal(l.v[1].off, 0x05);
	assert_int_equal(l.v[2].off, 0x04);
	assert_int_equal(l.v[2].len, 2);
	memcpy(&cmd, l.v[2].data, 2);
	assert_int_equal(cmd, 0x0406);
	memcpy(&v, l.v[0].data, 4);
	assert_int_equal(v, 0xfe000000);
	/* outside config space, or empty: refused */
	assert_int_equal(proxy_cfglog_add(&l, 4095, &bar, 2), -EINVAL);
	assert_int_equal(proxy_cfglog_add(&l, 4096, &b, 1), -EINVAL);
	assert_int_equal(proxy_cfglog_add(&l, 0, &b, 0), -EINVAL);
	assert_int_equal(proxy_cfglog_add(&l, UINT64_MAX, &b, 1), -EINVAL);
	assert_int_equal(proxy_cfglog_add(&l, 0, &b, UINT64_MAX), -EINVAL);
	assert_int_equal(l.n, 3u);
	proxy_cfglog_clear(&l);
	assert_int_equal(l.n, 0u);
	assert_null(l.v);
}

static void cfglog_bounded(void **state)
{
	struct proxy_cfglog l = {0};
	uint8_t b[2] = {1, 2};

	(void)state;
	/* distinct shapes: byte writes at 4096 offsets, then one more */
	for (unsigned off = 0; off < PROXY_CFG_SPACE; off++)
		assert_int_equal(proxy_cfglog_add(&l, off, b, 1), 0);
	assert_int_equal(l.n, PROXY_MAX_CFGW);
	assert_false(l.overflowed);
	assert_int_equal(proxy_cfglog_add(&l, 0, b, 2), 0);
	assert_int_equal(l.n, PROXY_MAX_CFGW);
	assert_true(l.overflowed);
	assert_int_equal(l.v[0].off, 1); /* the oldest went */
	assert_int_equal(l.v[l.n - 1].len, 2);
	proxy_cfglog_clear(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sealed_is_mapped),
		cmocka_unit_test(unsealed_is_relayed),
		cmocka_unit_test(bad_windows_refused),
		cmocka_unit_test(cfglog_newest_last),
		cmocka_unit_test(cfglog_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
