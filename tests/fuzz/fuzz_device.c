/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the device runtime reading whatever a client sends.
 *
 * A device like vpcie-sample (callback BAR0 with registers that start DMA,
 * raise interrupts and arm timers; I/O BAR1; memory BAR2 with a trapped
 * page; BAR4 holding the MSI-X table and PBA; ROM; PM, PCIe with FLR, MSI,
 * MSI-X, vendor and DSN capabilities) is attached to one end of a
 * stream served from memory (fuzz_mem_chan): the input is what the client
 * sends, then the stream ends, and the device dispatches until it drops the
 * client; its replies (and any DMA requests) are dropped.
 *
 * Input byte 0 selects the mode:
 *   bit 0  prefix a valid VERSION (gets past negotiation)
 *   bit 1  the rest is structured records (fuzz_common.h): headers get
 *          their size fixed up and may carry memfds/eventfds/pipes
 *   bit 2  the VERSION prefix asks for a twin socket
 *   bit 3  the VERSION prefix announces max_data_xfer_size 4096
 *   bit 4  fault injection (vpcie/fault.h): the next two bytes (little
 *          endian) pick rules of fault_specs[] below, one bit each, so the
 *          hostile client meets the fault hooks between the protocol and
 *          the device (every kind, counted, ranged and random triggers)
 *   bit 5  the fault control socket (vpcie_dev_fault_control): the next
 *          byte N and N bytes after it are written to it by a local peer
 *          (text lines: add SPEC, clear [ID], list, or anything else), so
 *          rules come and go while the client's messages are served
 * Otherwise the rest is written to the socket as it is.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vpcie/device.h>
#include <vpcie/fault.h>
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

/* Short delays only: the device loop sleeps them. */
static const char *const fault_specs[16] = {
	"ur:region=0,offset=0x0,len=64,op=read,prob=0.5",
	"ca:region=2,after=2,repeat",
	"delay:us=20,jitter=20,prob=0.2,seed=7",
	"hang:region=1,op=write,after=1",
	"remove:at=access,region=0,after=6",
	"remove:at=dma,back=1",
	"dma:mode=flip,seed=3",
	"dma:mode=truncate,prob=0.5",
	"dma:mode=outside,after=1",
	"dma:mode=delay,us=10,op=read",
	"irq:action=dup",
	"irq:action=drop,prob=0.5,seed=5",
	"irq:action=delay,us=100,vector=1",
	"irq:action=spurious,vector=2,after=2,repeat",
	"cfg:mode=garbage,offset=0x40,len=16",
	"cfg:mode=nosize,bar=2",
};

/* The control socket's path: in a directory of this process, made once
 * under TMPDIR (or /tmp when TMPDIR is unset or too long for a socket). */
static char ctl_dir[88];
static char ctl_path[sizeof(ctl_dir) + 8];

static void ctl_dir_remove(void)
{
	rmdir(ctl_dir);
}

/* Open the device's control socket and connect a peer that sends text;
 * returns the peer's fd. */
static int ctl_open(struct vpcie_dev *dev, const uint8_t *text, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (!ctl_path[0]) {
		const char *tmp = getenv("TMPDIR");

		if (!tmp || !*tmp || strlen(tmp) > 64)
			tmp = "/tmp";
		snprintf(ctl_dir, sizeof(ctl_dir), "%s/fuzz-device-XXXXXX", tmp);
		if (!mkdtemp(ctl_dir))
			abort();
		atexit(ctl_dir_remove);
		snprintf(ctl_path, sizeof(ctl_path), "%s/ctl", ctl_dir);
	}
	if (vpcie_dev_fault_control(dev, ctl_path))
		abort();
	memcpy(sa.sun_path, ctl_path, strlen(ctl_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	if (len && write(fd, text, len) != (ssize_t)len)
		abort(); /* (at most 255 bytes: the socket buffer holds them) */
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fdev *f;
	struct fuzz_out out = {0};
	struct vpcie_chan *ch;
	unsigned mode;
	bool gone = false;
	int ctl = -1;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	f = calloc(1, sizeof(*f));
	if (!f)
		return 0;
	{
		struct vpcie_dev_opts opts;
		const char *faults[16];
		unsigned nfaults = 0;

		if ((mode & 16) && size >= 2) {
			unsigned pick = data[0] | data[1] << 8;

			for (unsigned i = 0; i < 16; i++)
				if (pick & 1u << i)
					faults[nfaults++] = fault_specs[i];
			data += 2;
			size -= 2;
		}
		vpcie_dev_opts_defaults(&opts);
		opts.max_data_xfer_size = 4096; /* keeps replies small */
		opts.faults = faults;
		opts.nfaults = nfaults;
		make_device(f, &opts); /* aborts if a spec above did not parse */
	}
	if ((mode & 32) && size >= 1) {
		size_t n = data[0] < size - 1 ? data[0] : size - 1;

		ctl = ctl_open(f->dev, data + 1, n);
		data += 1 + n;
		size -= 1 + n;
	}
	if (mode & 1)
		add_version(&out, mode);
	if (mode & 2)
		fuzz_records(&out, data, size);
	else if (size)
		fuzz_out_add(&out, data, size, NULL, 0);
	ch = fuzz_mem_chan(&out, &gone);
	if (!ch || vpcie_dev_attach_chan(f->dev, ch) != 0)
		abort();

	for (int round = 0; round < 512 && !gone; round++)
		vpcie_dev_dispatch(f->dev, 5);
	if (!gone)
		abort(); /* the device kept a client whose input ended */

	if (ctl >= 0) {
		char buf[4096];

		while (read(ctl, buf, sizeof(buf)) > 0) {
			/* the answers: read so the peer was a real one */
		}
		close(ctl);
	}
	vpcie_dev_free(f->dev);
	fuzz_out_free(&out);
	free(f);
	return 0;
}
