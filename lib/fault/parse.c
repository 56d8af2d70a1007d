// SPDX-License-Identifier: MIT
/*
 * The fault rule grammar (vpcie/fault.h, docs/fault.md):
 *
 *	spec  := KIND [ ":" item { "," item } ]
 *	item  := KEY "=" VALUE | "repeat"
 *
 * Strict on purpose: a typo must not silently inject nothing (or the wrong
 * thing), so every refusal names the part that is wrong.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include <vpcie/fault.h>

#define K(k) (1u << (k))
#define K_RANGE (K(VPCIE_FAULT_UR) | K(VPCIE_FAULT_CA) | K(VPCIE_FAULT_DELAY) | \
		 K(VPCIE_FAULT_HANG) | K(VPCIE_FAULT_REMOVE))
#define K_ALL 0xffu
#define K_LATE (K(VPCIE_FAULT_DELAY) | K(VPCIE_FAULT_DMA) | K(VPCIE_FAULT_IRQ))

#define MAX_DELAY_US 60000000ull   /* a minute: longer is a hang, say so */
#define MAX_MS 86400000ull         /* a day */

enum key_id {
	KEY_REGION, KEY_OFFSET, KEY_LEN, KEY_OP, KEY_AFTER, KEY_MS, KEY_PROB, KEY_SEED,
	KEY_REPEAT, KEY_US, KEY_JITTER, KEY_BACK, KEY_AT, KEY_MODE, KEY_ACTION, KEY_VECTOR,
	KEY_BAR, KEY_COUNT
};

static const struct {
	const char *name;
	unsigned kinds;
} keys[KEY_COUNT] = {
	[KEY_REGION] = {"region", K_RANGE},
	[KEY_OFFSET] = {"offset", K_RANGE | K(VPCIE_FAULT_CFG)},
	[KEY_LEN] = {"len", K_RANGE | K(VPCIE_FAULT_CFG)},
	[KEY_OP] = {"op", K_RANGE | K(VPCIE_FAULT_DMA)},
	[KEY_AFTER] = {"after", K_ALL},
	[KEY_MS] = {"ms", K_ALL},
	[KEY_PROB] = {"prob", K_ALL},
	[KEY_SEED] = {"seed", K_ALL},
	[KEY_REPEAT] = {"repeat", K_ALL},
	[KEY_US] = {"us", K_LATE},
	[KEY_JITTER] = {"jitter", K_LATE},
	[KEY_BACK] = {"back", K(VPCIE_FAULT_REMOVE)},
	[KEY_AT] = {"at", K(VPCIE_FAULT_REMOVE)},
	[KEY_MODE] = {"mode", K(VPCIE_FAULT_DMA) | K(VPCIE_FAULT_CFG)},
	[KEY_ACTION] = {"action", K(VPCIE_FAULT_IRQ)},
	[KEY_VECTOR] = {"vector", K(VPCIE_FAULT_IRQ)},
	[KEY_BAR] = {"bar", K(VPCIE_FAULT_CFG)},
};

static const char *const kind_names[] = {"ur", "ca", "remove", "delay", "hang", "dma", "irq", "cfg"};
static const char *const dma_modes[] = {"outside", "truncate", "flip", "delay", NULL};
static const char *const irq_actions[] = {"drop", "dup", "delay", "spurious", NULL};
static const char *const cfg_modes[] = {"garbage", "nosize", NULL};
static const char *const on_names[] = {"access", "dma", "irq", NULL};

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A whole decimal or 0x number, at most max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A probability: 0, 1, or 0.xxxxxx (up to six decimals) -> parts per million. */
static int parse_prob(const char *s, uint32_t *ppm)
{
	uint32_t v = 0, scale = 1000000;

	if (s[0] == '1' && (!s[1] || (s[1] == '.' && strspn(s + 2, "0") == strlen(s + 2)))) {
		*ppm = 1000000;
		return 0;
	}
	if (s[0] != '0' || (s[1] && s[1] != '.') || (s[1] == '.' && !s[2]))
		return -1;
	for (s += s[1] ? 2 : 1; *s; s++) {
		if (*s < '0' || *s > '9' || scale == 1)
			return -1;
		scale /= 10;
		v += (uint32_t)(*s - '0') * scale;
	}
	*ppm = v;
	return 0;
}

