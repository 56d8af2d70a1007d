-- SPDX-License-Identifier: MIT
-- pci-epf-test in VHDL: the register block of BAR0 and the function's DMA
-- engine, with the behaviour of the C device (devices/epf-test,
-- docs/epf-test.md) as Linux's pci_endpoint_test driver sees it.
--
-- Registers (32-bit, BAR0 0x00..0x3c, plain read/write for the host):
-- MAGIC, COMMAND, STATUS, LOWER/UPPER_SRC_ADDR, LOWER/UPPER_DST_ADDR, SIZE,
-- CHECKSUM, IRQ_TYPE, IRQ_NUMBER, FLAGS, CAPS (read-only), DB_BAR,
-- DB_OFFSET, DB_DATA; the rest of the design's BAR0 space reads 0 (the
-- MSI-X table and PBA above 0x80 are the C runtime's).
--
-- When COMMAND is non-zero the engine clears COMMAND and STATUS and runs
-- the first command bit in pci-epf-test's order:
--   RAISE_LEGACY  STATUS = IRQ_RAISED, INTx pulse
--   WRITE         SIZE bytes of pseudo-random data (xorshift64, PAYLOAD_W
--                 bits a beat) DMA-written to DST; CHECKSUM = their crc32_le(~0)
--   READ          SIZE bytes DMA-read from SRC (requests of up to 4 KiB);
--                 READ_SUCCESS if their crc32_le(~0) equals CHECKSUM
--   COPY          SIZE bytes from SRC to DST, each completion beat written
--                 on as it arrives (cut-through)
--   RAISE_MSI/_MSIX  STATUS = IRQ_RAISED, vector IRQ_NUMBER - 1
--   (EN|DIS)ABLE_DOORBELL  *_FAIL: no doorbell in this function
-- After a transfer STATUS gets the result bit and IRQ_RAISED, then the
-- interrupt of IRQ_TYPE goes out (INTx pulse, or MSI/MSI-X vector
-- IRQ_NUMBER - 1; the bridge delivers DMA data before it). A range that
-- wraps the 64-bit address space fails with SRC/DST_ADDR_INVALID without
-- DMA, and so does a DMA read the host refuses (cpl_err). IRQ_TYPE > 2:
-- nothing runs (pci-epf-test: "failed to detect IRQ type").
library ieee;
use ieee.std_logic_1164.all;
use ieee.numeric_bit.all;  -- the datapath is 2-valued: much faster in GHDL
use work.vpcie_pkg.all;

entity epf_test is
  generic (
    PAYLOAD_W : natural := 256;
    -- CAPS: UNALIGNED_ACCESS | MSI | MSIX | INTX, as vpcie-epf-test
    CAPS_VALUE : std_ulogic_vector(31 downto 0) := x"0000000f";
    INTX_PULSE : natural := 64);  -- cycles the INTx line stays asserted
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

