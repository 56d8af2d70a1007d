#!/bin/sh
# Guest side of test-proxy.sh's proxy-reconnect test (runs in the busybox
# guest): the unmodified pci_endpoint_test driver and pcitest against
# vpcie-epf-test behind `vpcie proxy`, while the host kills the device and
# starts it again.
#
#   1. baseline: BAR0, MSI 1, READ, WRITE must pass
#   2. "RECONN-STEP loop": the host kills the device a few seconds later and
#      restarts it after an outage; meanwhile the guest runs pcitest -b 0
#      and -m 1 back to back (both end by themselves: BAR tests are MMIO
#      only, the 6.1 driver waits 1 s for an IRQ-test interrupt; a
#      READ/WRITE in flight when the device dies would wait for its
#      completion interrupt forever) until it has seen them fail and then
#      pass 3 rounds in a row, or 240 s went by
#   3. after: every BAR, MSI 1 (a 2-vCPU guest without an IOMMU grants the
#      device one MSI vector), READ/WRITE/COPY of 1 MB with and
#      without -d (the DMA maps, config space and MSI set-up the proxy
#      replayed into the new device)
#
# Output (parsed by test-proxy.sh):
#   RECONN-INFO <text>
#   RECONN-STEP <name>
#   RECONN-LOOP <seconds> <case> OKAY|NOT
#   RECONN-CASE <name> OKAY|NOT | <pcitest output>
#   RECONN-ALIVE <uptime>
DEV=/dev/pci-endpoint-test.0
dmesg -n 1

info() { echo "RECONN-INFO $*"; }
now_s() { awk '{ printf "%d", $1 }' /proc/uptime; }
verdict() { case "$1" in *"NOT OKAY"*) echo NOT ;; *OKAY*) echo OKAY ;; *) echo NOT ;; esac; }
case_() { # NAME pcitest-args...
    local name="$1" out
    shift
    out=$(pcitest "$@" 2>&1)
    echo "RECONN-CASE $name $(verdict "$out") | $(echo "$out" | tr -s '\t\n' '  ')"
}

[ -c $DEV ] || { modprobe pci_endpoint_test; sleep 1; }
[ -c $DEV ] || { echo "RECONN-STEP abort"; info "no $DEV"; exit 1; }
info "kernel $(uname -r), $(nproc) vCPU"

case_ base-bar0 -b 0
case_ base-msi1 -m 1
case_ base-read -r -s 102400
case_ base-write -w -s 102400

echo "RECONN-STEP loop"
t0=$(now_s)
failed=0 good=0
while [ $(($(now_s) - t0)) -lt 240 ]; do
    round=OKAY
    for c in "-b 0" "-m 1"; do
        # shellcheck disable=SC2086
        v=$(verdict "$(pcitest $c 2>&1)")
        echo "RECONN-LOOP $(($(now_s) - t0)) $c $v"
        [ "$v" = OKAY ] || round=NOT
    done
    if [ $round = NOT ]; then
        failed=1 good=0
    elif [ $failed = 1 ]; then
        good=$((good + 1))
        [ $good -ge 3 ] && break
    fi
done
echo "RECONN-STEP after"
for b in 0 1 2 3 4 5; do case_ "bar$b" -b $b; done
case_ msi1 -m 1
case_ read -r -s 1024000
case_ write -w -s 1024000
case_ copy -c -s 1024000
case_ read-dma -r -s 1024000 -d
case_ write-dma -w -s 1024000 -d
case_ copy-dma -c -s 1024000 -d
echo "RECONN-ALIVE $(cat /proc/uptime)"
