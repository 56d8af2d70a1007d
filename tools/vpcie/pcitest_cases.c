/* SPDX-License-Identifier: MIT */
/*
 * `vpcie pcitest`, the driver's side (pcitest_priv.h): what Linux's
 * pci_endpoint_test does through the host runtime - probe (size and assign
 * the BARs, read CAPS, enable interrupts as PCITEST_SET_IRQTYPE does) and
 * each test case: BAR patterns, interrupts with a timeout, and READ/WRITE/
 * COPY through registered host memory with STATUS and checksums checked.
 *
 * READ/WRITE are named from the host, as pcitest does: READ asks the device
 * to write host memory (COMMAND_WRITE), WRITE asks it to read (COMMAND_READ).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "tool.h"
#include "epf_crc.h"
#include "epf_regs.h"
#include "pcitest_priv.h"

static const uint32_t bar_patterns[NBARS] = EPF_BAR_PATTERNS;

/* ---- Small helpers -------------------------------------------------------- */

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

const char *pcitest_irq_name(int type)
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
		reason(p, "the device has no %s interrupt", pcitest_irq_name(type));
		return -ENODEV;
	}
	rc = check_alive(p, vpcie_host_irq_enable(p->h, (enum vpcie_host_irq_type)type, n));
	if (rc < 0) {
		reason(p, "enabling %u %s vectors: %s", n, pcitest_irq_name(type), strerror(-rc));
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
	int64_t deadline = pcitest_now_us() + (int64_t)p->timeout_ms * 1000;

	p->timed_out = false;
	for (;;) {
		int64_t left = (deadline - pcitest_now_us()) / 1000;
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
		return reason(p, "%s%u is disabled (%u vectors)", pcitest_irq_name(type), num, p->num_irqs),
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

enum verdict pcitest_run_case(struct pt *p, const struct tcase *c)
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

int pcitest_probe(struct pt *p)
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
