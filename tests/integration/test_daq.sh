#!/bin/sh
# SPDX-License-Identifier: MIT
# `vpcie daq` against vpcie-detector: the summary line and exit status at
# several frame sizes (scatter-gather included) with interrupts and polling,
# message DMA, CRC and header-only checks, the PRNG and file patterns,
# several channels and several devices in one process, TCP, --json, --output to
# a file (frames back to back, byte for byte what was received) and to a
# directory, frames lost to a too-fast period reported with a failing exit
# status, usage errors, and the device's clean exit on SIGTERM.
#
# Environment (set by meson): VPCIE = the vpcie tool, VPCIE_DETECTOR = the
# vpcie-detector program. Exit 0 pass, 1 fail.

set -u

: "${VPCIE:?VPCIE must name the vpcie tool}"
: "${VPCIE_DETECTOR:?VPCIE_DETECTOR must name the vpcie-detector program}"

. "$(dirname "$0")/lib.sh"
test_setup daq
sock="$tmp/det.sock"
pids=

expect_eq() {
	if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', want '$3'"; fi
}

start_dev() { # SOCKET ARGS...
	s=$1
	shift
	"$VPCIE_DETECTOR" --socket "$s" "$@" 2>>"$tmp/dev.log" &
	pids="$pids $!"
	pid=$!
	for _ in $(seq 100); do [ -S "$s" ] && return; sleep 0.05; done
	fail "no socket $s"
}

test_cleanup_extra() {
	for p in $pids; do kill -KILL "$p" 2>/dev/null; done
}

# daq NAME WANT_STATUS ARGS...: run; the last line must be the summary.
daq() {
	name=$1
	want=$2
	shift 2
	timeout 300 "$VPCIE" daq "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	expect_eq "$name exit status ($(tail -1 "$tmp/$name.err"))" "$rc" "$want"
	last=$(tail -1 "$tmp/$name.out")
	if echo "$last" | grep -qE '^frames [0-9]+, lost [0-9]+, corrupted [0-9]+, [0-9]+ MB/s \([0-9]+% of memcpy\)$'; then
		ok
	else
		fail "$name: last line '$last'"
	fi
}

# clean NAME FRAMES: the summary says FRAMES frames, none lost or corrupted.
clean() {
	expect_eq "$1 summary" "$(tail -1 "$tmp/$1.out" | cut -d, -f1-3)" \
		"frames $2, lost 0, corrupted 0"
}

start_dev "$sock" --channels 4 --frame-file "$0"

daq small 0 --socket "$sock" --frames 20000 --frame-size 64 --channels 1
clean small 20000
daq page 0 --socket "$sock" --frames 5000 --frame-size 4k --channels 1 --irq-frames 1 --irq-usec 0
clean page 5000
daq sg 0 --socket "$sock" --frames 300 --frame-size 100000 --buf-size 4096 --ring 128 --channels 1
clean sg 300
daq big 0 --socket "$sock" --bytes 64M --frame-size 4M --channels 1
clean big 16
daq poll 0 --socket "$sock" --frames 3000 --frame-size 16k --poll --no-crc --channels 1
clean poll 3000
daq msg 0 --socket "$sock" --frames 500 --frame-size 64k --no-shared --channels 1
clean msg 500
daq prng 0 --socket "$sock" --frames 500 --frame-size 8k --pattern prng --seed 7 --channels 1
clean prng 500
daq file 0 --socket "$sock" --frames 500 --frame-size 1k --pattern file --channels 1
clean file 500
daq chans 0 --socket "$sock" --frames 4001 --frame-size 8k
clean chans 4001

# Two devices in one process (one with 4 channels, one with 1).
sock2="$tmp/det2.sock"
start_dev "$sock2"
daq devs 0 --socket "$sock" --socket "$sock2" --frames 3000 --frame-size 32k --json
clean devs 3000
json=$(tail -2 "$tmp/devs.out" | head -1)
if echo "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["devices"]==2 and d["frames"]==3000 and d["lost"]==0 and d["memcpy_mb_per_s"]>0 else 1)'; then
	ok
else
	fail "devs: JSON line '$json'"
fi

