/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the shared-memory rings (vpcie/ring.h): geometry, FIFO order
 * across index wrap-around, full/empty, the sleep and wait protocols, slot
 * validation, a peer writing garbage indices and slots, and a two-process
 * stress run that blocks on eventfds for real.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <vpcie/ring.h>

#define SLOTS 16u

/* Control words, at the offsets vpcie/ring.h documents. */
static volatile uint32_t *word(void *mem, enum vpcie_ring_dir dir, unsigned line)
{
	return (volatile uint32_t *)((uint8_t *)mem + 64 + dir * 256 + line * 64);
}

enum { CONS = 0, SLEEPING = 1, WAITING = 2 };

static void *new_mem(uint32_t slots)
{
	size_t len = vpcie_ring_mem_size(slots);
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(mem != MAP_FAILED);
	vpcie_ring_mem_init(mem, slots);
	return mem;
}

static struct vpcie_ring_slot cmd(uint16_t op, uint16_t id, uint16_t count)
{
	struct vpcie_ring_slot s;

	memset(&s, 0, sizeof(s));
	s.op = op;
	s.id = id;
	s.count = count;
	s.offset = id * 4u;
	for (unsigned i = 0; i < count; i++)
		s.data[i] = (uint8_t)(id + i);
	return s;
}

static void test_geometry(void **state)
{
	struct vpcie_ring r;
	void *mem;

	(void)state;
	assert_false(vpcie_ring_slots_valid(0));
	assert_false(vpcie_ring_slots_valid(8));
	assert_false(vpcie_ring_slots_valid(24));
	assert_false(vpcie_ring_slots_valid(1u << 17));
	assert_true(vpcie_ring_slots_valid(16));
	assert_true(vpcie_ring_slots_valid(65536));
	assert_int_equal(vpcie_ring_mem_size(100), 0);
	assert_int_equal(vpcie_ring_mem_size(16), 4096 + 2 * 16 * 64);
	assert_int_equal(vpcie_ring_mem_size(1024), 4096 + 2 * 1024 * 64);

	mem = new_mem(SLOTS);
	assert_int_equal(((struct vpcie_ring_info *)mem)->magic, VPCIE_RING_MAGIC);
	assert_int_equal(((struct vpcie_ring_info *)mem)->slots, SLOTS);
	assert_int_equal(vpcie_ring_open(&r, mem, vpcie_ring_mem_size(SLOTS) - 1, SLOTS,
					 VPCIE_RING_H2D, true), -EINVAL);
	assert_int_equal(vpcie_ring_open(&r, mem, vpcie_ring_mem_size(SLOTS), 17,
					 VPCIE_RING_H2D, true), -EINVAL);
	assert_int_equal(vpcie_ring_open(&r, mem, vpcie_ring_mem_size(SLOTS), SLOTS,
					 (enum vpcie_ring_dir)2, true), -EINVAL);
	assert_int_equal(vpcie_ring_open(&r, NULL, 1 << 20, SLOTS, VPCIE_RING_H2D, true), -EINVAL);
	/* The two directions use distinct slots and control lines. */
	struct vpcie_ring a, b;

	assert_int_equal(vpcie_ring_open(&a, mem, vpcie_ring_mem_size(SLOTS), SLOTS,
					 VPCIE_RING_H2D, true), 0);
	assert_int_equal(vpcie_ring_open(&b, mem, vpcie_ring_mem_size(SLOTS), SLOTS,
					 VPCIE_RING_D2H, true), 0);
	assert_ptr_equal(a.slots, (uint8_t *)mem + 4096);
	assert_ptr_equal(b.slots, (uint8_t *)mem + 4096 + SLOTS * 64);
	munmap(mem, vpcie_ring_mem_size(SLOTS));
}

/* Producer and consumer of one direction over the same memory. */
static void *open_pair(struct vpcie_ring *p, struct vpcie_ring *c, enum vpcie_ring_dir dir)
{
	void *mem = new_mem(SLOTS);

	assert_int_equal(vpcie_ring_open(p, mem, vpcie_ring_mem_size(SLOTS), SLOTS, dir, true), 0);
	assert_int_equal(vpcie_ring_open(c, mem, vpcie_ring_mem_size(SLOTS), SLOTS, dir, false), 0);
	return mem;
}

