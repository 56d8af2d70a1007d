/* SPDX-License-Identifier: MIT */
/*
 * `vpcie lspci`: read a device's configuration space over its vfio-user
 * socket and print it the way `lspci -x` does, so that pciutils can decode
 * it offline with `lspci -F FILE -vvv`.
 *
 * Output format (what pciutils' dump reader accepts): a device line
 * "BB:DD.F <anything>" (or "DDDD:BB:DD.F ..."), then rows of 16 bytes
 * "OO: hh hh ... hh" where OO is the offset in hex (two digits below 0x100,
 * three above, as lspci's "%02x:" gives), and a blank line ending the device.
 * With -v, tab-indented lines describing the BARs (sized the way an OS sizes
 * them) and the capability list come between the device line and the rows,
 * as in `lspci -v -x`; the dump reader skips them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <vpcie/config.h>
#include <vpcie/host.h>

#include "cmds.h"
#include "tool.h"

struct lspci_opts {
	struct tool_conn conn;
	const char *out;
	unsigned domain, bus, dev, fn;
	bool has_domain;
	int hex;         /* number of -x given; 0: whole config region */
	int verbose;
	bool assign;
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: vpcie %s --socket PATH [-x|-xxx|-xxxx] [-v] [-o FILE] [options]\n"
		"Dump the configuration space of the vfio-user device at PATH in the\n"
		"format of `lspci -x`; decode it with `lspci -F FILE -vvv`.\n\n"
		TOOL_CONN_HELP
		"  -x                   standard header only (64 bytes), as lspci -x\n"
		"  -xxx                 256 bytes (PCI config space)\n"
		"  -xxxx                4096 bytes (PCI Express extended config space);\n"
		"                       default: the whole config region of the device\n"
		"  -v, --verbose        also describe BARs (with sizes) and capabilities,\n"
		"                       as `lspci -v -x` does (BARs are sized by writing\n"
		"                       all-ones and restoring, as an OS does)\n"
		"      --assign         assign BAR addresses (memory from 0xfe000000, I/O\n"
		"                       from 0xc000) and enable decoding before dumping, as\n"
		"                       firmware would; this changes the device's state.\n"
		"                       Without it, a device nobody has set up has no BAR\n"
		"                       addresses and `lspci -F` shows no memory regions\n"
		"  -s, --slot [DDDD:]BB:DD.F  address to print (default 00:00.0)\n"
		"  -o, --output FILE    write to FILE instead of standard output\n"
		"  -h, --help           this help\n",
		prog);
}

/* "[DDDD:]BB:DD.F" in hex (function in decimal 0-7, as lspci). */
static int parse_slot(const char *s, struct lspci_opts *o)
{
	char buf[32], *parts[3], *dot, *p;
	unsigned n = 0;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	dot = strrchr(buf, '.');
	if (!dot)
		return -1;
	*dot = '\0';
	if (tool_parse_uint(dot + 1, 10, 7, &o->fn))
		return -1;
	p = buf;
	for (;;) {
		char *c = strchr(p, ':');

		if (n == 3)
			return -1;
		parts[n++] = p;
		if (!c)
			break;
		*c = '\0';
		p = c + 1;
	}
	if (n < 2)
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (strlen(parts[i]) == 0 || strlen(parts[i]) > (i == 0 && n == 3 ? 5u : 2u))
			return -1;
	if (n == 3) {
		if (tool_parse_uint(parts[0], 16, 0xffff, &o->domain))
			return -1;
		o->has_domain = true;
	}
	if (tool_parse_uint(parts[n - 2], 16, 0xff, &o->bus) ||
	    tool_parse_uint(parts[n - 1], 16, 0x1f, &o->dev))
		return -1;
	return 0;
}

static uint32_t img32(const uint8_t *img, unsigned off)
{
	return (uint32_t)img[off] | (uint32_t)img[off + 1] << 8 | (uint32_t)img[off + 2] << 16 |
	       (uint32_t)img[off + 3] << 24;
}

static uint16_t img16(const uint8_t *img, unsigned off)
{
	return (uint16_t)(img[off] | img[off + 1] << 8);
}

