#!/bin/bash
# Guest test: QEMU's vfio-user-pci drives a device on "another machine"
# through `vpcie proxy`. vpcie-epf-test runs in its own network namespace
# behind a veth pair (created and removed here; netem adds delay), listening
# on a non-loopback address, so TLS with a pre-shared key is required on
# both ends; the proxy gives QEMU a UNIX socket.
#
#   proxy-epf-pcitest  the upstream pcitest.sh (whole matrix) and its
#                      READ/WRITE/COPY cases with -d, guest RAM shared: the
#                      proxy maps it and answers the device's DMA itself
#   proxy-private-ram  READ/WRITE/COPY with guest RAM not shared: the proxy
#                      relays the device's DMA messages to QEMU
#   proxy-reconnect    the device SIGKILLed while the guest runs pcitest, and
#                      started again 5 s later: the guest's pcitest cases
#                      fail meanwhile and pass again once the proxy has
#                      reconnected and replayed DMA maps, config writes and
#                      MSI set-up (scripts/vm/guest-reconnect.sh); QEMU and
#                      the guest kernel stay alive
#
# Prints "GUEST-RESULT <name> OK|FAIL|SKIP" lines (scripts/test-all.sh counts
# them). Without network namespaces (not root, no `ip netns`) the device
# listens on 127.0.0.1, still with TLS, and the reason is printed.
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    cat <<'EOF2'
Usage: scripts/vm/test-proxy.sh [--build DIR] [--cache DIR] [--keep-logs DIR] [options]

  --build DIR       meson build directory (default ./build)
  --cache DIR       VM provisioning cache (default $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --keep-logs DIR   keep every log in DIR (default: removed unless a test failed)
  --only NAME       proxy-epf-pcitest, proxy-private-ram or proxy-reconnect
                    (repeatable)
  --smp N           vCPUs of the full-matrix guest (default 11, as test-guest.sh)
  --delay US        netem delay each way on the veth pair, microseconds (default 100;
                    0: none)
  --loss PERMILLE    drop this share of the packets each way on the veth pair,
                    in the kernel with nftables (default 0: none; 1 is 0.1%,
                    which made proxy-reconnect take 608 s instead of 232 s)
  --no-netns        device on 127.0.0.1 instead of a network namespace
  -h, --help        this text

Exit status: 0 every result OK; 77 VM packages unavailable; 1 otherwise.
EOF2
}

BUILD="build"
CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
KEEP_LOGS=""
ONLY=()
SMP=11
DELAY_US=100
LOSS=0
USE_NETNS=1
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:?--build needs a directory}"; shift 2 ;;
        --cache) CACHE="${2:?--cache needs a directory}"; shift 2 ;;
        --keep-logs) KEEP_LOGS="${2:?--keep-logs needs a directory}"; shift 2 ;;
        --only) ONLY+=("${2:?--only needs a test name}"); shift 2 ;;
        --smp) SMP="${2:?--smp needs a number}"; shift 2 ;;
        --delay) DELAY_US="${2:?--delay needs microseconds}"; shift 2 ;;
        --loss) LOSS="${2:?--loss needs a number (per mille)}"; shift 2 ;;
        --no-netns) USE_NETNS=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "test-proxy: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$SMP$DELAY_US$LOSS" in *[!0-9]*) echo "test-proxy: --smp/--delay/--loss want numbers" >&2; exit 2 ;; esac
[ "$LOSS" -le 1000 ] || { echo "test-proxy: --loss is per mille (0..1000)" >&2; exit 2; }