/* Start both ends (and the shared index) at index start. */
static void set_index(void *mem, enum vpcie_ring_dir dir, struct vpcie_ring *p,
		      struct vpcie_ring *c, uint32_t start)
{
	*word(mem, dir, CONS) = start;
	p->head = p->seen = start;
	c->head = c->seen = start;
}

/* The seq word of ring index i's slot. */
static volatile uint32_t *seq_of(struct vpcie_ring *r, uint32_t i)
{
	return (volatile uint32_t *)(r->slots + (i & r->mask) * 64 +
				     offsetof(struct vpcie_ring_slot, seq));
}

static void test_fifo_full_and_wrap(void **state)
{
	struct vpcie_ring p, c;
	struct vpcie_ring_slot s, out;
	void *mem = open_pair(&p, &c, VPCIE_RING_H2D);
	uint16_t next = 0, want = 0;

	(void)state;
	assert_int_equal(vpcie_ring_pop(&c, &out), 0);
	assert_int_equal(vpcie_ring_free(&p), SLOTS);
	/* Indices wrap around 2^32 while traffic flows. */
	set_index(mem, VPCIE_RING_H2D, &p, &c, UINT32_MAX - 40);
	for (int round = 0; round < 10; round++) {
		/* Fill completely, then one more is refused. */
		for (unsigned i = 0; i < SLOTS; i++) {
			s = cmd(VPCIE_RING_OP_WRITE, next++, 4);
			assert_int_equal(vpcie_ring_push(&p, &s), 0);
		}
		s = cmd(VPCIE_RING_OP_WRITE, next, 4);
		assert_int_equal(vpcie_ring_push(&p, &s), -EAGAIN);
		assert_int_equal(vpcie_ring_free(&p), 0);
		assert_int_equal(vpcie_ring_pending(&p), SLOTS);
		assert_true(vpcie_ring_ready(&c));
		assert_int_equal(*seq_of(&p, p.head - 1), p.head); /* index + 1 */
		/* Drain part, refill: order is kept. */
		for (unsigned i = 0; i < SLOTS / 2 + round % 3; i++) {
			assert_int_equal(vpcie_ring_pop(&c, &out), 1);
			assert_int_equal(out.id, want);
			assert_int_equal(out.data[3], (uint8_t)(want + 3));
			want++;
		}
		while (vpcie_ring_free(&p) > 0) {
			s = cmd(VPCIE_RING_OP_WRITE, next++, 4);
			assert_int_equal(vpcie_ring_push(&p, &s), 0);
		}
		while (vpcie_ring_pop(&c, &out) == 1) {
			assert_int_equal(out.id, want);
			want++;
		}
		assert_int_equal(want, next);
	}
	assert_true(p.head < 1000); /* it did wrap */
	/* The copy is the consumer's: the shared slot changing later does not matter. */
	s = cmd(VPCIE_RING_OP_READ, 7, 4);
	assert_int_equal(vpcie_ring_push(&p, &s), 0);
	assert_int_equal(vpcie_ring_pop(&c, &out), 1);
	memset(p.slots, 0xee, SLOTS * 64);
	assert_int_equal(out.op, VPCIE_RING_OP_READ);
	assert_int_equal(out.id, 7);
	munmap(mem, vpcie_ring_mem_size(SLOTS));
}

