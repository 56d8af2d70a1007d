// SPDX-License-Identifier: MIT
/* The transaction trace (vpcie/trace.h): records written, appended by
 * several writers, read back, merged in time order; bad files refused. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <vpcie/trace.h>

struct fixture {
	char dir[64];
	char path[96];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	strcpy(fx->dir, "/tmp/vpcie-test-trace.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/t.bin", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd))
		return -1;
	free(fx);
	return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	uint8_t *buf;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static int parse_file(struct vpcie_trace_set *set, const char *path, char *err, size_t errlen)
{
	size_t len;
	uint8_t *buf = slurp(path, &len);
	int ret = vpcie_trace_parse(set, 0, buf, len, err, errlen);

	free(buf);
	return ret;
}

static void test_roundtrip(void **state)
{
	struct fixture *fx = *state;
	struct vpcie_trace_set set = {0};
	struct vpcie_trace *tr;
	const uint32_t cmd = 0x0406;
	const uint64_t big = 0x1122334455667788ull;
	uint64_t t0;
	char err[128];

	assert_int_equal(vpcie_trace_open(&tr, fx->path, VPCIE_TRACE_SIDE_DEVICE,
					  "a-name-longer-than-sixteen"), 0);
	t0 = vpcie_trace_now();
	vpcie_trace_access(tr, t0, 7, 4, &cmd, 2, VPCIE_TRACE_F_WRITE, 0);
	vpcie_trace_access(tr, 0, 2, 0x100, &big, 64, VPCIE_TRACE_F_RING, 0);
	vpcie_trace_access(tr, 0, 0, 8, &big, 4, 0, -EINVAL); /* failed: no data */
	vpcie_trace_dma(tr, 0, 0x10000, 1 << 20, VPCIE_TRACE_F_MSG, 0);
	vpcie_trace_event(tr, 0, VPCIE_TRACE_IRQ, 2, 5, 1, VPCIE_TRACE_F_RING, 0, 0, NULL);
	vpcie_trace_fault(tr, 0, 0x40, "drop the reply of this REGION_READ, which is a long text");
	vpcie_trace_close(tr);

	assert_int_equal(parse_file(&set, fx->path, err, sizeof(err)), 0);
	assert_int_equal(set.nsrcs, 1);
	assert_int_equal(set.srcs[0].pid, (uint32_t)getpid());
	assert_int_equal(set.srcs[0].side, VPCIE_TRACE_SIDE_DEVICE);
	assert_string_equal(set.srcs[0].name, "a-name-longer-th"); /* 16 bytes kept */
	assert_int_equal(set.nevs, 6);

	const struct vpcie_trace_rec *r = &set.evs[0].rec;

	assert_int_equal(r->type, VPCIE_TRACE_ACCESS);
	assert_int_equal(r->ts_ns, t0);
	assert_int_equal(r->index, 7);
	assert_int_equal(r->addr, 4);
	assert_int_equal(r->len, 2);
	assert_int_equal(r->flags, VPCIE_TRACE_F_WRITE);
	assert_memory_equal(r->data, "\x06\x04\0", 3);
	r = &set.evs[1].rec; /* 64 bytes: the first 8 inline */
	assert_int_equal(r->len, 64);
	assert_memory_equal(r->data, &big, 8);
	assert_int_equal(r->data[8], 0);
	r = &set.evs[2].rec;
	assert_int_equal(r->status, -EINVAL);
	assert_int_equal(r->data[0], 0);
	r = &set.evs[3].rec;
	assert_int_equal(r->type, VPCIE_TRACE_DMA);
	assert_int_equal(r->addr, 0x10000);
	assert_int_equal(r->len, 1 << 20);
	assert_int_equal(r->flags, VPCIE_TRACE_F_MSG);
	r = &set.evs[4].rec;
	assert_int_equal(r->type, VPCIE_TRACE_IRQ);
	assert_int_equal(r->index, 2);
	assert_int_equal(r->addr, 5);
	r = &set.evs[5].rec;
	assert_int_equal(r->type, VPCIE_TRACE_FAULT);
	assert_int_equal(r->addr, 0x40);
	assert_memory_equal(r->data, "drop the reply of this REGION_READ, ", VPCIE_TRACE_TEXT_MAX);
	for (size_t i = 1; i < set.nevs; i++)
		assert_true(set.evs[i].rec.ts_ns >= set.evs[i - 1].rec.ts_ns);
	assert_string_equal(vpcie_trace_type_name(VPCIE_TRACE_DMA), "DMA");
	assert_string_equal(vpcie_trace_type_name(0), "?");
	vpcie_trace_set_free(&set);
}

/* Two handles (a device and a host) append to one file; more records than
 * the buffer holds are written as they come; the merge is in time order. */
