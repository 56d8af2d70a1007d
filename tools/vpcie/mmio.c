/* SPDX-License-Identifier: MIT */
/*
 * `vpcie mmio`: read and write a device's BARs from the shell, in the syntax
 * of pciutils' setpci(8) with BAR:OFFSET for the register:
 *
 *   BAR:OFFSET[.B|.W|.L|.Q][=VALUE[:MASK][,...]]
 *
 * Accesses are REGION_READ/REGION_WRITE requests through the host runtime,
 * each waiting for the device's reply (non-posted), so a read after a write
 * sees it. If the device's BARs have no addresses yet, they are assigned and
 * decoding is enabled first, as `vpcie lspci --assign` does (a device does
 * not decode a BAR, and reads all-ones, until then).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <vpcie/host.h>

#include "cmds.h"
#include "regop.h"
#include "tool.h"

#define NBARS 6u

struct mmioop {
	struct regop op;
	unsigned bar;
	uint64_t off;
	unsigned width;
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: vpcie %s --socket PATH [options] OPERATION...\n"
		"Read and write the BARs of the vfio-user device at PATH, in the syntax of\n"
		"pciutils' setpci(8). All numbers are hexadecimal (0x optional).\n\n"
		"OPERATION:  BAR:OFFSET[.B|.W|.L|.Q]             read: printed as 0x..., one per line\n"
		"            BAR:OFFSET[.B|.W|.L|.Q]=VALUE,...   write VALUE (the next at OFFSET + width)\n"
		"            VALUE is DATA or DATA:MASK (only the bits set in MASK change:\n"
		"            the register is read, modified and written)\n"
		"BAR         0 to 5; OFFSET must be aligned to the width, default .L (4 bytes)\n\n"
		"Every access waits for the device's reply, so a read sees the writes before\n"
		"it. If no BAR has an address yet, the BARs are assigned and decoding is\n"
		"enabled first, as `vpcie lspci --assign` does.\n\n"
		TOOL_CONN_HELP
		"  -h, --help           this help\n\n"
		"Examples:   vpcie %s -S dev.sock 0:0x0.l\n"
		"            vpcie %s -S dev.sock 0:4.l=0xa5a5a5a5 0:4.l\n\n"
		"Exit status: 0 done, 1 failed (no device, BAR absent, offset outside the\n"
		"BAR, access refused by the device), 2 bad usage.\n",
		prog, prog, prog);
}

/* "BAR:OFFSET" of op->addr, the width and the values; messages in why. */
static int resolve(struct mmioop *m, char *why, size_t whylen)
{
	char *colon = strchr(m->op.addr, ':');
	const char *off = colon ? colon + 1 : "";

	if (!colon) {
		snprintf(why, whylen, "want BAR:OFFSET, e.g. 0:0x10.l");
		return -1;
	}
	*colon = '\0';
	if (tool_parse_uint(m->op.addr, 10, NBARS - 1, &m->bar)) {
		snprintf(why, whylen, "invalid BAR \"%s\" (want 0 to %u)", m->op.addr, NBARS - 1);
		return -1;
	}
	if (regop_parse_hex(off, strlen(off), &m->off)) {
		snprintf(why, whylen, "invalid offset \"%s\" (want hex)", off);
		return -1;
	}
	m->width = m->op.width ? m->op.width : 4;
	if (m->off % m->width) {
		snprintf(why, whylen, "offset 0x%" PRIx64 " is not aligned to the width (%u bytes)",
			 m->off, m->width);
		return -1;
	}
	return regop_check_values(&m->op, m->width, why, whylen);
}

/* ---- Running the operations ------------------------------------------------- */

struct bardev {
	struct vpcie_host *h;
	unsigned bar;
};

static int bar_read(void *ctx, uint64_t addr, unsigned width, uint64_t *v)
{
	struct bardev *d = ctx;
	uint8_t buf[8];
	int rc = vpcie_host_region_read(d->h, VFIO_PCI_BAR0_REGION_INDEX + d->bar, addr, buf,
					width);

	if (rc == 0)
		*v = regop_get_le(buf, width);
	return rc;
}

static int bar_write(void *ctx, uint64_t addr, unsigned width, uint64_t v)
{
	struct bardev *d = ctx;
	uint8_t buf[8];

	regop_put_le(buf, width, v);
	return vpcie_host_region_write(d->h, VFIO_PCI_BAR0_REGION_INDEX + d->bar, addr, buf,
				       width);
}