static void test_sleep_and_kick(void **state)
{
	struct vpcie_ring p, c;
	struct vpcie_ring_slot s = cmd(VPCIE_RING_OP_WRITE, 1, 1), out;
	void *mem = open_pair(&p, &c, VPCIE_RING_D2H);

	(void)state;
	/* Nobody sleeps: no kick. */
	assert_int_equal(vpcie_ring_push(&p, &s), 0);
	assert_false(vpcie_ring_kick_needed(&p));
	/* Work already there: sleep_prepare says so. */
	assert_true(vpcie_ring_sleep_prepare(&c));
	vpcie_ring_awake(&c);
	assert_int_equal(vpcie_ring_pop(&c, &out), 1);
	/* Asleep: the first push kicks, the next ones do not (same sleep). */
	assert_false(vpcie_ring_sleep_prepare(&c));
	assert_int_not_equal(*word(mem, VPCIE_RING_D2H, SLEEPING), 0);
	assert_int_equal(vpcie_ring_push(&p, &s), 0);
	assert_true(vpcie_ring_kick_needed(&p));
	assert_int_equal(vpcie_ring_push(&p, &s), 0);
	assert_false(vpcie_ring_kick_needed(&p));
	vpcie_ring_awake(&c);
	assert_int_equal(*word(mem, VPCIE_RING_D2H, SLEEPING), 0);
	while (vpcie_ring_pop(&c, &out) == 1)
		;
	/* Awake writes the shared flag only when it was set. */
	*word(mem, VPCIE_RING_D2H, SLEEPING) = 77;
	vpcie_ring_awake(&c);
	assert_int_equal(*word(mem, VPCIE_RING_D2H, SLEEPING), 77);
	*word(mem, VPCIE_RING_D2H, SLEEPING) = 0;
	/* A new sleep is a new generation: kicked again. */
	assert_false(vpcie_ring_sleep_prepare(&c));
	assert_int_equal(vpcie_ring_push(&p, &s), 0);
	assert_true(vpcie_ring_kick_needed(&p));
	vpcie_ring_awake(&c);
	assert_int_equal(vpcie_ring_pop(&c, &out), 1);

	/* A producer waiting on a full ring is woken once the consumer frees slots. */
	while (vpcie_ring_push(&p, &s) == 0)
		;
	assert_int_equal(vpcie_ring_wait_prepare(&p), 0);
	assert_int_not_equal(*word(mem, VPCIE_RING_D2H, WAITING), 0);
	assert_false(vpcie_ring_take_kick(&c));
	for (unsigned i = 0; i < SLOTS; i++)
		assert_int_equal(vpcie_ring_pop(&c, &out), 1);
	assert_true(vpcie_ring_take_kick(&c));
	assert_false(vpcie_ring_take_kick(&c));
	assert_int_equal(vpcie_ring_wait_prepare(&p), SLOTS); /* space now: no block */
	vpcie_ring_wait_done(&p);
	assert_int_equal(*word(mem, VPCIE_RING_D2H, WAITING), 0);
	munmap(mem, vpcie_ring_mem_size(SLOTS));
}

/*
 * The peer writes garbage. Consumer side: a seq that is not the one
 * expected is "not ready", whatever its value; junk with the right seq is
 * copied out (for the runtime to refuse). Producer side: an impossible
 * consumer index is -EPROTO, never a slot outside the ring.
 */
static void test_garbage(void **state)
{
	static const uint32_t bad_offsets[] = {SLOTS + 1, SLOTS + 1000, 0x80000000u, UINT32_MAX};
	struct vpcie_ring p, c;
	struct vpcie_ring_slot s = cmd(VPCIE_RING_OP_WRITE, 1, 4), out;
	void *mem = open_pair(&p, &c, VPCIE_RING_H2D);

	(void)state;
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vpcie_ring_push(&p, &s), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vpcie_ring_pop(&c, &out), 1);
	/* Seqs of other laps, zero, random: not ready, and nothing is consumed. */
	static const uint32_t seqs[] = {0, 3, 4 + SLOTS, 4 - SLOTS, 0xffffffffu, 0x12345678u};

	for (size_t k = 0; k < sizeof(seqs) / sizeof(seqs[0]); k++) {
		*seq_of(&c, c.head) = seqs[k];
		assert_false(vpcie_ring_ready(&c));
		assert_int_equal(vpcie_ring_pop(&c, &out), 0);
		assert_false(vpcie_ring_sleep_prepare(&c));
		vpcie_ring_awake(&c);
		assert_int_equal(c.head, 3);
	}
	/* Random bytes with the right seq: handed over as they are. */
	memset(c.slots + (c.head & c.mask) * 64, 0xa5, 64);
	*seq_of(&c, c.head) = c.head + 1;
	assert_int_equal(vpcie_ring_pop(&c, &out), 1);
	assert_int_equal(out.op, 0xa5a5);
	assert_int_equal(vpcie_ring_slot_check(&out, VPCIE_RING_H2D), -EINVAL);
	p.head = c.head; /* keep the producer in step with what we faked */
	p.seen = c.head;

	/* Producer side: the consumer claims to have read what was never written,
	 * or to be more than a ring behind. */
	for (size_t k = 0; k < sizeof(bad_offsets) / sizeof(bad_offsets[0]); k++) {
		*word(mem, VPCIE_RING_H2D, CONS) = p.head + 1 + (uint32_t)k;
		assert_int_equal(vpcie_ring_free(&p), -EPROTO);
		assert_int_equal(vpcie_ring_pending(&p), -EPROTO);
		*word(mem, VPCIE_RING_H2D, CONS) = p.head - bad_offsets[k];
		assert_int_equal(vpcie_ring_free(&p), -EPROTO);
		assert_int_equal(vpcie_ring_wait_prepare(&p), -EPROTO);
		vpcie_ring_wait_done(&p);
		/* A push that needs the consumer's index reports it too. */
		p.seen = p.head - SLOTS;
		assert_int_equal(vpcie_ring_push(&p, &s), -EPROTO);
		p.seen = p.head;
	}
	/* Garbage flags only cost system calls: at most one kick per value. */
	*word(mem, VPCIE_RING_H2D, CONS) = p.head;
	*word(mem, VPCIE_RING_H2D, SLEEPING) = 0xdeadbeef;
	assert_int_equal(vpcie_ring_push(&p, &s), 0);
	assert_true(vpcie_ring_kick_needed(&p));
	assert_false(vpcie_ring_kick_needed(&p));
	munmap(mem, vpcie_ring_mem_size(SLOTS));
}

