/* SPDX-License-Identifier: MIT */
/*
 * Robustness of the device runtime against a misbehaving client, driven
 * against a real vpcie-sample process (path in argv[1]):
 *
 *  (a) malformed, truncated and out-of-order messages each get an error
 *      reply or a clean disconnect, and the device then serves the next
 *      client normally;
 *  (b) 1000 connect/disconnect cycles (VERSION, DMA_MAP with an fd,
 *      SET_IRQS with eventfds) leak no fd in the device nor in this process;
 *  (c) a client that sends half a header and stalls does not keep the
 *      device from serving once it goes away.
 *
 * Plain program: prints "N passed, N failed", exits 1 on any failure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vpcie/host.h>
#include <vpcie/protocol.h>
#include <vpcie/transport.h>

#include "sample_regs.h"

#define REPLY_TIMEOUT_MS 3000

static unsigned passed, failed;
static char sock_path[256];
static char tmp_dir[200];
static pid_t dev_pid = -1;

static void check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool cond, const char *fmt, ...)
{
	va_list ap;

	if (cond) {
		passed++;
		return;
	}
	failed++;
	fputs("FAIL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- The device process ---------------------------------------------------- */

static pid_t start_device(const char *prog)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		setenv("VPCIE_LOG", getenv("TEST_VERBOSE") ? "debug" : "error", 1);
		execl(prog, prog, "--socket", sock_path, "--msg-timeout", "500", (char *)NULL);
		perror("exec vpcie-sample");
		_exit(127);
	}
	return pid;
}

static int stop_device(void)
{
	int st;

	if (dev_pid <= 0)
		return -1;
	kill(dev_pid, SIGTERM);
	if (waitpid(dev_pid, &st, 0) < 0)
		return -1;
	dev_pid = -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static bool device_alive(void)
{
	return dev_pid > 0 && waitpid(dev_pid, NULL, WNOHANG) == 0;
}

static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/fd");
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return pid ? n : n - 1; /* the DIR's own fd */
}

/* ---- A raw client ------------------------------------------------------------ */

struct raw {
	struct vpcie_chan *ch;
	int fd;
	uint16_t next_id;
};

static int raw_open(struct raw *r)
{
	struct vpcie_chan_limits lim = {.max_msg_size = 2u << 20, .max_fds = 16};
	int fd = vpcie_unix_connect(sock_path, 5000);

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (fd < 0)
		return fd;
	r->ch = vpcie_chan_new(fd, &lim);
	if (!r->ch)
		return -errno;
	r->fd = vpcie_chan_fd(r->ch);
	r->next_id = 1;
	return 0;
}

/* raw_open() that counts a failed connection as a failed check: a suite
 * that cannot reach the device must not pass by doing nothing. */
static bool open_ok(struct raw *r, const char *what)
{
	int rc = raw_open(r);

	check(rc == 0, "%s: cannot connect: %s", what, strerror(-rc));
	return rc == 0;
}

static void raw_close(struct raw *r)
{
	vpcie_chan_free(r->ch);
	r->ch = NULL;
	r->fd = -1;
}

