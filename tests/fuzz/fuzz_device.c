/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the device runtime reading whatever a client sends.
 *
 * A device like vpcie-sample (callback BAR0 with registers that start DMA,
 * raise interrupts and arm timers; I/O BAR1; memory BAR2 with a trapped
 * page; BAR4 holding the MSI-X table and PBA; ROM; PM, PCIe with FLR, MSI,
 * MSI-X, vendor and DSN capabilities) is attached to one end of a
 * socketpair. The input goes into the other end, then the write side is
 * shut down and the device dispatches until it drops the client, while its
 * replies (and any DMA requests) are drained and discarded.
 *
 * Input byte 0 selects the mode:
 *   bit 0  prefix a valid VERSION (gets past negotiation)
 *   bit 1  the rest is structured records (fuzz_common.h): headers get
 *          their size fixed up and may carry memfds/eventfds/pipes
 *   bit 2  the VERSION prefix asks for a twin socket
 *   bit 3  the VERSION prefix announces max_data_xfer_size 4096
 * Otherwise the rest is written to the socket as it is.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vpcie/device.h>
#include <vpcie/log.h>
#include <vpcie/protocol.h>

#include "fuzz_common.h"
#include "fuzz_dev_model.h"

static int add_version(struct fuzz_out *o, unsigned mode)
{
	struct vpcie_caps caps;
	struct vpcie_msg_hdr hdr = {.msg_id = 0xfff0, .cmd = VPCIE_CMD_VERSION};
	struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
	char ver[sizeof(v) + 512];
	int len;

	vpcie_caps_defaults(&caps);
	caps.max_msg_fds = 16;
	caps.write_multiple = true;
	caps.twin_socket = mode & 4;
	caps.twin_fd_index = -1;
	if (mode & 8)
		caps.max_data_xfer_size = 4096;
	len = vpcie_caps_to_json(&caps, ver + sizeof(v), sizeof(ver) - sizeof(v));
	if (len < 0)
		abort();
	memcpy(ver, &v, sizeof(v));
	hdr.size = (uint32_t)(sizeof(hdr) + sizeof(v) + (size_t)len);
	return fuzz_out_add(o, &hdr, sizeof(hdr), ver, sizeof(v) + (size_t)len) ? 0 : -ENOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fdev *f;
	struct fuzz_out out = {0};
	int sv[2];
	unsigned mode;
	bool shut = false, gone = false;
	int big = 1 << 20;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	f = calloc(1, sizeof(*f));
	if (!f)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* Room for a burst of replies while the device dispatches. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	{
		struct vpcie_dev_opts opts;

		vpcie_dev_opts_defaults(&opts);
		opts.max_data_xfer_size = 4096; /* keeps replies small */
		make_device(f, &opts);
	}
	if (vpcie_dev_attach(f->dev, sv[0]) != 0)
		abort();

	if (mode & 1)
		add_version(&out, mode);
	if (mode & 2)
		fuzz_records(&out, data, size);
	else if (size)
		fuzz_out_add(&out, data, size, NULL, 0);

	for (int round = 0; round < 512 && !gone; round++) {
		if (!shut && fuzz_out_pump(&out, sv[1])) {
			shutdown(sv[1], SHUT_WR);
			shut = true;
		}
		vpcie_dev_dispatch(f->dev, shut ? 5 : 0);
		gone = fuzz_drain(sv[1]);
	}
	if (!gone)
		abort(); /* the device kept a client whose input ended */

	vpcie_dev_free(f->dev);
	close(sv[1]);
	fuzz_out_free(&out);
	free(f);
	return 0;
}
