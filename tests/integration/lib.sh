# SPDX-License-Identifier: MIT
# Shared by the shell integration tests (sourced, not run):
#
#     . "$(dirname "$0")/lib.sh"
#     test_setup NAME          # $tmp: a scratch directory removed at exit;
#                              # $pid: a device process, killed at exit if set
#     ...  ok / fail "what went wrong"  ...
#     stop_device [WHAT]       # SIGTERM to $pid: it must exit 0 (fail shows
#                              # $tmp/dev.log); $pid is cleared
#     test_finish              # "N passed, M failed"; exit 0 only if none failed
#
# A test that needs more at exit defines test_cleanup_extra().

test_setup() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/vpcie-$1.XXXXXX") || exit 1
	pid=
	fails=0
	passes=0
	trap test_cleanup EXIT
	trap 'exit 1' INT TERM
}

test_cleanup() {
	if command -v test_cleanup_extra >/dev/null 2>&1; then
		test_cleanup_extra
	fi
	if [ -n "$pid" ]; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}

ok() { passes=$((passes + 1)); }
fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}
now_ms() { date +%s%3N; }
stop_device() {
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=
	[ "$rc" = 0 ] && ok ||
		fail "${1:+$1: }device exit status $rc on SIGTERM: $(cat "$tmp/dev.log" 2>/dev/null)"
}

test_finish() {
	echo "$passes passed, $fails failed"
	[ "$fails" -eq 0 ]
}
