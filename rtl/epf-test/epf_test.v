// SPDX-License-Identifier: MIT
// pci-epf-test in Verilog: the register block of BAR0 as the host driver
// sees it (devices/epf-test/epf_regs.h, docs/epf-test.md) and the function's
// command engine - READ/WRITE/COPY through the bridge's DMA channels with
// the checksum crc32_le(~0, ...) computed here as the data streams, and the
// interrupts of IRQ_TYPE/IRQ_NUMBER. Behaviour follows the C device
// (devices/epf-test/epf-test.c), 6.1 command decoding.
//
// Registers: sixteen 32-bit words at 0x00..0x3c - MAGIC, COMMAND, STATUS,
// LOWER/UPPER_SRC_ADDR, LOWER/UPPER_DST_ADDR, SIZE, CHECKSUM, IRQ_TYPE,
// IRQ_NUMBER, FLAGS, CAPS (read-only), DB_BAR/DB_OFFSET/DB_DATA - plain
// read/write memory; the rest of BAR0 reads as 0 (the MSI-X table and PBA
// at 0x80 are served by the C runtime and never reach the design).
//
// A command starts when COMMAND is non-zero and the engine is idle: COMMAND
// and STATUS are cleared, then the first set bit in 6.1's order acts.
// DMA: reads in requests of up to MAXRD bytes (one outstanding), 8-byte
// beats; writes as 8-byte beats. A failed read completion (cpl_err) fails
// the command, and cpl_fault says the source address was bad; a posted
// write that failed is reported with the next read (cpl_wfail, cpl_wfault),
// so WRITE and COPY end with a one-byte "fence" read of the destination's
// last byte, as PCIe drivers read back to flush posted writes.
`default_nettype none
module epf_test #(
	parameter [31:0] CAPS_VALUE = 32'hf, // UNALIGNED_ACCESS | MSI | MSI-X | INTX
	parameter [31:0] MAXRD = 32'd4096     // bytes per DMA read request
) (
`include "vpcie_ports.vh"
);
	// ---- register file ---------------------------------------------------
	localparam [3:0] R_COMMAND = 4'd1, R_STATUS = 4'd2, R_SRC_LO = 4'd3, R_SRC_HI = 4'd4,
			 R_DST_LO = 4'd5, R_DST_HI = 4'd6, R_SIZE = 4'd7, R_CHECKSUM = 4'd8,
			 R_IRQ_TYPE = 4'd9, R_IRQ_NUMBER = 4'd10, R_CAPS = 4'd12;
	// COMMAND bits
	localparam C_LEGACY = 0, C_MSI = 1, C_MSIX = 2, C_READ = 3, C_WRITE = 4, C_COPY = 5,
		   C_DB_EN = 6, C_DB_DIS = 7;
	// STATUS bits
	localparam [31:0] S_READ_OK = 32'h1, S_READ_FAIL = 32'h2, S_WRITE_OK = 32'h4,
			  S_WRITE_FAIL = 32'h8, S_COPY_OK = 32'h10, S_COPY_FAIL = 32'h20,
			  S_IRQ_RAISED = 32'h40, S_SRC_INVALID = 32'h80, S_DST_INVALID = 32'h100,
			  S_DB_EN_FAIL = 32'h800, S_DB_DIS_FAIL = 32'h2000;
	// irq_mode values (enum vpcie_irq_mode)
	localparam [1:0] M_INTX = 2'd1, M_MSI = 2'd2, M_MSIX = 2'd3;

	reg [31:0] regs [0:15];
	wire [2:0] pair = req_addr[5:3];
	wire       in_block = req_bar == 3'd0 && req_addr[63:6] == 58'd0;
	wire [3:0] lo = {pair, 1'b0};
	wire [3:0] hi = {pair, 1'b1};
	wire [63:0] mask = {{8{req_be[7]}}, {8{req_be[6]}}, {8{req_be[5]}}, {8{req_be[4]}},
			    {8{req_be[3]}}, {8{req_be[2]}}, {8{req_be[1]}}, {8{req_be[0]}}};
	wire [63:0] old = {hi == R_CAPS ? CAPS_VALUE : regs[hi], lo == R_CAPS ? CAPS_VALUE : regs[lo]};
	wire [63:0] nxt = (old & ~mask) | (req_data & mask);
	wire        host_wr = req_en && req_wr && in_block;

	reg        rep_en_q;
	reg [7:0]  rep_tag_q;
	reg [63:0] rep_data_q;
	assign rep_en = rep_en_q;
	assign rep_tag = rep_tag_q;
	assign rep_data = rep_data_q;
	assign req_rdy = 1'b1;

	// ---- CRC32 (reflected, 0xEDB88320, no inversions: Linux's crc32_le) ---
	reg [31:0] crc_tab [0:255];
	integer t, b;
	reg [31:0] tv;
	initial begin
		for (t = 0; t < 256; t = t + 1) begin
			tv = t;
			for (b = 0; b < 8; b = b + 1)
				tv = tv[0] ? (tv >> 1) ^ 32'hedb88320 : tv >> 1;
			crc_tab[t] = tv;
		end
	end

	// ---- the command engine ---------------------------------------------
	localparam [3:0] ST_IDLE = 4'd0, ST_DECODE = 4'd1, ST_RD_REQ = 4'd2, ST_RD_DATA = 4'd3,
			 ST_WR_DATA = 4'd4, ST_FENCE_REQ = 4'd5, ST_FENCE_DATA = 4'd6,
			 ST_DONE = 4'd7, ST_IRQ = 4'd8, ST_INTX = 4'd9;
	localparam [1:0] OP_READ = 2'd0, OP_WRITE = 2'd1, OP_COPY = 2'd2;
	reg [3:0]  st;
	reg [1:0]  op;
	reg [31:0] cmd;
	reg [63:0] src, dst;
	reg [31:0] size, off;      // bytes done (requested, for reads)
	reg [31:0] woff;           // COPY: bytes written
	reg [31:0] crc;
	reg        fail, src_bad, dst_bad;
	reg [63:0] rng;            // xorshift64 state: WRITE's "random" data
	reg        msi_q;
	reg [15:0] msi_vec_q;
	// COPY: one beat held between the completion stream and the write channel
	reg        cbuf_v;
	reg [63:0] cbuf;
	reg [3:0]  cbuf_n;

	wire [31:0] left = size - off;
	wire [31:0] chunk = left > MAXRD ? MAXRD : left;
	wire [31:0] wleft = size - off;
	wire [3:0]  wbeat = wleft > 32'd8 ? 4'd8 : wleft[3:0];
	wire [63:0] rng_next0 = rng ^ (rng << 13);
	wire [63:0] rng_next1 = rng_next0 ^ (rng_next0 >> 7);
	wire [63:0] rng_next = rng_next1 ^ (rng_next1 << 17);

	// DMA channel outputs
	assign mrd_en = (st == ST_RD_REQ || st == ST_FENCE_REQ) && !cbuf_v;
	assign mrd_addr = st == ST_FENCE_REQ ? dst + {32'd0, size} - 64'd1 : src + {32'd0, off};
	assign mrd_len = st == ST_FENCE_REQ ? 32'd1 : chunk;
	assign mrd_tag = 8'd1;
	assign cpl_rdy = st == ST_FENCE_DATA || (st == ST_RD_DATA && (op == OP_READ || !cbuf_v || mwr_rdy));
	assign mwr_en = st == ST_WR_DATA || cbuf_v;
	assign mwr_addr = st == ST_WR_DATA ? dst + {32'd0, off} : dst + {32'd0, woff};
	assign mwr_data = st == ST_WR_DATA ? rng : cbuf;
	assign mwr_size = {12'd0, st == ST_WR_DATA ? wbeat : cbuf_n};
	assign msi_en = msi_q;
	assign msi_vec = msi_vec_q;
	assign intx = 1'b0; // INTx goes as a pulse on the msi channel (vector 0)
	assign busy = st != ST_IDLE || regs[R_COMMAND] != 32'd0;

	// The checksum runs over a READ completion beat or a WRITE beat as it
	// moves: n bytes of d, lane 0 first, a table step per byte. Used in the
	// clocked block only (evaluated at the edge where a beat moves).
	wire        cpl_take = cpl_en && cpl_rdy;
	wire        crc_rd = st == ST_RD_DATA && op == OP_READ && cpl_take && !cpl_err;
	function [31:0] crc_beat(input [31:0] c, input [63:0] d, input [3:0] n);
		integer k;
		begin
			crc_beat = c;
			for (k = 0; k < 8; k = k + 1)
				if (k < {28'd0, n})
					crc_beat = crc_tab[crc_beat[7:0] ^ d[8*k +: 8]] ^ (crc_beat >> 8);
		end
	endfunction

	// IRQ_TYPE/IRQ_NUMBER -> which interrupt, if the host enabled it
	wire [31:0] irq_type = regs[R_IRQ_TYPE];
	wire [31:0] irq_num = regs[R_IRQ_NUMBER];
	wire        num_ok = irq_num != 32'd0 && irq_num <= {16'd0, irq_vectors};

	integer i;
	always @(posedge clk) begin
		if (rst) begin
			for (i = 0; i < 16; i = i + 1)
				regs[i] <= 32'd0;
			rep_en_q <= 0; rep_tag_q <= 0; rep_data_q <= 0;
			st <= ST_IDLE; op <= OP_READ; cmd <= 0;
			src <= 0; dst <= 0; size <= 0; off <= 0; woff <= 0; crc <= 0;
			fail <= 0; src_bad <= 0; dst_bad <= 0;
			rng <= 64'h9e3779b97f4a7c15;
			msi_q <= 0; msi_vec_q <= 0;
			cbuf_v <= 0; cbuf <= 0; cbuf_n <= 0;
		end else begin
			// host accesses
			rep_en_q <= 0;
			if (host_wr) begin
				if (req_be[3:0] != 4'd0)
					regs[lo] <= nxt[31:0];
				if (req_be[7:4] != 4'd0)
					regs[hi] <= nxt[63:32];
			end
			if (req_en && !req_wr) begin
				rep_en_q   <= 1;
				rep_tag_q  <= req_tag;
				rep_data_q <= in_block ? old : 64'd0;
			end

			// COPY's held beat drains whenever the write channel takes it
			if (cbuf_v && mwr_rdy && st != ST_WR_DATA) begin
				cbuf_v <= 0;
				woff <= woff + {28'd0, cbuf_n};
			end

			// the engine (its register writes come after the host's: they win)
			case (st)
			ST_IDLE: if (regs[R_COMMAND] != 32'd0) begin
				cmd <= regs[R_COMMAND];
				regs[R_COMMAND] <= 0;
				regs[R_STATUS] <= 0;
				st <= ST_DECODE;
			end
			ST_DECODE: begin
				src <= {regs[R_SRC_HI], regs[R_SRC_LO]};
				dst <= {regs[R_DST_HI], regs[R_DST_LO]};
				size <= regs[R_SIZE];
				off <= 0; woff <= 0;
				crc <= 32'hffffffff;
				fail <= 0; src_bad <= 0; dst_bad <= 0;
				st <= ST_IDLE;
				if (irq_type > 32'd2) begin
					// unknown IRQ type: dropped, as pci-epf-test does
				end else if (cmd[C_LEGACY]) begin
					regs[R_STATUS] <= S_IRQ_RAISED;
					st <= ST_INTX;
				end else if (cmd[C_WRITE] || cmd[C_READ] || cmd[C_COPY]) begin
					op <= cmd[C_WRITE] ? OP_WRITE : cmd[C_READ] ? OP_READ : OP_COPY;
					st <= cmd[C_WRITE] ? ST_WR_DATA : ST_RD_REQ;
					if (regs[R_SIZE] == 32'd0) begin
						st <= ST_DONE;
					end else if (!cmd[C_WRITE] &&
						     {regs[R_SRC_HI], regs[R_SRC_LO]} + {32'd0, regs[R_SIZE] - 32'd1} <
						     {regs[R_SRC_HI], regs[R_SRC_LO]}) begin
						fail <= 1; src_bad <= 1; st <= ST_DONE;
					end else if (!cmd[C_READ] || cmd[C_WRITE]) begin
						if ({regs[R_DST_HI], regs[R_DST_LO]} + {32'd0, regs[R_SIZE] - 32'd1} <
						    {regs[R_DST_HI], regs[R_DST_LO]}) begin
							fail <= 1; dst_bad <= 1; st <= ST_DONE;
						end
					end
				end else if (cmd[C_MSI] || cmd[C_MSIX]) begin
					// 6.1: a vector the host did not enable for this
					// type gives no status and no interrupt
					if (irq_mode == (cmd[C_MSI] ? M_MSI : M_MSIX) && num_ok) begin
						regs[R_STATUS] <= S_IRQ_RAISED;
						msi_q <= 1;
						msi_vec_q <= irq_num[15:0] - 16'd1;
						st <= ST_IRQ;
					end
				end else if (cmd[C_DB_EN] || cmd[C_DB_DIS]) begin
					// no doorbell: the request fails, the host is told
					regs[R_STATUS] <= cmd[C_DB_EN] ? S_DB_EN_FAIL : S_DB_DIS_FAIL;
					st <= ST_DONE;
				end
			end
			ST_RD_REQ: if (mrd_en && mrd_rdy) begin
				off <= off + chunk;
				st <= ST_RD_DATA;
			end
			ST_RD_DATA: begin
				if (cpl_take) begin
					// a bad address is reported as such; other
					// DMA errors (bus mastering off...) only fail
					if (cpl_err) begin
						fail <= 1;
						if (cpl_fault) src_bad <= 1;
					end
					if (cpl_wfail) begin
						fail <= 1;
						if (cpl_wfault) dst_bad <= 1;
					end
					if (crc_rd)
						crc <= crc_beat(crc, cpl_data, cpl_size[3:0]);
					if (op == OP_COPY && !cpl_err) begin
						cbuf_v <= 1;
						cbuf <= cpl_data;
						cbuf_n <= cpl_size[3:0];
					end
				end
				if (cpl_take && cpl_last) begin
					if (cpl_err || cpl_wfail || off == size)
						st <= op == OP_COPY && !cpl_err && !cpl_wfail ? ST_FENCE_REQ : ST_DONE;
					else
						st <= ST_RD_REQ;
				end
			end
			ST_WR_DATA: if (mwr_rdy) begin
				crc <= crc_beat(crc, rng, wbeat);
				rng <= rng_next;
				off <= off + {28'd0, wbeat};
				if (off + {28'd0, wbeat} == size)
					st <= ST_FENCE_REQ;
			end
			ST_FENCE_REQ: begin
				// (COPY: after its last beat left cbuf, see mrd_en)
				if (mrd_en && mrd_rdy)
					st <= ST_FENCE_DATA;
			end
			ST_FENCE_DATA: if (cpl_take) begin
				if (cpl_err || cpl_wfail)
					fail <= 1;
				if ((cpl_err && cpl_fault) || (cpl_wfail && cpl_wfault))
					dst_bad <= 1;
				if (cpl_last)
					st <= ST_DONE;
			end
			ST_DONE: begin
				// STATUS gets the result and IRQ_RAISED before the
				// interrupt, so the host's handler sees the final value
				regs[R_STATUS] <= regs[R_STATUS] | S_IRQ_RAISED |
					(src_bad ? S_SRC_INVALID : 32'd0) | (dst_bad ? S_DST_INVALID : 32'd0) |
					(cmd[C_LEGACY] || cmd[C_MSI] || cmd[C_MSIX] || !(cmd[C_WRITE] || cmd[C_READ] || cmd[C_COPY]) ? 32'd0 :
					 op == OP_WRITE ? (fail ? S_WRITE_FAIL : S_WRITE_OK) :
					 op == OP_READ ? (fail || crc != regs[R_CHECKSUM] ? S_READ_FAIL : S_READ_OK) :
					 (fail ? S_COPY_FAIL : S_COPY_OK));
				if (op == OP_WRITE && cmd[C_WRITE] && !fail)
					regs[R_CHECKSUM] <= crc;
				st <= ST_IDLE;
				if (irq_type == 32'd0) begin
					st <= ST_INTX;
				end else if (irq_mode == (irq_type == 32'd1 ? M_MSI : M_MSIX) && num_ok) begin
					msi_q <= 1;
					msi_vec_q <= irq_num[15:0] - 16'd1;
					st <= ST_IRQ;
				end
			end
			ST_IRQ: if (msi_rdy) begin
				msi_q <= 0;
				st <= ST_IDLE;
			end
			ST_INTX: begin
				// INTx is raised as a pulse, as EP controllers do: in
				// INTx mode, vector 0 on the msi channel is that pulse
				// (delivered now or when the host unmasks); outside
				// INTx mode nothing is sent
				if (irq_mode == M_INTX) begin
					msi_q <= 1;
					msi_vec_q <= 16'd0;
					st <= ST_IRQ;
				end else begin
					st <= ST_IDLE;
				end
			end
			default: st <= ST_IDLE;
			endcase
		end
	end
endmodule
