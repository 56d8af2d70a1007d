/* SPDX-License-Identifier: MIT */
/*
 * Fault injection, the parts a shell script cannot reach: the control
 * socket against a hostile peer (in-process device, one thread pumping both
 * ends), and interrupt and config-space faults seen through the host
 * runtime, driven at run time through vpcie-sample's control socket.
 *
 * argv[1] (or $VPCIE_SAMPLE) is the vpcie-sample program.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vpcie/device.h>
#include <vpcie/fault.h>
#include <vpcie/host.h>

#include "sample_regs.h"

static const char *sample_prog;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/*
 * Send bytes, then read until a line starting "ok"/"error" arrives, the peer
 * closes (returns what came, or "EOF"), or 2 s pass. The device is pumped
 * meanwhile if it lives in this process.
 */
static void ask(struct vpcie_dev *dev, int fd, const void *data, size_t len, char *out,
		size_t outlen)
{
	size_t got = 0;
	uint64_t end = now_ms() + 2000;

	if (len)
		assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
	out[0] = '\0';
	while (now_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char *last;
		ssize_t n;

		if (dev)
			vpcie_dev_dispatch(dev, 10);
		if (poll(&p, 1, dev ? 0 : 100) <= 0)
			continue;
		n = recv(fd, out + got, outlen - 1 - got, 0);
		if (n <= 0) {
			snprintf(out + got, outlen - got, "%sEOF", got ? "|" : "");
			return;
		}
		got += (size_t)n;
		out[got] = '\0';
		/* The last complete line decides. */
		if (got && out[got - 1] == '\n') {
			out[got - 1] = '\0';
			last = strrchr(out, '\n');
			last = last ? last + 1 : out;
			if (!strncmp(last, "ok", 2) || !strncmp(last, "error", 5))
				return;
			out[got - 1] = '\n';
		}
	}
	fail_msg("no answer to '%.*s' (got '%s')", (int)(len > 40 ? 40 : len), (const char *)data,
		 out);
}

static void ask_line(struct vpcie_dev *dev, int fd, const char *line, char *out, size_t outlen)
{
	ask(dev, fd, line, strlen(line), out, outlen);
}

/* ---- The control socket against a hostile peer --------------------------- */

static int bar_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	(void)dev, (void)opaque, (void)off;
	memset(buf, 0, len);
	return 0;
}

static int bar_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf,
		     size_t len)
{
	(void)dev, (void)opaque, (void)off, (void)buf, (void)len;
	return 0;
}