/* A warning when the command register keeps this BAR's decoding off. */
static void check_decode(struct vpcie_host *h, const struct vpcie_host_bar *b, const char *prog,
			 bool *warned)
{
	uint16_t bit = b->is_io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
	int rc;
	uint16_t cmd = vpcie_host_cfg_read16(h, PCI_COMMAND, &rc);

	if (rc < 0 || (cmd & bit) || warned[b->is_io])
		return;
	warned[b->is_io] = true;
	fprintf(stderr,
		"vpcie %s: warning: %s decoding is off (COMMAND=%04x): the device reads all-ones "
		"and drops writes (`vpcie setpci COMMAND=%x:%x` enables it)\n",
		prog, b->is_io ? "I/O" : "memory", cmd, bit, bit);
}

static int run_one(struct vpcie_host *h, const struct mmioop *m, const char *prog,
		   bool *warned)
{
	const struct vpcie_host_bar *b = vpcie_host_bar(h, m->bar);
	const struct vpcie_host_bar *lower = m->bar ? vpcie_host_bar(h, m->bar - 1) : NULL;
	struct bardev d = {h, m->bar};
	const struct regop_io io = {bar_read, bar_write, &d};
	uint64_t n = m->op.nval ? m->op.nval : 1, fail_at;
	int rc;

	if (!b || !b->present) {
		if (lower && lower->present && lower->is_64)
			fprintf(stderr, "vpcie %s: %s: BAR%u is the upper half of 64-bit BAR%u\n",
				prog, m->op.arg, m->bar, m->bar - 1);
		else
			fprintf(stderr, "vpcie %s: %s: the device has no BAR%u\n", prog, m->op.arg,
				m->bar);
		return -1;
	}
	if (m->off >= b->size || n * m->width > b->size - m->off) {
		fprintf(stderr,
			"vpcie %s: %s: 0x%" PRIx64 " bytes at offset 0x%" PRIx64 " are outside BAR%u "
			"(size 0x%" PRIx64 ")\n",
			prog, m->op.arg, n * m->width, m->off, m->bar, b->size);
		return -1;
	}
	check_decode(h, b, prog, warned);
	rc = regop_run(&m->op, m->off, m->width, &io, stdout, true, &fail_at);
	if (rc < 0) {
		fprintf(stderr, "vpcie %s: %s: %s BAR%u at 0x%" PRIx64 " (.%c): %s%s\n", prog,
			m->op.arg, m->op.nval ? "writing" : "reading", m->bar, fail_at,
			regop_width_letter(m->width), strerror(-rc),
			rc == -EIO ? " (the device refused the access)" : "");
		return -1;
	}
	return 0;
}

int cmd_mmio(int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_CONN_LONGOPTS,
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct tool_conn conn = TOOL_CONN_DEFAULTS;
	const char *prog = argv[0];
	struct vpcie_host *h = NULL;
	struct mmioop *ops;
	bool warned[2] = {false, false};
	char why[160];
	int c, nops, status = 0;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "S:h", longopts, NULL)) != -1) {
		int r = tool_conn_option(&conn, prog, c, optarg);

		if (r < 0)
			return TOOL_EXIT_USAGE;
		if (r > 0)
			continue;
		if (c == 'h') {
			usage(stdout, prog);
			return 0;
		}
		return tool_bad_option(prog, argv);
	}
	nops = argc - optind;
	if (tool_need_socket_and_ops(&conn, prog, nops))
		return TOOL_EXIT_USAGE;
	ops = calloc((size_t)nops, sizeof(*ops));
	if (!ops) {
		fprintf(stderr, "vpcie %s: %s\n", prog, strerror(ENOMEM));
		return TOOL_EXIT_FAIL;
	}
	for (int i = 0; i < nops && !status; i++) {
		struct mmioop *m = &ops[i];

		if (regop_parse(&m->op, argv[optind + i], "bwlq", false, why, sizeof(why)) ||
		    resolve(m, why, sizeof(why))) {
			fprintf(stderr, "vpcie %s: %s: %s\n", prog, argv[optind + i], why);
			status = TOOL_EXIT_USAGE;
		}
	}
	if (!status && (!(h = tool_open(&conn, prog)) || tool_bars_ready(h, prog, NULL) < 0))
		status = TOOL_EXIT_FAIL;
	for (int i = 0; i < nops && !status; i++)
		if (run_one(h, &ops[i], prog, warned))
			status = TOOL_EXIT_FAIL;
	if (fflush(stdout) != 0 && !status) {
		fprintf(stderr, "vpcie %s: writing output: %s\n", prog, strerror(errno));
		status = TOOL_EXIT_FAIL;
	}
	if (h)
		vpcie_host_close(h);
	for (int i = 0; i < nops; i++)
		regop_free(&ops[i].op);
	free(ops);
	return status;
}
