#!/bin/bash
# Guest test of vpcie-virtio-blk: an unmodified Linux guest (Debian 12
# kernel, its virtio_pci + virtio_blk modules) in upstream QEMU attached over
# vfio-user-pci.
#
#   boot 1  packed rings, 1 queue: the guest sees the disk with the image's
#           size, makes an ext2 filesystem on its first 32 MiB, writes a known
#           pattern file and reads it back (caches dropped), writes the same
#           pattern as raw blocks at 48 MiB, discards 1 MiB at 60 MiB
#   host    the image is checked from the host: e2fsck, the file through
#           debugfs, the raw blocks, the discarded range reads as zeros
#   boot 2  split rings (--no-packed), 2 queues, 2 vCPUs: the data written by
#           boot 1 is read back (file and raw) and checked again
# Each boot proves its layout from the guest's side: VIRTIO_F_RING_PACKED
# (bit 34 of /sys/bus/virtio/devices/virtioN/features) is 1 on boot 1 and 0
# on boot 2, and /sys/block/vda/mq has 1 and 2 entries.
#
# All of it runs twice, on a fresh image each time: with guest RAM shared
# (the devices map it: DMA is a memcpy) and with it private (--private-ram:
# every ring and buffer access is a DMA_READ/DMA_WRITE message); the second
# pass's results end in "-private-ram".
#
# Prints "GUEST-RESULT <name> OK|FAIL|SKIP" lines and detail. Exit status: 0
# all OK, 77 VM provisioning unavailable (one "GUEST-RESULT virtio-blk SKIP"),
# 1 otherwise.
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    cat <<'EOF'
Usage: scripts/vm/test-virtio-blk.sh [--build DIR] [--cache DIR] [--keep-logs DIR]
                                    [--only shared|private-ram] [--via-proxy]

  --build DIR       meson build directory with devices/virtio-blk (default ./build)
  --cache DIR       VM provisioning cache (default $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --keep-logs DIR   keep consoles, QEMU and device logs and the images in DIR
                    (default: a temporary directory, kept only if a test failed)
  --only MODE       run one pass only: guest RAM shared, or private (DMA messages)
  --via-proxy       the device listens on TCP (127.0.0.1) and QEMU reaches it
                    through `vpcie proxy` (docs/tcp.md): no fd reaches the device
  -h, --help        this text
EOF
}

BUILD="build"
CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
KEEP_LOGS=""
MODES=(shared private-ram)
VIA_PROXY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:?--build needs a directory}"; shift 2 ;;
        --cache) CACHE="${2:?--cache needs a directory}"; shift 2 ;;
        --keep-logs) KEEP_LOGS="${2:?--keep-logs needs a directory}"; shift 2 ;;
        --only)
            case "${2:-}" in shared|private-ram) MODES=("$2") ;;
                *) echo "test-virtio-blk: --only wants shared or private-ram" >&2; exit 2 ;; esac
            shift 2 ;;
        --via-proxy) VIA_PROXY=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "test-virtio-blk: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "test-virtio-blk: $*"; }
FAILED=0
# shellcheck source=scripts/vm/guest-common.sh
. "$SELF_DIR/guest-common.sh"

IMG_MB=64
FS_KB=32768            # ext2 on the first 32 MiB (1 KiB blocks)
RAW_BLK=12288          # raw pattern at 48 MiB (4 KiB blocks)
DISCARD_MB=60          # 1 MiB discarded here
LINES=65536            # pattern: 65536 lines of 34 bytes (~2.1 MiB)
BOOT_TIMEOUT=240
OUTER_SLACK=60

# --- inputs and provisioning -------------------------------------------------------
[ -d "$BUILD" ] || { say "no build directory $BUILD"; result virtio-blk FAIL; exit 1; }
BUILD="$(cd "$BUILD" && pwd)"
DEV="$BUILD/devices/virtio-blk/vpcie-virtio-blk"
[ -x "$DEV" ] || { say "missing $DEV (build the project first)"; result virtio-blk FAIL; exit 1; }
VPCIE="$BUILD/tools/vpcie/vpcie"

# devcmd ARGS...: the --device command for `run`: the device on {sock}, or
# (--via-proxy) the device on a TCP port with `vpcie proxy` serving {sock}
# (one process group: run stops both).
devcmd() {
    if [ "$VIA_PROXY" = 1 ]; then
        local port=$((24000 + RANDOM % 20000))
        echo "$DEV --listen tcp:127.0.0.1:$port $* & $VPCIE lspci --socket tcp:127.0.0.1:$port --wait 10000 >/dev/null && exec $VPCIE proxy --socket {sock} --connect tcp:127.0.0.1:$port"
    else
        echo "$DEV --socket {sock} $*"
    fi
}

