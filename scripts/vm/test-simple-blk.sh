#!/bin/bash
# Guest test of vpcie-simple-blk with its own Linux driver
# (drivers/linux/simple-blk, built against the guest kernel by run --module):
#
#   guest  the driver binds with MSI; mke2fs, mount, copy /bin/busybox, a
#          pattern file and 64 small files, unmount, read everything back;
#          then the driver again with msi=0 (INTx): read back, write one more
#          file, unmount (scripts/vm/guest-simple-blk.sh)
#   host   the image: e2fsck -fn clean, and every file through debugfs
#          compared with what the guest wrote
#
# Once with guest RAM shared (the device maps it: DMA is a memcpy) and once
# with it private (--private-ram: every transfer is a DMA_READ/DMA_WRITE
# message); the second pass's results end in "-private-ram".
#
# Prints "GUEST-RESULT <name> OK|FAIL|SKIP" lines. Exit status: 0 all OK, 77
# VM provisioning unavailable (one "GUEST-RESULT simple-blk SKIP"), 1 otherwise.
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOP="$(cd "$SELF_DIR/../.." && pwd)"

usage() {
    cat <<'EOF'
Usage: scripts/vm/test-simple-blk.sh [--build DIR] [--cache DIR] [--keep-logs DIR]
                                    [--only shared|private-ram]

  --build DIR       meson build directory with devices/simple-blk (default ./build)
  --cache DIR       VM provisioning cache (default $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --keep-logs DIR   keep consoles, QEMU and device logs and the images in DIR
                    (default: a temporary directory, kept only if a test failed)
  --only MODE       one pass only: guest RAM shared, or private (DMA messages)
  -h, --help        this text
EOF
}

BUILD="build"
CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
KEEP_LOGS=""
MODES=(shared private-ram)
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:?--build needs a directory}"; shift 2 ;;
        --cache) CACHE="${2:?--cache needs a directory}"; shift 2 ;;
        --keep-logs) KEEP_LOGS="${2:?--keep-logs needs a directory}"; shift 2 ;;
        --only)
            case "${2:-}" in shared|private-ram) MODES=("$2") ;;
                *) echo "test-simple-blk: --only wants shared or private-ram" >&2; exit 2 ;; esac
            shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "test-simple-blk: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "test-simple-blk: $*"; }
FAILED=0
# shellcheck source=scripts/vm/guest-common.sh
. "$SELF_DIR/guest-common.sh"

IMG_MB=64
LINES=65536            # pattern: 65536 lines of 34 bytes (~2.2 MiB)
BOOT_TIMEOUT=240
OUTER_SLACK=60

[ -d "$BUILD" ] || { say "no build directory $BUILD"; result simple-blk FAIL; exit 1; }
BUILD="$(cd "$BUILD" && pwd)"
DEV="$BUILD/devices/simple-blk/vpcie-simple-blk"
[ -x "$DEV" ] || { say "missing $DEV (build the project first)"; result simple-blk FAIL; exit 1; }

provision_or_exit simple-blk
# shellcheck disable=SC1091
. "$CACHE/vm.env"

guest_workdir test-simple-blk

# What the guest writes, made here the same way (busybox awk = awk here).
PATTERN="$WORK/pattern.txt"
awk -v n="$LINES" 'BEGIN { for (i = 0; i < n; i++) printf "%08d vpcie simple-blk pattern\n", i }' >"$PATTERN"
SUM=$(sha256sum <"$PATTERN" | cut -d' ' -f1)
BB_SUM=$(sha256sum <"$VPCIE_VM_BUSYBOX" | cut -d' ' -f1)
SECTORS=$((IMG_MB * 2048))

# verdict BOOT NAME RESULT-NAME: the guest's SBLK-RESULT line, FAIL if absent
verdict() {
    local v
    v=$(tr -d '\r' <"$LOGS/$1/console.log" 2>/dev/null | grep -aE "^SBLK-RESULT $2 (OK|FAIL)$" |
        tail -n 1 | cut -d' ' -f3)
    result "$3" "${v:-FAIL}"
}

