#!/bin/sh
# SPDX-License-Identifier: MIT
# `vpcie mmio` and `vpcie setpci` against vpcie-sample: register reads and
# writes in setpci's syntax, BARs assigned when the device has none, and a
# clear message with a non-zero exit status for every kind of error. Where
# pciutils' setpci is installed, `vpcie setpci` must read what setpci reads
# from the same config space (a `vpcie lspci` dump, through setpci's dump
# access method).
#
# Environment (set by meson): VPCIE = the vpcie tool, VPCIE_SAMPLE = the
# sample device. Exit 0 pass, 1 fail.

set -u

: "${VPCIE:?VPCIE must name the vpcie tool}"
: "${VPCIE_SAMPLE:?VPCIE_SAMPLE must name the vpcie-sample program}"

. "$(dirname "$0")/lib.sh"
test_setup mmio
sock="$tmp/s.sock"


# expect WANT_RC WANT_OUT CMD ARGS...: exit status and output (stdout).
expect() {
	want_rc=$1 want_out=${2% }
	shift 2
	out=$("$VPCIE" "$@" 2>"$tmp/err")
	rc=$?
	out=$(printf '%s' "$out" | tr '\n' ' ')
	if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ]; then
		ok
	else
		fail "vpcie $*: status $rc, output '$out' (want $want_rc, '$want_out'); stderr: $(cat "$tmp/err")"
	fi
}

# expect_err WANT_RC TEXT CMD ARGS...: fails with status WANT_RC, prints
# nothing on stdout and TEXT (fixed string) on stderr.
expect_err() {
	want_rc=$1 text=$2
	shift 2
	expect "$want_rc" "" "$@"
	if grep -qF -- "$text" "$tmp/err"; then
		ok
	else
		fail "vpcie $*: stderr '$(cat "$tmp/err")' lacks '$text'"
	fi
}

M="mmio --socket $sock"
P="setpci --socket $sock"

# ---- Usage, and no device ---------------------------------------------------
for cmd in mmio setpci; do
	op=0:0.l
	[ $cmd = setpci ] && op=VENDOR_ID
	"$VPCIE" $cmd --help >"$tmp/help" 2>&1
	if [ $? -eq 0 ] && grep -qF -- "--socket PATH" "$tmp/help"; then ok; else fail "$cmd --help"; fi
	"$VPCIE" --help | grep -q "^  $cmd " && ok || fail "vpcie --help does not list $cmd"
	expect_err 2 "--socket PATH is required" $cmd $op
	expect_err 2 "no operation given" $cmd --socket "$sock"
	expect_err 2 "unknown option" $cmd --socket "$sock" --bogus $op
	expect_err 2 "bad number of milliseconds" $cmd --socket "$sock" --wait x $op
	expect_err 1 "no device at $sock" $cmd --socket "$sock" $op
done

# ---- Syntax errors: found before the device is contacted --------------------
expect_err 2 "want BAR:OFFSET" $M 0x10
expect_err 2 "invalid BAR \"6\"" $M 6:0
expect_err 2 "invalid BAR \"x\"" $M x:0
expect_err 2 "invalid offset \"\"" $M 0:
expect_err 2 "invalid offset \"-4\"" $M 0:-4
expect_err 2 "invalid width \"x\"" $M 0:4.x
expect_err 2 "not aligned" $M 0:2.l
expect_err 2 "not aligned" $M 2:4.q
expect_err 2 "missing value" $M 0:4.l=
expect_err 2 "invalid value \"zz\"" $M 0:4.l=zz
expect_err 2 "invalid value \"\"" $M 0:4.l=1,,2
expect_err 2 "invalid mask \"\"" $M 0:4.l=1:
expect_err 2 "does not fit in 1 byte" $M 0:4.b=100
expect_err 2 "only applies to capabilities" $M 0:4.l@1
expect_err 2 "unknown register \"NOSUCH\"" $P NOSUCH
expect_err 2 "missing width" $P 4
expect_err 2 "missing width" $P CAP_EXP
expect_err 2 "invalid width \"q\"" $P VENDOR_ID.q
expect_err 2 "unaligned register address 1" $P 1.w
expect_err 2 "unaligned register address ff" $P VENDOR_ID+ff.w
expect_err 2 "register 1000 out of range" $P 1000.l
expect_err 2 "invalid offset \"ffff\"" $P ECAP_DSN+ffff.l
expect_err 2 "does not fit in 2 bytes" $P COMMAND=10000
expect_err 2 "only applies to capabilities" $P COMMAND@1
# A bad operation after a good one: nothing runs, not even the good one.
expect_err 2 "invalid width" $M 0:4.l 0:4.z

