#!/bin/sh
# Guest side of test-hotplug.sh (runs in the busybox guest): surprise removal
# of vpcie-epf-test under a pcitest load, then re-insertion.
#
# The host acts when it sees a step line on the console and the guest waits
# for the effect in sysfs (the console is the only host->guest channel that
# needs nothing in the guest):
#   HP-STEP load-running  pcitest -r -s 1024000 runs in a loop; the host now
#                         kills the device process (-9) and device_dels it
#   HP-STEP wait-add      the host restarts the device and device_adds it
# Verdicts: "HP-CHECK <name> OK|FAIL <detail>", evidence: "HP-INFO <text>".
dmesg -n 1
ID_V=0x104c
ID_D=0xb500
REMOVE_WAIT=${1:-90} # seconds for the host's kill + device_del to show
ADD_WAIT=${2:-90}    # seconds for the host's device_add to show

check() { echo "HP-CHECK $*"; }
info() { echo "HP-INFO $*"; }

# find_dev: sysfs path of the (first) epf-test function, or nothing
find_dev() {
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/vendor" 2>/dev/null)" = $ID_V ] || continue
        [ "$(cat "$d/device" 2>/dev/null)" = $ID_D ] || continue
        echo "$d"
        return 0
    done
    return 1
}
# chardev_of DEV: the /dev/pci-endpoint-test.N the driver made for DEV
chardev_of() {
    for m in "$1"/misc/pci-endpoint-test.*; do
        [ -e "$m" ] && { echo "/dev/${m##*/}"; return 0; }
    done
    return 1
}
wait_chardev() { # DEV SECONDS
    i=0
    while [ $i -lt $(($2 * 10)) ]; do
        c=$(chardev_of "$1") && [ -c "$c" ] && { echo "$c"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

dev=$(find_dev) || { check present FAIL "no 104c:b500 function at boot"; exit 1; }
bdf=${dev##*/}
cdev=$(wait_chardev "$dev" 10) || { check bound FAIL "pci_endpoint_test did not bind $bdf"; exit 1; }
info "boot: $bdf driver $(basename "$(readlink "$dev/driver")") $cdev; slot: $(cat /sys/bus/pci/slots/*/address 2>/dev/null | tr '\n' ' ')"
if pcitest -D "$cdev" -r -s 1024000 | grep -q 'OKAY'; then
    check before-removal OK "pcitest -r -s 1024000 passed before the removal"
else
    check before-removal FAIL "pcitest -r -s 1024000 failed before any fault"
fi

# The load: back-to-back 1 MB reads, each one's status logged.
(
    n=0
    while :; do
        n=$((n + 1))
        pcitest -D "$cdev" -r -s 1024000 >/tmp/pcitest.out 2>&1
        echo "run $n exit $?" >>/tmp/load.log
    done
) &
load=$!
sleep 1
echo "HP-STEP load-running"

# The host kills the device and asks QEMU to remove it: the slot empties.
t=0
while [ -e "$dev" ] && [ $t -lt $((REMOVE_WAIT * 10)) ]; do sleep 0.1; t=$((t + 1)); done
if [ -e "$dev" ]; then
    check driver-unbound FAIL "$bdf still present ${REMOVE_WAIT} s after the removal started"
else
    check driver-unbound OK "$bdf gone from sysfs (driver unbound, device removed) after $((t / 10)).$((t % 10)) s"
fi
# The kernel answers: this script runs, and a fresh process does too.
up=$(cut -d' ' -f1 /proc/uptime)
if [ -n "$up" ] && ls /sys/bus/pci/devices >/dev/null; then
    check kernel-alive OK "uptime $up s, $(ls /sys/bus/pci/devices | wc -l) PCI functions listed"
else
    check kernel-alive FAIL "no answer from /proc or sysfs"
fi

# What became of the load: the loop shell and its pcitest child.
runs=$(cat /tmp/load.log 2>/dev/null | wc -l)
fails=$(cat /tmp/load.log 2>/dev/null | grep -vc 'exit 0$')
info "load: $runs pcitest runs finished ($fails not with exit 0): $(tail -n 2 /tmp/load.log 2>/dev/null | tr '\n' ';')"
info "last pcitest said: $(tr '\n' ' ' </tmp/pcitest.out 2>/dev/null)"
stuck=""
for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = pcitest ] || continue
    st=$(awk '/^State:/ {print $2}' "$p/status" 2>/dev/null)
    wc=$(cat "$p/wchan" 2>/dev/null)
    stuck="$stuck ${p##*/}:$st:$wc"
done
if [ -n "$stuck" ]; then
    info "pcitest still running after the removal (pid:state:wchan):$stuck"
    echo "HP-PCITEST stuck$stuck"
else
    echo "HP-PCITEST returned"
fi
kill "$load" 2>/dev/null

# Re-insertion: the host restarts the device and device_adds it.
echo "HP-STEP wait-add"
t=0
while ! dev=$(find_dev) && [ $t -lt $((ADD_WAIT * 10)) ]; do sleep 0.1; t=$((t + 1)); done
if [ -z "$dev" ]; then
    check rebound FAIL "no 104c:b500 function ${ADD_WAIT} s after device_add"
    exit 1
fi
if ! cdev=$(wait_chardev "$dev" 20); then
    check rebound FAIL "${dev##*/} is back but pci_endpoint_test did not bind it"
    exit 1
fi
check rebound OK "${dev##*/} back after $((t / 10)).$((t % 10)) s, bound by $(basename "$(readlink "$dev/driver")") as $cdev"
out=$(pcitest -D "$cdev" -r -s 1024000 2>&1)
if echo "$out" | grep -q 'OKAY'; then
    check after-readd OK "pcitest -r -s 1024000 on the re-added device: $(echo "$out" | tr -s '\t ' ' ')"
else
    check after-readd FAIL "pcitest on the re-added device: $(echo "$out" | tr '\n' ' ')"
fi
out=$(pcitest -D "$cdev" -b 0 2>&1)
if echo "$out" | grep -q 'OKAY'; then
    check after-readd-bar0 OK "$(echo "$out" | tr -s '\t ' ' ')"
else
    check after-readd-bar0 FAIL "$(echo "$out" | tr '\n' ' ')"
fi
exit 0
