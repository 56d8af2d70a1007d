#!/bin/bash
# Long libFuzzer campaign: every target in tests/fuzz, one at a time, for a
# given time or number of executions each, on the corpus kept in the repo
# (tests/fuzz/corpus_<target>: grown by the run through -merge=1, so only new
# inputs that add coverage are kept). Prints each target's
# executions and crashes, and the llvm-cov line coverage of lib/proto,
# lib/device and lib/host reached by the whole corpus. Each target's run is
# recorded in the campaign log tests/fuzz/campaign.tsv, so that a campaign
# can be spread over several sittings (--until N) and its totals shown
# (--summary).
set -uo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/fuzz-long.sh [--time SECONDS] [--runs N | --until N] [options]
       scripts/fuzz-long.sh --summary | --coverage-only [--targets 'A B']

  --time SECONDS    fuzz each target for SECONDS (default 60 when neither
                    --runs nor --until is given; with one of them, a limit
                    beside it: whichever comes first)
  --runs N          fuzz each target for N executions
  --until N         fuzz each target until its executions in the campaign
                    log since its last crash reach N (targets already there
                    are skipped)
  --summary         print the campaign log's totals per target and exit
  --coverage-only   no fuzzing: only the coverage report of the corpora
  --targets 'A B'   only these targets (default: all of tests/fuzz/meson.build)
  --jobs N          ninja -j for the two builds (default 2)
  --build DIR       fuzzing build directory (default build-fuzz-long; made with
                    CC=clang -Dfuzz=true); DIR-cov is the coverage build
                    (-fprofile-instr-generate -fcoverage-mapping)
  --no-grow         do not write the repo (corpora, campaign log): report only
  --log FILE        the campaign log to read and append to (default
                    tests/fuzz/campaign.tsv; written even with --no-grow)
  --no-coverage     skip the coverage build and report
  --nice            run the fuzzers under nice -n 19
  -h, --help        this text

The campaign log (tab-separated, one line per target run): UTC time, git
commit (with + if lib/, devices/, tools/ or tests/fuzz/ had changes not
committed), target, executions, crashes, seconds, corpus files before and
after. Ctrl-C (SIGINT) ends the running target's fuzzer with its statistics:
that run is logged and merged, and the script stops. A run killed before
libFuzzer's final statistics is not logged. --summary counts executions in
all and since each target's last crash (the runs before a fix do not count
towards --until).

Crash, leak and timeout reproducers go to DIR/artifacts/<target>-crash-*;
once fixed, keep each in tests/fuzz/crashes/<target>-<what> (replayed by the
<target>-regressions tests). Exit status: 0 no crash, 1 a target crashed
or a step failed, 2 usage error.
Needs clang with libFuzzer (libclang-rt-14-dev), llvm-profdata and llvm-cov (llvm-14).
EOF
}

TIME=""
RUNS=""
UNTIL=""
MODE=fuzz
TARGETS=""
JOBS=2
BUILD=build-fuzz-long
GROW=1
LEDGER=""
COVERAGE=1
NICE=()
while [ $# -gt 0 ]; do
    case "$1" in
        --time) TIME="${2-}"; shift 2 ;;
        --runs) RUNS="${2-}"; UNTIL=""; shift 2 ;;
        --until) UNTIL="${2-}"; RUNS=""; shift 2 ;;
        --summary) MODE=summary; shift ;;
        --coverage-only) MODE=coverage; shift ;;
        --targets) TARGETS="${2-}"; shift 2 ;;
        --jobs) JOBS="${2-}"; shift 2 ;;
        --build) BUILD="${2-}"; shift 2 ;;
        --no-grow) GROW=0; shift ;;
        --log) LEDGER="${2-}"; [ -n "$LEDGER" ] || { echo "fuzz-long: --log needs a file" >&2; exit 2; }; shift 2 ;;
        --no-coverage) COVERAGE=0; shift ;;
        --nice) NICE=(nice -n 19); shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "fuzz-long: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -z "$TIME$RUNS$UNTIL" ] && TIME=60
for n in "$JOBS" ${TIME:+"$TIME"} ${RUNS:+"$RUNS"} ${UNTIL:+"$UNTIL"}; do
    case "$n" in ''|*[!0-9]*) echo "fuzz-long: not a whole number: '$n'" >&2; exit 2 ;; esac
