#!/bin/bash
# Benchmark: vpcie-virtio-blk (vfio-user, another process) against QEMU's own
# in-process virtio-blk-pci, both in the same Linux guest, on the same kind of
# image (raw files of the same size, fully written, in the same directory).
#
# One boot (scripts/vm/run) with both disks attached; in the guest a small
# static program does O_DIRECT I/O on each disk in turn: sequential 1 MiB
# read and write, random 4 KiB read and write, each for --seconds, with
# --jobs synchronous threads (queue depth = jobs), in --rounds rounds that
# alternate which disk goes first. Prints the median IOPS and MB/s of each
# and the ratio vpcie/QEMU per test. Not a test: nothing is asserted.
#
# Both devices use split rings and one queue unless told otherwise (QEMU's
# virtio-blk defaults to split rings; --packed lets vpcie negotiate packed).
set -uo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SELF_DIR/.." && pwd)"

usage() {
    cat <<'EOF'
Usage: bench/virtio-blk-guest.sh [options]

  --build DIR      meson build directory (default ./build; use a release or
                   debugoptimized build, not a sanitizer one)
  --cache DIR      VM provisioning cache (default $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --seconds N      per test, disk and round (default 5)
  --rounds N       rounds of all tests; each figure is the median (default 3)
  --jobs N         synchronous I/O threads per test = queue depth (default 1)
  --size MB        image size (default 256)
  --smp N          guest vCPUs (default 1)
  --kvm            accel=kvm instead of TCG
  --packed         let vpcie-virtio-blk offer packed rings
  --dir DIR        where the two images go (default: a temporary directory in /tmp)
  --keep-logs DIR  keep console, QEMU and device logs in DIR
  -h, --help       this text
EOF
}

BUILD="build"
CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
SECONDS_PER=5
ROUNDS=3
JOBS=1
SIZE_MB=256
SMP=1
KVM=()
PACKED=0
IMGDIR=""
KEEP_LOGS=""
ARGS_ECHO="$*"
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD="${2:?}"; shift 2 ;;
        --cache) CACHE="${2:?}"; shift 2 ;;
        --seconds) SECONDS_PER="${2:?}"; shift 2 ;;
        --rounds) ROUNDS="${2:?}"; shift 2 ;;
        --jobs) JOBS="${2:?}"; shift 2 ;;
        --size) SIZE_MB="${2:?}"; shift 2 ;;
        --smp) SMP="${2:?}"; shift 2 ;;
        --kvm) KVM=(--kvm); shift ;;
        --packed) PACKED=1; shift ;;
        --dir) IMGDIR="${2:?}"; shift 2 ;;
        --keep-logs) KEEP_LOGS="${2:?}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "virtio-blk-guest: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
say() { echo "virtio-blk-guest: $*" >&2; }

BUILD="$(cd "$BUILD" && pwd)" || exit 1
DEV="$BUILD/devices/virtio-blk/vpcie-virtio-blk"
[ -x "$DEV" ] || { say "missing $DEV (build first)"; exit 1; }
command -v gcc >/dev/null || { say "gcc is needed for the guest I/O program"; exit 1; }
"$ROOT/scripts/vm/provision.sh" --cache "$CACHE" --quiet || { st=$?; say "provisioning failed ($st)"; exit "$st"; }

WORK="$(mktemp -d /tmp/vpcie-bvb.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
LOGS="${KEEP_LOGS:-$WORK/logs}"
mkdir -p "$LOGS"
[ -n "$IMGDIR" ] || IMGDIR="$WORK"
mkdir -p "$IMGDIR"
VIMG="$IMGDIR/vpcie.img"
QIMG="$IMGDIR/qemu.img"
for img in "$VIMG" "$QIMG"; do
    dd if=/dev/zero of="$img" bs=1M count="$SIZE_MB" status=none conv=fsync
done

