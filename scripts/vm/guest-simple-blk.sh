#!/bin/sh
# Guest side of scripts/vm/test-simple-blk.sh (busybox sh): vpcie-simple-blk
# with drivers/linux/simple-blk, which scripts/vm/run --module built and
# insmod'ed (MSI) before this runs.
#
#   guest-simple-blk.sh SECTORS LINES SUM
#
# MSI: mke2fs on /dev/sblk0, mount, copy /bin/busybox, write a pattern file
# (LINES lines, sha256 SUM) and 64 small files, unmount, drop caches, mount
# read-only and check them all. Then INTx: the driver again with msi=0;
# mount, check again, write intx.txt (the pattern once more), unmount.
# Prints "SBLK-RESULT <name> OK|FAIL" and "SBLK-INFO ..." lines.
sectors=$1 lines=$2 sum=$3
R() { echo "SBLK-RESULT $1 $2"; }
I() { echo "SBLK-INFO $*"; }
dmesg -n 1
modprobe crc32c_generic; modprobe ext4 # ext4 mounts ext2
KO=/lib/modules/$(uname -r)/user/simple_blk.ko
pattern() { awk -v n="$lines" 'BEGIN { for (i = 0; i < n; i++) printf "%08d vpcie simple-blk pattern\n", i }'; }
sha() { sha256sum <"$1" | cut -d' ' -f1; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# irqs MODE: the interrupt count of simple_blk in /proc/interrupts, if its
# line names MODE (PCI-MSI or IO-APIC), else "none"
irqs() {
    l=$(grep simple_blk /proc/interrupts | tr -s ' ')
    I "interrupts: $l" >&2
    case "$l" in *"$1"*) echo "$l" | awk '{ print $2 }' ;; *) echo none ;; esac
}
wait_disk() {
    n=0
    while [ ! -b /dev/sblk0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    [ -b /dev/sblk0 ]
}
check_files() { # the files of the MSI phase, read back: prints OK or FAIL
    ok=OK
    [ "$(sha /mnt/pattern.txt)" = "$sum" ] || { I "pattern.txt: $(sha /mnt/pattern.txt)" >&2; ok=FAIL; }
    cmp /bin/busybox /mnt/busybox >&2 || ok=FAIL
    for i in $(seq 1 64); do
        [ "$(cat /mnt/dir/f"$i")" = "small file $i" ] || { I "dir/f$i differs" >&2; ok=FAIL; }
    done
    echo $ok
}

# --- MSI ------------------------------------------------------------------
if wait_disk; then
    got=$(cat /sys/block/sblk0/size)
    drv=$(basename "$(readlink /sys/block/sblk0/device/driver 2>/dev/null)" 2>/dev/null)
    I "sblk0: $got sectors, driver ${drv:-?}; $(dmesg | grep -a 'simple_blk.*sectors' | tail -n 1)"
    [ "$got" = "$sectors" ] && [ "$drv" = simple_blk ] && R probe OK || R probe FAIL
else
    R probe FAIL
    dmesg | grep -aiE 'simple_blk|vfio' | tail -n 10 | sed 's/^/SBLK-INFO dmesg: /'
    exit 1
fi
mkdir -p /mnt
if mke2fs -q /dev/sblk0 && mount -t ext2 /dev/sblk0 /mnt; then
    cp /bin/busybox /mnt/busybox
    pattern >/mnt/pattern.txt
    mkdir /mnt/dir
    for i in $(seq 1 64); do echo "small file $i" >/mnt/dir/f"$i"; done
    umount /mnt && drop && mount -t ext2 -o ro /dev/sblk0 /mnt && v=$(check_files) || v=FAIL
    umount /mnt || v=FAIL
    R fs-msi "$v"
else
    R fs-msi FAIL
fi
n=$(irqs PCI-MSI)
I "MSI interrupts: $n"
[ "$n" != none ] && [ "$n" -gt 0 ] && R irq-msi OK || R irq-msi FAIL

# --- INTx -----------------------------------------------------------------
rmmod simple_blk && insmod "$KO" msi=0 && wait_disk || { R probe-intx FAIL; exit 1; }
R probe-intx OK
if mount -t ext2 /dev/sblk0 /mnt; then
    v=$(check_files)
    pattern >/mnt/intx.txt
    umount /mnt && drop && mount -t ext2 -o ro /dev/sblk0 /mnt || v=FAIL
    [ "$(sha /mnt/intx.txt)" = "$sum" ] || v=FAIL
    umount /mnt || v=FAIL
    R fs-intx "$v"
else
    R fs-intx FAIL
fi
n=$(irqs IO-APIC)
I "INTx interrupts: $n"
[ "$n" != none ] && [ "$n" -gt 0 ] && R irq-intx OK || R irq-intx FAIL
I "requests: $(cat /sys/block/sblk0/stat)"
errs=$(dmesg | grep -a 'simple_blk' | grep -aiE 'error|lost|busy|warn' | head -n 5)
if [ -n "$errs" ]; then
    echo "$errs" | sed 's/^/SBLK-INFO dmesg: /'
    R driver-log FAIL
else
    R driver-log OK
fi
rmmod simple_blk && R rmmod OK || R rmmod FAIL
exit 0
