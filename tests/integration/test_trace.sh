#!/bin/sh
# SPDX-License-Identifier: MIT
# Transaction tracing end to end: vpcie-epf-test with VPCIE_TRACE=FILE and
# `vpcie --trace FILE pcitest -r -s 1024` record one session from both sides;
# `vpcie trace --perfetto` of both must be valid trace-event JSON with BAR,
# config, DMA and interrupt tracks; `--pcap` must decode in tshark with the
# vpcie.lua dissector (fields present, no malformed packet); `--text` names
# config registers; bad and truncated traces are refused with the file and
# offset named.
#
# Environment (set by meson): VPCIE, VPCIE_EPF, CHECK_JSON (check_trace_json.py),
# LUA (tools/wireshark/vpcie.lua). Exit 0 pass, 1 fail.

set -u

: "${VPCIE:?}" "${VPCIE_EPF:?}" "${CHECK_JSON:?}" "${LUA:?}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vpcie-trace.XXXXXX") || exit 1
sock="$tmp/epf.sock"
pid=
fails=0

cleanup() {
	if [ -n "$pid" ]; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# One session, traced on both sides into separate files.
VPCIE_TRACE="$tmp/dev.bin" "$VPCIE_EPF" --socket "$sock" 2>"$tmp/dev.log" &
pid=$!
"$VPCIE" --trace "$tmp/host.bin" pcitest --socket "$sock" -r -s 1024 >"$tmp/pcitest.out" 2>&1 ||
	fail "pcitest -r -s 1024: $(cat "$tmp/pcitest.out")"
# The device writes the rest of its trace when it exits.
kill -TERM "$pid"
wait "$pid" || fail "vpcie-epf-test exit status $? on SIGTERM"
pid=
[ -e "$sock" ] && fail "socket left behind"
[ -s "$tmp/dev.bin" ] || fail "device trace empty"
[ -s "$tmp/host.bin" ] || fail "host trace empty"

# The Done-when: the device's trace alone, and both merged.
"$VPCIE" trace --perfetto "$tmp/dev.bin" >"$tmp/dev.json" || fail "trace --perfetto dev.bin"
"$CHECK_JSON" "$tmp/dev.json" BAR0 config DMA interrupts || fail "dev.json invalid"
"$VPCIE" trace --perfetto -o "$tmp/both.json" "$tmp/dev.bin" "$tmp/host.bin" ||
	fail "trace --perfetto dev.bin host.bin"
"$CHECK_JSON" "$tmp/both.json" BAR0 config DMA interrupts || fail "both.json invalid"
python3 - "$tmp/both.json" <<'PY' || fail "merged JSON lacks one side"
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
names = {e["args"]["name"] for e in ev if e["name"] == "process_name"}
assert any(n.startswith("device ") for n in names) and any(n.startswith("host ") for n in names), names
PY

# Device and host in one process (as in a test program): the host's chunks
# rewritten to the device's pid must still give separate, named tracks.
python3 - "$tmp/dev.bin" "$tmp/host.bin" "$tmp/onepid.bin" <<'PY' || fail "rewriting pids"
import struct, sys
dev, host = (open(p, "rb").read() for p in sys.argv[1:3])
pid = struct.unpack_from("<I", dev, 16)[0]
out, off = bytearray(host), 0
while off < len(out):
    struct.pack_into("<I", out, off + 16, pid)
    off += 48 + 80 * struct.unpack_from("<I", out, off + 20)[0]
open(sys.argv[3], "wb").write(dev + bytes(out))
PY
"$VPCIE" trace --perfetto -o "$tmp/onepid.json" "$tmp/onepid.bin" || fail "trace --perfetto onepid.bin"
"$CHECK_JSON" "$tmp/onepid.json" "device BAR0" "host BAR0" "device DMA" || fail "onepid.json: tracks not separate"
python3 - "$tmp/onepid.json" <<'PY' || fail "onepid.json: not one process named for both sides"
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
names = [e["args"]["name"] for e in ev if e["name"] == "process_name"]
assert len(names) == 1 and "device " in names[0] and " + host " in names[0], names
PY

# Text: register names from the config map, the DMA and the interrupt.
"$VPCIE" trace --text "$tmp/dev.bin" "$tmp/host.bin" >"$tmp/t.txt" || fail "trace --text"
grep -q '(COMMAND)' "$tmp/t.txt" || fail "text: no COMMAND register name"
grep -q 'DMA .*write to host .*len 1024 via shared memory' "$tmp/t.txt" || fail "text: no 1024-byte DMA write"
grep -q 'IRQ .*MSI vector 0 sent' "$tmp/t.txt" || fail "text: no MSI sent"
grep -q 'host .*IRQ .*MSI vector 0 received' "$tmp/t.txt" || fail "text: host did not receive the MSI"

# The ring transport and message DMA, traced into one shared file by both
# sides (O_APPEND chunks): accesses via the ring, DMA by message on both.
VPCIE_TRACE="$tmp/shared.bin" "$VPCIE_EPF" --socket "$sock" 2>>"$tmp/dev.log" &
pid=$!
VPCIE_TRACE="$tmp/shared.bin" VPCIE_HOST_RING=1 "$VPCIE" pcitest --socket "$sock" \
	--no-shared -r -s 4096 >"$tmp/pcitest2.out" 2>&1 || fail "ring pcitest: $(cat "$tmp/pcitest2.out")"
kill -TERM "$pid"
wait "$pid" || fail "vpcie-epf-test exit status $? on SIGTERM"
pid=
"$VPCIE" trace --text "$tmp/shared.bin" >"$tmp/shared.txt" || fail "trace --text shared.bin"
grep -q 'host .*ACCESS .*BAR0.* via ring' "$tmp/shared.txt" || fail "shared: no host access via the ring"
grep -q 'device .*ACCESS .*BAR0.* via ring' "$tmp/shared.txt" || fail "shared: no device access via the ring"
grep -q 'device .*DMA .*write to host .*len 4096 via message' "$tmp/shared.txt" || fail "shared: no device DMA by message"
grep -q 'host .*DMA .*write to host .*len 4096 via message' "$tmp/shared.txt" || fail "shared: host did not serve the DMA"

# pcap through tshark and the dissector.
"$VPCIE" trace --pcap -o "$tmp/t.pcap" "$tmp/dev.bin" "$tmp/host.bin" || fail "trace --pcap"
if command -v tshark >/dev/null 2>&1; then
	tshark -X lua_script:"$LUA" -r "$tmp/t.pcap" -V >"$tmp/tshark.txt" 2>"$tmp/tshark.err" ||
		fail "tshark: $(cat "$tmp/tshark.err")"
	grep -qi malformed "$tmp/tshark.txt" && fail "tshark: malformed packets: $(grep -i malformed "$tmp/tshark.txt" | head -3)"
	grep -qi "lua error" "$tmp/tshark.txt" "$tmp/tshark.err" && fail "tshark: the dissector failed: $(grep -hi "lua error" "$tmp/tshark.txt" "$tmp/tshark.err" | head -3)"
	grep -q 'Command: REGION_READ (9)' "$tmp/tshark.txt" || fail "tshark: no REGION_READ decoded"
	grep -q 'Command: DMA_WRITE (12)' "$tmp/tshark.txt" || fail "tshark: no DMA_WRITE decoded"
	grep -q 'DMA count: 1024' "$tmp/tshark.txt" || fail "tshark: DMA count not decoded"
	grep -q 'Region: config (7)' "$tmp/tshark.txt" || fail "tshark: region not decoded"
	grep -q 'Side: host (2)' "$tmp/tshark.txt" || fail "tshark: host side not decoded"
	n=$(tshark -X lua_script:"$LUA" -r "$tmp/t.pcap" -Y vpcie 2>/dev/null | wc -l)
	total=$(tshark -r "$tmp/t.pcap" 2>/dev/null | wc -l)
	[ "$n" -gt 0 ] && [ "$n" -eq "$total" ] || fail "tshark: $n of $total packets are vpcie"
	# A packet cut short is flagged, not misread.
	python3 - "$tmp/t.pcap" "$tmp/cut.pcap" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
hdr, rec = d[:24], d[24:]
ts, tsn, incl, orig = struct.unpack("<IIII", rec[:16])
pkt = rec[16:16 + 20]
open(sys.argv[2], "wb").write(hdr + struct.pack("<IIII", ts, tsn, len(pkt), len(pkt)) + pkt)
PY
	tshark -X lua_script:"$LUA" -r "$tmp/cut.pcap" -V 2>&1 | grep -q 'Packet shorter than its layout' ||
		fail "tshark: a short packet is not flagged"
else
	echo "tshark not installed: pcap decoding not checked" >&2
fi

# Hostile input: clear errors naming the file and offset, never a crash.
head -c 100 "$tmp/dev.bin" >"$tmp/cut.bin"
"$VPCIE" trace --text "$tmp/cut.bin" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "truncated trace: exit status not 1"
grep -q "cut.bin: offset 48: chunk cut short" "$tmp/err" || fail "truncated trace: $(cat "$tmp/err")"
printf 'this is not a trace at all, not one bit of it....\n' >"$tmp/junk.bin"
"$VPCIE" trace --pcap "$tmp/junk.bin" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "junk: exit status not 1"
grep -q "junk.bin: offset 0: not a vpcie trace chunk" "$tmp/err" || fail "junk: $(cat "$tmp/err")"
"$VPCIE" trace --text "$tmp/nonexistent.bin" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "nonexistent.bin" "$tmp/err" || fail "missing file: $(cat "$tmp/err")"
"$VPCIE" trace "$tmp/dev.bin" >/dev/null 2>&1
[ $? -eq 2 ] || fail "no format: exit status not 2"
"$VPCIE" trace --text --pcap "$tmp/dev.bin" >/dev/null 2>&1
[ $? -eq 2 ] || fail "two formats: exit status not 2"
"$VPCIE" --trace >/dev/null 2>&1
[ $? -eq 2 ] || fail "vpcie --trace without a file: exit status not 2"
"$VPCIE" trace --help | grep -q -- '--perfetto' || fail "trace --help"
"$VPCIE_EPF" --socket "$sock" --trace "$tmp/no/such/dir/t.bin" 2>"$tmp/err"
[ $? -ne 0 ] && grep -q "cannot open trace" "$tmp/err" || fail "unwritable --trace accepted: $(cat "$tmp/err")"

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed" >&2
	exit 1
fi
echo "trace: all checks passed"
