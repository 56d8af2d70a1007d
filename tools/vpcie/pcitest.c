/* SPDX-License-Identifier: MIT */
/*
 * `vpcie pcitest`: Linux's PCI endpoint test, host side, without a kernel.
 *
 * It plays the pci_endpoint_test driver through the host runtime: sizes and
 * assigns the BARs, reads CAPS, enables interrupts the way the driver's
 * PCITEST_SET_IRQTYPE does (MSI at start-up, as the 6.1 driver's probe),
 * registers host memory for the device's DMA, programs the registers in
 * BAR0, waits for the interrupt (with a timeout) and checks STATUS and the
 * checksums. By default it runs the matrix of tools/pci/pcitest.sh and the
 * kselftest that replaced it: BARs, consecutive BARs, legacy IRQ, MSI 1-32,
 * MSI-X 1-2048, READ/WRITE/COPY of 1, 1024, 1025, 1024000 and 1024001 bytes
 * with and without the DMA flag.
 *
 * READ/WRITE are named from the host, as pcitest does: READ asks the device
 * to write host memory (COMMAND_WRITE), WRITE asks it to read (COMMAND_READ).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <vpcie/cli.h>
#include <vpcie/host.h>

#include "cmds.h"
#include "tool.h"
#include "epf_crc.h"
#include "epf_regs.h"

#define NBARS 6u
#define IRQ_UNDEFINED (-1)
#define DEFAULT_SIZE 102400u        /* pcitest's default transfer size */
#define HOST_MEM_IOVA 0x100000000ull /* above 4 GiB: UPPER_*_ADDR matter */
#define MEM_BASE 0x80000000ull      /* where BARs are assigned */
#define IO_BASE 0x1000u
#define BAR_CHUNK (1u << 20)
#define MAX_TIMEOUTS_IN_ROW 3

static const size_t matrix_sizes[] = {1, 1024, 1025, 1024000, 1024001};
static const uint32_t bar_patterns[NBARS] = EPF_BAR_PATTERNS;

enum case_kind { C_BAR, C_BARS, C_SETIRQ, C_LEGACY, C_MSI, C_MSIX, C_READ, C_WRITE, C_COPY };

struct tcase {
	enum case_kind kind;
	unsigned n;   /* BAR, IRQ type or vector number */
	size_t size;  /* transfers */
	bool dma;
};

enum verdict { PASS, FAIL, SKIP };

struct pt {
	struct vpcie_host *h;
	const char *sock;
	const char *psk_file;
	int timeout_ms;
	bool shared, use_mmap, json, progress;
	int verbose;

	uint64_t bar_size[NBARS];
	bool bar_present[NBARS];
	uint32_t caps;
	size_t alignment;
	int irq_type;
	unsigned num_irqs;

	struct vpcie_host_mem *mem;
	size_t max_xfer;
	uint8_t *scratch_w, *scratch_r; /* BAR_CHUNK each */

	struct tcase *cases;
	size_t ncases, cap_cases;

	bool dead;            /* the device stopped answering: fail fast */
	char why[160];        /* reason of the last failure/skip */
	uint32_t last_status; /* STATUS after the last interrupt */
	bool timed_out;
	int timeouts_in_row;
	enum case_kind last_kind;

	json_object *results;
	unsigned passed, failed, skipped;
	int64_t progress_ms;
	bool progress_shown;
};

