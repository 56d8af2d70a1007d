#!/bin/bash
# Guest test of the driver developer's workflow: your own device, your own
# kernel module, in a Linux guest.
#
#   vm-run-logs   scripts/vm/run with a logs directory that holds no run-*
#                 yet (and with more than 30 old runs): it runs, prunes to
#                 30 and leaves no temporary directory behind (a stand-in
#                 QEMU that prints the guest's exit marker: no boot)
#   kmod-*        examples/minimal-device.c attached to a guest; run --module
#                 builds examples/driver/vpcie_minimal.c against the guest
#                 kernel's headers and insmods it; the guest checks that it
#                 bound, read the IDs, took MSIs, and that vpcie-mmio and
#                 busybox devmem reach the register (scripts/vm/guest-kmod.sh)
#
# Prints "GUEST-RESULT <name> OK|FAIL|SKIP" lines (scripts/test-all.sh counts
# them). See --help and docs/vm.md.
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOP="$(cd "$SELF_DIR/../.." && pwd)"

usage() {
    cat <<'EOF'
Usage: scripts/vm/test-kmod.sh [--build DIR] [--cache DIR] [--keep-logs DIR] [--smp N]
                              [--only vm-run-logs|kmod]

  --build DIR       meson build directory (default ./build): examples/minimal-device
  --cache DIR       VM provisioning cache (default $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --keep-logs DIR   keep every log in DIR (default: a temporary directory,
                    removed unless a test failed)
  --smp N           vCPUs of the guest (default 1)
  --only NAME       run only vm-run-logs or kmod
  -h, --help        this text

Exit status: 0 every result OK; 77 the VM packages could not be fetched
(one "GUEST-RESULT kmod SKIP" line); 1 otherwise.
EOF
}

BUILD="build"
CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
KEEP_LOGS=""
SMP=1
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:?--build needs a directory}"; shift 2 ;;
        --cache) CACHE="${2:?--cache needs a directory}"; shift 2 ;;
        --keep-logs) KEEP_LOGS="${2:?--keep-logs needs a directory}"; shift 2 ;;
        --smp) SMP="${2:?--smp needs a number}"; shift 2 ;;
        --only) ONLY="${2:?--only needs a test name}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "test-kmod: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$ONLY" in ''|vm-run-logs|kmod) ;; *) echo "test-kmod: no test '$ONLY'" >&2; exit 2 ;; esac
case "$SMP" in ''|*[!0-9]*|0) echo "test-kmod: --smp wants a number" >&2; exit 2 ;; esac

say() { echo "test-kmod: $*"; }
# shellcheck source=scripts/vm/guest-common.sh disable=SC1091
. "$SELF_DIR/guest-common.sh"
FAILED=0

KMOD_TIMEOUT=120 # build ~7 s, boot ~7 s, checks ~2 s under TCG
OUTER_SLACK=60

[ -d "$BUILD" ] || { say "no build directory $BUILD"; result kmod FAIL; exit 1; }
BUILD="$(cd "$BUILD" && pwd)"
MIN="$BUILD/examples/minimal-device"
[ -x "$MIN" ] || { say "missing $MIN (build the project first)"; result kmod FAIL; exit 1; }

provision_or_exit kmod
RUN="$SELF_DIR/run"

WORK="$(mktemp -d /tmp/vpcie-tk.XXXXXX)" # short: unix socket paths
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
        keep="$CACHE/logs/test-kmod-$(date +%Y%m%d-%H%M%S)"
        mkdir -p "$keep" && cp -a "$LOGS/." "$keep/" && say "logs of the failed run kept in $keep"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM HUP

