/* SPDX-License-Identifier: MIT */
/* Small internal helpers shared by the library's modules (not installed). */
#ifndef VPCIE_UTIL_H
#define VPCIE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t vpcie_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Deadline for a timeout in ms; UINT64_MAX for "forever" (timeout < 0). */
static inline uint64_t vpcie_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : vpcie_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* Milliseconds left until deadline, for poll(): -1 forever, 0 if passed. */
static inline int vpcie_ms_left(uint64_t deadline)
{
	uint64_t now;

	if (deadline == UINT64_MAX)
		return -1;
	now = vpcie_now_ns();
	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999u) / 1000000u);
}

/* [off, off+len) inside [0, size), without overflow. */
static inline bool vpcie_range_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* Non-empty, non-wrapping ranges [a, a+alen) and [b, b+blen) share a byte. */
static inline bool vpcie_ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* [a, a+alen) inside [base, base+size), without overflow. */
static inline bool vpcie_range_within(uint64_t a, uint64_t alen, uint64_t base, uint64_t size)
{
	return a >= base && vpcie_range_ok(a - base, alen, size);
}

/* $VPCIE_POLL_US if set to a number (the adaptive polling cap), else def. */
unsigned vpcie_env_poll_us(unsigned def);

/* A memfd of size bytes, sealed against shrinking and growing (memfd.c).
 * Returns the fd or -errno. */
int vpcie_memfd_sized(const char *name, size_t size);

/* Whether a peer's fd is sealed against shrinking (so mapping it is safe). */
bool vpcie_fd_size_sealed(int fd);
/* Whether mapping a peer's fd cannot fault on access, whatever the peer does
 * with it: sealed against shrinking and not on hugetlbfs (memfd.c). */
bool vpcie_fd_map_safe(int fd);

#endif
