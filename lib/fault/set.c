// SPDX-License-Identifier: MIT
/*
 * A fault set: rules, their counters and their triggers (vpcie/fault.h).
 * Deterministic: the only randomness is each rule's own generator, seeded
 * from its seed= when it is added, so a run is reproducible.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vpcie/fault.h>

struct entry {
	struct vpcie_fault_info info;
	uint64_t rng;
};

struct vpcie_fault_set {
	struct entry e[VPCIE_FAULT_MAX_RULES];
	unsigned n;
	unsigned next_id;
};

/* splitmix64: small, good enough to decide and to scramble. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct vpcie_fault_set *vpcie_fault_set_new(void)
{
	struct vpcie_fault_set *set = calloc(1, sizeof(*set));

	if (set)
		set->next_id = 1;
	return set;
}

void vpcie_fault_set_free(struct vpcie_fault_set *set)
{
	free(set);
}

int vpcie_fault_set_add(struct vpcie_fault_set *set, const struct vpcie_fault_rule *rule,
			uint64_t now_ns)
{
	struct entry *e;

	if (set->n >= VPCIE_FAULT_MAX_RULES)
		return -ENOSPC;
	e = &set->e[set->n++];
	memset(e, 0, sizeof(*e));
	e->info.id = set->next_id++;
	e->info.rule = *rule;
	e->info.armed_ns = now_ns;
	e->rng = rule->seed;
	return (int)e->info.id;
}

int vpcie_fault_set_clear(struct vpcie_fault_set *set, unsigned id)
{
	unsigned kept = 0, n = set->n;

	for (unsigned i = 0; i < n; i++)
		if (id && set->e[i].info.id != id)
			set->e[kept++] = set->e[i];
	set->n = kept;
	if (id && kept == n)
		return -ENOENT;
	return (int)(n - kept);
}

unsigned vpcie_fault_set_count(const struct vpcie_fault_set *set)
{
	return set->n;
}

bool vpcie_fault_set_get(const struct vpcie_fault_set *set, unsigned i,
			 struct vpcie_fault_info *info)
{
	if (i >= set->n)
		return false;
	*info = set->e[i].info;
	return true;
}

static bool due(const struct entry *e, uint64_t now)
{
	const struct vpcie_fault_rule *r = &e->info.rule;

	return !r->has_ms || now >= e->info.armed_ns + r->ms * 1000000u;
}

static bool matches(const struct entry *e, const struct vpcie_fault_event *ev)
{
	const struct vpcie_fault_rule *r = &e->info.rule;

	if (e->info.spent || r->on != ev->on || !due(e, ev->now_ns))
		return false;
	switch (ev->on) {
	case VPCIE_FAULT_ON_ACCESS:
		if (r->region >= 0 && r->region != ev->region)
			return false;
		if (!(r->ops & (ev->write ? VPCIE_FAULT_OP_WRITE : VPCIE_FAULT_OP_READ)))
			return false;
		if (ev->offset + ev->len <= r->offset)
			return false;
		return !r->len || ev->offset < r->offset + r->len;
	case VPCIE_FAULT_ON_DMA:
		return r->ops & (ev->write ? VPCIE_FAULT_OP_WRITE : VPCIE_FAULT_OP_READ);
	case VPCIE_FAULT_ON_IRQ:
		return r->vector < 0 || r->vector == ev->vector;
	case VPCIE_FAULT_ON_TIME:
		return true;
	}
	return false;
}

static const char *event_noun(enum vpcie_fault_on on, bool plural)
{
	switch (on) {
	case VPCIE_FAULT_ON_ACCESS: return plural ? "accesses" : "access";
	case VPCIE_FAULT_ON_DMA: return plural ? "DMA transfers" : "DMA transfer";
	case VPCIE_FAULT_ON_IRQ: return plural ? "interrupts" : "interrupt";
	default: return plural ? "ticks" : "tick";
	}
}

static void describe(const struct entry *e, char *buf, size_t len)
{
	const struct vpcie_fault_rule *r = &e->info.rule;
	int n;

	if (r->on == VPCIE_FAULT_ON_TIME)
		n = snprintf(buf, len, "%llu ms after it was added", (unsigned long long)r->ms);
	else if (r->has_after)
		n = snprintf(buf, len, "after %llu %s", (unsigned long long)r->after,
			     event_noun(r->on, true));
	else if (r->has_ms)
		n = snprintf(buf, len, "matching %s %llu ms on", event_noun(r->on, false),
			     (unsigned long long)r->ms);
	else
		n = snprintf(buf, len, "matching %s", event_noun(r->on, false));
	if (r->has_prob && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", prob %u ppm seed %llu", (unsigned)r->prob_ppm,
			 (unsigned long long)r->seed);
}

bool vpcie_fault_set_next(struct vpcie_fault_set *set, const struct vpcie_fault_event *ev,
			  unsigned *cursor, struct vpcie_fault_hit *hit)
{
	for (; *cursor < set->n; (*cursor)++) {
		struct entry *e = &set->e[*cursor];
		const struct vpcie_fault_rule *r = &e->info.rule;

		if (!matches(e, ev))
			continue;
		e->info.seen++;
		if (r->has_after && e->info.seen <= r->after)
			continue;
		if (r->has_prob && rng_next(&e->rng) % 1000000u >= r->prob_ppm)
			continue;
		e->info.fired++;
		if ((r->has_after || r->has_ms) && !r->repeat)
			e->info.spent = true;
		else if (r->on == VPCIE_FAULT_ON_TIME)
			e->info.armed_ns = ev->now_ns; /* repeat: every ms */
		hit->id = e->info.id;
		hit->rule = r;
		hit->fired = e->info.fired;
		hit->rand = rng_next(&e->rng);
		describe(e, hit->trigger, sizeof(hit->trigger));
		(*cursor)++;
		return true;
	}
	return false;
}

uint64_t vpcie_fault_set_next_due(const struct vpcie_fault_set *set)
{
	uint64_t first = UINT64_MAX;

	for (unsigned i = 0; i < set->n; i++) {
		const struct entry *e = &set->e[i];
		uint64_t t = e->info.armed_ns + e->info.rule.ms * 1000000u;

		if (e->info.rule.on == VPCIE_FAULT_ON_TIME && !e->info.spent && t < first)
			first = t;
	}
	return first;
}
