#!/bin/bash
# Guest test of fault injection: vpcie-epf-test with --fault-control, driven
# by the unmodified pci_endpoint_test driver and pcitest in a Linux guest
# (QEMU vfio-user-pci). The guest script (scripts/vm/guest-fault.sh) asks for
# each step's faults on its serial console; this script adds them with
# `vpcie fault` on the device's control socket at that moment, then judges
# what pcitest reported, whether the guest finished, and whether QEMU and the
# device stayed alive. What each fault does to QEMU and Linux: docs/fault.md.
#
#   ur / ca     ur:region=0,op=read / ca:region=0,op=read: pcitest -b 0 NOT
#               OKAY, -b 1 OKAY, and -b 0 OKAY again once cleared
#   ca-write    ca:region=0,op=write: -b 0 NOT OKAY (the pattern is not
#               written; QEMU waits for the write's reply and logs the EIO)
#   irq-drop    irq:action=drop: pcitest -m 1 NOT OKAY (the driver's 1 s
#               timeout); a READ waits (no timeout in 6.1) until a spurious
#               interrupt (irq:action=spurious,ms=...) from the host ends it
#   delay       delay:us=2000000 on the MAGIC register: -b 0 OKAY, >= 2 s
#   dma-flip    dma:mode=flip: READ and WRITE NOT OKAY (CRC), OKAY once cleared
#   hang        hang on the MAGIC register: what QEMU does after its message
#               timeout (x-msg-timeout, 5 s), and that the guest, QEMU and the
#               device go on
#   late        delay:us=7000000 on the MAGIC register: QEMU times out at 5 s,
#               then drops the connection when the reply comes (every later
#               access fails; the guest goes on, the device serves a new client)
#
# Prints "GUEST-RESULT <name> OK|FAIL|SKIP" lines. Exit status: 0 all OK,
# 77 VM provisioning unavailable, 1 otherwise.
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    cat <<'EOF'
Usage: scripts/vm/test-fault.sh [--build DIR] [--cache DIR] [--keep-logs DIR]

  --build DIR       meson build directory with the devices and tools (default ./build)
  --cache DIR       VM provisioning cache (default $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --keep-logs DIR   keep the console, QEMU, device and step logs in DIR
                    (default: a temporary directory, kept only if a test failed)
  -h, --help        this text
EOF
}

BUILD="build"
CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
KEEP_LOGS="" # read by guest_workdir
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:?--build needs a directory}"; shift 2 ;;
        --cache) CACHE="${2:?--cache needs a directory}"; shift 2 ;;
        --keep-logs) KEEP_LOGS="${2:?--keep-logs needs a directory}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "test-fault: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "test-fault: $*"; }
FAILED=0
# shellcheck source=scripts/vm/guest-common.sh
. "$SELF_DIR/guest-common.sh"

GUEST_TIMEOUT=420  # 90-200 s on 2 busy TCG host cores, ~50 s of it waiting on purpose
OUTER_SLACK=60
MARK='ur:region=0,offset=0x7c,len=4,op=read' # the handshake slot (guest-fault.sh)

[ -d "$BUILD" ] || { say "no build directory $BUILD"; result fault FAIL; exit 1; }
BUILD="$(cd "$BUILD" && pwd)"
EPF="$BUILD/devices/epf-test/vpcie-epf-test"
VPCIE="$BUILD/tools/vpcie/vpcie"
for f in "$EPF" "$VPCIE"; do
    [ -x "$f" ] || { say "missing $f (build the project first)"; result fault FAIL; exit 1; }
done

provision_or_exit fault
# shellcheck disable=SC1091
. "$CACHE/vm.env"

guest_workdir test-fault
SOCK="$WORK/epf.sock"
DIR="$LOGS/vm"
mkdir -p "$DIR"

# The rules of each step the guest asks for (besides the handshake marker).
step_rules() {
    case "$1" in
        ur) echo 'ur:region=0,op=read' ;;
        ca) echo 'ca:region=0,op=read' ;;
        ca-write) echo 'ca:region=0,op=write' ;;
        irq-drop) echo 'irq:action=drop' ;;
        irq-spurious) echo 'irq:action=spurious,vector=0,ms=200' ;;
        delay) echo 'delay:us=2000000,region=0,offset=0,len=4,op=read' ;;
        dma-flip) echo 'dma:mode=flip' ;;
        hang) echo 'hang:region=0,offset=0,len=4,op=read' ;;
        late) echo 'delay:us=7000000,region=0,offset=0,len=4,op=read' ;;
        clear) ;;
        *) return 1 ;;
    esac
}

fault() { timeout 10 "$VPCIE" fault --socket "$SOCK" "$@"; }

