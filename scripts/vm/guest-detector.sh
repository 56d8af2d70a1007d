#!/bin/sh
# Guest side of scripts/vm/test-detector.sh (busybox sh): vpcie-detector
# with drivers/linux/vpcie-detector, which scripts/vm/run --module built and
# insmod'ed before this runs, and the backend /opt/vdet-stream.
#
#   guest-detector.sh FRAMES FRAME_SIZE CHANNELS
#
#   probe            /dev/vdet0.C for every channel, bound to vpcie_detector
#   abi              /opt/vdet-abi-test: the edges of the user ABI
#   stream           FRAMES frames on channel 0: 0 lost, 0 corrupted
#   irq-msix         its interrupts arrived by MSI-X on the channel's vector
#   stream-sg        frames 4x the DMA segment size (4 descriptors a frame)
#   stream-noirq     no interrupts at all (moderation off both ways): blocking
#                    reads still get every frame (the driver looks by itself)
#   stream-starved   paced far faster than the guest can take, 2 buffers: the
#                    device drops; the backend sees the gaps as lost frames,
#                    every one a drop the device counted, nothing corrupted
#   stream-channels  every channel at once, FRAMES/2 each, one backend each
#   unbind-streaming the driver unbound under a running stream: the backend
#                    ends with "device gone", nothing lost or corrupted before
#   rebind-stream    bound again: a stream passes
#   rmmod-busy       rmmod refused while a stream holds the device open
#   rmmod-streaming  the backend killed mid-stream (SIGKILL), rmmod right away
#   reload-stream    insmod with other module parameters: a stream passes
#   driver-log       no warning, oops or "still running" from the kernel
#   rmmod            the final unload
# Prints "DET-RESULT <name> OK|FAIL" and "DET-INFO ..." lines.
frames=$1 fsize=$2 nch=$3
R() { echo "DET-RESULT $1 $2"; }
I() { echo "DET-INFO $*"; }
dmesg -n 1
KO=/lib/modules/$(uname -r)/user/vpcie_detector.ko
DRV=/sys/bus/pci/drivers/vpcie_detector
S=/opt/vdet-stream

