#!/bin/bash
# Guest test of vpcie-ntb with Linux's own NTB stack (issue 16): two guests
# (scripts/vm/run-pair), one vpcie-ntb between them, the upstream modules
# built by provisioning (ntb, ntb_hw_epf, ntb_transport, ntb_netdev, ntb_tool,
# ntb_perf). In both guests scripts/vm/guest-ntb.sh:
#
#   probe  ntb_hw_epf binds the function
#   net    ntb_netdev gives each an interface, the link comes up, A pings B,
#          a file goes A -> B over TCP and B's sha256 comes back; B unloads
#          ntb_transport and A sees the link go down
#   tool   ntb_tool: scratchpads, doorbells and memory window 0, both ways
#   perf   ntb_perf: A copies into B's window (its figure is printed)
#
# The host compares the checksums on both consoles and checks the device log.
# Prints "GUEST-RESULT <name> OK|FAIL|SKIP" lines. Exit status: 0 all OK, 77
# VM provisioning unavailable (one "GUEST-RESULT ntb SKIP"), 1 otherwise.
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    cat <<'EOF'
Usage: scripts/vm/test-ntb.sh [--build DIR] [--cache DIR] [--keep-logs DIR]
                              [--only shared|private-ram] [--file-kib N]

  --build DIR       meson build directory with devices/ntb (default ./build)
  --cache DIR       VM provisioning cache (default $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --keep-logs DIR   keep the consoles, QEMU and device logs in DIR
                    (default: a temporary directory, kept only if a test failed)
  --only MODE       one pass: guest RAM shared with the device, or private
                    (every window access a DMA message)
  --both            both passes, shared then private-ram (the default; the
                    private-ram pass runs probe, net and tool, not perf)
  --file-kib N      size of the file sent over ntb_netdev (default 512)
  -h, --help        this text
EOF
}

BUILD="build"
CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
KEEP_LOGS=""
MODES=(shared private-ram)
FILE_KIB=512
PERF_ORDER=18 # 256 KiB through the window: every access is trapped, TCG is slow
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:?--build needs a directory}"; shift 2 ;;
        --cache) CACHE="${2:?--cache needs a directory}"; shift 2 ;;
        --keep-logs) KEEP_LOGS="${2:?--keep-logs needs a directory}"; shift 2 ;;
        --only)
            case "${2:-}" in shared|private-ram) MODES=("$2") ;;
                *) echo "test-ntb: --only wants shared or private-ram" >&2; exit 2 ;; esac
            shift 2 ;;
        --both) MODES=(shared private-ram); shift ;;
        --file-kib) FILE_KIB="${2:?}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "test-ntb: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$FILE_KIB" in ''|*[!0-9]*) echo "test-ntb: --file-kib wants a number" >&2; exit 2 ;; esac

say() { echo "test-ntb: $*"; }
FAILED=0
# shellcheck source=scripts/vm/guest-common.sh
. "$SELF_DIR/guest-common.sh"

GUEST_TIMEOUT=900   # per guest, once the device is up (TCG on a loaded machine)
OUTER_SLACK=120

[ -d "$BUILD" ] || { say "no build directory $BUILD"; result ntb FAIL; exit 1; }
BUILD="$(cd "$BUILD" && pwd)"
DEV="$BUILD/devices/ntb/vpcie-ntb"
[ -x "$DEV" ] || { say "missing $DEV (build the project first)"; result ntb FAIL; exit 1; }

provision_or_exit ntb
# shellcheck disable=SC1091
. "$CACHE/vm.env"
if [ -z "${VPCIE_VM_NTB_KO_DIR:-}" ] || [ ! -f "$VPCIE_VM_NTB_KO_DIR/ntb_hw_epf.ko" ]; then
    say "the VM cache has no NTB modules (scripts/vm/provision.sh builds them)"
    result ntb FAIL
    exit 1
fi

guest_workdir test-ntb

# What each side must report (guest-ntb.sh's NTB-CHECK names).
CHECKS_A="probe ntb-netdev ntb-iface ntb-link-up ntb-ping ntb-file ntb-link-down tool-load tool-link
          spad-b-to-a db-b-to-a mw1-read-a-to-b mw2-write-b-to-a perf-run"
CHECKS_B="probe ntb-netdev ntb-iface ntb-link-up ntb-file-recv tool-load tool-link
          spad-a-to-b db-a-to-b mw1-write-a-to-b mw2-read-b-to-a"