/* Bytes straight onto the socket (for broken framing). */
static int raw_write(struct raw *r, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(r->fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			struct pollfd pfd = {.fd = r->fd, .events = POLLOUT};

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			poll(&pfd, 1, 1000);
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int raw_send(struct raw *r, unsigned cmd, uint32_t flags, const void *payload, size_t len,
		    const int *fds, unsigned nfds, uint16_t *id)
{
	struct vpcie_msg_hdr hdr = {
		.msg_id = r->next_id++,
		.cmd = (uint16_t)cmd,
		.flags = flags,
	};
	struct iovec iov = {(void *)payload, len};

	if (id)
		*id = hdr.msg_id;
	return vpcie_chan_send(r->ch, &hdr, &iov, len ? 1 : 0, fds, nfds, REPLY_TIMEOUT_MS);
}

/*
 * Wait for the reply to id. Returns 0 (success reply; *out filled if given),
 * a positive errno (error reply), -ECONNRESET (device closed the connection),
 * -ETIMEDOUT, or another -errno.
 */
static int raw_reply(struct raw *r, uint16_t id, struct vpcie_msg *out)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct vpcie_msg m;
		int rc, left;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = REPLY_TIMEOUT_MS - (int)((t.tv_sec - t0.tv_sec) * 1000 +
						(t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return -ETIMEDOUT;
		rc = vpcie_chan_recv(r->ch, &m, left);
		if (rc)
			return rc;
		if ((m.hdr.flags & VPCIE_MSGF_TYPE_MASK) != VPCIE_MSGF_REPLY || m.hdr.msg_id != id) {
			vpcie_msg_release(&m);
			continue;
		}
		if (m.hdr.flags & VPCIE_MSGF_ERROR) {
			rc = m.hdr.error ? (int)m.hdr.error : EIO;
			vpcie_msg_release(&m);
			return rc;
		}
		if (out)
			*out = m;
		else
			vpcie_msg_release(&m);
		return 0;
	}
}

static int raw_call(struct raw *r, unsigned cmd, const void *payload, size_t len,
		    const int *fds, unsigned nfds, struct vpcie_msg *out)
{
	uint16_t id;
	int rc = raw_send(r, cmd, 0, payload, len, fds, nfds, &id);

	return rc ? rc : raw_reply(r, id, out);
}

static int raw_version(struct raw *r)
{
	struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
	struct vpcie_caps caps;
	char buf[sizeof(v) + 512];
	int len;

	vpcie_caps_defaults(&caps);
	caps.max_msg_fds = 16;
	caps.twin_fd_index = -1;
	len = vpcie_caps_to_json(&caps, buf + sizeof(v), sizeof(buf) - sizeof(v));
	if (len < 0)
		return len;
	memcpy(buf, &v, sizeof(v));
	return raw_call(r, VPCIE_CMD_VERSION, buf, sizeof(v) + (size_t)len, NULL, 0, NULL);
}

/* A GET_INFO round trip: the connection still works. */
static bool raw_alive(struct raw *r)
{
	struct vpcie_device_info in = {.argsz = sizeof(in)};
	struct vpcie_msg m;
	bool ok;

	if (raw_call(r, VPCIE_CMD_DEVICE_GET_INFO, &in, sizeof(in), NULL, 0, &m))
		return false;
	ok = m.payload_len >= sizeof(in) &&
	     ((const struct vpcie_device_info *)m.payload)->num_regions >= 9;
	vpcie_msg_release(&m);
	return ok;
}

/* Error reply with errno want (0: any), or (if allowed) a disconnect. */
static void expect_reject(struct raw *r, uint16_t id, int want, bool close_ok, const char *what)
{
	int rc = raw_reply(r, id, NULL);

	if (rc == -ECONNRESET && close_ok) {
		passed++;
		return;
	}
	if (rc > 0 && (want == 0 || rc == want)) {
		passed++;
		return;
	}
	check(false, "%s: got %d (%s), want error reply %d%s", what, rc,
	      rc > 0 ? strerror(rc) : rc < 0 ? strerror(-rc) : "success", want,
	      close_ok ? " or disconnect" : "");
}

/* The device disconnects us (any error replies before that are fine). */
static void expect_disconnect(struct raw *r, const char *what)
{
	for (int i = 0; i < 16; i++) {
		struct vpcie_msg m;
		int rc = vpcie_chan_recv(r->ch, &m, REPLY_TIMEOUT_MS);

		if (rc == -ECONNRESET) {
			passed++;
			return;
		}
		if (rc) {
			check(false, "%s: waiting for the disconnect: %s", what, strerror(-rc));
			return;
		}
		vpcie_msg_release(&m);
	}
	check(false, "%s: device kept talking instead of disconnecting", what);
}

/* A fresh client through the host runtime sees a working device. */
static void expect_device_ok(const char *after)
{
	struct vpcie_host_opts o;
	struct vpcie_device_info info;
	struct vpcie_host *h;
	int err = 0;
	uint16_t vendor, device;

	vpcie_host_opts_defaults(&o);
	o.timeout_ms = REPLY_TIMEOUT_MS;
	o.log_level = VPCIE_LOG_ERROR;
	h = vpcie_host_open(sock_path, &o, &err);
	if (!h) {
		check(false, "after %s: next client cannot connect: %s", after, strerror(-err));
		return;
	}
	vendor = vpcie_host_cfg_read16(h, PCI_VENDOR_ID, &err);
	device = err ? 0 : vpcie_host_cfg_read16(h, PCI_DEVICE_ID, &err);
	check(err == 0 && vendor == SAMPLE_VENDOR && device == SAMPLE_DEVICE,
	      "after %s: next client reads IDs %04x:%04x (%d)", after, vendor, device, err);
	err = vpcie_host_device_info(h, &info);
	check(err == 0 && info.num_regions >= 9, "after %s: device info (%d)", after, err);
	vpcie_host_close(h);
}

/* ---- (a) malformed messages ------------------------------------------------------ */

static void test_framing(void)
{
	struct raw r;
	struct vpcie_msg_hdr hdr;

	/* Header claiming a huge size: the device must not wait for 4 GiB. */
	if (open_ok(&r, "huge size")) {
		hdr = (struct vpcie_msg_hdr){.msg_id = 1, .cmd = VPCIE_CMD_VERSION, .size = UINT32_MAX};
		raw_write(&r, &hdr, sizeof(hdr));
		expect_disconnect(&r, "header with size 0xffffffff");
		raw_close(&r);
	}
	expect_device_ok("a huge size");

	/* Same after negotiation, with a size just over the limit. */
	if (open_ok(&r, "size over the limit")) {
		check(raw_version(&r) == 0, "VERSION");
		hdr = (struct vpcie_msg_hdr){.msg_id = 9, .cmd = VPCIE_CMD_REGION_WRITE,
					     .size = (64u << 20) + 1};
		raw_write(&r, &hdr, sizeof(hdr));
		expect_disconnect(&r, "header with size 64 MiB + 1");
		raw_close(&r);
	}
	expect_device_ok("an oversized message");

	/* Sizes below the header's own 16 bytes. */
	for (uint32_t size = 0; size < VPCIE_HDR_SIZE; size += 5) {
		char what[64];

		if (!open_ok(&r, "size below 16"))
			continue;
		snprintf(what, sizeof(what), "header with size %u", size);
		hdr = (struct vpcie_msg_hdr){.msg_id = 1, .cmd = VPCIE_CMD_VERSION, .size = size};
		raw_write(&r, &hdr, sizeof(hdr));
		expect_disconnect(&r, what);
		raw_close(&r);
	}
	expect_device_ok("sizes below 16");

	/* Truncated: a header announcing 40 bytes, 24 sent, then EOF. */
	if (open_ok(&r, "truncated message")) {
		uint8_t buf[24] = {0};

		hdr = (struct vpcie_msg_hdr){.msg_id = 1, .cmd = VPCIE_CMD_VERSION, .size = 40};
		memcpy(buf, &hdr, sizeof(hdr));
		raw_write(&r, buf, sizeof(buf));
		shutdown(r.fd, SHUT_WR);
		expect_disconnect(&r, "truncated message then EOF");
		raw_close(&r);
	}
	expect_device_ok("a truncated message");

	/* Half a header then EOF. */
	if (open_ok(&r, "half a header")) {
		hdr = (struct vpcie_msg_hdr){.msg_id = 1, .cmd = VPCIE_CMD_VERSION, .size = 20};
		raw_write(&r, &hdr, 7);
		shutdown(r.fd, SHUT_WR);
		expect_disconnect(&r, "half a header then EOF");
		raw_close(&r);
	}
	expect_device_ok("half a header");

	/* More fds than the device accepts with one message (16). */
	if (open_ok(&r, "too many fds")) {
		int fds[24];
		unsigned n = 0;
		struct vpcie_device_info in = {.argsz = sizeof(in)};

		check(raw_version(&r) == 0, "VERSION");
		for (; n < 24; n++)
			if ((fds[n] = eventfd(0, EFD_CLOEXEC)) < 0)
				break;
		raw_send(&r, VPCIE_CMD_DEVICE_GET_INFO, 0, &in, sizeof(in), fds, n, NULL);
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
		expect_disconnect(&r, "24 fds with one message");
		raw_close(&r);
	}
	expect_device_ok("too many fds");
}

static void test_version(void)
{
	struct raw r;
	uint16_t id;

	/* Commands before VERSION: error reply, then negotiation still works. */
	if (open_ok(&r, "commands before VERSION")) {
		struct vpcie_device_info in = {.argsz = sizeof(in)};
		struct vpcie_region_access ra = {.offset = 0, .region = VFIO_PCI_CONFIG_REGION_INDEX,
						 .count = 4};
		struct vpcie_dma_map dm = {.argsz = sizeof(dm), .flags = VFIO_DMA_MAP_FLAG_READ,
					   .addr = 0x1000, .size = 0x1000};

		/* Each is an error reply on a connection that stays open. */
		raw_send(&r, VPCIE_CMD_DEVICE_GET_INFO, 0, &in, sizeof(in), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "GET_INFO before VERSION");
		raw_send(&r, VPCIE_CMD_REGION_READ, 0, &ra, sizeof(ra), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "REGION_READ before VERSION");
		raw_send(&r, VPCIE_CMD_DMA_MAP, 0, &dm, sizeof(dm), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "DMA_MAP before VERSION");
		raw_send(&r, VPCIE_CMD_DEVICE_RESET, 0, NULL, 0, NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "DEVICE_RESET before VERSION");
		check(raw_version(&r) == 0, "late VERSION after rejected commands");
		check(raw_alive(&r), "GET_INFO after late VERSION");
		raw_close(&r);
	}
	expect_device_ok("commands before VERSION");

	/* VERSION twice: error reply, connection stays usable. */
	if (open_ok(&r, "VERSION twice")) {
		struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};

		check(raw_version(&r) == 0, "first VERSION");
		raw_send(&r, VPCIE_CMD_VERSION, 0, &v, sizeof(v), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, true, "second VERSION");
		check(raw_alive(&r), "GET_INFO after a second VERSION");
		raw_close(&r);
	}
	expect_device_ok("VERSION twice");

	/* Wrong major version: refused, disconnected. */
	if (open_ok(&r, "wrong major version")) {
		struct vpcie_version v = {VPCIE_PROTO_MAJOR + 1, 0};

		raw_send(&r, VPCIE_CMD_VERSION, 0, &v, sizeof(v), NULL, 0, &id);
		expect_reject(&r, id, 0, true, "VERSION 1.0");
		raw_close(&r);
	}
	expect_device_ok("a wrong major version");

	/* Malformed JSON and wrongly typed capabilities. */
	static const char *const bad_json[] = {
		"{", "[1,2]", "{\"capabilities\": 5}",
		"{\"capabilities\": {\"max_msg_fds\": -1}}",
		"{\"capabilities\": {\"max_data_xfer_size\": \"big\"}}",
		"{\"capabilities\": {\"twin_socket\": true}}",
		"{} trailing",
	};
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
		char m[sizeof(v) + 128], what[128];

		if (!open_ok(&r, "malformed VERSION JSON"))
			continue;
		snprintf(what, sizeof(what), "VERSION with JSON '%s'", bad_json[i]);
		memcpy(m, &v, sizeof(v));
		strcpy(m + sizeof(v), bad_json[i]);
		raw_send(&r, VPCIE_CMD_VERSION, 0, m, sizeof(v) + strlen(bad_json[i]) + 1, NULL, 0, &id);
		expect_reject(&r, id, EINVAL, true, what);
		raw_close(&r);
	}
	expect_device_ok("malformed VERSION JSON");

	/* VERSION payload shorter than major/minor. */
	if (open_ok(&r, "short VERSION")) {
		uint16_t major = VPCIE_PROTO_MAJOR;

		raw_send(&r, VPCIE_CMD_VERSION, 0, &major, sizeof(major), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, true, "VERSION of 2 bytes");
		raw_close(&r);
	}
	expect_device_ok("a short VERSION");
}

