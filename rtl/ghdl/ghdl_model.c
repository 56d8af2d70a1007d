/* SPDX-License-Identifier: MIT */
/*
 * The GHDL back-end of vpcie/rtl.h (vpcie_ghdl.h): GHDL's runtime stepped
 * from C, one bridge phase at a time, and the packing of the ports into the
 * vectors of package vpcie_ghdl (rtl/ghdl/vpcie_ghdl.vhd: the offsets here
 * mirror its constants).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vpcie_ghdl.h"

/* GHDL's runtime (GRT), as ghdl_main() uses it, broken into steps. */
void grt_init(void);
int grt_main_options(const char *progname, int argc, const char *const argv[]);
int grt_main_elab(void);
int __ghdl_simulation_init(void);
int __ghdl_simulation_step(void);  /* 0 delta, 1 time step, >= 2 ended */
void grt__main__run_finish(int status); /* Grt.Main.Run_Finish: finalizers, waves */

/* LeakSanitizer (the CI's ASan build): GRT allocates its process table at
 * elaboration and keeps it until exit, by design; that is not ours to free. */
#if defined(__SANITIZE_ADDRESS__)
#define VPCIE_GHDL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VPCIE_GHDL_ASAN 1
#endif
#endif
#ifdef VPCIE_GHDL_ASAN
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:grt__\n";
}
#endif

/* std_ulogic as GHDL passes it: one byte, 'U' = 0 ... '0' = 2, '1' = 3, 'H' = 7 */
#define SL_0 2u
#define SL_1 3u
#define SL_H 7u

/* vpcie_ghdl.vhd's layout */
enum {
	I_RST = 0, I_REQ_EN = 1, I_REQ_WR = 2, I_REQ_BAR = 3, I_REQ_BE = 6, I_REQ_TAG = 14,
	I_REQ_ADDR = 22, I_REQ_DATA = 86, I_REP_RDY = 150, I_MWR_RDY = 151, I_MRD_RDY = 152,
	I_CPL_EN = 153, I_CPL_LAST = 154, I_CPL_ERR = 155, I_CPL_TAG = 156, I_CPL_SIZE = 164,
	I_MSI_RDY = 180, I_CPL_DATA = 181, IN_W = 693,
	O_REQ_RDY = 0, O_REP_EN = 1, O_REP_TAG = 2, O_REP_DATA = 10, O_MWR_EN = 74,
	O_MWR_SIZE = 75, O_MWR_ADDR = 91, O_MRD_EN = 155, O_MRD_TAG = 156, O_MRD_LEN = 164,
	O_MRD_ADDR = 196, O_CPL_RDY = 260, O_MSI_EN = 261, O_MSI_VEC = 262, O_INTX = 278,
	O_BUSY = 279, O_MWR_DATA = 280, OUT_W = 792,
	DATA_BITS = 512,
};

static struct {
	uint8_t in[IN_W];       /* the inputs as the bridge set them */
	uint8_t applied[IN_W];  /* the inputs the design has now */
	uint8_t out[OUT_W];     /* the design's outputs at the last sync */
	int32_t level;          /* clock command for the next phase: 0, 1, 2 */
	bool synced;            /* the driver process called vpcie_ghdl_sync */
	bool ended;             /* the simulation stopped (std.env.stop, error) */
	bool started;
	unsigned payload_w;
	uint64_t steps, phases;
} g;

void vpcie_ghdl_sync(const uint8_t *o, int32_t payload_w)
{
	memcpy(g.out, o, OUT_W);
	g.payload_w = payload_w > 0 ? (unsigned)payload_w : 0;
	g.synced = true;
}

void vpcie_ghdl_next(uint8_t *i, int32_t *clk)
{
	memcpy(i, g.in, IN_W);
	*clk = g.level;
}

/* Step GHDL until the driver process hands over the outputs again. */
static void run_phase(int32_t level)
{
	if (g.ended)
		return;
	g.level = level;
	g.synced = false;
	memcpy(g.applied, g.in, IN_W);
	while (!g.synced) {
		int rc = __ghdl_simulation_step();

		g.steps++;
		if (rc >= 2) {
			fprintf(stderr, "vpcie-ghdl: the simulation ended (GHDL status %d); "
				"the design no longer runs\n", rc);
			g.ended = true;
			return;
		}
	}
	g.phases++;
}

static void put_bits(unsigned off, unsigned w, uint64_t v)
{
	for (unsigned j = 0; j < w; j++)
		g.in[off + j] = (v >> (w - 1 - j)) & 1u ? SL_1 : SL_0;
}

static uint64_t get_bits(unsigned off, unsigned w)
{
	uint64_t v = 0;

	for (unsigned j = 0; j < w; j++) {
		uint8_t b = g.out[off + j];

		v = v << 1 | (b == SL_1 || b == SL_H);
	}
	return v;
}

/* A data field: bit k of the little-endian bytes is element off + 511 - k. */
static void put_data(unsigned off, const uint8_t *bytes, unsigned n)
{
	uint8_t *e = g.in + off + DATA_BITS - 1;

	for (unsigned k = 0; k < n * 8; k++)
		*(e - k) = (bytes[k / 8] >> (k % 8)) & 1u ? SL_1 : SL_0;
}

static void get_data(unsigned off, uint8_t *bytes, unsigned n)
{
	const uint8_t *e = g.out + off + DATA_BITS - 1;

	memset(bytes, 0, n);
	for (unsigned k = 0; k < n * 8; k++) {
		uint8_t b = *(e - k);

		if (b == SL_1 || b == SL_H)
			bytes[k / 8] |= (uint8_t)(1u << (k % 8));
	}
}

