#!/bin/bash
# Guest test of vpcie-detector, the frame-streaming DMA engine, with its own
# Linux driver (drivers/linux/vpcie-detector, built against the guest kernel
# by run --module) and the guest backend vdet-stream (built static here):
#
#   the driver binds (MSI-X, a vector per channel); the edges of its user ABI
#   (vdet-abi-test); the backend receives
#   FRAMES frames with 0 lost and 0 corrupted (header, sequence, CRC-32,
#   payload); scatter-gather frames; no interrupts at all (blocking reads);
#   a paced stream starved of buffers (drops seen as lost, none corrupted);
#   every channel at once; unbind under a
#   running stream; bind again; rmmod refused while open, rmmod right after
#   the backend is killed mid-stream; insmod again with other parameters and
#   a second stream (scripts/vm/guest-detector.sh)
#
# Once with guest RAM shared (the device maps it: DMA is a memcpy) and once
# with it private (--private-ram: every transfer is a DMA_WRITE message);
# the second pass's results end in "-private-ram".
#
# Prints "GUEST-RESULT <name> OK|FAIL|SKIP" lines and each stream's
# "VDET-SUMMARY ..." (frames/s, MB/s: guest throughput under TCG, not a
# benchmark). Exit status: 0 all OK, 77 VM provisioning unavailable (one
# "GUEST-RESULT detector SKIP"), 1 otherwise.
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOP="$(cd "$SELF_DIR/../.." && pwd)"

usage() {
    cat <<'EOF'
Usage: scripts/vm/test-detector.sh [--build DIR] [--cache DIR] [--keep-logs DIR]
                                  [--only shared|private-ram] [--frames N]
                                  [--frame-size N] [--channels N]

  --build DIR       meson build directory with devices/detector (default ./build)
  --cache DIR       VM provisioning cache (default $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --keep-logs DIR   keep consoles, QEMU and device logs in DIR
                    (default: a temporary directory, kept only if a test failed)
  --only MODE       one pass only: guest RAM shared, or private (DMA messages)
  --frames N        frames of the main streams (default 10000, at least 10)
  --frame-size N    bytes per frame (default 4096: small, TCG is slow)
  --channels N      device channels, each with its own MSI-X vector (default 2)
  -h, --help        this text
EOF
}

BUILD="build"
CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
KEEP_LOGS=""
MODES=(shared private-ram)
FRAMES=10000
FSIZE=4096
NCH=2
num() { case "$2" in ''|*[!0-9]*) echo "test-detector: $1 wants a number" >&2; exit 2 ;; esac; }
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:?--build needs a directory}"; shift 2 ;;
        --cache) CACHE="${2:?--cache needs a directory}"; shift 2 ;;
        # shellcheck disable=SC2034 # read by guest_workdir (guest-common.sh)
        --keep-logs) KEEP_LOGS="${2:?--keep-logs needs a directory}"; shift 2 ;;
        --only)
            case "${2:-}" in shared|private-ram) MODES=("$2") ;;
                *) echo "test-detector: --only wants shared or private-ram" >&2; exit 2 ;; esac
            shift 2 ;;
        --frames) num "$1" "${2:-}"; FRAMES=$2; shift 2 ;;
        --frame-size) num "$1" "${2:-}"; FSIZE=$2; shift 2 ;;
        --channels) num "$1" "${2:-}"; NCH=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "test-detector: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$FRAMES" -ge 10 ] || { echo "test-detector: --frames must be at least 10" >&2; exit 2; }
[ "$NCH" -ge 1 ] && [ "$NCH" -le 16 ] || { echo "test-detector: --channels 1..16" >&2; exit 2; }

say() { echo "test-detector: $*"; }
FAILED=0
# shellcheck source=scripts/vm/guest-common.sh
. "$SELF_DIR/guest-common.sh"

BOOT_TIMEOUT=900
OUTER_SLACK=60
DRV_DIR="$TOP/drivers/linux/vpcie-detector"

[ -d "$BUILD" ] || { say "no build directory $BUILD"; result detector FAIL; exit 1; }
BUILD="$(cd "$BUILD" && pwd)"
DEV="$BUILD/devices/detector/vpcie-detector"
[ -x "$DEV" ] || { say "missing $DEV (build the project first)"; result detector FAIL; exit 1; }

provision_or_exit detector
# shellcheck disable=SC1091
. "$CACHE/vm.env"