# host_check IMG SFX: e2fsck and the files through debugfs
host_check() {
    local img=$1 sfx=$2 ok=OK f n
    if ! command -v e2fsck >/dev/null || ! command -v debugfs >/dev/null; then
        # scripts/install-deps.sh installs e2fsprogs: its absence is a broken setup
        say "no e2fsck/debugfs on the host (e2fsprogs): image not checked"
        result "simple-blk-host-verify$sfx" FAIL
        return
    fi
    if e2fsck -fn "$img" >"$LOGS/e2fsck$sfx.log" 2>&1; then
        echo "    e2fsck -fn: clean"
    else
        echo "    e2fsck -fn: errors:"; sed 's/^/    | /' "$LOGS/e2fsck$sfx.log" | tail -n 15
        ok=FAIL
    fi
    for f in pattern.txt intx.txt; do
        n=$(debugfs -R "cat /$f" "$img" 2>/dev/null | sha256sum | cut -d' ' -f1)
        echo "    /$f via debugfs: $n"
        [ "$n" = "$SUM" ] || ok=FAIL
    done
    n=$(debugfs -R "cat /busybox" "$img" 2>/dev/null | sha256sum | cut -d' ' -f1)
    echo "    /busybox via debugfs: $n (the guest's: $BB_SUM)"
    [ "$n" = "$BB_SUM" ] || ok=FAIL
    for f in 1 33 64; do
        n=$(debugfs -R "cat /dir/f$f" "$img" 2>/dev/null)
        [ "$n" = "small file $f" ] || { echo "    /dir/f$f via debugfs: '$n'"; ok=FAIL; }
    done
    n=$(debugfs -R "ls /dir" "$img" 2>/dev/null | grep -oE '\bf[0-9]+\b' | sort -u | wc -l)
    echo "    /dir: $n files"
    [ "$n" = 64 ] || ok=FAIL
    result "simple-blk-host-verify$sfx" "$ok"
}

run_pass() {
    local mode=$1 sfx="" ram=() img boot st=0
    if [ "$mode" = private-ram ]; then
        sfx="-private-ram"
        ram=(--private-ram)
    fi
    boot="boot$sfx"
    img="$LOGS/disk$sfx.img"
    rm -f "$img"
    mkdir -p "$LOGS/$boot"
    say "$boot: vpcie-simple-blk + drivers/linux/simple-blk (MSI, then INTx), guest RAM $mode"
    timeout -k 10 $((BOOT_TIMEOUT + OUTER_SLACK)) "$SELF_DIR/run" --cache "$CACHE" --quiet \
        --timeout "$BOOT_TIMEOUT" --log-dir "$LOGS/$boot" "${ram[@]+"${ram[@]}"}" \
        --file "$SELF_DIR/guest-simple-blk.sh:/opt/" --add-module ext4 --add-module crc32c_generic \
        --module "$TOP/drivers/linux/simple-blk" \
        --device "$DEV --socket {sock} --image $img --size ${IMG_MB}M" \
        -- "sh /opt/guest-simple-blk.sh $SECTORS $LINES $SUM" >"$LOGS/$boot/run.out" 2>&1 || st=$?
    if grep -q -- '--module .*build failed' "$LOGS/$boot/run.out"; then
        tail -n 30 "$LOGS/$boot/run.out" | sed 's/^/    | /'
        result "simple-blk-build$sfx" FAIL
        return
    fi
    tr -d '\r' <"$LOGS/$boot/console.log" 2>/dev/null | grep -a '^SBLK-INFO' | sed 's/^SBLK-INFO /    /'
    if [ $st -ne 0 ]; then
        say "$boot: run exited with status $st"
        tail -n 20 "$LOGS/$boot/run.out" | sed 's/^/    | /'
        result "simple-blk-run$sfx" FAIL
    fi
    for name in probe fs-msi irq-msi probe-intx fs-intx irq-intx driver-log rmmod; do
        verdict "$boot" "$name" "simple-blk-$name$sfx"
    done
    # neither side complained (a DMA wait stalled to a timeout shows here)
    if grep -aE 'warn:|error:|Sanitizer|runtime error:' "$LOGS/$boot/dev0.log" >/dev/null 2>&1 ||
        qemu_complained "$LOGS/$boot/qemu.log"; then
        say "$boot: the device or QEMU logged problems:"
        { grep -aE 'warn:|error:|Sanitizer|runtime error:' "$LOGS/$boot/dev0.log"
          grep -av 'terminating on signal' "$LOGS/$boot/qemu.log"; } 2>/dev/null | head -n 8 |
            sed 's/^/    | /'
        result "simple-blk-logs$sfx" FAIL
    else
        result "simple-blk-logs$sfx" OK
    fi
    say "host: checking $img"
    host_check "$img" "$sfx"
}

for mode in "${MODES[@]}"; do
    run_pass "$mode"
done
[ "$FAILED" = 0 ] && exit 0 || exit 1
