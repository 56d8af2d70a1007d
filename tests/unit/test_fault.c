// SPDX-License-Identifier: MIT
/* The fault rule grammar and the trigger logic of a fault set (vpcie/fault.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <vpcie/fault.h>

#define MS 1000000ull

static struct vpcie_fault_rule parse_ok(const char *spec)
{
	struct vpcie_fault_rule r;
	char err[160] = "";

	if (vpcie_fault_parse(spec, &r, err, sizeof(err)))
		fail_msg("'%s' refused: %s", spec, err);
	return r;
}

static void test_parse_fields(void **state)
{
	struct vpcie_fault_rule r;

	(void)state;
	r = parse_ok("ur:region=0,op=read");
	assert_int_equal(r.kind, VPCIE_FAULT_UR);
	assert_int_equal(r.region, 0);
	assert_int_equal(r.ops, VPCIE_FAULT_OP_READ);
	assert_int_equal(r.on, VPCIE_FAULT_ON_ACCESS);
	assert_false(r.has_after);

	r = parse_ok("ur:region=2,offset=0x10,len=4,op=write,after=10");
	assert_int_equal(r.region, 2);
	assert_int_equal(r.offset, 0x10);
	assert_int_equal(r.len, 4);
	assert_int_equal(r.ops, VPCIE_FAULT_OP_WRITE);
	assert_true(r.has_after);
	assert_int_equal(r.after, 10);

	r = parse_ok("ca:region=0,op=read");
	assert_int_equal(r.kind, VPCIE_FAULT_CA);
	assert_int_equal(r.ops, VPCIE_FAULT_OP_READ);

	r = parse_ok("remove:after=5,back=100");
	assert_int_equal(r.kind, VPCIE_FAULT_REMOVE);
	assert_int_equal(r.on, VPCIE_FAULT_ON_ACCESS);
	assert_true(r.has_back);
	assert_int_equal(r.back_ms, 100);
	assert_int_equal(parse_ok("remove:ms=50").on, VPCIE_FAULT_ON_TIME);
	assert_int_equal(parse_ok("remove:at=dma").on, VPCIE_FAULT_ON_DMA);
	assert_int_equal(parse_ok("remove:at=irq,after=1").on, VPCIE_FAULT_ON_IRQ);
	assert_int_equal(parse_ok("remove:ms=50,region=1").on, VPCIE_FAULT_ON_ACCESS);

	r = parse_ok("delay:us=200,jitter=50,region=1");
	assert_int_equal(r.us, 200);
	assert_int_equal(r.jitter_us, 50);
	r = parse_ok("hang:region=0,offset=0");
	assert_int_equal(r.kind, VPCIE_FAULT_HANG);

	r = parse_ok("dma:mode=outside");
	assert_int_equal(r.on, VPCIE_FAULT_ON_DMA);
	assert_int_equal(r.mode, VPCIE_FAULT_DMA_OUTSIDE);
	assert_int_equal(parse_ok("dma:mode=delay,us=10").mode, VPCIE_FAULT_DMA_DELAY);
	assert_int_equal(parse_ok("dma:mode=flip,op=write").ops, VPCIE_FAULT_OP_WRITE);

	r = parse_ok("irq:action=drop,vector=3");
	assert_int_equal(r.on, VPCIE_FAULT_ON_IRQ);
	assert_int_equal(r.vector, 3);
	assert_int_equal(parse_ok("irq:action=dup").vector, -1);
	r = parse_ok("irq:action=spurious");
	assert_int_equal(r.vector, 0);
	assert_int_equal(r.on, VPCIE_FAULT_ON_ACCESS);
	assert_int_equal(parse_ok("irq:action=spurious,ms=10").on, VPCIE_FAULT_ON_TIME);

	r = parse_ok("cfg:offset=0x40,mode=garbage");
	assert_int_equal(r.region, 7);
	assert_int_equal(r.offset, 0x40);
	assert_int_equal(r.len, 4);
	assert_int_equal(r.ops, VPCIE_FAULT_OP_READ);
	r = parse_ok("cfg:bar=2,mode=nosize");
	assert_int_equal(r.offset, 0x18);
	/* The default dword stops at the end of config space (found by fuzz_fault). */
	assert_int_equal(parse_ok("cfg:offset=0xfff,mode=garbage").len, 1);
	assert_int_equal(parse_ok("cfg:offset=0xffc,mode=garbage").len, 4);

	r = parse_ok("ur:prob=0.25,seed=7");
	assert_true(r.has_prob);
	assert_int_equal(r.prob_ppm, 250000);
	assert_int_equal(r.seed, 7);
	assert_int_equal(parse_ok("ur:prob=1").prob_ppm, 1000000);
	assert_int_equal(parse_ok("ur:prob=0").prob_ppm, 0);
	assert_int_equal(parse_ok("ur:after=18446744073709551614").after, UINT64_MAX - 1);
	assert_true(parse_ok("ur:after=1,repeat").repeat);
}

