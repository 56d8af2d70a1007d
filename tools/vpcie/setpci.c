/* SPDX-License-Identifier: MIT */
/*
 * `vpcie setpci`: read and write a device's config space from the shell,
 * with the operations of pciutils' setpci(8):
 *
 *   BASE[+OFFSET][.B|.W|.L][@N][=VALUE[:MASK][,...]]
 *
 * BASE is a hex address, a register name (COMMAND, BASE_ADDRESS_0, ...;
 * `--dumpregs` lists them), CAP_name / ECAP_name, or CAPid / ECAPid (hex);
 * a capability stands for its first register, and @N picks its N-th
 * instance. Reads print the value in hex, one per line, as setpci does.
 * Everything is parsed before the device is touched; the operations then run
 * in order and the first failure stops them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <linux/pci_regs.h>

#include <vpcie/config.h>
#include <vpcie/host.h>

#include "cmds.h"
#include "pciregs.h"
#include "regop.h"
#include "tool.h"

#define MAX_REG 0xfffu /* PCI_CFG_SPACE_EXP_SIZE - 1 */

struct cfgop {
	struct regop op;
	const struct pcireg *reg; /* named register, or NULL */
	int cap_kind;             /* -1: no capability, else enum pcicap_kind */
	uint16_t cap_id;
	unsigned base, offset;    /* address = base (or the capability's) + offset */
	unsigned width;
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: vpcie %s --socket PATH [options] OPERATION...\n"
		"Read and write the config space of the vfio-user device at PATH with\n"
		"the operations of pciutils' setpci(8). All numbers are hexadecimal.\n\n"
		"OPERATION:  REG[.B|.W|.L][@N]            read: printed in hex, one per line\n"
		"            REG[.B|.W|.L][@N]=VALUE,...  write VALUE (the next at REG + width)\n"
		"            VALUE is DATA or DATA:MASK (only the bits set in MASK change)\n"
		"REG:        ADDRESS        e.g. 4.w (0 to fff)\n"
		"            NAME           e.g. VENDOR_ID, COMMAND, BASE_ADDRESS_0 (width implied)\n"
		"            CAP_NAME       first register of a capability, e.g. CAP_EXP, ECAP_DSN\n"
		"            CAPid, ECAPid  a capability by its ID, e.g. CAP10, ECAP3\n"
		"            followed by +OFFSET to add an offset, e.g. CAP_EXP+8.w\n"
		"@N          the N-th instance of a capability (from 0)\n\n"
		TOOL_CONN_HELP
		"      --dumpregs       list the register and capability names, as setpci\n"
		"  -h, --help           this help\n\n"
		"Examples:   vpcie %s -S dev.sock VENDOR_ID DEVICE_ID\n"
		"            vpcie %s -S dev.sock COMMAND=2:2 CAP_EXP+8.w\n\n"
		"Exit status: 0 done, 1 failed (no device, no such register or\n"
		"capability, access refused), 2 bad usage.\n",
		prog, prog, prog);
}

