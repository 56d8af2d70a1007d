#!/bin/sh
# Guest side of soak-kill-qemu.py (runs in the busybox guest): pcitest
# transfers back to back against vpcie-epf-test (pci_endpoint_test driver),
# one case per line of CASES ("FLAGS SIZE", e.g. "-r 1024" or "-w -d 65536"),
# until the host kills QEMU or the device.
#
#   guest-soak.sh CASES IRQ     IRQ: pcitest -i value (0 INTx, 1 MSI, 2 MSI-X)
#
# Console protocol (parsed by the host):
#   SOAK-BEGIN <n>            driver bound, n cases follow
#   SOAK-XFER <i>             case i transferred (pcitest: OKAY)
#   SOAK-FAIL <i> <text>      case i did not (pcitest's words); the loop stops
#   SOAK-END <n>              every case transferred
#   SOAK-ERROR <text>         set-up failed
# Kernel messages are kept off the console (dmesg -n 1).
CASES=${1:?cases file}
IRQ=${2:-1}
DEV=/dev/pci-endpoint-test.0
dmesg -n 1
if [ ! -c $DEV ]; then
    modprobe pci_endpoint_test
    sleep 1
fi
[ -c $DEV ] || { echo "SOAK-ERROR no $DEV (pci_endpoint_test did not bind)"; exit 1; }
out=$(pcitest -i "$IRQ" 2>&1)
case "$out" in
    *"NOT OKAY"*|"") echo "SOAK-ERROR pcitest -i $IRQ: $(echo "$out" | tr '\n' ' ')"; exit 1 ;;
esac
echo "SOAK-BEGIN $(wc -l <"$CASES")"
i=0
while read -r flags; do
    i=$((i + 1))
    # shellcheck disable=SC2086 # FLAGS holds several words
    out=$(pcitest $flags 2>&1)
    case "$out" in
        *"NOT OKAY"*|"") echo "SOAK-FAIL $i $flags: $(echo "$out" | tr -s '\t\n' '  ')"; exit 1 ;;
        *OKAY*) echo "SOAK-XFER $i" ;;
        *) echo "SOAK-FAIL $i $flags: $(echo "$out" | tr -s '\t\n' '  ')"; exit 1 ;;
    esac
done <"$CASES"
echo "SOAK-END $i"
exit 0
