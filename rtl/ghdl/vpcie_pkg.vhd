-- SPDX-License-Identifier: MIT
-- The ports of a vpcie RTL device in VHDL (vpcie/rtl.h, docs/rtl.md): the
-- widths, and the superset entity as a component whose port list a design's
-- top entity copies. Names are VPCIe's (req_*, rep_*, mwr_*, msi_en),
-- extended; directions are the design's (in: driven by the bridge). Same
-- names, widths and meanings as the Verilog list (rtl/verilator/
-- vpcie_ports.vh); only the DMA beat width PAYLOAD_W (mwr_data, cpl_data)
-- is the design's choice: 8, 16, 32, 64 or a multiple of 32 up to 512.
library ieee;
use ieee.std_logic_1164.all;

package vpcie_pkg is
  constant VPCIE_BAR_W     : natural := 3;   -- req_bar: BAR 0..5
  constant VPCIE_ADDR_W    : natural := 64;  -- req_addr, mwr_addr, mrd_addr
  constant VPCIE_DATA_W    : natural := 64;  -- req_data, rep_data: one 8-byte lane group
  constant VPCIE_BE_W      : natural := 8;   -- req_be: one bit per byte lane
  constant VPCIE_TAG_W     : natural := 8;   -- req_tag/rep_tag, mrd_tag/cpl_tag
  constant VPCIE_SIZE_W    : natural := 16;  -- mwr_size, cpl_size: bytes in a beat
  constant VPCIE_LEN_W     : natural := 32;  -- mrd_len: bytes of a DMA read (1..4096)
  constant VPCIE_VEC_W     : natural := 16;  -- msi_vec
  constant VPCIE_PAYLOAD_MAX_W : natural := 512;

  -- The superset entity. A design's top entity has exactly these ports
  -- (with PAYLOAD_W fixed or as a generic); tie what it does not use:
  -- mrd_en <= '0', cpl_rdy <= '1', msi_en <= '0', intx <= '0', busy <= '0'.
  component vpcie_device is
    generic (PAYLOAD_W : natural := 64);
    port (
      clk, rst : in  std_ulogic;
      -- host accesses: request (valid/ready), read completion (rep_rdy is always '1')
      req_en   : in  std_ulogic;
      req_rdy  : out std_ulogic;
      req_wr   : in  std_ulogic;
      req_bar  : in  std_ulogic_vector(VPCIE_BAR_W - 1 downto 0);
      req_addr : in  std_ulogic_vector(VPCIE_ADDR_W - 1 downto 0);
      req_data : in  std_ulogic_vector(VPCIE_DATA_W - 1 downto 0);
      req_be   : in  std_ulogic_vector(VPCIE_BE_W - 1 downto 0);
      req_tag  : in  std_ulogic_vector(VPCIE_TAG_W - 1 downto 0);
      rep_en   : out std_ulogic;
      rep_rdy  : in  std_ulogic;
      rep_tag  : out std_ulogic_vector(VPCIE_TAG_W - 1 downto 0);
      rep_data : out std_ulogic_vector(VPCIE_DATA_W - 1 downto 0);
      -- DMA write: mwr_size bytes of mwr_data (lane 0 = bits 7..0 first) to mwr_addr
      mwr_en   : out std_ulogic;
      mwr_rdy  : in  std_ulogic;
      mwr_addr : out std_ulogic_vector(VPCIE_ADDR_W - 1 downto 0);
      mwr_data : out std_ulogic_vector(PAYLOAD_W - 1 downto 0);
      mwr_size : out std_ulogic_vector(VPCIE_SIZE_W - 1 downto 0);
      -- DMA read: request, then the completion stream
      mrd_en   : out std_ulogic;
      mrd_rdy  : in  std_ulogic;
      mrd_addr : out std_ulogic_vector(VPCIE_ADDR_W - 1 downto 0);
      mrd_len  : out std_ulogic_vector(VPCIE_LEN_W - 1 downto 0);
      mrd_tag  : out std_ulogic_vector(VPCIE_TAG_W - 1 downto 0);
      cpl_en   : in  std_ulogic;
      cpl_rdy  : out std_ulogic;
      cpl_last : in  std_ulogic;
      cpl_err  : in  std_ulogic;
      cpl_tag  : in  std_ulogic_vector(VPCIE_TAG_W - 1 downto 0);
      cpl_size : in  std_ulogic_vector(VPCIE_SIZE_W - 1 downto 0);
      cpl_data : in  std_ulogic_vector(PAYLOAD_W - 1 downto 0);
      -- interrupts, clock control
      msi_en   : out std_ulogic;
      msi_rdy  : in  std_ulogic;
      msi_vec  : out std_ulogic_vector(VPCIE_VEC_W - 1 downto 0);
      intx     : out std_ulogic;
      busy     : out std_ulogic);
  end component;
end package;
