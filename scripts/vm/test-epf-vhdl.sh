#!/bin/bash
# Guest test: the unmodified Linux pci_endpoint_test driver and upstream
# pcitest.sh (whole matrix, then its READ/WRITE/COPY cases with -d) against
# vpcie-epf-test-vhdl - pci-epf-test's register block and DMA engine in VHDL,
# simulated by GHDL (rtl/epf-test/epf_test.vhd, docs/rtl.md). This is
# test-guest.sh's epf-pcitest with the RTL device program.
#
# Prints test-guest.sh's "GUEST-RESULT <name> OK|FAIL|SKIP" lines
# (scripts/test-all.sh files them under test-epf-vhdl). Options: those of test-guest.sh (--build, --cache,
# --keep-logs, --smp, --verbose). Exit status as test-guest.sh's; 77 with a
# SKIP line when the build has no GHDL device (ghdl-llvm not installed).
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD=build
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:-}"; shift 2 || break ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) shift ;;
    esac
done
PROG="$BUILD/rtl/ghdl/vpcie-epf-test-vhdl"
if [ ! -x "$PROG" ]; then
    echo "test-epf-vhdl: $PROG not built (GHDL missing?)"
    echo "GUEST-RESULT epf-vhdl SKIP"
    exit 77
fi
PROG="$(cd "$(dirname "$PROG")" && pwd)/$(basename "$PROG")"
# The RTL device is slower than the C one (GHDL: ~0.1 M cycles/s): a longer
# guest timeout for the whole matrix.
exec "$SELF_DIR/test-guest.sh" --only epf-pcitest --epf "$PROG" --epf-timeout 900 "${args[@]+"${args[@]}"}"