static void test_commands(void)
{
	struct raw r;
	uint16_t id;

	if (!open_ok(&r, "commands"))
		return;
	check(raw_version(&r) == 0, "VERSION");

	/* Unknown commands, and DMA_READ/WRITE, which only go device->host. */
	static const unsigned bad_cmds[] = {0, 14, 19, 99, 0xffff, VPCIE_CMD_DMA_READ,
					    VPCIE_CMD_DMA_WRITE};
	for (size_t i = 0; i < sizeof(bad_cmds) / sizeof(bad_cmds[0]); i++) {
		uint8_t payload[32] = {0};
		char what[48];

		snprintf(what, sizeof(what), "command %u", bad_cmds[i]);
		raw_send(&r, bad_cmds[i], 0, payload, sizeof(payload), NULL, 0, &id);
		expect_reject(&r, id, 0, false, what);
	}
	check(raw_alive(&r), "alive after unknown commands");

	/* Message type other than command/reply. */
	{
		struct vpcie_device_info in = {.argsz = sizeof(in)};

		raw_send(&r, VPCIE_CMD_DEVICE_GET_INFO, 7, &in, sizeof(in), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "message type 7");
		/* A reply from the client is dropped without an answer. */
		raw_send(&r, VPCIE_CMD_DEVICE_GET_INFO, VPCIE_MSGF_REPLY, &in, sizeof(in), NULL, 0,
			 NULL);
		check(raw_alive(&r), "alive after a stray reply");
	}

	/* REGION_READ outside regions, truncated, or over the transfer limit. */
	static const struct {
		uint64_t off;
		uint32_t region, count;
		int err;
		const char *what;
	} reads[] = {
		{4090, VFIO_PCI_CONFIG_REGION_INDEX, 16, EINVAL, "config read past 4096"},
		{4096, VFIO_PCI_CONFIG_REGION_INDEX, 1, EINVAL, "config read at 4096"},
		{UINT64_MAX - 1, VFIO_PCI_CONFIG_REGION_INDEX, 4, EINVAL, "config read, offset wraps"},
		{0, VFIO_PCI_CONFIG_REGION_INDEX, 0, EINVAL, "config read of 0 bytes"},
		{SAMPLE_BAR0_SIZE - 2, 0, 4, EINVAL, "BAR0 read past its end"},
		{0, 3, 4, EINVAL, "read of absent BAR3"},
		{0, VFIO_PCI_VGA_REGION_INDEX, 4, EINVAL, "read of the absent VGA region"},
		{0, 9, 4, EINVAL, "read of region 9"},
		{0, 0xffffffffu, 4, EINVAL, "read of region 0xffffffff"},
		{2048, VFIO_PCI_ROM_REGION_INDEX, 1, EINVAL, "ROM read past 2 KiB"},
		{0, 2, (1u << 20) + 1, E2BIG, "read over max_data_xfer_size"},
	};
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		struct vpcie_region_access ra = {reads[i].off, reads[i].region, reads[i].count};

		raw_send(&r, VPCIE_CMD_REGION_READ, 0, &ra, sizeof(ra), NULL, 0, &id);
		expect_reject(&r, id, reads[i].err, false, reads[i].what);
	}
	{
		struct vpcie_region_access ra = {0, VFIO_PCI_CONFIG_REGION_INDEX, 4};

		raw_send(&r, VPCIE_CMD_REGION_READ, 0, &ra, 8, NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "REGION_READ of 8 bytes");
		raw_send(&r, VPCIE_CMD_REGION_READ, 0, NULL, 0, NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "REGION_READ without payload");
	}
	/* REGION_WRITE whose data is shorter than its count; read-only ROM. */
	{
		uint8_t w[sizeof(struct vpcie_region_access) + 4] = {0};
		struct vpcie_region_access ra = {0x40, VFIO_PCI_CONFIG_REGION_INDEX, 16};

		memcpy(w, &ra, sizeof(ra));
		raw_send(&r, VPCIE_CMD_REGION_WRITE, 0, w, sizeof(w), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "REGION_WRITE with 4 of 16 data bytes");
		ra = (struct vpcie_region_access){0, VFIO_PCI_ROM_REGION_INDEX, 4};
		memcpy(w, &ra, sizeof(ra));
		raw_send(&r, VPCIE_CMD_REGION_WRITE, 0, w, sizeof(w), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "REGION_WRITE to the ROM");
		ra = (struct vpcie_region_access){4094, VFIO_PCI_CONFIG_REGION_INDEX, 4};
		memcpy(w, &ra, sizeof(ra));
		raw_send(&r, VPCIE_CMD_REGION_WRITE, 0, w, sizeof(w), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "REGION_WRITE past config space");
		/* Posted and failing: no reply, connection fine. */
		raw_send(&r, VPCIE_CMD_REGION_WRITE, VPCIE_MSGF_NO_REPLY, w, sizeof(w), NULL, 0,
			 NULL);
		check(raw_alive(&r), "alive after a failing posted write");
	}
	check(raw_alive(&r), "alive after bad region accesses");

	/* REGION_WRITE_MULTI: count 0, a count over 8, more entries than sent. */
	{
		struct vpcie_write_multi_entry e[2];
		uint8_t wm[sizeof(uint64_t) + sizeof(e)];
		uint64_t cnt = 0;

		memset(e, 0, sizeof(e));
		memcpy(wm, &cnt, sizeof(cnt));
		raw_send(&r, VPCIE_CMD_REGION_WRITE_MULTI, 0, wm, sizeof(cnt), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "WRITE_MULTI with count 0");
		cnt = 1;
		e[0] = (struct vpcie_write_multi_entry){0x3c, VFIO_PCI_CONFIG_REGION_INDEX, 9, {0}};
		memcpy(wm, &cnt, sizeof(cnt));
		memcpy(wm + sizeof(cnt), e, sizeof(e));
		raw_send(&r, VPCIE_CMD_REGION_WRITE_MULTI, 0, wm, sizeof(cnt) + sizeof(e[0]), NULL, 0,
			 &id);
		expect_reject(&r, id, EINVAL, false, "WRITE_MULTI entry of 9 bytes");
		cnt = 3;
		e[0].count = 1;
		memcpy(wm, &cnt, sizeof(cnt));
		memcpy(wm + sizeof(cnt), e, sizeof(e));
		raw_send(&r, VPCIE_CMD_REGION_WRITE_MULTI, 0, wm, sizeof(wm), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "WRITE_MULTI announcing 3 entries, sending 2");
		cnt = UINT64_MAX;
		memcpy(wm, &cnt, sizeof(cnt));
		raw_send(&r, VPCIE_CMD_REGION_WRITE_MULTI, 0, wm, sizeof(wm), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "WRITE_MULTI with count 2^64-1");
		cnt = 2;
		e[1] = (struct vpcie_write_multi_entry){4095, VFIO_PCI_CONFIG_REGION_INDEX, 4, {0}};
		memcpy(wm, &cnt, sizeof(cnt));
		memcpy(wm + sizeof(cnt), e, sizeof(e));
		e[0].data[0] = 0x5a; /* interrupt line: writable */
		memcpy(wm + sizeof(cnt), e, sizeof(e));
		raw_send(&r, VPCIE_CMD_REGION_WRITE_MULTI, 0, wm, sizeof(wm), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "WRITE_MULTI with an entry past config space");
		/* ... and the valid entry before it was not applied either. */
		struct vpcie_region_access rd = {0x3c, VFIO_PCI_CONFIG_REGION_INDEX, 1};
		struct vpcie_msg m;

		raw_send(&r, VPCIE_CMD_REGION_READ, 0, &rd, sizeof(rd), NULL, 0, &id);
		if (raw_reply(&r, id, &m) == 0) {
			check(m.payload_len == sizeof(rd) + 1 &&
			      ((uint8_t *)m.payload)[sizeof(rd)] != 0x5a,
			      "a rejected WRITE_MULTI applies none of its entries");
			vpcie_msg_release(&m);
		} else {
			check(0, "config read after a rejected WRITE_MULTI");
		}
	}

	/* SET_IRQS: bad index, start/count outside, bad flags, fd count mismatch. */
	{
		uint8_t is[sizeof(struct vpcie_irq_set) + 64];
		const uint32_t ev_trig = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
		int efd[3];
		static const struct {
			uint32_t index, start, count, flags;
			unsigned nfds;
			const char *what;
		} bad[] = {
			{VFIO_PCI_NUM_IRQS, 0, 1, 0, 1, "SET_IRQS index 5"},
			{0xffffffffu, 0, 1, 0, 1, "SET_IRQS index 0xffffffff"},
			{VFIO_PCI_MSI_IRQ_INDEX, 0, 64, 0, 0, "SET_IRQS MSI count 64 of 32"},
			{VFIO_PCI_MSI_IRQ_INDEX, 32, 1, 0, 1, "SET_IRQS MSI start 32"},
			{VFIO_PCI_MSIX_IRQ_INDEX, 0xffffffffu, 2, 0, 2, "SET_IRQS start+count wraps"},
			{VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, 0, 1, "SET_IRQS 2 vectors, 1 fd"},
			{VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, 0, 3, "SET_IRQS 1 vector, 3 fds"},
			{VFIO_PCI_MSIX_IRQ_INDEX, 0, 1,
			 VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
			 1, "SET_IRQS with two data types"},
			{VFIO_PCI_MSIX_IRQ_INDEX, 0, 1,
			 VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_TRIGGER,
			 0, "SET_IRQS with two actions"},
			{VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
			 1, "SET_IRQS DATA_NONE with an fd"},
			{VFIO_PCI_MSIX_IRQ_INDEX, 0, 60, VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
			 0, "SET_IRQS DATA_BOOL with 60 vectors, 64 bytes short of none"},
		};

		for (unsigned i = 0; i < 3; i++)
			efd[i] = eventfd(0, EFD_CLOEXEC);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct vpcie_irq_set s = {.argsz = sizeof(s),
						  .flags = bad[i].flags ? bad[i].flags : ev_trig,
						  .index = bad[i].index, .start = bad[i].start,
						  .count = bad[i].count};
			size_t len = sizeof(s);

			memset(is, 0, sizeof(is));
			memcpy(is, &s, sizeof(s));
			if (s.flags & VFIO_IRQ_SET_DATA_BOOL)
				len += 8; /* fewer bools than the count */
			raw_send(&r, VPCIE_CMD_DEVICE_SET_IRQS, 0, is, len, efd, bad[i].nfds, &id);
			expect_reject(&r, id, EINVAL, false, bad[i].what);
		}
		for (unsigned i = 0; i < 3; i++)
			close(efd[i]);
		check(raw_alive(&r), "alive after bad SET_IRQS");
	}

	/* DMA_MAP: overlaps are EEXIST; zero size, wrap-around and flags EINVAL. */
	{
		struct vpcie_dma_map dm = {.argsz = sizeof(dm),
					   .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
					   .addr = 0x100000, .size = 0x4000};
		struct vpcie_dma_unmap du = {.argsz = sizeof(du), .addr = 0x100000, .size = 0x4000};
		int mfd = memfd_create("robust", MFD_CLOEXEC);
		int rc;

		check(mfd >= 0 && ftruncate(mfd, 0x10000) == 0, "memfd");
		rc = raw_call(&r, VPCIE_CMD_DMA_MAP, &dm, sizeof(dm), NULL, 0, NULL);
		check(rc == 0, "DMA_MAP [0x100000, +0x4000) without fd: %d", rc);
		static const struct {
			uint64_t addr, size;
		} overlaps[] = {
			{0x100000, 0x4000}, {0x101000, 0x1000}, {0xff000, 0x2000},
			{0x103fff, 0x10}, {0x0, 0x200000},
		};
		for (size_t i = 0; i < sizeof(overlaps) / sizeof(overlaps[0]); i++) {
			struct vpcie_dma_map o = dm;
			char what[80];

			o.addr = overlaps[i].addr;
			o.size = overlaps[i].size;
			snprintf(what, sizeof(what), "overlapping DMA_MAP [%#llx, +%#llx)",
				 (unsigned long long)o.addr, (unsigned long long)o.size);
			raw_send(&r, VPCIE_CMD_DMA_MAP, 0, &o, sizeof(o), NULL, 0, &id);
			expect_reject(&r, id, EEXIST, false, what);
			/* Same with an fd: refused, and the fd must not leak. */
			o.offset = 0;
			raw_send(&r, VPCIE_CMD_DMA_MAP, 0, &o, sizeof(o), &mfd, 1, &id);
			expect_reject(&r, id, EEXIST, false, what);
		}
		/* Adjacent maps are fine. */
		dm.addr = 0x104000;
		dm.size = 0x1000;
		rc = raw_call(&r, VPCIE_CMD_DMA_MAP, &dm, sizeof(dm), &mfd, 1, NULL);
		check(rc == 0, "adjacent DMA_MAP with fd: %d", rc);
		dm.addr = 0xff000;
		rc = raw_call(&r, VPCIE_CMD_DMA_MAP, &dm, sizeof(dm), NULL, 0, NULL);
		check(rc == 0, "adjacent DMA_MAP below: %d", rc);

		struct vpcie_dma_map bad = dm;

		bad.addr = 0x800000;
		bad.size = 0;
		raw_send(&r, VPCIE_CMD_DMA_MAP, 0, &bad, sizeof(bad), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "DMA_MAP of size 0");
		bad.addr = UINT64_MAX - 0xfff;
		bad.size = 0x2000;
		raw_send(&r, VPCIE_CMD_DMA_MAP, 0, &bad, sizeof(bad), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "DMA_MAP wrapping around");
		bad.addr = 0x800000;
		bad.size = 0x1000;
		bad.flags = 0;
		raw_send(&r, VPCIE_CMD_DMA_MAP, 0, &bad, sizeof(bad), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "DMA_MAP without permissions");
		bad.flags = VFIO_DMA_MAP_FLAG_READ;
		bad.size = 0x100000; /* the memfd has 64 KiB */
		raw_send(&r, VPCIE_CMD_DMA_MAP, 0, &bad, sizeof(bad), &mfd, 1, &id);
		expect_reject(&r, id, EINVAL, false, "DMA_MAP larger than its fd");
		raw_send(&r, VPCIE_CMD_DMA_MAP, 0, &bad, 16, NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "DMA_MAP of 16 bytes");
		{
			int two[2] = {mfd, mfd};

			bad.size = 0x1000;
			raw_send(&r, VPCIE_CMD_DMA_MAP, 0, &bad, sizeof(bad), two, 2, &id);
			expect_reject(&r, id, EINVAL, false, "DMA_MAP with two fds");
		}
		/* Unmap what is not mapped (exactly) -> error; the real one works. */
		du.addr = 0x200000;
		raw_send(&r, VPCIE_CMD_DMA_UNMAP, 0, &du, sizeof(du), NULL, 0, &id);
		expect_reject(&r, id, 0, false, "DMA_UNMAP of an unmapped range");
		du.addr = 0x100000;
		rc = raw_call(&r, VPCIE_CMD_DMA_UNMAP, &du, sizeof(du), NULL, 0, NULL);
		check(rc == 0, "DMA_UNMAP of the first map: %d", rc);
		if (mfd >= 0)
			close(mfd);
	}
	check(raw_alive(&r), "alive after bad DMA_MAPs");

	/* Short fixed parts of the other commands. */
	{
		static const unsigned cmds[] = {
			VPCIE_CMD_DMA_UNMAP, VPCIE_CMD_DEVICE_GET_INFO,
			VPCIE_CMD_DEVICE_GET_REGION_INFO, VPCIE_CMD_DEVICE_GET_REGION_IO_FDS,
			VPCIE_CMD_DEVICE_GET_IRQ_INFO, VPCIE_CMD_DEVICE_SET_IRQS,
			VPCIE_CMD_REGION_WRITE, VPCIE_CMD_REGION_WRITE_MULTI,
			VPCIE_CMD_DEVICE_FEATURE,
		};
		uint32_t four = 4;

		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
			char what[64];

			snprintf(what, sizeof(what), "%s with 4 bytes", vpcie_cmd_name(cmds[i]));
			raw_send(&r, cmds[i], 0, &four, sizeof(four), NULL, 0, &id);
			expect_reject(&r, id, 0, false, what);
		}
		/* Region/IRQ info for indices that do not exist. */
		struct vpcie_region_info ri = {.argsz = sizeof(ri), .index = 1000};
		struct vpcie_irq_info ii = {.argsz = sizeof(ii), .index = 1000};

		raw_send(&r, VPCIE_CMD_DEVICE_GET_REGION_INFO, 0, &ri, sizeof(ri), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "region info of index 1000");
		raw_send(&r, VPCIE_CMD_DEVICE_GET_IRQ_INFO, 0, &ii, sizeof(ii), NULL, 0, &id);
		expect_reject(&r, id, EINVAL, false, "IRQ info of index 1000");
	}
	check(raw_alive(&r), "alive at the end of the bad commands");
	raw_close(&r);
	expect_device_ok("bad commands");
}

