#!/bin/sh
# Guest side of scripts/vm/test-fault.sh (runs in the busybox guest): the
# unmodified pci_endpoint_test driver and pcitest against vpcie-epf-test
# while the host injects faults with `vpcie fault` on the device's control
# socket.
#
# Handshake: the guest prints "FAULT-STEP <name>"; the host (watching the
# serial console) replaces the device's rules by that step's rules plus a
# marker rule that makes reads of BAR0 offset 0x7c (an unused register slot)
# complete with all-ones. The guest polls that slot until it reads
# 0xffffffff: the step's rules are then in place. Step "clear" removes every
# rule; the guest waits until the slot reads 0 again.
#
# Output (parsed by test-fault.sh):
#   FAULT-CASE <name> want=<OKAY|NOT> got=<OKAY|NOT|NONE|HUNG> cs=<centiseconds> | <pcitest output>
#   FAULT-INFO <text>
#   FAULT-ABORT <reason>          the remaining cases cannot run
# shellcheck disable=SC3043 # busybox ash has local
DEV=/dev/pci-endpoint-test.0
MARK=0x7c
dmesg -n 1

info() { echo "FAULT-INFO $*"; }
abort() { echo "FAULT-ABORT $*"; exit 1; }
now_cs() { awk '{ printf "%d", $1 * 100 }' /proc/uptime; }

[ -c $DEV ] || { modprobe pci_endpoint_test; sleep 1; }
[ -c $DEV ] || abort "no $DEV (pci_endpoint_test did not bind)"
EPF=""
for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor")" = 0x104c ] && [ "$(cat "$d/device")" = 0xb500 ] && EPF=$d
done
[ -n "$EPF" ] || abort "no 104c:b500 device in sysfs"
R0="$EPF/resource0"
info "device $(basename "$EPF"), kernel $(uname -r), $(nproc) vCPU"

mark() { vpcie-mmio "$R0" $MARK 2>&1; }
[ "$(mark)" = 0x00000000 ] || abort "marker slot reads '$(mark)' before any fault (iomem=relaxed missing?)"

# step NAME: have the host install step NAME's rules, wait until they are live
step() {
    local want=0xffffffff i=0
    [ "$1" = clear ] && want=0x00000000
    echo "FAULT-STEP $1"
    while [ "$(mark)" != $want ]; do
        i=$((i + 1))
        [ $i -le 600 ] || abort "step $1: the host did not install the rules within 60 s"
        sleep 0.1
    done
}

verdict() { # pcitest output -> OKAY | NOT | NONE
    case "$1" in
    *"NOT OKAY"*) echo NOT ;;
    *OKAY*) echo OKAY ;;
    *) echo NONE ;;
    esac
}

# case NAME WANT pcitest-args...: run pcitest, report what it printed and how long it took
case_() {
    local name="$1" want="$2" t0 out
    shift 2
    t0=$(now_cs)
    out=$(pcitest "$@" 2>&1)
    echo "FAULT-CASE $name want=$want got=$(verdict "$out") cs=$(($(now_cs) - t0)) | $(echo "$out" | tr -s '\t\n' '  ')"
}

# reg NAME WANT OFFSET: a 32-bit read of BAR0 (the test register BAR) from the shell
reg() {
    local t0 v
    t0=$(now_cs)
    v=$(vpcie-mmio "$R0" "$3" 2>&1)
    echo "FAULT-CASE $1 want=$2 got=$v cs=$(($(now_cs) - t0)) | BAR0+$3 reads $v"
}

# --- baseline ------------------------------------------------------------------
case_ base-bar0 OKAY -b 0
case_ base-bar1 OKAY -b 1
case_ base-set-msi OKAY -i 1
case_ base-msi1 OKAY -m 1
case_ base-read OKAY -r -s 1024