/* ---- Small helpers -------------------------------------------------------- */

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void reason(struct pt *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason(struct pt *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
}

static void fill_random(uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = getrandom(buf, len, 0);

		if (n <= 0) {
			/* Not expected; keep going with something non-constant. */
			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)(rand() >> 7);
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- Registers and BARs ----------------------------------------------------- */

/* A request that timed out or a lost connection: the device is gone or
 * stuck, so the remaining cases fail at once instead of each waiting. */
static int check_alive(struct pt *p, int rc)
{
	if (rc == -ETIMEDOUT || rc == -ECONNRESET || rc == -EPIPE || rc == -ENOTCONN)
		p->dead = true;
	return rc;
}

static int reg_write(struct pt *p, unsigned off, uint32_t v)
{
	return check_alive(p, vpcie_host_bar_write32(p->h, 0, off, v));
}

static uint32_t reg_read(struct pt *p, unsigned off, int *err)
{
	int rc = 0;
	uint32_t v = vpcie_host_bar_read32(p->h, 0, off, &rc);

	if (err)
		*err = check_alive(p, rc);
	return v;
}

/* BAR access: through the mmap where mapped, else messages. */
static int bar_write(struct pt *p, unsigned bar, uint64_t off, const void *buf, size_t len)
{
	if (p->use_mmap && vpcie_host_region_is_mapped(p->h, bar, off, len)) {
		uint8_t *base = vpcie_host_region_map(p->h, bar);

		memcpy(base + off, buf, len);
		return 0;
	}
	return check_alive(p, vpcie_host_region_write(p->h, bar, off, buf, len));
}

static int bar_read(struct pt *p, unsigned bar, uint64_t off, void *buf, size_t len)
{
	if (p->use_mmap && vpcie_host_region_is_mapped(p->h, bar, off, len)) {
		const uint8_t *base = vpcie_host_region_map(p->h, bar);

		memcpy(buf, base + off, len);
		return 0;
	}
	return check_alive(p, vpcie_host_region_read(p->h, bar, off, buf, len));
}

/* How much of BAR n the tests touch: the register BAR only its first word. */
static uint64_t bar_test_len(const struct pt *p, unsigned bar)
{
	return bar == 0 ? 4 : p->bar_size[bar];
}

/* PCITEST_BAR: pattern written over the BAR, read back, compared. */
static enum verdict test_bar(struct pt *p, unsigned bar)
{
	uint64_t len, off;
	int rc;

	if (bar >= NBARS)
		return reason(p, "no BAR%u", bar), FAIL;
	if (!p->bar_present[bar])
		return reason(p, "BAR%u is disabled", bar), SKIP;
	len = bar_test_len(p, bar);
	memset(p->scratch_w, (int)(bar_patterns[bar] & 0xff), BAR_CHUNK);
	for (off = 0; off < len; off += BAR_CHUNK) {
		size_t n = len - off > BAR_CHUNK ? BAR_CHUNK : (size_t)(len - off);

		rc = bar_write(p, bar, off, p->scratch_w, n);
		if (rc == 0)
			rc = bar_read(p, bar, off, p->scratch_r, n);
		if (rc < 0)
			return reason(p, "BAR%u access at 0x%" PRIx64 ": %s", bar, off, strerror(-rc)),
			       FAIL;
		if (memcmp(p->scratch_w, p->scratch_r, n)) {
			size_t i = 0;

			while (p->scratch_w[i] == p->scratch_r[i])
				i++;
			return reason(p, "BAR%u: byte 0x%" PRIx64 " reads 0x%02x", bar, off + i,
				      p->scratch_r[i]),
			       FAIL;
		}
	}
	return PASS;
}

static uint32_t pattern_with_offset(unsigned bar, uint64_t off)
{
	return (bar_patterns[bar] & 0xff000000u) | (uint32_t)(off & 0x00ffffffu);
}

/* PCITEST_BARS: write every BAR first, then read them all back, so one BAR
 * aliasing another shows. */
static enum verdict test_bars(struct pt *p)
{
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned bar = 0; bar < NBARS; bar++) {
			uint64_t len = bar_test_len(p, bar);

			if (!p->bar_present[bar])
				continue;
			for (uint64_t off = 0; off < len; off += BAR_CHUNK) {
				size_t n = len - off > BAR_CHUNK ? BAR_CHUNK : (size_t)(len - off);
				uint32_t *w = (uint32_t *)(void *)p->scratch_w;
				int rc;

				for (size_t j = 0; j < n / 4; j++)
					w[j] = pattern_with_offset(bar, off + 4 * j);
				if (pass == 0) {
					rc = bar_write(p, bar, off, w, n);
				} else {
					rc = bar_read(p, bar, off, p->scratch_r, n);
					if (rc == 0 && memcmp(w, p->scratch_r, n)) {
						size_t j = 0;
						uint32_t got;

						while (!memcmp(p->scratch_r + 4 * j, &w[j], 4))
							j++;
						memcpy(&got, p->scratch_r + 4 * j, 4);
						return reason(p, "BAR%u incorrect data at offset 0x%" PRIx64
							      ": got 0x%08x expected 0x%08x", bar,
							      off + 4 * j, got, w[j]),
						       FAIL;
					}
				}
				if (rc < 0)
					return reason(p, "BAR%u: %s", bar, strerror(-rc)), FAIL;
			}
		}
	}
	return PASS;
}

/* ---- Interrupts ------------------------------------------------------------ */

static const char *irq_name(int type)
{
	switch (type) {
	case EPF_IRQ_TYPE_LEGACY: return "LEGACY";
	case EPF_IRQ_TYPE_MSI: return "MSI";
	case EPF_IRQ_TYPE_MSIX: return "MSI-X";
	default: return "UNDEFINED";
	}
}

/* PCITEST_SET_IRQTYPE: allocate as many vectors as the driver asks for
 * (INTx 1, MSI up to 32, MSI-X up to 2048) and the device offers. */
static int set_irq(struct pt *p, int type)
{
	static const unsigned want[] = {1, 32, 2048};
	struct vpcie_irq_info info;
	unsigned n;
	int rc;

	if (type < EPF_IRQ_TYPE_LEGACY || type > EPF_IRQ_TYPE_MSIX) {
		reason(p, "invalid IRQ type %d", type);
		return -EINVAL;
	}
	if (p->irq_type == type)
		return 0;
	vpcie_host_irq_disable(p->h);
	p->irq_type = IRQ_UNDEFINED;
	p->num_irqs = 0;
	rc = check_alive(p, vpcie_host_irq_info(p->h, (unsigned)type, &info));
	if (rc < 0) {
		reason(p, "IRQ info: %s", strerror(-rc));
		return rc;
	}
	n = info.count < want[type] ? info.count : want[type];
	if (!n) {
		reason(p, "the device has no %s interrupt", irq_name(type));
		return -ENODEV;
	}
	rc = check_alive(p, vpcie_host_irq_enable(p->h, (enum vpcie_host_irq_type)type, n));
	if (rc < 0) {
		reason(p, "enabling %u %s vectors: %s", n, irq_name(type), strerror(-rc));
		return rc;
	}
	p->irq_type = type;
	p->num_irqs = (unsigned)rc;
	return 0;
}