/* ---- (b) connect/disconnect cycles without leaks ------------------------------- */

/* One host-runtime client: VERSION, shared memory (DMA_MAP with fd), MSI-X. */
static int cycle_host(unsigned i)
{
	struct vpcie_host_opts o;
	struct vpcie_host *h;
	struct vpcie_host_mem *m;
	int err = 0, n;

	vpcie_host_opts_defaults(&o);
	o.timeout_ms = REPLY_TIMEOUT_MS;
	o.log_level = VPCIE_LOG_ERROR;
	h = vpcie_host_open(sock_path, &o, &err);
	if (!h)
		return err ? err : -EIO;
	m = vpcie_host_mem_alloc(h, 8192, 0x100000 + (uint64_t)(i % 16) * 0x10000,
				 VPCIE_HOST_MEM_SHARED);
	if (!m)
		err = -errno;
	n = vpcie_host_irq_enable(h, i % 3 ? VPCIE_HOST_IRQ_MSIX : VPCIE_HOST_IRQ_MSI, 4);
	if (!err && n < 4)
		err = n < 0 ? n : -EIO;
	/* Every few cycles tidy up properly; otherwise just drop the connection. */
	if (i % 4 == 0 && m)
		vpcie_host_mem_free(m);
	vpcie_host_close(h);
	return err;
}