/* " [size=4K]", as lspci prints sizes: the largest exact binary unit. */
static void print_size(FILE *f, uint64_t size)
{
	static const char *const unit[] = {"", "K", "M", "G", "T", "P", "E"};
	unsigned u = 0;

	if (!size)
		return;
	while (u + 1 < sizeof(unit) / sizeof(unit[0]) && size % 1024 == 0) {
		size /= 1024;
		u++;
	}
	fprintf(f, " [size=%" PRIu64 "%s]", size, unit[u]);
}

/* ---- BARs ------------------------------------------------------------------ */

static void print_bars(FILE *f, const uint8_t *img, const struct vpcie_host_bar bars[7])
{
	uint16_t cmd = img16(img, PCI_COMMAND);

	for (unsigned i = 0; i < 6; i++) {
		const struct vpcie_host_bar *b = &bars[i];

		if (!b->present)
			continue;
		fprintf(f, "\tRegion %u: ", i);
		if (b->is_io) {
			fputs("I/O ports at ", f);
			if (b->addr)
				fprintf(f, "%04" PRIx64, b->addr);
			else
				fputs("<unassigned>", f);
			if (!(cmd & PCI_COMMAND_IO))
				fputs(" [disabled]", f);
		} else {
			fputs("Memory at ", f);
			if (b->addr)
				fprintf(f, "%08" PRIx64, b->addr);
			else
				fputs("<unassigned>", f);
			fprintf(f, " (%s, %sprefetchable)", b->is_64 ? "64-bit" : "32-bit",
				b->prefetchable ? "" : "non-");
			if (!(cmd & PCI_COMMAND_MEMORY))
				fputs(" [disabled]", f);
		}
		print_size(f, b->size);
		fputc('\n', f);
	}
	if (bars[6].present) {
		fputs("\tExpansion ROM at ", f);
		if (bars[6].addr)
			fprintf(f, "%08" PRIx64, bars[6].addr);
		else
			fputs("<unassigned>", f);
		if (!(img32(img, PCI_ROM_ADDRESS) & PCI_ROM_ADDRESS_ENABLE) ||
		    !(cmd & PCI_COMMAND_MEMORY))
			fputs(" [disabled]", f);
		print_size(f, bars[6].size);
		fputc('\n', f);
	}
}

/* ---- Capability list (names only; pciutils decodes the details) ---------- */

static const char *cap_name(uint8_t id)
{
	switch (id) {
	case PCI_CAP_ID_PM: return "Power Management";
	case PCI_CAP_ID_AGP: return "AGP";
	case PCI_CAP_ID_VPD: return "Vital Product Data";
	case PCI_CAP_ID_MSI: return "MSI";
	case PCI_CAP_ID_PCIX: return "PCI-X";
	case PCI_CAP_ID_VNDR: return "Vendor Specific Information";
	case PCI_CAP_ID_SSVID: return "Subsystem Vendor ID";
	case PCI_CAP_ID_EXP: return "Express";
	case PCI_CAP_ID_MSIX: return "MSI-X";
	case PCI_CAP_ID_AF: return "PCI Advanced Features";
	default: return NULL;
	}
}

static const char *ext_cap_name(uint16_t id)
{
	switch (id) {
	case PCI_EXT_CAP_ID_ERR: return "Advanced Error Reporting";
	case PCI_EXT_CAP_ID_VC: return "Virtual Channel";
	case PCI_EXT_CAP_ID_DSN: return "Device Serial Number";
	case PCI_EXT_CAP_ID_PWR: return "Power Budgeting";
	case PCI_EXT_CAP_ID_VNDR: return "Vendor Specific Information";
	case PCI_EXT_CAP_ID_ACS: return "Access Control Services";
	case PCI_EXT_CAP_ID_ARI: return "Alternative Routing-ID Interpretation (ARI)";
	case PCI_EXT_CAP_ID_ATS: return "Address Translation Service (ATS)";
	case PCI_EXT_CAP_ID_SRIOV: return "Single Root I/O Virtualization (SR-IOV)";
	case PCI_EXT_CAP_ID_LTR: return "Latency Tolerance Reporting";
	case PCI_EXT_CAP_ID_PASID: return "Process Address Space ID (PASID)";
	default: return NULL;
	}
}