# verdicts SIDE CONSOLE SFX: one result per expected check (FAIL when the
# guest never got there), plus any other check the guest failed
verdicts() {
    local side=$1 con=$2 sfx=$3 names name v lc
    lc=$(echo "$side" | tr AB ab)
    if [ "$side" = A ]; then names=$CHECKS_A; else names=$CHECKS_B; fi
    for name in $names; do
        case ",$PHASES," in *,perf,*) ;; *) [ "$name" = perf-run ] && continue ;; esac
        v=$(grep -aE "^NTB-CHECK $name (OK|FAIL)( |$)" "$con" | tail -n 1 | cut -d' ' -f3)
        result "ntb-$lc-$name$sfx" "${v:-FAIL}"
    done
    while read -r name; do
        case " $(echo "$names" | tr -s "\n " "  ") " in *" $name "*) ;; *) result "ntb-$lc-$name$sfx" FAIL ;; esac
    done < <(grep -aE '^NTB-CHECK [^ ]+ FAIL' "$con" | cut -d' ' -f2 | sort -u)
}

run_pass() {
    local mode=$1 sfx="" ram=() out st=0 conA conB sent recv
    PHASES=probe,net,tool,perf
    if [ "$mode" = private-ram ]; then
        sfx="-private-ram"
        ram=(--private-ram)
        PHASES=probe,net,tool # CI time: ntb_perf runs in the shared pass
    fi
    out="$LOGS/pair$sfx"
    mkdir -p "$out"
    say "pair$sfx: two guests, vpcie-ntb between them, guest RAM $mode"
    timeout -k 10 $((GUEST_TIMEOUT + OUTER_SLACK)) "$SELF_DIR/run-pair" --cache "$CACHE" --quiet \
        --timeout "$GUEST_TIMEOUT" --log-dir "$out" "${ram[@]+"${ram[@]}"}" \
        --device "$DEV --socket-a {sock-a} --socket-b {sock-b}" \
        --file "$SELF_DIR/guest-ntb.sh:/opt/" \
        --add-module ntb_hw_epf --add-module ntb_netdev --add-module ntb_tool --add-module ntb_perf \
        -- "sh /opt/guest-ntb.sh $PHASES $FILE_KIB 1 $PERF_ORDER" >"$out/run-pair.out" 2>&1 || st=$?
    conA="$out/A.console"
    conB="$out/B.console"
    tr -d '\r' <"$out/A/console.log" >"$conA" 2>/dev/null
    tr -d '\r' <"$out/B/console.log" >"$conB" 2>/dev/null
    for side in A B; do
        grep -aE '^NTB-(CHECK [^ ]+ FAIL|FIGURE|SUM)' "$out/$side.console" | sed "s/^/    $side: /"
    done
    if [ $st -ne 0 ]; then
        say "pair$sfx: run-pair exited with status $st"
        tail -n 12 "$out/run-pair.out" | sed 's/^/    | /'
        for side in A B; do
            grep -aE 'BUG:|Oops|WARNING:|Call Trace' "$out/$side.console" | head -n 4 | sed "s/^/    $side kernel: /"
        done
        result "ntb-run$sfx" FAIL
    else
        result "ntb-run$sfx" OK
    fi
    verdicts A "$conA" "$sfx"
    verdicts B "$conB" "$sfx"
    # the file's checksum as A sent it and as B computed it, read from the
    # two consoles here (not only the guests' own comparison)
    sent=$(grep -aE '^NTB-SUM sent ' "$conA" | head -n 1 | cut -d' ' -f3-4)
    recv=$(grep -aE '^NTB-SUM recv ' "$conB" | head -n 1 | cut -d' ' -f3-4)
    if [ -n "$sent" ] && [ "$sent" = "$recv" ] && [ "${sent#* }" = $((FILE_KIB * 1024)) ]; then
        say "file over ntb_netdev: A sent, B received: $sent"
        result "ntb-file-checksum$sfx" OK
    else
        say "file over ntb_netdev: A sent '$sent', B received '$recv'"
        result "ntb-file-checksum$sfx" FAIL
    fi
    for side in A B; do
        if grep -aqE 'BUG:|Oops|WARNING:' "$out/$side.console"; then
            say "guest $side: kernel complaint on the console"
            result "ntb-$(echo $side | tr AB ab)-kernel$sfx" FAIL
        fi
    done
    # the device: no error, no sanitizer report; QEMU quiet
    if grep -aE 'error:|Sanitizer|runtime error:' "$out/dev.log" >/dev/null 2>&1 ||
        qemu_complained "$out/A/qemu.log" "$out/B/qemu.log"; then
        say "pair$sfx: the device or QEMU logged problems:"
        { grep -aE 'error:|Sanitizer|runtime error:' "$out/dev.log"
          cat "$out/A/qemu.log" "$out/B/qemu.log" | grep -av 'terminating on signal'; } 2>/dev/null |
            head -n 8 | sed 's/^/    | /'
        result "ntb-logs$sfx" FAIL
    else
        result "ntb-logs$sfx" OK
    fi
}

for mode in "${MODES[@]}"; do
    run_pass "$mode"
done
[ "$FAILED" = 0 ] && exit 0 || exit 1
