/* SPDX-License-Identifier: MIT */
/* The CPU hint for busy-wait loops (header only; not installed). */
#ifndef VPCIE_CPU_H
#define VPCIE_CPU_H

/* In every iteration of a spin loop: lets the sibling hyperthread run and
 * saves power (x86 PAUSE, arm64 YIELD); a compiler barrier everywhere. */
static inline void vpcie_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#endif
