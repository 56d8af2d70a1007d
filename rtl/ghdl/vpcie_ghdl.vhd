-- SPDX-License-Identifier: MIT
-- VHPIDIRECT glue between the generated top (vpcie_top.vhd.in) and the C
-- model (ghdl_model.c). Not for designs: they only see their ports.
--
-- Every bridge phase, the top's driver process calls vpcie_ghdl_sync with
-- the design's outputs packed in OUT_VEC, suspends for one delta (the C
-- side's __ghdl_simulation_step loop returns there), then calls
-- vpcie_ghdl_next for the inputs to drive and the clock level, and waits
-- half a period. Vectors are ascending (element k is byte k on the C side,
-- one std_ulogic per byte); a field of width w at offset a holds its MSB at
-- element a. Offsets are mirrored in ghdl_model.c.
library ieee;
use ieee.std_logic_1164.all;

package vpcie_ghdl is
  -- inputs (bridge -> design); cpl_data is padded to 512 bits
  constant I_RST      : natural := 0;
  constant I_REQ_EN   : natural := 1;
  constant I_REQ_WR   : natural := 2;
  constant I_REQ_BAR  : natural := 3;    -- 3
  constant I_REQ_BE   : natural := 6;    -- 8
  constant I_REQ_TAG  : natural := 14;   -- 8
  constant I_REQ_ADDR : natural := 22;   -- 64
  constant I_REQ_DATA : natural := 86;   -- 64
  constant I_REP_RDY  : natural := 150;
  constant I_MWR_RDY  : natural := 151;
  constant I_MRD_RDY  : natural := 152;
  constant I_CPL_EN   : natural := 153;
  constant I_CPL_LAST : natural := 154;
  constant I_CPL_ERR  : natural := 155;
  constant I_CPL_TAG  : natural := 156;  -- 8
  constant I_CPL_SIZE : natural := 164;  -- 16
  constant I_MSI_RDY  : natural := 180;
  constant I_CPL_DATA : natural := 181;  -- 512
  constant IN_W       : natural := 693;
  -- outputs (design -> bridge); mwr_data is padded to 512 bits
  constant O_REQ_RDY  : natural := 0;
  constant O_REP_EN   : natural := 1;
  constant O_REP_TAG  : natural := 2;    -- 8
  constant O_REP_DATA : natural := 10;   -- 64
  constant O_MWR_EN   : natural := 74;
  constant O_MWR_SIZE : natural := 75;   -- 16
  constant O_MWR_ADDR : natural := 91;   -- 64
  constant O_MRD_EN   : natural := 155;
  constant O_MRD_TAG  : natural := 156;  -- 8
  constant O_MRD_LEN  : natural := 164;  -- 32
  constant O_MRD_ADDR : natural := 196;  -- 64
  constant O_CPL_RDY  : natural := 260;
  constant O_MSI_EN   : natural := 261;
  constant O_MSI_VEC  : natural := 262;  -- 16
  constant O_INTX     : natural := 278;
  constant O_BUSY     : natural := 279;
  constant O_MWR_DATA : natural := 280;  -- 512
  constant OUT_W      : natural := 792;

  subtype in_vec  is std_ulogic_vector(0 to IN_W - 1);
  subtype out_vec is std_ulogic_vector(0 to OUT_W - 1);

  -- The design's outputs as they are now (settled); payload_w: the
  -- design's PAYLOAD_W, checked by the C side.
  procedure vpcie_ghdl_sync(o : in out_vec; payload_w : in integer);
  attribute foreign of vpcie_ghdl_sync : procedure is "VHPIDIRECT vpcie_ghdl_sync";
  -- The inputs to drive now, and what to do: 0 settle them with the clock
  -- low, 2 one clock cycle (rising edge, falling edge).
  procedure vpcie_ghdl_next(i : out in_vec; clk : out integer);
  attribute foreign of vpcie_ghdl_next : procedure is "VHPIDIRECT vpcie_ghdl_next";
end package;

package body vpcie_ghdl is
  -- Bodies are required; the C functions replace them.
  procedure vpcie_ghdl_sync(o : in out_vec; payload_w : in integer) is
  begin
    assert false report "vpcie_ghdl_sync: VHPIDIRECT not linked" severity failure;
  end procedure;
  procedure vpcie_ghdl_next(i : out in_vec; clk : out integer) is
  begin
    assert false report "vpcie_ghdl_next: VHPIDIRECT not linked" severity failure;
  end procedure;
end package body;
