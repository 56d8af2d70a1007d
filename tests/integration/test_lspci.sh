#!/bin/sh
# SPDX-License-Identifier: MIT
# `vpcie lspci` against vpcie-sample: the dump must be in lspci -x format and
# pciutils (`lspci -F dump -vvv`) must decode the sample's IDs, BARs and
# every capability from it.
#
# Environment (set by meson): VPCIE = the vpcie tool, VPCIE_SAMPLE = the
# sample device. Exit 0 pass, 1 fail, 77 skip (pciutils missing, checked
# after our own format checks).

set -u

: "${VPCIE:?VPCIE must name the vpcie tool}"
: "${VPCIE_SAMPLE:?VPCIE_SAMPLE must name the vpcie-sample program}"

. "$(dirname "$0")/lib.sh"
test_setup lspci
sock="$tmp/s.sock"


# expect_line FILE TEXT: FILE has a line containing TEXT (fixed string).
expect_line() {
	if grep -qF -- "$2" "$1"; then ok; else fail "$(basename "$1"): no line with '$2'"; fi
}
# expect_re FILE ERE: FILE has a line matching the extended regex.
expect_re() {
	if grep -qE -- "$2" "$1"; then ok; else fail "$(basename "$1"): no line matching /$2/"; fi
}
# expect_eq WHAT GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', want '$3'"; fi
}

# ---- Errors before any device exists ------------------------------------
"$VPCIE" lspci --socket "$tmp/nothing.sock" >"$tmp/out" 2>"$tmp/err"
expect_eq "exit status without a device" "$?" 1
expect_line "$tmp/err" "no device at $tmp/nothing.sock"
"$VPCIE" lspci >/dev/null 2>&1
expect_eq "exit status without --socket" "$?" 2
"$VPCIE" lspci --socket "$sock" --slot 1:2 >/dev/null 2>&1
expect_eq "exit status with a bad --slot" "$?" 2
"$VPCIE" lspci --help >"$tmp/help" 2>&1
expect_eq "exit status of --help" "$?" 0
expect_line "$tmp/help" "--socket PATH"

# ---- Start the device ----------------------------------------------------
VPCIE_LOG=warn "$VPCIE_SAMPLE" --socket "$sock" &
pid=$!

# Default: the whole config region (4096 bytes for a PCIe device).
if ! "$VPCIE" lspci --socket "$sock" --wait 5000 >"$tmp/dump" 2>"$tmp/err"; then
	cat "$tmp/err" >&2
	echo "FAIL: vpcie lspci could not read the sample device" >&2
	exit 1
fi
# Nobody has set the device up: no BAR has an address, and lspci says what
# that means for `lspci -F` and what to do about it.
expect_line "$tmp/err" "no BAR has an address yet"
expect_line "$tmp/err" "--assign assigns them first"
expect_eq "device line" "$(head -n 1 "$tmp/dump")" "00:00.0 Class ff00: Device 1234:5650 (rev 01)"
expect_eq "hex rows of the default dump" "$(grep -cE '^[0-9a-f]{2,3}: ' "$tmp/dump")" 256
expect_eq "last line is blank" "$(tail -n 1 "$tmp/dump")" ""
expect_line "$tmp/dump" "00: 34 12 50 56 "
# Every row: offset, colon, exactly 16 bytes.
expect_eq "malformed rows" "$(sed -n '2,257p' "$tmp/dump" |
	grep -cvE '^([0-9a-f]{2}|[1-9a-f][0-9a-f]{2}): [0-9a-f]{2}( [0-9a-f]{2}){15}$')" 0
expect_re "$tmp/dump" '^ff0: ([0-9a-f]{2} ){15}[0-9a-f]{2}$'
# DSN extended capability at 0x100: header, then the two dwords little-endian.
expect_line "$tmp/dump" "100: 03 00 01 00 78 56 34 12 f0 de bc 9a"

# -x: 64 bytes; -xxx: 256; -xxxx: 4096 (as lspci).
"$VPCIE" lspci --socket "$sock" -x >"$tmp/d64"
expect_eq "rows with -x" "$(grep -cE '^[0-9a-f]{2,3}: ' "$tmp/d64")" 4
"$VPCIE" lspci --socket "$sock" -xxx >"$tmp/d256"
expect_eq "rows with -xxx" "$(grep -cE '^[0-9a-f]{2,3}: ' "$tmp/d256")" 16
"$VPCIE" lspci --socket "$sock" -xxxx -o "$tmp/d4k" >"$tmp/stdout"
expect_eq "rows with -xxxx -o" "$(grep -cE '^[0-9a-f]{2,3}: ' "$tmp/d4k")" 256
expect_eq "stdout with -o" "$(wc -c <"$tmp/stdout" | tr -d ' ')" 0
cmp -s "$tmp/dump" "$tmp/d4k" && ok || fail "-xxxx differs from the default dump"