static void test_control_hostile(void **state)
{
	static const struct vpcie_bar_ops ops = {bar_read, bar_write};
	const struct vpcie_bar_desc bar = {.size = 4096, .kind = VPCIE_BAR_MEM32, .ops = &ops};
	const struct vpcie_ids ids = {.vendor = 0x1234, .device = 0x1};
	char dir[] = "/tmp/vpcie-faultctl-XXXXXX", path[128], out[4096], big[1500];
	struct vpcie_dev_opts o;
	struct vpcie_dev *dev;
	struct stat st;
	int fd, fd2;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dev.fault", dir);
	vpcie_dev_opts_defaults(&o);
	o.log_level = VPCIE_LOG_ERROR;
	dev = vpcie_dev_new(&ids, NULL, NULL, &o);
	assert_non_null(dev);
	assert_int_equal(vpcie_dev_set_bar(dev, 0, &bar), 0);
	assert_int_equal(vpcie_dev_fault_control(dev, path), 0);
	assert_int_equal(vpcie_dev_fault_control(dev, path), -EBUSY);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	fd = ctl_connect(path);
	ask_line(dev, fd, "list\n", out, sizeof(out));
	assert_string_equal(out, "ok 0 rules");
	ask_line(dev, fd, "add ur:region=0,op=read\n", out, sizeof(out));
	assert_string_equal(out, "ok 1");
	ask_line(dev, fd, "add ur:bogus=1\n", out, sizeof(out));
	assert_string_equal(out, "error unknown key 'bogus'");
	ask_line(dev, fd, "add\n", out, sizeof(out));
	assert_non_null(strstr(out, "error unknown command"));
	ask_line(dev, fd, "frobnicate everything\n", out, sizeof(out));
	assert_non_null(strstr(out, "error unknown command"));
	ask_line(dev, fd, "list extra\n", out, sizeof(out));
	assert_non_null(strstr(out, "error unknown command"));
	static const char *const bad_ids[] = {"clear abc\n", "clear -1\n", "clear 0\n",
					      "clear 1x\n", "clear 99999999999999999999\n",
					      "clear \n"};
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		ask_line(dev, fd, bad_ids[i], out, sizeof(out));
		assert_non_null(strstr(out, "error clear takes a rule id"));
	}
	ask_line(dev, fd, "clear 99\n", out, sizeof(out));
	assert_string_equal(out, "error no rule 99");
	ask(dev, fd, "li\0st\n", 6, out, sizeof(out));
	assert_string_equal(out, "error NUL byte in the line");
	/* Two commands in one packet, CRLF: two answers, in order. */
	ask_line(dev, fd, "add delay:us=1\r\nlist\r\n", out, sizeof(out));
	assert_string_equal(out, "ok 2\nrule 1 ur:region=0,op=read fired=0 seen=0\n"
				 "rule 2 delay:us=1 fired=0 seen=0\nok 2 rules");
	/* A second peer replaces the first. */
	fd2 = ctl_connect(path);
	ask_line(dev, fd2, "clear 2\n", out, sizeof(out));
	assert_string_equal(out, "ok 1 cleared");
	ask(dev, fd, "", 0, out, sizeof(out));
	assert_string_equal(out, "EOF");
	close(fd);
	/* A line longer than the limit: an error, and the connection is closed. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "add ", 4);
	ask(dev, fd2, big, sizeof(big), out, sizeof(out));
	assert_non_null(strstr(out, "error line longer than 511 bytes"));
	close(fd2);
	/* The device still answers, and kept the rule added before. */
	fd = ctl_connect(path);
	ask_line(dev, fd, "list\n", out, sizeof(out));
	assert_string_equal(out, "rule 1 ur:region=0,op=read fired=0 seen=0\nok 1 rules");
	ask_line(dev, fd, "clear\n", out, sizeof(out));
	assert_string_equal(out, "ok 1 cleared");
	close(fd);
	vpcie_dev_free(dev);
	assert_int_not_equal(access(path, F_OK), 0); /* removed */
	rmdir(dir);
}

/* A bad rule in the options: the device is not created. */
static void test_bad_opts(void **state)
{
	const struct vpcie_ids ids = {.vendor = 0x1234, .device = 0x1};
	const char *const good[] = {"ur:region=0", "delay:us=5"};
	const char *const bad[] = {"ur:region=0", "ur:nonsense"};
	struct vpcie_dev_opts o;
	struct vpcie_dev *dev;

	(void)state;
	vpcie_dev_opts_defaults(&o);
	o.log_level = VPCIE_LOG_ERROR + 0; /* the refusal is logged at error */
	o.faults = bad;
	o.nfaults = 2;
	errno = 0;
	assert_null(vpcie_dev_new(&ids, NULL, NULL, &o));
	assert_int_equal(errno, EINVAL);
	o.faults = good;
	dev = vpcie_dev_new(&ids, NULL, NULL, &o);
	assert_non_null(dev);
	assert_int_equal(vpcie_dev_fault_clear(dev, 0), 2);
	assert_int_equal(vpcie_dev_fault_clear(dev, 1), -ENOENT);
	vpcie_dev_free(dev);
}

/* ---- Interrupt and config faults through the host runtime --------------- */

struct fixture {
	char dir[64], sock[96], ctl[112];
	pid_t pid;
	struct vpcie_host *h;
	int ctl_fd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vpcie_host_opts o;
	int err = 0;