static void print_caps(FILE *f, const uint8_t *img, size_t len)
{
	unsigned off = 0;

	if (!(img16(img, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return;
	while ((off = vpcie_cfg_next_cap(img, len, off)) != 0) {
		const char *n = cap_name(img[off]);

		if (n)
			fprintf(f, "\tCapabilities: [%02x] %s\n", off, n);
		else
			fprintf(f, "\tCapabilities: [%02x] #%02x\n", off, img[off]);
	}
	if (len < VPCIE_CFG_SIZE)
		return;
	off = 0;
	while ((off = vpcie_cfg_next_ext_cap(img, len, off)) != 0) {
		uint32_t hdr = img32(img, off);
		const char *n = ext_cap_name((uint16_t)PCI_EXT_CAP_ID(hdr));

		fprintf(f, "\tCapabilities: [%03x v%u] ", off, (unsigned)PCI_EXT_CAP_VER(hdr));
		if (n)
			fprintf(f, "%s\n", n);
		else
			fprintf(f, "Extended Capability ID %#x\n", (unsigned)PCI_EXT_CAP_ID(hdr));
	}
}

/* ---- Output --------------------------------------------------------------- */

static void print_device_line(FILE *f, const struct lspci_opts *o, const uint8_t *img,
			      bool verbose)
{
	uint8_t rev = img[PCI_REVISION_ID], progif = img[PCI_CLASS_PROG];

	if (o->has_domain)
		fprintf(f, "%04x:", o->domain);
	/* Without an ID database lspci says "Class cccc: Device vvvv:dddd". */
	fprintf(f, "%02x:%02x.%u Class %04x: Device %04x:%04x", o->bus, o->dev, o->fn,
		img16(img, PCI_CLASS_DEVICE), img16(img, PCI_VENDOR_ID),
		img16(img, PCI_DEVICE_ID));
	if (rev)
		fprintf(f, " (rev %02x)", rev);
	if (verbose && progif)
		fprintf(f, " (prog-if %02x)", progif);
	fputc('\n', f);
	if (verbose && (img[PCI_HEADER_TYPE] & 0x7f) == PCI_HEADER_TYPE_NORMAL) {
		uint16_t sv = img16(img, PCI_SUBSYSTEM_VENDOR_ID);
		uint16_t sd = img16(img, PCI_SUBSYSTEM_ID);

		if (sv && sv != 0xffff)
			fprintf(f, "\tSubsystem: Device %04x:%04x\n", sv, sd);
	}
}

static void print_hex(FILE *f, const uint8_t *img, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i % 16 == 0)
			fprintf(f, "%02zx:", i);
		fprintf(f, " %02x", img[i]);
		if (i % 16 == 15)
			fputc('\n', f);
	}
}

/* How many bytes lspci shows for a number of -x (0: everything we have). */
static size_t dump_len(int hex, size_t have)
{
	size_t want;

	if (hex == 0)
		want = have;
	else if (hex < 3)
		want = PCI_STD_HEADER_SIZEOF; /* lspci: 64 bytes (128 for CardBus) */
	else if (hex == 3)
		want = PCI_CFG_SPACE_SIZE;
	else
		want = PCI_CFG_SPACE_EXP_SIZE;
	return want < have ? want : have;
}

/*
 * Whether the device has BARs (regions of non-zero size, asked without
 * touching config space) but none of their registers holds an address.
 */
static bool bars_unassigned(struct vpcie_host *h, const uint8_t *img)
{
	bool have = false;

	for (unsigned i = 0; i < 6; i++) {
		const struct vpcie_host_region *r;
		uint32_t reg = img32(img, PCI_BASE_ADDRESS_0 + 4 * i);
		uint64_t addr;

		if (vpcie_host_region_info(h, VFIO_PCI_BAR0_REGION_INDEX + i, &r) < 0 || !r->size)
			continue;
		have = true;
		if (reg & PCI_BASE_ADDRESS_SPACE_IO) {
			addr = reg & PCI_BASE_ADDRESS_IO_MASK;
		} else {
			addr = reg & PCI_BASE_ADDRESS_MEM_MASK;
			if ((reg & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64 && i < 5)
				addr |= (uint64_t)img32(img, PCI_BASE_ADDRESS_0 + 4 * (i + 1)) << 32;
		}
		if (addr)
			return false;
	}
	return have;
}

static int run(const struct lspci_opts *o, const char *prog)
{
	struct vpcie_host *h;
	struct vpcie_host_bar bars[7];
	uint8_t img[VPCIE_CFG_SIZE];
	size_t len = sizeof(img), n;
	FILE *f = stdout;
	int rc;

	h = tool_open(&o->conn, prog);
	if (!h)
		return 1;
	if (o->assign) {
		rc = vpcie_host_assign_bars(h, TOOL_MEM_BASE, TOOL_IO_BASE);
		if (rc < 0) {
			fprintf(stderr, "vpcie %s: assigning BARs: %s\n", prog, strerror(-rc));
			vpcie_host_close(h);
			return 1;
		}
	}
	rc = vpcie_host_cfg_dump(h, img, &len);
	if (rc == 0 && len < PCI_STD_HEADER_SIZEOF)
		rc = -EPROTO;
	if (rc < 0) {
		fprintf(stderr, "vpcie %s: reading config space: %s\n", prog, strerror(-rc));
		vpcie_host_close(h);
		return 1;
	}
	if (!o->assign && (img[PCI_HEADER_TYPE] & 0x7f) == PCI_HEADER_TYPE_NORMAL &&
	    bars_unassigned(h, img))
		fprintf(stderr,
			"vpcie %s: note: no BAR has an address yet, so `lspci -F` shows the BARs\n"
			"  unassigned or not at all; --assign assigns them first, as firmware would\n",
			prog);
	if (o->verbose) {
		rc = vpcie_host_size_bars(h);
		for (unsigned i = 0; rc == 0 && i < 7; i++)
			bars[i] = *vpcie_host_bar(h, i);
		if (rc < 0) {
			fprintf(stderr, "vpcie %s: sizing BARs: %s\n", prog, strerror(-rc));
			vpcie_host_close(h);
			return 1;
		}
	}
	vpcie_host_close(h);

	if (o->out) {
		f = fopen(o->out, "w");
		if (!f) {
			fprintf(stderr, "vpcie %s: %s: %s\n", prog, o->out, strerror(errno));
			return 1;
		}
	}
	n = dump_len(o->hex, len);
	print_device_line(f, o, img, o->verbose);
	if (o->verbose) {
		print_bars(f, img, bars);
		print_caps(f, img, len);
	}
	print_hex(f, img, n);
	fputc('\n', f);
	if (fflush(f) != 0 || ferror(f) || (f != stdout && fclose(f) != 0)) {
		fprintf(stderr, "vpcie %s: writing %s: %s\n", prog, o->out ? o->out : "output",
			strerror(errno));
		return 1;
	}
	return 0;
}

int cmd_lspci(int argc, char **argv)
{
	enum { OPT_ASSIGN = 256 };
	static const struct option longopts[] = {
		TOOL_CONN_LONGOPTS,
		{"slot", required_argument, NULL, 's'},
		{"output", required_argument, NULL, 'o'},
		{"verbose", no_argument, NULL, 'v'},
		{"assign", no_argument, NULL, OPT_ASSIGN},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct lspci_opts o = {.conn = TOOL_CONN_DEFAULTS};
	const char *prog = argv[0];
	int c;

	optind = 0; /* GNU getopt: full re-initialisation */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "S:s:o:xvh", longopts, NULL)) != -1) {
		int r = tool_conn_option(&o.conn, prog, c, optarg);

		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		switch (c) {
		case 'o': o.out = optarg; break;
		case 'x': o.hex++; break;
		case 'v': o.verbose++; break;
		case OPT_ASSIGN: o.assign = true; break;
		case 's':
			if (parse_slot(optarg, &o)) {
				fprintf(stderr, "vpcie %s: bad slot '%s' (want [DDDD:]BB:DD.F)\n",
					prog, optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout, prog);
			return 0;
		default:
			if (optopt && optopt < 256 && strchr("Sso", optopt))
				fprintf(stderr, "vpcie %s: option -%c needs an argument\n", prog,
					optopt);
			else
				fprintf(stderr, "vpcie %s: unknown option '%s'\n", prog,
					argv[optind - 1]);
			usage(stderr, prog);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vpcie %s: unexpected argument '%s'\n", prog, argv[optind]);
		usage(stderr, prog);
		return 2;
	}
	if (!o.conn.socket) {
		fprintf(stderr, "vpcie %s: --socket PATH is required\n", prog);
		usage(stderr, prog);
		return 2;
	}
	return run(&o, prog);
}
