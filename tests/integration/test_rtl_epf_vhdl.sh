#!/bin/sh
# SPDX-License-Identifier: MIT
# vpcie-epf-test-vhdl: pci-epf-test's register block and DMA engine in VHDL
# (rtl/epf-test/epf_test.vhd) simulated by GHDL behind the RTL bridge.
#  - registers with `vpcie mmio` (byte lanes, read-only CAPS, the rest 0);
#  - the engine's error paths: a source range that wraps, a DMA read the
#    host refuses (cpl_err), an unknown IRQ type, the doorbell commands;
#  - `vpcie pcitest`'s whole matrix (2122 cases: BARs, INTx, MSI 1-32,
#    MSI-X 1-2048, READ/WRITE/COPY of 1 B .. 1 MB with and without
#    USE_DMA), with shared memory and with DMA messages;
#  - the idle device sleeps (< 1% of a core over 2 s after traffic);
#  - --wave writes a VCD and a GHW file; --msix N; SIGTERM exits 0 and
#    removes the socket.
#
# Environment (set by meson): VPCIE = the vpcie tool, VPCIE_EPF_VHDL = the
# device program. Exit 0 pass, 1 fail.
set -u

: "${VPCIE:?VPCIE must name the vpcie tool}"
: "${VPCIE_EPF_VHDL:?VPCIE_EPF_VHDL must name vpcie-epf-test-vhdl}"

. "$(dirname "$0")/lib.sh"
test_setup rtl-epf-vhdl
sock="$tmp/s.sock"
# GHDL on a loaded 2-CPU machine runs ~100k cycles/s: generous timeouts.
T=60000

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

# status_is WANT: STATUS (0x08) reads WANT within a few seconds (the command
# runs after the write that started it was answered)
status_is() {
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		got=$("$VPCIE" $M 0:8.L 2>"$tmp/err")
		[ "$got" = "$1" ] && { ok; return; }
		sleep 0.3
	done
	fail "STATUS $got, want $1: $(cat "$tmp/err")"
}