# =============================================================================
# vm-run-logs: run's log directory housekeeping, with a stand-in QEMU
# =============================================================================
test_run_logs() {
    local dir="$LOGS/vm-run-logs" shadow="$WORK/shadow" tmp="$WORK/tmp" ok=OK st i n
    say "=== vm-run-logs: scripts/vm/run with a logs directory holding no run-* (then 31 of them)"
    mkdir -p "$dir" "$tmp" "$shadow/logs/test-guest-earlier"
    # A cache of its own (so its logs directory is ours) naming the real
    # cache's artefacts: vm.env holds absolute paths, the stamps make
    # provision.sh take its offline fast path.
    cp -a "$CACHE/stamps" "$CACHE/vm.env" "$shadow/"
    [ -d "$CACHE/initramfs-base" ] && ln -s "$CACHE/initramfs-base" "$shadow/initramfs-base"
    # QEMU's stand-in: the guest's exit marker on the console, no boot.
    cat >"$WORK/fake-qemu" <<'EOF'
#!/bin/sh
con=""
for a; do case $a in file,id=con,path=*) con=${a#file,id=con,path=} ;; esac; done
[ -n "$con" ] || { echo "fake-qemu: no console chardev" >&2; exit 1; }
printf 'VPCIE-GUEST-BEGIN 0\nVPCIE-GUEST-EXIT 0\n' >>"$con"
EOF
    chmod 755 "$WORK/fake-qemu"
    fake_run() { # OUT: run 'true' in the shadow cache, temporaries in $tmp
        local s=0
        TMPDIR="$tmp" timeout -k 5 60 "$RUN" --cache "$shadow" --qemu "$WORK/fake-qemu" \
            --quiet --timeout 30 -- true >"$1" 2>&1 || s=$?
        return $s
    }

    st=0; fake_run "$dir/first.out" || st=$?
    n=$(find "$shadow/logs" -mindepth 1 -maxdepth 1 -name 'run-*' | wc -l)
    if [ $st -ne 0 ] || ! grep -q 'vm: guest exit 0' "$dir/first.out" || [ "$n" -ne 1 ] ||
        [ ! -d "$shadow/logs/test-guest-earlier" ]; then
        say "no run-* yet: exit $st, $n run-* directories after it; run said:"
        sed 's/^/    | /' "$dir/first.out"
        ok=FAIL
    fi
    # More than 30 earlier runs: the oldest go, the 29 newest stay, plus this one.
    rm -rf "$shadow/logs"/run-*
    for i in $(seq 1 31); do
        mkdir "$shadow/logs/run-old-$i"
        touch -d "@$((1000000000 + i * 60))" "$shadow/logs/run-old-$i"
    done
    st=0; fake_run "$dir/second.out" || st=$?
    n=$(find "$shadow/logs" -mindepth 1 -maxdepth 1 -name 'run-*' | wc -l)
    if [ $st -ne 0 ] || [ "$n" -ne 30 ] || [ -e "$shadow/logs/run-old-2" ] ||
        [ ! -e "$shadow/logs/run-old-3" ] || [ ! -e "$shadow/logs/run-old-31" ]; then
        say "31 earlier runs: exit $st, $n run-* directories after it (want 30: run-old-3..31 and the new one)"
        sed 's/^/    | /' "$dir/second.out"
        ok=FAIL
    fi
    if [ -n "$(ls -A "$tmp")" ]; then
        say "run left temporary files behind: $(find "$tmp" -mindepth 1 -maxdepth 1 -printf '%f ')"
        ok=FAIL
    fi
    result vm-run-logs $ok
}

# =============================================================================
# kmod: the example driver bound to the minimal device in a guest
# =============================================================================
test_kmod() {
    local dir="$LOGS/kmod" st=0 line name verdict rest
    local -A seen=()
    say "=== kmod: examples/minimal-device.c + examples/driver/vpcie_minimal.c (run --module)"
    mkdir -p "$dir"
    timeout -k 10 $((KMOD_TIMEOUT + OUTER_SLACK)) "$RUN" --cache "$CACHE" --quiet \
        --timeout "$KMOD_TIMEOUT" --smp "$SMP" --log-dir "$dir" \
        --file "$SELF_DIR/guest-kmod.sh:/opt/" \
        --module "$TOP/examples/driver/vpcie_minimal.c" \
        --device "$MIN --socket {sock}" \
        -- sh /opt/guest-kmod.sh >"$dir/run.out" 2>&1 || st=$?
    if grep -q -- '--module .*build failed' "$dir/run.out"; then
        sed 's/^/    | /' "$dir/run.out" | tail -n 40
        result kmod-build FAIL
        return
    fi
    result kmod-build OK
    say "guest: exit $st; $(grep -aoE 'guest exit [0-9]+ \(boot [^)]*\)' "$dir/run.out" | tail -n 1)"
    [ $st -eq 0 ] || sed 's/^/    | /' "$dir/run.out" | tail -n 25
    tr -d '\r' <"$dir/console.log" | grep -a -e '^KMOD-INFO ' -e '^\[.*vpcie_minimal' |
        awk '!seen[$0]++ { print "  " $0 }'
    while IFS= read -r line; do
        read -r _ name verdict rest <<<"$line"
        say "$name: $verdict $rest"
        seen[$name]=1
        result "kmod-$name" "$verdict"
    done < <(tr -d '\r' <"$dir/console.log" | grep -a '^KMOD-CHECK ')
    for name in insmod bound id msi-probe msi-doorbell rmmod guest-mmio guest-devmem rebind; do
        [ -n "${seen[$name]:-}" ] && continue
        say "$name: the guest never reported it"
        result "kmod-$name" FAIL
    done
    [ $st -eq 0 ] || result kmod-run FAIL
    # The device process: a sanitizer build reports on its stderr.
    if grep -qE 'Sanitizer|runtime error:' "$dir/dev0.log" 2>/dev/null; then
        say "minimal-device reported (dev0.log):"
        grep -E -A5 'Sanitizer|runtime error:' "$dir/dev0.log" | head -n 20 | sed 's/^/    | /'
        result kmod-device FAIL
    fi
}

[ -z "$ONLY" ] || [ "$ONLY" = vm-run-logs ] && test_run_logs
[ -z "$ONLY" ] || [ "$ONLY" = kmod ] && test_kmod
say "logs: $( [ -n "$KEEP_LOGS" ] && echo "$LOGS" || echo "removed (use --keep-logs DIR)")"
[ $FAILED = 0 ] && exit 0
exit 1
