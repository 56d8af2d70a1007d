#!/bin/sh
# SPDX-License-Identifier: MIT
# vpcie-epf-test-verilog (rtl/epf-test, first slice): its Verilog register
# block read and written with `vpcie mmio` (every register, byte lanes, the
# read-only CAPS, the rest of BAR0 reading 0), and `vpcie pcitest`'s BAR
# tests (-b 0..5 and consecutive BARs) with BARs mapped and by messages.
# COMMAND is not implemented in the design yet: no DMA/IRQ case is run.
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

# After reset every register reads 0.
expect "0x00000000 0x00000000 0x00000000" $M 0:0.L 0:8.L 0:3c.L
# Each register keeps its own value (SRC/DST halves, SIZE ... FLAGS, DB_*).
expect "" $M 0:0.L=0badf00d,11,0,c0ffee00,1,dead0000,2,1000,cafe1234,1,5,1
expect "0x0badf00d 0x00000011 0x00000000 0xc0ffee00 0x00000001 0xdead0000 0x00000002 0x00001000 0xcafe1234 0x00000001 0x00000005 0x00000001" \
	$M 0:0.L 0:4.L 0:8.L 0:c.L 0:10.L 0:14.L 0:18.L 0:1c.L 0:20.L 0:24.L 0:28.L 0:2c.L
expect "" $M 0:34.L=3,40,aa55
expect "0x00000003 0x00000040 0x0000aa55" $M 0:34.L 0:38.L 0:3c.L
# CAPS (0x30) is the device's: a write does not change it.
expect "0x00000000" $M 0:30.L=ffffffff 0:30.L
# Byte and 64-bit lanes.
expect "0x0b77f00d 0x77" $M 0:2.B=77 0:0.L 0:2.B
expect "0xc0ffee00cafe1234" $M 0:1c.L=0 0:20.L=cafe1234 0:24.L=c0ffee00 0:20.Q
# Past the register block, BAR0 reads 0 and ignores writes.
expect "0x00000000 0x00000000" $M 0:40.L=12345678 0:40.L 0:1fc.L

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

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ] && ok || fail "device exit status $rc on SIGTERM: $(cat "$tmp/dev.log")"
[ ! -e "$sock" ] && ok || fail "socket left behind"

echo "rtl-epf: $passes passed, $fails failed"
[ "$fails" = 0 ]
