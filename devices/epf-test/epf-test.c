/* SPDX-License-Identifier: MIT */
/*
 * vpcie-epf-test: the endpoint side of Linux's PCI endpoint test, as a
 * vfio-user device. Seen from the host it behaves like a board running the
 * pci-epf-test function, so Linux's pci_endpoint_test driver (and pcitest)
 * or `vpcie pcitest` can drive it.
 *
 * BAR0      registers (epf_regs.h), then the MSI-X table and PBA, callbacks
 * BAR1..5   plain memory shared with the host (mmap), for the BAR tests
 * caps      PM, MSI (32, maskable), PCIe, MSI-X (2048) - all configurable
 *
 * A write that makes COMMAND non-zero arms a zero-delay timer: the write is
 * answered first, then the command runs (the kernel's EP polls COMMAND from
 * a workqueue), does its DMA, sets STATUS and raises the interrupt.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <vpcie/cli.h>
#include <vpcie/device.h>

#include "epf_crc.h"
#include "epf_regs.h"

#define NBARS 6u
/* Largest piece moved per DMA call, and the bounce buffer's size. */
#define EPF_CHUNK (1u << 20)

struct epf {
	struct vpcie_dev *dev;
	struct vpcie_logger *lg;
	uint8_t *bar0;          /* registers + room (MSI-X is served by the library) */
	uint64_t bar0_size;
	uint32_t caps;
	unsigned msi, msix;
	struct vpcie_timer *cmd_timer;
	uint8_t *bounce;        /* EPF_CHUNK bytes */
	uint64_t rng[4];        /* xoshiro256** state */
	uint64_t commands;      /* statistics for the debug log */
};

/* ---- Registers ------------------------------------------------------------ */