static void set_inputs(void *m, const struct vpcie_rtl_in *in)
{
	(void)m;
	put_bits(I_RST, 1, in->rst);
	put_bits(I_REQ_EN, 1, in->req_en);
	put_bits(I_REQ_WR, 1, in->req_wr);
	put_bits(I_REQ_BAR, 3, in->req_bar);
	put_bits(I_REQ_BE, 8, in->req_be);
	put_bits(I_REQ_TAG, 8, in->req_tag);
	put_bits(I_REQ_ADDR, 64, in->req_addr);
	put_bits(I_REQ_DATA, 64, in->req_data);
	put_bits(I_REP_RDY, 1, in->rep_rdy);
	put_bits(I_MWR_RDY, 1, in->mwr_rdy);
	put_bits(I_MRD_RDY, 1, in->mrd_rdy);
	put_bits(I_CPL_EN, 1, in->cpl_en);
	put_bits(I_CPL_LAST, 1, in->cpl_last);
	put_bits(I_CPL_ERR, 1, in->cpl_err);
	put_bits(I_CPL_TAG, 8, in->cpl_tag);
	put_bits(I_CPL_SIZE, 16, in->cpl_size);
	put_bits(I_MSI_RDY, 1, in->msi_rdy);
	/* The data lanes only matter with cpl_en; otherwise they keep their
	 * last value, which spares a phase when nothing else changed. */
	if (in->cpl_en)
		put_data(I_CPL_DATA, in->cpl_data, g.payload_w / 8);
}

static bool inputs_changed(void)
{
	return memcmp(g.in, g.applied, IN_W) != 0;
}

static void get_outputs(void *m, struct vpcie_rtl_out *out)
{
	(void)m;
	if (inputs_changed())
		run_phase(0);  /* drive the new inputs with clk low; let them settle */
	out->req_rdy = get_bits(O_REQ_RDY, 1);
	out->rep_en = get_bits(O_REP_EN, 1);
	out->rep_tag = (uint8_t)get_bits(O_REP_TAG, 8);
	out->rep_data = get_bits(O_REP_DATA, 64);
	out->mwr_en = get_bits(O_MWR_EN, 1);
	out->mwr_size = (uint16_t)get_bits(O_MWR_SIZE, 16);
	out->mwr_addr = get_bits(O_MWR_ADDR, 64);
	if (out->mwr_en)
		get_data(O_MWR_DATA, out->mwr_data, g.payload_w / 8);
	out->mrd_en = get_bits(O_MRD_EN, 1);
	out->mrd_tag = (uint8_t)get_bits(O_MRD_TAG, 8);
	out->mrd_len = (uint32_t)get_bits(O_MRD_LEN, 32);
	out->mrd_addr = get_bits(O_MRD_ADDR, 64);
	out->cpl_rdy = get_bits(O_CPL_RDY, 1);
	out->msi_en = get_bits(O_MSI_EN, 1);
	out->msi_vec = (uint16_t)get_bits(O_MSI_VEC, 16);
	out->intx = get_bits(O_INTX, 1);
	out->busy = get_bits(O_BUSY, 1);
}

static void clock(void *m)
{
	(void)m;
	if (inputs_changed())
		run_phase(0);
	/* Rising edge, half a period, falling edge, half a period: the
	 * outputs synced at its end are those of the next cycle if the
	 * inputs stay the same. */
	run_phase(2);
}

const struct vpcie_rtl_model vpcie_ghdl_model = {
	.set_inputs = set_inputs,
	.get_outputs = get_outputs,
	.clock = clock,
};

int vpcie_ghdl_start(const char *progname, const char *wave)
{
	static char opt[4096];
	/* numeric_std's metavalue warnings at time 0 are about the 'U's
	 * before the first reset cycle, not about the design. */
	const char *argv[4] = {progname, "--ieee-asserts=disable-at-0", NULL, NULL};
	int argc = 2;

	if (g.started) {
		fprintf(stderr, "%s: one GHDL simulation per process\n", progname);
		return -1;
	}
	if (wave) {
		size_t n = strlen(wave);
		bool vcd = n > 4 && strcmp(wave + n - 4, ".vcd") == 0;

		if ((size_t)snprintf(opt, sizeof(opt), "%s=%s", vcd ? "--vcd" : "--wave", wave) >=
		    sizeof(opt)) {
			fprintf(stderr, "%s: --wave: file name too long\n", progname);
			return -1;
		}
		argv[argc++] = opt;
	}
	memset(g.in, SL_0, sizeof(g.in));
	memset(g.applied, SL_0, sizeof(g.applied));
	g.started = true;
	grt_init();
	grt_main_options(progname, argc, argv);
	if (!grt_main_elab()) {
		fprintf(stderr, "%s: GHDL elaboration failed\n", progname);
		return -1;
	}
	g.synced = false;
	__ghdl_simulation_init();  /* the driver process runs to its first sync */
	while (!g.synced && !g.ended) {
		if (__ghdl_simulation_step() >= 2)
			g.ended = true;
	}
	if (g.ended || g.payload_w % 8 || !g.payload_w || g.payload_w > 8 * VPCIE_RTL_PAYLOAD_MAX) {
		fprintf(stderr, "%s: the design did not start (PAYLOAD_W %u)\n", progname,
			g.payload_w);
		return -1;
	}
	return 0;
}

void vpcie_ghdl_finish(void)
{
	if (g.started)
		grt__main__run_finish(0);
	g.started = false;
}

unsigned vpcie_ghdl_payload_bytes(void)
{
	return g.payload_w / 8;
}

void vpcie_ghdl_counts(uint64_t *steps, uint64_t *phases)
{
	*steps = g.steps;
	*phases = g.phases;
}
