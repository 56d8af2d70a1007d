/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: vpcie-ntb's two sides (devices/ntb/ntb.c) reading
 * whatever two hostile hosts send at once.
 *
 * The NTB is built on two devices, each reading its host from a stream in
 * memory (fuzz_mem_chan: no socket, what the devices send is dropped). The
 * input is split into host A's and host B's messages (after a valid
 * VERSION, as structured records: fuzz_common.h, so DMA_MAP may carry a
 * memfd and SET_IRQS eventfds); the streams then end and both devices
 * dispatch until they have dropped their clients. Window accesses of one
 * host reach the other's memory (mapped, or DMA messages that only the
 * input's later records may answer: the DMA timeout is short), doorbells
 * and link events the other's interrupts.
 *
 * Messages are released one per host in turn, so the hosts' commands
 * interleave.
 *
 * Input: byte 0 mode (bit 0: --dma-messages), bytes 1-2 little-endian: how
 * many of the following bytes are host A's records; the rest are host B's.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vpcie/device.h>
#include <vpcie/protocol.h>

#include "../../devices/ntb/ntb.h"
#include "../../devices/ntb/ntb_regs.h"
#include "fuzz_common.h"

static int add_version(struct fuzz_out *o)
{
	struct vpcie_caps caps;
	struct vpcie_msg_hdr hdr = {.msg_id = 0xfff0, .cmd = VPCIE_CMD_VERSION};
	struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
	char ver[sizeof(v) + 512];
	int len;

	vpcie_caps_defaults(&caps);
	caps.max_msg_fds = 16;
	caps.write_multiple = true;
	caps.twin_fd_index = -1;
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
	struct fuzz_out out[2] = {{0}};
	struct fuzz_mem_stream *in[2];
	struct vpcie_dev *dev[2];
	struct ntb_config cfg;
	struct ntb *ntb;
	bool gone[2] = {false, false};
	size_t alen;

	if (size < 3)
		return 0;
	alen = (size_t)(data[1] | data[2] << 8);
	if (alen > size - 3)
		alen = size - 3;
	ntb_config_defaults(&cfg);
	cfg.mw_bar = 64 * 1024; /* small windows: faster, and past the memfds */
	ntb = ntb_new(&cfg);
	if (!ntb)
		abort();
	for (unsigned s = 0; s < 2; s++) {
		struct vpcie_ids ids = {.vendor = NTB_VENDOR_ID, .device = NTB_DEVICE_ID,
					.class_code = NTB_CLASS_CODE};
		struct vpcie_dev_opts opts;

		vpcie_dev_opts_defaults(&opts);
		opts.max_data_xfer_size = 4096;
		opts.dma_timeout_ms = 1; /* nobody answers DMA messages */
		opts.dma_shm = !(data[0] & 1);
		opts.log_level = VPCIE_LOG_ERROR;
		dev[s] = vpcie_dev_new(&ids, ntb_dev_ops(), ntb_side_opaque(ntb, s), &opts);
		if (!dev[s])
			abort();
	}
	if (ntb_attach(ntb, dev[0], dev[1]))
		abort();
	add_version(&out[0]);
	add_version(&out[1]);
	fuzz_records(&out[0], data + 3, alen);
	fuzz_records(&out[1], data + 3 + alen, size - 3 - alen);
	for (unsigned s = 0; s < 2; s++) {
		struct vpcie_chan *ch;

		out[s].hold = out[s].n - 1; /* the VERSION first */
		ch = fuzz_mem_chan_stream(&out[s], &gone[s], &in[s]);
		if (!ch || vpcie_dev_attach_chan(dev[s], ch) != 0)
			abort();
	}

	/* One more message per host per round (records are at least 2 input
	 * bytes, so the rounds suffice for any input libFuzzer makes up to
	 * 64 KiB); once a host's messages are all out, its stream ends. */
	for (int round = 0; round < 40000 && !(gone[0] && gone[1]); round++) {
		for (unsigned s = 0; s < 2; s++) {
			if (!gone[s])
				fuzz_mem_release(in[s]);
		}
		/* (a device without its client still runs its timers) */
		for (unsigned s = 0; s < 2; s++)
			vpcie_dev_dispatch(dev[s], gone[s] || out[s].hold ? 0 : 5);
	}
	if (!gone[0] || !gone[1])
		abort(); /* a device kept a client whose input ended */

	for (unsigned s = 0; s < 2; s++) {
		vpcie_dev_free(dev[s]);
		fuzz_out_free(&out[s]);
	}
	ntb_free(ntb);
	return 0;
}
