#!/bin/sh
# Guest side of test-ntb.sh and bench-ntb.sh (runs in both busybox guests of
# scripts/vm/run-pair; the side, A or B, comes from vpcie.peer= on the kernel
# command line). Usage: sh guest-ntb.sh PHASES [FILE_KIB] [ROUNDS] [PERF_ORDER]
#
# PHASES, comma-separated, run in this order:
#   probe   ntb_hw_epf binds the vpcie-ntb function
#   net     ntb_transport + ntb_netdev: an interface, link up, A pings B, a file
#           of FILE_KIB KiB goes A -> B over TCP, B sends its sha256 back; then
#           both unload (B first: A sees the link go down)
#   tool    ntb_tool from debugfs: scratchpads both ways, doorbells both ways,
#           memory window 0 read and written both ways
#   bench   ROUNDS x (ping RTT and TCP throughput over ntb_netdev, then the same
#           over virtio-net on QEMU's stream netdev): needs run-pair --net-stream
#   perf    ntb_perf: A measures its copy into B's memory window (2^PERF_ORDER
#           bytes; ROUNDS times with bench)
#   vnet    the virtio-net half of bench alone (no NTB device needed)
#
# The guests coordinate through the links themselves (NTB link state,
# scratchpads, doorbells, TCP), each wait bounded by a timeout.
#
# Console protocol (parsed by test-ntb.sh / bench-ntb.sh, one line each):
#   NTB-CHECK <name> OK|FAIL <detail>
#   NTB-INFO <text>
#   NTB-SUM <sent|recv> <sha256> <bytes>
#   NTB-FIGURE <link> <rtt-ms|mbps|perf-mbps> <value>
dmesg -n 1
PHASES="${1:-probe,net,tool,perf}"
FILE_KIB="${2:-2048}"
ROUNDS="${3:-3}"
PERF_ORDER="${4:-20}"
PERF_ROUNDS=1
case ",$PHASES," in *,bench,*) PERF_ROUNDS=$ROUNDS ;; esac
SIDE=$(sed -n 's/.*vpcie\.peer=\([AB]\).*/\1/p' /proc/cmdline)
[ -n "$SIDE" ] || { echo "NTB-CHECK side FAIL no vpcie.peer= on the kernel command line"; exit 1; }
FAILED=0

# (busybox ash: every function keeps its variables local, the callers' are global)
check() { # name ok|fail detail...
    local name="$1" r="$2"
    shift 2
    if [ "$r" = ok ]; then echo "NTB-CHECK $name OK $*"; else echo "NTB-CHECK $name FAIL $*"; FAILED=1; fi
}
info() { echo "NTB-INFO $*"; }
now_cs() { cut -d' ' -f1 /proc/uptime | tr -d .; } # centiseconds since boot
# wait_for SECONDS CMD...: poll CMD every 0.2 s; 0 once it succeeds, 1 after SECONDS
wait_for() {
    local end=$(( $(now_cs) + $1 * 100 ))
    shift
    while ! "$@" 2>/dev/null; do
        [ "$(now_cs)" -lt "$end" ] || return 1
        sleep 0.2
    done
    return 0
}
has() { case ",$PHASES," in *",$1,"*) return 0 ;; esac; return 1; }
if [ "$SIDE" = A ]; then ME=1; PEER=2; else ME=2; PEER=1; fi

info "side $SIDE, phases $PHASES, kernel $(uname -r)"

