/* SPDX-License-Identifier: MIT */
/* setpci-style register operations: parsing and carrying them out. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "regop.h"

static int fail(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

int regop_parse_hex(const char *s, size_t len, uint64_t *out)
{
	char buf[24], *end;
	size_t skip = len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 2 : 0;

	if (len == 0 || len - skip == 0 || len >= sizeof(buf))
		return -1;
	for (size_t i = skip; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 16);
	return errno || *end ? -1 : 0;
}

static unsigned width_of(char c, const char *widths)
{
	static const char letters[] = "bwlq";
	const char *p;

	c = (char)tolower((unsigned char)c);
	if (!c || !strchr(widths, c) || !(p = strchr(letters, c)))
		return 0;
	return 1u << (p - letters);
}

uint64_t regop_get_le(const uint8_t *buf, unsigned width)
{
	uint64_t v = 0;

	for (unsigned i = width; i-- > 0;)
		v = v << 8 | buf[i];
	return v;
}

void regop_put_le(uint8_t *buf, unsigned width, uint64_t v)
{
	for (unsigned i = 0; i < width; i++, v >>= 8)
		buf[i] = (uint8_t)v;
}

char regop_width_letter(unsigned width)
{
	switch (width) {
	case 1: return 'b';
	case 2: return 'w';
	case 4: return 'l';
	case 8: return 'q';
	default: return '?';
	}
}

/* "DATA[:MASK],..." into op->val. */
static int parse_values(struct regop *op, const char *s, char *why, size_t whylen)
{
	size_t n = 1;

	if (!*s)
		return fail(why, whylen, "missing value after '='");
	for (const char *p = s; *p; p++)
		n += *p == ',';
	op->val = calloc(n, sizeof(*op->val));
	if (!op->val)
		return fail(why, whylen, "%s", strerror(ENOMEM));
	for (size_t i = 0; i < n; i++) {
		size_t len = strcspn(s, ",");
		const char *colon = memchr(s, ':', len);
		struct regop_val *v = &op->val[i];
		size_t dlen = colon ? (size_t)(colon - s) : len;

		if (regop_parse_hex(s, dlen, &v->data))
			return fail(why, whylen, "invalid value \"%.*s\" (want hex)", (int)dlen, s);
		v->mask = UINT64_MAX;
		if (colon) {
			size_t mlen = len - dlen - 1;

			if (regop_parse_hex(colon + 1, mlen, &v->mask))
				return fail(why, whylen, "invalid mask \"%.*s\" (want hex)", (int)mlen,
					    colon + 1);
			v->data &= v->mask;
		}
		op->nval++;
		s += len + (s[len] == ',');
	}
	return 0;
}

int regop_parse(struct regop *op, const char *arg, const char *widths, bool with_instance,
		char *why, size_t whylen)
{
	const char *eq = strchr(arg, '=');
	size_t left = eq ? (size_t)(eq - arg) : strlen(arg);
	const char *at = memchr(arg, '@', left);
	const char *dot = memchr(arg, '.', at ? (size_t)(at - arg) : left);
	size_t alen = dot ? (size_t)(dot - arg) : at ? (size_t)(at - arg) : left;

	*op = (struct regop){.arg = arg, .instance = -1};
	if (alen == 0)
		return fail(why, whylen, "missing register");
	if (alen >= sizeof(op->addr))
		return fail(why, whylen, "register \"%.*s...\" too long", 16, arg);
	memcpy(op->addr, arg, alen);
	op->addr[alen] = '\0';
	if (dot) {
		size_t wlen = (at ? (size_t)(at - dot) : (size_t)(arg + left - dot)) - 1;

		if (wlen != 1 || !(op->width = width_of(dot[1], widths)))
			return fail(why, whylen, "invalid width \"%.*s\" (want one of %s)",
				    (int)wlen, dot + 1, widths);
	}
	if (at) {
		uint64_t n;
		size_t nlen = (size_t)(arg + left - at) - 1;

		if (!with_instance)
			return fail(why, whylen, "'@' only applies to capabilities");
		if (regop_parse_hex(at + 1, nlen, &n) || n > 0xff)
			return fail(why, whylen, "invalid instance number \"%.*s\"", (int)nlen, at + 1);
		op->instance = (long)n;
	}
	if (eq && parse_values(op, eq + 1, why, whylen)) {
		regop_free(op);
		return -1;
	}
	return 0;
}

int regop_check_values(const struct regop *op, unsigned width, char *why, size_t whylen)
{
	uint64_t max = width >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * width)) - 1;

	for (size_t i = 0; i < op->nval; i++) {
		const struct regop_val *v = &op->val[i];

		if (v->mask != UINT64_MAX && v->mask > max)
			return fail(why, whylen, "mask 0x%" PRIx64 " does not fit in %u byte%s",
				    v->mask, width, width > 1 ? "s" : "");
		if (v->data > max)
			return fail(why, whylen, "value 0x%" PRIx64 " does not fit in %u byte%s",
				    v->data, width, width > 1 ? "s" : "");
	}
	return 0;
}

void regop_free(struct regop *op)
{
	free(op->val);
	op->val = NULL;
	op->nval = 0;
}

int regop_run(const struct regop *op, uint64_t addr, unsigned width,
	      const struct regop_io *io, FILE *out, bool prefix, uint64_t *fail_addr)
{
	uint64_t full = width >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * width)) - 1;
	uint64_t v;
	int rc;

	*fail_addr = addr;
	if (op->nval == 0) {
		rc = io->read(io->ctx, addr, width, &v);
		if (rc == 0)
			fprintf(out, "%s%0*" PRIx64 "\n", prefix ? "0x" : "", (int)(2 * width), v);
		return rc;
	}
	for (size_t i = 0; i < op->nval; i++) {
		const struct regop_val *val = &op->val[i];
		uint64_t a = addr + i * width;

		*fail_addr = a;
		v = val->data;
		if ((val->mask & full) != full) {
			rc = io->read(io->ctx, a, width, &v);
			if (rc < 0)
				return rc;
			v = (v & ~val->mask) | val->data;
		}
		rc = io->write(io->ctx, a, width, v & full);
		if (rc < 0)
			return rc;
	}
	return 0;
}