static void test_slot_check(void **state)
{
	struct vpcie_ring_slot s;

	(void)state;
	/* Commands. */
	s = cmd(VPCIE_RING_OP_READ, 1, 4);
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), 0);
	s = cmd(VPCIE_RING_OP_WRITE, 1, 32);
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), 0);
	s.flags = VPCIE_RING_F_POSTED;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), 0);
	s = cmd(VPCIE_RING_OP_FENCE, 1, 0);
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), 0);
	s = cmd(VPCIE_RING_OP_READ, 1, 0); /* empty access */
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), -EINVAL);
	s = cmd(VPCIE_RING_OP_WRITE, 1, 4);
	s.count = 33;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), -EINVAL);
	s.count = UINT16_MAX;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), -EINVAL);
	s = cmd(VPCIE_RING_OP_READ, 1, 4);
	s.flags = VPCIE_RING_F_POSTED; /* a posted read means nothing */
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), -EINVAL);
	s = cmd(VPCIE_RING_OP_READ, 1, 4);
	s.flags = VPCIE_RING_F_REPLY; /* a reply on the command ring */
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), -EINVAL);
	s = cmd(VPCIE_RING_OP_READ, 1, 4);
	s.flags = 0x80;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), -EINVAL);
	s = cmd(VPCIE_RING_OP_READ, 1, 4);
	s.reserved = 1;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), -EINVAL);
	s = cmd(VPCIE_RING_OP_IRQ, 1, 0); /* device-only */
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), -EINVAL);
	s = cmd(0, 1, 0);
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), -EINVAL);
	s = cmd(999, 1, 0);
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_H2D), -EINVAL);

	/* Replies and notices. */
	s = cmd(VPCIE_RING_OP_READ, 1, 8);
	s.flags = VPCIE_RING_F_REPLY;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_D2H), 0);
	s.count = 0;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_D2H), -EINVAL);
	s.flags |= VPCIE_RING_F_ERROR;
	s.error = EINVAL;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_D2H), 0);
	s.count = 4; /* an error reply has no data */
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_D2H), -EINVAL);
	s = cmd(VPCIE_RING_OP_WRITE, 1, 0);
	s.flags = VPCIE_RING_F_REPLY;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_D2H), 0);
	s.count = 4;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_D2H), -EINVAL);
	s = cmd(VPCIE_RING_OP_WRITE, 1, 0); /* a command on the reply ring */
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_D2H), -EINVAL);
	s = cmd(VPCIE_RING_OP_FENCE, 1, 0);
	s.flags = VPCIE_RING_F_REPLY;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_D2H), 0);
	s.error = 5; /* errno without the error flag */
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_D2H), -EINVAL);
	s = cmd(VPCIE_RING_OP_IRQ, 0, 0);
	s.index = 2;
	s.offset = 7;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_D2H), 0);
	s.flags = VPCIE_RING_F_REPLY;
	assert_int_equal(vpcie_ring_slot_check(&s, VPCIE_RING_D2H), -EINVAL);
	assert_int_equal(vpcie_ring_slot_check(&s, (enum vpcie_ring_dir)5), -EINVAL);

	/* Random bytes: the checker never reads outside the slot and mostly refuses. */
	srand(1);
	unsigned accepted = 0;

	for (int i = 0; i < 100000; i++) {
		uint8_t *b = (uint8_t *)&s;

		for (size_t k = 0; k < sizeof(s); k++)
			b[k] = (uint8_t)rand();
		accepted += vpcie_ring_slot_check(&s, (enum vpcie_ring_dir)(i & 1)) == 0;
	}
	assert_true(accepted < 100);
}

