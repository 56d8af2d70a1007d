#!/bin/sh
# SPDX-License-Identifier: MIT
# vpcie-epf-test-verilog (rtl/epf-test): its Verilog register block read
# and written with `vpcie mmio` (every register, byte lanes, the read-only
# CAPS, the rest of BAR0 reading 0); `vpcie pcitest`'s BAR tests with BARs
# mapped and by messages; the whole pcitest matrix (2122 cases: BARs, INTx,
# MSI 1-32, MSI-X 1-2048, READ/WRITE/COPY up to 1024001 bytes with and
# without the DMA flag) with shared memory and with message DMA; and --wave: a VCD with the design's channels that
# shows the DMA read of one transfer; --msix N.
#
# Environment (set by meson): VPCIE = the vpcie tool, VPCIE_EPF_VERILOG =
# the device program. Exit 0 pass, 1 fail.
set -u

: "${VPCIE:?VPCIE must name the vpcie tool}"
: "${VPCIE_EPF_VERILOG:?VPCIE_EPF_VERILOG must name vpcie-epf-test-verilog}"

. "$(dirname "$0")/lib.sh"
test_setup rtl-epf
sock="$tmp/s.sock"


# expect WANT_OUT ARGS...: `vpcie ARGS` succeeds and prints WANT_OUT (lines joined by spaces)
expect() {
	want=$1
	shift
	out=$("$VPCIE" "$@" 2>"$tmp/err")
	rc=$?
	out=$(printf '%s' "$out" | tr '\n' ' ')
	if [ "$rc" = 0 ] && [ "$out" = "${want% }" ]; then
		ok
	else
		fail "vpcie $*: status $rc, output '$out' (want '$want'); stderr: $(cat "$tmp/err")"
	fi
}

"$VPCIE_EPF_VERILOG" --help >"$tmp/help" 2>&1 && grep -qF -- "--socket" "$tmp/help" && ok ||
	fail "--help"

"$VPCIE_EPF_VERILOG" --socket "$sock" 2>"$tmp/dev.log" &
pid=$!
M="mmio --socket $sock --wait 5000"

# After reset every register reads 0 but CAPS (UNALIGNED|MSI|MSI-X|INTX).
expect "0x00000000 0x00000000 0x00000000 0x0000000f" $M 0:0.L 0:8.L 0:3c.L 0:30.L
# Each register keeps its own value (SRC/DST halves, SIZE ... FLAGS, DB_*).
expect "" $M 0:0.L=0badf00d,0,0,c0ffee00,1,dead0000,2,1000,cafe1234,1,5,1
expect "0x0badf00d 0x00000000 0x00000000 0xc0ffee00 0x00000001 0xdead0000 0x00000002 0x00001000 0xcafe1234 0x00000001 0x00000005 0x00000001" \
	$M 0:0.L 0:4.L 0:8.L 0:c.L 0:10.L 0:14.L 0:18.L 0:1c.L 0:20.L 0:24.L 0:28.L 0:2c.L
expect "" $M 0:34.L=3,40,aa55
expect "0x00000003 0x00000040 0x0000aa55" $M 0:34.L 0:38.L 0:3c.L
# CAPS (0x30) is the device's: a write does not change it.
expect "0x0000000f" $M 0:30.L=ffffffff 0:30.L
# Byte and 64-bit lanes.
expect "0x0b77f00d 0x77" $M 0:2.B=77 0:0.L 0:2.B
expect "0xc0ffee00cafe1234" $M 0:1c.L=0 0:20.L=cafe1234 0:24.L=c0ffee00 0:20.Q
# Past the register block, BAR0 reads 0 and ignores writes (0x80-0x817f
# is the runtime's MSI-X table and PBA).
expect "0x00000000 0x00000000 0x00000000" $M 0:40.L=12345678 0:40.L 0:7c.L 0:fff8.L

# pcitest's BAR tests, mapped and by messages.
for mode in "" "--no-mmap"; do
	out=$("$VPCIE" pcitest --socket "$sock" $mode -b 0 -b 1 -b 2 -b 3 -b 4 -b 5 -B 2>&1)
	if printf '%s\n' "$out" | grep -qx "7 passed, 0 failed"; then
		ok
	else
		fail "pcitest $mode BARs: $out"
	fi
done
# The BAR0 test writes MAGIC through the design (the consecutive test left
# its own pattern there).
expect "0xa0000000" $M 0:0.L
"$VPCIE" pcitest --socket "$sock" -b 0 >/dev/null 2>&1 && ok || fail "pcitest -b 0"
expect "0xa0a0a0a0" $M 0:0.L

# The whole matrix: DMA engine, checksum and interrupts in RTL.
for mode in "" "--no-shared"; do
	out=$("$VPCIE" pcitest --socket "$sock" $mode --timeout 20000 2>&1)
	if printf '%s\n' "$out" | grep -qx "2122 passed, 0 failed"; then
		ok
	else
		fail "pcitest $mode matrix: $(printf '%s\n' "$out" | grep -v OKAY | tail -20)"
	fi
