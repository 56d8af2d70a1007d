#!/bin/sh
# Guest side of scripts/vm/test-kmod.sh (busybox sh): examples/minimal-device.c
# bound to the example driver examples/driver/vpcie_minimal.c, which
# scripts/vm/run --module built and insmod'ed before this runs.
# Prints "KMOD-CHECK <name> OK|FAIL <detail>" lines; the host judges them.

check() { # NAME OK|FAIL DETAIL...
    n=$1 v=$2
    shift 2
    echo "KMOD-CHECK $n $v $*"
}

# --- module loaded, device bound ---------------------------------------------
if grep -q '^vpcie_minimal ' /proc/modules; then
    check insmod OK "vpcie_minimal in /proc/modules"
else
    check insmod FAIL "vpcie_minimal not loaded"
fi
D=""
for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor"):$(cat "$d/device")" = "0x1234:0x0001" ] && D=$d
done
vpcie-lspci
if [ -z "$D" ]; then
    check bound FAIL "no PCI function 1234:0001 in the guest"
    exit 1
fi
drv=-
[ -L "$D/driver" ] && drv=$(basename "$(readlink "$D/driver")")
if [ "$drv" = vpcie_minimal ]; then
    check bound OK "$(basename "$D") driver $drv"
else
    check bound FAIL "$(basename "$D") driver $drv"
fi
dmesg | grep -a vpcie_minimal

# --- what the driver read and took ---------------------------------------------
id=$(cat "$D/id" 2>&1)
if [ "$id" = 1234:0001 ]; then
    check id OK "driver read $id from config space"
else
    check id FAIL "sysfs id: '$id'"
fi

# At probe the driver rang the doorbell and waited for the MSI.
irqs=$(cat "$D/irqs" 2>&1)
if [ "$irqs" = 1 ] && dmesg | grep -q 'vpcie_minimal.*doorbell: MSI received'; then
    check msi-probe OK "1 MSI at probe"
else
    check msi-probe FAIL "irqs '$irqs' after probe: $(dmesg | grep -a 'vpcie_minimal.*doorbell' | tail -n 1)"
fi
# Three more, one at a time: each write returns once its MSI came (or fails).
rung=0
for _ in 1 2 3; do
    echo 0 >"$D/doorbell" && rung=$((rung + 1))
done
irqs=$(cat "$D/irqs" 2>&1)
msi=$(grep -a 'vpcie_minimal' /proc/interrupts | tr -s ' ')
if [ $rung = 3 ] && [ "$irqs" = 4 ] && echo "$msi" | grep -q 'MSI'; then
    check msi-doorbell OK "3 of 3 doorbells answered, 4 MSIs: $msi"
else
    check msi-doorbell FAIL "$rung of 3 doorbells answered, irqs '$irqs': $msi"
fi

# --- register pokes from the shell: vpcie-mmio and busybox devmem ---------------
# The guest kernel has CONFIG_IO_STRICT_DEVMEM: while a driver holds the BAR
# (pci_request_region, here pcim_iomap_regions) neither sysfs resource0 nor
# /dev/mem may map it. Shown, then the driver lets go.
R0="$D/resource0"
echo "KMOD-INFO while bound: vpcie-mmio says: $(vpcie-mmio "$R0" 0x0 2>&1)"
if rmmod vpcie_minimal && [ ! -L "$D/driver" ]; then
    check rmmod OK "unbound"
else
    check rmmod FAIL "rmmod vpcie_minimal failed"
fi
lower() { tr 'A-F' 'a-f'; }
# 0xa5a5a5a5 is no vector: the device stores it and raises nothing.
vpcie-mmio "$R0" 0x0 0xa5a5a5a5
v=$(vpcie-mmio "$R0" 0x0 2>&1)
bar0=$(head -n 1 "$D/resource" | cut -d' ' -f1)
dm=$(devmem "$bar0" 32 2>&1 | lower)
if [ "$v" = 0xa5a5a5a5 ] && [ "$dm" = 0xa5a5a5a5 ]; then
    check guest-mmio OK "vpcie-mmio wrote and read $v (devmem reads $dm)"
else
    check guest-mmio FAIL "vpcie-mmio read '$v', devmem '$dm'"
fi
devmem "$bar0" 32 0x5a5a5a5a
v=$(devmem "$bar0" 32 2>&1 | lower)
mm=$(vpcie-mmio "$R0" 0x0 2>&1)
if [ "$v" = 0x5a5a5a5a ] && [ "$mm" = 0x5a5a5a5a ]; then
    check guest-devmem OK "devmem $bar0 wrote and read $v (vpcie-mmio reads $mm)"
else
    check guest-devmem FAIL "devmem $bar0 read '$v', vpcie-mmio '$mm'"
fi

# --- bind again: a second probe gets its vector and MSI again ---------------------
insmod "/lib/modules/$(uname -r)/user/vpcie_minimal.ko"
irqs=$(cat "$D/irqs" 2>&1)
drv=-
[ -L "$D/driver" ] && drv=$(basename "$(readlink "$D/driver")")
if [ "$drv" = vpcie_minimal ] && [ "$irqs" = 1 ]; then
    check rebind OK "bound again, 1 MSI at probe"
else
    check rebind FAIL "driver $drv, irqs '$irqs'"
fi
dmesg | tail -n 5
exit 0