static uint32_t reg_get(const struct epf *e, unsigned off)
{
	const uint8_t *p = e->bar0 + off;

	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void reg_set(struct epf *e, unsigned off, uint32_t v)
{
	uint8_t *p = e->bar0 + off;

	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void reg_or(struct epf *e, unsigned off, uint32_t bits)
{
	reg_set(e, off, reg_get(e, off) | bits);
}

static uint64_t reg_get64(const struct epf *e, unsigned lower, unsigned upper)
{
	return (uint64_t)reg_get(e, upper) << 32 | reg_get(e, lower);
}

/* Registers back to what the EP function writes at start-up. */
static void regs_init(struct epf *e)
{
	memset(e->bar0, 0, EPF_REG_AREA);
	reg_set(e, EPF_REG_CAPS, e->caps);
}

/* ---- Random data for WRITE (xoshiro256**, seeded from the kernel) -------- */

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

static void rng_seed(uint64_t *s)
{
	uint64_t x;

	if (getrandom(s, 4 * sizeof(*s), 0) != (ssize_t)(4 * sizeof(*s))) {
		x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
		for (int i = 0; i < 4; i++) {
			/* splitmix64 steps */
			uint64_t z = (x += 0x9e3779b97f4a7c15ull);

			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
			z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
			s[i] = z ^ (z >> 31);
		}
	}
	if (!(s[0] | s[1] | s[2] | s[3]))
		s[0] = 1;
}

static void rng_fill(uint64_t *s, uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t v = rng_next(s);

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = rng_next(s);

		memcpy(p, &v, len);
	}
}

/* ---- Interrupts ----------------------------------------------------------- */

/* Vectors the host enabled for this type (pci_epc_get_msi/msix), 0 if the
 * type is not the one in use. */
static unsigned irq_count(struct epf *e, enum vpcie_irq_mode mode)
{
	return vpcie_dev_irq_mode(e->dev) == mode ? vpcie_dev_irq_vectors(e->dev) : 0;
}

/* INTx: a pulse, as EP controllers assert and deassert the line. The host
 * only sees it while INTx is its interrupt mode. */
static void raise_intx(struct epf *e)
{
	int rc;

	if (vpcie_dev_irq_mode(e->dev) != VPCIE_IRQ_INTX) {
		vpcie_dbg(e->lg, "INTx not in use by the host: not delivered");
		return;
	}
	rc = vpcie_dev_irq_raise(e->dev, 0);
	if (rc < 0)
		vpcie_warn(e->lg, "INTx: %s", strerror(-rc));
}

/* MSI/MSI-X vector number n (from 1), as pci_epc_raise_irq() is asked to. */
static void raise_vector(struct epf *e, enum vpcie_irq_mode mode, uint32_t n)
{
	unsigned count = irq_count(e, mode);
	const char *name = mode == VPCIE_IRQ_MSI ? "MSI" : "MSI-X";
	int rc;

	if (n == 0 || n > count) {
		vpcie_warn(e->lg, "invalid %s IRQ number %" PRIu32 " / %u", name, n, count);
		return;
	}
	rc = vpcie_dev_irq_raise(e->dev, n - 1);
	if (rc < 0)
		vpcie_warn(e->lg, "%s vector %" PRIu32 ": %s", name, n, strerror(-rc));
}

/* After a transfer: STATUS gets IRQ_RAISED first, so the host sees the final
 * status when the interrupt arrives; then IRQ_TYPE/IRQ_NUMBER is raised. */
static void raise_irq(struct epf *e)
{
	uint32_t type = reg_get(e, EPF_REG_IRQ_TYPE), n = reg_get(e, EPF_REG_IRQ_NUMBER);

	reg_or(e, EPF_REG_STATUS, EPF_STATUS_IRQ_RAISED);
	switch (type) {
	case EPF_IRQ_TYPE_LEGACY:
		raise_intx(e);
		break;
	case EPF_IRQ_TYPE_MSI:
		raise_vector(e, VPCIE_IRQ_MSI, n);
		break;
	case EPF_IRQ_TYPE_MSIX:
		raise_vector(e, VPCIE_IRQ_MSIX, n);
		break;
	default:
		vpcie_warn(e->lg, "failed to raise IRQ, unknown type %" PRIu32, type);
	}
}

/* ---- Transfers ------------------------------------------------------------ */

/* A DMA error: the address bit for -EFAULT (outside the host's memory). */
static int dma_failed(struct epf *e, int rc, uint32_t addr_bit, const char *what,
		      uint64_t addr, size_t len)
{
	vpcie_warn(e->lg, "%s 0x%" PRIx64 "+0x%zx: %s", what, addr, len, strerror(-rc));
	if (rc == -EFAULT)
		reg_or(e, EPF_REG_STATUS, addr_bit);
	return rc;
}

static bool range_wraps(uint64_t addr, uint64_t len)
{
	return len && addr + (len - 1) < addr;
}

/* Host memory at addr for reading: a direct pointer, or the bounce buffer
 * filled by DMA_READ messages. */
static int fetch(struct epf *e, uint64_t addr, size_t n, const uint8_t **out)
{
	const uint8_t *p = vpcie_dev_dma_ptr(e->dev, addr, n, false);
	int rc;

	if (p) {
		*out = p;
		return 0;
	}
	rc = vpcie_dev_dma_read(e->dev, addr, e->bounce, n);
	*out = e->bounce;
	return rc;
}

/* COMMAND_READ: read SIZE bytes at SRC and compare their checksum. */
static int cmd_read(struct epf *e)
{
	uint64_t src = reg_get64(e, EPF_REG_LOWER_SRC_ADDR, EPF_REG_UPPER_SRC_ADDR);
	uint32_t size = reg_get(e, EPF_REG_SIZE), crc = EPF_CRC_INIT;

	if (range_wraps(src, size))
		return dma_failed(e, -EFAULT, EPF_STATUS_SRC_ADDR_INVALID, "READ", src, size);
	for (uint64_t off = 0; off < size;) {
		size_t n = size - off > EPF_CHUNK ? EPF_CHUNK : (size_t)(size - off);
		const uint8_t *p;
		int rc = fetch(e, src + off, n, &p);

		if (rc < 0)
			return dma_failed(e, rc, EPF_STATUS_SRC_ADDR_INVALID, "READ", src + off, n);
		crc = epf_crc32_le(crc, p, n);
		off += n;
	}
	if (crc != reg_get(e, EPF_REG_CHECKSUM)) {
		vpcie_dbg(e->lg, "READ: checksum 0x%08" PRIx32 ", host said 0x%08" PRIx32, crc,
			  reg_get(e, EPF_REG_CHECKSUM));
		return -EIO;
	}
	return 0;
}

/* COMMAND_WRITE: fill SIZE bytes at DST with random data; CHECKSUM = its crc. */
static int cmd_write(struct epf *e)
{
	uint64_t dst = reg_get64(e, EPF_REG_LOWER_DST_ADDR, EPF_REG_UPPER_DST_ADDR);
	uint32_t size = reg_get(e, EPF_REG_SIZE), crc = EPF_CRC_INIT;
	int rc = 0;

	if (range_wraps(dst, size))
		return dma_failed(e, -EFAULT, EPF_STATUS_DST_ADDR_INVALID, "WRITE", dst, size);
	for (uint64_t off = 0; off < size;) {
		size_t n = size - off > EPF_CHUNK ? EPF_CHUNK : (size_t)(size - off);
		uint8_t *p = vpcie_dev_dma_ptr(e->dev, dst + off, n, true);
		uint8_t *buf = p ? p : e->bounce;

		rng_fill(e->rng, buf, n);
		crc = epf_crc32_le(crc, buf, n);
		if (!p)
			rc = vpcie_dev_dma_write(e->dev, dst + off, buf, n);
		if (rc < 0)
			return dma_failed(e, rc, EPF_STATUS_DST_ADDR_INVALID, "WRITE", dst + off, n);
		off += n;
	}
	reg_set(e, EPF_REG_CHECKSUM, crc);
	return 0;
}

/* COMMAND_COPY: SIZE bytes from SRC to DST. */
static int cmd_copy(struct epf *e)
{
	uint64_t src = reg_get64(e, EPF_REG_LOWER_SRC_ADDR, EPF_REG_UPPER_SRC_ADDR);
	uint64_t dst = reg_get64(e, EPF_REG_LOWER_DST_ADDR, EPF_REG_UPPER_DST_ADDR);
	uint32_t size = reg_get(e, EPF_REG_SIZE);

	if (range_wraps(src, size))
		return dma_failed(e, -EFAULT, EPF_STATUS_SRC_ADDR_INVALID, "COPY", src, size);
	if (range_wraps(dst, size))
		return dma_failed(e, -EFAULT, EPF_STATUS_DST_ADDR_INVALID, "COPY", dst, size);
	for (uint64_t off = 0; off < size;) {
		size_t n = size - off > EPF_CHUNK ? EPF_CHUNK : (size_t)(size - off);
		const uint8_t *s;
		uint8_t *d;
		int rc = fetch(e, src + off, n, &s);

		if (rc < 0)
			return dma_failed(e, rc, EPF_STATUS_SRC_ADDR_INVALID, "COPY", src + off, n);
		d = vpcie_dev_dma_ptr(e->dev, dst + off, n, true);
		if (d)
			memmove(d, s, n);
		else
			rc = vpcie_dev_dma_write(e->dev, dst + off, s, n);
		if (rc < 0)
			return dma_failed(e, rc, EPF_STATUS_DST_ADDR_INVALID, "COPY", dst + off, n);
		off += n;
	}
	return 0;
}

/* ---- The command handler (pci_epf_test_cmd_handler) ---------------------- */

static void run_command(struct vpcie_dev *dev, void *opaque)
{
	struct epf *e = opaque;
	uint32_t cmd = reg_get(e, EPF_REG_COMMAND), irq_type, n;
	unsigned count;
	int rc;

	(void)dev;
	if (!cmd)
		return;
	e->commands++;
	reg_set(e, EPF_REG_COMMAND, 0);
	reg_set(e, EPF_REG_STATUS, 0);
	irq_type = reg_get(e, EPF_REG_IRQ_TYPE);
	vpcie_dbg(e->lg, "command 0x%" PRIx32 " irq type %" PRIu32 " number %" PRIu32
		  " size %" PRIu32 " flags 0x%" PRIx32, cmd, irq_type,
		  reg_get(e, EPF_REG_IRQ_NUMBER), reg_get(e, EPF_REG_SIZE),
		  reg_get(e, EPF_REG_FLAGS));
	/* FLAG_USE_DMA needs no special path: every transfer already goes
	 * through the DMA API (mmap'ed host memory or DMA messages). */
	if (irq_type > EPF_IRQ_TYPE_MSIX) {
		vpcie_warn(e->lg, "failed to detect IRQ type %" PRIu32, irq_type);
		return;
	}
	if (cmd & EPF_CMD_RAISE_LEGACY_IRQ) {
		reg_set(e, EPF_REG_STATUS, EPF_STATUS_IRQ_RAISED);
		raise_intx(e);
		return;
	}
	if (cmd & EPF_CMD_WRITE) {
		rc = cmd_write(e);
		reg_or(e, EPF_REG_STATUS, rc ? EPF_STATUS_WRITE_FAIL : EPF_STATUS_WRITE_SUCCESS);
		raise_irq(e);
		return;
	}
	if (cmd & EPF_CMD_READ) {
		rc = cmd_read(e);
		reg_or(e, EPF_REG_STATUS, rc ? EPF_STATUS_READ_FAIL : EPF_STATUS_READ_SUCCESS);
		raise_irq(e);
		return;
	}
	if (cmd & EPF_CMD_COPY) {
		rc = cmd_copy(e);
		reg_or(e, EPF_REG_STATUS, rc ? EPF_STATUS_COPY_FAIL : EPF_STATUS_COPY_SUCCESS);
		raise_irq(e);
		return;
	}
	if (cmd & (EPF_CMD_RAISE_MSI_IRQ | EPF_CMD_RAISE_MSIX_IRQ)) {
		enum vpcie_irq_mode mode =
			(cmd & EPF_CMD_RAISE_MSI_IRQ) ? VPCIE_IRQ_MSI : VPCIE_IRQ_MSIX;

		/* An IRQ number the host did not enable: no IRQ_RAISED, no
		 * interrupt (6.1 semantics). */
		count = irq_count(e, mode);
		n = reg_get(e, EPF_REG_IRQ_NUMBER);
		if (n == 0 || n > count) {
			vpcie_warn(e->lg, "invalid %s IRQ number %" PRIu32 " / %u",
				   mode == VPCIE_IRQ_MSI ? "MSI" : "MSI-X", n, count);
			return;
		}
		reg_set(e, EPF_REG_STATUS, EPF_STATUS_IRQ_RAISED);
		raise_vector(e, mode, n);
		return;
	}
	if (cmd & (EPF_CMD_ENABLE_DOORBELL | EPF_CMD_DISABLE_DOORBELL)) {
		/* What pci-epf-test answers on a controller without doorbell
		 * support: the request fails, and the host is told so. */
		reg_or(e, EPF_REG_STATUS, (cmd & EPF_CMD_ENABLE_DOORBELL)
						  ? EPF_STATUS_DOORBELL_ENABLE_FAIL
						  : EPF_STATUS_DOORBELL_DISABLE_FAIL);
		raise_irq(e);
		return;
	}
	vpcie_warn(e->lg, "invalid command 0x%" PRIx32, cmd);
}

/* ---- BAR0 callbacks -------------------------------------------------------- */

static int bar0_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct epf *e = opaque;

	(void)dev;
	if (off > e->bar0_size || len > e->bar0_size - off)
		return -EINVAL;
	memcpy(buf, e->bar0 + off, len);
	return 0;
}