# pcitest_ok WANT ARGS...: `vpcie pcitest ARGS` prints "WANT passed, 0 failed"
pcitest_ok() {
	want=$1
	shift
	out=$("$VPCIE" pcitest --socket "$sock" --timeout "$T" "$@" 2>&1)
	if printf '%s\n' "$out" | grep -qx "$want passed, 0 failed"; then
		ok
	else
		fail "pcitest $*: $(printf '%s\n' "$out" | grep -v 'OKAY$' | head -20)"
	fi
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

"$VPCIE_EPF_VHDL" --help >"$tmp/help" 2>&1 && grep -qF -- "--socket" "$tmp/help" &&
	grep -qF -- "--wave" "$tmp/help" && ok || fail "--help"

"$VPCIE_EPF_VHDL" --socket "$sock" 2>"$tmp/dev.log" &
pid=$!
M="mmio --socket $sock --wait 10000 --timeout $T"

# After reset: registers 0, CAPS = UNALIGNED_ACCESS | MSI | MSIX | INTX.
expect "0x00000000 0x00000000 0x00000000 0x0000000f" $M 0:0.L 0:8.L 0:3c.L 0:30.L
# Each register keeps its own value (COMMAND aside: writing it runs a command).
expect "" $M 0:0.L=0badf00d 0:c.L=c0ffee00,1,dead0000,2,1000,cafe1234,1,5,1
expect "0x0badf00d 0xc0ffee00 0x00000001 0xdead0000 0x00000002 0x00001000 0xcafe1234 0x00000001 0x00000005 0x00000001" \
	$M 0:0.L 0:c.L 0:10.L 0:14.L 0:18.L 0:1c.L 0:20.L 0:24.L 0:28.L 0:2c.L
expect "" $M 0:34.L=3,40,aa55
expect "0x00000003 0x00000040 0x0000aa55" $M 0:34.L 0:38.L 0:3c.L
# CAPS (0x30) is the device's: a write does not change it.
expect "0x0000000f" $M 0:30.L=ffffffff 0:30.L
# Byte and 64-bit lanes.
expect "0x0b77f00d 0x77" $M 0:2.B=77 0:0.L 0:2.B
expect "0xc0ffee00cafe1234" $M 0:1c.L=0 0:20.L=cafe1234 0:24.L=c0ffee00 0:20.Q
# Past the register block the design's BAR0 reads 0 and ignores writes.
expect "0x00000000 0x00000000" $M 0:40.L=12345678 0:40.L 0:7c.L

# Error paths of the engine (IRQ_TYPE MSI, vector 1: this host enabled no
# MSI, so the interrupt itself is dropped by the runtime).
# READ of a range that wraps the address space: READ_FAIL | IRQ_RAISED |
# SRC_ADDR_INVALID, COMMAND cleared, no DMA.
expect "" $M 0:24.L=1,1 0:c.L=fffffff0,ffffffff 0:1c.L=100 0:4.L=8
status_is 0x000000c2
expect "0x00000000" $M 0:4.L
# READ of host memory the host never registered: the bridge answers the DMA
# read with an error completion (cpl_err), the engine fails it the same way.
expect "" $M 0:8.L=0 0:c.L=1000,0 0:1c.L=40 0:4.L=8
status_is 0x000000c2
# COPY whose destination wraps: COPY_FAIL | IRQ_RAISED | DST_ADDR_INVALID.
expect "" $M 0:8.L=0 0:14.L=ffffff00,ffffffff 0:1c.L=200 0:4.L=20
status_is 0x00000160
# Doorbell commands fail (no doorbell here): DOORBELL_(EN|DIS)ABLE_FAIL | IRQ_RAISED.
expect "" $M 0:4.L=40
status_is 0x00000840
expect "" $M 0:4.L=80
status_is 0x00002040
# An unknown IRQ type: the command is dropped (STATUS cleared, nothing raised).
expect "" $M 0:24.L=7 0:4.L=10
status_is 0x00000000
expect "" $M 0:24.L=1

# pcitest: BARs, every interrupt kind, transfers; mapped memory and messages.
for mode in "" "--no-shared"; do
	pcitest_ok 2122 $mode
done

# Idle: the clock stops after the tail; the process blocks in its loop.
sleep 0.5
a=$(cpu_ticks "$pid")
sleep 2
b=$(cpu_ticks "$pid")
hz=$(getconf CLK_TCK)
# 1% of a core over 2 s is hz/50 ticks; allow that (at least 1 tick of jitter).
lim=$((hz / 50))
[ "$lim" -ge 1 ] || lim=1
[ $((b - a)) -le "$lim" ] && ok || fail "idle device used $((b - a)) ticks of $((2 * hz)) in 2 s"

stop_device
[ ! -e "$sock" ] && ok || fail "socket left behind"

# Waveforms: VCD and GHW of a short WRITE, complete after SIGTERM.
for w in w.vcd w.ghw; do
	"$VPCIE_EPF_VHDL" --socket "$sock" --wave "$tmp/$w" 2>"$tmp/dev.log" &
	pid=$!
	"$VPCIE" mmio --socket "$sock" --wait 10000 0:0.L >/dev/null 2>&1 || fail "--wave $w: no device"
	pcitest_ok 1 -s 64 -w
	stop_device
	case $w in
	*.vcd) grep -q 'enddefinitions' "$tmp/$w" && grep -q ' mwr_en ' "$tmp/$w" && ok ||
		fail "$w: not a VCD with mwr_en" ;;
	*.ghw) head -c 16 "$tmp/$w" | grep -q 'GHDLwave' && ok || fail "$w: not a GHW file" ;;
	esac
done

# --msix N: the MSI-X capability and table sized to N vectors (the guest
# test's second boot uses it when the platform grants fewer than 2048).
"$VPCIE_EPF_VHDL" --msix 0 --socket "$sock" 2>/dev/null
[ $? = 2 ] && ok || fail "--msix 0 accepted"
"$VPCIE_EPF_VHDL" --msix 3 --socket "$sock" 2>"$tmp/dev.log" &
pid=$!
"$VPCIE" mmio --socket "$sock" --wait 10000 0:0.L >/dev/null 2>&1 || fail "--msix 3: no device"
pcitest_ok 1 -x 3
out=$("$VPCIE" pcitest --socket "$sock" -x 4 2>&1)
printf '%s\n' "$out" | grep -q 'MSI-X4 is disabled (3 vectors)' && ok || fail "--msix 3, -x 4: $out"
stop_device

test_finish