# do_step NAME: report how often the previous step's rules fired ("FIRED STEP
# ID N" lines), then replace them by NAME's. Runs in the watcher subshell:
# PREV and PREV_IDS persist between steps.
# QEMU's log lines are filed under the step they appeared in ("QEMU STEP LINE").
PREV=""
PREV_IDS=()
QN=0
do_step() {
    local name=$1 spec id list n
    echo "--- step $name"
    n=$(wc -l <"$DIR/qemu.log" 2>/dev/null || echo 0)
    [ "$n" -gt "$QN" ] && sed -n "$((QN + 1)),${n}p" "$DIR/qemu.log" | sed "s/^/QEMU ${PREV:-boot} /"
    QN=$n
    echo "QN $n $name"
    list=$(fault list)
    while IFS= read -r id; do echo "    $id"; done <<<"$list"
    for id in "${PREV_IDS[@]+"${PREV_IDS[@]}"}"; do
        echo "FIRED $PREV $id $(echo "$list" | sed -n "s/^rule $id .* fired=\([0-9]*\) .*/\1/p")"
    done
    PREV=$name
    PREV_IDS=()
    fault clear
    [ "$name" = clear ] && return 0
    if ! step_rules "$name" >/dev/null; then
        echo "unknown step '$name'"
        return 1
    fi
    for spec in $(step_rules "$name"); do
        id=$(fault add "$spec") && PREV_IDS+=("$id")
        echo "ADDED $name $id $spec"
    done
    # the marker last: once the guest reads it, every rule of the step is live
    fault add "$MARK" >/dev/null
}

