/* SPDX-License-Identifier: MIT */
/*
 * Register operations in the syntax of pciutils' setpci, shared by
 * `vpcie setpci` (config space) and `vpcie mmio` (BARs):
 *
 *   ADDR[.W][@N][=VALUE[,VALUE...]]     VALUE: DATA or DATA:MASK
 *
 * All numbers are hexadecimal (a 0x prefix is accepted). W is the access
 * width, B/W/L (1, 2, 4 bytes) and for BARs Q (8), case-insensitive. @N
 * picks the N-th instance of a capability (setpci only). Without '=' the
 * operation is a read, printed in hex, one value per line; with values, the
 * i-th value is written at ADDR + i * width, and DATA:MASK changes only the
 * bits set in MASK (read-modify-write). ADDR itself is left to the caller:
 * a register name for setpci, BAR:OFFSET for mmio.
 */
#ifndef VPCIE_TOOL_REGOP_H
#define VPCIE_TOOL_REGOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct regop_val {
	uint64_t data; /* already masked */
	uint64_t mask; /* bits to change; all ones: a plain write */
};

struct regop {
	const char *arg;        /* the argument as given, for messages */
	char addr[64];          /* the text before '.', '@' and '=' */
	unsigned width;         /* bytes: 1, 2, 4 or 8; 0 if not given */
	long instance;          /* @N; -1 if not given */
	size_t nval;            /* 0: a read */
	struct regop_val *val;
};

/*
 * Parse arg. widths lists the width letters allowed (lower case, e.g.
 * "bwl"); with_instance allows @N. Returns 0, or -1 with a message for the
 * user in why (the operation is then empty: regop_free is still fine).
 */
int regop_parse(struct regop *op, const char *arg, const char *widths, bool with_instance,
		char *why, size_t whylen);

/* Check that every value and mask fits width bytes. 0, or -1 with why. */
int regop_check_values(const struct regop *op, unsigned width, char *why, size_t whylen);

void regop_free(struct regop *op);

/* A hexadecimal number (optional 0x, nothing else) making up all of
 * [s, s + len). 0 or -1. */
int regop_parse_hex(const char *s, size_t len, uint64_t *out);

/* Accesses of 1, 2, 4 or 8 bytes at an address; 0 or -errno. */
struct regop_io {
	int (*read)(void *ctx, uint64_t addr, unsigned width, uint64_t *v);
	int (*write)(void *ctx, uint64_t addr, unsigned width, uint64_t v);
	void *ctx;
};

/*
 * Carry out op at addr with width bytes: a read prints the value on out as
 * "%0*x" (with "0x" in front if prefix) and a newline. Stops at the first
 * failed access: returns its -errno and its address in *fail_addr.
 */
int regop_run(const struct regop *op, uint64_t addr, unsigned width,
	      const struct regop_io *io, FILE *out, bool prefix, uint64_t *fail_addr);

/* Little-endian bytes <-> value, for width 1, 2, 4 or 8 (PCI is little-endian). */
uint64_t regop_get_le(const uint8_t *buf, unsigned width);
void regop_put_le(uint8_t *buf, unsigned width, uint64_t v);

/* "b"/"w"/"l"/"q" for 1/2/4/8 bytes. */
char regop_width_letter(unsigned width);

#endif
