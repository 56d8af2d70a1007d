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
 * This file is the command: the list of cases, the options and the report
 * (text as pcitest prints it, or JSON); the driver's side, probe and the
 * cases themselves, is pcitest_cases.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <vpcie/cli.h>

#include "cmds.h"
#include "epf_regs.h"
#include "pcitest_priv.h"

static const size_t matrix_sizes[] = {1, 1024, 1025, 1024000, 1024001};

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
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
	case C_SETIRQ: snprintf(buf, len, "SET IRQ TYPE TO %s:\t", pcitest_irq_name((int)c->n)); break;
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
	int64_t ms = pcitest_now_us() / 1000;

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
			json_object_object_add(o, "irq_type", json_object_new_string(pcitest_irq_name((int)c->n)));
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

	t0 = pcitest_now_us();
	if (pcitest_probe(p) < 0)
		goto out;
	{
		json_object *arr = p->json ? json_object_new_array() : NULL;
		json_object *top = p->results;

		if (p->json)
			p->results = arr;
		for (size_t i = 0; i < p->ncases; i++) {
			const struct tcase *tc = &p->cases[i];
			int64_t t = pcitest_now_us();
			enum verdict vd = pcitest_run_case(p, tc);

			if (tc->kind != p->last_kind)
				p->timeouts_in_row = 0;
			p->last_kind = tc->kind;
			if (vd == FAIL && (p->timed_out || p->timeouts_in_row >= MAX_TIMEOUTS_IN_ROW))
				p->timeouts_in_row++;
			else
				p->timeouts_in_row = 0;
			record(p, tc, vd, pcitest_now_us() - t);
			if (p->progress)
				progress_show(p, i);
			if (interval_ms)
				fflush(stdout); /* one line per case, as it ends */
			/* (no pause once the device is gone: the rest fail at once) */
			if (interval_ms && i + 1 < p->ncases && !p->dead)
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
					       json_object_new_int64((pcitest_now_us() - t0) / 1000));
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
				(double)(pcitest_now_us() - t0) / 1e6, vpcie_host_dma_served(p->h),
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