# --slot
"$VPCIE" lspci --socket "$sock" -x --slot 3a:1f.7 >"$tmp/dslot"
expect_eq "device line with --slot" "$(head -n 1 "$tmp/dslot")" \
	"3a:1f.7 Class ff00: Device 1234:5650 (rev 01)"
"$VPCIE" lspci --socket "$sock" -x --slot 0001:02:03.4 >"$tmp/ddom"
expect_eq "device line with a domain" "$(head -n 1 "$tmp/ddom")" \
	"0001:02:03.4 Class ff00: Device 1234:5650 (rev 01)"

# -v: BARs sized like an OS does (pciutils cannot know sizes from a dump).
"$VPCIE" lspci --socket "$sock" -v >"$tmp/dv"
expect_line "$tmp/dv" "	Region 0: Memory at <unassigned> (32-bit, non-prefetchable) [disabled] [size=4K]"
expect_line "$tmp/dv" "	Region 1: I/O ports at <unassigned> [disabled] [size=256]"
expect_line "$tmp/dv" "	Region 2: Memory at <unassigned> (64-bit, prefetchable) [disabled] [size=1M]"
expect_line "$tmp/dv" "	Region 4: Memory at <unassigned> (32-bit, non-prefetchable) [disabled] [size=16K]"
expect_line "$tmp/dv" "	Expansion ROM at <unassigned> [disabled] [size=2K]"
expect_line "$tmp/dv" "	Capabilities: [100 v1] Device Serial Number"
# Sizing restored every register: the hex dump is unchanged.
grep -E '^[0-9a-f]{2,3}: ' "$tmp/dv" >"$tmp/dv.hex"
grep -E '^[0-9a-f]{2,3}: ' "$tmp/dump" >"$tmp/dump.hex"
cmp -s "$tmp/dv.hex" "$tmp/dump.hex" && ok || fail "-v changed config space"

