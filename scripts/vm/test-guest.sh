#!/bin/bash
# Guest tests: vpcie devices driven by an unmodified Linux guest in upstream
# QEMU (vfio-user-pci), judged by marker lines on the serial console.
#
#   epf-pcitest   vpcie-epf-test + pci_endpoint_test + upstream pcitest.sh
#                 (whole matrix), plus its READ/WRITE/COPY cases with -d
#   epf-private-ram  pcitest.sh's READ/WRITE/COPY cases, with and without -d,
#                 with guest RAM not shared (DMA_READ/DMA_WRITE messages)
#   two-devices   vpcie-epf-test (pci_endpoint_test) and vpcie-sample
#                 (uio_pci_generic) side by side; the guest's view of their
#                 config space is compared with the devices' own
#
# Prints "GUEST-RESULT <name> OK|FAIL|SKIP" lines (scripts/test-all.sh counts
# them) and human-readable detail. See --help and docs/vm.md.
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    cat <<'EOF'
Usage: scripts/vm/test-guest.sh [--build DIR] [--cache DIR] [--keep-logs DIR] [options]

  --build DIR       meson build directory with the devices and tools (default ./build)
  --cache DIR       VM provisioning cache (default $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --keep-logs DIR   keep every log (consoles, QEMU, devices, config dumps) in DIR
                    (default: a temporary directory, removed unless a test failed)
  --only NAME       run only epf-pcitest, epf-private-ram or two-devices (repeatable)
  --epf PROGRAM     the pci-epf-test device program (default BUILD/devices/epf-test/
                    vpcie-epf-test; scripts/vm/test-rtl.sh passes the Verilog one)
  --epf-timeout S   guest time limit of the whole-matrix boot (default 240)
  --smp N           vCPUs of the epf-pcitest guest (default 11: the fewest with
                    which Linux grants pci_endpoint_test all 2048 MSI-X vectors)
  --verbose         also print the full lspci -F decode diff of each device
  -h, --help        this text

Exit status: 0 every result OK; 77 the VM packages could not be fetched
(one "GUEST-RESULT guest-tests SKIP" line); 1 otherwise.
EOF
}

BUILD="build"
CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
KEEP_LOGS=""
EPF=""
EPF_TIMEOUT_ARG=""
ONLY=()
SMP=11
VERBOSE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:?--build needs a directory}"; shift 2 ;;
        --cache) CACHE="${2:?--cache needs a directory}"; shift 2 ;;
        --keep-logs) KEEP_LOGS="${2:?--keep-logs needs a directory}"; shift 2 ;;
        --only) ONLY+=("${2:?--only needs a test name}"); shift 2 ;;
        --epf) EPF="${2:?--epf needs a program}"; shift 2 ;;
        --epf-timeout) EPF_TIMEOUT_ARG="${2:?--epf-timeout needs seconds}"; shift 2 ;;
        --smp) SMP="${2:?--smp needs a number}"; shift 2 ;;
        --verbose) VERBOSE=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "test-guest: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$SMP" in ''|*[!0-9]*|0) echo "test-guest: --smp wants a number" >&2; exit 2 ;; esac
case "$EPF_TIMEOUT_ARG" in *[!0-9]*) echo "test-guest: --epf-timeout wants seconds" >&2; exit 2 ;; esac