/* Each bad spec is refused and the message names the bad part. */
static void test_parse_rejects(void **state)
{
	static const struct {
		const char *spec, *names;
	} bad[] = {
		{"", "empty"},
		{"bogus", "'bogus'"},
		{"ur:foo=1", "'foo'"},
		{"ur:region=9", "region '9'"},
		{"ur:region=-1", "region '-1'"},
		{"ur:region=0x", "region '0x'"},
		{"ur:after=18446744073709551616", "after '18446744073709551616'"},
		{"ur:after=1x", "after '1x'"},
		{"ur:region=0,region=1", "'region' given twice"},
		{"ur:us=5", "'us' does not apply"},
		{"dma:mode=flip,us=5", "'us' does not apply"},
		{"delay:region=0", "needs us="},
		{"dma", "needs mode="},
		{"irq:vector=1", "needs action="},
		{"ur:region=", "'region' needs a value"},
		{"ur:region", "'region' needs a value"},
		{"ur:region=0,,op=read", "stray comma"},
		{"ur:region=0,", "stray comma"},
		{"ur:", "nothing after the colon"},
		{"ur:repeat", "repeat needs"},
		{"ur:repeat=1", "repeat takes no value"},
		{"ur:offset=0xffffffffffffffff,len=2", "overflows"},
		{"ur:len=0", "len '0'"},
		{"ur:prob=1.5", "prob '1.5'"},
		{"ur:prob=0.1234567", "prob '0.1234567'"},
		{"ur:region=0 ", "not printable"},
		{"ur:op=exec", "op 'exec'"},
		{"dma:mode=sideways", "mode 'sideways'"},
		{"irq:action=drop,vector=2048", "vector '2048'"},
		{"cfg:mode=garbage", "needs offset="},
		{"cfg:mode=garbage,offset=0x1000", "beyond"},
		{"cfg:mode=nosize", "needs bar="},
		{"cfg:mode=nosize,bar=6", "bar '6'"},
		{"remove:at=dma,region=0", "takes no region"},
		{"remove:at=pci", "at 'pci'"},
		{"delay:us=60000001", "us '60000001'"},
		{"remove:back=86400001", "back '86400001'"},
		{"ca:back=1", "'back' does not apply"},
	};
	char err[160], longspec[VPCIE_FAULT_SPEC_MAX + 16];
	struct vpcie_fault_rule r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (vpcie_fault_parse(bad[i].spec, &r, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' accepted", bad[i].spec);
		if (!strstr(err, bad[i].names))
			fail_msg("'%s': message '%s' does not say '%s'", bad[i].spec, err,
				 bad[i].names);
	}
	assert_int_equal(vpcie_fault_parse(NULL, &r, err, sizeof(err)), -EINVAL);
	memset(longspec, 0, sizeof(longspec));
	memcpy(longspec, "ur:offset=", 10);
	memset(longspec + 10, '1', VPCIE_FAULT_SPEC_MAX);
	assert_int_equal(vpcie_fault_parse(longspec, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than"));
	/* No message buffer: still refused, no crash. */
	assert_int_equal(vpcie_fault_parse("ur:foo", &r, NULL, 0), -EINVAL);
}

/* format() writes the canonical spec, which parses back to the same rule. */
static void test_format_roundtrip(void **state)
{
	static const char *const specs[] = {
		"ur:region=0,op=read", "ur:region=2,offset=0x10,len=4,op=write,after=10",
		"ca:region=0,op=read", "remove:after=5,back=100", "remove:ms=50",
		"remove:ms=50,at=access", "remove:at=dma,after=2,repeat", "delay:us=200,jitter=50",
		"hang:region=0,offset=0", "dma:mode=outside", "dma:mode=delay,us=10,op=read",
		"irq:action=spurious,ms=10,repeat", "irq:action=delay,us=5,vector=1",
		"cfg:offset=0x40,mode=garbage,len=8", "cfg:bar=0,mode=nosize",
		"cfg:offset=0xffe,mode=garbage",
		"ur:prob=0.25,seed=7", "ur:prob=1", "delay:us=0,prob=0.000001,ms=3",
	};
	char buf[VPCIE_FAULT_SPEC_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct vpcie_fault_rule a = parse_ok(specs[i]), b;
		int n = vpcie_fault_format(&a, buf, sizeof(buf));

		assert_true(n > 0 && (size_t)n < sizeof(buf));
		assert_int_equal((size_t)n, strlen(buf));
		b = parse_ok(buf);
		if (memcmp(&a, &b, sizeof(a)))
			fail_msg("'%s' -> '%s' parses to another rule", specs[i], buf);
	}
	/* Truncated output still says how long it would be. */
	struct vpcie_fault_rule r = parse_ok("ur:region=0,op=read");

	assert_int_equal(vpcie_fault_format(&r, buf, 4), (int)strlen("ur:region=0,op=read"));
	assert_string_equal(buf, "ur:");
}

static struct vpcie_fault_event access_ev(int region, uint64_t off, uint64_t len, bool write,
					  uint64_t now)
{
	struct vpcie_fault_event ev = {.on = VPCIE_FAULT_ON_ACCESS, .region = region,
				       .offset = off, .len = len, .write = write, .now_ns = now};
	return ev;
}

/* How many rules fire on ev. */
static unsigned fire(struct vpcie_fault_set *set, const struct vpcie_fault_event *ev)
{
	struct vpcie_fault_hit hit;
	unsigned cur = 0, n = 0;

	while (vpcie_fault_set_next(set, ev, &cur, &hit)) {
		assert_non_null(hit.rule);
		assert_true(hit.trigger[0] != '\0');
		n++;
	}
	return n;
}

static int add(struct vpcie_fault_set *set, const char *spec, uint64_t now)
{
	struct vpcie_fault_rule r = parse_ok(spec);

	return vpcie_fault_set_add(set, &r, now);
}

static void test_trigger_match(void **state)
{
	struct vpcie_fault_set *set = vpcie_fault_set_new();
	struct vpcie_fault_event ev;

	(void)state;
	assert_int_equal(add(set, "ur:region=2,offset=0x10,len=4,op=read", 0), 1);
	/* A range rule fires on every match, never on the others. */
	for (int i = 0; i < 3; i++) {
		ev = access_ev(2, 0x10, 4, false, 0);
		assert_int_equal(fire(set, &ev), 1);
	}
	ev = access_ev(2, 0x12, 4, false, 0); /* overlaps */
	assert_int_equal(fire(set, &ev), 1);
	ev = access_ev(2, 0x14, 4, false, 0); /* just after */
	assert_int_equal(fire(set, &ev), 0);
	ev = access_ev(2, 0x0c, 4, false, 0); /* just before */
	assert_int_equal(fire(set, &ev), 0);
	ev = access_ev(2, 0x10, 4, true, 0);  /* a write */
	assert_int_equal(fire(set, &ev), 0);
	ev = access_ev(1, 0x10, 4, false, 0); /* another region */
	assert_int_equal(fire(set, &ev), 0);
	ev.on = VPCIE_FAULT_ON_DMA;           /* another class */
	assert_int_equal(fire(set, &ev), 0);

	struct vpcie_fault_info in;

	assert_true(vpcie_fault_set_get(set, 0, &in));
	assert_int_equal(in.seen, 4);
	assert_int_equal(in.fired, 4);
	assert_false(in.spent);
	vpcie_fault_set_free(set);
}

static void test_trigger_after(void **state)
{
	struct vpcie_fault_set *set = vpcie_fault_set_new();
	struct vpcie_fault_event ev = access_ev(0, 0, 4, false, 0);
	struct vpcie_fault_info in;

	(void)state;
	add(set, "ca:region=0,after=3", 0);
	add(set, "ur:region=0,after=2,repeat", 0);
	unsigned once[8], rep[8];

	for (int i = 0; i < 8; i++) {
		struct vpcie_fault_hit hit;
		unsigned cur = 0;

		once[i] = rep[i] = 0;
		while (vpcie_fault_set_next(set, &ev, &cur, &hit))
			(hit.id == 1 ? once : rep)[i]++;
	}
	/* after=3: the 4th matching access, once; after=2,repeat: the 3rd and on. */
	for (int i = 0; i < 8; i++) {
		assert_int_equal(once[i], i == 3);
		assert_int_equal(rep[i], i >= 2);
	}
	assert_true(vpcie_fault_set_get(set, 0, &in));
	assert_true(in.spent);
	assert_int_equal(in.fired, 1);
	/* A non-matching access does not count towards after=. */
	add(set, "ur:region=1,after=1", 0);
	ev = access_ev(0, 0, 4, false, 0);
	fire(set, &ev);
	assert_true(vpcie_fault_set_get(set, 2, &in));
	assert_int_equal(in.seen, 0);
	vpcie_fault_set_free(set);
}

static void test_trigger_ms(void **state)
{
	struct vpcie_fault_set *set = vpcie_fault_set_new();
	struct vpcie_fault_event ev;

	(void)state;
	add(set, "ur:region=0,ms=100", 1000 * MS);
	ev = access_ev(0, 0, 4, false, 1099 * MS);
	assert_int_equal(fire(set, &ev), 0);
	ev.now_ns = 1100 * MS;
	assert_int_equal(fire(set, &ev), 1);
	ev.now_ns = 1200 * MS;
	assert_int_equal(fire(set, &ev), 0); /* once */
	assert_int_equal(vpcie_fault_set_next_due(set), UINT64_MAX);

	/* Timed rules: due at added + ms; repeat re-arms from when it fired. */
	add(set, "remove:ms=50", 2000 * MS);
	add(set, "irq:action=spurious,ms=20,repeat", 2000 * MS);
	assert_int_equal(vpcie_fault_set_next_due(set), 2020 * MS);
	struct vpcie_fault_event t = {.on = VPCIE_FAULT_ON_TIME, .now_ns = 2019 * MS};

	assert_int_equal(fire(set, &t), 0);
	t.now_ns = 2020 * MS;
	assert_int_equal(fire(set, &t), 1);
	assert_int_equal(vpcie_fault_set_next_due(set), 2040 * MS);
	t.now_ns = 2050 * MS;
	assert_int_equal(fire(set, &t), 2);
	assert_int_equal(vpcie_fault_set_next_due(set), 2070 * MS);
	vpcie_fault_set_free(set);
}

/* prob=P: about P of the matches, the same ones for the same seed. */
static void test_trigger_prob(void **state)
{
	struct vpcie_fault_set *a = vpcie_fault_set_new(), *b = vpcie_fault_set_new(),
			       *c = vpcie_fault_set_new();
	struct vpcie_fault_event ev = access_ev(0, 0, 4, false, 0);
	unsigned na = 0, same = 0, diff = 0;

	(void)state;
	add(a, "ur:prob=0.25,seed=42", 0);
	add(b, "ur:prob=0.25,seed=42", 0);
	add(c, "ur:prob=0.25,seed=43", 0);
	for (int i = 0; i < 10000; i++) {
		unsigned fa = fire(a, &ev), fb = fire(b, &ev), fc = fire(c, &ev);

		na += fa;
		same += fa == fb;
		diff += fa != fc;
	}
	assert_int_equal(same, 10000);
	assert_in_range(na, 2200, 2800);
	assert_true(diff > 1000);
	vpcie_fault_set_free(a);
	vpcie_fault_set_free(b);
	vpcie_fault_set_free(c);
}

static void test_set_clear(void **state)
{
	struct vpcie_fault_set *set = vpcie_fault_set_new();
	struct vpcie_fault_info in;
	int id = 0;

	(void)state;
	for (unsigned i = 0; i < VPCIE_FAULT_MAX_RULES; i++)
		id = add(set, "ur:region=0", 0);
	assert_int_equal(id, (int)VPCIE_FAULT_MAX_RULES);
	assert_int_equal(add(set, "ur:region=0", 0), -ENOSPC);
	assert_int_equal(vpcie_fault_set_clear(set, 5), 1);
	assert_int_equal(vpcie_fault_set_clear(set, 5), -ENOENT);
	assert_int_equal(vpcie_fault_set_count(set), VPCIE_FAULT_MAX_RULES - 1);
	assert_true(vpcie_fault_set_get(set, 4, &in));
	assert_int_equal(in.id, 6);
	/* Ids are not reused. */
	assert_int_equal(add(set, "ur:region=0", 0), (int)VPCIE_FAULT_MAX_RULES + 1);
	assert_int_equal(vpcie_fault_set_clear(set, 0), (int)VPCIE_FAULT_MAX_RULES);
	assert_int_equal(vpcie_fault_set_count(set), 0);
	assert_false(vpcie_fault_set_get(set, 0, &in));
	vpcie_fault_set_free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_trigger_match),
		cmocka_unit_test(test_trigger_after),
		cmocka_unit_test(test_trigger_ms),
		cmocka_unit_test(test_trigger_prob),
		cmocka_unit_test(test_set_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