# --output FILE: the frames back to back; check them with the header's CRC.
daq outfile 0 --socket "$sock" --frames 40 --frame-size 64k --buf-size 16k --channels 1 \
	--output "$tmp/frames.bin"
clean outfile 40
if python3 - "$tmp/frames.bin" 65536 40 <<'EOF'
import struct, sys, zlib
path, size, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
assert len(data) == size * n, len(data)
for i in range(n):
    f = data[i * size:(i + 1) * size]
    magic, ch, hl, seq, ts, length, crc = struct.unpack_from("<IHHQQII", f)
    assert magic == 0x52464456 and seq == i and length == size, (i, seq)
    assert zlib.crc32(f[:28] + b"\0\0\0\0" + f[32:]) == crc, i
EOF
then ok; else fail "outfile: frames in the file do not check"; fi

# --output DIR: one file per frame.
mkdir "$tmp/frames"
daq outdir 0 --socket "$sock" --frames 10 --frame-size 4k --channels 1 --output "$tmp/frames"
clean outdir 10
expect_eq "outdir files" "$(ls "$tmp/frames" | wc -l)" 10
if [ -f "$tmp/frames/ch0-0000000000000009.frame" ]; then ok; else fail "outdir: no frame 9 file"; fi

# Over TCP (loopback): no fd travels, the device DMAs by messages.
port=$(( 23000 + $$ % 20000 ))
tcp=
for _ in 1 2 3 4 5 6 7 8; do
	"$VPCIE_DETECTOR" --listen "tcp:127.0.0.1:$port" 2>>"$tmp/dev.log" &
	tpid=$!
	if "$VPCIE" lspci --socket "tcp:127.0.0.1:$port" --wait 3000 >/dev/null 2>&1; then
		tcp="tcp:127.0.0.1:$port"
		pids="$pids $tpid"
		break
	fi
	kill -KILL "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null
	port=$((port + 101))
done
if [ -n "$tcp" ]; then
	ok
	daq tcp 0 --socket "$tcp" --frames 300 --frame-size 64k --json
	clean tcp 300
	if tail -2 "$tmp/tcp.out" | head -1 | grep -q '"shared":false'; then ok; else fail "tcp: not message DMA"; fi
else
	fail "no TCP port for the detector"
fi

# A period the consumer cannot hold with 4 buffers: frames are lost, the
# device counts them dropped, daq says so and fails.
daq lossy 1 --socket "$sock" --frames 20000 --frame-size 64 --ring 4 --period 1000 --channels 1 \
	--irq-usec 1000
lost=$(tail -1 "$tmp/lossy.out" | sed -n 's/.*lost \([0-9]*\),.*/\1/p')
if [ "${lost:-0}" -gt 0 ]; then ok; else fail "lossy: nothing lost ($(tail -1 "$tmp/lossy.out"))"; fi
if grep -q "dropped [1-9]" "$tmp/lossy.err"; then ok; else fail "lossy: device drops not reported"; fi

# Usage errors.
for args in "" "--socket $sock --frames 0" "--socket $sock --frame-size 100" \
	"--socket $sock --ring 3" "--socket $sock --frames 1 --bytes 1k" \
	"--socket $sock --pattern foo" "--socket $sock --channels 9"; do
	# shellcheck disable=SC2086
	timeout 60 "$VPCIE" daq $args >/dev/null 2>"$tmp/usage.err"
	rc=$?
	if [ "$args" = "--socket $sock --channels 9" ]; then
		expect_eq "daq $args" "$rc" 1 # the device has 4
	else
		expect_eq "daq $args" "$rc" 2
	fi
done
timeout 60 "$VPCIE" daq --socket "$tmp/none.sock" --frames 1 >/dev/null 2>"$tmp/none.err"
expect_eq "no device" "$?" 1
"$VPCIE" daq --help | grep -q "frames N, lost N" && ok || fail "--help"

# The devices exit cleanly on SIGTERM and remove their sockets.
for p in $pids; do
	kill -TERM "$p"
	wait "$p"
	expect_eq "device exit status on SIGTERM" "$?" 0
done
pids=
pid=
[ -e "$sock" ] || [ -e "$sock2" ] && fail "socket left behind" || ok
test_finish