static void test_append_and_merge(void **state)
{
	struct fixture *fx = *state;
	struct vpcie_trace_set set = {0};
	struct vpcie_trace *dev, *host;
	char err[128];
	size_t ndev = 0;

	assert_int_equal(vpcie_trace_open(&dev, fx->path, VPCIE_TRACE_SIDE_DEVICE, "dev"), 0);
	assert_int_equal(vpcie_trace_open(&host, fx->path, VPCIE_TRACE_SIDE_HOST, "host"), 0);
	for (unsigned i = 0; i < 10000; i++) {
		vpcie_trace_access(host, 0, 0, i, &i, 4, 0, 0);
		vpcie_trace_access(dev, 0, 0, i, &i, 4, 0, 0);
		if (i % 1000 == 0)
			vpcie_trace_tick(dev);
	}
	vpcie_trace_close(host); /* host's chunks first in the file's tail */
	vpcie_trace_close(dev);
	assert_int_equal(parse_file(&set, fx->path, err, sizeof(err)), 0);
	assert_int_equal(set.nsrcs, 2);
	assert_int_equal(set.nevs, 20000);
	assert_int_equal(vpcie_trace_sort(&set), 0);
	for (size_t i = 1; i < set.nevs; i++)
		assert_true(set.evs[i].rec.ts_ns >= set.evs[i - 1].rec.ts_ns);
	/* Each writer's records stay in their order. */
	for (unsigned side = VPCIE_TRACE_SIDE_DEVICE; side <= VPCIE_TRACE_SIDE_HOST; side++) {
		uint64_t next = 0;

		for (size_t i = 0; i < set.nevs; i++) {
			if (set.srcs[set.evs[i].src].side != side)
				continue;
			assert_int_equal(set.evs[i].rec.addr, next);
			next++;
			ndev += side == VPCIE_TRACE_SIDE_DEVICE;
		}
		assert_int_equal(next, 10000);
	}
	assert_int_equal(ndev, 10000);
	vpcie_trace_set_free(&set);
}

static void test_open_errors(void **state)
{
	struct fixture *fx = *state;
	struct vpcie_trace *tr = (void *)1;
	char path[128];

	assert_int_equal(vpcie_trace_open(&tr, fx->path, 3, "x"), -EINVAL);
	assert_null(tr);
	assert_int_equal(vpcie_trace_open(&tr, "", VPCIE_TRACE_SIDE_HOST, "x"), -EINVAL);
	snprintf(path, sizeof(path), "%s/no/such/t.bin", fx->dir);
	assert_int_equal(vpcie_trace_open(&tr, path, VPCIE_TRACE_SIDE_HOST, "x"), -ENOENT);
	vpcie_trace_close(NULL);
	assert_int_equal(vpcie_trace_flush(NULL), 0);
	/* %p: one file per process. */
	snprintf(path, sizeof(path), "%s/t.%%p.bin", fx->dir);
	assert_int_equal(vpcie_trace_open(&tr, path, VPCIE_TRACE_SIDE_HOST, NULL), 0);
	vpcie_trace_close(tr);
	snprintf(path, sizeof(path), "%s/t.%ld.bin", fx->dir, (long)getpid());
	assert_int_equal(access(path, F_OK), 0);
}

/* Every kind of damage: -EPROTO, a message with the offset, nothing added. */
static void test_bad_files(void **state)
{
	struct fixture *fx = *state;
	struct vpcie_trace_set set = {0};
	struct vpcie_trace *tr;
	uint8_t *good, *bad;
	size_t len;
	char err[128];
	struct {
		size_t off;     /* byte to change (or cut here when value < 0) */
		int value;
		const char *msg;
	} cases[] = {
		{0, 'X', "offset 0: not a vpcie trace chunk"},
		{8, 2, "offset 0: unsupported trace version"},
		{12, 81, "offset 0: unexpected header or record size"},
		{14, 3, "offset 0: unknown side"},
		{15, 2, "offset 0: unknown clock"},
		{40, 1, "offset 0: reserved field not zero"},
		{48 + 80 + 28, 99, "offset 128: unknown record type"},
		{48 + 30, 0x80, "offset 48: unknown record flags"},
		{20, 0xff, "offset 48: chunk cut short"},
		{47, -1, "offset 0: truncated chunk header"},
		{48 + 79, -1, "offset 48: chunk cut short"},
	};

	assert_int_equal(vpcie_trace_open(&tr, fx->path, VPCIE_TRACE_SIDE_HOST, "h"), 0);
	vpcie_trace_dma(tr, 0, 1, 2, 0, 0);
	vpcie_trace_dma(tr, 0, 3, 4, 0, 0);
	vpcie_trace_close(tr);
	good = slurp(fx->path, &len);
	assert_int_equal(len, 48 + 2 * 80);
	bad = malloc(len);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = len;

		memcpy(bad, good, len);
		if (cases[i].value < 0)
			n = cases[i].off;
		else
			bad[cases[i].off] = (uint8_t)cases[i].value;
		err[0] = 0;
		assert_int_equal(vpcie_trace_parse(&set, 0, bad, n, err, sizeof(err)), -EPROTO);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: '%s', want '%s'", i, err, cases[i].msg);
		assert_int_equal(set.nevs, 0);
		assert_int_equal(set.nsrcs, 0);
	}
	/* Empty is fine; a good file after a refused one parses. */
	assert_int_equal(vpcie_trace_parse(&set, 0, good, 0, err, sizeof(err)), 0);
	assert_int_equal(vpcie_trace_parse(&set, 1, good, len, err, sizeof(err)), 0);
	assert_int_equal(set.nevs, 2);
	vpcie_trace_set_free(&set);
	free(bad);
	free(good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_and_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
