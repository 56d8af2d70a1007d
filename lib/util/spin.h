/* SPDX-License-Identifier: MIT */
/*
 * Adaptive polling: after handling a message, keep polling (without blocking)
 * for a short window before going to sleep, because on virtual machines a
 * blocked process is woken slowly (tens of microseconds) when its vCPU idles.
 *
 * The window tunes itself from the gaps between becoming idle and the peer's
 * next message: a gap the window would have caught (<= max) sets the window
 * to twice that gap; a longer gap halves it, so a quiet peer costs almost
 * nothing. The window never exceeds max, and max 0 turns polling off.
 */
#ifndef VPCIE_SPIN_H
#define VPCIE_SPIN_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu.h"
#include "util.h"

#define VPCIE_SPIN_MIN_NS 1000u

struct vpcie_spin {
	uint64_t max_ns;
	uint64_t window_ns;
	uint64_t idle_since;  /* when we last became idle; 0: not measuring */
	uint64_t spins_hit, spins_missed;
};

static inline void vpcie_spin_init(struct vpcie_spin *s, uint64_t max_ns)
{
	s->max_ns = max_ns;
	s->window_ns = max_ns;
	s->idle_since = 0;
	s->spins_hit = s->spins_missed = 0;
}

/* The peer's next message arrived gap_ns after we became idle. */
static inline void vpcie_spin_observe(struct vpcie_spin *s, uint64_t gap_ns)
{
	if (!s->max_ns)
		return;
	if (gap_ns <= s->max_ns) {
		uint64_t w = 2 * gap_ns;

		s->window_ns = w < VPCIE_SPIN_MIN_NS ? VPCIE_SPIN_MIN_NS : w > s->max_ns ? s->max_ns : w;
	} else {
		s->window_ns /= 2;
		if (s->window_ns < VPCIE_SPIN_MIN_NS)
			s->window_ns = VPCIE_SPIN_MIN_NS;
	}
}

/*
 * Poll shared memory until a window ends: ready(ctx) is a memory load (no
 * system call) made every iteration; look(ctx) checks the fds (a zero-timeout
 * poll) every look_ns, and a non-zero answer ends the spin. The clock costs
 * more than a look at memory, so it is read every 16 iterations only.
 * Returns what look() answered, or 0 (ready or the window ended); *ready
 * tells which, *seen_at about when memory had something.
 */
static inline int vpcie_spin_watch(bool (*ready_fn)(void *ctx), int (*look)(void *ctx),
				   void *ctx, uint64_t now, uint64_t until, uint64_t look_ns,
				   bool *ready, uint64_t *seen_at)
{
	uint64_t next_look = now + look_ns;

	*ready = false;
	for (unsigned i = 1;; i++) {
		if (ready_fn(ctx)) {
			*ready = true;
			if (seen_at)
				*seen_at = now;
			return 0;
		}
		if (i % 16 == 0) {
			now = vpcie_now_ns();
			if (now >= next_look) {
				int rc = look(ctx);

				if (rc != 0)
					return rc;
				next_look = now + look_ns;
			}
			if (now >= until)
				return 0;
		}
		vpcie_cpu_relax();
	}
}

#endif
