#!/bin/sh
# SPDX-License-Identifier: MIT
# Fault injection (vpcie/fault.h) with the real programs: vpcie-epf-test
# started with --fault, driven by `vpcie pcitest`, changed at run time with
# `vpcie fault`. Each case fails without the fault engine (the pcitest case
# would pass) and checks the device keeps serving the next client.
#
# Environment (set by meson): VPCIE = the vpcie tool, VPCIE_EPF = the
# vpcie-epf-test program. Exit 0 pass, 1 fail.

set -u

: "${VPCIE:?VPCIE must name the vpcie tool}"
: "${VPCIE_EPF:?VPCIE_EPF must name the vpcie-epf-test program}"

. "$(dirname "$0")/lib.sh"
test_setup fault
sock="$tmp/epf.sock"

expect_eq() {
	if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', want '$3'"; fi
}
expect_line() {
	if grep -qE -- "$2" "$1"; then ok; else fail "$(basename "$1"): no line matching /$2/"; fi
}

start_dev() {
	: >"$tmp/dev.log"
	"$VPCIE_EPF" --socket "$sock" "$@" 2>"$tmp/dev.log" &
	pid=$!
	for _ in $(seq 100); do [ -S "$sock" ] && return 0; sleep 0.05; done
	fail "device did not listen ($*)"
}
stop_dev() {
	kill -TERM "$pid"
	wait "$pid"
	expect_eq "device exit status on SIGTERM" "$?" 0
	pid=
	if [ -e "$sock" ] || [ -e "$sock.fault" ]; then fail "socket files left behind"; else ok; fi
}
# pcitest NAME WANT_RC ARGS...: run it (bounded by timeout(1)), check its status.
pcitest() {
	name=$1 want=$2
	shift 2
	timeout 60 "$VPCIE" pcitest --socket "$sock" "$@" >"$tmp/$name.out" 2>&1
	rc=$?
	if [ "$rc" = "$want" ]; then ok; else fail "$name: pcitest $* exit $rc, want $want: $(cat "$tmp/$name.out")"; fi
}

# ---- ur on BAR0 reads: -b 0 NOT OKAY, -b 1 OKAY, the device keeps serving.
start_dev --fault ur:region=0,op=read
pcitest ur-bar0 1 -b 0
expect_line "$tmp/ur-bar0.out" "BAR0:.*NOT OKAY"
pcitest ur-bar1 0 -b 1
expect_line "$tmp/ur-bar1.out" "BAR1:.*OKAY"
pcitest ur-bar0-again 1 -b 0
expect_line "$tmp/dev.log" "fault #1 ur:region=0,op=read fired \(matching access; #1\): read completes with all-ones"
stop_dev

# ---- ur on a memory-backed BAR (BAR4, 128 KiB, which a host would mmap): the
# device does not offer it for mmap while the rule applies, so the host's
# reads reach the rule (without that, -b 4 passes); BAR5 stays mapped.
start_dev --fault ur:region=4,op=read
pcitest ur-mmap-bar4 1 -b 4
expect_line "$tmp/ur-mmap-bar4.out" "BAR4:.*NOT OKAY"
pcitest ur-mmap-bar5 0 -b 5
stop_dev

# ---- ca: an error reply instead of data.
start_dev --fault ca:region=0,op=read
pcitest ca 1 -b 0
expect_line "$tmp/ca.out" "Input/output error"
stop_dev

# ---- remove after N accesses, during a running READ test: the client sees
# the link drop (no hang: well within its timeout), the next client is served.
start_dev --fault remove:after=50
t0=$(now_ms)
pcitest remove 1 --timeout 20000 -r -s 1024000
t1=$(now_ms)
if [ $((t1 - t0)) -lt 10000 ]; then ok; else fail "remove: pcitest took $((t1 - t0)) ms"; fi
expect_line "$tmp/dev.log" "remove:at=access,after=50 fired \(after 50 accesses; #1\): surprise removal"
pcitest remove-next 0 -r -s 1024000
stop_dev

# ---- remove in the middle of the transfer (half of the device's first DMA
# moves, then the link drops), both DMA paths.
for shared in "" --no-shared; do
	start_dev --fault remove:at=dma,after=0
	pcitest remove-dma$shared 1 --timeout 20000 $shared -r -s 1024000
	expect_line "$tmp/dev.log" "link drops after 512000 of 1024000 bytes"
	expect_line "$tmp/dev.log" "surprise removal: closing the client's socket"
	pcitest remove-dma-next$shared 0 $shared -r -s 1024000
	stop_dev
done

# ---- remove at a time (a device timer), added at run time while the whole
# pcitest matrix (seconds) runs: the rest of the matrix fails at once ("stopped
# answering") instead of hanging, and the next client is served.
start_dev --fault-control
timeout 60 "$VPCIE" pcitest --socket "$sock" --all >"$tmp/remove-ms.out" 2>&1 &
ptpid=$!
for _ in $(seq 200); do grep -q "client negotiated" "$tmp/dev.log" && break; sleep 0.05; done
"$VPCIE" fault --socket "$sock" add remove:ms=100 >/dev/null
wait "$ptpid"
expect_eq "remove:ms pcitest status" "$?" 1
expect_line "$tmp/remove-ms.out" "the device stopped answering"
expect_line "$tmp/dev.log" "remove:ms=100 fired \(100 ms after it was added; #1\)"
expect_line "$tmp/dev.log" "client disconnected: surprise removal"
pcitest remove-ms-next 0 -b 0
stop_dev

