/* SPDX-License-Identifier: MIT */
/*
 * Structures a program fills in and hands to the library (options, callback
 * tables, descriptions) may gain fields at their end in later versions. The
 * public headers' macros pass the size the program was compiled with, and
 * the library takes the structure into its own layout here. Not installed.
 */
#ifndef VPCIE_ABI_H
#define VPCIE_ABI_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Copy the program's structure (theirs_size bytes) over ours: the common
 * prefix is copied and fields the program does not know keep what ours held
 * (zero or defaults). A program built against a newer header that set a
 * field this library does not know is refused with -EINVAL rather than
 * silently getting less than it asked for.
 */
static inline int vpcie_abi_copy(void *ours, size_t ours_size, const void *theirs,
				 size_t theirs_size)
{
	const uint8_t *t = theirs;

	if (theirs_size > ours_size) {
		for (size_t i = ours_size; i < theirs_size; i++)
			if (t[i])
				return -EINVAL;
		theirs_size = ours_size;
	}
	memcpy(ours, theirs, theirs_size);
	return 0;
}

/* Hand our defaults to a program's structure of theirs_size bytes. */
static inline void vpcie_abi_fill(void *theirs, size_t theirs_size, const void *ours,
				  size_t ours_size)
{
	memset(theirs, 0, theirs_size);
	memcpy(theirs, ours, theirs_size < ours_size ? theirs_size : ours_size);
}

#endif
