#!/bin/bash
# Benchmark of the two-guest NTB link against QEMU's own network between the
# same two guests, measured in the same run (issue 16): one scripts/vm/run-pair
# boot with vpcie-ntb between the guests *and* a virtio-net-pci NIC each on
# QEMU's stream netdev (a unix socket). Guest A then alternates, ROUNDS times:
# ping RTT (10 pings, median) and a FILE_KIB TCP transfer (nc, checksum
# checked) over ntb_netdev, then the same over virtio-net; afterwards ntb_perf
# copies 2^PERF_ORDER bytes into B's memory window ROUNDS times.
#
# Reports medians over the rounds and the ratios ntb_netdev / virtio-net.
# The guests run under TCG (no KVM): the figures measure emulation, not
# hardware, and move with the machine's load; only the ratios measured in
# one run mean anything.
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    cat <<'EOF'
Usage: scripts/vm/bench-ntb.sh [--build DIR] [--cache DIR] [--rounds N]
                               [--file-kib N] [--perf-order N] [--keep-logs DIR]
                               [--private-ram] [--device-args ARGS]

  --build DIR        meson build directory with devices/ntb (default ./build)
  --cache DIR        VM provisioning cache (default $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --rounds N         rounds per link (default 5)
  --file-kib N       TCP transfer size (default 1024)
  --perf-order N     ntb_perf total_order: 2^N bytes per run (default 20)
  --private-ram      guest RAM not shared: every window access a DMA message
  --device-args ARGS extra vpcie-ntb options (e.g. '--mw-size 4M')
  --keep-logs DIR    keep consoles and logs in DIR (default: a temporary directory)
  -h, --help         this text

Output: one line per figure, "ntb-bench <metric> <link> median <v> (<values>)",
then the ratios. Exit status: 0 measured, 1 a round failed, 77 no VM packages.
EOF
}

BUILD="build"
CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
ROUNDS=5
FILE_KIB=1024
PERF_ORDER=20
KEEP_LOGS=""
RAM=()
DEV_ARGS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:?}"; shift 2 ;;
        --cache) CACHE="${2:?}"; shift 2 ;;
        --rounds) ROUNDS="${2:?}"; shift 2 ;;
        --file-kib) FILE_KIB="${2:?}"; shift 2 ;;
        --perf-order) PERF_ORDER="${2:?}"; shift 2 ;;
        --private-ram) RAM=(--private-ram); shift ;;
        --device-args) DEV_ARGS="${2?}"; shift 2 ;;
        --keep-logs) KEEP_LOGS="${2:?}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench-ntb: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
for n in "$ROUNDS" "$FILE_KIB" "$PERF_ORDER"; do
    case "$n" in ''|*[!0-9]*) echo "bench-ntb: not a whole number: '$n'" >&2; exit 2 ;; esac
done

say() { echo "bench-ntb: $*"; }
FAILED=0
# shellcheck source=scripts/vm/guest-common.sh
. "$SELF_DIR/guest-common.sh"

BUILD="$(cd "$BUILD" && pwd)" || exit 1
DEV="$BUILD/devices/ntb/vpcie-ntb"
[ -x "$DEV" ] || { say "missing $DEV (build the project first)"; exit 1; }
provision_or_exit ntb-bench
guest_workdir bench-ntb

TIMEOUT=$((900 + ROUNDS * 300))
st=0
say "one boot of two guests: vpcie-ntb + QEMU stream netdev; $ROUNDS rounds, $FILE_KIB KiB, ntb_perf 2^$PERF_ORDER B"
timeout -k 10 $((TIMEOUT + 120)) "$SELF_DIR/run-pair" --cache "$CACHE" --quiet --timeout "$TIMEOUT" \
    --log-dir "$LOGS" "${RAM[@]+"${RAM[@]}"}" --net-stream \
    --device "$DEV --socket-a {sock-a} --socket-b {sock-b} $DEV_ARGS" \
    --file "$SELF_DIR/guest-ntb.sh:/opt/" \
    --add-module ntb_hw_epf --add-module ntb_netdev --add-module ntb_tool --add-module ntb_perf \
    --add-module virtio_pci --add-module virtio_net \
    -- "sh /opt/guest-ntb.sh probe,bench,perf $FILE_KIB $ROUNDS $PERF_ORDER" >"$LOGS/run-pair.out" 2>&1 || st=$?
CON="$LOGS/A.console"
tr -d '\r' <"$LOGS/A/console.log" >"$CON" 2>/dev/null
if [ $st -ne 0 ] || grep -aqE '^NTB-CHECK [^ ]+ FAIL' "$CON" "$LOGS/B/console.log"; then
    FAILED=1
    say "a round failed (run-pair exit $st):"
    grep -ahE '^NTB-CHECK [^ ]+ FAIL' "$CON" "$LOGS/B/console.log" | sed 's/^/    /'
    tail -n 5 "$LOGS/run-pair.out" | sed 's/^/    | /'
fi

# figure LINK METRIC -> "median (v1 v2 ...)" from the NTB-FIGURE lines
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
values() { grep -aE "^NTB-FIGURE $1 $2 " "$CON" | cut -d' ' -f4; }
declare -A MED=()
for fig in "ntb rtt-ms" "vnet rtt-ms" "ntb tcp-mbps" "vnet tcp-mbps" "ntb perf-mbps"; do
    read -r link metric <<<"$fig"
    vals=$(values "$link" "$metric" | tr '\n' ' ')
    m=$(values "$link" "$metric" | median)
    MED[$link-$metric]=$m
    echo "ntb-bench $metric $link median ${m:-none} (${vals% })"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "ntb-bench ratio tcp-mbps ntb/vnet $(ratio "${MED[ntb-tcp-mbps]}" "${MED[vnet-tcp-mbps]}") (>= 1: the NTB link moves data at least as fast)"
echo "ntb-bench ratio rtt-ms ntb/vnet $(ratio "${MED[ntb-rtt-ms]}" "${MED[vnet-rtt-ms]}") (<= 1: the NTB link answers at least as fast)"
echo "ntb-bench note: TCG guests (no KVM), $(nproc) host CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); the device: $(grep -m1 'serving A' "$LOGS/dev.log" | sed 's/.*: \(2\|[0-9]\) windows/\1 windows/')"
[ -n "$KEEP_LOGS" ] || say "logs: run with --keep-logs DIR to keep them"
[ "$FAILED" = 0 ]
