#!/bin/bash
# Guest test of the RTL devices: the unmodified Linux pci_endpoint_test
# driver and upstream pcitest.sh (the whole matrix, then its READ/WRITE/COPY
# cases with -d), and pcitest.sh's transfers with private guest RAM (DMA by
# messages), against vpcie-epf-test-verilog (rtl/epf-test/epf_test.v under
# Verilator) - test-guest.sh's epf-pcitest and epf-private-ram with the
# device program swapped.
#
#   scripts/vm/test-rtl.sh [--build DIR] [test-guest.sh options]
#
# Prints test-guest.sh's "GUEST-RESULT <name> OK|FAIL|SKIP" lines (scripts/
# test-all.sh files them under test-rtl); one "GUEST-RESULT rtl-verilog
# SKIP" line and status 77 when the build has no Verilog device (verilator
# not installed).
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="build"
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:?--build needs a directory}"; args+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) args+=("$1"); shift ;;
    esac
done
DEV="$BUILD/rtl/vpcie-epf-test-verilog"
if [ ! -x "$DEV" ]; then
    echo "test-rtl: no $DEV (verilator not installed when the project was configured)"
    echo "GUEST-RESULT rtl-verilog SKIP"
    exit 77
fi
# The whole matrix took 240+ s under a load of 13 on 2 cores (the C device:
# 65-90 s on a quiet machine): the RTL run gets a longer limit.
exec "$SELF_DIR/test-guest.sh" --epf "$DEV" --epf-timeout 900 --only epf-pcitest --only epf-private-ram \
    ${args[@]+"${args[@]}"}
