// SPDX-License-Identifier: MIT
// pci-epf-test in Verilog, first slice: the register block of BAR0 as the
// host driver sees it (devices/epf-test/epf_regs.h, docs/epf-test.md):
// sixteen 32-bit registers at 0x00..0x3c - MAGIC, COMMAND, STATUS,
// LOWER/UPPER_SRC_ADDR, LOWER/UPPER_DST_ADDR, SIZE, CHECKSUM, IRQ_TYPE,
// IRQ_NUMBER, FLAGS, CAPS (read-only 0), DB_BAR/DB_OFFSET/DB_DATA - plain
// read/write memory; the rest of BAR0 reads as 0.
// NOT YET: COMMAND does nothing (no READ/WRITE/COPY DMA engine, no CRC32,
// no interrupts); those are the next slice.
`default_nettype none
module epf_test (
`include "vpcie_ports.vh"
);
	reg        rep_en_q;
	reg [7:0]  rep_tag_q;
	reg [63:0] rep_data_q;
	assign rep_en = rep_en_q;
	assign rep_tag = rep_tag_q;
	assign rep_data = rep_data_q;
	localparam [3:0] CAPS = 4'd12; // register index of CAPS (0x30)

	reg [31:0] regs [0:15];
	wire [2:0] pair = req_addr[5:3];
	wire       in_block = req_bar == 3'd0 && req_addr[11:6] == 6'd0;
	wire [3:0] lo = {pair, 1'b0};
	wire [3:0] hi = {pair, 1'b1};
	wire [63:0] mask = {{8{req_be[7]}}, {8{req_be[6]}}, {8{req_be[5]}}, {8{req_be[4]}},
			    {8{req_be[3]}}, {8{req_be[2]}}, {8{req_be[1]}}, {8{req_be[0]}}};
	wire [63:0] old = {regs[hi], regs[lo]};
	wire [63:0] nxt = (old & ~mask) | (req_data & mask);

	assign req_rdy  = 1'b1;
	assign mwr_en   = 1'b0;
	assign mwr_addr = 64'd0;
	assign mwr_data = 64'd0;
	assign mwr_size = 16'd0;
	assign mrd_en   = 1'b0;
	assign mrd_addr = 64'd0;
	assign mrd_len  = 32'd0;
	assign mrd_tag  = 8'd0;
	assign cpl_rdy  = 1'b1;
	assign msi_en   = 1'b0;
	assign msi_vec  = 16'd0;
	assign intx     = 1'b0;
	assign busy     = 1'b0;

	integer i;
	always @(posedge clk) begin
		if (rst) begin
			for (i = 0; i < 16; i = i + 1)
				regs[i] <= 32'd0;
			rep_en_q <= 0; rep_tag_q <= 0; rep_data_q <= 0;
		end else begin
			rep_en_q <= 0;
			if (req_en && req_wr && in_block) begin
				if (req_be[3:0] != 4'd0 && lo != CAPS)
					regs[lo] <= nxt[31:0];
				if (req_be[7:4] != 4'd0 && hi != CAPS)
					regs[hi] <= nxt[63:32];
			end
			if (req_en && !req_wr) begin
				rep_en_q   <= 1;
				rep_tag_q  <= req_tag;
				rep_data_q <= in_block ? old : 64'd0;
			end
		end
	end
endmodule
