/* SPDX-License-Identifier: MIT */
/*
 * `vpcie pcitest`'s two halves: pcitest_cases.c plays the pci_endpoint_test
 * driver (probe and each test case against the device); pcitest.c is the
 * command (the list of cases, options, reporting).
 */
#ifndef PCITEST_PRIV_H
#define PCITEST_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <vpcie/host.h>

#include "../../lib/util/util.h" /* vpcie_now_ns() */

#define NBARS 6u
#define IRQ_UNDEFINED (-1)
#define DEFAULT_SIZE 102400u        /* pcitest's default transfer size */
#define HOST_MEM_IOVA 0x100000000ull /* above 4 GiB: UPPER_*_ADDR matter */
#define MEM_BASE 0x80000000ull      /* where BARs are assigned */
#define IO_BASE 0x1000u
#define BAR_CHUNK (1u << 20)
#define MAX_TIMEOUTS_IN_ROW 3

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

/* CLOCK_MONOTONIC in microseconds. */
static inline int64_t pcitest_now_us(void)
{
	return (int64_t)(vpcie_now_ns() / 1000u);
}
/* "Legacy", "MSI", "MSI-X" for an EPF_IRQ_TYPE_*. */
const char *pcitest_irq_name(int type);
/* What pci_endpoint_test_probe() does: open p->sock, assign and map the
 * BARs, read CAPS, enable MSI. 0, or -errno after a message on stderr. */
int pcitest_probe(struct pt *p);
/* Run one case; p->why says why on FAIL/SKIP, p->last_status is STATUS. */
enum verdict pcitest_run_case(struct pt *p, const struct tcase *c);

#endif