# watch_steps CONSOLE: serve the guest's FAULT-STEP lines, in order, until killed
watch_steps() {
    local n=0 i steps
    while :; do
        mapfile -t steps < <(tr -d '\r' <"$1" 2>/dev/null | grep -a '^FAULT-STEP ')
        for ((i = n; i < ${#steps[@]}; i++)); do do_step "${steps[$i]#FAULT-STEP }"; done
        n=${#steps[@]}
        sleep 0.2
    done
}

# --- the device (ours, so that the control socket is known) --------------------------
setsid "$EPF" --socket "$SOCK" --fault-control </dev/null >"$DIR/dev.log" 2>&1 &
DEV_PID=$!
WATCH_PID=""
stop_all() {
    [ -n "$WATCH_PID" ] && { kill "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null; }
    WATCH_PID=""
    if [ -n "$DEV_PID" ]; then
        kill -TERM -- "-$DEV_PID" 2>/dev/null
        local end=$((SECONDS + 5))
        while kill -0 "$DEV_PID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
        kill -KILL -- "-$DEV_PID" 2>/dev/null
        wait "$DEV_PID" 2>/dev/null
    fi
    DEV_PID=""
}
trap 'stop_all; guest_workdir_cleanup' EXIT
end=$((SECONDS + 20))
while [ ! -S "$SOCK.fault" ]; do
    if ! kill -0 "$DEV_PID" 2>/dev/null || [ $SECONDS -ge $end ]; then
        say "vpcie-epf-test did not come up:"; sed 's/^/    | /' "$DIR/dev.log"
        result fault-setup FAIL
        exit 1
    fi
    sleep 0.05
done

# --- the guest --------------------------------------------------------------------------
# iomem=relaxed: the guest reads the handshake slot through BAR0's sysfs
# resource file while pci_endpoint_test owns the BAR.
say "vpcie-epf-test --fault-control + pci_endpoint_test + pcitest; faults added at run time"
: >"$DIR/console.log"
watch_steps "$DIR/console.log" >"$DIR/steps.log" 2>&1 &
WATCH_PID=$!
st=0
timeout -k 10 $((GUEST_TIMEOUT + OUTER_SLACK)) "$SELF_DIR/run" --cache "$CACHE" --quiet \
    --timeout "$GUEST_TIMEOUT" --log-dir "$DIR" --append iomem=relaxed \
    --file "$SELF_DIR/guest-fault.sh:/opt/" --load pci_endpoint_test \
    --socket "$SOCK" -- sh /opt/guest-fault.sh >"$DIR/run.out" 2>&1 || st=$?
dev_alive=OK
kill -0 "$DEV_PID" 2>/dev/null || dev_alive=FAIL
# the device serves the next client after the QEMU connection ended
# the last step's rules have no next step: their FIRED lines come from here
final=$(fault list 2>&1)
while read -r _ name id _; do
    grep -q "^FIRED $name " "$DIR/steps.log" ||
        echo "FIRED $name $id $(sed -n "s/^rule $id .* fired=\([0-9]*\) .*/\1/p" <<<"$final")" >>"$DIR/steps.log"
done < <(grep '^ADDED ' "$DIR/steps.log")
fault clear >/dev/null 2>&1
if [ $dev_alive = OK ] && ! timeout 20 "$VPCIE" pcitest --socket "$SOCK" -b 0 >"$DIR/after.out" 2>&1; then
    dev_alive=FAIL
fi
stop_all
# QEMU's lines after the last step are that step's
read -r _ n name < <(grep '^QN ' "$DIR/steps.log" | tail -n 1)
[ -n "${n:-}" ] && sed -n "$((n + 1)),\$p" "$DIR/qemu.log" | sed "s/^/QEMU $name /" >>"$DIR/steps.log"

CONSOLE="$DIR/console.log"
tr -d '\r' <"$CONSOLE" | grep -a '^FAULT-INFO ' | sed 's/^FAULT-INFO /    /'
tr -d '\r' <"$CONSOLE" | grep -a '^FAULT-ABORT ' | sed 's/^/    /'
# one result per case: what pcitest reported against what the fault should cause
declare -A SEEN=()
while IFS= read -r line; do
    read -r _ name want got cs _ <<<"$line"
    echo "    $name: ${got#got=} (wanted ${want#want=}) in $((${cs#cs=} / 100)).$(printf '%02d' $((${cs#cs=} % 100))) s: ${line#*| }"
    SEEN[$name]=1
    if [ "${want#want=}" = "${got#got=}" ]; then result "fault-$name" OK; else result "fault-$name" FAIL; fi
done < <(tr -d '\r' <"$CONSOLE" | grep -a '^FAULT-CASE ')
for name in base-bar0 ur-bar0 ur-bar1 ca-bar0 ca-bar1 irq-drop-msi1 irq-drop-read-waits \
    irq-spurious-read-ends delay-bar0 ur-read-value ca-read-value hang-read-value ca-write-bar0 ca-write-value ca-write-bar1 dma-flip-read dma-flip-write hang-bar0 hang-after-bar0 late-bar0 late-after-bar0 late-after-bar1; do
    [ -n "${SEEN[$name]:-}" ] || { say "case $name did not run"; result "fault-$name" FAIL; }
done

# Timing claims: a 2 s completion delay shows in pcitest -b 0's time.
cs=$(tr -d '\r' <"$CONSOLE" | grep -a '^FAULT-CASE delay-bar0 ' | sed -n 's/.* cs=\([0-9]*\) .*/\1/p')
if [ -n "$cs" ] && [ "$cs" -ge 200 ]; then result fault-delay-took-2s OK; else result fault-delay-took-2s FAIL; fi
# Every step's rules fired on the device (counted before the next step).
for name in ur ca ca-write irq-drop irq-spurious delay dma-flip hang late; do
    n=$(sed -n "s/^FIRED $name [0-9]* \([0-9]*\)$/\1/p" "$DIR/steps.log" | head -n 1)
    echo "    $name: $(step_rules $name) fired ${n:-?} times"
    if [ "${n:-0}" -gt 0 ]; then result "fault-$name-fired" OK; else result "fault-$name-fired" FAIL; fi
done

# What QEMU logged during each step: nothing for a fault it does not see as an
# error; the failed access for ca; its message timeout for hang.
qemu_lines() { grep -a "^QEMU $1 " "$DIR/steps.log" | grep -v 'terminating on signal'; }
for name in ur irq-drop irq-spurious delay dma-flip; do
    if qemu_lines $name >/dev/null; then
        say "QEMU logged during step $name:"; qemu_lines $name | head -n 3 | sed 's/^/    | /'
        result "fault-$name-qemu-silent" FAIL
    else
        result "fault-$name-qemu-silent" OK
    fi
done
check_qemu() { # STEP RESULT PATTERN
    # grep -c reads all: grep -q would end the pipeline early (pipefail)
    if [ "$(qemu_lines "$1" | grep -c -- "$3")" -gt 0 ]; then result "fault-$2" OK; else
        say "no QEMU log line matching '$3' during step $1"; result "fault-$2" FAIL; fi
}
check_qemu ca ca-qemu-eio 'region0+0x0, 4) failed: Input/output error'
check_qemu ca-write ca-write-qemu-eio 'vfio_region_write(.*region0+0x0, 0xa0a0a0a0,4) failed: Input/output error'
check_qemu hang hang-qemu-timeout 'timed out waiting for reply'
check_qemu late late-qemu-timeout 'timed out waiting for reply'
check_qemu late late-qemu-unexpected-reply 'unexpected reply'
check_qemu late late-qemu-disconnected 'Unable to write to socket: Broken pipe'
echo "    QEMU log by step ($(grep -ca '^QEMU ' "$DIR/steps.log") lines; the first 24):"
grep -a '^QEMU ' "$DIR/steps.log" | head -n 24 | sed 's/^QEMU /    | /; s/vfio-user:[^:]*:region/region/'
if [ $st -eq 0 ] && grep -aq '^FAULT-DONE' "$CONSOLE"; then
    result fault-guest-alive OK
else
    say "guest run: status $st (124 timeout, 125 QEMU ended early); last lines:"
    tail -n 15 "$DIR/run.out" | sed 's/^/    | /'
    result fault-guest-alive FAIL
fi
result fault-device-alive $dev_alive
if [ -n "$KEEP_LOGS" ] || [ "$FAILED" = 1 ]; then
    say "logs: $DIR (steps.log: the rules as each step ended)"
else
    say "logs removed (use --keep-logs DIR)"
fi
[ "$FAILED" = 0 ] && exit 0 || exit 1