/*
 * Two processes, blocking for real: the child consumes and sleeps on an
 * eventfd when the ring is empty; the parent produces in bursts with pauses
 * and waits on another eventfd when the ring is full. Every slot arrives, in
 * order, and nobody hangs (an alarm ends a hung run).
 */
#define STRESS_N 400000u

static int wait_fd(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t v;

	if (poll(&p, 1, 5000) != 1)
		return -ETIMEDOUT;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return -EIO;
	return 0;
}

static void kick(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static void test_two_processes(void **state)
{
	size_t len = vpcie_ring_mem_size(64);
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int wake_cons = eventfd(0, EFD_CLOEXEC), wake_prod = eventfd(0, EFD_CLOEXEC), status;
	unsigned sleeps = 0, waits = 0;
	struct vpcie_ring p;
	pid_t pid;

	(void)state;
	assert_true(mem != MAP_FAILED);
	assert_true(wake_cons >= 0 && wake_prod >= 0);
	vpcie_ring_mem_init(mem, 64);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vpcie_ring c;
		struct vpcie_ring_slot s;
		uint32_t want = 0;

		alarm(60);
		if (vpcie_ring_open(&c, mem, len, 64, VPCIE_RING_H2D, false))
			_exit(10);
		while (want < STRESS_N) {
			int rc = vpcie_ring_pop(&c, &s);

			if (rc < 0)
				_exit(11);
			if (rc == 1) {
				uint32_t v;

				memcpy(&v, s.data, 4);
				if (v != want || s.offset != want)
					_exit(12);
				want++;
				if (vpcie_ring_take_kick(&c))
					kick(wake_prod);
				continue;
			}
			/* Empty: a short spin, then sleep. */
			for (int i = 0; i < 200 && !vpcie_ring_ready(&c); i++)
				;
			if (!vpcie_ring_sleep_prepare(&c) && wait_fd(wake_cons))
				_exit(14);
			vpcie_ring_awake(&c);
		}
		_exit(0);
	}
	alarm(60);
	assert_int_equal(vpcie_ring_open(&p, mem, len, 64, VPCIE_RING_H2D, true), 0);
	for (uint32_t i = 0; i < STRESS_N; i++) {
		struct vpcie_ring_slot s = cmd(VPCIE_RING_OP_WRITE, (uint16_t)i, 4);
		int rc;

		s.offset = i;
		memcpy(s.data, &i, 4);
		while ((rc = vpcie_ring_push(&p, &s)) == -EAGAIN) {
			rc = vpcie_ring_wait_prepare(&p);
			assert_true(rc >= 0);
			if (rc == 0) {
				waits++;
				assert_int_equal(wait_fd(wake_prod), 0);
			}
			vpcie_ring_wait_done(&p);
		}
		assert_int_equal(rc, 0);
		if (vpcie_ring_kick_needed(&p)) {
			sleeps++;
			kick(wake_cons);
		}
		/* Now and then a pause long enough for the consumer to sleep. */
		if (i % 50000 == 49999)
			usleep(2000);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	alarm(0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(sleeps > 0); /* the pauses made the consumer block */
	print_message("    %u consumer wake-ups, %u producer waits\n", sleeps, waits);
	close(wake_cons);
	close(wake_prod);
	munmap(mem, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_fifo_full_and_wrap),
		cmocka_unit_test(test_sleep_and_kick),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_slot_check),
		cmocka_unit_test(test_two_processes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
