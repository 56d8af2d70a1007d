#!/bin/bash
# Guest test of transaction tracing: what an unmodified Linux driver did to a
# device, seen from the device. vpcie-epf-test runs with --trace under QEMU
# (vfio-user-pci); the guest's pci_endpoint_test driver does a READ and a
# WRITE of 1024 bytes (pcitest); the trace must show the driver's config
# writes, the DMA in both directions and the MSIs, convert to valid Perfetto
# JSON and decode in tshark with no malformed packet.
#
#   trace-guest-shared    guest RAM shared with the device: DMA via shared memory
#   trace-guest-private   guest RAM not shared: DMA via DMA_READ/DMA_WRITE messages
#
# Prints "GUEST-RESULT <name> OK|FAIL|SKIP" lines (scripts/test-all.sh counts
# them). See --help and docs/trace.md.
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOP="$(cd "$SELF_DIR/../.." && pwd)"

usage() {
    cat <<'EOF'
Usage: scripts/vm/test-trace.sh [--build DIR] [--cache DIR] [--keep-logs DIR]

  --build DIR       meson build directory (default ./build): vpcie-epf-test, vpcie
  --cache DIR       VM provisioning cache (default $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --keep-logs DIR   keep every log and trace in DIR (default: a temporary
                    directory, removed unless a test failed)
  -h, --help        this text

Exit status: 0 every result OK; 77 the VM packages could not be fetched
(one "GUEST-RESULT trace-guest SKIP" line); 1 otherwise.
EOF
}

BUILD="build"
CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
KEEP_LOGS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:?--build needs a directory}"; shift 2 ;;
        --cache) CACHE="${2:?--cache needs a directory}"; shift 2 ;;
        --keep-logs) KEEP_LOGS="${2:?--keep-logs needs a directory}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "test-trace: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "test-trace: $*"; }
# shellcheck source=scripts/vm/guest-common.sh disable=SC1091
. "$SELF_DIR/guest-common.sh"
FAILED=0
GUEST_TIMEOUT=120 # boot ~20 s, pcitest ~1 s under TCG
OUTER_SLACK=60

[ -d "$BUILD" ] || { say "no build directory $BUILD"; result trace-guest FAIL; exit 1; }
BUILD="$(cd "$BUILD" && pwd)"
EPF="$BUILD/devices/epf-test/vpcie-epf-test"
VPCIE="$BUILD/tools/vpcie/vpcie"
for f in "$EPF" "$VPCIE"; do
    [ -x "$f" ] || { say "missing $f (build the project first)"; result trace-guest FAIL; exit 1; }
done

provision_or_exit trace-guest
RUN="$SELF_DIR/run"

WORK="$(mktemp -d /tmp/vpcie-tt.XXXXXX)" # short: unix socket paths
if [ -n "$KEEP_LOGS" ]; then
    mkdir -p "$KEEP_LOGS"
    LOGS="$(cd "$KEEP_LOGS" && pwd)"
else
    LOGS="$WORK/logs"
    mkdir -p "$LOGS"
fi
# shellcheck disable=SC2317 # invoked from the trap
cleanup() {
    if [ -z "$KEEP_LOGS" ] && [ "$FAILED" = 1 ]; then
        local keep
        keep="$CACHE/logs/test-trace-$(date +%Y%m%d-%H%M%S)"
        mkdir -p "$keep" && cp -a "$LOGS/." "$keep/" && say "logs of the failed run kept in $keep"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM HUP

# check NAME FILE PATTERN WHAT: the text trace FILE has a line matching PATTERN.
check() {
    if grep -qE -- "$3" "$2"; then
        return 0
    fi
    say "$1: no $4 in the trace (/$3/)"
    return 1
}

# guest_trace NAME PATH [run options...]: PATH is how the DMA must go
# ("shared memory" or "message").
guest_trace() {
    local name=$1 path=$2 dir="$LOGS/$1" st=0 ok=OK
    shift 2
    say "=== $name: pcitest -r/-w -s 1024 in the guest, vpcie-epf-test --trace"
    mkdir -p "$dir"
    timeout -k 10 $((GUEST_TIMEOUT + OUTER_SLACK)) "$RUN" --cache "$CACHE" --quiet \
        --timeout "$GUEST_TIMEOUT" --log-dir "$dir" "$@" \
        --device "$EPF --socket {sock} --trace $dir/dev.bin" \
        -- 'modprobe pci_endpoint_test && pcitest -r -s 1024 && pcitest -w -s 1024' \
        >"$dir/run.out" 2>&1 || st=$?
    if [ $st -ne 0 ] || [ "$(tr -d '\r' <"$dir/console.log" | grep -ac 'OKAY$')" -ne 2 ]; then
        say "$name: the guest run failed (exit $st)"
        sed 's/^/    | /' "$dir/run.out" | tail -n 10
        tr -d '\r' <"$dir/console.log" 2>/dev/null | sed 's/^/    | /' | tail -n 15
        result "$name" FAIL
        return
    fi
    if ! "$VPCIE" trace --text "$dir/dev.bin" >"$dir/trace.txt" 2>"$dir/trace.err"; then
        say "$name: vpcie trace --text: $(cat "$dir/trace.err")"
        result "$name" FAIL
        return
    fi
    say "$name: $(wc -l <"$dir/trace.txt") records"
    check "$name" "$dir/trace.txt" 'CONNECT .*client connected' "connect" || ok=FAIL
    check "$name" "$dir/trace.txt" 'W config\+0x4 len 2 \(COMMAND\) = 0x0..[4-7]' \
        "bus master enable by the driver" || ok=FAIL
    check "$name" "$dir/trace.txt" 'IRQ_SET +MSI' "MSI set up by QEMU" || ok=FAIL
    check "$name" "$dir/trace.txt" "DMA +write to host .*len 1024 via $path" "1024-byte DMA write" ||
        ok=FAIL
    check "$name" "$dir/trace.txt" "DMA +read from host .*len 1024 via $path" "1024-byte DMA read" ||
        ok=FAIL
    check "$name" "$dir/trace.txt" 'IRQ +MSI vector 0 sent' "MSI sent" || ok=FAIL
    if ! "$VPCIE" trace --perfetto -o "$dir/trace.json" "$dir/dev.bin" ||
        ! python3 "$TOP/tests/integration/check_trace_json.py" "$dir/trace.json" BAR0 config DMA \
            interrupts; then
        say "$name: the Perfetto JSON is not valid"
        ok=FAIL
    fi
    if command -v tshark >/dev/null 2>&1; then
        st=0
        "$VPCIE" trace --pcap -o "$dir/trace.pcap" "$dir/dev.bin" &&
            tshark -X lua_script:"$TOP/tools/wireshark/vpcie.lua" -r "$dir/trace.pcap" -V \
                >"$dir/tshark.txt" 2>&1 || st=$?
        if [ $st -ne 0 ] || grep -qiE 'malformed|lua error' "$dir/tshark.txt" ||
            ! grep -q 'Command: DMA_WRITE (12)' "$dir/tshark.txt"; then
            say "$name: tshark did not decode the pcap cleanly"
            ok=FAIL
        fi
    fi
    result "$name" $ok
}

guest_trace trace-guest-shared "shared memory"
guest_trace trace-guest-private "message" --private-ram
say "logs: $( [ -n "$KEEP_LOGS" ] && echo "$LOGS" || echo "removed (use --keep-logs DIR)")"
[ $FAILED = 0 ] && exit 0
exit 1