# --- probe ------------------------------------------------------------------------
NTB_PCI=""
NTB_DEV=""
probe() {
    local d
    modprobe ntb_hw_epf || { check probe fail "modprobe ntb_hw_epf"; return 1; }
    for d in /sys/bus/pci/devices/*; do
        [ -L "$d/driver" ] || continue
        [ "$(basename "$(readlink "$d/driver")")" = ntb_hw_epf ] && NTB_PCI="$d"
    done
    vpcie-lspci | sed 's/^/NTB-INFO lspci: /'
    if [ -z "$NTB_PCI" ]; then
        dmesg | grep -i ntb | tail -n 10 | sed 's/^/NTB-INFO dmesg: /'
        check probe fail "no PCI function bound to ntb_hw_epf"
        return 1
    fi
    NTB_DEV=$(basename "$NTB_PCI")
    check probe ok "ntb_hw_epf bound to $NTB_DEV ($(cat "$NTB_PCI/vendor"):$(cat "$NTB_PCI/device")), NTB devices: $(ls /sys/bus/ntb/devices | tr '\n' ' ')"
}

# --- helpers for the network links -------------------------------------------------------
iface_of() { # driver name -> interface
    local n
    for n in /sys/class/net/*; do
        [ -L "$n/device/driver" ] || continue
        [ "$(basename "$(readlink "$n/device/driver")")" = "$1" ] && { basename "$n"; return 0; }
    done
    return 1
}
carrier_is() { [ "$(cat "/sys/class/net/$1/carrier" 2>/dev/null)" = "$2" ]; }

# tcp_send NET SIZE_KIB LABEL (A): sends /tmp/payload to B:5001, waits for B's
# "sha256 bytes" on :5002; prints NTB-SUM lines; sets SEND_CS (duration, cs)
# tcp_recv NET (B): the other end
mkdir -p /tmp/ntb
cat >/tmp/ntb/recv-file <<'EOF'
#!/bin/sh
cat >/tmp/ntb/received
EOF
cat >/tmp/ntb/recv-sum <<'EOF'
#!/bin/sh
cat >/tmp/ntb/peer-sum
EOF
chmod 755 /tmp/ntb/recv-file /tmp/ntb/recv-sum
SEND_CS=0
tcp_send() {
    local net="$1" sumpid sent bytes t0 t1 ok
    rm -f /tmp/ntb/peer-sum
    # (busybox nc -e: the listener's stdin/stdout are the connection, so EOF
    # from the sender ends it; a plain 'nc -l' would half-close at once)
    timeout 300 nc -l -p 5002 -e /tmp/ntb/recv-sum &
    sumpid=$!
    set -- $(sha256sum /tmp/ntb/payload)
    sent="$1"
    bytes=$(wc -c </tmp/ntb/payload)
    echo "NTB-SUM sent $sent $bytes"
    t0=$(now_cs)
    ok=0
    while [ $(( $(now_cs) - t0 )) -lt 12000 ]; do
        t1=$(now_cs)
        if nc "$net.$PEER" 5001 </tmp/ntb/payload 2>/tmp/ntb/nc.err; then ok=1; break; fi
        sleep 0.5
    done
    SEND_CS=$(( $(now_cs) - t1 ))
    [ $ok = 1 ] || { info "nc to $net.$PEER:5001: $(cat /tmp/ntb/nc.err)"; kill $sumpid 2>/dev/null; return 1; }
    wait $sumpid
    [ -s /tmp/ntb/peer-sum ] || { info "no checksum came back from B"; return 1; }
    set -- $(cat /tmp/ntb/peer-sum)
    [ "$1" = "$sent" ] && [ "$2" = "$bytes" ] ||
        { info "B received $2 bytes, sha256 $1 (sent $bytes, $sent)"; return 1; }
    return 0
}
tcp_recv() {
    local net="$1" bytes i
    rm -f /tmp/ntb/received
    timeout 300 nc -l -p 5001 -e /tmp/ntb/recv-file || { info "receiving on :5001 failed or timed out"; return 1; }
    set -- $(sha256sum /tmp/ntb/received)
    bytes=$(wc -c </tmp/ntb/received)
    echo "NTB-SUM recv $1 $bytes"
    i=0
    until echo "$1 $bytes" | nc "$net.$PEER" 5002 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 120 ] || { info "could not send the checksum to A"; return 1; }
        sleep 0.5
    done
    return 0
}

# ping_rtt NET COUNT LABEL: prints NTB-FIGURE LABEL rtt-ms MEDIAN; 1 if no reply
ping_rtt() {
    local n med
    ping -c "$2" "$1.$PEER" >/tmp/ntb/ping.out 2>&1
    sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' /tmp/ntb/ping.out | sort -n >/tmp/ntb/rtt
    n=$(wc -l </tmp/ntb/rtt)
    [ "$n" -gt 0 ] || { tail -n 3 /tmp/ntb/ping.out | sed 's/^/NTB-INFO ping: /'; return 1; }
    med=$(sed -n "$(( (n + 1) / 2 ))p" /tmp/ntb/rtt)
    echo "NTB-FIGURE $3 rtt-ms $med"
    info "$3 ping: $n/$2 replies, $(tail -n 1 /tmp/ntb/ping.out)"
    return 0
}

# up_link DRIVER NET LABEL: interface of DRIVER up with NET.ME/24, carrier
# awaited; sets IFACE
IFACE=""
up_link() {
    local t0
    IFACE=$(iface_of "$1") || { check "$3-iface" fail "no interface of $1: $(ls /sys/class/net | tr '\n' ' ')"; return 1; }
    ip addr add "$2.$ME/24" dev "$IFACE" && ip link set "$IFACE" up ||
        { check "$3-iface" fail "ip on $IFACE"; return 1; }
    check "$3-iface" ok "$IFACE ($1, $(cat "/sys/class/net/$IFACE/address"), mtu $(cat "/sys/class/net/$IFACE/mtu")) as $2.$ME"
    t0=$(now_cs)
    # the peer may boot minutes later on a loaded machine
    if wait_for 600 carrier_is "$IFACE" 1; then
        check "$3-link-up" ok "carrier after $(( ($(now_cs) - t0) / 100 )) s"
    else
        check "$3-link-up" fail "no carrier on $IFACE in 600 s"
        return 1
    fi
    # first reply (ARP, the peer's address may come later than its carrier)
    wait_for 120 ping -c 1 -W 1 "$2.$PEER" >/dev/null ||
        { check "$3-ping" fail "no reply from $2.$PEER in 120 s"; return 1; }
    return 0
}

make_payload() { # KiB
    dd if=/dev/urandom of=/tmp/ntb/payload bs=1024 count="$1" 2>/dev/null
}

# transfer NET LABEL: A sends, B receives; a check line each
transfer() {
    if [ "$SIDE" = A ]; then
        if tcp_send "$1"; then
            check "$2-file" ok "$(wc -c </tmp/ntb/payload) bytes A -> B, sha256 matches, $(( SEND_CS * 10 )) ms"
        else
            check "$2-file" fail "see NTB-INFO"
            return 1
        fi
    else
        tcp_recv "$1" && check "$2-file-recv" ok "$(wc -c </tmp/ntb/received) bytes" ||
            { check "$2-file-recv" fail "see NTB-INFO"; return 1; }
    fi
}

# --- net: ntb_transport + ntb_netdev ---------------------------------------------------
load_netdev() {
    modprobe ntb_transport || { check ntb-netdev fail "modprobe ntb_transport"; return 1; }
    # ntb_netdev registers its client with the transport ntb_transport made for
    # the NTB device just bound: -ENODEV when there is none
    modprobe ntb_netdev || { check ntb-netdev fail "modprobe ntb_netdev (no ntb_transport queue?)"; return 1; }
    check ntb-netdev ok "ntb_transport queues: $(ls /sys/bus/ntb_transport/devices | tr '\n' ' ')"
}
NTB_IFACE=""
unload_netdev() {
    [ -n "$NTB_IFACE" ] && ip link set "$NTB_IFACE" down 2>/dev/null
    rmmod ntb_netdev && rmmod ntb_transport ||
        check ntb-netdev-unload fail "rmmod ntb_netdev ntb_transport: $(lsmod | grep ntb | tr '\n' ';')"
}

net() {
    load_netdev || return 1
    up_link ntb_netdev 10.16.0 ntb || return 1
    NTB_IFACE=$IFACE
    if [ "$SIDE" = A ]; then
        ping_rtt 10.16.0 5 ntb && check ntb-ping ok "A pinged B over ntb_netdev" ||
            check ntb-ping fail "no reply"
        make_payload "$FILE_KIB"
    fi
    transfer 10.16.0 ntb
    net_teardown
}
# B unloads once it has sent its last checksum: ntb_transport's link down
# reaches A through the device (the carrier goes), then A unloads too. The
# next phase's client finds both sides' scratchpads quiet.
net_teardown() {
    local ifc="$NTB_IFACE"
    if [ "$SIDE" = B ]; then
        unload_netdev
    else
        if wait_for 120 carrier_is "$ifc" 0; then
            check ntb-link-down ok "B's ntb_transport went away: carrier lost"
        else
            check ntb-link-down fail "carrier still up 120 s after B's checksum"
        fi
        unload_netdev
    fi
}

# --- tool: ntb_tool from debugfs -----------------------------------------------------------
T=""
# spad_is FILE VALUE: scratchpad FILE reads VALUE. A read that fails or is
# not a number is "not yet": busybox sh exits (status 2) on an arithmetic
# syntax error, even in a condition.
spad_is() {
    local v
    v=$(cat "$T/$1" 2>/dev/null) || return 1
    case "$v" in
        0x*) case "${v#0x}" in ''|*[!0-9a-fA-F]*) return 1 ;; esac ;;
        0) ;;
        *) case "$v" in ''|0*|*[!0-9]*) return 1 ;; esac ;;
    esac
    [ $((v)) -eq $(( $2 )) ]
}
pattern() { # SEED: 16 KiB of deterministic text (both sides make the same)
    awk -v s="$1" 'BEGIN { for (i = 0; i < 700; i++) printf "%s %09d vpcie-ntb mw\n", s, i }' | head -c 16384
}
mw_sum() { dd if="$1" bs=4096 count=4 2>/dev/null | sha256sum | cut -d' ' -f1; }
mw_put() { pattern "$1" >/tmp/ntb/pattern && dd if=/tmp/ntb/pattern of="$2" bs=16384 count=1 conv=notrunc 2>/dev/null; }
mw_diff() { # SEED FILE: where FILE differs from the pattern (offsets from 1, octal bytes)
    pattern "$1" >/tmp/ntb/want
    dd if="$2" of=/tmp/ntb/got bs=16384 count=1 2>/dev/null
    info "$(cmp -l /tmp/ntb/want /tmp/ntb/got 2>&1 | wc -l) bytes differ, the first: $(cmp -l /tmp/ntb/want /tmp/ntb/got 2>&1 | head -n 12 | tr '\n' ';')"
    info "at the first difference: $(cmp /tmp/ntb/want /tmp/ntb/got 2>&1)"
}
tok() { printf '0x5a5a%04x' "$1"; } # scratchpad tokens

# mw_round N IN OUT: side IN sets up its inbound window 0 and writes pattern,
# side OUT maps its outbound window, reads (check), writes back (check on IN).
# Tokens through scratchpads 2 and 3 order it.
mw_round() {
    local n=$1 in=$2 want_in want_out got
    want_in=$(pattern "in$n" | sha256sum | cut -d' ' -f1)
    want_out=$(pattern "out$n" | sha256sum | cut -d' ' -f1)
    if [ "$SIDE" = "$in" ]; then
        echo 16384 >"$T/peer0/mw_trans0" || { check "mw$n-write-$3" fail "mw_trans0"; return 1; }
        info "side $SIDE inbound window: $(tr '\n\t' '; ' <"$T/peer0/mw_trans0")"
        mw_put "in$n" "$T/peer0/mw0"
        echo "$(tok $((n * 16 + 1)))" >"$T/peer0/spad2"
        wait_for 120 spad_is spad3 "$(tok $((n * 16 + 2)))" ||
            { check "mw$n-write-$3" fail "no token from the peer (spad3 $(cat "$T/spad3"))"; return 1; }
        got=$(mw_sum "$T/peer0/mw0")
        [ "$got" = "$want_out" ] && check "mw$n-write-$3" ok "the peer's stores through its window are in this side's buffer" ||
            { check "mw$n-write-$3" fail "buffer sha256 $got, want $want_out"; mw_diff "out$n" "$T/peer0/mw0"; }
    else
        wait_for 120 spad_is spad2 "$(tok $((n * 16 + 1)))" ||
            { check "mw$n-read-$3" fail "no token from the peer (spad2 $(cat "$T/spad2"))"; return 1; }
        echo "0:16384" >"$T/peer0/peer_mw_trans0" || { check "mw$n-read-$3" fail "peer_mw_trans0"; return 1; }
        info "side $SIDE outbound window: $(tr '\n\t' '; ' <"$T/peer0/peer_mw_trans0")"
        got=$(mw_sum "$T/peer0/peer_mw0")
        [ "$got" = "$want_in" ] && check "mw$n-read-$3" ok "reads through the window see the peer's buffer" ||
            { check "mw$n-read-$3" fail "window sha256 $got, want $want_in"; mw_diff "in$n" "$T/peer0/peer_mw0"; }
        mw_put "out$n" "$T/peer0/peer_mw0"
        echo "$(tok $((n * 16 + 2)))" >"$T/peer0/spad3"
    fi
}
# ntb_tool of Linux 6.1 removes its debugfs directory before the windows' files
# on unload (tool_remove): a window still set up then is a NULL dereference in
# rmmod. Windows are freed first, whatever happened.
free_windows() {
    echo 0 >"$T/peer0/mw_trans0" 2>/dev/null
    echo "0:0" >"$T/peer0/peer_mw_trans0" 2>/dev/null
}

tool() {
    modprobe ntb_tool || { check tool-load fail "modprobe ntb_tool"; return 1; }
    T="/sys/kernel/debug/ntb_tool/$NTB_DEV"
    [ -d "$T" ] || { check tool-load fail "no $T"; return 1; }
    check tool-load ok "$(ls "$T" | tr '\n' ' ')"
    info "db_valid_mask $(cat "$T/db_valid_mask"), port $(cat "$T/port"), peer0: $(ls "$T/peer0" | tr '\n' ' ')"
    # doorbell bits the transport left behind
    echo "c $(cat "$T/db_valid_mask")" >"$T/db"
    echo Y >"$T/link"
    if timeout 300 sh -c "echo Y >'$T/peer0/link_event'"; then
        check tool-link ok "both sides enabled the link"
    else
        check tool-link fail "no link in 300 s (peer0/link $(cat "$T/peer0/link"))"
        return 1
    fi
    # scratchpads: A -> B (B's spad0), then B -> A (A's spad1)
    if [ "$SIDE" = A ]; then
        echo "$(tok 0xa0b)" >"$T/peer0/spad0"
        spad_is peer0/spad0 "$(tok 0xa0b)" ||
            info "peer0/spad0 reads $(cat "$T/peer0/spad0") after writing $(tok 0xa0b)"
        wait_for 120 spad_is spad1 "$(tok 0xb0a)" && check spad-b-to-a ok "spad1 = $(cat "$T/spad1")" ||
            { check spad-b-to-a fail "spad1 = $(cat "$T/spad1")"; return 1; }
        # doorbells: ring B's bit 0, wait for bit 1 from B
        echo "s 0x1" >"$T/peer_db" || check db-a-to-b fail "writing peer_db"
        if timeout 120 sh -c "echo 0x2 >'$T/db_event'"; then
            check db-b-to-a ok "db = $(cat "$T/db")"
        else
            check db-b-to-a fail "db = $(cat "$T/db") after 120 s"
        fi
        echo "c 0x2" >"$T/db"
    else
        wait_for 300 spad_is spad0 "$(tok 0xa0b)" && check spad-a-to-b ok "spad0 = $(cat "$T/spad0")" ||
            { check spad-a-to-b fail "spad0 = $(cat "$T/spad0")"; return 1; }
        echo "$(tok 0xb0a)" >"$T/peer0/spad1"
        if timeout 120 sh -c "echo 0x1 >'$T/db_event'"; then
            check db-a-to-b ok "db = $(cat "$T/db")"
        else
            check db-a-to-b fail "db = $(cat "$T/db") after 120 s"
        fi
        echo "c 0x1" >"$T/db"
        echo "s 0x2" >"$T/peer_db" || check db-b-to-a fail "writing peer_db"
    fi
    # memory window 0: B's buffer seen from A, then A's from B
    mw_round 1 B a-to-b
    free_windows
    mw_round 2 A b-to-a
    free_windows
    # done: A's token in B's spad0, B's answer in A's spad0
    if [ "$SIDE" = A ]; then
        echo "$(tok 0xff)" >"$T/peer0/spad0"
        wait_for 120 spad_is spad0 "$(tok 0xfe)" || check tool-done fail "no final token from B"
    else
        wait_for 120 spad_is spad0 "$(tok 0xff)" || check tool-done fail "no final token from A"
        echo "$(tok 0xfe)" >"$T/peer0/spad0"
    fi
    echo N >"$T/link"
    rmmod ntb_tool || check tool-unload fail "rmmod ntb_tool"
}

# --- perf: ntb_perf ------------------------------------------------------------------------
# tool_barrier: both sides meet under ntb_tool (link up awaited, a token each
# way through scratchpad 0, link down) before the next client loads. Without
# it a side still unloading ntb_transport keeps the link up for the other's
# fresh ntb_perf, whose scratchpad commands then meet the transport's.
tool_barrier() {
    modprobe ntb_tool || { check barrier fail "modprobe ntb_tool"; return 1; }
    T="/sys/kernel/debug/ntb_tool/$NTB_DEV"
    echo Y >"$T/link"
    timeout 300 sh -c "echo Y >'$T/peer0/link_event'" || { check barrier fail "no link in 300 s"; return 1; }
    if [ "$SIDE" = A ]; then
        echo "$(tok 0xb1)" >"$T/peer0/spad0"
        wait_for 120 spad_is spad0 "$(tok 0xb2)" || { check barrier fail "no token from B"; return 1; }
    else
        wait_for 120 spad_is spad0 "$(tok 0xb1)" || { check barrier fail "no token from A"; return 1; }
        echo "$(tok 0xb2)" >"$T/peer0/spad0"
    fi
    echo N >"$T/link"
    rmmod ntb_tool
}

perf() {
    local P t0 mbs r
    tool_barrier || return 1
    # max_mw_size: ntb_perf copies whole chunks (512 KiB) and wraps only once
    # past the end, so a window that is not a multiple of the chunk (window 1
    # is 1 MiB - 4 KiB: BAR2 starts with the doorbells) would be overrun
    modprobe ntb_perf total_order="$PERF_ORDER" max_mw_size=524288 || { check perf-load fail "modprobe ntb_perf"; return 1; }
    P="/sys/kernel/debug/ntb_perf/$NTB_DEV"
    [ -d "$P" ] || { check perf-load fail "no $P"; return 1; }
    if [ "$SIDE" = A ]; then
        # -ENOLINK until the peer's ntb_perf has sent its buffer over
        r=1
        while [ $r -le "$PERF_ROUNDS" ]; do
            t0=$(now_cs)
            # (the write returns when the copy is done: bounded too)
            until timeout 300 sh -c "echo 0 >'$P/run'" 2>/tmp/ntb/perf.err; do
                [ $(( $(now_cs) - t0 )) -lt 30000 ] || break
                sleep 1
            done
            if [ -s /tmp/ntb/perf.err ] && ! grep -q copied "$P/run" 2>/dev/null; then
                check perf-run fail "$(cat /tmp/ntb/perf.err); info: $(tr '\n\t' '; ' <"$P/info")"
                break
            fi
            sed 's/^/NTB-INFO perf: /' "$P/run"
            # (its MBytes/s is bytes per microsecond rounded down: below 1 it says 0)
            mbs=$(awk '$1 == "0:" && $2 == "copied" { if ($6 > 0) printf "%.3f", $3 / $6 }' "$P/run")
            if [ -n "$mbs" ]; then
                echo "NTB-FIGURE ntb perf-mbps $mbs"
                check perf-run ok "$(grep '^0:' "$P/run")"
            else
                check perf-run fail "no figure: $(tr '\n' ';' <"$P/run")"
                break
            fi
            r=$((r + 1))
        done
        echo "NTB-INFO perf info: $(tr '\n\t' '; ' <"$P/info")"
        rmmod ntb_perf
    else
        # stay until A's ntb_perf is gone (A unloads it after its run)
        # (A may load its ntb_perf minutes later under TCG; and the link
        # must stay down for 10 s: leaving on a transient "down" unloads
        # B's buffer under A's running copy, which then never completes)
        wait_for 600 grep -q 'Link status: up' "$P/info" || info "perf: no link up in 600 s"
        end=$(( $(now_cs) + 90000 )) down=0
        while [ "$(now_cs)" -lt "$end" ]; do
            if grep -q 'Link status: down' "$P/info" 2>/dev/null; then
                down=$((down + 1))
                [ $down -ge 50 ] && break
            else
                down=0
            fi
            sleep 0.2
        done
        [ $down -ge 50 ] || info "perf: link still up"
        rmmod ntb_perf
    fi
}

# --- bench and vnet -------------------------------------------------------------------------
bench_link() { # NET LABEL: one round of ping RTT (A) and TCP throughput
    if [ "$SIDE" = A ]; then
        ping_rtt "$1" 10 "$2" || check "$2-bench-ping" fail "no reply"
        if tcp_send "$1"; then
            # MB/s (10^6), as ntb_perf reports
            echo "NTB-FIGURE $2 tcp-mbps $(awk -v b="$(wc -c </tmp/ntb/payload)" -v cs="$SEND_CS" 'BEGIN { printf "%.2f", cs ? b / (cs * 10000) : 0 }')"
            info "$2 tcp: $(wc -c </tmp/ntb/payload) bytes in $(( SEND_CS * 10 )) ms"
        else
            check "$2-bench-tcp" fail "see NTB-INFO"
        fi
    else
        tcp_recv "$1" || check "$2-bench-tcp-recv" fail "see NTB-INFO"
    fi
}
load_vnet() {
    modprobe virtio_pci && modprobe virtio_net || { check vnet-load fail "modprobe virtio_net"; return 1; }
    up_link virtio_net 10.17.0 vnet
}

bench() {
    local r
    load_netdev || return 1
    up_link ntb_netdev 10.16.0 ntb || return 1
    NTB_IFACE=$IFACE
    load_vnet || return 1
    [ "$SIDE" = A ] && make_payload "$FILE_KIB"
    r=1
    while [ $r -le "$ROUNDS" ]; do
        info "round $r/$ROUNDS"
        bench_link 10.16.0 ntb
        bench_link 10.17.0 vnet
        r=$((r + 1))
    done
    net_teardown
}
vnet() {
    local r
    load_vnet || return 1
    [ "$SIDE" = A ] && make_payload "$FILE_KIB"
    r=1
    while [ $r -le "$ROUNDS" ]; do
        bench_link 10.17.0 vnet
        r=$((r + 1))
    done
}

# --- main ----------------------------------------------------------------------------------
if has vnet; then vnet; fi
if has probe || has net || has tool || has perf || has bench; then
    if probe; then
        if has net; then net; fi
        if has tool; then tool; fi
        if has bench; then bench; fi
        if has perf; then perf; fi
    fi
fi
dmesg | grep -E '[Nn][Tt][Bb]|BUG:|WARNING:|Oops' | tail -n 30 | sed 's/^/NTB-INFO dmesg: /'
exit $FAILED
