#!/bin/sh
# SPDX-License-Identifier: MIT
# `vpcie proxy`: a vfio-user client on a UNIX socket driving vpcie-epf-test
# over TCP through the proxy. The whole pcitest matrix with shared memory
# (the proxy maps it and answers the device's DMA messages itself) and
# without (the proxy relays DMA to the client), over TLS, a wrong key, the
# loopback-only rule for plaintext, the device killed mid-transfer (the
# client gets an error, not a hang, and the proxy serves the next client),
# hostile peers on both sides (tests/integration/proxy_hostile.py), usage
# errors and a clean SIGTERM that removes the socket.
#
# Environment (set by meson): VPCIE, VPCIE_EPF; KEEP_TMP=1 keeps the
# scratch directory (every proxy's log, px-all.log, and dev.log). Exit 0
# pass, 1 fail.
set -u
: "${VPCIE:?}" "${VPCIE_EPF:?}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vpcie-proxy.XXXXXX") || exit 1
dev=
px=
fails=0
passes=0
cleanup() {
	# what the proxy and the device said last, when something failed
	if [ "$fails" -gt 0 ]; then
		cat "$tmp/px.log" >>"$tmp/px-all.log" 2>/dev/null
		for f in px-all.log dev.log; do
			[ -s "$tmp/$f" ] && { echo "--- last lines of $f:"; tail -n 40 "$tmp/$f"; } >&2
		done
	fi
	[ -n "$px" ] && kill -KILL "$px" 2>/dev/null && wait "$px" 2>/dev/null
	[ -n "$dev" ] && kill -KILL "$dev" 2>/dev/null && wait "$dev" 2>/dev/null
	[ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect() { if grep -qE -- "$2" "$1"; then ok; else fail "$3: no /$2/ in $(cat "$1")"; fi; }
sock="$tmp/px.sock"
# The proxy logs "session over" once a session's fds and mappings are
# released, some time after its client ended.
# wait_log FILE PATTERN COUNT: until PATTERN appears COUNT times (30 s).
wait_log() {
	for _ in $(seq 300); do
		[ "$(grep -cE -- "$2" "$1")" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

# start_device [ARGS...]: vpcie-epf-test on tcp:127.0.0.1:PORT, a free port
# found by trying; sets $port, $addr and $dev.
start_device() {
	port=$(( 22000 + $$ % 20000 ))
	for _ in 1 2 3 4 5 6 7 8; do
		addr="tcp:127.0.0.1:$port"
		"$VPCIE_EPF" --listen "$addr" "$@" 2>>"$tmp/dev.log" &
		dev=$!
		sleep 0.2
		if kill -0 "$dev" 2>/dev/null; then return 0; fi
		wait "$dev" 2>/dev/null; dev=
		port=$((port + 101))
	done
	return 1
}
# restart_device [ARGS...]: the same port again.
restart_device() {
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		"$VPCIE_EPF" --listen "$addr" "$@" 2>>"$tmp/dev.log" &
		dev=$!
		sleep 0.3
		kill -0 "$dev" 2>/dev/null && return 0
		wait "$dev" 2>/dev/null; dev=
	done
	return 1
}
stop() { # stop PIDVAR: SIGTERM, expect exit 0
	eval "p=\$$1"
	kill -TERM "$p" && wait "$p"
	rc=$?
	eval "$1="
	[ "$rc" -eq 0 ] && ok || fail "$1 exit status $rc after SIGTERM"
}
# start_proxy ARGS...: the proxy on $sock, its log in $tmp/px.log.
start_proxy() {
	[ -s "$tmp/px.log" ] && cat "$tmp/px.log" >>"$tmp/px-all.log" # the earlier proxies'
	: >"$tmp/px.log"
	"$VPCIE" proxy --socket "$sock" --connect "$addr" "$@" 2>"$tmp/px.log" &
	px=$!
	for _ in $(seq 50); do [ -S "$sock" ] && return 0; sleep 0.1; done
	fail "proxy did not create $sock: $(cat "$tmp/px.log")"
}

# ---- Plaintext on loopback: shared memory, then message DMA ----
start_device || { fail "no device"; exit 1; }
start_proxy
"$VPCIE" pcitest --socket "$sock" >"$tmp/pt.out" 2>&1
expect "$tmp/pt.out" '^2122 passed, 0 failed$' "pcitest through the proxy, shared memory"
wait_log "$tmp/px.log" 'session over' 1
expect "$tmp/px.log" 'session over: [1-9][0-9]* DMA served from mapped memory, 0 relayed' \
	"the proxy answered DMA from the client's memory"
"$VPCIE" pcitest --socket "$sock" --no-shared >"$tmp/pt.out" 2>&1
expect "$tmp/pt.out" '^2122 passed, 0 failed$' "pcitest through the proxy, --no-shared"
wait_log "$tmp/px.log" 'session over' 2
expect "$tmp/px.log" 'session over: 0 DMA served from mapped memory, [1-9][0-9]* relayed' \
	"the proxy relayed DMA to the client"
# Every vector of every kind arrives through the proxy's eventfds.
"$VPCIE" pcitest --socket "$sock" -l -m 1 -m 32 -x 1 -x 2048 >"$tmp/irq.out" 2>&1
expect "$tmp/irq.out" '^5 passed, 0 failed$' "interrupts through the proxy"
expect "$tmp/dev.log" 'no fds, interrupts by message' "the device saw no fds"

# ---- The device dies mid-transfer and comes back (the proxy reconnects) ----
# A long pcitest run (one client session, cases paced by --interval, more
# than the test waits for) through a proxy that reconnects: the device is
# SIGKILLed and restarted. While it is away the client's cases keep ending,
# as failures (an error, never a hang); once the proxy has reconnected and
# replayed the DMA map, config writes (command register, MSI) and interrupt
# set-up, the next cases pass -- READ/WRITE and MSI included, although
# pcitest set its MSI vectors up only once, before the first outage. After
# a session with two reconnections the proxy holds the fds and mappings it
# held before it.
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
nmaps() { grep -c 'memfd:' "/proc/$1/maps"; } # the client memory it maps
lines() { wc -l <"$tmp/long.out"; }
# wait_lines N: until long.out has N lines (the client ended N cases; 60 s).
wait_lines() {
	for _ in $(seq 600); do [ "$(lines)" -ge "$1" ] && return 0; sleep 0.1; done
	return 1
}
# long_run ARGS...: pcitest in the background, $client its pid. (long.out
# is emptied here, not by the background job's redirection: that one may
# come after the caller's first look, which then counted the last run's
# lines and killed the device before this client had even connected.)
long_run() {
	: >"$tmp/long.out"
	cases=
	for _ in $(seq 400); do cases="$cases -r -s 16k -w -s 16k -b 0 -m 1 -m 2"; done
	# shellcheck disable=SC2086
	timeout 600 "$VPCIE" pcitest --socket "$sock" --timeout 3000 --interval 20 "$@" $cases \
		>"$tmp/long.out" 2>&1 &
	client=$!
}
# outage N WHAT: kill the device, 2 s later restart it; wait for the Nth
# "device back"; cases ended while it was away, and failed; the 10 cases
# after the next one all pass.
outage() {
	n0=$(lines) # kill once the client has ended 3 more cases: it runs
	wait_lines $((n0 + 3))
	kill -KILL "$dev"; wait "$dev" 2>/dev/null; dev=
	n0=$(lines)
	sleep 2
	restart_device || fail "device did not come back on $addr"
	wait_log "$tmp/px.log" 'device back after' "$1" || fail "$2: proxy did not reconnect"
	n1=$(lines)
	sed -n "$((n0 + 1)),${n1}p" "$tmp/long.out" >"$tmp/away.out"
	grep -q 'NOT OKAY' "$tmp/away.out" && ok ||
		fail "$2: no case ended while the device was away ($n0 -> $n1 lines)"
	wait_lines $((n1 + 11))
	sed -n "$((n1 + 2)),$((n1 + 11))p" "$tmp/long.out" >"$tmp/back.out"
	if [ "$(grep -c OKAY "$tmp/back.out")" -eq 10 ] && ! grep -q 'NOT OKAY' "$tmp/back.out"; then
		ok
	else
		fail "$2: cases after the reconnection: $(cat "$tmp/back.out")"
	fi
}
# end_run WHAT: the client is still running (it never hung or gave up): stop it.
end_run() {
	kill -0 "$client" 2>/dev/null && ok || fail "$1: the client ended: $(tail -n 3 "$tmp/long.out")"
	kill -TERM "$client"; wait "$client" 2>/dev/null
}
# the proxy between sessions (the interrupt test's one is over): what it
# holds after the next one must be the same
wait_log "$tmp/px.log" 'session over' 3 || fail "the interrupt test's session did not end"
fds0=$(nfds "$px"); maps0=$(nmaps "$px")
long_run
outage 1 "first outage"
expect "$tmp/px.log" 'device gone: .*reconnecting for up to 60 s' "proxy logged the device's end"
expect "$tmp/px.log" 'reconnecting to the device: attempt 1,' "a log line per attempt"
expect "$tmp/px.log" 'replayed 1 DMA maps, [1-9][0-9]* config writes, 1 interrupt set-ups \(0 refused\)' \
	"replay after reconnection"
outage 2 "second outage"
end_run "shared memory"
wait_log "$tmp/px.log" 'session over: .* 2 reconnections' 1 && ok ||
	fail "two reconnections in one session: $(grep 'session over' "$tmp/px.log")"
fds1=$(nfds "$px"); maps1=$(nmaps "$px")
[ "$fds0" -gt 0 ] && [ "$fds0" -eq "$fds1" ] && ok ||
	fail "proxy fds: $fds0 before a session with 2 reconnections, $fds1 after it"
[ "$maps0" -eq "$maps1" ] && ok ||
	fail "proxy memfd mappings: $maps0 before a session with 2 reconnections, $maps1 after it"
# The same with DMA relayed to the client (--no-shared).
long_run --no-shared
outage 3 "--no-shared"
end_run "--no-shared"
wait_log "$tmp/px.log" 'session over: 0 DMA served from mapped memory, [1-9][0-9]* relayed.* 1 reconnections' 1 &&
	ok || fail "relayed DMA across a reconnection: $(grep 'session over' "$tmp/px.log")"
# Another device on the address is not taken for the one that went away.
long_run
wait_lines 3
kill -KILL "$dev"; wait "$dev" 2>/dev/null; dev=
restart_device --device 0xb501 || fail "no other device"
wait_log "$tmp/px.log" 'not the one the client knew' 1 && ok || fail "proxy took another device"
outage 4 "another device first"
end_run "another device first"
stop px
# Without reconnection the client's connection is closed at once. (A paced
# run, killed once it has ended 3 cases: the whole matrix unpaced can end in
# less time than a fixed pause before the kill.)
start_proxy --no-reconnect
long_run
wait_lines 3
kill -KILL "$dev"; wait "$dev" 2>/dev/null; dev=
# pcitest must end by itself: the proxy closes its connection.
for _ in $(seq 100); do kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$client" 2>/dev/null; then
	fail "client still running 10 s after the device died"
	kill -KILL "$client"
fi
wait "$client"
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok ||
	fail "pcitest exit $rc although the device died: $(tail -n 3 "$tmp/long.out")"
expect "$tmp/long.out" 'not run: the device stopped answering' "the cases after the death failed at once"
expect "$tmp/px.log" 'closing the client \(--no-reconnect\)' "proxy closed the client"
restart_device || fail "device did not come back on $addr"
"$VPCIE" lspci --socket "$sock" >"$tmp/o" 2>&1
expect "$tmp/o" '^00:00.0 .*104c:b500' "proxy serves the next client"
stop px
# A device that does not come back within --reconnect=S: the client is closed.
start_proxy --reconnect=2
"$VPCIE" pcitest --socket "$sock" --timeout 3000 --interval 100 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 \
	-b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 \
	-b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 -b 0 \
	>"$tmp/bound.out" 2>&1 &
client=$!
wait_log "$tmp/px.log" 'client connected' 1 || fail "no session for the bound test"
# (after the first case: a device lost while pcitest still probes fails the
# probe, and the client would leave before the bound is reached)
wait_log "$tmp/bound.out" 'OKAY' 1 || fail "the bound test's client ran no case"
kill -KILL "$dev"; wait "$dev" 2>/dev/null; dev=
wait_log "$tmp/px.log" 'did not come back within 2 s' 1 || fail "no bound on reconnection"
wait "$client"
expect "$tmp/bound.out" 'NOT OKAY' "the client's cases failed after the bound"
restart_device || fail "device did not come back on $addr"
# The proxy serves the next client once a device is back.
"$VPCIE" lspci --socket "$sock" >"$tmp/o" 2>&1
expect "$tmp/o" '^00:00.0 .*104c:b500' "proxy serves the next client after giving up"
# Stopped by SIGTERM mid-session: the session's totals are still logged.
long_run
wait_lines 3
stop px
expect "$tmp/px.log" 'session over: [1-9][0-9]* DMA .* reconnections \(stopped by a signal\)$' \
	"a session ended by SIGTERM logs its totals"
kill -TERM "$client" 2>/dev/null; wait "$client" 2>/dev/null
# With no device at all the client is refused, not left hanging.
start_proxy
stop dev
"$VPCIE" lspci --socket "$sock" --timeout 10000 >"$tmp/o" 2>&1 && fail "lspci through a proxy with no device"
# (the proxy retries the connection up to its --timeout before it gives up
# and logs; the client may have given up first)
for _ in $(seq 100); do grep -q 'cannot reach the device' "$tmp/px.log" && break; sleep 0.1; done
expect "$tmp/px.log" 'cannot reach the device' "no device logged"
stop px
[ -e "$sock" ] && fail "socket left behind after SIGTERM" || ok

# ---- Plaintext to a non-loopback address: refused with words ----
addr=tcp:192.0.2.1:9
start_proxy --timeout 1000
"$VPCIE" lspci --socket "$sock" >"$tmp/o" 2>&1 && fail "lspci through a plaintext non-loopback proxy"
expect "$tmp/px.log" 'loopback addresses only' "proxy refuses plaintext to 192.0.2.1"
stop px

# ---- TLS 1.3 with a pre-shared key ----
if ! command -v psktool >/dev/null 2>&1; then
	fail "psktool (gnutls-bin) is not installed: scripts/install-deps.sh installs it"
else
	psktool -u vpcie -p "$tmp/good.psk" >/dev/null && psktool -u vpcie -p "$tmp/bad.psk" >/dev/null
	chmod 600 "$tmp"/*.psk
	start_device --psk-file "$tmp/good.psk" || fail "no TLS device"
	start_proxy --psk-file "$tmp/good.psk"
	"$VPCIE" pcitest --socket "$sock" >"$tmp/pt.out" 2>&1
	expect "$tmp/pt.out" '^2122 passed, 0 failed$' "pcitest through the proxy over TLS"
	stop px
	# A wrong key: the proxy says so, the client is refused, the device logs it.
	start_proxy --psk-file "$tmp/bad.psk"
	"$VPCIE" lspci --socket "$sock" >"$tmp/o" 2>&1 && fail "wrong key accepted"
	expect "$tmp/px.log" 'refused: TLS handshake failed' "proxy explains the wrong key"
	expect "$tmp/dev.log" 'client refused: TLS' "device refused the wrong key"
	stop px
	chmod 644 "$tmp/good.psk"
	"$VPCIE" proxy --socket "$sock" --connect "$addr" --psk-file "$tmp/good.psk" >"$tmp/o" 2>&1 &&
		fail "proxy took a 0644 key"
	expect "$tmp/o" 'chmod 600' "proxy refuses a readable key"
	stop dev
fi

# ---- Hostile peers: malformed fd use from the client, a device replying to nothing ----
python3 "$(dirname "$0")/proxy_hostile.py" device 0 >"$tmp/hdev.out" 2>&1 &
hdev=$!
for _ in $(seq 50); do grep -q listening "$tmp/hdev.out" 2>/dev/null && break; sleep 0.1; done
hport=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$tmp/hdev.out")
addr="tcp:127.0.0.1:$hport"
start_proxy --no-reconnect
timeout 60 python3 "$(dirname "$0")/proxy_hostile.py" client "$sock" >"$tmp/hcl.out" 2>&1 &&
	ok || fail "hostile peers: $(cat "$tmp/hcl.out" "$tmp/hdev.out")"
expect "$tmp/hcl.out" '^ok: closed after the device replied to nothing' "hostile device closes the client"
expect "$tmp/px.log" 'device replied to no request' "proxy logged the hostile device"
kill "$hdev" 2>/dev/null; wait "$hdev" 2>/dev/null
stop px

# ---- Usage ----
"$VPCIE" proxy --help >"$tmp/o" 2>&1 && ok || fail "--help"
expect "$tmp/o" 'Usage: vpcie proxy' "--help text"
for args in "--socket $sock" "--connect tcp:127.0.0.1:9" \
	    "--socket tcp:127.0.0.1:9 --connect tcp:127.0.0.1:9" \
	    "--socket $sock --connect $tmp/unix.sock" "--socket $sock --connect tcp:x --timeout 0"; do
	# shellcheck disable=SC2086
	"$VPCIE" proxy $args >"$tmp/o" 2>&1
	rc=$?
	[ "$rc" -eq 2 ] && ok || fail "proxy $args: exit $rc, want 2"
done

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