static int bar0_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf,
		      size_t len)
{
	struct epf *e = opaque;

	if (off > e->bar0_size || len > e->bar0_size - off)
		return -EINVAL;
	memcpy(e->bar0 + off, buf, len);
	/* COMMAND touched and now non-zero: run it once this write is answered. */
	if (off < EPF_REG_COMMAND + 4 && off + len > EPF_REG_COMMAND &&
	    reg_get(e, EPF_REG_COMMAND)) {
		if (e->cmd_timer)
			vpcie_dev_timer_arm(e->cmd_timer, 0, 0);
		else
			e->cmd_timer = vpcie_dev_timer_add(dev, 0, 0, run_command, e);
		if (!e->cmd_timer) {
			vpcie_err(e->lg, "cannot schedule the command");
			return -ENOMEM;
		}
	}
	return 0;
}

static void on_reset(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind)
{
	struct epf *e = opaque;

	(void)dev;
	vpcie_dbg(e->lg, "%s reset", kind == VPCIE_RESET_FLR ? "function level" : "device");
	regs_init(e);
}

/* ---- Options and set-up ----------------------------------------------------- */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s --socket PATH [options]\n"
		"The endpoint side of Linux's PCI endpoint test (pci-epf-test) as a vfio-user\n"
		"device: Linux's pci_endpoint_test driver and `vpcie pcitest` drive it.\n\n"
		"      --vendor ID       vendor ID (default 0x%04x)\n"
		"      --device ID       device ID (default 0x%04x, TI DRA74x)\n"
		"      --msi N           MSI vectors: 0 (none), 1, 2, 4, 8, 16, 32 (default 32)\n"
		"      --msix N          MSI-X vectors: 0 (none) .. 2048 (default 2048)\n"
		"      --bar-size N=SIZE BAR N's size (power of two, suffix k/M/G allowed;\n"
		"                        0 removes BARs 1-5). Defaults: BAR0 512 or what the\n"
		"                        registers and MSI-X table need, then 512, 1024, 16k,\n"
		"                        128k, 1M. Above 2G a BAR is 64-bit and uses N+1.\n"
		"  -h, --help            this help\n",
		prog, EPF_DEFAULT_VENDOR, EPF_DEFAULT_DEVICE);
	vpcie_cli_usage(f);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static int parse_bar_size(const char *arg, uint64_t *sizes, bool *set)
{
	char *end;
	unsigned long n = strtoul(arg, &end, 10);
	uint64_t v;

	if (end == arg || *end != '=' || n >= NBARS || parse_u64(end + 1, &v))
		return -1;
	if (v && (v < 16 || (v & (v - 1))))
		return -1;
	if (n == 0 && v == 0)
		return -1;
	sizes[n] = v;
	set[n] = true;
	return 0;
}

