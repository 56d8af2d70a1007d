/* SPDX-License-Identifier: MIT */
/*
 * Ordering between posted writes and accesses through a BAR's mapping, on
 * every transport: the host runtime drives vpcie-sample's BAR2 (shared
 * memory, mapped by the host) and checks, in a loop, that
 *
 *  - a posted write, then vpcie_host_bar_read32() of the same mapped offset,
 *    reads what was written;
 *  - a posted write, vpcie_host_flush(), then a load through the raw mapped
 *    pointer, reads what was written;
 *  - a posted write, then vpcie_host_bar_write32() of the same mapped offset
 *    (a store through the mapping): the store is not overtaken, a later
 *    read sees it and not the posted value.
 *
 * Each runs on the socket and on the ring transport, with adaptive polling
 * on and off. $VPCIE_ORDER_ITERS sets the loop count (default 20000; the
 * acceptance run is 100000). Every read-back must be right: the count of
 * correct ones is printed and must equal the loop count.
 *
 * argv[1] (or $VPCIE_SAMPLE) is the vpcie-sample program.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vpcie/host.h>

#include "sample_regs.h"

/* Mapped offsets used: BAR2's first page is trapped, the rest is memory. */
#define ORDER_BASE 0x10000u
#define ORDER_SPREAD 64u

static const char *sample_prog;
static unsigned long iters = 20000;

struct transport {
	const char *name;
	bool ring;
	unsigned poll_us;
};

/* Indices 0-3 name the tests (e.g. posted_then_bar_read/1 is the ring). */
static const struct transport transports[] = {
	{"socket", false, 50},
	{"ring", true, 50},
	{"socket, polling off", false, 0},
	{"ring, polling off", true, 0},
};

struct fixture {
	char dir[64];
	char sock[96];
	const struct transport *t;
	pid_t pid;
	struct vpcie_host *h;
	volatile uint8_t *bar2;
};

/* Start vpcie-sample and connect over the transport in *state. */
static int setup(void **state)
{
	const struct transport *t = *state;
	struct fixture *f = calloc(1, sizeof(*f));
	struct vpcie_host_opts o;
	int err = 0;

	assert_non_null(f);
	f->t = t;
	strcpy(f->dir, "/tmp/vpcie-order-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/dev.sock", f->dir);
	f->pid = fork();
	if (f->pid == 0) {
		execl(sample_prog, sample_prog, "--socket", f->sock, (char *)NULL);
		_exit(127);
	}
	assert_true(f->pid > 0);
	vpcie_host_opts_defaults(&o);
	o.ring = t->ring;
	o.poll_max_us = t->poll_us;
	f->h = vpcie_host_open(f->sock, &o, &err);
	if (!f->h)
		fprintf(stderr, "vpcie_host_open(%s): %s\n", f->sock, strerror(-err));
	assert_non_null(f->h);
	assert_int_equal(vpcie_host_ring(f->h), t->ring);
	assert_int_equal(vpcie_host_assign_bars(f->h, 0xe0000000ull, 0xc000), 0);
	f->bar2 = vpcie_host_region_map(f->h, 2);
	assert_non_null(f->bar2);
	for (unsigned k = 0; k < ORDER_SPREAD; k++)
		assert_true(vpcie_host_region_is_mapped(f->h, 2, ORDER_BASE + 4 * k, 4));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int status = 0;

	vpcie_host_close(f->h);
	kill(f->pid, SIGTERM);
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	assert_true(WIFEXITED(status));
	rmdir(f->dir);
	free(f);
	return 0;
}

static uint64_t order_off(unsigned long i)
{
	return ORDER_BASE + 4 * (i % ORDER_SPREAD);
}

static uint32_t order_val(unsigned long i, uint32_t salt)
{
	return (uint32_t)(i * 2654435761u) ^ salt;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The time is for information only (the machine may be busy). */
static void report(const struct transport *t, const char *what, unsigned long good,
		   uint64_t t0)
{
	printf("[ order    ] %-20s %-30s %lu of %lu read-backs correct (%.1f us each)\n",
	       t->name, what, good, iters, (double)(now_ns() - t0) / 1e3 / (double)iters);
	fflush(stdout);
}

/* Posted write, then vpcie_host_bar_read32() through the mapping. */
static void posted_then_bar_read(void **state)
{
	struct fixture *f = *state;
	unsigned long good = 0;
	uint64_t t0 = now_ns();

	for (unsigned long i = 0; i < iters; i++) {
		uint32_t v = order_val(i, 0xa5a50000u), got;
		int err = -1;

		assert_int_equal(vpcie_host_region_write_posted(f->h, 2, order_off(i), &v, 4), 0);
		got = vpcie_host_bar_read32(f->h, 2, order_off(i), &err);
		assert_int_equal(err, 0);
		good += got == v;
	}
	report(f->t, "posted write, bar_read32", good, t0);
	assert_int_equal(good, iters);
}

/* Posted write, vpcie_host_flush(), then a load through our own pointer. */
static void posted_flush_then_load(void **state)
{
	struct fixture *f = *state;
	unsigned long good = 0;
	uint64_t t0 = now_ns();

	for (unsigned long i = 0; i < iters; i++) {
		uint32_t v = order_val(i, 0x3c3c0000u), got;

		assert_int_equal(vpcie_host_region_write_posted(f->h, 2, order_off(i), &v, 4), 0);
		assert_int_equal(vpcie_host_flush(f->h), 0);
		got = *(volatile uint32_t *)(f->bar2 + order_off(i));
		good += got == v;
	}
	report(f->t, "posted write, flush, raw load", good, t0);
	assert_int_equal(good, iters);
}

/* Posted write of a, then a store of b through the mapping: b must stay. */
static void posted_then_bar_write(void **state)
{
	struct fixture *f = *state;
	unsigned long good = 0;
	uint64_t t0 = now_ns();

	for (unsigned long i = 0; i < iters; i++) {
		uint32_t a = order_val(i, 0x11110000u), b = order_val(i, 0x22220000u), got = 0;

		assert_int_equal(vpcie_host_region_write_posted(f->h, 2, order_off(i), &a, 4), 0);
		assert_int_equal(vpcie_host_bar_write32(f->h, 2, order_off(i), b), 0);
		/* A message read is ordered behind everything sent before it. */
		assert_int_equal(vpcie_host_region_read(f->h, 2, order_off(i), &got, 4), 0);
		good += got == b;
	}
	report(f->t, "posted write, bar_write32", good, t0);
	assert_int_equal(good, iters);
}

#define TEST(fn, i)                                                                           \
	{.name = #fn "/" #i, .test_func = fn, .setup_func = setup, .teardown_func = teardown,  \
	 .initial_state = (void *)&transports[i]}
#define TESTS(fn) TEST(fn, 0), TEST(fn, 1), TEST(fn, 2), TEST(fn, 3)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TESTS(posted_then_bar_read),
		TESTS(posted_flush_then_load),
		TESTS(posted_then_bar_write),
	};
	const char *n = getenv("VPCIE_ORDER_ITERS");

	sample_prog = argc > 1 ? argv[1] : getenv("VPCIE_SAMPLE");
	if (!sample_prog) {
		fprintf(stderr, "usage: %s PATH-TO-vpcie-sample\n", argv[0]);
		return 2;
	}
	if (n && *n) {
		char *end;

		iters = strtoul(n, &end, 10);
		if (*end || !iters) {
			fprintf(stderr, "VPCIE_ORDER_ITERS: not a positive count: %s\n", n);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