/* A raw client: VERSION, DMA_MAP with a memfd, SET_IRQS with eventfds; on odd
 * cycles hang up without waiting for the last reply. */
static int cycle_raw(unsigned i)
{
	struct vpcie_dma_map dm = {.argsz = sizeof(dm),
				   .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
				   .addr = 0x200000, .size = 0x2000};
	struct vpcie_irq_set is = {.argsz = sizeof(is),
				   .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				   .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 0, .count = 3};
	int mfd = -1, efd[3] = {-1, -1, -1}, rc;
	struct raw r;
	uint16_t id;

	rc = raw_open(&r);
	if (rc)
		return rc;
	rc = raw_version(&r);
	if (rc)
		goto out;
	mfd = memfd_create("cycle", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, 0x2000) < 0) {
		rc = -errno;
		goto out;
	}
	rc = raw_call(&r, VPCIE_CMD_DMA_MAP, &dm, sizeof(dm), &mfd, 1, NULL);
	if (rc)
		goto out;
	for (unsigned k = 0; k < 3; k++)
		if ((efd[k] = eventfd(0, EFD_CLOEXEC)) < 0) {
			rc = -errno;
			goto out;
		}
	rc = raw_send(&r, VPCIE_CMD_DEVICE_SET_IRQS, 0, &is, sizeof(is), efd, 3, &id);
	if (!rc && i % 2 == 0)
		rc = raw_reply(&r, id, NULL);