/*
 * Wait for vector vec (index from 0) as the driver's handler sees it: it
 * counts only if STATUS has IRQ_RAISED, which the 6.1 handler then clears.
 */
static int wait_irq(struct pt *p, unsigned vec)
{
	int64_t deadline = now_us() + (int64_t)p->timeout_ms * 1000;

	p->timed_out = false;
	for (;;) {
		int64_t left = (deadline - now_us()) / 1000;
		uint32_t st;
		int rc, err;

		if (left < 0)
			left = 0;
		rc = vpcie_host_irq_wait(p->h, vec, (int)left);
		if (rc == -ETIMEDOUT) {
			p->timed_out = true;
			/* Did another vector fire instead? */
			for (unsigned i = 0; i < p->num_irqs; i++)
				if (i != vec && vpcie_host_irq_take(p->h, i)) {
					reason(p, "timeout: vector %u fired instead of %u", i + 1,
					       vec + 1);
					return rc;
				}
			st = reg_read(p, EPF_REG_STATUS, &err);
			reason(p, "no interrupt within %d ms (STATUS 0x%x)", p->timeout_ms,
			       err ? 0 : st);
			p->last_status = err ? 0 : st;
			return rc;
		}
		if (rc < 0) {
			check_alive(p, rc);
			reason(p, "waiting for vector %u: %s", vec + 1, strerror(-rc));
			return rc;
		}
		st = reg_read(p, EPF_REG_STATUS, &err);
		if (err < 0) {
			reason(p, "reading STATUS: %s", strerror(-err));
			return err;
		}
		p->last_status = st;
		if (st & EPF_STATUS_IRQ_RAISED) {
			reg_write(p, EPF_REG_STATUS, st & ~EPF_STATUS_IRQ_RAISED);
			return 0;
		}
		/* Not ours (shared-line semantics): keep waiting. */
	}
}

/* Drop events left over from earlier cases (reinit_completion). */
static void irq_forget(struct pt *p, unsigned vec)
{
	if (vec < p->num_irqs)
		vpcie_host_irq_take(p->h, vec);
}

static enum verdict test_legacy(struct pt *p)
{
	int rc;

	if (p->irq_type != EPF_IRQ_TYPE_LEGACY && set_irq(p, EPF_IRQ_TYPE_LEGACY) < 0)
		return FAIL;
	irq_forget(p, 0);
	rc = reg_write(p, EPF_REG_IRQ_TYPE, EPF_IRQ_TYPE_LEGACY);
	if (!rc)
		rc = reg_write(p, EPF_REG_IRQ_NUMBER, 0);
	if (!rc)
		rc = reg_write(p, EPF_REG_COMMAND, EPF_CMD_RAISE_LEGACY_IRQ);
	if (rc < 0)
		return reason(p, "register write: %s", strerror(-rc)), FAIL;
	return wait_irq(p, 0) ? FAIL : PASS;
}

static enum verdict test_msi(struct pt *p, unsigned num, bool msix)
{
	int type = msix ? EPF_IRQ_TYPE_MSIX : EPF_IRQ_TYPE_MSI;
	int rc;

	if (p->irq_type != type && set_irq(p, type) < 0)
		return FAIL;
	if (num == 0 || num > p->num_irqs)
		/* pci_irq_vector() fails: the kselftest skips these */
		return reason(p, "%s%u is disabled (%u vectors)", irq_name(type), num, p->num_irqs),
		       SKIP;
	irq_forget(p, num - 1);
	rc = reg_write(p, EPF_REG_IRQ_TYPE, (uint32_t)type);
	if (!rc)
		rc = reg_write(p, EPF_REG_IRQ_NUMBER, num);
	if (!rc)
		rc = reg_write(p, EPF_REG_COMMAND,
			       msix ? EPF_CMD_RAISE_MSIX_IRQ : EPF_CMD_RAISE_MSI_IRQ);
	if (rc < 0)
		return reason(p, "register write: %s", strerror(-rc)), FAIL;
	return wait_irq(p, num - 1) ? FAIL : PASS;
}

/* ---- Transfers -------------------------------------------------------------- */