wait_dev() { # PATH: wait up to 10 s for a device node
    n=0
    while [ ! -c "$1" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    [ -c "$1" ]
}
# field NAME FILE: a field of the VDET-SUMMARY line in FILE
field() { sed -n 's/^VDET-SUMMARY //p' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# stream NAME OUT ARGS...: run the backend, show its summary; status = its exit status
stream() {
    name=$1 out=$2
    shift 2
    timeout 300 "$S" "$@" >"$out" 2>"$out.err"
    st=$?
    sed 's/^/DET-INFO '"$name"': /' "$out.err" "$out" | grep -v '^DET-INFO [^:]*: VDET-SUMMARY'
    I "$name: $(grep '^VDET-SUMMARY' "$out") (exit $st)"
    return $st
}
# irqs NAME: interrupt count of /proc/interrupts line NAME if its vector is
# an MSI-X one of the device (sysfs msi_irqs), else "none"
irqs() {
    l=$(grep " $1\$" /proc/interrupts | tr -s ' ')
    irq=$(echo "$l" | cut -d: -f1 | tr -d ' ')
    [ -n "$irq" ] && [ "$(cat "/sys/bus/pci/devices/$B/msi_irqs/$irq" 2>/dev/null)" = msix ] ||
        { echo none; return; }
    echo "$l" | cut -d: -f2 | awk '{ s = 0; for (i = 1; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }'
}
# started PID OUT: wait (up to 60 s) until backend PID reports frames on stderr
started() {
    n=0
    while kill -0 "$1" 2>/dev/null && [ $n -lt 600 ]; do
        grep -qE ': [1-9][0-9]* frames \(' "$2.err" 2>/dev/null && return 0
        sleep 0.1; n=$((n + 1))
    done
    return 1
}
bdf() { for d in "$DRV"/0000:*; do [ -e "$d" ] && basename "$d"; done | head -n 1; }

# --- probe --------------------------------------------------------------------
ok=OK
c=0
while [ $c -lt "$nch" ]; do
    wait_dev /dev/vdet0.$c || { I "no /dev/vdet0.$c"; ok=FAIL; }
    c=$((c + 1))
done
B=$(bdf)
I "device ${B:-none}: $(dmesg | grep -a 'vdet0:' | tail -n 1)"
[ -n "$B" ] || ok=FAIL
R probe $ok
if [ $ok = FAIL ]; then
    dmesg | grep -aiE 'vpcie_detector|vdet|vfio' | tail -n 10 | sed 's/^/DET-INFO dmesg: /'
    exit 1
fi

timeout 120 /opt/vdet-abi-test /dev/vdet0.0 >/tmp/abi 2>&1 && R abi OK || R abi FAIL
sed 's/^/DET-INFO abi: /' /tmp/abi

# --- streams ------------------------------------------------------------------
before=$(irqs vdet0.0)
stream stream /tmp/s1 -d /dev/vdet0.0 -n "$frames" --frame-size "$fsize" --bufs 64 --progress 10 &&
    [ "$(field result /tmp/s1)" = OK ] && R stream OK || R stream FAIL
after=$(irqs vdet0.0)
I "MSI-X interrupts of vdet0.0: $before -> $after; $(grep ' vdet0.0$' /proc/interrupts | tr -s ' ')"
[ "$before" != none ] && [ "$after" != none ] && [ "$after" -gt "$before" ] &&
    R irq-msix OK || R irq-msix FAIL

sg=$((4 * 4096))
stream stream-sg /tmp/s2 -d /dev/vdet0.0 -n $((frames / 5)) --frame-size $sg --seg-size 4096 --bufs 32 &&
    [ "$(field result /tmp/s2)" = OK ] && grep -q '4 descriptor(s) each' /tmp/s2.err &&
    R stream-sg OK || R stream-sg FAIL

stream stream-noirq /tmp/s5 -d /dev/vdet0.0 -n 500 --frame-size "$fsize" --irq-frames 0 --irq-usec 0 \
    --blocking && [ "$(field result /tmp/s5)" = OK ] && [ "$(field dev_irqs /tmp/s5)" = 0 ] &&
    R stream-noirq OK || R stream-noirq FAIL

# 100,000 frames/s demanded, an interrupt per frame, 2 buffers: drops are
# certain under TCG; exit 1 (frames lost) is the expected outcome here
stream stream-starved /tmp/s6 -d /dev/vdet0.0 -n 0 -t 3 --frame-size "$fsize" --bufs 2 \
    --period-ns 10000 --irq-frames 1
st=$?
lost=$(field lost /tmp/s6) dropped=$(field dev_dropped /tmp/s6)
[ $st = 1 ] && [ "${lost:-0}" -gt 0 ] && [ "${dropped:-0}" -ge "$lost" ] &&
    [ "$(field corrupted /tmp/s6)" = 0 ] && [ "$(field reordered /tmp/s6)" = 0 ] &&
    [ "$(field frames /tmp/s6)" -gt 0 ] && R stream-starved OK || R stream-starved FAIL

if [ "$nch" -gt 1 ]; then
    pids="" c=0
    while [ $c -lt "$nch" ]; do
        stream "stream-ch$c" /tmp/c$c -d /dev/vdet0.$c -n $((frames / 2)) --frame-size "$fsize" &
        pids="$pids $!"
        c=$((c + 1))
    done
    ok=OK
    for p in $pids; do wait "$p" || ok=FAIL; done
    c=0
    while [ $c -lt "$nch" ]; do
        [ "$(field result /tmp/c$c)" = OK ] || ok=FAIL
        n=$(irqs vdet0.$c)
        I "MSI-X interrupts of vdet0.$c: $n"
        { [ "$n" != none ] && [ "$n" -gt 0 ]; } || ok=FAIL
        c=$((c + 1))
    done
    R stream-channels $ok
fi

# --- unbind under a stream ----------------------------------------------------
"$S" -d /dev/vdet0.0 -n 0 --frame-size "$fsize" --progress 0.5 >/tmp/u 2>/tmp/u.err &
pid=$!
ok=OK
started $pid /tmp/u || { I "unbind: the stream did not start"; ok=FAIL; }
echo "$B" >"$DRV/unbind" || ok=FAIL
wait $pid
st=$?
sed 's/^/DET-INFO unbind: /' /tmp/u.err | tail -n 3
I "unbind: $(grep '^VDET-SUMMARY' /tmp/u) (exit $st)"
# exit 3 = the device went away; what arrived before was complete and intact
[ $st = 3 ] && [ "$(field end /tmp/u)" = gone ] && [ "$(field lost /tmp/u)" = 0 ] &&
    [ "$(field corrupted /tmp/u)" = 0 ] && [ "$(field frames /tmp/u)" -gt 0 ] || ok=FAIL
[ ! -e /dev/vdet0.0 ] || { I "unbind: /dev/vdet0.0 still there"; ok=FAIL; }
R unbind-streaming $ok

echo "$B" >"$DRV/bind" && wait_dev /dev/vdet0.0 &&
    stream rebind /tmp/s3 -d /dev/vdet0.0 -n $((frames / 5)) --frame-size "$fsize" &&
    [ "$(field result /tmp/s3)" = OK ] && R rebind-stream OK || R rebind-stream FAIL

# --- module unload under a stream ---------------------------------------------
"$S" -d /dev/vdet0.0 -n 0 --frame-size "$fsize" --progress 0.5 >/tmp/k 2>/tmp/k.err &
pid=$!
if started $pid /tmp/k; then
    # the open file holds the module: rmmod must refuse, the stream go on
    rmmod vpcie_detector 2>/tmp/rm.err && R rmmod-busy FAIL || R rmmod-busy OK
    I "rmmod while open: $(cat /tmp/rm.err)"
    kill -KILL $pid
    wait $pid
    rmmod vpcie_detector && R rmmod-streaming OK || R rmmod-streaming FAIL
else
    I "rmmod: the stream did not start"
    kill -KILL $pid
    R rmmod-busy FAIL
    R rmmod-streaming FAIL
fi
[ -e "$DRV" ] && I "driver still registered after rmmod"
insmod "$KO" frame_size=$((fsize * 2)) nbufs=128 irq_frames=4 irq_usec=500 && wait_dev /dev/vdet0.0 &&
    stream reload /tmp/s4 -d /dev/vdet0.0 -n "$frames" &&
    [ "$(field result /tmp/s4)" = OK ] && grep -q "128 buffers of $((fsize * 2)) bytes" /tmp/s4.err &&
    R reload-stream OK || R reload-stream FAIL

# kernel splats, and the driver's own complaints
# (an unsigned out-of-tree module taints the kernel: not a complaint)
errs=$(dmesg | grep -aE 'BUG:|WARNING:|Oops|RIP:|general protection|refcount_t|list_del corruption|still running|cannot allocate|vpcie_detector.*(error|fail)' |
    grep -av 'module verification failed' | head -n 8)
dmesg | grep -aE 'vdet[0-9]' | tail -n 6 | sed 's/^/DET-INFO dmesg: /'
if [ -n "$errs" ]; then
    echo "$errs" | sed 's/^/DET-INFO dmesg: /'
    R driver-log FAIL
else
    R driver-log OK
fi
rmmod vpcie_detector && R rmmod OK || R rmmod FAIL
exit 0