out:
	if (mfd >= 0)
		close(mfd);
	for (unsigned k = 0; k < 3; k++)
		if (efd[k] >= 0)
			close(efd[k]);
	raw_close(&r);
	return rc > 0 ? -rc : rc;
}

/* Device fd count measured with one settled client connected (the device
 * has dropped the previous client before it accepts this one). */
static int device_fds_settled(void)
{
	struct raw r;
	int n = -1;

	if (raw_open(&r))
		return -1;
	if (raw_version(&r) == 0 && raw_alive(&r))
		n = count_fds(dev_pid);
	raw_close(&r);
	return n;
}

static void test_cycles(unsigned cycles)
{
	int dev_before, dev_after, self_before, self_after;
	unsigned bad = 0;
	int first_err = 0;

	/* Warm up (lazy allocations), then measure. */
	cycle_host(1);
	cycle_raw(1);
	dev_before = device_fds_settled();
	self_before = count_fds(0);
	check(dev_before > 0 && self_before > 0, "counting fds (%d, %d)", dev_before, self_before);
	for (unsigned i = 0; i < cycles; i++) {
		int rc = i % 2 ? cycle_raw(i / 2) : cycle_host(i / 2);

		if (rc) {
			if (!bad)
				first_err = rc;
			bad++;
		}
	}
	printf("# %u connect cycles: device fds %d -> %d, test fds %d -> %d\n", cycles,
	       dev_before, device_fds_settled(), self_before, count_fds(0));
	check(bad == 0, "%u of %u connect cycles failed (first: %s)", bad, cycles,
	      strerror(-first_err));
	dev_after = device_fds_settled();
	self_after = count_fds(0);
	check(dev_after == dev_before, "device fds: %d before %u cycles, %d after", dev_before,
	      cycles, dev_after);
	check(self_after == self_before, "test fds: %d before %u cycles, %d after", self_before,
	      cycles, self_after);
	check(device_alive(), "device alive after the cycles");
	expect_device_ok("connect cycles");
}