/* Host memory for two buffers of the largest transfer (allocated once). */
static int ensure_mem(struct pt *p)
{
	size_t need;

	if (p->mem)
		return 0;
	need = 2 * (p->max_xfer + 2 * EPF_HOST_ALIGNMENT);
	/* No fd can travel (TCP): the device DMAs by messages. */
	if (vpcie_host_peer_caps(p->h)->max_msg_fds == 0)
		p->shared = false;
	p->mem = vpcie_host_mem_alloc(p->h, need, HOST_MEM_IOVA,
				      p->shared ? VPCIE_HOST_MEM_SHARED : 0);
	if (!p->mem) {
		reason(p, "host memory (%zu bytes): %s", need, strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * Buffer k (0 or 1) for size bytes. With CAP_UNALIGNED_ACCESS the buffers
 * deliberately start at odd addresses; otherwise at the driver's alignment.
 */
static uint64_t buf_offset(const struct pt *p, unsigned k, size_t size)
{
	size_t span = (size + 2 * EPF_HOST_ALIGNMENT) & ~(size_t)(EPF_HOST_ALIGNMENT - 1);
	uint64_t off = (uint64_t)k * span;

	if (!p->alignment)
		off += k ? 0x23 : 0x11;
	return off;
}

static int program(struct pt *p, uint64_t src, uint64_t dst, size_t size, bool dma,
		   uint32_t cmd)
{
	struct { unsigned off; uint32_t v; } w[] = {
		{EPF_REG_LOWER_SRC_ADDR, (uint32_t)src},
		{EPF_REG_UPPER_SRC_ADDR, (uint32_t)(src >> 32)},
		{EPF_REG_LOWER_DST_ADDR, (uint32_t)dst},
		{EPF_REG_UPPER_DST_ADDR, (uint32_t)(dst >> 32)},
		{EPF_REG_SIZE, (uint32_t)size},
		{EPF_REG_FLAGS, dma ? EPF_FLAG_USE_DMA : 0},
		{EPF_REG_IRQ_TYPE, (uint32_t)p->irq_type},
		{EPF_REG_IRQ_NUMBER, 1},
		{EPF_REG_COMMAND, cmd},
	};

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		int rc = reg_write(p, w[i].off, w[i].v);

		if (rc < 0) {
			reason(p, "register 0x%x: %s", w[i].off, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static enum verdict transfer_prepare(struct pt *p, size_t size)
{
	if (!size)
		return reason(p, "data size is zero"), FAIL;
	if (size > UINT32_MAX)
		return reason(p, "size above 4 GiB"), FAIL;
	if (p->irq_type < EPF_IRQ_TYPE_LEGACY || p->irq_type > EPF_IRQ_TYPE_MSIX)
		return reason(p, "invalid IRQ type option"), FAIL;
	if (ensure_mem(p) < 0)
		return FAIL;
	irq_forget(p, 0);
	return PASS;
}

/* PCITEST_READ: the device writes random data to host memory (COMMAND_WRITE);
 * its CHECKSUM must match the data. */
static enum verdict test_read(struct pt *p, size_t size, bool dma)
{
	enum verdict v = transfer_prepare(p, size);
	uint8_t *base = vpcie_host_mem_ptr(p->mem);
	uint64_t off = buf_offset(p, 1, size);
	uint32_t crc, dev_crc;
	int err;

	if (v != PASS)
		return v;
	memset(base + off, 0, size);
	if (program(p, 0, HOST_MEM_IOVA + off, size, dma, EPF_CMD_WRITE) < 0 || wait_irq(p, 0))
		return FAIL;
	crc = epf_checksum(base + off, size);
	dev_crc = reg_read(p, EPF_REG_CHECKSUM, &err);
	if (err < 0)
		return reason(p, "reading CHECKSUM: %s", strerror(-err)), FAIL;
	if (crc != dev_crc)
		return reason(p, "checksum 0x%08x, device says 0x%08x (STATUS 0x%x)", crc, dev_crc,
			      p->last_status),
		       FAIL;
	return PASS;
}

/* PCITEST_WRITE: the device reads random host data (COMMAND_READ) and checks
 * the CHECKSUM we give it. */
static enum verdict test_write(struct pt *p, size_t size, bool dma)
{
	enum verdict v = transfer_prepare(p, size);
	uint8_t *base = vpcie_host_mem_ptr(p->mem);
	uint64_t off = buf_offset(p, 0, size);
	int rc;

	if (v != PASS)
		return v;
	fill_random(base + off, size);
	rc = reg_write(p, EPF_REG_CHECKSUM, epf_checksum(base + off, size));
	if (rc < 0)
		return reason(p, "register write: %s", strerror(-rc)), FAIL;
	if (program(p, HOST_MEM_IOVA + off, 0, size, dma, EPF_CMD_READ) < 0 || wait_irq(p, 0))
		return FAIL;
	if (!(p->last_status & EPF_STATUS_READ_SUCCESS))
		return reason(p, "STATUS 0x%x", p->last_status), FAIL;
	return PASS;
}

/* PCITEST_COPY: the device copies one host buffer to another. */
static enum verdict test_copy(struct pt *p, size_t size, bool dma)
{
	enum verdict v = transfer_prepare(p, size);
	uint8_t *base = vpcie_host_mem_ptr(p->mem);
	uint64_t soff = buf_offset(p, 0, size), doff = buf_offset(p, 1, size);
	uint32_t scrc, dcrc;

	if (v != PASS)
		return v;
	fill_random(base + soff, size);
	memset(base + doff, 0, size);
	scrc = epf_checksum(base + soff, size);
	if (program(p, HOST_MEM_IOVA + soff, HOST_MEM_IOVA + doff, size, dma, EPF_CMD_COPY) < 0 ||
	    wait_irq(p, 0))
		return FAIL;
	dcrc = epf_checksum(base + doff, size);
	if (scrc != dcrc)
		return reason(p, "destination checksum 0x%08x, source 0x%08x (STATUS 0x%x)", dcrc,
			      scrc, p->last_status),
		       FAIL;
	return PASS;
}

/* ---- Cases, output ------------------------------------------------------------ */

static int add_case(struct pt *p, enum case_kind kind, unsigned n, size_t size, bool dma)
{
	if (p->ncases == p->cap_cases) {
		size_t cap = p->cap_cases ? 2 * p->cap_cases : 64;
		struct tcase *c = realloc(p->cases, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		p->cases = c;
		p->cap_cases = cap;
	}
	p->cases[p->ncases++] = (struct tcase){kind, n, size, dma};
	if ((kind == C_READ || kind == C_WRITE || kind == C_COPY) && size > p->max_xfer)
		p->max_xfer = size;
	return 0;
}

/* The pcitest.sh / kselftest matrix. */
static int add_matrix(struct pt *p)
{
	static const enum case_kind xfer[] = {C_READ, C_WRITE, C_COPY};
	int rc = 0;

	for (unsigned b = 0; b < NBARS; b++)
		rc |= add_case(p, C_BAR, b, 0, false);
	rc |= add_case(p, C_BARS, 0, 0, false);
	rc |= add_case(p, C_SETIRQ, EPF_IRQ_TYPE_LEGACY, 0, false);
	rc |= add_case(p, C_LEGACY, 0, 0, false);
	rc |= add_case(p, C_SETIRQ, EPF_IRQ_TYPE_MSI, 0, false);
	for (unsigned i = 1; i <= 32; i++)
		rc |= add_case(p, C_MSI, i, 0, false);
	rc |= add_case(p, C_SETIRQ, EPF_IRQ_TYPE_MSIX, 0, false);
	for (unsigned i = 1; i <= 2048; i++)
		rc |= add_case(p, C_MSIX, i, 0, false);
	rc |= add_case(p, C_SETIRQ, EPF_IRQ_TYPE_MSI, 0, false);
	for (int dma = 0; dma < 2; dma++)
		for (size_t k = 0; k < 3; k++)
			for (size_t s = 0; s < sizeof(matrix_sizes) / sizeof(matrix_sizes[0]); s++)
				rc |= add_case(p, xfer[k], 0, matrix_sizes[s], dma);
	return rc ? -ENOMEM : 0;
}

static const char *kind_name(enum case_kind k)
{
	switch (k) {
	case C_BAR: return "BAR";
	case C_BARS: return "CONSECUTIVE_BARS";
	case C_SETIRQ: return "SET_IRQ_TYPE";
	case C_LEGACY: return "LEGACY_IRQ";
	case C_MSI: return "MSI";
	case C_MSIX: return "MSI-X";
	case C_READ: return "READ";
	case C_WRITE: return "WRITE";
	case C_COPY: return "COPY";
	}
	return "?";
}

static void case_label(const struct tcase *c, char *buf, size_t len)
{
	switch (c->kind) {
	case C_BAR: snprintf(buf, len, "BAR%u:\t\t", c->n); break;
	case C_BARS: snprintf(buf, len, "CONSECUTIVE BARS:\t"); break;
	case C_SETIRQ: snprintf(buf, len, "SET IRQ TYPE TO %s:\t", irq_name((int)c->n)); break;
	case C_LEGACY: snprintf(buf, len, "LEGACY IRQ:\t"); break;
	case C_MSI: snprintf(buf, len, "MSI%u:\t\t", c->n); break;
	case C_MSIX: snprintf(buf, len, "MSI-X%u:\t\t", c->n); break;
	default:
		snprintf(buf, len, "%s (%7zu bytes%s):\t", kind_name(c->kind), c->size,
			 c->dma ? ", DMA" : "");
	}
}

static void progress_clear(struct pt *p)
{
	if (p->progress_shown) {
		fputs("\r\033[K", stderr);
		p->progress_shown = false;
	}
}

static void progress_show(struct pt *p, size_t i)
{
	int64_t ms = now_us() / 1000;

	if (ms - p->progress_ms < 100 && i + 1 < p->ncases)
		return;
	p->progress_ms = ms;
	fprintf(stderr, "\r\033[K[%zu/%zu] %u passed, %u failed", i + 1, p->ncases, p->passed,
		p->failed);
	p->progress_shown = true;
}

static void record(struct pt *p, const struct tcase *c, enum verdict v, int64_t usec)
{
	static const char *const word[] = {"OKAY", "NOT OKAY", "SKIPPED"};
	char label[64];

	if (v == PASS)
		p->passed++;
	else if (v == FAIL)
		p->failed++;
	else
		p->skipped++;
	if (p->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "case", json_object_new_string(kind_name(c->kind)));
		switch (c->kind) {
		case C_BAR: json_object_object_add(o, "bar", json_object_new_int((int)c->n)); break;
		case C_SETIRQ:
			json_object_object_add(o, "irq_type", json_object_new_string(irq_name((int)c->n)));
			break;
		case C_MSI:
		case C_MSIX: json_object_object_add(o, "vector", json_object_new_int((int)c->n)); break;
		case C_READ:
		case C_WRITE:
		case C_COPY:
			json_object_object_add(o, "size", json_object_new_int64((int64_t)c->size));
			json_object_object_add(o, "dma", json_object_new_boolean(c->dma));
			json_object_object_add(o, "status", json_object_new_int64(p->last_status));
			break;
		default: break;
		}
		json_object_object_add(o, "result", json_object_new_string(word[v]));
		json_object_object_add(o, "usec", json_object_new_int64(usec));
		if (v != PASS)
			json_object_object_add(o, "reason", json_object_new_string(p->why));
		json_object_array_add(p->results, o);
		return;
	}
	case_label(c, label, sizeof(label));
	progress_clear(p);
	if (v == PASS && p->verbose)
		printf("%s%s (%" PRId64 " us)\n", label, word[v], usec);
	else if (v == PASS)
		printf("%s%s\n", label, word[v]);
	else
		printf("%s%s (%s)\n", label, word[v], p->why);
}

static enum verdict run_case(struct pt *p, const struct tcase *c)
{
	/* A device that stopped answering interrupts: do not wait out every
	 * remaining vector of the loop. */
	if ((c->kind == C_MSI || c->kind == C_MSIX || c->kind == C_LEGACY) &&
	    c->kind == p->last_kind && p->timeouts_in_row >= MAX_TIMEOUTS_IN_ROW) {
		reason(p, "not run: %d timeouts in a row", p->timeouts_in_row);
		return FAIL;
	}
	if (p->dead) {
		reason(p, "not run: the device stopped answering");
		return FAIL;
	}
	p->timed_out = false;
	p->why[0] = '\0';
	p->last_status = 0;
	switch (c->kind) {
	case C_BAR: return test_bar(p, c->n);
	case C_BARS: return test_bars(p);
	case C_SETIRQ: return set_irq(p, (int)c->n) < 0 ? FAIL : PASS;
	case C_LEGACY: return test_legacy(p);
	case C_MSI: return test_msi(p, c->n, false);
	case C_MSIX: return test_msi(p, c->n, true);
	case C_READ: return test_read(p, c->size, c->dma);
	case C_WRITE: return test_write(p, c->size, c->dma);
	case C_COPY: return test_copy(p, c->size, c->dma);
	}
	return FAIL;
}

/* ---- Set-up: what pci_endpoint_test_probe() does ------------------------------ */

static int probe(struct pt *p)
{
	struct vpcie_host_opts opts;
	uint16_t vendor, device;
	int rc, err;

	vpcie_host_opts_defaults(&opts);
	opts.timeout_ms = p->timeout_ms;
	opts.psk_file = p->psk_file;
	if (p->psk_file && tool_check_psk("pcitest", p->psk_file))
		return -EINVAL;
	if (p->verbose > 1)
		opts.log_level = VPCIE_LOG_DEBUG;
	p->h = vpcie_host_open(p->sock, &opts, &rc);
	if (!p->h) {
		fprintf(stderr, "vpcie pcitest: cannot open %s: %s\n", p->sock, strerror(-rc));
		return rc;
	}
	vendor = vpcie_host_cfg_read16(p->h, PCI_VENDOR_ID, &err);
	device = vpcie_host_cfg_read16(p->h, PCI_DEVICE_ID, &rc);
	if (err < 0 || rc < 0) {
		fprintf(stderr, "vpcie pcitest: reading IDs: %s\n", strerror(-(err < 0 ? err : rc)));
		return err < 0 ? err : rc;
	}
	rc = vpcie_host_assign_bars(p->h, MEM_BASE, IO_BASE);
	if (rc < 0) {
		fprintf(stderr, "vpcie pcitest: assigning BARs: %s\n", strerror(-rc));
		return rc;
	}
	for (unsigned b = 0; b < NBARS; b++) {
		const struct vpcie_host_bar *hb = vpcie_host_bar(p->h, b);

		p->bar_present[b] = hb && hb->present && !hb->is_io;
		p->bar_size[b] = p->bar_present[b] ? hb->size : 0;
		if (p->bar_present[b] && p->use_mmap)
			vpcie_host_region_map(p->h, b); /* NULL for callback BARs: fine */
	}
	if (!p->bar_present[0]) {
		fprintf(stderr, "vpcie pcitest: cannot perform PCI test without BAR0\n");
		return -ENODEV;
	}
	p->caps = reg_read(p, EPF_REG_CAPS, &rc);
	if (rc < 0) {
		fprintf(stderr, "vpcie pcitest: reading CAPS: %s\n", strerror(-rc));
		return rc;
	}
	p->alignment = (p->caps & EPF_CAP_UNALIGNED_ACCESS) ? 0 : EPF_HOST_ALIGNMENT;
	if (p->verbose && !p->json)
		fprintf(stderr, "device %04x:%04x, CAPS 0x%x, BAR sizes %" PRIu64 " %" PRIu64
				" %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 ", %s DMA\n",
			vendor, device, p->caps, p->bar_size[0], p->bar_size[1], p->bar_size[2],
			p->bar_size[3], p->bar_size[4], p->bar_size[5],
			p->shared ? "shared-memory" : "message");
	/* The 6.1 driver allocates MSI vectors at probe; a failure here is not
	 * fatal (cases that need interrupts will fail). */
	if (set_irq(p, EPF_IRQ_TYPE_MSI) < 0 && p->verbose)
		fprintf(stderr, "vpcie pcitest: %s\n", p->why);
	if (p->json) {
		json_object *d = json_object_new_object();
		char id[8];

		snprintf(id, sizeof(id), "0x%04x", vendor);
		json_object_object_add(d, "vendor", json_object_new_string(id));
		snprintf(id, sizeof(id), "0x%04x", device);
		json_object_object_add(d, "device", json_object_new_string(id));
		json_object_object_add(d, "caps", json_object_new_int64(p->caps));
		json_object_object_add(p->results, "device", d);
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vpcie pcitest --socket ADDR [options] [cases]\n"
		"Run Linux's PCI endpoint tests (pcitest) against a pci-epf-test device such\n"
		"as vpcie-epf-test. Without cases, runs the whole pcitest.sh matrix.\n\n"
		"Cases, run in the order given:\n"
		"  -b BAR        BAR test (pattern written and read back)\n"
		"  -B, --bars    consecutive BARs test (write all, then read all)\n"
		"  -i TYPE       set IRQ type: 0 legacy, 1 MSI, 2 MSI-X\n"
		"  -l            legacy IRQ test\n"
		"  -m N          MSI test for vector N (1..32)\n"
		"  -x N          MSI-X test for vector N (1..2048)\n"
		"  -r            READ test (the device writes host memory)\n"
		"  -w            WRITE test (the device reads host memory)\n"
		"  -c            COPY test\n"
		"      --all     the whole matrix\n"
		"Modifiers:\n"
		"  -s SIZE       size for -r/-w/-c (default %u; k/M suffixes)\n"
		"  -d            set the USE_DMA flag for -r/-w/-c\n"
		"Options:\n"
		"      --socket ADDR   device: a socket PATH, unix:PATH or tcp:HOST:PORT\n"
		"      --no-shared     register host memory without an fd: the device must\n"
		"                      use DMA_READ/DMA_WRITE messages\n"
		"      --no-mmap       access BARs through messages only\n"
		"      --timeout MS    per interrupt wait and request (default 5000)\n"
		"      --interval MS   pause between cases (a long run to disturb)\n"
		"      --psk-file FILE TLS 1.3 with this pre-shared key (psktool's format)\n"
		"      --json          print results as JSON (summary line on stderr)\n"
		"  -v, --verbose       more detail (twice: library debug log)\n"
		"  -h, --help          this help\n"
		"Prints one line per case (OKAY / NOT OKAY / SKIPPED) and a line\n"
		"\"N passed, N failed\"; exits 1 if any case failed.\n",
		DEFAULT_SIZE);
}

int cmd_pcitest(int argc, char **argv)
{
	enum { O_ALL = 256, O_NOSHARED, O_NOMMAP, O_TIMEOUT, O_JSON, O_PSK, O_INTERVAL };
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 'S'},
		{"socket-path", required_argument, NULL, 'S'},
		{"bars", no_argument, NULL, 'B'},
		{"all", no_argument, NULL, O_ALL},
		{"no-shared", no_argument, NULL, O_NOSHARED},
		{"no-mmap", no_argument, NULL, O_NOMMAP},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"interval", required_argument, NULL, O_INTERVAL},
		{"psk-file", required_argument, NULL, O_PSK},
		{"json", no_argument, NULL, O_JSON},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct pt pt = {.timeout_ms = 5000, .shared = true, .use_mmap = true,
			.irq_type = IRQ_UNDEFINED, .last_kind = C_BAR};
	struct pt *p = &pt;
	size_t size = DEFAULT_SIZE;
	bool dma = false, all = false;
	/* Cases are collected with a placeholder size, fixed once -s is known. */
	int c, rc = 0, status = 1;
	unsigned interval_ms = 0;
	uint64_t v;
	int64_t t0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "b:Bi:lm:x:rwcs:dvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'S': p->sock = optarg; break;
		case O_PSK: p->psk_file = optarg; break;
		case 'b':
		case 'i':
		case 'm':
		case 'x':
			if (vpcie_cli_parse_size(optarg, &v) || v > 4096) {
				fprintf(stderr, "vpcie pcitest: bad number '%s' for -%c\n", optarg, c);
				return 2;
			}
			rc = add_case(p, c == 'b' ? C_BAR : c == 'i' ? C_SETIRQ : c == 'm' ? C_MSI : C_MSIX,
				      (unsigned)v, 0, false);
			break;
		case 'B': rc = add_case(p, C_BARS, 0, 0, false); break;
		case 'l': rc = add_case(p, C_LEGACY, 0, 0, false); break;
		case 'r': rc = add_case(p, C_READ, 0, 0, false); break;
		case 'w': rc = add_case(p, C_WRITE, 0, 0, false); break;
		case 'c': rc = add_case(p, C_COPY, 0, 0, false); break;
		case 's':
			if (vpcie_cli_parse_size(optarg, &v) || v == 0 || v > UINT32_MAX) {
				fprintf(stderr, "vpcie pcitest: bad size '%s'\n", optarg);
				return 2;
			}
			size = (size_t)v;
			break;
		case 'd': dma = true; break;
		case O_ALL: all = true; break;
		case O_NOSHARED: p->shared = false; break;
		case O_NOMMAP: p->use_mmap = false; break;
		case O_TIMEOUT:
			if (vpcie_cli_parse_size(optarg, &v) || v == 0 || v > 3600000) {
				fprintf(stderr, "vpcie pcitest: bad timeout '%s'\n", optarg);
				return 2;
			}
			p->timeout_ms = (int)v;
			break;
		case O_INTERVAL:
			if (vpcie_cli_parse_size(optarg, &v) || v > 60000) {
				fprintf(stderr, "vpcie pcitest: bad interval '%s'\n", optarg);
				return 2;
			}
			interval_ms = (unsigned)v;
			break;
		case O_JSON: p->json = true; break;
		case 'v': p->verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (rc < 0) {
			fprintf(stderr, "vpcie pcitest: out of memory\n");
			return 1;
		}
	}
	if (!p->sock || optind != argc) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < p->ncases; i++) {
		struct tcase *tc = &p->cases[i];

		if (tc->kind == C_READ || tc->kind == C_WRITE || tc->kind == C_COPY) {
			tc->size = size;
			tc->dma = dma;
			if (size > p->max_xfer)
				p->max_xfer = size;
		}
	}
	if ((all || !p->ncases) && add_matrix(p) < 0) {
		fprintf(stderr, "vpcie pcitest: out of memory\n");
		return 1;
	}
	p->scratch_w = malloc(BAR_CHUNK);
	p->scratch_r = malloc(BAR_CHUNK);
	if (p->json) {
		p->results = json_object_new_object();
	}
	if (!p->scratch_w || !p->scratch_r || (p->json && !p->results)) {
		fprintf(stderr, "vpcie pcitest: out of memory\n");
		goto out;
	}
	p->progress = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
	raise_fd_limit();

	t0 = now_us();
	if (probe(p) < 0)
		goto out;
	{
		json_object *arr = p->json ? json_object_new_array() : NULL;
		json_object *top = p->results;

		if (p->json)
			p->results = arr;
		for (size_t i = 0; i < p->ncases; i++) {
			const struct tcase *tc = &p->cases[i];
			int64_t t = now_us();
			enum verdict vd = run_case(p, tc);

			if (tc->kind != p->last_kind)
				p->timeouts_in_row = 0;
			p->last_kind = tc->kind;
			if (vd == FAIL && (p->timed_out || p->timeouts_in_row >= MAX_TIMEOUTS_IN_ROW))
				p->timeouts_in_row++;
			else
				p->timeouts_in_row = 0;
			record(p, tc, vd, now_us() - t);
			if (p->progress)
				progress_show(p, i);
			if (interval_ms)
				fflush(stdout); /* one line per case, as it ends */
			if (interval_ms && i + 1 < p->ncases)
				nanosleep(&(struct timespec){.tv_sec = interval_ms / 1000,
							    .tv_nsec = (interval_ms % 1000) * 1000000L},
					  NULL);
		}
		progress_clear(p);
		if (p->json) {
			json_object_object_add(top, "socket", json_object_new_string(p->sock));
			json_object_object_add(top, "shared", json_object_new_boolean(p->shared));
			json_object_object_add(top, "mmap", json_object_new_boolean(p->use_mmap));
			json_object_object_add(top, "results", arr);
			json_object_object_add(top, "passed", json_object_new_int((int)p->passed));
			json_object_object_add(top, "failed", json_object_new_int((int)p->failed));
			json_object_object_add(top, "skipped", json_object_new_int((int)p->skipped));
			json_object_object_add(top, "elapsed_ms",
					       json_object_new_int64((now_us() - t0) / 1000));
			json_object_object_add(top, "dma_served",
					       json_object_new_int64((int64_t)vpcie_host_dma_served(p->h)));
			json_object_object_add(top, "dma_refused",
					       json_object_new_int64((int64_t)vpcie_host_dma_refused(p->h)));
			p->results = top;
			puts(json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		}
	}
	{
		FILE *f = p->json ? stderr : stdout;

		if (p->skipped)
			fprintf(f, "%u skipped\n", p->skipped);
		fprintf(f, "%u passed, %u failed\n", p->passed, p->failed);
		if (p->verbose)
			fprintf(stderr, "%.3f s, %" PRIu64 " DMA messages served, %" PRIu64 " refused\n",
				(double)(now_us() - t0) / 1e6, vpcie_host_dma_served(p->h),
				vpcie_host_dma_refused(p->h));
	}
	status = p->failed ? 1 : 0;
out:
	if (p->h) {
		if (p->mem)
			vpcie_host_mem_free(p->mem);
		vpcie_host_close(p->h);
	}
	if (p->results)
		json_object_put(p->results);
	free(p->scratch_w);
	free(p->scratch_r);
	free(p->cases);
	return status;
}
