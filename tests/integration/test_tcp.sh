#!/bin/sh
# SPDX-License-Identifier: MIT
# vfio-user over TCP (no fds: message DMA, regions by messages, interrupts
# as vpcie interrupt messages): the whole `vpcie pcitest` matrix against
# vpcie-epf-test over IPv4 and IPv6 loopback, two clients in a row, the
# loopback-only rule for plaintext on both sides, malformed endpoints, TLS
# 1.3 with psktool's pre-shared keys (the matrix, wrong key / identity,
# plaintext and slow-loris clients, bad key files), and UNIX sockets
# created 0600.
#
# Environment (set by meson): VPCIE, VPCIE_EPF. Exit 0 pass, 1 fail.
set -u
: "${VPCIE:?}" "${VPCIE_EPF:?}"

. "$(dirname "$0")/lib.sh"
test_setup tcp
expect() { if grep -qE -- "$2" "$1"; then ok; else fail "$3: no /$2/ in $(cat "$1")"; fi; }

# start_device HOSTPART [DEVICE OPTIONS]: vpcie-epf-test on tcp:HOSTPART:PORT,
# a free port found by trying (another test may hold one); sets $addr and $pid.
start_device() {
	hostpart=$1
	shift
	port=$(( 20000 + $$ % 20000 ))
	for _ in 1 2 3 4 5 6 7 8; do
		addr="tcp:$hostpart:$port"
		"$VPCIE_EPF" --listen "$addr" "$@" 2>"$tmp/dev.log" &
		pid=$!
		if "$VPCIE" lspci --socket "$addr" --wait 3000 >"$tmp/lspci.out" 2>&1; then
			return 0
		fi
		kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
		port=$((port + 101))
	done
	return 1
}

for host in 127.0.0.1 '[::1]'; do
	if [ "$host" = '[::1]' ] && ! python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
		echo "SKIP: no IPv6 loopback here"
		continue
	fi
	if ! start_device "$host"; then
		fail "no device on $host"; cat "$tmp/dev.log" >&2; continue
	fi
	expect "$tmp/lspci.out" '^00:00.0 .*104c:b500' "lspci over $host"
	# The whole matrix, twice: the device serves the next client.
	for round in 1 2; do
		"$VPCIE" pcitest --socket "$addr" >"$tmp/pt.out" 2>&1
		expect "$tmp/pt.out" '^2122 passed, 0 failed$' "pcitest over $addr (round $round)"
	done
	expect "$tmp/dev.log" 'negotiated .*no fds, interrupts by message' "device log over $host"
	# Interrupts over TCP: INTx, MSI and MSI-X all arrive as messages.
	"$VPCIE" pcitest --socket "$addr" -l -m 1 -x 2048 >"$tmp/irq.out" 2>&1
	expect "$tmp/irq.out" '^3 passed, 0 failed$' "interrupts over $addr"
	stop_device
done

# Pipelined DMA_WRITE: with 4 KiB messages, pcitest's 1 MB transfers to host
# memory go as ~250 DMA_WRITEs, several in flight (lib/device/dma.c); the
# CRCs pcitest checks prove every chunk landed where it belongs.
if start_device 127.0.0.1 --max-xfer 4096 -v; then
	"$VPCIE" pcitest --socket "$addr" >"$tmp/pt.out" 2>&1
	expect "$tmp/pt.out" '^2122 passed, 0 failed$' "pcitest over TCP, 4 KiB messages"
	expect "$tmp/dev.log" 'DMA_WRITE of 1024000 B .*: 250 messages, up to [0-9]+ in flight: done' \
		"DMA_WRITEs pipelined"
	stop_device
else
	fail "no device with --max-xfer 4096"
fi

# Plaintext TCP on a non-loopback address: refused on both sides, with words.
"$VPCIE_EPF" --listen tcp:0.0.0.0:7 >"$tmp/o" 2>&1 && fail "device listened on 0.0.0.0"
expect "$tmp/o" 'loopback addresses only' "device refuses 0.0.0.0"
"$VPCIE" lspci --socket tcp:192.0.2.1:9 >"$tmp/o" 2>&1 && fail "host connected to 192.0.2.1"
expect "$tmp/o" 'loopback addresses only' "host refuses 192.0.2.1"
# Malformed endpoints: a clear error, exit 2 (device) / failure (tool).
for bad in tcp:localhost tcp:::1:5 tcp:h:70000 'tcp:[::1]'; do
	"$VPCIE_EPF" --listen "$bad" >"$tmp/o" 2>&1
	rc=$?
	[ "$rc" -eq 2 ] && ok || fail "device --listen $bad: exit $rc"
	expect "$tmp/o" 'not PATH, unix:PATH or tcp:HOST:PORT' "device --listen $bad"
	"$VPCIE" lspci --socket "$bad" >"$tmp/o" 2>&1 && fail "lspci --socket $bad succeeded"
	expect "$tmp/o" 'not PATH, unix:PATH or tcp:HOST:PORT' "lspci --socket $bad"
done

