// SPDX-License-Identifier: MIT
// The ports of a vpcie RTL device (vpcie/rtl.h, docs/rtl.md), for a top
// module's port list:
//	module mydesign (
//	`include "vpcie_ports.vh"
//	);
// Directions are the design's. DMA beats here are 64 bits (mwr_data,
// cpl_data); a design with wider beats writes its own list. Tie what the
// design does not use (mrd_en = 0, cpl_rdy = 1, ...). Inputs a design may
// ignore are exempt from Verilator's UNUSEDSIGNAL lint.
/* verilator lint_off UNUSEDSIGNAL */
	input  wire        clk,
	input  wire        rst,
	// host accesses: request, read completion
	input  wire        req_en,
	output wire        req_rdy,
	input  wire        req_wr,
	input  wire [2:0]  req_bar,
	input  wire [63:0] req_addr,
	input  wire [63:0] req_data,
	input  wire [7:0]  req_be,
	input  wire [7:0]  req_tag,
	output wire        rep_en,
	input  wire        rep_rdy,
	output wire [7:0]  rep_tag,
	output wire [63:0] rep_data,
	// DMA write
	output wire        mwr_en,
	input  wire        mwr_rdy,
	output wire [63:0] mwr_addr,
	output wire [63:0] mwr_data,
	output wire [15:0] mwr_size,
	// DMA read: request, completion stream
	output wire        mrd_en,
	input  wire        mrd_rdy,
	output wire [63:0] mrd_addr,
	output wire [31:0] mrd_len,
	output wire [7:0]  mrd_tag,
	input  wire        cpl_en,
	output wire        cpl_rdy,
	input  wire        cpl_last,
	input  wire        cpl_err,
	input  wire [7:0]  cpl_tag,
	input  wire [15:0] cpl_size,
	input  wire [63:0] cpl_data,
	input  wire        cpl_wfail,      // a DMA write before this read failed
	input  wire        cpl_fault,      // cpl_err was an address outside host memory
	input  wire        cpl_wfault,     // cpl_wfail was
	// interrupts, clock control
	output wire        msi_en,
	input  wire        msi_rdy,
	output wire [15:0] msi_vec,
	output wire        intx,
	output wire        busy,
	// the host's interrupt set-up: irq_mode 0 none, 1 INTx, 2 MSI, 3 MSI-X
	input  wire [1:0]  irq_mode,
	input  wire [15:0] irq_vectors
/* verilator lint_on UNUSEDSIGNAL */
