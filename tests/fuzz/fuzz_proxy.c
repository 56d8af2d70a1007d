/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: `vpcie proxy`'s session (tools/vpcie/proxy_session.c)
 * between a hostile client and a hostile device.
 *
 * Byte 0-1 (little-endian, modulo the rest's length) split the rest into
 * the client's bytes and the device's bytes. Each is written into a
 * socketpair the session reads; the device's side is then shut, so the
 * session ends when it has handled what arrived. The client's side stays
 * open and is never read: what waits for it times out after 1 ms (the
 * input was written whole beforehand, so a longer wait finds nothing more;
 * 5 ms made the target wait-bound at 1500 executions/s). Nothing may
 * crash, leak or hang.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vpcie/log.h>
#include <vpcie/transport.h>

#include "../../tools/vpcie/proxy_priv.h"

static void quiet(void *opaque, enum vpcie_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static int hand_over(void *opaque, struct vpcie_chan **dev)
{
	int *fd = opaque;
	struct vpcie_chan_limits lim = {.max_msg_size = 1u << 20, .max_fds = 0};

	*dev = vpcie_chan_new(*fd, &lim);
	*fd = -1; /* owned by the channel, or closed by vpcie_chan_new */
	return *dev ? 0 : -errno;
}

static void put(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vpcie_logger lg;
	struct proxy_cfg cfg = {.timeout_ms = 1, .lg = &lg, .connect = hand_over};
	int cl[2], dv[2], stop;
	size_t split;

	if (size < 2 || size > 100000)
		return 0;
	split = (size_t)(data[0] | data[1] << 8) % (size - 1);
	data += 2;
	size -= 2;
	vpcie_logger_init(&lg, "fuzz", VPCIE_LOG_ERROR);
	lg.sink = quiet;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cl))
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dv)) {
		close(cl[0]);
		close(cl[1]);
		return 0;
	}
	stop = eventfd(0, EFD_CLOEXEC);
	/* up to 100 kB: fits the socket buffers, the writes do not block */
	put(cl[1], data, split);
	put(dv[1], data + split, size - split);
	shutdown(dv[1], SHUT_WR);
	cfg.connect_opaque = &dv[0];
	proxy_session_run(&cfg, cl[0], stop);
	if (dv[0] >= 0)
		close(dv[0]);
	close(cl[1]);
	close(dv[1]);
	close(stop);
	return 0;
}
