/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the host runtime handling what a (hostile) device sends.
 *
 * A fake device on a socketpair answers VERSION correctly (msg id 0) and the
 * DMA_MAP of the host memory registered right after (msg id 1), then sends
 * the fuzz bytes - replies with arbitrary ids and commands, DMA_READ /
 * DMA_WRITE requests, garbage - and ends the stream. The host then runs a
 * fixed sequence of calls (ids 2, 3, ... in order), each of which must
 * return an error or succeed, never crash or hang. The main connection is a
 * stream served from memory (fuzz_mem_chan): what the host sends is dropped.
 * The twin socket, whose fd travels in the VERSION reply, is a real
 * socketpair with room for the host's replies.
 *
 * Input byte 0 selects the mode:
 *   bit 0  the rest is structured records (fuzz_common.h): sizes fixed up,
 *          memfds/eventfds may ride along (region info MMAP fds)
 *   bit 1  the host memory is read-only for the device
 *   bit 2  the host asks for a twin socket and the fake VERSION reply gives
 *          one; the fuzz messages are split between both sockets at the
 *          offset given by byte 1
 *   bit 3  byte 1 (or 2 with bit 2) is the length of a JSON text that
 *          replaces the VERSION reply's capabilities
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vpcie/host.h>
#include <vpcie/log.h>
#include <vpcie/protocol.h>

#include "fuzz_common.h"

static void quiet(void *opaque, enum vpcie_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void add_reply(struct fuzz_out *o, uint16_t id, uint16_t cmd, const void *payload,
		      size_t len)
{
	struct vpcie_msg_hdr hdr = {
		.msg_id = id, .cmd = cmd, .flags = VPCIE_MSGF_REPLY,
		.size = (uint32_t)(sizeof(hdr) + len),
	};

	if (!fuzz_out_add(o, &hdr, sizeof(hdr), payload, len))
		abort();
}

/* Write everything in o to fd (blocking), then shut the write side. */
static void send_all(struct fuzz_out *o, int fd)
{
	while (!fuzz_out_pump(o, fd)) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};

		if (poll(&p, 1, 100) <= 0)
			break;
	}
	shutdown(fd, SHUT_WR);
}

