#!/bin/sh
# SPDX-License-Identifier: MIT
# Regression check: run a fuzz target once on every saved reproducer named
# after it (crashes/<target>-*). Fails if any of them crashes again.
#
# usage: replay_crashes.sh FUZZER CRASH_DIR
set -u
fuzzer=$1 dir=$2
name=$(basename "$fuzzer")
set --
for f in "$dir/$name"-*; do
	[ -f "$f" ] && set -- "$@" "$f"
done
if [ $# -eq 0 ]; then
	echo "no reproducers for $name"
	exit 0
fi
# a crash is a failure (libFuzzer would exit 77, meson's "skipped")
exec "$fuzzer" -runs=1 -error_exitcode=1 "$@"