# ---- remove,back=MS: the socket is gone for MS, then the device is back. A
# vpcie host retries connecting for its connect timeout (5 s), so the next
# pcitest waits for the device to come back, and passes.
start_dev --fault remove:after=40,back=1500
t0=$(now_ms)
pcitest back 1 -b 0
if [ -e "$sock" ]; then fail "back: the socket is still there while the link is down"; else ok; fi
pcitest back-again 0 -b 0
t1=$(now_ms)
if [ $((t1 - t0)) -ge 1500 ]; then ok; else fail "back: served again after $((t1 - t0)) ms, < 1500"; fi
expect_line "$tmp/dev.log" "link down, .* removed for 1500 ms"
expect_line "$tmp/dev.log" "link back up"
stop_dev

# ---- hang: the read never completes; the client times out, the next is served.
start_dev --fault hang:region=0,op=read,after=0
pcitest hang 1 --timeout 1000 -b 0
expect_line "$tmp/hang.out" "timed out|no reply"
pcitest hang-next 0 -b 0
stop_dev

# ---- delay: at least the delay (a lower bound only; a loaded machine is slower).
start_dev --fault delay:us=400000,region=0,op=read,after=0
t0=$(now_ms)
pcitest delay 0 -b 0
t1=$(now_ms)
if [ $((t1 - t0)) -ge 400 ]; then ok; else fail "delay: -b 0 took $((t1 - t0)) ms, < 400"; fi
expect_line "$tmp/dev.log" "fault #1 delay:"
stop_dev

# ---- irq drop: the MSI test fails cleanly (NOT OKAY, exit 1), others pass.
start_dev --fault irq:action=drop,vector=0
pcitest irq-drop 1 --timeout 1000 -i 1 -m 1 -m 2
expect_line "$tmp/irq-drop.out" "MSI1:.*NOT OKAY"
expect_line "$tmp/irq-drop.out" "MSI2:.*OKAY"
stop_dev

# ---- DMA faults: the pcitest CRC check catches them, both DMA paths.
for mode in flip truncate outside; do
	for shared in "" --no-shared; do
		start_dev --fault dma:mode=$mode
		pcitest dma-$mode$shared 1 --timeout 2000 $shared -r -w
		expect_line "$tmp/dma-$mode$shared.out" "READ .*NOT OKAY"
		expect_line "$tmp/dma-$mode$shared.out" "WRITE .*NOT OKAY"
		stop_dev
	done
done

# ---- cfg nosize: the host's sizing finds no BAR0.
start_dev --fault cfg:mode=nosize,bar=0
pcitest nosize 1 -b 1
expect_line "$tmp/nosize.out" "without BAR0"
stop_dev

# ---- run-time control: add / list / clear change what the next client sees.
start_dev --fault-control
mode=$(stat -c %a "$sock.fault")
expect_eq "control socket mode" "$mode" 600
pcitest ctl-before 0 -b 0
out=$("$VPCIE" fault --socket "$sock" add ur:region=0,op=read)
expect_eq "fault add prints the id" "$?$out" "01"
pcitest ctl-added 1 -b 0
"$VPCIE" fault --socket "$sock" list >"$tmp/list.out"
expect_eq "fault list status" "$?" 0
expect_line "$tmp/list.out" "^rule 1 ur:region=0,op=read fired=[1-9]"
"$VPCIE" fault --socket "$sock" add 'ur:region=0,bogus=1' 2>"$tmp/bad.out"
expect_eq "fault add of a bad rule" "$?" 1
expect_line "$tmp/bad.out" "unknown key 'bogus'"
"$VPCIE" fault --socket "$sock" clear 9 2>/dev/null
expect_eq "fault clear of an unknown id" "$?" 1
"$VPCIE" fault --socket "$sock" clear 1 >/dev/null
expect_eq "fault clear" "$?" 0
pcitest ctl-cleared 0 -b 0
"$VPCIE" fault --socket "$sock" list >"$tmp/list2.out"
expect_eq "list after clear" "$(cat "$tmp/list2.out")" "0 rules"
stop_dev
"$VPCIE" fault --socket "$sock" list 2>/dev/null
expect_eq "fault without a device" "$?" 1

# ---- prob=P,seed=S is reproducible: two fresh devices, the same traffic, the
# same faults (the BAR test's outcome and the rule's counters).
for run in 1 2; do
	start_dev --fault-control --fault ur:region=0,op=read,prob=0.5,seed=11
	timeout 60 "$VPCIE" pcitest --socket "$sock" -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 >"$tmp/prob$run.out" 2>&1
	"$VPCIE" fault --socket "$sock" list >>"$tmp/prob$run.out"
	stop_dev
done
if cmp -s "$tmp/prob1.out" "$tmp/prob2.out"; then ok; else fail "prob: runs differ: $(cat "$tmp/prob1.out") / $(cat "$tmp/prob2.out")"; fi
expect_line "$tmp/prob1.out" "^rule 1 ur:region=0,op=read,prob=0.500000,seed=11 fired=[1-9][0-9]* seen="

# ---- a bad --fault is refused at startup, naming the bad part.
"$VPCIE_EPF" --socket "$sock" --fault 'ur:region=12' 2>"$tmp/badopt.out"
expect_eq "bad --fault exit status" "$?" 2
expect_line "$tmp/badopt.out" "region '12'"

echo "fault: $passes passed, $fails failed"
[ "$fails" = 0 ]
