#!/usr/bin/env bash
# scripts/fuzz-long.sh against a fuzz build, on fuzz_caps (the fastest
# target), with a scratch campaign log and without growing the repo's
# corpora: a run is logged with its executions, --until skips what is done
# and counts only the runs after a target's last crash, Ctrl-C stops a run
# with its statistics logged, --summary adds it all up.
#
#   test_fuzz_long.sh SOURCE_ROOT FUZZ_BUILD_DIR
set -u
src=$1
build=$2
fl="$src/scripts/fuzz-long.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/campaign.tsv
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
# rows of the scratch log for fuzz_caps: "executions crashes"
rows() { awk -F'\t' '!/^#/ && $3 == "fuzz_caps" { print $4, $5 }' "$log"; }
run() { "$fl" --build "$build" --targets fuzz_caps --no-grow --no-coverage --log "$log" "$@"; }

# 1. a run of N executions is logged with at least N (libFuzzer also counts
#    the seed corpus it replays first), no crash
out=$(run --runs 2000 2>&1); st=$?
echo "$out"
read -r ex cr <<<"$(rows | tail -n 1)"
[ $st -eq 0 ] && [ "${ex:-0}" -ge 2000 ] && [ "${cr:-1}" -eq 0 ] &&
    ok "--runs 2000: logged $ex executions, 0 crashes" || bad "--runs 2000: exit $st, row '${ex:-} ${cr:-}'"

# 2. --until below what is logged: skipped, nothing added
out=$(run --until 1000 2>&1); st=$?
echo "$out"
[ $st -eq 0 ] && grep -q 'fuzz_caps: .* already, skipped' <<<"$out" && [ "$(rows | wc -l)" -eq 1 ] &&
    ok "--until 1000: skipped" || bad "--until 1000 did not skip (exit $st)"

# 3. a crash row resets the count: --until runs again, in full
printf '2026-01-01T00:00:00Z\ttest\tfuzz_caps\t5000000\t1\t1\t1\t1\n' >>"$log"
out=$(run --until 1000 2>&1); st=$?
echo "$out"
[ $st -eq 0 ] && grep -q 'fuzz_caps: 0 executions since its last crash .* running 1000 more' <<<"$out" &&
    [ "$(rows | wc -l)" -eq 3 ] && ok "--until after a crash row: 1000 more" ||
    bad "--until after a crash row (exit $st)"
sum=$("$fl" --summary --targets fuzz_caps --log "$log" 2>&1)
echo "$sum"
read -r ex2 _ <<<"$(rows | tail -n 1)"
want_all=$((ex + 5000000 + ex2))
awk -v a="$want_all" -v s="$ex2" '$1 == "fuzz_caps" && $2 == a && $3 == 1 && $4 == s { f = 1 } END { exit !f }' \
    <<<"$sum" && ok "--summary: $want_all in all, 1 crash, $ex2 since" || bad "--summary totals"

# 4. Ctrl-C (SIGINT to the process group): the fuzzer stops with its
#    statistics, the run is logged, the script says so and stops at once
setsid "$fl" --build "$build" --targets 'fuzz_caps fuzz_cfg_walk' --no-grow --no-coverage \
    --log "$log" --time 120 >"$tmp/int.out" 2>&1 &
pid=$!
for _ in $(seq 100); do
    pgrep -f "fuzz_caps .*-max_total_time=120" >/dev/null && break
    sleep 0.1
done
sleep 2
kill -INT -- -"$pid"
t0=$SECONDS
wait "$pid"; st=$?
cat "$tmp/int.out"
[ $st -eq 0 ] && [ $((SECONDS - t0)) -lt 30 ] && grep -q 'fuzz_caps: interrupted' "$tmp/int.out" &&
    grep -q 'stopped by SIGINT' "$tmp/int.out" && ! grep -q 'fuzz_cfg_walk:' "$tmp/int.out" &&
    [ "$(rows | wc -l)" -eq 4 ] && [ "$(rows | tail -n 1 | cut -d' ' -f2)" -eq 0 ] &&
    ok "SIGINT: run logged without a crash, script stopped" || bad "SIGINT handling (exit $st)"

[ $fails -eq 0 ] && echo "fuzz-long script: all checks passed" || echo "fuzz-long script: $fails check(s) failed"
exit $((fails > 0))