architecture rtl of epf_test is
  constant BEAT : natural := PAYLOAD_W / 8;   -- bytes per DMA beat
  constant CHUNK : natural := 4096;           -- bytes per DMA read request

  -- register indexes (offset / 4)
  constant R_COMMAND : natural := 1;
  constant R_STATUS : natural := 2;
  constant R_LSRC : natural := 3;
  constant R_USRC : natural := 4;
  constant R_LDST : natural := 5;
  constant R_UDST : natural := 6;
  constant R_SIZE : natural := 7;
  constant R_CHECKSUM : natural := 8;
  constant R_IRQ_TYPE : natural := 9;
  constant R_IRQ_NUMBER : natural := 10;
  constant R_CAPS : natural := 12;

  -- COMMAND and STATUS bits
  constant C_RAISE_LEGACY : natural := 0;
  constant C_RAISE_MSI : natural := 1;
  constant C_RAISE_MSIX : natural := 2;
  constant C_READ : natural := 3;
  constant C_WRITE : natural := 4;
  constant C_COPY : natural := 5;
  constant C_EN_DOORBELL : natural := 6;
  constant C_DIS_DOORBELL : natural := 7;
  constant S_READ_OK : natural := 0;
  constant S_READ_FAIL : natural := 1;
  constant S_WRITE_OK : natural := 2;
  constant S_WRITE_FAIL : natural := 3;
  constant S_COPY_OK : natural := 4;
  constant S_COPY_FAIL : natural := 5;
  constant S_IRQ_RAISED : natural := 6;
  constant S_SRC_INVALID : natural := 7;
  constant S_DST_INVALID : natural := 8;
  constant S_DB_ENABLE_FAIL : natural := 11;
  constant S_DB_DISABLE_FAIL : natural := 13;

  subtype word is bit_vector(31 downto 0);
  type reg_file is array (0 to 15) of word;
  type crc_table_t is array (0 to 255) of word;
  type count is range 0 to 2**33;  -- byte counts (SIZE is 32-bit)

  -- crc32_le's table: reflected polynomial 0xedb88320, one byte a step.
  function make_crc_table return crc_table_t is
    variable t : crc_table_t;
    variable c : word;
  begin
    for n in 0 to 255 loop
      c := bit_vector(to_unsigned(n, 32));
      for k in 0 to 7 loop
        if c(0) = '1' then
          c := (c srl 1) xor x"edb88320";
        else
          c := c srl 1;
        end if;
      end loop;
      t(n) := c;
    end loop;
    return t;
  end function;
  constant CRC_TABLE : crc_table_t := make_crc_table;

  -- crc32_le(crc, first n bytes of d) (lane 0 = bits 7..0 first), no final
  -- inversion, as Linux's crc32_le.
  function crc_update(crc : word; d : bit_vector; n : natural) return word is
    variable c : word := crc;
    variable idx : natural;
    alias dd : bit_vector(d'length - 1 downto 0) is d;
  begin
    for k in 0 to d'length / 8 - 1 loop
      exit when k >= n;
      idx := 0;
      for i in 7 downto 0 loop
        idx := 2 * idx + bit'pos(dd(8 * k + i) xor c(i));
      end loop;
      c := (c srl 8) xor CRC_TABLE(idx);
    end loop;
    return c;
  end function;

  function xorshift64(x : bit_vector(63 downto 0)) return bit_vector is
    variable v : bit_vector(63 downto 0) := x;
  begin
    v := v xor (v sll 13);
    v := v xor (v srl 7);
    v := v xor (v sll 17);
    return v;
  end function;

  -- the random data of one beat: 64-bit words from the generator's state
  -- (rotated and tweaked per word, so that no two lanes repeat)
  function beat_data(x : bit_vector(63 downto 0)) return bit_vector is
    variable r : bit_vector(PAYLOAD_W - 1 downto 0);
    variable w : bit_vector(63 downto 0);
  begin
    for k in 0 to (PAYLOAD_W + 63) / 64 - 1 loop
      w := (x rol (13 * k)) xor bit_vector(to_unsigned(k, 64));
      for i in 0 to 63 loop
        if 64 * k + i < PAYLOAD_W then
          r(64 * k + i) := w(i);
        end if;
      end loop;
    end loop;
    return r;
  end function;

  function to_count(v : word) return count is
  begin
    return count(to_integer(unsigned(v(30 downto 0)))) + 2**31 * bit'pos(v(31));
  end function;

  -- a range that wraps the 64-bit bus address space
  function wraps64(a : unsigned(63 downto 0); len : word) return boolean is
  begin
    return unsigned(len) /= 0 and a + (resize(unsigned(len), 64) - 1) < a;
  end function;

  function min(a : count; b : natural) return natural is
  begin
    if a < count(b) then
      return natural(a);
    end if;
    return b;
  end function;

  type state_t is (IDLE, RD_REQ, RD_CPL, RD_CHECK, WR_BEAT, CP_REQ, CP_DATA,
                   RAISE, MSI, PULSE);

  signal regs : reg_file;
  signal state : state_t;
  signal size, off : count;            -- bytes of the transfer, done
  signal chunk_end : count;            -- off at the end of the read request
  signal rd_addr, wr_addr : unsigned(63 downto 0);  -- next DMA addresses
  signal crc : word;
  signal rng : bit_vector(63 downto 0);
  signal tag : unsigned(7 downto 0);
  signal pulse_left : natural range 0 to INTX_PULSE;
  signal rep_en_q : std_ulogic;
  signal rep_tag_q : std_ulogic_vector(7 downto 0);
  signal rep_data_q : std_ulogic_vector(63 downto 0);
  signal beat_n : natural range 0 to BEAT;       -- bytes of WRITE's next beat
  signal wr_data : bit_vector(PAYLOAD_W - 1 downto 0);
begin
  req_rdy <= '1';
  rep_en <= rep_en_q;
  rep_tag <= rep_tag_q;
  rep_data <= rep_data_q;

  beat_n <= min(size - off, BEAT) when state = WR_BEAT else 0;
  wr_data <= beat_data(rng);

  -- DMA write: WRITE's beats from the generator; COPY passes each
  -- completion beat straight on (taken when the write is).
  mwr_en <= '1' when state = WR_BEAT else
            cpl_en and not cpl_err when state = CP_DATA else '0';
  mwr_addr <= to_stdulogicvector(bit_vector(wr_addr));
  mwr_size <= to_stdulogicvector(bit_vector(to_unsigned(beat_n, 16))) when state = WR_BEAT
              else cpl_size;
  mwr_data <= to_stdulogicvector(wr_data) when state = WR_BEAT else cpl_data;
  cpl_rdy <= mwr_rdy when state = CP_DATA else '1';

  mrd_en <= '1' when state = RD_REQ or state = CP_REQ else '0';
  mrd_addr <= to_stdulogicvector(bit_vector(rd_addr));
  mrd_len <= to_stdulogicvector(bit_vector(to_unsigned(min(size - off, CHUNK), 32)))
             when state = RD_REQ or state = CP_REQ else (others => '0');
  mrd_tag <= to_stdulogicvector(bit_vector(tag));

  msi_en <= '1' when state = MSI else '0';
  msi_vec <= to_stdulogicvector(bit_vector(unsigned(regs(R_IRQ_NUMBER)(15 downto 0)) - 1));
  intx <= '1' when state = PULSE else '0';
  busy <= '0' when state = IDLE else '1';

  process (clk)
    variable r : reg_file;
    variable lo, hi : natural range 0 to 15;
    variable cmd : word;
    variable n : natural;
    variable wraps : boolean;
    variable d : bit_vector(63 downto 0);
    variable be : bit_vector(7 downto 0);
    variable src, dst : unsigned(63 downto 0);
  begin
    if rising_edge(clk) then
      if rst = '1' then
        regs <= (others => (others => '0'));
        regs(R_CAPS) <= to_bitvector(CAPS_VALUE);
        state <= IDLE;
        rep_en_q <= '0';
        rep_tag_q <= (others => '0');
        rep_data_q <= (others => '0');
        size <= 0;
        off <= 0;
        chunk_end <= 0;
        rd_addr <= (others => '0');
        wr_addr <= (others => '0');
        crc <= (others => '1');
        rng <= x"9e3779b97f4a7c15";
        tag <= (others => '0');
        pulse_left <= 0;
      else
        r := regs;
        rep_en_q <= '0';

        -- host accesses: BAR0 0x00..0x3f; reads answer the next cycle
        if req_en = '1' then
          lo := 2 * to_integer(unsigned(to_bitvector(req_addr(5 downto 3))));
          hi := lo + 1;
          if req_wr = '1' and req_bar = "000" and unsigned(to_bitvector(req_addr(63 downto 6))) = 0 then
            d := to_bitvector(req_data);
            be := to_bitvector(req_be);
            for b in 0 to 3 loop
              if be(b) = '1' and lo /= R_CAPS then
                r(lo)(8 * b + 7 downto 8 * b) := d(8 * b + 7 downto 8 * b);
              end if;
              if be(b + 4) = '1' and hi /= R_CAPS then
                r(hi)(8 * b + 7 downto 8 * b) := d(8 * b + 39 downto 8 * b + 32);
              end if;
            end loop;
          end if;
          if req_wr = '0' then
            rep_en_q <= '1';
            rep_tag_q <= req_tag;
            if req_bar = "000" and unsigned(to_bitvector(req_addr(63 downto 6))) = 0 then
              rep_data_q <= to_stdulogicvector(bit_vector'(regs(hi) & regs(lo)));
            else
              rep_data_q <= (others => '0');
            end if;
          end if;
        end if;

        case state is
          when IDLE =>
            cmd := regs(R_COMMAND);
            if cmd /= x"00000000" then
              src := unsigned(bit_vector'(regs(R_USRC) & regs(R_LSRC)));
              dst := unsigned(bit_vector'(regs(R_UDST) & regs(R_LDST)));
              r(R_COMMAND) := (others => '0');
              r(R_STATUS) := (others => '0');
              size <= to_count(regs(R_SIZE));
              off <= 0;
              rd_addr <= src;
              wr_addr <= dst;
              crc <= (others => '1');
              if unsigned(regs(R_IRQ_TYPE)) > 2 then
                null;  -- "failed to detect IRQ type": nothing runs
              elsif cmd(C_RAISE_LEGACY) = '1' then
                r(R_STATUS)(S_IRQ_RAISED) := '1';
                pulse_left <= INTX_PULSE;
                state <= PULSE;
              elsif cmd(C_WRITE) = '1' then
                if wraps64(dst, regs(R_SIZE)) then
                  r(R_STATUS)(S_DST_INVALID) := '1';
                  r(R_STATUS)(S_WRITE_FAIL) := '1';
                  state <= RAISE;
                elsif regs(R_SIZE) = x"00000000" then
                  r(R_CHECKSUM) := (others => '1');
                  r(R_STATUS)(S_WRITE_OK) := '1';
                  state <= RAISE;
                else
                  state <= WR_BEAT;
                end if;
              elsif cmd(C_READ) = '1' then
                if wraps64(src, regs(R_SIZE)) then
                  r(R_STATUS)(S_SRC_INVALID) := '1';
                  r(R_STATUS)(S_READ_FAIL) := '1';
                  state <= RAISE;
                elsif regs(R_SIZE) = x"00000000" then
                  state <= RD_CHECK;
                else
                  state <= RD_REQ;
                end if;
              elsif cmd(C_COPY) = '1' then
                wraps := false;
                if wraps64(src, regs(R_SIZE)) then
                  r(R_STATUS)(S_SRC_INVALID) := '1';
                  wraps := true;
                elsif wraps64(dst, regs(R_SIZE)) then
                  r(R_STATUS)(S_DST_INVALID) := '1';
                  wraps := true;
                end if;
                if wraps then
                  r(R_STATUS)(S_COPY_FAIL) := '1';
                  state <= RAISE;
                elsif regs(R_SIZE) = x"00000000" then
                  r(R_STATUS)(S_COPY_OK) := '1';
                  state <= RAISE;
                else
                  state <= CP_REQ;
                end if;
              elsif cmd(C_RAISE_MSI) = '1' or cmd(C_RAISE_MSIX) = '1' then
                -- vector 0 does not exist; a vector the host did not
                -- enable is dropped by the runtime, as on a bus
                if unsigned(regs(R_IRQ_NUMBER)) /= 0 then
                  r(R_STATUS)(S_IRQ_RAISED) := '1';
                  state <= MSI;
                end if;
              elsif cmd(C_EN_DOORBELL) = '1' then
                r(R_STATUS)(S_DB_ENABLE_FAIL) := '1';
                state <= RAISE;
              elsif cmd(C_DIS_DOORBELL) = '1' then
                r(R_STATUS)(S_DB_DISABLE_FAIL) := '1';
                state <= RAISE;
              end if;
            end if;

          when WR_BEAT =>
            if mwr_rdy = '1' then
              crc <= crc_update(crc, wr_data, beat_n);
              rng <= xorshift64(rng);
              off <= off + count(beat_n);
              wr_addr <= wr_addr + beat_n;
              if off + count(beat_n) = size then
                r(R_CHECKSUM) := crc_update(crc, wr_data, beat_n);
                r(R_STATUS)(S_WRITE_OK) := '1';
                state <= RAISE;
              end if;
            end if;

          when RD_REQ | CP_REQ =>
            if mrd_rdy = '1' then
              n := min(size - off, CHUNK);
              chunk_end <= off + count(n);
              rd_addr <= rd_addr + n;
              if state = RD_REQ then
                state <= RD_CPL;
              else
                state <= CP_DATA;
              end if;
            end if;

          when RD_CPL | CP_DATA =>
            if cpl_en = '1' and (state = RD_CPL or mwr_rdy = '1') then
              n := to_integer(unsigned(to_bitvector(cpl_size)));
              if cpl_err = '1' or to_bitvector(cpl_tag) /= bit_vector(tag)
                 or off + count(n) > chunk_end then
                r(R_STATUS)(S_SRC_INVALID) := '1';
                if state = RD_CPL then
                  r(R_STATUS)(S_READ_FAIL) := '1';
                else
                  r(R_STATUS)(S_COPY_FAIL) := '1';
                end if;
                tag <= tag + 1;
                state <= RAISE;
              else
                if state = RD_CPL then
                  crc <= crc_update(crc, to_bitvector(cpl_data), n);
                else
                  wr_addr <= wr_addr + n;
                end if;
                off <= off + count(n);
                if cpl_last = '1' then
                  tag <= tag + 1;
                  if off + count(n) /= chunk_end then  -- short completion
                    r(R_STATUS)(S_SRC_INVALID) := '1';
                    if state = RD_CPL then
                      r(R_STATUS)(S_READ_FAIL) := '1';
                    else
                      r(R_STATUS)(S_COPY_FAIL) := '1';
                    end if;
                    state <= RAISE;
                  elsif off + count(n) = size then
                    if state = RD_CPL then
                      state <= RD_CHECK;
                    else
                      r(R_STATUS)(S_COPY_OK) := '1';
                      state <= RAISE;
                    end if;
                  elsif state = RD_CPL then
                    state <= RD_REQ;
                  else
                    state <= CP_REQ;
                  end if;
                end if;
              end if;
            end if;

          when RD_CHECK =>
            if crc = regs(R_CHECKSUM) then
              r(R_STATUS)(S_READ_OK) := '1';
            else
              r(R_STATUS)(S_READ_FAIL) := '1';
            end if;
            state <= RAISE;

          when RAISE =>
            -- STATUS holds the result; IRQ_RAISED before the interrupt
            r(R_STATUS)(S_IRQ_RAISED) := '1';
            if regs(R_IRQ_TYPE)(1 downto 0) = "00" then
              pulse_left <= INTX_PULSE;
              state <= PULSE;
            elsif unsigned(regs(R_IRQ_NUMBER)) /= 0 then
              state <= MSI;
            else
              state <= IDLE;
            end if;

          when MSI =>
            if msi_rdy = '1' then
              state <= IDLE;
            end if;

          when PULSE =>
            if pulse_left <= 1 then
              state <= IDLE;
            else
              pulse_left <= pulse_left - 1;
            end if;
        end case;
        if r /= regs then
          regs <= r;
        end if;
      end if;
    end if;
  end process;
end architecture;