static void host_calls(struct vpcie_host *h)
{
	struct vpcie_device_info info;
	const struct vpcie_host_region *r;
	struct vpcie_irq_info ii;
	uint8_t img[4096], buf[64];
	size_t len = sizeof(img);
	int err;

	vpcie_host_device_info(h, &info);
	for (unsigned i = 0; i < 10; i++)
		vpcie_host_region_info(h, i, &r);
	vpcie_host_region_info(h, 63, &r);
	vpcie_host_region_info(h, 64, &r);
	vpcie_host_irq_info(h, 2, &ii);
	vpcie_host_cfg_dump(h, img, &len);
	vpcie_host_region_read(h, 0, 0, buf, 8);
	vpcie_host_region_read(h, 7, 0x40, buf, sizeof(buf));
	vpcie_host_region_write(h, 1, 0, buf, 4);
	vpcie_host_region_write_posted(h, 0, 4, buf, 4);
	vpcie_host_bar_read32(h, 2, 4096, &err);
	vpcie_host_bar_write32(h, 2, 8192, 0x12345678);
	/* Mapping trusts nothing: a region fd smaller than the region once
	 * made the access below SIGBUS (crashes/fuzz_host-region_map_sigbus). */
	for (unsigned i = 0; i < 7; i++)
		vpcie_host_region_map(h, i);
	vpcie_host_bar_read32(h, 2, 4096, &err);
	vpcie_host_poll(h, 0);
	vpcie_host_find_cap(h, 0x05);
	vpcie_host_find_ext_cap(h, 0x03);
	vpcie_host_irq_enable(h, VPCIE_HOST_IRQ_MSI, 1);
	vpcie_host_irq_enable(h, VPCIE_HOST_IRQ_MSIX, 2);
	vpcie_host_irq_wait(h, 0, 0);
	vpcie_host_irq_mask(h, 0, true);
	vpcie_host_irq_take(h, 0);
	vpcie_host_irq_disable(h);
	vpcie_host_assign_bars(h, 0xfe000000u, 0xc000);
	vpcie_host_reset(h);
	vpcie_host_poll(h, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_out main_out = {0}, twin_out = {0}, tmp = {0};
	struct vpcie_host_opts opts;
	struct vpcie_host *h;
	struct vpcie_host_mem *mem;
	struct vpcie_chan *ch;
	int tw[2] = {-1, -1};
	unsigned mode, split = 0;
	const char *json = NULL;
	size_t jlen = 0;
	char defjson[512];
	int err, big = 1 << 20;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	if ((mode & 4) && size) {
		split = data[0];
		data++;
		size--;
	}
	if ((mode & 8) && size) {
		jlen = data[0] < size - 1 ? data[0] : size - 1;
		json = (const char *)data + 1;
		data += 1 + jlen;
		size -= 1 + jlen;
	}
	if ((mode & 4) && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tw) < 0)
		abort();
	if (tw[0] >= 0) {
		setsockopt(tw[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(tw[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		setsockopt(tw[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	}

	/* The fake device's VERSION reply (id 0), then the DMA_MAP reply (id 1). */
	{
		struct vpcie_caps caps;
		struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
		char ver[sizeof(v) + 512];
		int n;

		vpcie_caps_defaults(&caps);
		caps.max_msg_fds = 8;
		caps.write_multiple = true;
		caps.twin_socket = mode & 4;
		caps.twin_fd_index = (mode & 4) ? 0 : -1;
		n = vpcie_caps_to_json(&caps, defjson, sizeof(defjson));
		if (n < 0)
			abort();
		if (!json) {
			json = defjson;
			jlen = (size_t)n;
		}
		memcpy(ver, &v, sizeof(v));
		memcpy(ver + sizeof(v), json, jlen);
		add_reply(&main_out, 0, VPCIE_CMD_VERSION, ver, sizeof(v) + jlen);
		if (mode & 4) {
			main_out.segs[0].fds[0] = tw[1]; /* ownership moves to the segment */
			main_out.segs[0].nfds = 1;
			tw[1] = -1;
		}
		add_reply(&main_out, 1, VPCIE_CMD_DMA_MAP, NULL, 0);
	}
	/* The fuzz messages: raw or structured, split between the sockets. */
	{
		struct fuzz_out *first = &main_out;

		if (mode & 4)
			first = &tmp;
		if (mode & 1)
			fuzz_records(first, data, size);
		else if (size)
			fuzz_out_add(first, data, size, NULL, 0);
		for (size_t i = 0; (mode & 4) && i < tmp.n; i++) {
			struct fuzz_out *dst = i < split % 16 ? &main_out : &twin_out;
			struct fuzz_seg *s = fuzz_out_add(dst, tmp.segs[i].buf, tmp.segs[i].len, NULL, 0);

			if (!s)
				abort();
			memcpy(s->fds, tmp.segs[i].fds, sizeof(s->fds));
			s->nfds = tmp.segs[i].nfds;
			tmp.segs[i].nfds = 0;
		}
	}

	if (tw[0] >= 0)
		send_all(&twin_out, tw[0]);
	ch = fuzz_mem_chan(&main_out, NULL);
	if (!ch)
		abort();

	vpcie_host_opts_defaults(&opts);
	opts.timeout_ms = 50;
	opts.connect_timeout_ms = 50;
	opts.max_data_xfer_size = 1024; /* config dump in 1 KiB replies: fits a record */
	opts.twin_socket = mode & 4;
	opts.log_level = VPCIE_LOG_ERROR;
	h = vpcie_host_open_chan(ch, &opts, &err);
	if (h) {
		vpcie_host_logger(h)->sink = quiet;
		mem = vpcie_host_mem_alloc(h, 64 * 1024, 0x100000,
					   (mode & 2) ? VPCIE_HOST_MEM_READONLY : 0);
		host_calls(h);
		if (mem)
			vpcie_host_mem_free(mem);
		vpcie_host_close(h);
	}

	if (tw[0] >= 0)
		close(tw[0]);
	if (tw[1] >= 0)
		close(tw[1]);
	fuzz_out_free(&main_out);
	fuzz_out_free(&twin_out);
	fuzz_out_free(&tmp);
	return 0;
}
