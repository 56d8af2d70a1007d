#!/usr/bin/env bash
# The main demo: install dependencies, build, start the epf-test device,
# run the Linux PCI endpoint test matrix against it through the host runtime,
# print the table, stop the device cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

dir=$(mktemp -d /tmp/vpcie-demo.XXXXXX)
sock=$dir/epf.sock
build/devices/epf-test/vpcie-epf-test --socket "$sock" 2>"$dir/device.log" &
dev=$!
cleanup() {
	kill -TERM "$dev" 2>/dev/null || true
	wait "$dev" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

set +e
build/tools/vpcie/vpcie pcitest --socket "$sock" "$@"
rc=$?
set -e
kill -TERM "$dev"
wait "$dev" && echo "device stopped cleanly (socket removed: $([ -e "$sock" ] && echo no || echo yes))"
exit $rc
