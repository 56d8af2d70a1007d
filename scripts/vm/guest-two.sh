#!/bin/sh
# Guest side of test-guest.sh's two-devices test (runs in the busybox guest):
# vpcie-epf-test bound to pci_endpoint_test and vpcie-sample bound to the
# stock uio_pci_generic, both exercised, then both config spaces dumped.
#
# Output protocol (parsed by test-guest.sh from the console):
#   T2-CHECK <name> OK|FAIL <detail>   one functional check
#   T2-INFO <text>                     evidence and context
#   T2-CFG <label> <hex bytes...>      od -tx1 of sysfs config (all of it)
#   T2-RES <label> <start end flags>   sysfs resource lines (BARs 0-5, ROM)
#   T2-BDF <label> <bdf>
dmesg -n 1
SAMPLE_ID=0x56504349

check() { # name ok|fail detail...
    n="$1"; r="$2"; shift 2
    if [ "$r" = ok ]; then echo "T2-CHECK $n OK $*"; else echo "T2-CHECK $n FAIL $*"; fi
}
info() { echo "T2-INFO $*"; }

find_dev() { # vendor device -> sysfs dir
    for d in /sys/bus/pci/devices/*; do
        if [ "$(cat "$d/vendor")" = "0x$1" ] && [ "$(cat "$d/device")" = "0x$2" ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}
driver_of() { [ -L "$1/driver" ] && basename "$(readlink "$1/driver")" || echo none; }

info "guest: $(nproc) online CPUs, kernel $(uname -r)"
vpcie-lspci | sed 's/^/T2-INFO lspci: /'

EPF=$(find_dev 104c b500)
SMP=$(find_dev 1234 5650)
[ -n "$EPF" ] && check epf-present ok "$(basename "$EPF")" || check epf-present fail "no 104c:b500 function"
[ -n "$SMP" ] && check sample-present ok "$(basename "$SMP")" || check sample-present fail "no 1234:5650 function"

# --- epf-test with the upstream pci_endpoint_test driver ---------------------------
if [ -n "$EPF" ]; then
    echo "T2-BDF epf $(basename "$EPF")"
    drv=$(driver_of "$EPF")
    [ "$drv" = pci-endpoint-test ] && check epf-driver ok "bound to $drv" || check epf-driver fail "driver: $drv"
    for args in "-b 0" "-b 5" "-i 0" "-l" "-i 1" "-m 1" "-m 2" "-r -s 1024" "-w -s 1024000 -d" "-c -s 1025"; do
        # shellcheck disable=SC2086 # $args is a list of options
        out=$(timeout 20 pcitest $args 2>&1)
        st=$?
        out=$(echo "$out" | tr -s '\t\n' '  ')
        name="epf-pcitest$(echo " $args" | tr -d ' ')"
        [ $st -eq 0 ] && check "$name" ok "pcitest $args: $out" || check "$name" fail "pcitest $args: $out (exit $st)"
    done
fi

# --- vpcie-sample with the stock uio_pci_generic driver ----------------------------
if [ -n "$SMP" ]; then
    echo "T2-BDF sample $(basename "$SMP")"
    modprobe uio_pci_generic || check sample-driver fail "modprobe uio_pci_generic failed"
    echo "1234 5650" >/sys/bus/pci/drivers/uio_pci_generic/new_id
    i=0
    while [ "$(driver_of "$SMP")" = none ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
    drv=$(driver_of "$SMP")
    uio=$(ls "$SMP/uio" 2>/dev/null | head -n 1)
    if [ "$drv" = uio_pci_generic ] && [ -n "$uio" ] && [ -c "/dev/$uio" ]; then
        check sample-driver ok "bound to $drv, /dev/$uio"
    else
        check sample-driver fail "driver: $drv, uio node: '${uio:-none}'"
        dmesg | tail -n 5 | sed 's/^/T2-INFO dmesg: /'
    fi
    R0="$SMP/resource0"
    info "sample BAR0 resource: $(sed -n 1p "$SMP/resource")"
    id=$(vpcie-mmio "$R0" 0x00 2>&1)
    [ "$id" = "$SAMPLE_ID" ] && check sample-id ok "BAR0+0x00 = $id" || check sample-id fail "BAR0+0x00 = $id, want $SAMPLE_ID"
    ok=ok; got=""
    for v in 0xa5c31e0f 0x00000000 0xffffffff 0x12345678; do
        vpcie-mmio "$R0" 0x04 "$v" && r=$(vpcie-mmio "$R0" 0x04 2>&1) || r="error"
        got="$got $v->$r"
        [ "$r" = "$v" ] || ok=fail
    done
    check sample-scratch $ok "BAR0+0x04 write->read:$got"

    # INTx through uio: the handler of uio_pci_generic checks the INTx status
    # bit, masks with Command.INTxDisable and wakes a reader of /dev/uioN.
    if [ -n "$uio" ] && [ -c "/dev/$uio" ]; then
        rm -f /tmp/uio.out
        (dd if="/dev/$uio" bs=4 count=1 2>/dev/null | od -An -tu4 | tr -d ' ' >/tmp/uio.out) &
        rd=$!
        sleep 0.5
        vpcie-mmio "$R0" 0x30 1 # SAMPLE_REG_INTX_LEVEL: assert
        i=0
        while [ ! -s /tmp/uio.out ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill "$rd" 2>/dev/null
        cnt=$(cat /tmp/uio.out 2>/dev/null)
        cmd=$(od -An -tx2 -j4 -N2 "$SMP/config" | tr -d ' ')
        sts=$(od -An -tx2 -j6 -N2 "$SMP/config" | tr -d ' ')
        irq=$(cat "$SMP/irq")
        vpcie-mmio "$R0" 0x30 0 # deassert
        if [ -n "$cnt" ] && [ "$cnt" -ge 1 ]; then
            check sample-uio-intx ok "event count $cnt after asserting INTx; command 0x$cmd (INTxDisable set by the handler), status 0x$sts"
        else
            check sample-uio-intx fail "no uio event within 5 s; command 0x$cmd status 0x$sts; /proc/interrupts: $(grep -E "^ *$irq:" /proc/interrupts | tr -s ' ')"
        fi
    fi
fi

# --- config space and resources, as the guest sees them -------------------------------
for pair in "epf $EPF" "sample $SMP"; do
    # shellcheck disable=SC2086 # split "label dir"
    set -- $pair
    [ -n "$2" ] || continue
    info "$1 config: $(wc -c <"$2/config") bytes readable"
    od -An -tx1 -v "$2/config" | sed "s/^/T2-CFG $1/"
    sed "s/^/T2-RES $1 /" "$2/resource"
done

# --- platform evidence: MSI-X vectors a 1-vCPU guest can grant -----------------
if [ -n "$EPF" ]; then
    out=$(timeout 20 pcitest -i 2 | tr -s '\t' ' ')
    info "platform evidence ($(nproc) vCPU): pcitest -i 2: $out"
    dmesg | grep -E 'Failed to (request IRQ|get MSI-X)' | tail -n 1 | sed 's/^/T2-INFO platform evidence: dmesg: /'
    info "platform evidence: /proc/interrupts has $(grep -c '^ *[0-9]*:' /proc/interrupts) IRQ lines on $(nproc) CPU(s)"
    timeout 20 pcitest -i 1 >/dev/null # back to MSI, as at probe time
fi
exit 0