provision_or_exit virtio-blk

WORK="$(mktemp -d /tmp/vpcie-tvb.XXXXXX)" # short: unix socket paths
if [ -n "$KEEP_LOGS" ]; then
    mkdir -p "$KEEP_LOGS"
    LOGS="$(cd "$KEEP_LOGS" && pwd)"
else
    LOGS="$WORK/logs"
    mkdir -p "$LOGS"
fi
cleanup() {
    if [ -z "$KEEP_LOGS" ] && [ "$FAILED" = 1 ]; then
        local keep
        keep="$CACHE/logs/test-virtio-blk-$(date +%Y%m%d-%H%M%S)"
        mkdir -p "$keep" && cp -a "$LOGS/." "$keep/" && say "logs of the failed run kept in $keep"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM HUP

# The pattern, as the guest's busybox awk prints it.
PATTERN="$WORK/pattern.bin"
awk -v n="$LINES" 'BEGIN { for (i = 0; i < n; i++) printf "%08d vpcie virtio-blk pattern\n", i }' >"$PATTERN"
BYTES=$(stat -c %s "$PATTERN")
SUM=$(sha256sum <"$PATTERN" | cut -d' ' -f1)

# --- the guest side ---------------------------------------------------------------
GUEST="$WORK/guest-vblk.sh"
cat >"$GUEST" <<'EOF'
#!/bin/sh
# guest-vblk.sh write|read PACKED QUEUES SECTORS LINES BYTES SUM FS_KB RAW_BLK DISCARD_MB
phase=$1 packed=$2 queues=$3 sectors=$4 lines=$5 bytes=$6 sum=$7 fs_kb=$8 raw=$9 disc=${10}
R() { echo "VBLK-RESULT $1 $2"; }
I() { echo "VBLK-INFO $*"; }
dmesg -n 1
modprobe virtio_pci; modprobe virtio_blk; modprobe crc32c_generic; modprobe ext4
n=0
while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
if [ ! -b /dev/vda ]; then
    R probe FAIL
    dmesg | grep -iE 'virtio|vfio' | tail -n 10 | sed 's/^/VBLK-INFO dmesg: /'
    exit 1
fi
got=$(cat /sys/block/vda/size)
I "vda: $got sectors, $(ls /sys/block/vda/mq | wc -l) hw queue(s), ro=$(cat /sys/block/vda/ro)"
I "interrupts: $(grep virtio /proc/interrupts | awk '{printf "%s %s=%s; ", $NF, $1, $2}')"
[ "$got" = "$sectors" ] && R probe OK || R probe FAIL
# The layout the device was started with, as the guest driver sees it:
# features is one character per bit; bit 34 is VIRTIO_F_RING_PACKED.
feat=$(cat /sys/block/vda/device/features 2>/dev/null)
got_packed=$(echo "$feat" | cut -c35)
got_queues=$(ls /sys/block/vda/mq | wc -l)
I "layout: $(basename "$(readlink /sys/block/vda/device)") VIRTIO_F_RING_PACKED=${got_packed:-?} (want $packed), $got_queues hw queue(s) (want $queues)"
[ "$got_packed" = "$packed" ] && [ "$got_queues" = "$queues" ] && R layout OK || R layout FAIL
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
raw_sum() { dd if=/dev/vda bs=4096 skip="$raw" count=$(( (bytes + 4095) / 4096 )) 2>/dev/null | head -c "$bytes" | sha256sum | cut -d' ' -f1; }
mkdir -p /mnt
if [ "$phase" = write ]; then
    if mke2fs -q -b 1024 /dev/vda "$fs_kb" && mount -t ext2 /dev/vda /mnt; then
        awk -v n="$lines" 'BEGIN { for (i = 0; i < n; i++) printf "%08d vpcie virtio-blk pattern\n", i }' >/mnt/pattern.bin
        s1=$(sha256sum </mnt/pattern.bin | cut -d' ' -f1)
        umount /mnt && drop && mount -t ext2 -o ro /dev/vda /mnt
        s2=$(sha256sum </mnt/pattern.bin | cut -d' ' -f1)
        umount /mnt
        I "fs: written $s1, read back $s2"
        [ "$s1" = "$sum" ] && [ "$s2" = "$sum" ] && R fs OK || R fs FAIL
    else
        R fs FAIL
    fi
    # Raw blocks: a copy of the pattern; then a discarded MiB of non-zero data.
    awk -v n="$lines" 'BEGIN { for (i = 0; i < n; i++) printf "%08d vpcie virtio-blk pattern\n", i }' |
        dd of=/dev/vda bs=4096 seek="$raw" conv=fsync 2>/dev/null
    drop
    s3=$(raw_sum)
    I "raw: read back $s3"
    [ "$s3" = "$sum" ] && R raw OK || R raw FAIL
    dd if=/dev/vda of=/dev/vda bs=1M count=1 seek="$disc" conv=fsync 2>/dev/null
    if blkdiscard -o $((disc * 1048576)) -l 1048576 /dev/vda; then R discard OK; else R discard FAIL; fi
    I "discard: granularity $(cat /sys/block/vda/queue/discard_granularity), max $(cat /sys/block/vda/queue/discard_max_bytes)"
    sync
else
    s4=""
    mount -t ext2 -o ro /dev/vda /mnt && s4=$(sha256sum </mnt/pattern.bin | cut -d' ' -f1) && umount /mnt
    s5=$(raw_sum)
    I "second boot: file $s4, raw $s5"
    [ "$s4" = "$sum" ] && [ "$s5" = "$sum" ] && R reread OK || R reread FAIL
fi
I "requests: $(cat /sys/block/vda/stat)"
EOF

# run_vm NAME ARGS... : one boot; console in $LOGS/NAME/console.log
run_vm() {
    local name="$1" st=0
    shift
    mkdir -p "$LOGS/$name"
    timeout -k 10 $((BOOT_TIMEOUT + OUTER_SLACK)) "$SELF_DIR/run" --cache "$CACHE" --quiet \
        --timeout "$BOOT_TIMEOUT" --log-dir "$LOGS/$name" --file "$GUEST:/opt/" \
        --add-module ext4 --add-module crc32c_generic "$@" >"$LOGS/$name/run.out" 2>&1 || st=$?
    grep -a '^VBLK-INFO' "$LOGS/$name/console.log" 2>/dev/null | sed 's/^VBLK-INFO /    /'
    if [ $st -ne 0 ]; then
        say "$name: run exited with status $st"
        tail -n 20 "$LOGS/$name/run.out" | sed 's/^/    | /'
    fi
    return $st
}
verdict() { # BOOT NAME RESULT-NAME
    local v
    v=$(grep -aE "^VBLK-RESULT $2 (OK|FAIL)" "$LOGS/$1/console.log" 2>/dev/null | tail -n 1 | cut -d' ' -f3)
    result "$3" "${v:-FAIL}"
}
device_notes() { # BOOT
    local log="$LOGS/$1/dev0.log"
    [ -f "$log" ] || return 0
    sed 's/^/    dev: /' "$log" | grep -E 'requests served|driver ready|warn|error' | head -n 8
}
# proxy_path BOOT RESULT-NAME (--via-proxy): the boot really went through
# the proxy over TCP (no fds at the device, interrupts by message).
proxy_path() {
    local log="$LOGS/$1/dev0.log"
    if grep -q 'no fds, interrupts by message' "$log" 2>/dev/null &&
       grep -qE 'session over: .*[1-9][0-9]* interrupts' "$log" 2>/dev/null; then
        grep -h 'session over' "$log" | sed 's/^/    /'
        result "$2" OK
    else
        say "$1: no proxied fd-free session in $log"
        result "$2" FAIL
    fi
}
# logs_clean BOOT RESULT-NAME: neither side complained. A device stuck in a
# DMA wait shows here (QEMU: "timed out waiting for reply"; the device:
# "DMA_READ request failed", "needs reset") even when the guest recovers.
logs_clean() {
    local d="$LOGS/$1" bad=0
    if grep -aE 'warn:|error:' "$d/dev0.log" >/dev/null 2>&1; then bad=1; fi
    if qemu_complained "$d/qemu.log"; then bad=1; fi
    if [ $bad = 1 ]; then
        say "$1: the device or QEMU logged problems:"
        { grep -aE 'warn:|error:' "$d/dev0.log"; grep -av 'terminating on signal' "$d/qemu.log"; } 2>/dev/null |
            head -n 6 | sed 's/^/    | /'
        result "$2" FAIL
    else
        result "$2" OK
    fi
}
SECTORS=$((IMG_MB * 2048))
ARGS="$SECTORS $LINES $BYTES $SUM $FS_KB $RAW_BLK $DISCARD_MB"

# run_pass MODE: both boots and the host check; MODE shared or private-ram.
run_pass() {
    local mode=$1 sfx="" ram=() img b1 b2
    if [ "$mode" = private-ram ]; then
        sfx="-private-ram"
        ram=(--private-ram)
    fi
    b1="boot1$sfx" b2="boot2$sfx"
    img="$LOGS/disk$sfx.img"
    rm -f "$img"
    truncate -s "${IMG_MB}M" "$img"

    # --- boot 1: packed rings, write ---------------------------------------------
    say "$b1: vpcie-virtio-blk (packed rings, guest RAM $mode), mkfs + pattern + raw blocks + discard"
    run_vm "$b1" "${ram[@]+"${ram[@]}"}" --device "$(devcmd --image "$img")" \
        -- "sh /opt/guest-vblk.sh write 1 1 $ARGS"
    device_notes "$b1"
    verdict "$b1" probe "virtio-blk-probe$sfx"
    verdict "$b1" layout "virtio-blk-packed-1q$sfx"
    verdict "$b1" fs "virtio-blk-fs$sfx"
    verdict "$b1" raw "virtio-blk-raw$sfx"
    verdict "$b1" discard "virtio-blk-discard$sfx"
    logs_clean "$b1" "virtio-blk-logs$sfx"
    [ "$VIA_PROXY" = 0 ] || proxy_path "$b1" "virtio-blk-via-proxy$sfx"

    # --- the image from the host ---------------------------------------------------
    say "host: checking $img"
    local host_ok=OK f r z
    if command -v e2fsck >/dev/null && command -v debugfs >/dev/null; then
        # the filesystem is the first FS_KB KiB of the image
        head -c $((FS_KB * 1024)) "$img" >"$WORK/fs.img"
        if e2fsck -fn "$WORK/fs.img" >"$LOGS/e2fsck$sfx.log" 2>&1; then
            echo "    e2fsck: clean"
        else
            echo "    e2fsck: errors (see e2fsck$sfx.log)"; host_ok=FAIL
        fi
        f=$(debugfs -R "cat /pattern.bin" "$WORK/fs.img" 2>/dev/null | sha256sum | cut -d' ' -f1)
        echo "    file via debugfs: $f"
        [ "$f" = "$SUM" ] || host_ok=FAIL
        rm -f "$WORK/fs.img"
    else
        # scripts/install-deps.sh installs e2fsprogs: its absence is a broken setup
        echo "    no e2fsck/debugfs on the host (e2fsprogs): filesystem not checked"; host_ok=FAIL
    fi
    r=$(dd if="$img" bs=4096 skip="$RAW_BLK" 2>/dev/null | head -c "$BYTES" | sha256sum | cut -d' ' -f1)
    echo "    raw blocks: $r"
    [ "$r" = "$SUM" ] || host_ok=FAIL
    z=$(dd if="$img" bs=1M skip="$DISCARD_MB" count=1 2>/dev/null | tr -d '\0' | wc -c)
    echo "    discarded MiB: $z non-zero bytes"
    [ "$z" = 0 ] || host_ok=FAIL
    result "virtio-blk-host-verify$sfx" "$host_ok"

    # --- boot 2: split rings, 2 queues, read ----------------------------------------
    say "$b2: vpcie-virtio-blk (split rings, 2 queues, 2 vCPUs, guest RAM $mode), data of $b1"
    run_vm "$b2" "${ram[@]+"${ram[@]}"}" --smp 2 \
        --device "$(devcmd --image "$img" --no-packed --queues 2)" \
        -- "sh /opt/guest-vblk.sh read 0 2 $ARGS"
    device_notes "$b2"
    verdict "$b2" probe "virtio-blk-probe-split$sfx"
    verdict "$b2" layout "virtio-blk-split-2q$sfx"
    verdict "$b2" reread "virtio-blk-second-boot$sfx"
    logs_clean "$b2" "virtio-blk-logs-split$sfx"
    [ "$VIA_PROXY" = 0 ] || proxy_path "$b2" "virtio-blk-via-proxy-split$sfx"
}

for mode in "${MODES[@]}"; do
    run_pass "$mode"
done

[ "$FAILED" = 0 ] && exit 0 || exit 1
