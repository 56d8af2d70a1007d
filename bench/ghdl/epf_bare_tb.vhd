-- SPDX-License-Identifier: MIT
-- The floor of bench/ghdl_epf_bench.py's cycle rate: epf_test.vhd simulated
-- by GHDL alone, with a VHDL testbench in place of the C bridge (clock in
-- VHDL, every channel always ready, read completions from a counter).
-- It runs ROUNDS x (1 MiB WRITE, then 1 MiB READ) and reports the cycles.
library ieee;
use ieee.std_logic_1164.all;
use ieee.numeric_std.all;

entity epf_bare_tb is
  generic (ROUNDS : natural := 2);
end entity;

architecture bench of epf_bare_tb is
  constant P : natural := 256;
  signal clk, rst : std_ulogic := '1';
  signal req_en, req_wr, rep_en, mwr_en, mrd_en, cpl_en, cpl_last, msi_en : std_ulogic := '0';
  signal req_rdy, cpl_rdy, intx, busy : std_ulogic;
  signal req_bar : std_ulogic_vector(2 downto 0) := "000";
  signal req_addr, req_data, rep_data, mwr_addr, mrd_addr : std_ulogic_vector(63 downto 0) :=
    (others => '0');
  signal req_be, req_tag, rep_tag, mrd_tag, cpl_tag : std_ulogic_vector(7 downto 0) := (others => '0');
  signal mwr_size, cpl_size, msi_vec : std_ulogic_vector(15 downto 0) := (others => '0');
  signal mrd_len : std_ulogic_vector(31 downto 0);
  signal mwr_data, cpl_data : std_ulogic_vector(P - 1 downto 0) := (others => '0');
  signal done : boolean := false;
  signal cycles : natural := 0;
begin
  dut : entity work.epf_test
    port map (clk => clk, rst => rst, req_en => req_en, req_rdy => req_rdy, req_wr => req_wr,
              req_bar => req_bar, req_addr => req_addr, req_data => req_data, req_be => req_be,
              req_tag => req_tag, rep_en => rep_en, rep_rdy => '1', rep_tag => rep_tag,
              rep_data => rep_data, mwr_en => mwr_en, mwr_rdy => '1', mwr_addr => mwr_addr,
              mwr_data => mwr_data, mwr_size => mwr_size, mrd_en => mrd_en, mrd_rdy => '1',
              mrd_addr => mrd_addr, mrd_len => mrd_len, mrd_tag => mrd_tag, cpl_en => cpl_en,
              cpl_rdy => cpl_rdy, cpl_last => cpl_last, cpl_err => '0', cpl_tag => cpl_tag,
              cpl_size => cpl_size, cpl_data => cpl_data, msi_en => msi_en, msi_rdy => '1',
              msi_vec => msi_vec, intx => intx, busy => busy);

  clk <= not clk after 5 ns when not done;

  -- completions: a read request answered by 32-byte beats of counter data
  cpl : process (clk)
    variable left : natural := 0;
    variable n : natural;
  begin
    if rising_edge(clk) then
      cycles <= cycles + 1;
      if mrd_en = '1' and left = 0 and cpl_en = '0' then
        left := to_integer(unsigned(mrd_len));
        cpl_tag <= mrd_tag;
      end if;
      if cpl_en = '1' and cpl_rdy = '1' then
        left := left - to_integer(unsigned(cpl_size));
        cpl_data <= std_ulogic_vector(unsigned(cpl_data) + 1);
      end if;
      cpl_en <= '0';
      cpl_last <= '0';
      if left > 0 and not (cpl_en = '1' and cpl_last = '1') then
        n := left;
        if n > P / 8 then
          n := P / 8;
        end if;
        cpl_en <= '1';
        cpl_size <= std_ulogic_vector(to_unsigned(n, 16));
        if n = left then
          cpl_last <= '1';
        end if;
      end if;
    end if;
  end process;

  host : process
    procedure write32(off : natural; v : std_ulogic_vector(31 downto 0)) is
    begin
      req_en <= '1';
      req_wr <= '1';
      req_addr <= std_ulogic_vector(to_unsigned(off - off mod 8, 64));
      if off mod 8 = 0 then
        req_be <= x"0f";
        req_data <= x"00000000" & v;
      else
        req_be <= x"f0";
        req_data <= v & x"00000000";
      end if;
      wait until rising_edge(clk);
      req_en <= '0';
    end procedure;
    procedure command(c : std_ulogic_vector(31 downto 0)) is
    begin
      write32(16#04#, c);
      wait until rising_edge(clk) and msi_en = '1';
    end procedure;
  begin
    rst <= '1';
    for i in 1 to 4 loop
      wait until rising_edge(clk);
    end loop;
    rst <= '0';
    write32(16#0c#, x"00000000");   -- SRC
    write32(16#14#, x"00000000");   -- DST
    write32(16#1c#, x"00100000");   -- SIZE 1 MiB
    write32(16#24#, x"00000001");   -- IRQ_TYPE MSI
    write32(16#28#, x"00000001");   -- IRQ_NUMBER 1
    for r in 1 to ROUNDS loop
      command(x"00000010");         -- WRITE
      command(x"00000008");         -- READ
    end loop;
    report "bare cycles " & integer'image(cycles);
    done <= true;
    wait;
  end process;
end architecture;