T_START=$(date +%s%N)
say() { echo "test-guest: $*"; }
# shellcheck source=scripts/vm/guest-common.sh
. "$SELF_DIR/guest-common.sh"
elapsed() { echo "$(( ($(date +%s%N) - ${1:-$T_START}) / 1000000000 )) s"; }
want() { # test name
    [ ${#ONLY[@]} -eq 0 ] && return 0
    local t
    for t in "${ONLY[@]}"; do [ "$t" = "$1" ] && return 0; done
    return 1
}
FAILED=0

# Limits. The guest timeout is enforced by scripts/vm/run; the outer timeout
# covers run itself (provisioning is already done by then).
EPF_TIMEOUT=${EPF_TIMEOUT_ARG:-240} # whole matrix: 65-90 s on 2 TCG host cores
MSIX_TIMEOUT=200     # only when the platform grants fewer than 2048 vectors
TWO_TIMEOUT=120      # ~15 s
PRIV_TIMEOUT=180     # ~20 s
OUTER_SLACK=60

# --- inputs ---------------------------------------------------------------------
[ -d "$BUILD" ] || { say "no build directory $BUILD"; result guest-tests FAIL; exit 1; }
BUILD="$(cd "$BUILD" && pwd)"
EPF="${EPF:-$BUILD/devices/epf-test/vpcie-epf-test}"
case "$EPF" in /*) ;; *) EPF="$PWD/$EPF" ;; esac
SAMPLE="$BUILD/devices/sample/vpcie-sample"
VPCIE="$BUILD/tools/vpcie/vpcie"
for f in "$EPF" "$SAMPLE" "$VPCIE"; do
    [ -x "$f" ] || { say "missing $f (build the project first)"; result guest-tests FAIL; exit 1; }
done

# --- provisioning (QEMU >= 10.1, guest kernel, pcitest) ----------------------------
provision_or_exit guest-tests
# shellcheck disable=SC1091
. "$CACHE/vm.env"
for t in python3 lspci gcc timeout setsid; do
    command -v "$t" >/dev/null || { say "host tool '$t' missing"; result guest-tests FAIL; exit 1; }
done

# --- work and log directories ----------------------------------------------------
WORK="$(mktemp -d /tmp/vpcie-tg.XXXXXX)" # short: unix socket paths
if [ -n "$KEEP_LOGS" ]; then
    mkdir -p "$KEEP_LOGS"
    LOGS="$(cd "$KEEP_LOGS" && pwd)"
else
    LOGS="$WORK/logs"
    mkdir -p "$LOGS"
fi
DEV_PIDS=()
cleanup() {
    local p
    for p in "${DEV_PIDS[@]+"${DEV_PIDS[@]}"}"; do
        kill -TERM -- "-$p" 2>/dev/null || true
    done
    for p in "${DEV_PIDS[@]+"${DEV_PIDS[@]}"}"; do
        wait "$p" 2>/dev/null || true
    done
    if [ -z "$KEEP_LOGS" ]; then
        if [ "$FAILED" = 1 ]; then
            local keep
            keep="$CACHE/logs/test-guest-$(date +%Y%m%d-%H%M%S)"
            mkdir -p "$keep" && cp -a "$LOGS/." "$keep/" && say "logs of the failed run kept in $keep"
        fi
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM HUP

RUN="$SELF_DIR/run"
RESULTS="$SELF_DIR/guest-results.py"

# run_vm LOGDIR TIMEOUT ARGS... : scripts/vm/run with an outer timeout; returns its status
run_vm() {
    local dir="$1" t="$2" st=0
    shift 2
    rm -rf "$dir"
    mkdir -p "$dir"
    timeout -k 10 $((t + OUTER_SLACK)) "$RUN" --cache "$CACHE" --quiet --timeout "$t" \
        --log-dir "$dir" "$@" >"$dir/run.out" 2>&1 || st=$?
    if [ $st -ne 0 ] || grep -q 'exited during the run' "$dir/run.out"; then
        sed 's/^/    | /' "$dir/run.out" | tail -n 25
    fi
    return $st
}
describe_status() {
    case "$1" in
        0) echo "guest command completed" ;;
        124) echo "TIMEOUT (guest hung or too slow)" ;;
        125) echo "QEMU ended without the guest's exit marker" ;;
        126) echo "a device process failed" ;;
        *) echo "exit status $1" ;;
    esac
}
# Device stderr: anything at warning level or above is shown.
device_log_notes() { # LOG NAME
    [ -s "$1" ] || return 0
    local n
    n=$(grep -ciE 'warn|error|fail|abort|assert' "$1")
    if [ "$n" -gt 0 ]; then
        say "$2 logged $n warning/error lines (first 5):"
        grep -iE 'warn|error|fail|abort|assert' "$1" | head -n 5 | sed 's/^/    | /'
    fi
}

# The cases the upstream script runs: pcitest.sh executed on the host with a
# stand-in pcitest ($WORK/fake/pcitest) that prints each case's result line
# as pcitest would.
make_fake_pcitest() {
    mkdir -p "$WORK/fake"
    cat >"$WORK/fake/pcitest" <<'EOF'
#!/bin/sh
b=-1 i=-1 l=0 m=0 x=0 r=0 w=0 c=0 s=102400
while getopts "D:b:m:x:i:deIlhrwcs:" o; do
    case $o in
        b) b=$OPTARG ;; m) m=$OPTARG ;; x) x=$OPTARG ;; i) i=$OPTARG ;; l) l=1 ;;
        r) r=1 ;; w) w=1 ;; c) c=1 ;; s) s=$((OPTARG)) ;; *) ;;
    esac
done
[ "$b" -ge 0 ] && printf 'BAR%d:\t\tOKAY\n' "$b"
case $i in 0) printf 'SET IRQ TYPE TO LEGACY:\t\tOKAY\n' ;; 1) printf 'SET IRQ TYPE TO MSI:\t\tOKAY\n' ;;
           2) printf 'SET IRQ TYPE TO MSI-X:\t\tOKAY\n' ;; esac
[ $l = 1 ] && printf 'LEGACY IRQ:\tOKAY\n'
[ "$m" -gt 0 ] && printf 'MSI%d:\t\tOKAY\n' "$m"
[ "$x" -gt 0 ] && printf 'MSI-X%d:\t\tOKAY\n' "$x"
[ $w = 1 ] && printf 'WRITE (%7d bytes):\t\tOKAY\n' "$s"
[ $r = 1 ] && printf 'READ (%7d bytes):\t\tOKAY\n' "$s"
[ $c = 1 ] && printf 'COPY (%7d bytes):\t\tOKAY\n' "$s"
exit 0
EOF
    chmod 755 "$WORK/fake/pcitest"
}

# =============================================================================
# Guest test 1: epf-pcitest
# =============================================================================
test_epf() {
    local t0 dir st st2=0 granted
    t0=$(date +%s%N)
    say "=== epf-pcitest: vpcie-epf-test + pci_endpoint_test + upstream pcitest.sh ($SMP vCPUs, intel-iommu intremap)"
    dir="$LOGS/epf-pcitest"
    mkdir -p "$dir" "$WORK/epf"

    make_fake_pcitest
    # The DMA variants: pcitest.sh's own READ/WRITE/COPY command lines plus -d.
    grep -E '^[[:space:]]*pcitest[[:space:]]+-[rwc]([[:space:]]|$)' "$VPCIE_VM_PCITEST_SH" |
        sed 's/[[:space:]]*$/ -d/' >"$WORK/epf/epf-dma.sh"
    PATH="$WORK/fake:$PATH" sh "$VPCIE_VM_PCITEST_SH" >"$WORK/epf/expected.out" 2>&1
    PATH="$WORK/fake:$PATH" sh "$WORK/epf/epf-dma.sh" >"$WORK/epf/expected-dma.out" 2>&1
    { python3 "$RESULTS" keys --section pcitest.sh "$WORK/epf/expected.out"
      python3 "$RESULTS" keys --section dma "$WORK/epf/expected-dma.out"; } >"$dir/expected.tsv"
    say "upstream pcitest.sh ($VPCIE_VM_KERNEL_VERSION) runs $(grep -c '^pcitest.sh' "$dir/expected.tsv") cases; $(grep -c '^dma' "$dir/expected.tsv") more with -d"
    cp "$WORK/epf/epf-dma.sh" "$dir/"

    st=0
    run_vm "$dir/boot1" "$EPF_TIMEOUT" --iommu --smp "$SMP" \
        --file "$SELF_DIR/guest-epf.sh:/opt/" --file "$WORK/epf/epf-dma.sh:/opt/" \
        --load pci_endpoint_test \
        --device "$EPF --socket {sock}" \
        -- sh /opt/guest-epf.sh full || st=$?
    say "boot 1: $(describe_status $st); $(grep -aoE 'guest exit [0-9]+ \(boot [^)]*\)' "$dir/boot1/run.out" | tail -n 1)"
    granted=$(grep -aoE '^EPF-MSIX-GRANTED [0-9]+' "$dir/boot1/console.log" | tail -n 1 | cut -d' ' -f2)
    local msix_args=()
    if [ -n "$granted" ] && [ "$granted" -lt 2048 ]; then
        say "the guest could request only $granted of the driver's 2048 MSI-X vectors (platform limit, evidence below)"
        if [ "$granted" -ge 1 ]; then
            say "boot 2: MSI-X cases 1..$granted with the device sized to the platform (--msix $granted)"
            run_vm "$dir/boot2" "$MSIX_TIMEOUT" --iommu --smp "$SMP" \
                --file "$SELF_DIR/guest-epf.sh:/opt/" --file "$WORK/epf/epf-dma.sh:/opt/" \
                --load pci_endpoint_test \
                --device "$EPF --msix $granted --socket {sock}" \
                -- sh /opt/guest-epf.sh msix "$granted" || st2=$?
            say "boot 2: $(describe_status $st2)"
            msix_args=(--msix-console "$dir/boot2/console.log")
        fi
    fi
    device_log_notes "$dir/boot1/dev0.log" "vpcie-epf-test"
    python3 "$RESULTS" epf --expected "$dir/expected.tsv" --console "$dir/boot1/console.log" \
        "${msix_args[@]+"${msix_args[@]}"}" | tee "$dir/results.txt"
    grep -q ' FAIL$' "$dir/results.txt" && FAILED=1
    local died=""
    grep -qs 'exited during the run' "$dir/boot1/run.out" "$dir/boot2/run.out" && died=1
    if [ $st -ne 0 ] || [ $st2 -ne 0 ] || [ -n "$died" ]; then
        result epf-pcitest-run FAIL
        say "epf-pcitest: boot 1: $(describe_status $st); boot 2: $(describe_status $st2)${died:+; the device process died}"
        say "last pcitest lines before the end: $(grep -aE '^(BAR|SET IRQ|LEGACY|MSI|READ|WRITE|COPY|EPF-SECTION)' "$dir/boot1/console.log" | tail -n 2 | tr -s '\t\r\n' '  ')"
    fi
    say "epf-pcitest took $(elapsed "$t0")"
}

# =============================================================================
# Guest test 2: epf-private-ram
# =============================================================================
# pcitest.sh's READ/WRITE/COPY cases (1 B to 1024001 B), without and with -d,
# with guest RAM not shared: QEMU maps it without fds and every transfer is
# DMA_READ/DMA_WRITE messages, served by QEMU's main loop while the guest may
# touch the device's registers.
test_epf_private() {
    local t0 dir st=0
    t0=$(date +%s%N)
    say "=== epf-private-ram: READ/WRITE/COPY through DMA messages (guest RAM not shared, 2 vCPUs)"
    dir="$LOGS/epf-private-ram"
    mkdir -p "$dir" "$WORK/epfp"
    make_fake_pcitest
    # The cases as pcitest.sh runs them, and with -d.
    grep -E '^[[:space:]]*pcitest[[:space:]]+-[rwc]([[:space:]]|$)' "$VPCIE_VM_PCITEST_SH" |
        sed 's/[[:space:]]*$//' >"$WORK/epfp/epf-rwc.sh"
    sed 's/$/ -d/' "$WORK/epfp/epf-rwc.sh" >"$WORK/epfp/epf-dma.sh"
    { PATH="$WORK/fake:$PATH" sh "$WORK/epfp/epf-rwc.sh" |
          python3 "$RESULTS" keys --section rwc /dev/stdin
      PATH="$WORK/fake:$PATH" sh "$WORK/epfp/epf-dma.sh" |
          python3 "$RESULTS" keys --section dma /dev/stdin; } >"$dir/expected.tsv"
    say "$(wc -l <"$dir/expected.tsv") cases ($(tr '\n' ';' <"$WORK/epfp/epf-rwc.sh" | tr -s ' ' | head -c 120)...)"
    run_vm "$dir/vm" "$PRIV_TIMEOUT" --private-ram --smp 2 \
        --file "$SELF_DIR/guest-epf.sh:/opt/" --file "$WORK/epfp/epf-rwc.sh:/opt/" \
        --file "$WORK/epfp/epf-dma.sh:/opt/" --load pci_endpoint_test \
        --device "$EPF --socket {sock}" \
        -- sh /opt/guest-epf.sh rwc || st=$?
    say "guest: $(describe_status $st); $(grep -aoE 'guest exit [0-9]+ \(boot [^)]*\)' "$dir/vm/run.out" | tail -n 1)"
    device_log_notes "$dir/vm/dev0.log" "vpcie-epf-test"
    python3 "$RESULTS" epf --name epf-private-ram --expected "$dir/expected.tsv" \
        --console "$dir/vm/console.log" | tee "$dir/results.txt"
    grep -q ' FAIL$' "$dir/results.txt" && FAILED=1
    # A DMA wait that stalls shows in the logs even when pcitest recovers.
    local clean=OK
    grep -qiE 'warn|error' "$dir/vm/dev0.log" 2>/dev/null && clean=FAIL
    qemu_complained "$dir/vm/qemu.log" && clean=FAIL
    [ $st -eq 0 ] || clean=FAIL
    [ $clean = OK ] || say "device or QEMU complained, or the guest did not finish: $dir/vm"
    result epf-private-ram-logs "$clean"
    say "epf-private-ram took $(elapsed "$t0")"
}

# =============================================================================
# Guest test 3: two-devices
# =============================================================================
start_device() { # NAME SOCKET CMD... -> pid in DEV_PID
    local name="$1" sock="$2" end
    shift 2
    setsid "$@" --socket "$sock" </dev/null >"$LOGS/two-devices/$name.log" 2>&1 &
    DEV_PID=$!
    DEV_PIDS+=("$DEV_PID")
    end=$((SECONDS + 20))
    while [ ! -S "$sock" ]; do
        kill -0 "$DEV_PID" 2>/dev/null || { say "$name exited before creating $sock"; return 1; }
        [ $SECONDS -lt $end ] || { say "$name: no socket after 20 s"; return 1; }
        sleep 0.05
    done
}
stop_device() { # PID
    kill -TERM -- "-$1" 2>/dev/null || true
    local end=$((SECONDS + 5))
    while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
    kill -KILL -- "-$1" 2>/dev/null || true
    wait "$1" 2>/dev/null
}

test_two() {
    local t0 dir st=0 epf_pid smp_pid mmio
    t0=$(date +%s%N)
    say "=== two-devices: vpcie-epf-test (pci_endpoint_test) + vpcie-sample (uio_pci_generic)"
    dir="$LOGS/two-devices"
    mkdir -p "$dir"
    mmio="$WORK/vpcie-mmio"
    if ! gcc -static -O2 -Wall -o "$mmio" "$SELF_DIR/guest-mmio.c" 2>"$dir/gcc.log"; then
        say "cannot build the static guest helper:"; sed 's/^/    | /' "$dir/gcc.log"
        result two-devices-setup FAIL
        return
    fi
    # The devices are started here rather than by run --device: they must
    # outlive QEMU so their own view of config space can be dumped afterwards.
    if ! start_device epf "$WORK/epf.sock" "$EPF"; then result two-devices-setup FAIL; return; fi
    epf_pid=$DEV_PID
    if ! start_device sample "$WORK/sample.sock" "$SAMPLE"; then result two-devices-setup FAIL; return; fi
    smp_pid=$DEV_PID
    run_vm "$dir/vm" "$TWO_TIMEOUT" --iommu \
        --file "$SELF_DIR/guest-two.sh:/opt/" --file "$mmio:/usr/bin/" \
        --add-module uio_pci_generic --load pci_endpoint_test \
        --socket "$WORK/epf.sock" --socket "$WORK/sample.sock" \
        -- sh /opt/guest-two.sh || st=$?
    say "guest: $(describe_status $st); $(grep -aoE 'guest exit [0-9]+ \(boot [^)]*\)' "$dir/vm/run.out" | tail -n 1)"

    # The devices' own view, after QEMU is gone (they keep their state).
    local name sock
    for name in epf sample; do
        sock="$WORK/$name.sock"
        if ! kill -0 "$([ $name = epf ] && echo $epf_pid || echo $smp_pid)" 2>/dev/null; then
            say "$name device process died during the run"
        fi
        timeout 20 "$VPCIE" lspci --socket "$sock" --wait 5000 -xxxx >"$dir/$name.host.lspci" 2>"$dir/$name.host.err" ||
            say "vpcie lspci -xxxx on $name failed: $(tail -n 1 "$dir/$name.host.err")"
        timeout 20 "$VPCIE" lspci --socket "$sock" --wait 5000 -v >"$dir/$name.host-v.txt" 2>>"$dir/$name.host.err" ||
            say "vpcie lspci -v on $name failed: $(tail -n 1 "$dir/$name.host.err")"
    done
    stop_device "$epf_pid"
    stop_device "$smp_pid"
    device_log_notes "$dir/epf.log" "vpcie-epf-test"
    device_log_notes "$dir/sample.log" "vpcie-sample"

    # Functional checks reported by the guest.
    local console="$dir/vm/console.log" line check verdict rest
    local -A T2=()
    grep -a '^T2-INFO ' "$console" | tr -d '\r' | sed 's/^T2-INFO /  /'
    while IFS= read -r line; do
        read -r _ check verdict rest <<<"${line%$'\r'}"
        echo "  $check: $verdict $rest"
        T2[$check]=$verdict
    done < <(grep -a '^T2-CHECK ' "$console")
    # epf side: bound + every pcitest case; sample side: bound, ID, scratch, INTx.
    local e=OK s=OK
    for check in "${!T2[@]}"; do
        [ "${T2[$check]}" = OK ] && continue
        case "$check" in epf*) e=FAIL ;; sample*) s=FAIL ;; esac
    done
    for check in epf-present epf-driver epf-pcitest-b0 epf-pcitest-m2; do
        [ "${T2[$check]:-}" = OK ] || e=FAIL
    done
    for check in sample-present sample-driver sample-id sample-scratch sample-uio-intx; do
        [ "${T2[$check]:-}" = OK ] || s=FAIL
    done
    [ $st -eq 0 ] || { e=FAIL; s=FAIL; say "the guest did not complete: $(describe_status $st); console: $console"; }
    result two-devices-epf-test "$e"
    result two-devices-sample-uio "$s"

    # Config space: guest (sysfs config, via the console) vs device (vpcie lspci).
    local vflag=()
    [ $VERBOSE = 1 ] && vflag=(--verbose)
    for name in epf sample; do
        python3 "$RESULTS" cfg --console "$console" --label "$name" \
            --host-dump "$dir/$name.host.lspci" --host-verbose "$dir/$name.host-v.txt" \
            --lspci-guest "$dir/$name.guest.lspci" --lspci-host "$dir/$name.host.lspci" \
            "${vflag[@]+"${vflag[@]}"}" >"$dir/$name.compare.txt" 2>&1
        cat "$dir/$name.compare.txt"
        grep -q '^GUEST-RESULT .* OK$' "$dir/$name.compare.txt" || FAILED=1
        lspci -F "$dir/$name.guest.lspci" -vvv >"$dir/$name.guest.decoded" 2>/dev/null
        lspci -F "$dir/$name.host.lspci" -vvv >"$dir/$name.host.decoded" 2>/dev/null
    done
    say "two-devices took $(elapsed "$t0")"
}

want epf-pcitest && test_epf
want epf-private-ram && test_epf_private
want two-devices && test_two
say "total $(elapsed); logs: $( [ -n "$KEEP_LOGS" ] && echo "$LOGS" || echo "removed (use --keep-logs DIR)")"
[ $FAILED = 0 ] && exit 0
exit 1
