#!/bin/sh
# SPDX-License-Identifier: MIT
# Run one libFuzzer target for a bounded time on a scratch copy of its seed
# corpus (the source tree is never written). Crash reproducers land in
# ARTIFACT_DIR, named after the target.
#
# usage: run_fuzz.sh FUZZER SEED_CORPUS_DIR SECONDS ARTIFACT_DIR [DICT]
set -u
fuzzer=$1 seeds=$2 seconds=$3 artifacts=$4 dict=${5:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vpcie-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/corpus" "$artifacts" || exit 1
if [ -d "$seeds" ]; then
	cp "$seeds"/* "$tmp/corpus/" 2>/dev/null
fi
name=$(basename "$fuzzer")
# A crash, leak or hang is a failure (status 1): libFuzzer's own default for
# them, 77, is what meson reports as "skipped".
set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-artifact_prefix="$artifacts/$name-"
[ -n "$dict" ] && set -- "$@" -dict="$dict"
# LeakSanitizer is on (ASan's default); UBSan findings are fatal.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	"$fuzzer" "$@" "$tmp/corpus"