done
# (A checksum the design must reject, bad addresses, bus mastering off...:
# meson test rtl-epf-negative.)

stop_device
[ ! -e "$sock" ] && ok || fail "socket left behind"

# --wave: one MSI-signalled READ of 100 bytes (the device writes host memory:
# COMMAND_WRITE) and one WRITE (COMMAND_READ), recorded as VCD.
vcd="$tmp/epf.vcd"
"$VPCIE_EPF_VERILOG" --socket "$sock" --wave "$vcd" 2>"$tmp/dev.log" &
pid=$!
"$VPCIE" $M 0:0.L >/dev/null 2>&1 || fail "--wave: device not answering"
out=$("$VPCIE" pcitest --socket "$sock" -i 1 -r -w -s 100 2>&1)
printf '%s\n' "$out" | grep -qx "3 passed, 0 failed" && ok || fail "pcitest with --wave: $out"
stop_device "--wave"
# A well-formed VCD (header, definitions, increasing times) declaring the
# channels, in which mrd_en, mwr_en, cpl_en and msi_en each rose.
if awk '
	/^\$timescale/ { ts = 1 }
	/^ *\$var / { id[$4] = $5; n++ }
	/^\$enddefinitions/ { defs = 1 }
	/^#[0-9]+$/ { t = substr($0, 2) + 0; if (t < last) bad = 1; last = t; times++ }
	defs && /^[01][^ ]+$/ { v = substr($0, 1, 1); s = id[substr($0, 2)]; if (v == "1") rose[s] = 1 }
	END {
		split("clk rst req_en req_rdy rep_en mwr_en mwr_rdy mwr_addr mwr_data mwr_size mrd_en mrd_rdy mrd_addr mrd_len cpl_en cpl_rdy cpl_data cpl_last msi_en msi_rdy msi_vec irq_mode busy", want, " ")
		for (i in want) { f = 0; for (k in id) if (id[k] == want[i]) f = 1; if (!f) { print "missing " want[i]; bad = 1 } }
		if (!ts || !defs || times < 100 || !rose["mrd_en"] || !rose["mwr_en"] || !rose["msi_en"] || !rose["cpl_en"]) bad = 1
		exit bad
	}' "$vcd"; then
	ok
else
	fail "--wave: $vcd is not the expected VCD ($(wc -c <"$vcd") bytes)"
fi
# The picture script of docs/rtl.md draws the first command from it.
if command -v python3 >/dev/null; then
	python3 "$(dirname "$0")/../../scripts/vcd2svg.py" "$vcd" "$tmp/w.svg" --around busy:1 &&
		grep -q '>mrd_en<' "$tmp/w.svg" && grep -q '<polygon' "$tmp/w.svg" && ok ||
		fail "scripts/vcd2svg.py on $vcd"
fi
if command -v vcd2fst >/dev/null; then
	vcd2fst "$vcd" "$tmp/epf.fst" >/dev/null 2>&1 && [ -s "$tmp/epf.fst" ] && ok ||
		fail "vcd2fst (GTKWave) cannot read $vcd"
fi
"$VPCIE_EPF_VERILOG" --socket "$sock" --wave /nonexistent/dir/x.vcd 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] && grep -q -- "--wave" "$tmp/err" && ok || fail "--wave to a bad path: status $rc"

# --msix N: the MSI-X capability and table sized to N vectors (the guest
# test's second boot uses it when the platform grants fewer than 2048);
# a bad value is refused with the option named, before any socket.
"$VPCIE_EPF_VERILOG" --msix 0 --socket "$sock" 2>"$tmp/err"
rc=$?
[ "$rc" = 2 ] && grep -q -- "--msix '0': MSI-X vectors: 1..2048" "$tmp/err" && [ ! -e "$sock" ] && ok ||
	fail "--msix 0: status $rc: $(cat "$tmp/err")"
grep -qF -- "--msix N" "$tmp/help" && ok || fail "--help lacks --msix"
"$VPCIE_EPF_VERILOG" --msix 3 --socket "$sock" 2>"$tmp/dev.log" &
pid=$!
"$VPCIE" $M 0:0.L >/dev/null 2>&1 || fail "--msix 3: no device"
out=$("$VPCIE" pcitest --socket "$sock" -x 3 2>&1)
printf '%s\n' "$out" | grep -qx "1 passed, 0 failed" && ok || fail "--msix 3, -x 3: $out"
out=$("$VPCIE" pcitest --socket "$sock" -x 4 2>&1)
printf '%s\n' "$out" | grep -q 'MSI-X4 is disabled (3 vectors)' && ok || fail "--msix 3, -x 4: $out"
stop_device "--msix 3"

echo "rtl-epf: $passes passed, $fails failed"
[ "$fails" = 0 ]