	strcpy(f->dir, "/tmp/vpcie-fault-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/dev.sock", f->dir);
	snprintf(f->ctl, sizeof(f->ctl), "%s.fault", f->sock);
	f->pid = fork();
	if (f->pid == 0) {
		execl(sample_prog, sample_prog, "--socket", f->sock, "--fault-control",
		      (char *)NULL);
		_exit(127);
	}
	vpcie_host_opts_defaults(&o);
	o.timeout_ms = 2000; /* the hang test waits this long */
	f->h = vpcie_host_open(f->sock, &o, &err);
	assert_non_null(f->h);
	assert_int_equal(vpcie_host_assign_bars(f->h, 0xe0000000ull, 0xc000), 0);
	assert_int_equal(vpcie_host_irq_enable(f->h, VPCIE_HOST_IRQ_MSIX, 4), 4);
	f->ctl_fd = ctl_connect(f->ctl);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int status = 0;

	close(f->ctl_fd);
	vpcie_host_close(f->h);
	kill(f->pid, SIGTERM);
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_not_equal(access(f->ctl, F_OK), 0);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void ctl(struct fixture *f, const char *line, const char *want)
{
	char out[1024];

	ask_line(NULL, f->ctl_fd, line, out, sizeof(out));
	assert_string_equal(out, want);
}

static void raise_irq(struct fixture *f, unsigned v)
{
	int err = 0;

	assert_int_equal(vpcie_host_bar_write32(f->h, 0, SAMPLE_REG_IRQ_RAISE, v), 0);
	assert_int_equal(vpcie_host_bar_read32(f->h, 0, SAMPLE_REG_IRQ_STATUS, &err), 0);
	assert_int_equal(err, 0);
}

static void test_irq_faults(void **state)
{
	struct fixture *f = *state;
	uint64_t events = 0, t0;
	int err = 0;

	/* Baseline: one raise, one event. */
	raise_irq(f, 0);
	assert_int_equal(vpcie_host_irq_wait_events(f->h, 0, 2000, &events), 0);
	assert_int_equal(events, 1);

	ctl(f, "add irq:action=dup,vector=0\n", "ok 1");
	raise_irq(f, 0);
	assert_int_equal(vpcie_host_irq_wait_events(f->h, 0, 2000, &events), 0);
	assert_int_equal(events, 2);
	ctl(f, "clear 1\n", "ok 1 cleared");

	ctl(f, "add irq:action=drop,vector=1\n", "ok 2");
	raise_irq(f, 1);
	assert_int_equal(vpcie_host_irq_wait(f->h, 1, 300), -ETIMEDOUT);
	raise_irq(f, 0); /* another vector is not touched */
	assert_int_equal(vpcie_host_irq_wait(f->h, 0, 2000), 0);
	ctl(f, "clear 2\n", "ok 1 cleared");

	ctl(f, "add irq:action=delay,us=300000,vector=2\n", "ok 3");
	t0 = now_ms();
	raise_irq(f, 2);
	assert_int_equal(vpcie_host_irq_wait(f->h, 2, 5000), 0);
	assert_true(now_ms() - t0 >= 300);
	ctl(f, "clear 3\n", "ok 1 cleared");

	/* Spurious: the next access sends vector 3, once. */
	assert_int_equal(vpcie_host_irq_wait(f->h, 3, 100), -ETIMEDOUT);
	ctl(f, "add irq:action=spurious,vector=3,after=0\n", "ok 4");
	vpcie_host_bar_read32(f->h, 0, SAMPLE_REG_ID, &err);
	assert_int_equal(err, 0);
	assert_int_equal(vpcie_host_irq_wait_events(f->h, 3, 2000, &events), 0);
	assert_int_equal(events, 1);
	vpcie_host_bar_read32(f->h, 0, SAMPLE_REG_ID, &err);
	assert_int_equal(vpcie_host_irq_wait(f->h, 3, 200), -ETIMEDOUT);
	ctl(f, "list\n", "rule 4 irq:action=spurious,vector=3,after=0 fired=1 seen=1 spent\nok 1 rules");
}

static void test_cfg_and_region_faults(void **state)
{
	struct fixture *f = *state;
	uint32_t id = 0, v;
	int err = 0;

	assert_int_equal(vpcie_host_cfg_read(f->h, 0, &id, 4), 0);
	assert_int_equal(id, SAMPLE_VENDOR | (SAMPLE_DEVICE << 16));
	ctl(f, "add cfg:mode=garbage,offset=0,len=2,seed=5\n", "ok 1");
	assert_int_equal(vpcie_host_cfg_read(f->h, 0, &v, 4), 0);
	assert_int_not_equal(v & 0xffff, SAMPLE_VENDOR); /* 1 in 65536 chance of a false fail */
	assert_int_equal(v >> 16, SAMPLE_DEVICE);         /* only [0, 2) */
	ctl(f, "clear\n", "ok 1 cleared");
	assert_int_equal(vpcie_host_cfg_read(f->h, 0, &v, 4), 0);
	assert_int_equal(v, id);

	/* ur on one register only: it reads all-ones, its neighbour does not. */
	ctl(f, "add ur:region=0,offset=0x0,len=4,op=read\n", "ok 2");
	assert_int_equal(vpcie_host_region_read(f->h, 0, SAMPLE_REG_ID, &v, 4), 0);
	assert_int_equal(v, 0xffffffffu);
	assert_int_equal(vpcie_host_bar_write32(f->h, 0, SAMPLE_REG_SCRATCH, 0x1234), 0);
	v = vpcie_host_bar_read32(f->h, 0, SAMPLE_REG_SCRATCH, &err);
	assert_int_equal(err, 0);
	assert_int_equal(v, 0x1234);
	/* ca on writes: the write is refused with EIO and does not land. */
	ctl(f, "add ca:region=0,offset=0x4,len=4,op=write\n", "ok 3");
	assert_int_equal(vpcie_host_region_write(f->h, 0, SAMPLE_REG_SCRATCH, &(uint32_t){7}, 4),
			 -EIO);
	assert_int_equal(vpcie_host_region_read(f->h, 0, SAMPLE_REG_SCRATCH, &v, 4), 0);
	assert_int_equal(v, 0x1234);
	ctl(f, "clear\n", "ok 2 cleared");
	assert_int_equal(vpcie_host_region_read(f->h, 0, SAMPLE_REG_ID, &v, 4), 0);
	assert_int_equal(v, SAMPLE_ID_VALUE);
}

/* hang: the read is never answered; the host times out, and the device
 * serves the next client. Over the ring too (fault-ctl-ring). */
static void test_hang(void **state)
{
	struct fixture *f = *state;
	struct vpcie_host_opts o;
	uint64_t t0;
	uint32_t v = 0;
	int ret, err = 0;

	ctl(f, "add hang:region=0,offset=0x0,len=4,op=read,after=0\n", "ok 1");
	t0 = now_ms();
	ret = vpcie_host_region_read(f->h, 0, SAMPLE_REG_ID, &v, 4);
	assert_true(ret == -ETIMEDOUT || ret == -ECONNRESET || ret == -ENOTCONN);
	assert_true(now_ms() - t0 >= 1900);
	vpcie_host_close(f->h);
	vpcie_host_opts_defaults(&o);
	f->h = vpcie_host_open(f->sock, &o, &err);
	assert_non_null(f->h);
	assert_int_equal(vpcie_host_assign_bars(f->h, 0xe0000000ull, 0xc000), 0);
	assert_int_equal(vpcie_host_region_read(f->h, 0, SAMPLE_REG_ID, &v, 4), 0);
	assert_int_equal(v, SAMPLE_ID_VALUE);
	ctl(f, "list\n", "rule 1 hang:region=0,len=4,op=read,after=0 fired=1 seen=1 spent\nok 1 rules");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_hostile),
		cmocka_unit_test(test_bad_opts),
		cmocka_unit_test_setup_teardown(test_irq_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cfg_and_region_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hang, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	sample_prog = argc > 1 ? argv[1] : getenv("VPCIE_SAMPLE");
	if (!sample_prog) {
		fprintf(stderr, "usage: %s VPCIE_SAMPLE\n", argv[0]);
		return 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