# ---- TLS 1.3 with a pre-shared key (psktool's key files) ----
if ! command -v psktool >/dev/null 2>&1; then
	fail "psktool (gnutls-bin) is not installed: scripts/install-deps.sh installs it"
else
	psktool -u vpcie -p "$tmp/good.psk" >/dev/null && psktool -u vpcie -p "$tmp/bad.psk" >/dev/null
	psktool -u other -p "$tmp/other.psk" >/dev/null
	chmod 600 "$tmp"/*.psk
	# The device listens on every address: allowed because TLS is on.
	port=$(( 21000 + $$ % 20000 ))
	for _ in 1 2 3 4 5 6 7 8; do
		"$VPCIE_EPF" --listen "tcp:0.0.0.0:$port" --psk-file "$tmp/good.psk" --msg-timeout 1000 \
			2>"$tmp/tls.log" &
		pid=$!
		addr="tcp:127.0.0.1:$port"
		"$VPCIE" lspci --socket "$addr" --psk-file "$tmp/good.psk" --wait 3000 >"$tmp/o" 2>&1 && break
		kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
		port=$((port + 101))
	done
	expect "$tmp/o" '^00:00.0 .*104c:b500' "lspci over TLS"
	"$VPCIE" pcitest --socket "$addr" --psk-file "$tmp/good.psk" >"$tmp/pt.out" 2>&1
	expect "$tmp/pt.out" '^2122 passed, 0 failed$' "pcitest over TLS"
	# Refused, each with a line in the device's log; the device keeps serving.
	"$VPCIE" lspci --socket "$addr" --psk-file "$tmp/bad.psk" >"$tmp/o" 2>&1 && fail "wrong key accepted"
	expect "$tmp/o" 'TLS handshake refused' "client told about a wrong key"
	"$VPCIE" lspci --socket "$addr" --psk-file "$tmp/other.psk" >"$tmp/o" 2>&1 && fail "unknown identity accepted"
	"$VPCIE" lspci --socket "$addr" >"$tmp/o" 2>&1 && fail "plaintext client accepted by a TLS device"
	# A client that connects and never starts the handshake (slow loris)
	# is dropped after --msg-timeout; the next client is served.
	python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); time.sleep(3)' "$port" &
	loris=$!
	sleep 0.3
	"$VPCIE" lspci --socket "$addr" --psk-file "$tmp/good.psk" --timeout 5000 >"$tmp/o" 2>&1
	expect "$tmp/o" '^00:00.0 .*104c:b500' "served after a slow loris"
	wait "$loris"
	refused=$(grep -c 'client refused: TLS' "$tmp/tls.log")
	[ "$refused" -ge 4 ] && ok || fail "device logged $refused refusals, want 4: $(cat "$tmp/tls.log")"
	expect "$tmp/tls.log" 'not finished in time' "slow loris logged"
	stop_device
	# A TLS client against a plaintext device fails instead of hanging.
	start_device 127.0.0.1 || fail "no plaintext device"
	"$VPCIE" lspci --socket "$addr" --psk-file "$tmp/good.psk" --timeout 2000 >"$tmp/o" 2>&1 &&
		fail "TLS client accepted by a plaintext device"
	stop_device
	# Key files others may read are refused by both sides; a key on a UNIX socket too.
	chmod 640 "$tmp/good.psk"
	"$VPCIE_EPF" --listen tcp:127.0.0.1:9 --psk-file "$tmp/good.psk" >"$tmp/o" 2>&1 && fail "device took a 0640 key"
	expect "$tmp/o" 'chmod 600' "device refuses a 0640 key"
	"$VPCIE" lspci --socket tcp:127.0.0.1:9 --psk-file "$tmp/good.psk" >"$tmp/o" 2>&1 && fail "tool took a 0640 key"
	expect "$tmp/o" 'chmod 600' "tool refuses a 0640 key"
	chmod 600 "$tmp/good.psk"
	echo 'vpcie:12zz' >"$tmp/mal.psk"; chmod 600 "$tmp/mal.psk"
	"$VPCIE_EPF" --listen tcp:127.0.0.1:9 --psk-file "$tmp/mal.psk" >"$tmp/o" 2>&1 && fail "device took a malformed key"
	expect "$tmp/o" 'key must be 16 to 64 bytes' "malformed key explained"
	"$VPCIE_EPF" --socket "$tmp/k.sock" --psk-file "$tmp/good.psk" >"$tmp/o" 2>&1 && fail "key on a UNIX socket"
	expect "$tmp/o" 'pre-shared key is for tcp' "key on a UNIX socket explained"
fi

# UNIX sockets are created for their owner only.
"$VPCIE_EPF" --socket "$tmp/u.sock" 2>"$tmp/dev.log" &
pid=$!
"$VPCIE" lspci --socket "unix:$tmp/u.sock" --wait 3000 >/dev/null 2>&1 || fail "unix: prefix"
mode=$(stat -c %a "$tmp/u.sock")
[ "$mode" = 600 ] && ok || fail "socket mode $mode, want 600"
stop_device

test_finish