# --assign: addresses programmed (where is the host runtime's choice:
# memory from 0xfe000000, I/O from 0xc000), decoding on.
"$VPCIE" lspci --socket "$sock" --assign -v -o "$tmp/dassign" 2>"$tmp/err"
expect_eq "stderr with --assign" "$(cat "$tmp/err")" ""
# Addresses stay assigned: no note any more.
"$VPCIE" lspci --socket "$sock" -x >/dev/null 2>"$tmp/err"
expect_eq "stderr once BARs have addresses" "$(cat "$tmp/err")" ""
addr_of() { # addr_of FILE 'Region 0' -> the address printed after "at "
	sed -n "s/^	$2: [A-Za-z/ ]* at \([0-9a-f]*\) .*/\1/p" "$1" | head -n 1
}
a0=$(addr_of "$tmp/dassign" "Region 0")
a1=$(addr_of "$tmp/dassign" "Region 1")
a2=$(addr_of "$tmp/dassign" "Region 2")
a4=$(addr_of "$tmp/dassign" "Region 4")
arom=$(sed -n 's/^	Expansion ROM at \([0-9a-f]*\) .*/\1/p' "$tmp/dassign")
expect_re "$tmp/dassign" '^	Region 0: Memory at fe[0-9a-f]{6} \(32-bit, non-prefetchable\) \[size=4K\]$'
expect_re "$tmp/dassign" '^	Region 1: I/O ports at c[0-9a-f]{3} \[size=256\]$'
expect_re "$tmp/dassign" '^	Region 2: Memory at [0-9a-f]{8,16} \(64-bit, prefetchable\) \[size=1M\]$'
expect_re "$tmp/dassign" '^	Region 4: Memory at fe[0-9a-f]{6} \(32-bit, non-prefetchable\) \[size=16K\]$'
expect_re "$tmp/dassign" '^	Expansion ROM at fe[0-9a-f]{6} \[disabled\] \[size=2K\]$'
# Natural alignment of what was assigned.
for pair in "$a0:4096" "$a1:256" "$a2:1048576" "$a4:16384" "$arom:2048"; do
	a=${pair%%:*} sz=${pair##*:}
	if [ -n "$a" ] && [ $((0x$a % sz)) -eq 0 ]; then ok; else fail "address '$a' not aligned to $sz"; fi
done

# ---- pciutils decodes both dumps -----------------------------------------
have_lspci=yes
LSPCI=$(command -v lspci 2>/dev/null) || LSPCI=
if [ -z "$LSPCI" ]; then
	for p in /usr/bin/lspci /usr/sbin/lspci /sbin/lspci /bin/lspci; do
		[ -x "$p" ] && LSPCI=$p && break
	done
fi
[ -n "$LSPCI" ] || have_lspci=no

if [ "$have_lspci" = yes ]; then
	# Unassigned BARs: 32-bit non-prefetchable ones (all-zero registers) and
	# a disabled ROM are invisible to lspci, which prints only BARs with a
	# non-zero register; the I/O and 64-bit ones show their type.
	if ! "$LSPCI" -F "$tmp/dump" -vvv >"$tmp/dec" 2>"$tmp/dec.err"; then
		cat "$tmp/dec.err" >&2
		fail "lspci -F refused the default dump"
	fi
	d="$tmp/dec"
	expect_re "$d" '^00:00\.0 .*: Device 1234:5650 \(rev 01\)$'
	expect_line "$d" "	Subsystem: Device 1234:0001"
	expect_re "$d" '^	Region 1: I/O ports at (<unassigned>|[0-9a-f]+)( \[(disabled|virtual)\])*( \[size=256\])?$'
	expect_re "$d" '^	Region 2: Memory at (<unassigned>|[0-9a-f]+) \(64-bit, prefetchable\)( \[(disabled|virtual)\])*( \[size=1M\])?$'
	expect_line "$d" "	Capabilities: [40] Power Management version 3"
	expect_line "$d" "	Capabilities: [48] Express (v2) Endpoint, MSI 00"
	expect_re "$d" '^		DevCap:.*'
	expect_re "$d" 'RBE\+ FLReset\+'
	expect_line "$d" "	Capabilities: [7c] MSI: Enable- Count=1/32 Maskable+ 64bit+"
	expect_line "$d" "	Capabilities: [94] MSI-X: Enable- Count=64 Masked-"
	expect_line "$d" "		Vector table: BAR=4 offset=00000000"
	expect_line "$d" "		PBA: BAR=4 offset=00002000"
	expect_line "$d" "	Capabilities: [a0] Vendor Specific Information: Len=07"
	# The DSN is printed high dword first: {0x12345678 (low), 0x9abcdef0 (high)}.
	expect_line "$d" "	Capabilities: [100 v1] Device Serial Number 9a-bc-de-f0-12-34-56-78"
	if grep -q "<access denied>\|<chain broken>\|<chain looped>" "$d"; then
		fail "lspci could not follow the capability lists"
	else
		ok
	fi

	# The -v dump (decoded lines between device line and rows) and the
	# assigned one: all five address ranges visible.
	"$LSPCI" -F "$tmp/dv" -vvv >"$tmp/decv" 2>/dev/null || fail "lspci -F refused the -v dump"
	expect_line "$tmp/decv" "Device Serial Number 9a-bc-de-f0-12-34-56-78"
	if ! "$LSPCI" -F "$tmp/dassign" -vvv >"$tmp/deca" 2>"$tmp/dec.err"; then
		cat "$tmp/dec.err" >&2
		fail "lspci -F refused the assigned dump"
	fi
	d="$tmp/deca"
	expect_line "$d" "	Control: I/O+ Mem+ BusMaster+"
	expect_re "$d" "^	Region 0: Memory at $a0 \\(32-bit, non-prefetchable\\)( \\[virtual\\])?( \\[size=4K\\])?\$"
	expect_re "$d" "^	Region 1: I/O ports at $a1( \\[virtual\\])?( \\[size=256\\])?\$"
	expect_re "$d" "^	Region 2: Memory at $a2 \\(64-bit, prefetchable\\)( \\[virtual\\])?( \\[size=1M\\])?\$"
	expect_re "$d" "^	Region 4: Memory at $a4 \\(32-bit, non-prefetchable\\)( \\[virtual\\])?( \\[size=16K\\])?\$"
	expect_re "$d" "^	Expansion ROM at $arom( \\[virtual\\])? \\[disabled\\]( \\[size=2K\\])?\$"
fi

# ---- Stop the device: SIGTERM, exit 0, socket removed ---------------------
kill -TERM "$pid"
wait "$pid"
expect_eq "sample exit status after SIGTERM" "$?" 0
pid=
if [ -e "$sock" ]; then fail "socket $sock left behind"; else ok; fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ] || exit 1
if [ "$have_lspci" = no ]; then
	echo "SKIP: pciutils' lspci not found (Debian: apt-get install pciutils); format checks passed"
	exit 77
fi
exit 0
