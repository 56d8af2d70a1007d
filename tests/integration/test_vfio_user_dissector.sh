#!/bin/sh
# SPDX-License-Identifier: MIT
# The Wireshark dissector for vfio-user over TCP (tools/wireshark/vfio-user.lua):
# tshark captures `vpcie pcitest` against vpcie-epf-test on TCP loopback, then
# decodes the capture with the dissector: VERSION, region reads/writes,
# SET_IRQS, DMA_READ/DMA_WRITE and vpcie's IRQ_NOTIFY must all be named, with
# no malformed message and no Lua error.
#
# Environment (set by meson): VPCIE, VPCIE_EPF, LUA (the dissector).
# Exit 0 pass, 1 fail, 77 skip (no tshark, or no permission to capture on lo).
set -u
: "${VPCIE:?}" "${VPCIE_EPF:?}" "${LUA:?}"

. "$(dirname "$0")/lib.sh"
test_setup dissector
cap=
test_cleanup_extra() {
	[ -n "$cap" ] && kill "$cap" 2>/dev/null && wait "$cap" 2>/dev/null
}

if ! command -v tshark >/dev/null 2>&1; then
	echo "SKIP: tshark is not installed (scripts/install-deps.sh installs it)"
	exit 77
fi
if ! tshark -D 2>/dev/null | grep -q '\blo\b'; then
	echo "SKIP: no permission to capture on the loopback interface (run as root)"
	exit 77
fi

# A device on a free TCP port.
port=$(( 22000 + $$ % 20000 ))
for _ in 1 2 3 4 5 6 7 8; do
	"$VPCIE_EPF" --listen "tcp:127.0.0.1:$port" 2>"$tmp/dev.log" &
	pid=$!
	"$VPCIE" lspci --socket "tcp:127.0.0.1:$port" --wait 3000 >/dev/null 2>&1 && break
	kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
	port=$((port + 101))
done
[ -n "$pid" ] || { fail "no device"; test_finish; exit; }

tshark -i lo -f "tcp port $port" -w "$tmp/cap.pcap" 2>"$tmp/tshark-cap.err" &
cap=$!
for _ in $(seq 100); do
	grep -q 'Capturing on' "$tmp/tshark-cap.err" && break
	sleep 0.1
done
grep -q 'Capturing on' "$tmp/tshark-cap.err" || fail "tshark did not start capturing: $(cat "$tmp/tshark-cap.err")"
sleep 1 # dumpcap says so before its filter is attached: give it time
"$VPCIE" pcitest --socket "tcp:127.0.0.1:$port" -b 0 -m 1 -x 1 -r -s 1024 -w -s 70000 \
	>"$tmp/pt.out" 2>&1
grep -q '^5 passed, 0 failed$' "$tmp/pt.out" && ok || fail "pcitest: $(cat "$tmp/pt.out")"
sleep 0.5 # the last segments reach the capture
kill "$cap" && wait "$cap"
cap=

tshark -X lua_script:"$LUA" -d "tcp.port==$port,vfio-user" -r "$tmp/cap.pcap" -V \
	>"$tmp/decoded.txt" 2>"$tmp/decode.err" || fail "tshark: $(cat "$tmp/decode.err")"
for what in 'Command: VERSION (1)' 'Version: 0.1' 'Capabilities (JSON): {"capabilities"' \
	'Command: REGION_READ (9)' 'Command: REGION_WRITE (10)' 'Command: DEVICE_SET_IRQS (8)' \
	'Command: DMA_READ (11)' 'Command: DMA_WRITE (12)' 'Command: IRQ_NOTIFY (vpcie) (30209)' \
	'Type: reply (1)' 'Region: BAR0 (0)' 'IRQ index: MSI-X (2)'; do
	grep -qF -- "$what" "$tmp/decoded.txt" && ok || fail "no '$what' in the decoded capture"
done
if grep -qi 'malformed\|lua error' "$tmp/decoded.txt" "$tmp/decode.err"; then
	fail "malformed or Lua error: $(grep -i -m3 'malformed\|lua error' "$tmp/decoded.txt" "$tmp/decode.err")"
else
	ok
fi
test_finish