guest_workdir test-detector

# The backend and the ABI test, static: the guest has no libc to share and
# no libz (zlib1g-dev ships libz.a).
STREAM="$WORK/vdet-stream"
ABI_TEST="$WORK/vdet-abi-test"
if ! { gcc -static -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$STREAM" \
        "$DRV_DIR/vdet-stream.c" "$DRV_DIR/vdet_check.c" -lz &&
    gcc -static -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$ABI_TEST" \
        "$DRV_DIR/vdet-abi-test.c"; } >"$LOGS/vdet-stream-build.log" 2>&1; then
    sed 's/^/    | /' "$LOGS/vdet-stream-build.log" | tail -n 20
    result detector-backend-build FAIL
    exit 1
fi

# verdict BOOT NAME RESULT-NAME: the guest's DET-RESULT line, FAIL if absent
verdict() {
    local v
    v=$(tr -d '\r' <"$LOGS/$1/console.log" 2>/dev/null | grep -aE "^DET-RESULT $2 (OK|FAIL)$" |
        tail -n 1 | cut -d' ' -f3)
    result "$3" "${v:-FAIL}"
}

run_pass() {
    local mode=$1 sfx="" ram=() boot st=0 names
    if [ "$mode" = private-ram ]; then
        sfx="-private-ram"
        ram=(--private-ram)
    fi
    boot="boot$sfx"
    mkdir -p "$LOGS/$boot"
    say "$boot: vpcie-detector --channels $NCH + drivers/linux/vpcie-detector, $FRAMES frames of $FSIZE bytes, guest RAM $mode"
    # no_timer_check: on a loaded TCG host Linux's early timer check can miss
    # its window and panic the boot ("IO-APIC + timer doesn't work")
    timeout -k 10 $((BOOT_TIMEOUT + OUTER_SLACK)) "$SELF_DIR/run" --cache "$CACHE" --quiet \
        --append no_timer_check \
        --timeout "$BOOT_TIMEOUT" --log-dir "$LOGS/$boot" "${ram[@]+"${ram[@]}"}" \
        --file "$SELF_DIR/guest-detector.sh:/opt/" --file "$STREAM:/opt/" --file "$ABI_TEST:/opt/" \
        --module "$DRV_DIR" \
        --device "$DEV --socket {sock} --channels $NCH" \
        -- "sh /opt/guest-detector.sh $FRAMES $FSIZE $NCH" >"$LOGS/$boot/run.out" 2>&1 || st=$?
    if grep -q -- '--module .*build failed' "$LOGS/$boot/run.out"; then
        tail -n 30 "$LOGS/$boot/run.out" | sed 's/^/    | /'
        result "detector-build$sfx" FAIL
        return
    fi
    tr -d '\r' <"$LOGS/$boot/console.log" 2>/dev/null | grep -a '^DET-INFO' | sed 's/^DET-INFO /    /'
    if [ $st -ne 0 ]; then
        say "$boot: run exited with status $st"
        tail -n 20 "$LOGS/$boot/run.out" | sed 's/^/    | /'
        result "detector-run$sfx" FAIL
    fi
    names="probe abi stream irq-msix stream-sg stream-noirq stream-starved"
    [ "$NCH" -gt 1 ] && names="$names stream-channels"
    for name in $names unbind-streaming rebind-stream rmmod-busy rmmod-streaming reload-stream \
        driver-log rmmod; do
        verdict "$boot" "$name" "detector-$name$sfx"
    done
    # neither side complained (the device's info lines are its normal log)
    if grep -aE 'warn:|error:|Sanitizer|runtime error:' "$LOGS/$boot/dev0.log" >/dev/null 2>&1 ||
        qemu_complained "$LOGS/$boot/qemu.log"; then
        say "$boot: the device or QEMU logged problems:"
        { grep -aE 'warn:|error:|Sanitizer|runtime error:' "$LOGS/$boot/dev0.log"
          grep -av 'terminating on signal' "$LOGS/$boot/qemu.log"; } 2>/dev/null | head -n 8 |
            sed 's/^/    | /'
        result "detector-logs$sfx" FAIL
    else
        result "detector-logs$sfx" OK
    fi
}

for mode in "${MODES[@]}"; do
    run_pass "$mode"
done
[ "$FAILED" = 0 ] && exit 0 || exit 1
