-- SPDX-License-Identifier: MIT
-- The RTL tutorial device in VHDL (docs/rtl-tutorial.md): the same
-- registers and behaviour as rtl/tutorial/tutorial.v, a register file and a
-- doorbell that DMA-writes a counting pattern into host memory, then raises
-- MSI. Ports: vpcie_pkg's vpcie_device (8-byte DMA beats). BAR0, 64-bit
-- registers:
--   0x00 ID (ro)      0x08 SCRATCH    0x10 DMA_ADDR   0x18 DMA_LEN (bytes)
--   0x20 SEED         0x28 DOORBELL: write starts the DMA (ignored while
--   busy, or if DMA_LEN is 0 or over 1 MiB); read: DMAs done
--   0x30 MSI_VEC      0x38 STATUS (bit 0: busy)
--   0x40 MUTE: while bit 0 is set the design does not answer reads (a hung
--        design, for the bridge's read timeout); writes still work
-- The DMA writes 32-bit words SEED, SEED+1, ... to DMA_ADDR..+DMA_LEN, then
-- raises vector MSI_VEC. Reads elsewhere (other offsets, other BARs) answer 0.
library ieee;
use ieee.std_logic_1164.all;
use ieee.numeric_std.all;
use work.vpcie_pkg.all;

entity tutorial is
  generic (PAYLOAD_W : natural := 64);  -- fixed: a beat is two 32-bit words
  port (
    clk, rst : in  std_ulogic;
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
    mwr_en   : out std_ulogic;
    mwr_rdy  : in  std_ulogic;
    mwr_addr : out std_ulogic_vector(VPCIE_ADDR_W - 1 downto 0);
    mwr_data : out std_ulogic_vector(PAYLOAD_W - 1 downto 0);
    mwr_size : out std_ulogic_vector(VPCIE_SIZE_W - 1 downto 0);
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
    msi_en   : out std_ulogic;
    msi_rdy  : in  std_ulogic;
    msi_vec  : out std_ulogic_vector(VPCIE_VEC_W - 1 downto 0);
    intx     : out std_ulogic;
    busy     : out std_ulogic);
end entity;

architecture rtl of tutorial is
  constant ID : unsigned(63 downto 0) := x"0000_0001_5254_4c31"; -- "RTL1", version 1
  signal scratch, dma_addr, dma_len, done_cnt, off : unsigned(63 downto 0);
  signal seed : unsigned(31 downto 0);
  signal vec : unsigned(15 downto 0);
  signal dma_on, msi_pend, mute : std_ulogic;
  signal left : unsigned(63 downto 0);
  signal word : unsigned(31 downto 0);
  signal size : unsigned(15 downto 0);
begin
  left <= dma_len - off;
  word <= seed + off(33 downto 2);
  size <= x"0008" when left > 8 else left(15 downto 0);

  req_rdy  <= '1';
  mwr_en   <= dma_on;
  mwr_addr <= std_ulogic_vector(dma_addr + off);
  mwr_size <= std_ulogic_vector(size);
  mwr_data <= std_ulogic_vector((word + 1) & word);
  mrd_en   <= '0';
  mrd_addr <= (others => '0');
  mrd_len  <= (others => '0');
  mrd_tag  <= (others => '0');
  cpl_rdy  <= '1';
  msi_en   <= msi_pend;
  msi_vec  <= std_ulogic_vector(vec);
  intx     <= '0';
  busy     <= dma_on or msi_pend;

  process (clk)
    -- the register's new value: the bytes req_be selects come from req_data
    impure function merge(old : unsigned(63 downto 0)) return unsigned is
      variable r : unsigned(63 downto 0) := old;
    begin
      for i in 0 to 7 loop
        if req_be(i) = '1' then
          r(8 * i + 7 downto 8 * i) := unsigned(req_data(8 * i + 7 downto 8 * i));
        end if;
      end loop;
      return r;
    end function;
    variable seed_m, vec_m : unsigned(63 downto 0);
    variable ours : boolean;
  begin
    if rising_edge(clk) then
      if rst = '1' then
        scratch <= (others => '0'); dma_addr <= (others => '0');
        dma_len <= (others => '0'); done_cnt <= (others => '0');
        off <= (others => '0'); seed <= (others => '0'); vec <= (others => '0');
        dma_on <= '0'; msi_pend <= '0'; mute <= '0';
        rep_en <= '0'; rep_tag <= (others => '0'); rep_data <= (others => '0');
      else
        rep_en <= '0';
        -- BAR0, offsets 0x00..0x7f: the register file
        ours := unsigned(req_bar) = 0 and unsigned(req_addr(11 downto 7)) = 0;
        if req_en = '1' and req_wr = '1' and ours then
          seed_m := merge(resize(seed, 64));
          vec_m := merge(resize(vec, 64));
          case to_integer(unsigned(req_addr(6 downto 3))) is
            when 1 => scratch <= merge(scratch);
            when 2 => dma_addr <= merge(dma_addr);
            when 3 => dma_len <= merge(dma_len);
            when 4 => seed <= seed_m(31 downto 0);
            when 5 =>
              if dma_on = '0' and msi_pend = '0' and dma_len /= 0 and dma_len <= 16#10_0000# then
                dma_on <= '1';
                off <= (others => '0');
              end if;
            when 6 => vec <= vec_m(15 downto 0);
            when 8 => if req_be(0) = '1' then mute <= req_data(0); end if;
            when others => null;
          end case;
        end if;
        if req_en = '1' and req_wr = '0' and mute = '0' then
          rep_en <= '1';
          rep_tag <= req_tag;
          rep_data <= (others => '0');
          if ours then
            case to_integer(unsigned(req_addr(6 downto 3))) is
              when 0 => rep_data <= std_ulogic_vector(ID);
              when 1 => rep_data <= std_ulogic_vector(scratch);
              when 2 => rep_data <= std_ulogic_vector(dma_addr);
              when 3 => rep_data <= std_ulogic_vector(dma_len);
              when 4 => rep_data <= std_ulogic_vector(resize(seed, 64));
              when 5 => rep_data <= std_ulogic_vector(done_cnt);
              when 6 => rep_data <= std_ulogic_vector(resize(vec, 64));
              when 7 => rep_data(0) <= dma_on or msi_pend;
              when others => null;
            end case;
          end if;
        end if;
        -- DMA: one beat per cycle the bridge takes; the last one raises MSI
        if dma_on = '1' and mwr_rdy = '1' then
          off <= off + size;
          if left <= 8 then
            dma_on <= '0';
            msi_pend <= '1';
          end if;
        end if;
        if msi_pend = '1' and msi_rdy = '1' then
          msi_pend <= '0';
          done_cnt <= done_cnt + 1;
        end if;
      end if;
    end if;
  end process;
end architecture;
