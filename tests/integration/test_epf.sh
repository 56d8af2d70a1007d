#!/bin/sh
# SPDX-License-Identifier: MIT
# `vpcie pcitest` against vpcie-epf-test: the whole pcitest.sh matrix with
# shared host memory, with message DMA (--no-shared) and with BARs through
# messages only (--no-mmap); JSON output; a device with fewer vectors and a
# disabled BAR; data transfers signalled by INTx and MSI-X; the failure exit
# status; clean exit on SIGTERM.
#
# Environment (set by meson): VPCIE = the vpcie tool, VPCIE_EPF = the
# vpcie-epf-test program. Exit 0 pass, 1 fail.

set -u

: "${VPCIE:?VPCIE must name the vpcie tool}"
: "${VPCIE_EPF:?VPCIE_EPF must name the vpcie-epf-test program}"

. "$(dirname "$0")/lib.sh"
test_setup epf
sock="$tmp/epf.sock"
MATRIX=2122 # 6 BAR + 1 BARS + 2 legacy + 33 MSI + 2049 MSI-X + 1 + 30 transfers

expect_eq() {
	if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', want '$3'"; fi
}
expect_line() {
	if grep -qE -- "$2" "$1"; then ok; else fail "$(basename "$1"): no line matching /$2/"; fi
}
no_line() {
	if grep -qE -- "$2" "$1"; then fail "$(basename "$1"): unexpected /$2/: $(grep -E -- "$2" "$1" | head -3)"; else ok; fi
}

start_dev() {
	"$VPCIE_EPF" --socket "$sock" "$@" 2>>"$tmp/dev.log" &
	pid=$!
}

stop_dev() {
	kill -TERM "$pid"
	wait "$pid"
	expect_eq "device exit status on SIGTERM" "$?" 0
	pid=
	if [ -e "$sock" ]; then fail "socket file left behind"; else ok; fi
}

# pcitest NAME ARGS...: run, keep output in $tmp/NAME.out, status in $rc.
pcitest() {
	name=$1
	shift
	"$VPCIE" pcitest --socket "$sock" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
}

# matrix NAME ARGS...: the full matrix must pass.
matrix() {
	name=$1
	t0=$(now_ms)
	pcitest "$@"
	t1=$(now_ms)
	echo "matrix $name: $((t1 - t0)) ms" >&2
	expect_eq "$name exit status" "$rc" 0
	expect_line "$tmp/$name.out" "^$MATRIX passed, 0 failed\$"
	no_line "$tmp/$name.out" "NOT OKAY"
	expect_eq "$name OKAY lines" "$(grep -c 'OKAY$' "$tmp/$name.out")" "$MATRIX"
	expect_line "$tmp/$name.out" "^READ \(1024001 bytes, DMA\):.*OKAY\$"
	expect_line "$tmp/$name.out" "^MSI-X2048:.*OKAY\$"
	expect_line "$tmp/$name.out" "^CONSECUTIVE BARS:.*OKAY\$"
}

# --help works for both programs.
"$VPCIE_EPF" --help >"$tmp/h1" 2>&1
expect_eq "vpcie-epf-test --help" "$?" 0
"$VPCIE" pcitest --help >"$tmp/h2" 2>&1
expect_eq "vpcie pcitest --help" "$?" 0
"$VPCIE" pcitest --bogus >"$tmp/h3" 2>&1
expect_eq "vpcie pcitest bad option" "$?" 2
"$VPCIE_EPF" --socket "$sock" --msi 3 >"$tmp/h4" 2>&1
expect_eq "vpcie-epf-test --msi 3" "$?" 2

# 1. Default device: the matrix three ways, one client after the other.
start_dev
matrix shared
matrix message --no-shared
matrix nommap --no-shared --no-mmap

# JSON: a few cases; valid JSON with the counts.
pcitest json --json --no-shared -i 2 -r -w -c -s 4097 -d -x 2048
expect_eq "json exit status" "$rc" 0
expect_line "$tmp/json.err" "^5 passed, 0 failed\$"
if command -v python3 >/dev/null 2>&1; then
	python3 - "$tmp/json.out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["passed"] == 5 and d["failed"] == 0, d
assert [r["case"] for r in d["results"]] == ["SET_IRQ_TYPE", "READ", "WRITE", "COPY", "MSI-X"], d
assert all(r["result"] == "OKAY" for r in d["results"]), d
assert d["results"][1]["size"] == 4097 and d["results"][1]["dma"] is True, d
assert d["shared"] is False and d["dma_served"] > 0, d
EOF
	expect_eq "json content" "$?" 0
else
	expect_line "$tmp/json.out" '"failed":0'
fi

# Transfers signalled by INTx.
pcitest intx -i 0 -l -r -w -c -s 1000
expect_eq "INTx transfers exit status" "$rc" 0
expect_line "$tmp/intx.out" "^5 passed, 0 failed\$"
stop_dev

# 2. Fewer vectors and a disabled BAR: those cases are skipped, not failed.
start_dev --msi 4 --msix 64 --bar-size 3=0 --bar-size 5=4M --vendor 0x104c --device 0xb500
pcitest small
expect_eq "small device exit status" "$rc" 0
expect_line "$tmp/small.out" "^BAR3:.*SKIPPED"
expect_line "$tmp/small.out" "^BAR5:.*OKAY\$"
expect_line "$tmp/small.out" "^MSI4:.*OKAY\$"
expect_line "$tmp/small.out" "^MSI5:.*SKIPPED"
expect_line "$tmp/small.out" "^MSI-X64:.*OKAY\$"
expect_line "$tmp/small.out" "^MSI-X65:.*SKIPPED"
expect_line "$tmp/small.out" "^2013 skipped\$"
expect_line "$tmp/small.out" "^109 passed, 0 failed\$"
stop_dev

# 3. No MSI at all: setting the MSI type fails -> NOT OKAY and exit 1.
start_dev --msi 0
pcitest nomsi -i 1 -m 1 -i 0 -l
expect_eq "no-MSI exit status" "$rc" 1
expect_line "$tmp/nomsi.out" "^SET IRQ TYPE TO MSI:.*NOT OKAY"
expect_line "$tmp/nomsi.out" "^LEGACY IRQ:.*OKAY\$"
expect_line "$tmp/nomsi.out" "^2 passed, 2 failed\$"
stop_dev

echo "$passes checks passed, $fails failed"
[ "$fails" -eq 0 ]
