/* SPDX-License-Identifier: MIT */
/*
 * The structures a program hands to the library travel with the size the
 * program was compiled with (vpcie/device.h, "ABI"): a program built against
 * an older, shorter structure gets defaults and NULL callbacks for what it
 * does not know, never the bytes that happen to follow its structure; one
 * built against a longer structure that sets unknown fields is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <vpcie/device.h>
#include <vpcie/host.h>

static const struct vpcie_ids ids = {.vendor = 0x1234, .device = 0xabcd, .class_code = 0xff0000};

/* Callbacks a shorter program does not have: calling one is a crash. */
#define POISON ((void *)(uintptr_t)0x10)

static void test_short_opts_take_defaults(void **state)
{
	/* An older program's options end before max_msg_fds; whatever follows
	 * them in its memory (here 0, which the library refuses) is not read. */
	struct {
		struct vpcie_dev_opts o;
		uint8_t after[64];
	} mem;
	size_t old = offsetof(struct vpcie_dev_opts, max_msg_fds);
	struct vpcie_dev *dev;

	(void)state;
	memset(&mem, 0xa5, sizeof(mem));
	vpcie_dev_opts_defaults_sized(&mem.o, old);
	for (size_t i = old; i < sizeof(mem.o); i++)
		assert_int_equal(((uint8_t *)&mem.o)[i], 0xa5); /* nothing written past it */
	mem.o.log_level = VPCIE_LOG_ERROR;
	memset((uint8_t *)&mem.o + old, 0, sizeof(mem.o) - old);
	dev = vpcie_dev_new_sized(&ids, sizeof(ids), NULL, 0, NULL, &mem.o, old);
	assert_non_null(dev); /* max_msg_fds took its default, not the 0 after */
	vpcie_dev_free(dev);
	/* The full structure with max_msg_fds 0 is refused: the size mattered. */
	dev = vpcie_dev_new_sized(&ids, sizeof(ids), NULL, 0, NULL, &mem.o, sizeof(mem.o));
	assert_null(dev);
	assert_int_equal(errno, EINVAL);
}

static void test_longer_structures(void **state)
{
	struct {
		struct vpcie_dev_opts o;
		uint8_t newer[16];
	} mem;
	struct vpcie_dev *dev;

	(void)state;
	memset(&mem, 0, sizeof(mem));
	vpcie_dev_opts_defaults_sized(&mem.o, sizeof(mem));
	assert_int_equal(mem.newer[0], 0); /* a newer program's unknown fields: zeroed */
	mem.o.log_level = VPCIE_LOG_ERROR;
	dev = vpcie_dev_new_sized(&ids, sizeof(ids), NULL, 0, NULL, &mem.o, sizeof(mem));
	assert_non_null(dev); /* unknown fields left at zero: accepted */
	vpcie_dev_free(dev);
	mem.newer[3] = 1;     /* a newer program asks for something we lack */
	dev = vpcie_dev_new_sized(&ids, sizeof(ids), NULL, 0, NULL, &mem.o, sizeof(mem));
	assert_null(dev);
	assert_int_equal(errno, EINVAL);
}

static int bar_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	(void)dev;
	(void)opaque;
	(void)off;
	memset(buf, 0, len);
	return 0;
}

static void test_short_bar_ops(void **state)
{
	struct vpcie_bar_ops ops = {.read = bar_read, .write = POISON};
	struct vpcie_bar_desc desc = {.size = 4096, .kind = VPCIE_BAR_MEM32, .ops = &ops};
	struct vpcie_dev_opts o;
	struct vpcie_dev *dev;

	(void)state;
	vpcie_dev_opts_defaults(&o);
	o.log_level = VPCIE_LOG_ERROR;
	dev = vpcie_dev_new(&ids, NULL, NULL, &o);
	assert_non_null(dev);
	/* ops that end before .write: a callback BAR without write, refused */
	assert_int_equal(vpcie_dev_set_bar_sized(dev, 0, &desc, sizeof(desc),
						 offsetof(struct vpcie_bar_ops, write)),
			 -EINVAL);
	ops.write = NULL;
	assert_int_equal(vpcie_dev_set_bar(dev, 0, &desc), -EINVAL);
	vpcie_dev_free(dev);
}

static int resets;

static void on_reset(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind)
{
	(void)dev;
	(void)opaque;
	(void)kind;
	resets++;
}

/* A program whose vpcie_dev_ops knew only reset: the library must never call
 * the poisoned pointers after it (connect, disconnect, cfg_written) while a
 * host connects, writes config space, resets and leaves. */
static void test_short_dev_ops(void **state)
{
	struct vpcie_dev_ops ops = {
		.reset = on_reset, .connect = POISON, .disconnect = POISON, .cfg_written = POISON,
	};
	struct vpcie_dev_opts o;
	struct vpcie_dev *dev;
	bool exited = false;
	int sv[2], st = 0;
	pid_t pid;

	(void)state;
	vpcie_dev_opts_defaults(&o);
	o.log_level = VPCIE_LOG_ERROR;
	o.offer_ring = false;
	dev = vpcie_dev_new_sized(&ids, sizeof(ids), &ops, offsetof(struct vpcie_dev_ops, connect),
				  NULL, &o, sizeof(o));
	assert_non_null(dev);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vpcie_host_opts ho;
		struct vpcie_host *h;
		int err = 0;

		close(sv[0]);
		vpcie_host_opts_defaults(&ho);
		ho.log_level = VPCIE_LOG_ERROR;
		h = vpcie_host_open_fd(sv[1], &ho, &err);
		if (!h || vpcie_host_cfg_write16(h, PCI_COMMAND, PCI_COMMAND_MEMORY) ||
		    vpcie_host_reset(h))
			_exit(1);
		vpcie_host_close(h);
		_exit(0);
	}
	close(sv[1]);
	assert_int_equal(vpcie_dev_attach(dev, sv[0]), 0);
	/* Serve until the host is done and gone (one dispatch may take the
	 * whole session at once on a busy machine). */
	for (int i = 0; i < 1000 && (!exited || vpcie_dev_connected(dev)); i++) {
		assert_int_equal(vpcie_dev_dispatch(dev, 20), 0);
		if (!exited && waitpid(pid, &st, WNOHANG) == pid)
			exited = true;
	}
	assert_true(exited);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_false(vpcie_dev_connected(dev));
	assert_int_equal(resets, 1);
	vpcie_dev_free(dev);
}

static void test_host_opts(void **state)
{
	struct {
		struct vpcie_host_opts o;
		uint8_t after[16];
	} mem;
	size_t old = offsetof(struct vpcie_host_opts, ring);
	int err = 0;

	(void)state;
	memset(&mem, 0x5a, sizeof(mem));
	vpcie_host_opts_defaults_sized(&mem.o, old);
	for (size_t i = old; i < sizeof(mem); i++)
		assert_int_equal(((uint8_t *)&mem)[i], 0x5a);
	memset(&mem, 0, sizeof(mem));
	vpcie_host_opts_defaults_sized(&mem.o, sizeof(mem));
	mem.after[0] = 1;
	assert_null(vpcie_host_open_sized("/nonexistent/vpcie.sock", &mem.o, sizeof(mem), &err));
	assert_int_equal(err, -EINVAL); /* refused before trying to connect */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_opts_take_defaults),
		cmocka_unit_test(test_longer_structures),
		cmocka_unit_test(test_short_bar_ops),
		cmocka_unit_test(test_short_dev_ops),
		cmocka_unit_test(test_host_opts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