# --- the guest's I/O program (static, built here) -------------------------------------
cat >"$WORK/vblk-io.c" <<'EOF'
/* vblk-io DEV MODE BS SECONDS JOBS: O_DIRECT synchronous I/O for SECONDS with
 * JOBS threads; MODE seqread|seqwrite|randread|randwrite. Prints one line:
 * BENCH-IO mode=.. bs=.. jobs=.. ios=.. secs=.. iops=.. mbps=.. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/fs.h>

static const char *dev, *mode;
static size_t bs;
static double secs;
static uint64_t span;

struct job { unsigned id; uint64_t ios; };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	struct job *j = arg;
	int wr = strstr(mode, "write") != NULL, rnd = strncmp(mode, "rand", 4) == 0;
	int fd = open(dev, (wr ? O_WRONLY : O_RDONLY) | O_DIRECT);
	uint64_t blocks = span / bs, pos = (blocks / 8) * j->id, x = 0x9e3779b97f4a7c15ull * (j->id + 1);
	void *buf;
	double end;

	if (fd < 0 || posix_memalign(&buf, 4096, bs)) {
		perror(dev);
		exit(1);
	}
	memset(buf, 0x5a + j->id, bs);
	end = now() + secs;
	while (now() < end) {
		for (int k = 0; k < 16; k++) {
			uint64_t b;
			ssize_t r;

			if (rnd) {
				x ^= x << 13; x ^= x >> 7; x ^= x << 17;
				b = x % blocks;
			} else {
				b = pos++ % blocks;
			}
			r = wr ? pwrite(fd, buf, bs, (off_t)(b * bs)) : pread(fd, buf, bs, (off_t)(b * bs));
			if (r != (ssize_t)bs) {
				perror("io");
				exit(1);
			}
			j->ios++;
		}
	}
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned jobs;
	struct job *js;
	pthread_t *t;
	uint64_t ios = 0, size = 0;
	double t0, el;
	int fd;

	if (argc != 6)
		return 2;
	dev = argv[1]; mode = argv[2]; bs = strtoul(argv[3], 0, 0);
	secs = atof(argv[4]); jobs = strtoul(argv[5], 0, 0);
	fd = open(dev, O_RDONLY);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0) {
		perror(dev);
		return 1;
	}
	close(fd);
	span = size;
	js = calloc(jobs, sizeof(*js));
	t = calloc(jobs, sizeof(*t));
	t0 = now();
	for (unsigned i = 0; i < jobs; i++) {
		js[i].id = i;
		pthread_create(&t[i], NULL, run, &js[i]);
	}
	for (unsigned i = 0; i < jobs; i++) {
		pthread_join(t[i], NULL);
		ios += js[i].ios;
	}
	el = now() - t0;
	printf("BENCH-IO mode=%s bs=%zu jobs=%u ios=%llu secs=%.3f iops=%.1f mbps=%.2f\n", mode, bs,
	       jobs, (unsigned long long)ios, el, ios / el, ios * (double)bs / el / 1e6);
	return 0;
}
EOF
gcc -static -O2 -pthread -o "$WORK/vblk-io" "$WORK/vblk-io.c" 2>"$WORK/gcc.log" ||
    { cat "$WORK/gcc.log" >&2; say "cannot build the guest I/O program"; exit 1; }

# --- the guest side ----------------------------------------------------------------------
cat >"$WORK/bench.sh" <<'EOF'
#!/bin/sh
# bench.sh SECONDS JOBS ROUNDS: both disks, tests interleaved, the first disk
# alternating between rounds.
secs=$1 jobs=$2 rounds=$3
dmesg -n 1
modprobe virtio_pci; modprobe virtio_blk
sleep 1
for b in /sys/block/vd*; do
    s=$(cat "$b/serial" 2>/dev/null)
    case "$s" in vpcie-bench) V=/dev/${b##*/} ;; qemu-bench) Q=/dev/${b##*/} ;; esac
done
echo "BENCH-INFO vpcie=${V:-none} qemu=${Q:-none} cpus=$(nproc)"
[ -n "${V:-}" ] && [ -n "${Q:-}" ] || exit 1
r=1
while [ $r -le "$rounds" ]; do
    order="vpcie qemu"
    [ $((r % 2)) = 0 ] && order="qemu vpcie"
    for t in "seqread 1048576" "seqwrite 1048576" "randread 4096" "randwrite 4096"; do
        set -- $t
        for d in $order; do
            [ $d = vpcie ] && dev=$V || dev=$Q
            echo "BENCH-DEV $d"
            /opt/vblk-io "$dev" "$1" "$2" "$secs" "$jobs" || exit 1
        done
    done
    r=$((r + 1))
done
echo "BENCH-INFO interrupts: $(grep virtio /proc/interrupts | awk '{printf "%s=%s ", $NF, $2}')"
EOF

VPCIE_ARGS="--serial vpcie-bench"
[ "$PACKED" = 1 ] || VPCIE_ARGS="$VPCIE_ARGS --no-packed"
timeout=$(( 8 * SECONDS_PER * ROUNDS * 2 + 240 ))
say "$( [ ${#KVM[@]} -gt 0 ] && echo KVM || echo TCG ), $SMP vCPU(s), ${SIZE_MB} MiB images in $IMGDIR, ${SECONDS_PER} s per test x $ROUNDS rounds, $JOBS job(s)"
st=0
"$ROOT/scripts/vm/run" --cache "$CACHE" --quiet --timeout "$timeout" --log-dir "$LOGS" --smp "$SMP" \
    "${KVM[@]}" --file "$WORK/vblk-io:/opt/" --file "$WORK/bench.sh:/opt/" \
    --device "$DEV --socket {sock} --image $VIMG $VPCIE_ARGS" \
    --qemu-arg -drive --qemu-arg "file=$QIMG,if=none,id=qd0,format=raw" \
    --qemu-arg -device --qemu-arg "virtio-blk-pci,drive=qd0,serial=qemu-bench" \
    -- "sh /opt/bench.sh $SECONDS_PER $JOBS $ROUNDS" >"$LOGS/run.out" 2>&1 || st=$?
if [ $st -ne 0 ]; then
    tail -n 20 "$LOGS/run.out" >&2
    say "guest run failed ($st); logs in $LOGS"
    [ -n "$KEEP_LOGS" ] || { cp -a "$LOGS" "$CACHE/logs/bench-virtio-blk-$(date +%Y%m%d-%H%M%S)"; }
    exit 1
fi

python3 - "$LOGS/console.log" "$ARGS_ECHO" <<'EOF'
import statistics, sys
dev, rows = None, {}
info = []
for line in open(sys.argv[1], errors="replace"):
    line = line.strip()
    if line.startswith("BENCH-INFO"):
        info.append(line[len("BENCH-INFO "):])
    elif line.startswith("BENCH-DEV "):
        dev = line.split()[1]
    elif line.startswith("BENCH-IO ") and dev:
        kv = dict(f.split("=", 1) for f in line.split()[1:])
        rows.setdefault(kv["mode"], {}).setdefault(dev, []).append(kv)
for i in info:
    print("# " + i)
print("# bench/virtio-blk-guest.sh " + sys.argv[2])
print(f"{'test':<22}{'vpcie IOPS':>12}{'vpcie MB/s':>12}{'QEMU IOPS':>12}{'QEMU MB/s':>12}{'vpcie/QEMU':>12}")
for mode, label in (("seqread", "seq read 1 MiB"), ("seqwrite", "seq write 1 MiB"),
                    ("randread", "rand read 4 KiB"), ("randwrite", "rand write 4 KiB")):
    r = rows.get(mode, {})
    if not r.get("vpcie") or not r.get("qemu"):
        print(f"{label:<22}  (missing)")
        continue
    med = lambda d, k: statistics.median(float(x[k]) for x in r[d])
    vi, vm, qi, qm = med("vpcie", "iops"), med("vpcie", "mbps"), med("qemu", "iops"), med("qemu", "mbps")
    ratio = vi / qi if qi else 0
    print(f"{label:<22}{vi:>12.0f}{vm:>12.1f}{qi:>12.0f}{qm:>12.1f}{ratio:>11.0%} ")
print("# each figure: median of %d round(s); per-round vpcie/QEMU IOPS: %s" % (
    len(next(iter(rows.values()))["vpcie"]) if rows else 0,
    "; ".join(m + " " + " ".join(f"{float(a['iops'])/float(b['iops']):.2f}"
                                  for a, b in zip(rows[m]["vpcie"], rows[m]["qemu"]))
              for m in rows)))
EOF