done

TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$TOP" || exit 1
say() { echo "fuzz-long: $*"; }
# the campaign log: written when the corpora grow, or when --log names it
if [ -n "$LEDGER" ]; then
    case "$LEDGER" in /*) ;; *) LEDGER="$OLDPWD/$LEDGER" ;; esac
    LOGRUNS=1
else
    LEDGER=tests/fuzz/campaign.tsv
    LOGRUNS=$GROW
fi
# summary: the campaign log's totals, per target (all targets of the log,
# or those of --targets)
summary() {
    [ -f "$LEDGER" ] || { say "no campaign log yet ($LEDGER)"; return 0; }
    awk -F'\t' -v only=" $TARGETS " '
        /^#/ || NF < 8 { next }
        only != "  " && index(only, " " $3 " ") == 0 { next }
        { if (!($3 in ex)) { order[n++] = $3; first[$3] = $1 }
          ex[$3] += $4; cr[$3] += $5; sec[$3] += $6; runs[$3]++; last[$3] = $1; com[$3] = $2
          since[$3] = $5 > 0 ? 0 : since[$3] + $4 }
        END {
          printf "%-18s %14s %8s %14s %5s %9s  %-20s %-20s %s\n", "target", "executions", "crashes",
                 "since crash", "runs", "hours", "first run", "last run", "last commit"
          for (i = 0; i < n; i++) { t = order[i]
            printf "%-18s %14d %8d %14d %5d %9.2f  %-20s %-20s %s\n", t, ex[t], cr[t], since[t],
                   runs[t], sec[t] / 3600, first[t], last[t], com[t] }
        }' "$LEDGER"
}
# done_so_far TARGET: its executions in the campaign log since its last
# crash (a run that crashed, and all before it, fuzzed code since fixed)
done_so_far() {
    TARGETS=$1 summary | awk -v t="$1" '$1 == t { n = $4 } END { print n + 0 }'
}
if [ $MODE = summary ]; then summary; exit 0; fi
tool() { # NAME: llvm-NAME, or llvm-NAME-14
    command -v "llvm-$1" 2>/dev/null || command -v "llvm-$1-14" 2>/dev/null
}

# --- builds ---------------------------------------------------------------------
LOGS="$BUILD.logs" # (a directory: ignored by git like the build directories)
mkdir -p "$LOGS"
setup() { # DIR [meson options...]
    local dir=$1
    shift
    [ -d "$dir" ] && return 0
    # (meson's compiler checks run instrumented programs: their profiles go to LOGS)
    LLVM_PROFILE_FILE="$LOGS/setup-%p.profraw" CC=clang meson setup "$dir" -Dfuzz=true -Dbuildtype=debugoptimized "$@" \
        >"$LOGS/$(basename "$dir").setup.log" 2>&1 ||
        { say "meson setup $dir failed:"; tail -n 20 "$LOGS/$(basename "$dir").setup.log"; return 1; }
}
build() { # DIR
    local dir=$1 exes=()
    for t in "${SEL[@]}"; do exes+=("tests/fuzz/$t"); done
    LLVM_PROFILE_FILE="$LOGS/build-%p.profraw" ninja -C "$dir" -j "$JOBS" "${exes[@]}" >"$LOGS/$(basename "$dir").build.log" 2>&1 ||
        { say "build in $dir failed:"; tail -n 20 "$LOGS/$(basename "$dir").build.log"; return 1; }
}
setup "$BUILD" || exit 1

# The targets, their corpus and dictionary: the suite 'fuzz' tests meson
# defines (tests/fuzz/meson.build: run_fuzz.sh FUZZER CORPUS SECONDS ARTIFACTS [DICT]).
declare -A CORPUS=() DICT=()
ALL=()
while IFS='|' read -r name corpus dict; do
    ALL+=("$name"); CORPUS[$name]=$corpus; DICT[$name]=$dict
done < <(meson introspect --tests "$BUILD" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    cmd = t["cmd"]
    if any(s.split(":")[-1] == "fuzz" for s in t["suite"]) and t["name"].startswith("fuzz_") and len(cmd) >= 5 and cmd[0].endswith("run_fuzz.sh"):
        print("%s|%s|%s" % (t["name"], cmd[2], cmd[5] if len(cmd) > 5 else ""))')
[ ${#ALL[@]} -gt 0 ] || { say "no fuzz targets found (meson introspect --tests $BUILD)"; exit 1; }
if [ -n "$TARGETS" ]; then
    read -r -a SEL <<<"$TARGETS"
    for t in "${SEL[@]}"; do
        [ -n "${CORPUS[$t]:-}" ] || { say "unknown target $t (have: ${ALL[*]})"; exit 2; }
    done
else
    SEL=("${ALL[@]}")
fi

build "$BUILD" || exit 1
if [ $COVERAGE = 1 ]; then
    PROFDATA=$(tool profdata) COV=$(tool cov)
    if [ -z "$PROFDATA" ] || [ -z "$COV" ]; then say "llvm-profdata/llvm-cov not found (Debian: llvm-14)"; exit 1; fi
    setup "$BUILD-cov" -Dc_args='-fprofile-instr-generate -fcoverage-mapping' \
        -Dc_link_args='-fprofile-instr-generate' && build "$BUILD-cov" || exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vpcie-fuzzlong.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
case "$BUILD" in /*) ART="$BUILD/artifacts" ;; *) ART="$TOP/$BUILD/artifacts" ;; esac
mkdir -p "$ART"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# --- fuzzing, one target at a time -------------------------------------------------
# The commit the campaign log names: the code fuzzed is that commit's
# unless lib/, devices/, tools/ or the harnesses have changes (then "+").
COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain -- lib devices tools include 'tests/fuzz/*.[ch]' tests/fuzz/meson.build 2>/dev/null)" ] &&
    COMMIT="$COMMIT+"
[ $MODE = coverage ] && SEL_FUZZ=() || SEL_FUZZ=("${SEL[@]}")
[ $MODE = fuzz ] && say "targets: ${SEL[*]}; each $( [ -n "$UNTIL" ] && echo "up to $UNTIL executions since its last crash (campaign log)" ||
    { [ -n "$RUNS" ] && echo "$RUNS executions"; } )$( [ -n "$UNTIL$RUNS" ] && echo "${TIME:+ (at most $TIME s)}" ||
    echo "for $TIME s")"
CRASHED=0
STOP=0
trap 'STOP=1' INT
declare -A EXECS=() CRASH=() SIZE0=() SIZE1=()
for t in "${SEL_FUZZ[@]}"; do
    limit=(-max_total_time="${TIME:-0}")
    [ -n "$RUNS" ] && limit+=(-runs="$RUNS")
    if [ -n "$UNTIL" ]; then
        have=$(done_so_far "$t")
        if [ "$have" -ge "$UNTIL" ]; then
            say "$t: $have executions since its last crash in the campaign log already, skipped"
            continue
        fi
        limit+=(-runs=$((UNTIL - have)))
        say "$t: $have executions since its last crash in the campaign log, running $((UNTIL - have)) more"
    fi
    corpus="${CORPUS[$t]}"
    fz="$BUILD/tests/fuzz/$t"
    new="$WORK/$t.new"
    mkdir -p "$new"
    SIZE0[$t]=$(find "$corpus" -type f | wc -l)
    dict=()
    [ -n "${DICT[$t]}" ] && dict=(-dict="${DICT[$t]}")
    # crash-, leak-, timeout- and oom- reproducers count; slow-unit- files
    # (an input over -report_slow_units seconds, usually a loaded machine)
    # are listed but are not failures
    before=$(find "$ART" -name "$t-*" ! -name "$t-slow-unit-*" | wc -l)
    slow0=$(find "$ART" -name "$t-slow-unit-*" | wc -l)
    # new inputs go to $new (the first directory); the repo corpus seeds it
    t0=$SECONDS
    "${NICE[@]}" "$fz" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -error_exitcode=1 -timeout_exitcode=1 -artifact_prefix="$ART/$t-" "${dict[@]}" \
        "$new" "$corpus" >"$WORK/$t.log" 2>&1
    st=$?
    # SIGINT (Ctrl-C): libFuzzer stops, prints its statistics and exits 72;
    # the run is logged like any other, and the script stops after it
    if [ $st -eq 72 ] && grep -q 'libFuzzer: run interrupted' "$WORK/$t.log"; then
        say "$t: interrupted"
        st=0
        STOP=1
    fi
    EXECS[$t]=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$WORK/$t.log" | tail -n 1)
    secs=$((SECONDS - t0))
    after=$(find "$ART" -name "$t-*" ! -name "$t-slow-unit-*" | wc -l)
    CRASH[$t]=$((after - before))
    slow=$(( $(find "$ART" -name "$t-slow-unit-*" | wc -l) - slow0 ))
    [ $slow -gt 0 ] && say "$t: $slow slow unit(s) (not a failure; replay with $fz FILE):" &&
        find "$ART" -name "$t-slow-unit-*" -newer "$new" | sed 's/^/    /'

    if [ $st -ne 0 ] || [ "${CRASH[$t]}" -gt 0 ]; then
        CRASHED=1
        say "$t: exit $st, reproducers:"; find "$ART" -name "$t-*" ! -name "$t-slow-unit-*"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$WORK/$t.log" | head -n 8 | sed 's/^/    | /'
        [ "${CRASH[$t]}" -gt 0 ] || CRASH[$t]=1
    fi
    # Grow the repo corpus by the new inputs that add coverage to it (-merge=1
    # keeps what is there, named seeds included, and adds only those).
    if [ $GROW = 1 ]; then
        "${NICE[@]}" "$fz" -merge=1 -timeout=10 -rss_limit_mb=2048 "$corpus" "$new" \
            >"$WORK/$t.merge.log" 2>&1 ||
            say "$t: merge failed, corpus left as it was ($(tail -n 1 "$WORK/$t.merge.log"))"
    fi
    SIZE1[$t]=$(find "$corpus" -type f | wc -l)
    say "$t: ${EXECS[$t]:-?} executions${secs:+ in $secs s}, ${CRASH[$t]} crashes, corpus ${SIZE0[$t]} -> ${SIZE1[$t]} files"
    if [ $LOGRUNS = 1 ] && [ -n "${EXECS[$t]:-}" ]; then
        [ -f "$LEDGER" ] || printf '# utc\tcommit\ttarget\texecutions\tcrashes\tseconds\tcorpus_before\tcorpus_after\n' >"$LEDGER"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$COMMIT" "$t" \
            "${EXECS[$t]}" "${CRASH[$t]}" "${secs:-0}" "${SIZE0[$t]}" "${SIZE1[$t]}" >>"$LEDGER"
    fi
    [ $STOP = 1 ] && { say "stopped by SIGINT: the other targets and the coverage report are skipped"; COVERAGE=0; break; }
done

# --- coverage of the corpus ---------------------------------------------------------
if [ $COVERAGE = 1 ]; then
    objs=()
    for t in "${SEL[@]}"; do
        corpus="${CORPUS[$t]}"
        cz="$BUILD-cov/tests/fuzz/$t"
        # -runs=0: execute every corpus input once, no mutation
        LLVM_PROFILE_FILE="$WORK/$t.profraw" "$cz" -runs=0 -rss_limit_mb=2048 "$corpus" \
            >"$WORK/$t.cov.log" 2>&1 || say "$t: coverage replay exit $? (see a crash above)"
        objs+=(-object "$cz")
    done
    "$PROFDATA" merge -sparse "$WORK"/*.profraw -o "$WORK/all.profdata" ||
        { say "llvm-profdata merge failed"; exit 1; }
    say "line coverage of the corpus (llvm-cov report, all targets together):"
    "$COV" report "${objs[@]:1}" -instr-profile="$WORK/all.profdata" >"$WORK/report.txt" 2>"$WORK/report.err" ||
        { say "llvm-cov report failed: $(head -n 3 "$WORK/report.err")"; exit 1; }
    # per-file rows: Filename Regions Missed Cover Functions Missed Executed Lines Missed Cover ...
    for d in lib/proto lib/device lib/host; do
        awk -v d="$d/" 'index($1, d) && NF >= 10 { l += $8; m += $9 }
            END { if (l) printf "  %-11s %d of %d lines (%.1f%%)\n", d, l - m, l, 100 * (l - m) / l;
                  else printf "  %-11s no lines\n", d }' "$WORK/report.txt"
    done
fi
[ $MODE = fuzz ] && [ -n "$UNTIL" ] && [ $LOGRUNS = 1 ] && { say "campaign log totals:"; summary; }
[ $CRASHED = 0 ] && { [ $MODE = fuzz ] && say "no crashes"; exit 0; }
say "CRASHES found (reproducers in $ART)"
exit 1