T_START=$(date +%s%N)
say() { echo "test-proxy: $*"; }
# shellcheck source=scripts/vm/guest-common.sh
. "$SELF_DIR/guest-common.sh"
elapsed() { echo "$(( ($(date +%s%N) - ${1:-$T_START}) / 1000000000 )) s"; }
want() {
    [ ${#ONLY[@]} -eq 0 ] && return 0
    local t
    for t in "${ONLY[@]}"; do [ "$t" = "$1" ] && return 0; done
    return 1
}
FAILED=0
EPF_TIMEOUT=600  # the whole matrix: 65-90 s with a local device; 320 s through the proxy on a loaded 2-core host (every BAR access is a TLS round trip)
PRIV_TIMEOUT=300
OUTER_SLACK=60

[ -d "$BUILD" ] || { say "no build directory $BUILD"; result proxy-tests FAIL; exit 1; }
BUILD="$(cd "$BUILD" && pwd)"
EPF="$BUILD/devices/epf-test/vpcie-epf-test"
VPCIE="$BUILD/tools/vpcie/vpcie"
for f in "$EPF" "$VPCIE"; do
    [ -x "$f" ] || { say "missing $f (build the project first)"; result proxy-tests FAIL; exit 1; }
done
command -v psktool >/dev/null || { say "psktool missing (scripts/install-deps.sh)"; result proxy-tests FAIL; exit 1; }
provision_or_exit proxy-tests
# shellcheck disable=SC1091
. "$CACHE/vm.env"

guest_workdir proxy
NS="" VETH_H="" DEV_PID=""
net_cleanup() {
    if [ -n "$DEV_PID" ]; then
        kill -TERM -- "-$DEV_PID" 2>/dev/null
        wait "$DEV_PID" 2>/dev/null
        DEV_PID=""
    fi
    [ -n "$VETH_H" ] && ip link del "$VETH_H" 2>/dev/null
    [ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
    NS="" VETH_H=""
}
trap 'net_cleanup; guest_workdir_cleanup' EXIT

# --- the network: a namespace for the device, a veth pair, netem -----------------
# add_loss IFACE: nftables rules in the device's namespace drop $LOSS per mille
# of the packets IFACE sends and receives, at random (nft's numgen), in the
# kernel: TCP sees real losses and retransmits. The packets are those the
# veth carries, GSO packets of up to 64 KiB included. No delay, no
# reordering: see docs/tcp.md (netem).
add_loss() {
    if ! command -v nft >/dev/null; then
        say "no packet loss: nft missing (scripts/install-deps.sh installs nftables)"
        return 0
    fi
    if ip netns exec "$NS" nft -f - 2>"$WORK/nft.err" <<EOF2
table inet vpcie_loss {
    chain out { type filter hook output priority 0; policy accept;
        oifname "$1" numgen random mod 1000 < $LOSS counter drop; }
    chain in { type filter hook input priority 0; policy accept;
        iifname "$1" numgen random mod 1000 < $LOSS counter drop; }
}
EOF2
    then
        LOSS_ON=1
        say "packet loss: $LOSS per mille each way on $1 (nftables)"
    else
        say "no packet loss: $(head -n 1 "$WORK/nft.err")"
    fi
}
LOSS_ON=0
# dropped_packets: what the loss rules dropped so far
dropped_packets() {
    [ $LOSS_ON = 1 ] || return 0
    ip netns exec "$NS" nft list table inet vpcie_loss 2>/dev/null |
        awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}
DEV_ADDR=127.0.0.1
NS_EXEC=()
setup_netns() {
    local n=$(( $$ % 250 + 1 )) why
    if [ "$(id -u)" != 0 ]; then
        why="not root"
    elif ! command -v ip >/dev/null; then
        why="no ip(8)"
    elif ! why=$(ip netns add "vpcie-px$$" 2>&1); then
        :
    else
        NS="vpcie-px$$"
        VETH_H="vpxh$$"
        if ip link add "$VETH_H" type veth peer name "vpxd$$" netns "$NS" &&
           ip addr add "10.231.$n.1/24" dev "$VETH_H" && ip link set "$VETH_H" up &&
           ip -n "$NS" addr add "10.231.$n.2/24" dev "vpxd$$" &&
           ip -n "$NS" link set "vpxd$$" up && ip -n "$NS" link set lo up; then
            DEV_ADDR="10.231.$n.2"
            NS_EXEC=(ip netns exec "$NS")
            say "device in network namespace $NS at $DEV_ADDR (veth $VETH_H)"
            if [ "$DELAY_US" -gt 0 ]; then
                if tc qdisc add dev "$VETH_H" root netem delay "${DELAY_US}us" 2>"$WORK/tc.err" &&
                   tc -n "$NS" qdisc add dev "vpxd$$" root netem delay "${DELAY_US}us" 2>>"$WORK/tc.err"; then
                    say "netem: ${DELAY_US} us each way"
                else
                    say "no netem delay: $(head -n 1 "$WORK/tc.err")"
                fi
            fi
            [ "$LOSS" -gt 0 ] && add_loss "vpxd$$"
            return 0
        fi
        why="veth setup failed"
        net_cleanup
    fi
    say "no network namespace ($why): the device listens on 127.0.0.1, still with TLS"
}
[ $USE_NETNS = 1 ] && setup_netns

psktool -u vpcie -p "$WORK/key.psk" >/dev/null && chmod 600 "$WORK/key.psk"

# start_device: vpcie-epf-test on tcp:$DEV_ADDR:PORT with TLS, in the namespace.
start_device() { # LOG
    local port=$(( 23000 + $$ % 20000 )) i
    for i in 1 2 3 4 5 6; do
        DEV_EP="tcp:$DEV_ADDR:$port"
        setsid "${NS_EXEC[@]}" "$EPF" --listen "$DEV_EP" --psk-file "$WORK/key.psk" \
            </dev/null >"$1" 2>&1 &
        DEV_PID=$!
        sleep 0.5
        kill -0 "$DEV_PID" 2>/dev/null && grep -q 'listening on' "$1" && return 0
        kill -TERM -- "-$DEV_PID" 2>/dev/null; wait "$DEV_PID" 2>/dev/null; DEV_PID=""
        port=$((port + 97 * i))
    done
    say "device did not start: $(tail -n 2 "$1")"
    return 1
}
# restart_device LOG: vpcie-epf-test again on the same $DEV_EP (after a kill).
restart_device() {
    local i n
    n=$(grep -c 'listening on' "$1")
    for i in 1 2 3 4 5 6 7 8 9 10; do
        setsid "${NS_EXEC[@]}" "$EPF" --listen "$DEV_EP" --psk-file "$WORK/key.psk" \
            </dev/null >>"$1" 2>&1 &
        DEV_PID=$!
        sleep 0.5
        kill -0 "$DEV_PID" 2>/dev/null && [ "$(grep -c 'listening on' "$1")" -gt "$n" ] && return 0
        wait "$DEV_PID" 2>/dev/null; DEV_PID=""
    done
    say "device did not start again on $DEV_EP: $(tail -n 2 "$1")"
    return 1
}
stop_device() {
    kill -TERM -- "-$DEV_PID" 2>/dev/null
    wait "$DEV_PID" 2>/dev/null
    DEV_PID=""
}

RUN="$SELF_DIR/run"
RESULTS="$SELF_DIR/guest-results.py"
run_vm() { # LOGDIR TIMEOUT ARGS...
    local dir="$1" t="$2" st=0
    shift 2
    rm -rf "$dir"; mkdir -p "$dir"
    timeout -k 10 $((t + OUTER_SLACK)) "$RUN" --cache "$CACHE" --quiet --timeout "$t" \
        --log-dir "$dir" "$@" >"$dir/run.out" 2>&1 || st=$?
    if [ $st -ne 0 ] || grep -q 'exited during the run' "$dir/run.out"; then
        sed 's/^/    | /' "$dir/run.out" | tail -n 25
    fi
    return $st
}
PROXY_CMD() { echo "$VPCIE proxy --socket {sock} --connect $DEV_EP --psk-file $WORK/key.psk"; }

# The expected case list: pcitest.sh run on the host with a stand-in pcitest.
make_expected() { # DIR MODE(full|rwc)
    mkdir -p "$WORK/fake"
    cat >"$WORK/fake/pcitest" <<'EOF2'
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
EOF2
    chmod 755 "$WORK/fake/pcitest"
    grep -E '^[[:space:]]*pcitest[[:space:]]+-[rwc]([[:space:]]|$)' "$VPCIE_VM_PCITEST_SH" |
        sed 's/[[:space:]]*$//' >"$WORK/epf-rwc.sh"
    sed 's/$/ -d/' "$WORK/epf-rwc.sh" >"$WORK/epf-dma.sh"
    if [ "$2" = full ]; then
        { PATH="$WORK/fake:$PATH" sh "$VPCIE_VM_PCITEST_SH" 2>&1 |
              python3 "$RESULTS" keys --section pcitest.sh /dev/stdin
          PATH="$WORK/fake:$PATH" sh "$WORK/epf-dma.sh" 2>&1 |
              python3 "$RESULTS" keys --section dma /dev/stdin; } >"$1/expected.tsv"
    else
        { PATH="$WORK/fake:$PATH" sh "$WORK/epf-rwc.sh" |
              python3 "$RESULTS" keys --section rwc /dev/stdin
          PATH="$WORK/fake:$PATH" sh "$WORK/epf-dma.sh" |
              python3 "$RESULTS" keys --section dma /dev/stdin; } >"$1/expected.tsv"
    fi
}

# One guest run through the proxy; NAME MODE TIMEOUT EXTRA_RUN_ARGS...
run_proxy_test() {
    local name="$1" mode="$2" t="$3" t0 dir st=0 plog
    shift 3
    t0=$(date +%s%N)
    dir="$LOGS/$name"
    mkdir -p "$dir"
    say "=== $name: pcitest ($mode) through vpcie proxy to a TLS device at $DEV_ADDR"
    make_expected "$dir" "$mode"
    start_device "$dir/device.log" || { result "$name" FAIL; return; }
    run_vm "$dir/vm" "$t" "$@" \
        --file "$SELF_DIR/guest-epf.sh:/opt/" --file "$WORK/epf-rwc.sh:/opt/" \
        --file "$WORK/epf-dma.sh:/opt/" --load pci_endpoint_test \
        --device "$(PROXY_CMD)" -- sh /opt/guest-epf.sh "$mode" || st=$?
    stop_device
    plog="$dir/vm/dev0.log"
    say "guest: exit $st; $(grep -aoE 'guest exit [0-9]+ \(boot [^)]*\)' "$dir/vm/run.out" | tail -n 1)"
    python3 "$RESULTS" epf --name "$name" --expected "$dir/expected.tsv" \
        --console "$dir/vm/console.log" | tee "$dir/results.txt"
    grep -q ' FAIL$' "$dir/results.txt" && FAILED=1
    # The path really went through the proxy over TLS, as this test claims.
    local ok=OK
    grep -q 'no fds, interrupts by message' "$dir/device.log" || { ok=FAIL; say "device log: no fd-free client"; }
    grep -q 'session over' "$plog" || { ok=FAIL; say "proxy log: no session: $(tail -n 3 "$plog")"; }
    case "$mode" in
        full) grep -qE 'session over: [1-9][0-9]* DMA served from mapped memory' "$plog" ||
                  { ok=FAIL; say "proxy did not serve DMA from guest memory: $(grep 'session over' "$plog")"; } ;;
        rwc) grep -qE 'session over: 0 DMA served from mapped memory, [1-9][0-9]* relayed' "$plog" ||
                  { ok=FAIL; say "proxy did not relay DMA to QEMU: $(grep 'session over' "$plog")"; } ;;
    esac
    grep -iE 'warn|error' "$plog" | head -n 5 | sed 's/^/    proxy| /'
    [ $st -eq 0 ] || ok=FAIL
    grep 'session over' "$plog" | sed 's/^/    /'
    result "$name-path" "$ok"
    say "$name took $(elapsed "$t0")"
}

# The device killed under the guest's pcitest and started again.
RECONN_TIMEOUT=900
RECONN_OUTAGE=5
run_reconnect_test() {
    local name=proxy-reconnect t0 dir st=0 plog con vm ok i loop restarted=1
    t0=$(date +%s%N)
    dir="$LOGS/$name"
    mkdir -p "$dir"
    say "=== $name: vpcie-epf-test SIGKILLed under pcitest and restarted, through vpcie proxy to $DEV_ADDR"
    start_device "$dir/device.log" || { result "$name" FAIL; return; }
    run_vm "$dir/vm" "$RECONN_TIMEOUT" --smp 2 \
        --file "$SELF_DIR/guest-reconnect.sh:/opt/" --load pci_endpoint_test \
        --device "$(PROXY_CMD)" -- sh /opt/guest-reconnect.sh &
    vm=$!
    con="$dir/vm/console.log"
    for ((i = 0; i < 5 * RECONN_TIMEOUT; i++)); do
        console_has "$con" '^RECONN-STEP' && break
        kill -0 "$vm" 2>/dev/null || break
        sleep 0.2
    done
    if console_has "$con" '^RECONN-STEP loop'; then
        sleep 3
        say "killing the device (SIGKILL) during the guest's pcitest loop; back in ${RECONN_OUTAGE} s"
        kill -KILL -- "-$DEV_PID" 2>/dev/null
        wait "$DEV_PID" 2>/dev/null
        DEV_PID=""
        sleep "$RECONN_OUTAGE"
        restart_device "$dir/device.log" || restarted=0
    else
        restarted=0
        say "the guest never reached its loop"
    fi
    wait "$vm" || st=$?
    stop_device
    plog="$dir/vm/dev0.log"
    say "guest: exit $st; $(grep -aoE 'guest exit [0-9]+ \(boot [^)]*\)' "$dir/vm/run.out" | tail -n 1)"
    tr -d '\r' <"$con" | grep -aE '^RECONN-(INFO|CASE|STEP)' | sed 's/^/    /'
    tr -d '\r' <"$con" | grep -a '^RECONN-LOOP' | awk '{ n[$3 " " $4 " " $5]++ } END { for (k in n) print "    loop: " k " x" n[k] }'
    grep -aE 'vfio|error|abort|Assertion' "$dir/vm/qemu.log" 2>/dev/null | sort | uniq -c | sort -rn | head -n 8 |
        sed 's/^/    qemu| /'
    grep -E 'device gone|attempt 1 |device back|session over' "$plog" | sed 's/^/    proxy| /'
    # baseline, then: failures while the device was away, then passes
    ok=OK
    for i in base-bar0 base-msi1 base-read base-write; do
        console_has "$con" "^RECONN-CASE $i OKAY" || ok=FAIL
    done
    result "$name-before" "$ok"
    loop=$(tr -d '\r' <"$con" | grep -a '^RECONN-LOOP')
    ok=FAIL
    if grep -q ' NOT$' <<<"$loop" && [ "$(tail -n 6 <<<"$loop" | grep -c ' OKAY$')" = 6 ]; then
        ok=OK
    fi
    result "$name-away-then-back" "$ok"
    ok=OK
    for i in bar0 bar1 bar2 bar3 bar4 bar5 msi1 read write copy read-dma write-dma copy-dma; do
        console_has "$con" "^RECONN-CASE $i OKAY" || { ok=FAIL; say "after the restart: $i not OKAY"; }
    done
    result "$name-after" "$ok"
    ok=OK
    console_has "$con" '^RECONN-ALIVE' || ok=FAIL
    [ $st -eq 0 ] || ok=FAIL
    result "$name-guest-alive" "$ok"
    ok=OK
    [ $restarted = 1 ] || ok=FAIL
    grep -q 'device back after' "$plog" || ok=FAIL
    grep -qE 'session over: .* 1 reconnections' "$plog" || ok=FAIL
    result "$name-path" "$ok"
    say "$name took $(elapsed "$t0")"
}

# no_timer_check: on a loaded TCG host, Linux's early check of the timer
# through the interrupt-remapped IO-APIC can miss its window and panic the
# boot ("timer doesn't work through Interrupt-remapped IO-APIC").
want proxy-epf-pcitest && run_proxy_test proxy-epf-pcitest full "$EPF_TIMEOUT" --iommu --smp "$SMP" \
    --append no_timer_check
want proxy-private-ram && run_proxy_test proxy-private-ram rwc "$PRIV_TIMEOUT" --private-ram --smp 2
want proxy-reconnect && run_reconnect_test
[ $LOSS_ON = 1 ] && say "packets dropped on the veth pair: $(dropped_packets)"
say "total $(elapsed)"
[ $FAILED = 0 ] && exit 0
exit 1
