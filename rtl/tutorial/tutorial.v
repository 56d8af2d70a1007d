// SPDX-License-Identifier: MIT
// The RTL tutorial device (docs/rtl.md): a register file and a doorbell
// that DMA-writes a counting pattern into host memory, then raises MSI.
// Ports: vpcie/rtl.h's superset (8-byte DMA beats). BAR0, 64-bit registers:
//   0x00 ID (ro)      0x08 SCRATCH    0x10 DMA_ADDR   0x18 DMA_LEN (bytes)
//   0x20 SEED         0x28 DOORBELL: write starts the DMA (ignored while
//   busy, or if DMA_LEN is 0 or over 1 MiB); read: DMAs done
//   0x30 MSI_VEC      0x38 STATUS (bit 0: busy)
//   0x40 MUTE: while bit 0 is set the design does not answer reads (a hung
//        design, for the bridge's read timeout); writes still work
// The DMA writes 32-bit words SEED, SEED+1, ... to DMA_ADDR..+DMA_LEN, then
// raises vector MSI_VEC. Reads elsewhere (other offsets, other BARs) answer 0.
`default_nettype none
module tutorial (
`include "vpcie_ports.vh"
);
	reg        rep_en_q;
	reg [7:0]  rep_tag_q;
	reg [63:0] rep_data_q;
	assign rep_en = rep_en_q;
	assign rep_tag = rep_tag_q;
	assign rep_data = rep_data_q;
	localparam [63:0] ID = 64'h0000_0001_5254_4c31; // "RTL1", version 1

	reg [63:0] scratch, dma_addr, dma_len, done_cnt, off;
	reg [31:0] seed;
	reg [15:0] vec;
	reg        dma_on, msi_pend, mute;

	wire [63:0] mask = {{8{req_be[7]}}, {8{req_be[6]}}, {8{req_be[5]}}, {8{req_be[4]}},
			    {8{req_be[3]}}, {8{req_be[2]}}, {8{req_be[1]}}, {8{req_be[0]}}};
	wire [63:0] left = dma_len - off;
	wire [31:0] word = seed + off[33:2];

	assign req_rdy  = 1'b1;
	assign mwr_en   = dma_on;
	assign mwr_addr = dma_addr + off;
	assign mwr_size = left > 64'd8 ? 16'd8 : left[15:0];
	assign mwr_data = {word + 32'd1, word};
	assign mrd_en   = 1'b0;
	assign mrd_addr = 64'd0;
	assign mrd_len  = 32'd0;
	assign mrd_tag  = 8'd0;
	assign cpl_rdy  = 1'b1;
	assign msi_en   = msi_pend;
	assign msi_vec  = vec;
	assign intx     = 1'b0;
	assign busy     = dma_on | msi_pend;

	function [63:0] merge(input [63:0] old);
		merge = (old & ~mask) | (req_data & mask);
	endfunction
	/* verilator lint_off UNUSEDSIGNAL */
	wire [63:0] seed_m = merge({32'd0, seed});
	wire [63:0] vec_m = merge({48'd0, vec});
	/* verilator lint_on UNUSEDSIGNAL */

	always @(posedge clk) begin
		if (rst) begin
			scratch <= 0; dma_addr <= 0; dma_len <= 0; done_cnt <= 0; off <= 0;
			seed <= 0; vec <= 0; dma_on <= 0; msi_pend <= 0; mute <= 0;
			rep_en_q <= 0; rep_tag_q <= 0; rep_data_q <= 0;
		end else begin
			rep_en_q <= 0;
			if (req_en && req_wr && req_bar == 3'd0 && req_addr[11:7] == 5'd0) begin
				case (req_addr[6:3])
				4'd1: scratch  <= merge(scratch);
				4'd2: dma_addr <= merge(dma_addr);
				4'd3: dma_len  <= merge(dma_len);
				4'd4: seed     <= seed_m[31:0];
				4'd5: if (!dma_on && !msi_pend && dma_len != 0 && dma_len <= 64'h10_0000) begin
					dma_on <= 1;
					off <= 0;
				end
				4'd6: vec      <= vec_m[15:0];
				4'd8: if (req_be[0]) mute <= req_data[0];
				default: ;
				endcase
			end
			if (req_en && !req_wr && !mute) begin
				rep_en_q  <= 1;
				rep_tag_q <= req_tag;
				if (req_bar != 3'd0 || req_addr[11:7] != 5'd0)
					rep_data_q <= 64'd0;
				else case (req_addr[6:3])
				4'd0: rep_data_q <= ID;
				4'd1: rep_data_q <= scratch;
				4'd2: rep_data_q <= dma_addr;
				4'd3: rep_data_q <= dma_len;
				4'd4: rep_data_q <= {32'd0, seed};
				4'd5: rep_data_q <= done_cnt;
				4'd6: rep_data_q <= {48'd0, vec};
				4'd7: rep_data_q <= {63'd0, busy};
				default: rep_data_q <= 64'd0;
				endcase
			end
			if (mwr_en && mwr_rdy) begin
				off <= off + {48'd0, mwr_size};
				if (left <= 64'd8) begin
					dma_on <= 0;
					msi_pend <= 1;
				end
			end
			if (msi_en && msi_rdy) begin
				msi_pend <= 0;
				done_cnt <= done_cnt + 1;
			end
		end
	end
endmodule