# ---- Start the device ----------------------------------------------------
VPCIE_LOG=error "$VPCIE_SAMPLE" --socket "$sock" &
pid=$!
if ! "$VPCIE" setpci --socket "$sock" --wait 5000 VENDOR_ID >/dev/null 2>"$tmp/err"; then
	cat "$tmp/err" >&2
	echo "FAIL: vpcie setpci could not reach the sample device" >&2
	exit 1
fi

# ---- setpci: reads -----------------------------------------------------------
expect 0 "1234 " $P VENDOR_ID
expect 0 "5650 " $P DEVICE_ID
expect 0 "1234 5650 " $P vendor_id 2.w
expect 0 "56501234 " $P 0.l
expect 0 "12 " $P VENDOR_ID+1.b
expect 0 "ff000001 " $P REVISION.l
expect 0 "ff00 " $P CLASS_DEVICE
expect 0 "01 " $P INTERRUPT_PIN
# Capabilities (sample: PM at 40, PCIe at 48, MSI at 7c, MSI-X at 94, DSN at 100).
expect 0 "4801 " $P CAP_PM.w
expect 0 "7c10 " $P CAP_EXP.w
expect 0 "7c10 0002 " $P CAP10.w CAP_EXP+2.w@0
expect 0 "003f " $P CAP_MSIX+2.w
expect 0 "00010003 12345678 9abcdef0 " $P ECAP_DSN.l ECAP3+4.l ecap_dsn+8.L
expect_err 1 "capability 10 #1 not found (the device has 1)" $P CAP_EXP.w@1
expect_err 1 "capability 02 #0 not found (the device has 0)" $P CAP_AGP.w
expect_err 1 "extended capability 0001 #0 not found" $P ECAP_AER.l
expect_err 1 "has no register PRIMARY_BUS" $P PRIMARY_BUS
expect_err 1 "has no register CB_CARDBUS_BASE" $P CB_CARDBUS_BASE
# The first failure stops the rest, but what came before it was done.
expect 1 "1234 " $P VENDOR_ID CAP_AGP.w DEVICE_ID

# ---- mmio on a device nobody set up: BARs assigned first ---------------------
expect 0 "0000 " $P COMMAND
expect 0 "00000000 " $P BASE_ADDRESS_0
expect 0 "0x56504349 " $M 0:0x0.l
if [ -s "$tmp/err" ]; then fail "mmio printed on stderr: $(cat "$tmp/err")"; else ok; fi
expect 0 "0007 " $P COMMAND
expect 0 "fe000000 " $P BASE_ADDRESS_0
# Non-posted: a read after a write in the same call sees it; and the next call too.
expect 0 "0xa5a5a5a5 " $M 0:0x4.l=0xa5a5a5a5 0:0x4.l
expect 0 "0xa5a5a5a5 " $M 0:4
expect 0 "0xa5a5a55a " $M 0:4.l=5a:ff 0:4.l
expect 0 "0x12a5a55a " $M 0:4.l=12000000:ff000000 0:4
# Widths on the shared-memory BAR2 (page 0 is trapped; use page 1), lists.
expect 0 "0x2222222211111111 0x22 0x1111 " $M 2:0x1000.l=11111111,22222222 2:1000.q 2:1007.b 2:1002.w
expect 0 "0x0123456789abcdef " $M 2:1008.q=0123456789abcdef 2:1008.Q
expect 0 "0x0123456789abcdef " $M 2:1008.Q=0123456789abcdef:ffffffffffffffff 2:1008.Q
# The I/O BAR.
expect 0 "0x005a" $M 1:10.b=5a 1:10.w
# The last bytes of a BAR, and one past them.
expect 0 "0x00000000 " $M 0:ffc.l
expect_err 1 "0x4 bytes at offset 0x1000 are outside BAR0 (size 0x1000)" $M 0:1000
expect_err 1 "0x8 bytes at offset 0xffc are outside BAR0" $M 0:ffc.l=1,2
expect_err 1 "outside BAR4 (size 0x4000)" $M 4:ffffffffffffffff.b
# BARs the device does not have.
expect_err 1 "BAR3 is the upper half of 64-bit BAR2" $M 3:0
expect_err 1 "the device has no BAR5" $M 5:0.l
# An access the device refuses (its registers are 32-bit only).
expect_err 1 "reading BAR0 at 0x1 (.b)" $M 0:1.b
expect_err 1 "writing BAR0 at 0x4 (.w)" $M 0:4.w=1
expect 0 "0x12a5a55a " $M 0:4