# --- error completions on BAR0 reads --------------------------------------------
for kind in ur ca; do
    step "$kind"
    case_ "$kind-bar0" NOT -b 0
    reg "$kind-read-value" 0xffffffff 0x0
    case_ "$kind-bar1" OKAY -b 1
    step clear
    case_ "$kind-after-bar0" OKAY -b 0
done

# An error completion on a write: the pattern never lands. MAGIC first gets
# another value, or the pattern an earlier -b 0 left there would read back.
vpcie-mmio "$R0" 0x0 0x12345678
step ca-write
case_ ca-write-bar0 NOT -b 0
reg ca-write-value 0x12345678 0x0
case_ ca-write-bar1 OKAY -b 1
step clear
case_ ca-write-after-bar0 OKAY -b 0

# --- a dropped interrupt ---------------------------------------------------------
step irq-drop
case_ irq-drop-msi1 NOT -m 1      # the driver waits 1 s for the MSI
step clear
case_ irq-drop-after-msi1 OKAY -m 1

# A transfer whose completion interrupt is lost: 6.1 waits without a timeout
# (uninterruptible). A spurious interrupt from the host side then ends it.
step irq-drop
t0=$(now_cs)
pcitest -r -s 1024 >/tmp/rd.out 2>&1 &
rd=$!
sleep 5
if kill -0 $rd 2>/dev/null; then
    state=$(awk '{ print $3 }' /proc/$rd/stat 2>/dev/null)
    echo "FAULT-CASE irq-drop-read-waits want=HUNG got=HUNG cs=$(($(now_cs) - t0)) | pcitest -r still waiting after 5 s (state $state)"
else
    echo "FAULT-CASE irq-drop-read-waits want=HUNG got=$(verdict "$(cat /tmp/rd.out)") cs=$(($(now_cs) - t0)) | $(tr -s '\t\n' '  ' </tmp/rd.out)"
fi
step irq-spurious
i=0
while kill -0 $rd 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $rd 2>/dev/null; then
    echo "FAULT-CASE irq-spurious-read-ends want=OKAY got=HUNG cs=$(($(now_cs) - t0)) | pcitest -r still waiting 20 s after the spurious interrupt"
    abort "pcitest -r is stuck in the driver: later ioctls would block on its mutex"
fi
wait $rd
echo "FAULT-CASE irq-spurious-read-ends want=OKAY got=$(verdict "$(cat /tmp/rd.out)") cs=$(($(now_cs) - t0)) | $(tr -s '\t\n' '  ' </tmp/rd.out)"
step clear
case_ irq-after-read OKAY -r -s 1024

# --- a slow completion -------------------------------------------------------------
step delay
case_ delay-bar0 OKAY -b 0
step clear
case_ delay-after-bar0 OKAY -b 0

# --- DMA bit flips: the CRC checks fail --------------------------------------------
step dma-flip
case_ dma-flip-read NOT -r -s 1024
case_ dma-flip-write NOT -w -s 1024
step clear
case_ dma-flip-after-read OKAY -r -s 1024
case_ dma-flip-after-write OKAY -w -s 1024

# --- an access that is never answered ----------------------------------------------
step hang
case_ hang-bar0 NOT -b 0
reg hang-read-value 0xffffffff 0x0
case_ hang-bar1 OKAY -b 1
step clear
case_ hang-after-bar0 OKAY -b 0
case_ hang-after-msi1 OKAY -m 1
# --- a completion later than QEMU's message timeout (x-msg-timeout, 5 s) ----------
# Last: QEMU 11.1 gives up on the access after 5 s, then drops the whole
# connection when the late reply arrives ("unexpected reply"), so every later
# access to the device fails, BAR1's too (its mapping goes with the
# connection), while the guest itself goes on.
step late
case_ late-bar0 NOT -b 0
sleep 3 # the device answers at 7 s
case_ late-after-bar0 NOT -b 0
case_ late-after-bar1 NOT -b 1
info "dmesg (last 8 lines): $(dmesg | tail -n 8 | tr '\n' '|')"
echo "FAULT-DONE"
exit 0