static int lookup(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

static int parse_item(struct vpcie_fault_rule *r, enum key_id k, const char *val, char *err,
		      size_t errlen)
{
	uint64_t v;
	int i;

	switch (k) {
	case KEY_REGION:
		if (parse_u64(val, VFIO_PCI_NUM_REGIONS - 1, &v))
			return fail(err, errlen, "region '%s': takes 0..%u (0-5 BARs, 6 ROM, 7 config)",
				    val, VFIO_PCI_NUM_REGIONS - 1);
		r->region = (int)v;
		return 0;
	case KEY_OFFSET:
	case KEY_LEN:
		if (parse_u64(val, UINT64_MAX, &v) || (k == KEY_LEN && !v))
			return fail(err, errlen, "%s '%s': takes a %snumber (decimal or 0x)",
				    keys[k].name, val, k == KEY_LEN ? "non-zero " : "");
		*(k == KEY_LEN ? &r->len : &r->offset) = v;
		return 0;
	case KEY_OP:
		if (!strcmp(val, "read"))
			r->ops = VPCIE_FAULT_OP_READ;
		else if (!strcmp(val, "write"))
			r->ops = VPCIE_FAULT_OP_WRITE;
		else if (!strcmp(val, "rw"))
			r->ops = VPCIE_FAULT_OP_READ | VPCIE_FAULT_OP_WRITE;
		else
			return fail(err, errlen, "op '%s': takes read, write or rw", val);
		return 0;
	case KEY_AFTER:
		if (parse_u64(val, UINT64_MAX - 1, &r->after))
			return fail(err, errlen, "after '%s': takes a count", val);
		r->has_after = true;
		return 0;
	case KEY_MS:
	case KEY_BACK:
		if (parse_u64(val, MAX_MS, &v))
			return fail(err, errlen, "%s '%s': takes milliseconds, 0..%llu", keys[k].name,
				    val, MAX_MS);
		if (k == KEY_MS) {
			r->ms = v;
			r->has_ms = true;
		} else {
			r->back_ms = v;
			r->has_back = true;
		}
		return 0;
	case KEY_PROB:
		if (parse_prob(val, &r->prob_ppm))
			return fail(err, errlen, "prob '%s': takes 0..1 with up to 6 decimals", val);
		r->has_prob = true;
		return 0;
	case KEY_SEED:
		if (parse_u64(val, UINT64_MAX, &r->seed))
			return fail(err, errlen, "seed '%s': takes a number", val);
		return 0;
	case KEY_US:
	case KEY_JITTER:
		if (parse_u64(val, MAX_DELAY_US, &v))
			return fail(err, errlen, "%s '%s': takes microseconds, 0..%llu", keys[k].name,
				    val, MAX_DELAY_US);
		*(k == KEY_US ? &r->us : &r->jitter_us) = v;
		return 0;
	case KEY_AT:
		i = lookup(on_names, val);
		if (i < 0)
			return fail(err, errlen, "at '%s': takes access, dma or irq", val);
		r->on = (enum vpcie_fault_on)i;
		return 0;
	case KEY_MODE:
	case KEY_ACTION:
		i = lookup(r->kind == VPCIE_FAULT_DMA ? dma_modes :
			   r->kind == VPCIE_FAULT_IRQ ? irq_actions : cfg_modes, val);
		if (i < 0)
			return fail(err, errlen, "%s '%s': takes %s", keys[k].name, val,
				    r->kind == VPCIE_FAULT_DMA ? "outside, truncate, flip or delay" :
				    r->kind == VPCIE_FAULT_IRQ ? "drop, dup, delay or spurious" :
								 "garbage or nosize");
		r->mode = i;
		return 0;
	case KEY_VECTOR:
		if (parse_u64(val, 2047, &v))
			return fail(err, errlen, "vector '%s': takes 0..2047", val);
		r->vector = (int)v;
		return 0;
	case KEY_BAR:
		if (parse_u64(val, 5, &v))
			return fail(err, errlen, "bar '%s': takes 0..5", val);
		r->bar = (int)v;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Requirements between keys, once all are read. */
static int finish(struct vpcie_fault_rule *r, const bool *given, char *err, size_t errlen)
{
	const char *kind = kind_names[r->kind];
	bool late = r->kind == VPCIE_FAULT_DELAY ||
		    (r->kind == VPCIE_FAULT_DMA && r->mode == VPCIE_FAULT_DMA_DELAY) ||
		    (r->kind == VPCIE_FAULT_IRQ && r->mode == VPCIE_FAULT_IRQ_DELAY);
	bool filters = given[KEY_REGION] || given[KEY_OFFSET] || given[KEY_LEN] || given[KEY_OP];

	if ((r->kind == VPCIE_FAULT_DMA || r->kind == VPCIE_FAULT_CFG) && !given[KEY_MODE])
		return fail(err, errlen, "%s needs mode=", kind);
	if (r->kind == VPCIE_FAULT_IRQ && !given[KEY_ACTION])
		return fail(err, errlen, "irq needs action=");
	if (late && !given[KEY_US])
		return fail(err, errlen, "%s needs us=", kind);
	if (!late && (given[KEY_US] || given[KEY_JITTER]))
		return fail(err, errlen, "key '%s' does not apply to this %s (no delay)",
			    given[KEY_US] ? "us" : "jitter", kind);
	if (r->repeat && !r->has_after && !r->has_ms)
		return fail(err, errlen, "repeat needs after= or ms= (without them a rule always fires)");
	if (r->len && r->offset + r->len < r->offset)
		return fail(err, errlen, "offset+len overflows");
	if (!given[KEY_AT])
		r->on = VPCIE_FAULT_ON_ACCESS;
	switch (r->kind) {
	case VPCIE_FAULT_REMOVE:
		if (r->on != VPCIE_FAULT_ON_ACCESS &&
		    (given[KEY_REGION] || given[KEY_OFFSET] || given[KEY_LEN]))
			return fail(err, errlen, "remove at=%s takes no region/offset/len",
				    on_names[r->on]);
		/* ms= alone: a timer removes the link, with or without traffic. */
		if (r->has_ms && !r->has_after && !r->has_prob && !given[KEY_AT] && !filters)
			r->on = VPCIE_FAULT_ON_TIME;
		break;
	case VPCIE_FAULT_DMA:
		r->on = VPCIE_FAULT_ON_DMA;
		break;
	case VPCIE_FAULT_IRQ:
		r->on = VPCIE_FAULT_ON_IRQ;
		if (r->mode == VPCIE_FAULT_IRQ_SPURIOUS) {
			if (r->vector < 0)
				r->vector = 0;
			r->on = r->has_ms && !r->has_after ? VPCIE_FAULT_ON_TIME
							   : VPCIE_FAULT_ON_ACCESS;
		}
		break;
	case VPCIE_FAULT_CFG:
		r->region = VFIO_PCI_CONFIG_REGION_INDEX;
		r->ops = VPCIE_FAULT_OP_READ;
		if (r->mode == VPCIE_FAULT_CFG_GARBAGE) {
			if (!given[KEY_OFFSET] || given[KEY_BAR])
				return fail(err, errlen, "cfg mode=garbage needs offset= (and no bar=)");
			if (r->offset > 4095 || (r->len && r->len > 4096 - r->offset))
				return fail(err, errlen, "cfg offset/len beyond 4096 bytes of config space");
			if (!r->len) /* a dword, or what is left of config space */
				r->len = 4096 - r->offset < 4 ? 4096 - r->offset : 4;
		} else {
			if (!given[KEY_BAR] || given[KEY_OFFSET] || given[KEY_LEN])
				return fail(err, errlen, "cfg mode=nosize needs bar= (and no offset/len)");
			r->offset = 0x10 + 4u * (unsigned)r->bar;
			r->len = r->bar < 5 ? 8 : 4; /* a 64-bit BAR's upper half too */
		}
		break;
	default:
		break;
	}
	return 0;
}

int vpcie_fault_parse(const char *spec, struct vpcie_fault_rule *rule, char *err, size_t errlen)
{
	char buf[VPCIE_FAULT_SPEC_MAX + 1], *items, *save = NULL;
	struct vpcie_fault_rule r;
	bool given[KEY_COUNT] = {false};
	size_t n;
	int kind = -1, ret;

	if (!spec || !*spec)
		return fail(err, errlen, "empty fault spec");
	n = strnlen(spec, sizeof(buf));
	if (n > VPCIE_FAULT_SPEC_MAX)
		return fail(err, errlen, "fault spec longer than %u bytes", VPCIE_FAULT_SPEC_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)spec[i] <= ' ' || (unsigned char)spec[i] >= 0x7f)
			return fail(err, errlen, "fault spec: character %zu is not printable ASCII "
					       "(no spaces)", i + 1);
	memcpy(buf, spec, n + 1);
	items = strchr(buf, ':');
	if (items)
		*items++ = '\0';
	for (unsigned i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (!strcmp(buf, kind_names[i]))
			kind = (int)i;
	if (kind < 0)
		return fail(err, errlen, "unknown fault kind '%s' (ur, ca, remove, delay, hang, dma, "
				       "irq, cfg)", buf);
	memset(&r, 0, sizeof(r));
	r.kind = (enum vpcie_fault_kind)kind;
	r.region = -1;
	r.vector = -1;
	r.bar = -1;
	r.seed = 1;
	r.ops = VPCIE_FAULT_OP_READ | VPCIE_FAULT_OP_WRITE;
	if (items && !*items)
		return fail(err, errlen, "'%s:' with nothing after the colon", buf);
	for (char *it = items ? strtok_r(items, ",", &save) : NULL; it;
	     it = strtok_r(NULL, ",", &save)) {
		char *val = strchr(it, '=');
		int k = -1;

		if (val)
			*val++ = '\0';
		for (int i = 0; i < KEY_COUNT; i++)
			if (!strcmp(it, keys[i].name))
				k = i;
		if (k < 0)
			return fail(err, errlen, "unknown key '%s'", it);
		if (!(keys[k].kinds & K(kind)))
			return fail(err, errlen, "key '%s' does not apply to %s", it, kind_names[kind]);
		if (given[k])
			return fail(err, errlen, "key '%s' given twice", it);
		given[k] = true;
		if (k == KEY_REPEAT) {
			if (val)
				return fail(err, errlen, "repeat takes no value");
			r.repeat = true;
			continue;
		}
		if (!val || !*val)
			return fail(err, errlen, "key '%s' needs a value (%s=...)", it, it);
		ret = parse_item(&r, (enum key_id)k, val, err, errlen);
		if (ret)
			return ret;
	}
	/* A spec ending or doubling a comma leaves an empty item strtok skips. */
	if (strstr(spec, ":,") || strstr(spec, ",,") || spec[n - 1] == ',')
		return fail(err, errlen, "empty item (stray comma)");
	ret = finish(&r, given, err, errlen);
	if (ret)
		return ret;
	*rule = r;
	return 0;
}

/* Append to buf as snprintf does, tracking the length needed. */
struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->len < o->size ? o->buf + o->len : NULL,
		      o->len < o->size ? o->size - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

int vpcie_fault_format(const struct vpcie_fault_rule *r, char *buf, size_t len)
{
	struct out o = {buf, len, 0};
	const char *sep = ":";

#define ITEM(...) do { put(&o, "%s", sep); put(&o, __VA_ARGS__); sep = ","; } while (0)
	if (len)
		buf[0] = '\0';
	if ((unsigned)r->kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return -EINVAL;
	put(&o, "%s", kind_names[r->kind]);
	switch (r->kind) {
	case VPCIE_FAULT_DMA:
		ITEM("mode=%s", dma_modes[r->mode]);
		break;
	case VPCIE_FAULT_IRQ:
		ITEM("action=%s", irq_actions[r->mode]);
		if (r->vector >= 0)
			ITEM("vector=%d", r->vector);
		break;
	case VPCIE_FAULT_CFG:
		ITEM("mode=%s", cfg_modes[r->mode]);
		if (r->mode == VPCIE_FAULT_CFG_NOSIZE)
			ITEM("bar=%d", r->bar);
		else
			ITEM("offset=%#" PRIx64 ",len=%" PRIu64, r->offset, r->len);
		break;
	case VPCIE_FAULT_REMOVE:
		if (r->on != VPCIE_FAULT_ON_TIME)
			ITEM("at=%s", on_names[r->on]);
		break;
	default:
		break;
	}
	if (r->kind != VPCIE_FAULT_CFG) {
		if (r->region >= 0)
			ITEM("region=%d", r->region);
		if (r->offset)
			ITEM("offset=%#" PRIx64, r->offset);
		if (r->len)
			ITEM("len=%" PRIu64, r->len);
		if (r->ops != (VPCIE_FAULT_OP_READ | VPCIE_FAULT_OP_WRITE))
			ITEM("op=%s", r->ops == VPCIE_FAULT_OP_READ ? "read" : "write");
	}
	if (r->us || r->kind == VPCIE_FAULT_DELAY || (r->kind == VPCIE_FAULT_DMA &&
	    r->mode == VPCIE_FAULT_DMA_DELAY) || (r->kind == VPCIE_FAULT_IRQ &&
	    r->mode == VPCIE_FAULT_IRQ_DELAY))
		ITEM("us=%" PRIu64, r->us);
	if (r->jitter_us)
		ITEM("jitter=%" PRIu64, r->jitter_us);
	if (r->has_after)
		ITEM("after=%" PRIu64, r->after);
	if (r->has_ms)
		ITEM("ms=%" PRIu64, r->ms);
	if (r->has_prob) {
		if (r->prob_ppm >= 1000000)
			ITEM("prob=1");
		else
			ITEM("prob=0.%06u", (unsigned)r->prob_ppm);
	}
	if (r->seed != 1)
		ITEM("seed=%" PRIu64, r->seed);
	if (r->repeat)
		ITEM("repeat");
	if (r->has_back)
		ITEM("back=%" PRIu64, r->back_ms);
#undef ITEM
	return o.len > (size_t)INT32_MAX ? -EOVERFLOW : (int)o.len;
}