# ---- setpci writes -----------------------------------------------------------
# Decoding off: the device reads all-ones and drops writes; mmio warns.
expect 0 "0000 " $P COMMAND=0 COMMAND
expect 0 "0xffffffff " $M 0:0
grep -qF "memory decoding is off (COMMAND=0000)" "$tmp/err" && ok ||
	fail "no warning about decoding off: $(cat "$tmp/err")"
# With addresses in place mmio does not assign again: decoding stays off.
expect 0 "0000 " $P COMMAND
# Masked write: only the memory-space bit.
expect 0 "0002 " $P COMMAND=ffff:2 COMMAND
expect 0 "0x56504349 " $M 0:0
expect 0 "0007 " $P COMMAND=7 COMMAND
# A BAR register the way an OS sizes it: all-ones reads back the size mask.
expect 0 "fffff000 " $P BASE_ADDRESS_0=ffffffff BASE_ADDRESS_0
expect 0 "fe000000 " $P BASE_ADDRESS_0=fe000000 BASE_ADDRESS_0
# Several values: consecutive registers (here the two bytes of INTERRUPT_LINE
# and INTERRUPT_PIN; the pin is read-only).
expect 0 "0b 01 " $P 3c.b=b,7 INTERRUPT_LINE INTERRUPT_PIN
# Read-only registers keep their value.
expect 0 "1234 " $P VENDOR_ID=ffff VENDOR_ID
# A register in a capability: MSI-X Message Control, Function Mask bit.
expect 0 "403f " $P CAP_MSIX+2.w=4000:4000 CAP_MSIX+2.w
expect 0 "003f " $P CAP_MSIX+2.w=0:4000 CAP_MSIX+2.w
expect 0 "0x56504349 " $M 0:0

# ---- pciutils' setpci reads the same from a dump of the same config space --
SETPCI=$(command -v setpci 2>/dev/null) || SETPCI=
[ -n "$SETPCI" ] || for p in /usr/bin/setpci /usr/sbin/setpci /sbin/setpci; do
	[ -x "$p" ] && SETPCI=$p && break
done
if [ -n "$SETPCI" ] && "$VPCIE" lspci --socket "$sock" -o "$tmp/dump" 2>/dev/null; then
	n=0
	for reg in VENDOR_ID DEVICE_ID COMMAND STATUS REVISION CLASS_PROG CLASS_DEVICE \
		HEADER_TYPE BASE_ADDRESS_0 BASE_ADDRESS_1 BASE_ADDRESS_2 BASE_ADDRESS_3 \
		BASE_ADDRESS_4 BASE_ADDRESS_5 SUBSYSTEM_VENDOR_ID SUBSYSTEM_ID ROM_ADDRESS \
		CAPABILITIES INTERRUPT_LINE INTERRUPT_PIN COMMAND.l VENDOR_ID+1.b 4.w 0x6.w \
		CAP_PM.l CAP_PM+4.w CAP_EXP+4.l CAP_EXP+8.w CAP_MSI+2.w CAP_MSIX+4.l CAP_VNDR.l \
		CAP11+8.l ECAP_DSN+4.l ECAP3.l 100.l ffc.l PRIMARY_BUS CAP_AGP.w CAP_EXP.w@1; do
		want=$("$SETPCI" -A dump -O dump.name="$tmp/dump" -s 00:00.0 "$reg" 2>/dev/null)
		want_rc=$?
		got=$("$VPCIE" setpci --socket "$sock" "$reg" 2>/dev/null)
		got_rc=$?
		# setpci exits 1 for every error; ours are run-time errors here (1).
		if [ "$got" = "$want" ] && [ "$got_rc" = "$want_rc" ]; then
			ok
		else
			fail "$reg: vpcie setpci '$got' (status $got_rc), setpci '$want' (status $want_rc)"
		fi
		n=$((n + 1))
	done
	# Every name we know, setpci knows at the same offset and width.
	"$SETPCI" --dumpregs >"$tmp/setpci.regs" 2>/dev/null
	"$VPCIE" setpci --dumpregs >"$tmp/vpcie.regs"
	missing=$(grep -vxFf "$tmp/setpci.regs" "$tmp/vpcie.regs")
	if [ -z "$missing" ]; then ok; else fail "--dumpregs lines setpci does not have: $missing"; fi
else
	echo "note: pciutils' setpci not found; skipped the comparison with it"
fi

# ---- Stop the device -----------------------------------------------------
kill -TERM "$pid"
wait "$pid"
expect_rc=$?
pid=
if [ "$expect_rc" -eq 0 ]; then ok; else fail "sample exit status $expect_rc after SIGTERM"; fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ] || exit 1
exit 0
