// SPDX-License-Identifier: MIT
// The Verilator back-end of vpcie/rtl.h: C owns the clock loop, this shim
// copies the bridge's structures to the model's ports and clocks it.
// Built per design with -DVL_TOP=V<top> -DVL_HEADER='"V<top>.h"'.
#include <cerrno>
#include <cstring>
#include <new>

#include VL_HEADER
#include "verilated.h"
#include "verilated_vcd_c.h"

#include "vpcie_vl.h"

namespace {

// Payload ports: up to 64 bits are integers, wider ones VlWide words
// (32-bit, least significant first); both are little-endian bytes.
template <typename T> void put(T &port, const uint8_t *src, unsigned n)
{
	uint64_t v = 0;
	std::memcpy(&v, src, n < sizeof(v) ? n : sizeof(v));
	port = static_cast<T>(v);
}
template <std::size_t W> void put(VlWide<W> &port, const uint8_t *src, unsigned n)
{
	std::memset(port.data(), 0, W * 4);
	std::memcpy(port.data(), src, n < W * 4 ? n : W * 4);
}
template <typename T> void get(uint8_t *dst, const T &port, unsigned n)
{
	uint64_t v = port;
	std::memcpy(dst, &v, n < sizeof(v) ? n : sizeof(v));
}
template <std::size_t W> void get(uint8_t *dst, const VlWide<W> &port, unsigned n)
{
	std::memcpy(dst, port.data(), n < W * 4 ? n : W * 4);
}

// Ports added after the first slice (cpl_wfail, cpl_fault, cpl_wfault, irq_mode,
// irq_vectors) are
// optional: a design with an older port list still builds.
#define VL_OPTIONAL_IN(name)                                                        \
	template <typename T>                                                       \
	auto set_##name(T *t, const struct vpcie_rtl_in *in, int)->decltype((void)(t->name = 0)) \
	{                                                                           \
		t->name = in->name;                                                 \
	}                                                                           \
	template <typename T> void set_##name(T *, const struct vpcie_rtl_in *, long) {}
VL_OPTIONAL_IN(cpl_wfail)
VL_OPTIONAL_IN(cpl_fault)
VL_OPTIONAL_IN(cpl_wfault)
VL_OPTIONAL_IN(irq_mode)
VL_OPTIONAL_IN(irq_vectors)

// Waveform time: one clock period is 10 ns (verilate.sh's --timescale
// 1ns/1ns; rising edge at +5); time advances only while the clock runs.
constexpr uint64_t PERIOD = 10;

struct vl {
	VerilatedContext ctx;
	VL_TOP *top;
	VerilatedVcdC *vcd; // --wave, or nullptr
	uint64_t time;
};

void set_inputs(void *m, const struct vpcie_rtl_in *in)
{
	vl *v = static_cast<vl *>(m);
	VL_TOP *t = v->top;

	t->clk = 0; // the falling edge: evaluated with the new inputs, below
	t->rst = in->rst;
	t->req_en = in->req_en;
	t->req_wr = in->req_wr;
	t->req_bar = in->req_bar;
	t->req_be = in->req_be;
	t->req_tag = in->req_tag;
	t->req_addr = in->req_addr;
	t->req_data = in->req_data;
	t->rep_rdy = in->rep_rdy;
	t->mwr_rdy = in->mwr_rdy;
	t->mrd_rdy = in->mrd_rdy;
	t->cpl_en = in->cpl_en;
	t->cpl_last = in->cpl_last;
	t->cpl_err = in->cpl_err;
	t->cpl_tag = in->cpl_tag;
	t->cpl_size = in->cpl_size;
	put(t->cpl_data, in->cpl_data, VPCIE_RTL_PAYLOAD_MAX);
	t->msi_rdy = in->msi_rdy;
	set_cpl_wfail(t, in, 0);
	set_cpl_fault(t, in, 0);
	set_cpl_wfault(t, in, 0);
	set_irq_mode(t, in, 0);
	set_irq_vectors(t, in, 0);
	t->eval(); // falling edge, and combinational outputs settle before the rising one
	if (v->vcd)
		v->vcd->dump(v->time);
}

void get_outputs(void *m, struct vpcie_rtl_out *out)
{
	VL_TOP *t = static_cast<vl *>(m)->top;

	out->req_rdy = t->req_rdy;
	out->rep_en = t->rep_en;
	out->rep_tag = t->rep_tag;
	out->rep_data = t->rep_data;
	out->mwr_en = t->mwr_en;
	out->mwr_size = t->mwr_size;
	out->mwr_addr = t->mwr_addr;
	if (out->mwr_en)
		get(out->mwr_data, t->mwr_data, VPCIE_RTL_PAYLOAD_MAX);
	out->mrd_en = t->mrd_en;
	out->mrd_tag = t->mrd_tag;
	out->mrd_len = t->mrd_len;
	out->mrd_addr = t->mrd_addr;
	out->cpl_rdy = t->cpl_rdy;
	out->msi_en = t->msi_en;
	out->msi_vec = t->msi_vec;
	out->intx = t->intx;
	out->busy = t->busy;
}

void clock(void *m)
{
	vl *v = static_cast<vl *>(m);
	VL_TOP *t = v->top;

	t->clk = 1;
	t->eval();
	if (v->vcd)
		v->vcd->dump(v->time + PERIOD / 2);
	v->time += PERIOD; // clk falls in the next set_inputs()
}

} // namespace

extern "C" {

const struct vpcie_rtl_model vpcie_vl_model = {
	set_inputs,
	get_outputs,
	clock,
};

void *vpcie_vl_new(void)
{
	vl *v = new (std::nothrow) vl;

	if (!v)
		return nullptr;
	// The model is single-threaded (the default --threads 1); without
	// this the context would start a worker pool of one thread per CPU
	// that nobody uses - and that would take SIGTERM from the signalfd.
	v->ctx.threads(1);
	v->ctx.traceEverOn(true); // tracing code is in; it costs only when a file is open
	v->vcd = nullptr;
	v->time = 0;
	v->top = new (std::nothrow) VL_TOP(&v->ctx, "top");
	if (!v->top) {
		delete v;
		return nullptr;
	}
	v->top->clk = 0;
	v->top->eval();
	return v;
}

void vpcie_vl_free(void *m)
{
	vl *v = static_cast<vl *>(m);

	if (!v)
		return;
	v->top->final();
	if (v->vcd) {
		v->vcd->close();
		delete v->vcd;
	}
	delete v->top;
	delete v;
}

int vpcie_vl_wave(void *m, const char *path)
{
	vl *v = static_cast<vl *>(m);

	if (v->vcd)
		return -EBUSY;
	v->vcd = new (std::nothrow) VerilatedVcdC;
	if (!v->vcd)
		return -ENOMEM;
	v->top->trace(v->vcd, 99);
	v->vcd->open(path);
	if (!v->vcd->isOpen()) {
		delete v->vcd;
		v->vcd = nullptr;
		return -EIO;
	}
	return 0;
}

void vpcie_vl_bare_cycles(void *m, uint64_t n)
{
	VL_TOP *t = static_cast<vl *>(m)->top;

	for (uint64_t i = 0; i < n; i++) {
		t->clk = 0;
		t->eval();
		t->clk = 1;
		t->eval();
	}
}

unsigned vpcie_vl_payload_bytes(void)
{
	return sizeof(static_cast<VL_TOP *>(nullptr)->mwr_data);
}

} // extern "C"