static uint64_t pow2_ceil(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* Enough descriptors for the MSI-X eventfds a host attaches. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int setup_bars(struct epf *e, const uint64_t *sizes)
{
	static const struct vpcie_bar_ops bar0_ops = {bar0_read, bar0_write};
	int rc;

	rc = vpcie_dev_set_bar(e->dev, 0, &(struct vpcie_bar_desc){
		.size = e->bar0_size, .kind = VPCIE_BAR_MEM32, .ops = &bar0_ops, .opaque = e});
	if (rc)
		return rc;
	for (unsigned n = 1; n < NBARS; n++) {
		bool is64 = sizes[n] > (1ull << 31);

		if (!sizes[n])
			continue;
		if (is64 && n == NBARS - 1) {
			fprintf(stderr, "vpcie-epf-test: BAR5 cannot be 64-bit (size > 2G)\n");
			return -EINVAL;
		}
		rc = vpcie_dev_set_bar(e->dev, n, &(struct vpcie_bar_desc){
			.size = sizes[n], .kind = is64 ? VPCIE_BAR_MEM64 : VPCIE_BAR_MEM32,
			.memory = true});
		if (rc) {
			fprintf(stderr, "vpcie-epf-test: BAR%u: %s\n", n, strerror(-rc));
			return rc;
		}
		if (is64)
			n++; /* BAR n+1 holds the upper half */
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		VPCIE_CLI_LONGOPTS,
		{"vendor", required_argument, NULL, 'V'},
		{"device", required_argument, NULL, 'D'},
		{"msi", required_argument, NULL, 'm'},
		{"msix", required_argument, NULL, 'x'},
		{"bar-size", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	uint64_t sizes[NBARS] = EPF_DEFAULT_BAR_SIZES;
	bool size_set[NBARS] = {false};
	struct vpcie_ids ids = {
		.vendor = EPF_DEFAULT_VENDOR, .device = EPF_DEFAULT_DEVICE,
		.class_code = 0xff0000, /* PCI_CLASS_OTHERS, as pci-epf-test */
	};
	const struct vpcie_dev_ops ops = {.reset = on_reset};
	struct vpcie_dev_opts opts;
	struct epf e = {.msi = 32, .msix = 2048};
	struct vpcie_cli cli;
	uint64_t v, need;
	int c, rc;

	vpcie_dev_opts_defaults(&opts);
	opts.name = "vpcie-epf-test";
	vpcie_cli_init(&cli, opts.name);
	while ((c = getopt_long(argc, argv, VPCIE_CLI_SHORTOPTS "h", longopts, NULL)) != -1) {
		switch (vpcie_cli_option(&cli, &opts, c, optarg)) {
		case 1: continue;
		case -1: return 2;
		}
		switch (c) {
		case 'V':
		case 'D':
			if (parse_u64(optarg, &v) || v > 0xffff) {
				fprintf(stderr, "vpcie-epf-test: bad ID '%s'\n", optarg);
				return 2;
			}
			if (c == 'V')
				ids.vendor = (uint16_t)v;
			else
				ids.device = (uint16_t)v;
			break;
		case 'm':
			if (parse_u64(optarg, &v) || v > 32 || (v & (v - 1))) {
				fprintf(stderr, "vpcie-epf-test: --msi takes 0, 1, 2, 4, 8, 16 or 32\n");
				return 2;
			}
			e.msi = (unsigned)v;
			break;
		case 'x':
			if (parse_u64(optarg, &v) || v > 2048) {
				fprintf(stderr, "vpcie-epf-test: --msix takes 0..2048\n");
				return 2;
			}
			e.msix = (unsigned)v;
			break;
		case 'b':
			if (parse_bar_size(optarg, sizes, size_set)) {
				fprintf(stderr, "vpcie-epf-test: bad --bar-size '%s' (N=SIZE, N 0-5, "
						"SIZE a power of two >= 16)\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout, argv[0]); return 0;
		default: usage(stderr, argv[0]); return 2;
		}
	}
	if (vpcie_cli_finish(&cli, argc - optind))
		return 2;

	/* BAR0: register area, MSI-X table, PBA - as pci-epf-test lays it out. */
	need = EPF_REG_AREA;
	if (e.msix)
		need += (uint64_t)e.msix * 16 + ((e.msix + 63) / 64) * 8;
	if (!size_set[0])
		sizes[0] = pow2_ceil(need) > sizes[0] ? pow2_ceil(need) : sizes[0];
	if (sizes[0] < need || sizes[0] > (1ull << 31)) {
		fprintf(stderr, "vpcie-epf-test: BAR0 must be >= %" PRIu64 " bytes (and <= 2G)\n",
			pow2_ceil(need));
		return 2;
	}
	e.bar0_size = sizes[0];
	e.caps = EPF_CAP_UNALIGNED_ACCESS | EPF_CAP_INTX | (e.msi ? EPF_CAP_MSI : 0) |
		 (e.msix ? EPF_CAP_MSIX : 0);
	e.bar0 = calloc(1, e.bar0_size);
	e.bounce = malloc(EPF_CHUNK);
	if (!e.bar0 || !e.bounce) {
		fprintf(stderr, "vpcie-epf-test: out of memory\n");
		return 1;
	}
	rng_seed(e.rng);
	regs_init(&e);
	raise_fd_limit();

	e.dev = vpcie_dev_new(&ids, &ops, &e, &opts);
	if (!e.dev) {
		perror("vpcie-epf-test: vpcie_dev_new");
		return 1;
	}
	e.lg = vpcie_dev_logger(e.dev);
	rc = setup_bars(&e, sizes);
	if (!rc && vpcie_dev_add_pm(e.dev) < 0)
		rc = -EINVAL;
	if (!rc && e.msi && vpcie_dev_add_msi(e.dev, e.msi, true) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_pcie(e.dev, true) < 0)
		rc = -EINVAL;
	if (!rc && e.msix &&
	    vpcie_dev_add_msix(e.dev, e.msix, 0, EPF_MSIX_TABLE_OFF, 0,
			       EPF_MSIX_TABLE_OFF + e.msix * 16u) < 0)
		rc = -EINVAL;
	if (rc) {
		fprintf(stderr, "vpcie-epf-test: device setup failed (%d)\n", rc);
		vpcie_dev_free(e.dev);
		return 1;
	}
	vpcie_info(e.lg, "%04x:%04x, BAR0 %" PRIu64 " bytes, MSI %u, MSI-X %u, caps 0x%" PRIx32,
		   ids.vendor, ids.device, e.bar0_size, e.msi, e.msix, e.caps);
	rc = vpcie_dev_serve(e.dev, cli.socket, cli.fd);
	vpcie_dbg(e.lg, "%" PRIu64 " commands served", e.commands);
	vpcie_dev_free(e.dev);
	free(e.bar0);
	free(e.bounce);
	return rc ? 1 : 0;
}