/* ---- (c) a stalled client ----------------------------------------------------------- */

static void test_stall(void)
{
	struct vpcie_msg_hdr hdr = {.msg_id = 1, .cmd = VPCIE_CMD_VERSION, .size = 64};
	struct raw stall, next;
	uint16_t id = 0;
	int rc;

	/* Half a header, then silence. */
	if (!open_ok(&stall, "stall in a header"))
		return;
	raw_write(&stall, &hdr, 8);
	usleep(200 * 1000);
	check(device_alive(), "device alive with a stalled client");
	/* A second client queues behind it; its VERSION is answered once the
	 * staller goes away. */
	rc = raw_open(&next);
	check(rc == 0, "second client connects while one stalls: %d", rc);
	if (rc == 0)
		rc = raw_send(&next, VPCIE_CMD_VERSION, 0,
			      &(struct vpcie_version){VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR},
			      sizeof(struct vpcie_version), NULL, 0, &id);
	usleep(100 * 1000);
	raw_close(&stall);
	if (rc == 0) {
		rc = raw_reply(&next, id, NULL);
		check(rc == 0, "queued client negotiated after the staller left: %d", rc);
		check(rc == 0 && raw_alive(&next), "queued client served");
	}
	if (next.ch)
		raw_close(&next);
	expect_device_ok("a client stalled in a header");

	/* A whole header announcing a payload, part of it, then silence. */
	if (open_ok(&stall, "stall in a payload")) {
		uint8_t buf[VPCIE_HDR_SIZE + 10] = {0};

		check(raw_version(&stall) == 0, "VERSION before stalling");
		hdr = (struct vpcie_msg_hdr){.msg_id = 5, .cmd = VPCIE_CMD_REGION_WRITE,
					     .size = VPCIE_HDR_SIZE + 4096};
		memcpy(buf, &hdr, sizeof(hdr));
		raw_write(&stall, buf, sizeof(buf));
		usleep(200 * 1000);
		check(device_alive(), "device alive with a client stalled in a payload");
		raw_close(&stall);
	}
	expect_device_ok("a client stalled in a payload");

	/* A staller that never leaves is dropped after the device's message
	 * timeout (500 ms here), and the client queued behind it is served. */
	if (open_ok(&stall, "permanent staller")) {
		hdr = (struct vpcie_msg_hdr){.msg_id = 1, .cmd = VPCIE_CMD_VERSION, .size = 64};
		raw_write(&stall, &hdr, 8);
		rc = raw_open(&next);
		if (rc == 0)
			rc = raw_send(&next, VPCIE_CMD_VERSION, 0,
				      &(struct vpcie_version){VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR},
				      sizeof(struct vpcie_version), NULL, 0, &id);
		if (rc == 0)
			rc = raw_reply(&next, id, NULL);
		check(rc == 0, "client behind a permanent staller served after the timeout: %d", rc);
		if (next.ch)
			raw_close(&next);
		raw_close(&stall);
	}
	expect_device_ok("a client that never finishes its message");
}

/* ---- main ---------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *prog = argc > 1 ? argv[1] : getenv("VPCIE_SAMPLE");
	unsigned cycles = 1000;
	int st;

	if (!prog) {
		fprintf(stderr, "usage: %s PATH-TO-vpcie-sample [cycles]\n", argv[0]);
		return 2;
	}
	if (argc > 2)
		cycles = (unsigned)strtoul(argv[2], NULL, 0);
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmp_dir, sizeof(tmp_dir), "%s/vpcie-robust.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp_dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock_path, sizeof(sock_path), "%s/s.sock", tmp_dir);
	dev_pid = start_device(prog);
	if (dev_pid < 0) {
		perror("fork");
		return 1;
	}

	expect_device_ok("start");
	if (failed) {
		fprintf(stderr, "device did not come up; giving up\n");
		stop_device();
		rmdir(tmp_dir);
		return 1;
	}
	test_framing();
	test_version();
	test_commands();
	test_cycles(cycles);
	test_stall();

	check(device_alive(), "device alive at the end");
	st = stop_device();
	check(st == 0, "device exit status after SIGTERM: %d", st);
	check(access(sock_path, F_OK) != 0, "socket removed by the device");
	unlink(sock_path);
	rmdir(tmp_dir);
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