static int parse_hex_uint(const char *s, unsigned max, unsigned *out)
{
	uint64_t v;

	if (regop_parse_hex(s, strlen(s), &v) || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Resolve op->addr ("BASE[+OFFSET]") and the width; messages in why. */
static int resolve(struct cfgop *c, char *why, size_t whylen)
{
	char *plus = strchr(c->op.addr, '+');
	const char *name = c->op.addr;
	const struct pcicap *cap;
	unsigned id;

	c->cap_kind = -1;
	if (plus) {
		*plus = '\0';
		if (parse_hex_uint(plus + 1, MAX_REG, &c->offset)) {
			snprintf(why, whylen, "invalid offset \"%s\" (want hex, at most %x)", plus + 1,
				 MAX_REG);
			return -1;
		}
	}
	if (!*name) {
		snprintf(why, whylen, "missing register before '+'");
		return -1;
	}
	if (parse_hex_uint(name, UINT32_MAX, &c->base) == 0) {
		if (c->base > MAX_REG) {
			snprintf(why, whylen, "register %s out of range (0 to %x)", name, MAX_REG);
			return -1;
		}
	} else if ((c->reg = pcireg_find(name))) {
		c->base = c->reg->offset;
		if (!c->op.width)
			c->op.width = c->reg->width;
	} else if ((cap = pcicap_find(name))) {
		c->cap_kind = (int)cap->kind;
		c->cap_id = cap->id;
	} else if (!strncasecmp(name, "ECAP", 4) && !parse_hex_uint(name + 4, 0xffff, &id)) {
		c->cap_kind = PCICAP_EXT;
		c->cap_id = (uint16_t)id;
	} else if (!strncasecmp(name, "CAP", 3) && !parse_hex_uint(name + 3, 0xff, &id)) {
		c->cap_kind = PCICAP_STD;
		c->cap_id = (uint16_t)id;
	} else {
		snprintf(why, whylen, "unknown register \"%s\" (vpcie setpci --dumpregs lists them)",
			 name);
		return -1;
	}
	if (c->op.instance >= 0 && c->cap_kind < 0) {
		snprintf(why, whylen, "'@' only applies to capabilities");
		return -1;
	}
	c->width = c->op.width;
	if (!c->width) {
		snprintf(why, whylen, "missing width (.b, .w or .l)");
		return -1;
	}
	if (c->cap_kind < 0 && c->base + c->offset > MAX_REG) {
		snprintf(why, whylen, "register %x out of range (0 to %x)", c->base + c->offset,
			 MAX_REG);
		return -1;
	}
	/* Capabilities start on a dword, so the offset decides the alignment. */
	if ((c->base + c->offset) % c->width) {
		snprintf(why, whylen, "unaligned register address %x for width %u",
			 c->base + c->offset, c->width);
		return -1;
	}
	return regop_check_values(&c->op, c->width, why, whylen);
}

/* ---- Running the operations ------------------------------------------------- */

struct cfgdev {
	struct vpcie_host *h;
	uint8_t img[VPCIE_CFG_SIZE];
	size_t len;
	bool stale; /* img may be out of date: written since read */
};

static int cfg_read(void *ctx, uint64_t addr, unsigned width, uint64_t *v)
{
	struct cfgdev *d = ctx;
	uint8_t buf[4];
	int rc = vpcie_host_cfg_read(d->h, (unsigned)addr, buf, width);

	if (rc == 0)
		*v = regop_get_le(buf, width);
	return rc;
}

static int cfg_write(void *ctx, uint64_t addr, unsigned width, uint64_t v)
{
	struct cfgdev *d = ctx;
	uint8_t buf[4];

	d->stale = true;
	regop_put_le(buf, width, v);
	return vpcie_host_cfg_write(d->h, (unsigned)addr, buf, width);
}

static int refresh(struct cfgdev *d, const char *prog)
{
	int rc;

	if (!d->stale)
		return 0;
	d->len = sizeof(d->img);
	rc = vpcie_host_cfg_dump(d->h, d->img, &d->len);
	if (rc == 0 && d->len < PCI_STD_HEADER_SIZEOF)
		rc = -EPROTO;
	if (rc < 0) {
		fprintf(stderr, "vpcie %s: reading config space: %s\n", prog, strerror(-rc));
		return rc;
	}
	d->stale = false;
	return 0;
}

/* Offset of the instance-th capability of c, or 0 (message printed). */
static unsigned find_cap(const struct cfgdev *d, const struct cfgop *c, const char *prog)
{
	long want = c->op.instance < 0 ? 0 : c->op.instance, seen = 0;
	unsigned off = 0;

	for (;;) {
		if (c->cap_kind == PCICAP_STD)
			off = vpcie_cfg_next_cap(d->img, d->len, off);
		else
			off = d->len >= PCI_CFG_SPACE_EXP_SIZE ? vpcie_cfg_next_ext_cap(d->img, d->len, off)
							       : 0;
		if (!off)
			break;
		if (c->cap_kind == PCICAP_STD ? d->img[off] == c->cap_id
					      : PCI_EXT_CAP_ID(regop_get_le(d->img + off, 4)) == c->cap_id) {
			if (seen++ == want)
				return off;
		}
	}
	fprintf(stderr, "vpcie %s: %s: %scapability %0*x #%ld not found (the device has %ld)\n",
		prog, c->op.arg, c->cap_kind == PCICAP_STD ? "" : "extended ",
		c->cap_kind == PCICAP_STD ? 2 : 4, c->cap_id, want, seen);
	return 0;
}

static int run_one(struct cfgdev *d, const struct cfgop *c, const char *prog)
{
	const struct regop_io io = {cfg_read, cfg_write, d};
	unsigned addr, hdr;
	uint64_t fail_at;
	size_t n = c->op.nval ? c->op.nval : 1;
	int rc;

	if (refresh(d, prog))
		return -1;
	hdr = d->img[PCI_HEADER_TYPE] & 0x7f;
	if (c->reg && (hdr > 2 || !(c->reg->hdr_mask & (1u << hdr)))) {
		fprintf(stderr, "vpcie %s: %s: the device (header type %u) has no register %s\n",
			prog, c->op.arg, hdr, c->reg->name);
		return -1;
	}
	addr = c->base;
	if (c->cap_kind >= 0 && !(addr = find_cap(d, c, prog)))
		return -1;
	addr += c->offset;
	if (addr + n * c->width > d->len) {
		fprintf(stderr, "vpcie %s: %s: %x is outside the config space (%zu bytes)\n", prog,
			c->op.arg, addr, d->len);
		return -1;
	}
	rc = regop_run(&c->op, addr, c->width, &io, stdout, false, &fail_at);
	if (rc < 0) {
		fprintf(stderr, "vpcie %s: %s: %s config register %x: %s\n", prog, c->op.arg,
			c->op.nval ? "writing" : "reading", (unsigned)fail_at, strerror(-rc));
		return -1;
	}
	return 0;
}

int cmd_setpci(int argc, char **argv)
{
	enum { OPT_DUMPREGS = 0x2000 };
	static const struct option longopts[] = {
		TOOL_CONN_LONGOPTS,
		{"dumpregs", no_argument, NULL, OPT_DUMPREGS},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct tool_conn conn = TOOL_CONN_DEFAULTS;
	const char *prog = argv[0];
	struct cfgdev *d = NULL;
	struct cfgop *ops;
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
		switch (c) {
		case OPT_DUMPREGS:
			pciregs_dump(stdout);
			return 0;
		case 'h':
			usage(stdout, prog);
			return 0;
		default:
			return tool_bad_option(prog, argv);
		}
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
		struct cfgop *o = &ops[i];

		if (regop_parse(&o->op, argv[optind + i], "bwl", true, why, sizeof(why)) ||
		    resolve(o, why, sizeof(why))) {
			fprintf(stderr, "vpcie %s: %s: %s\n", prog, argv[optind + i], why);
			status = TOOL_EXIT_USAGE;
		}
	}
	if (!status && !(d = calloc(1, sizeof(*d)))) {
		fprintf(stderr, "vpcie %s: %s\n", prog, strerror(ENOMEM));
		status = TOOL_EXIT_FAIL;
	}
	if (!status && !(d->h = tool_open(&conn, prog)))
		status = TOOL_EXIT_FAIL;
	if (d)
		d->stale = true; /* nothing read yet */
	for (int i = 0; i < nops && !status; i++)
		if (run_one(d, &ops[i], prog))
			status = TOOL_EXIT_FAIL;
	if (fflush(stdout) != 0 && !status) {
		fprintf(stderr, "vpcie %s: writing output: %s\n", prog, strerror(errno));
		status = TOOL_EXIT_FAIL;
	}
	if (d && d->h)
		vpcie_host_close(d->h);
	free(d);
	for (int i = 0; i < nops; i++)
		regop_free(&ops[i].op);
	free(ops);
	return status;
}
