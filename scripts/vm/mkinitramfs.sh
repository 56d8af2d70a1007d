#!/bin/bash
# Build the guest initramfs (cpio.gz): busybox userland, a few kernel modules,
# pci_endpoint_test.ko, pcitest, pcitest.sh and an /init that runs one guest
# command between marker lines on the console, then powers off.
# See docs/vm.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/vm/mkinitramfs.sh -o OUT.cpio.gz [options]

Options:
  -o, --output FILE     where to write the gzip-compressed cpio archive (required)
  --cache DIR           provisioning cache (default: $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --cmd STRING          guest command, run by /bin/sh -c (stored as /vpcie/cmd)
  --cmd-file FILE       guest command script, copied to /vpcie/cmd
                        (without --cmd/--cmd-file, /init starts an interactive shell)
  --file HOST:GUEST     copy HOST (file or directory) to GUEST path (repeatable)
  --load MODULE         modprobe MODULE at boot, before the command (repeatable);
                        the module and its dependencies are packed in
  --add-module MODULE   pack MODULE and its dependencies without loading it (repeatable)
  --insmod FILE.ko      pack a module built out of tree for the guest kernel
                        (scripts/vm/kmod.sh) as /lib/modules/$(uname -r)/user/NAME.ko
                        and insmod it at boot, after the --load modules, before
                        the command (repeatable, loaded in order)

Always packed: /bin/busybox (+ applet links, devmem among them), /usr/bin/pcitest,
/usr/bin/pcitest.sh, /usr/bin/vpcie-lspci, /usr/bin/vpcie-pcicfg, /usr/bin/vpcie-mmio
(scripts/vm/guest-mmio.c, built static once per cache), and the modules pci_endpoint_test,
virtio_pci, virtio_blk, virtio_net, nvme with their dependencies under
/lib/modules/$(uname -r) (modules.dep included: use modprobe NAME in the guest;
pci_endpoint_test.ko is at /lib/modules/$(uname -r)/extra/pci_endpoint_test.ko).

Console protocol of /init:
  VPCIE-GUEST-BEGIN            printed right before the command starts
  VPCIE-GUEST-EXIT <status>    printed when it ends, then the guest powers off
  VPCIE-GUEST-MODPROBE-FAILED <module>   a --load module failed to load
  VPCIE-GUEST-INSMOD-FAILED <file.ko>    an --insmod module failed to load
The kernel command line may carry vpcie.shell=1 to get a shell instead of
running the command (only useful with an interactive console).
EOF
}

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
OUTPUT=""
CMD=""
CMD_FILE=""
HAVE_CMD=0
FILES=()
LOAD=()
INSMOD=()
ADD=(pci_endpoint_test virtio_pci virtio_blk virtio_net nvme)
while [ $# -gt 0 ]; do
    case "$1" in
        -o|--output) OUTPUT="${2:?}"; shift 2 ;;
        --cache) CACHE="${2:?}"; shift 2 ;;
        --cmd) CMD="${2?}"; HAVE_CMD=1; shift 2 ;;
        --cmd-file) CMD_FILE="${2:?}"; HAVE_CMD=1; shift 2 ;;
        --file) FILES+=("${2:?}"); shift 2 ;;
        --load) LOAD+=("${2:?}"); shift 2 ;;
        --add-module) ADD+=("${2:?}"); shift 2 ;;
        --insmod) INSMOD+=("${2:?}"); shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "mkinitramfs: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
die() { echo "mkinitramfs: error: $*" >&2; exit 1; }
[ -n "$OUTPUT" ] || die "-o OUT.cpio.gz is required"

ENV_FILE="$CACHE/vm.env"
[ -f "$ENV_FILE" ] || die "$CACHE is not provisioned (run scripts/vm/provision.sh)"
# shellcheck disable=SC1090
. "$ENV_FILE"

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/vpcie-initramfs.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT

# --- userland --------------------------------------------------------------
# busybox and its ~400 applet links are made once per cache (forking ln that
# often costs a second) and copied from there.
BASE="$CACHE/initramfs-base"
if [ ! -f "$BASE/.ok" ] || [ "$VPCIE_VM_BUSYBOX" -nt "$BASE/.ok" ]; then
    tmpbase="$(mktemp -d "$CACHE/.initramfs-base.XXXXXX")"
    mkdir -p "$tmpbase"/{bin,sbin,usr/bin,usr/sbin}
    cp "$VPCIE_VM_BUSYBOX" "$tmpbase/bin/busybox"
    "$VPCIE_VM_BUSYBOX" --list-full | while read -r applet; do
        [ -e "$tmpbase/$applet" ] || [ -L "$tmpbase/$applet" ] && continue
        mkdir -p "$tmpbase/${applet%/*}"
        ln -s /bin/busybox "$tmpbase/$applet"
    done
    [ -e "$tmpbase/bin/sh" ] || [ -L "$tmpbase/bin/sh" ] || ln -s busybox "$tmpbase/bin/sh"
    touch "$tmpbase/.ok"
    rm -rf "$BASE.old"
    if [ -d "$BASE" ]; then mv "$BASE" "$BASE.old" 2>/dev/null || true; fi
    mv -T "$tmpbase" "$BASE" 2>/dev/null || rm -rf "$tmpbase" # lost a race: fine
    rm -rf "$BASE.old"
fi
cp -a "$BASE/." "$STAGE/"
rm -f "$STAGE/.ok"
mkdir -p "$STAGE"/{etc,proc,sys,dev,tmp,run,root,mnt,vpcie}
cp "$VPCIE_VM_PCITEST" "$STAGE/usr/bin/pcitest"
cp "$VPCIE_VM_PCITEST_SH" "$STAGE/usr/bin/pcitest.sh"
chmod 755 "$STAGE/usr/bin/pcitest" "$STAGE/usr/bin/pcitest.sh"
echo 'root:x:0:0:root:/root:/bin/sh' >"$STAGE/etc/passwd"
echo 'root:x:0:' >"$STAGE/etc/group"
echo 'vpcie-guest' >"$STAGE/etc/hostname"

# busybox has no lspci: list PCI functions from sysfs.
cat >"$STAGE/usr/bin/vpcie-lspci" <<'EOF'
#!/bin/sh
# vpcie-lspci: list PCI functions from sysfs (BDF vendor:device class driver irq)
for d in /sys/bus/pci/devices/*; do
    [ -e "$d/vendor" ] || continue
    drv=-
    [ -L "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
    v=$(cat "$d/vendor"); p=$(cat "$d/device"); c=$(cat "$d/class")
    printf '%s %s:%s class %s driver %s irq %s\n' "$(basename "$d")" \
        "${v#0x}" "${p#0x}" "${c#0x}" "$drv" "$(cat "$d/irq")"
done
EOF
cat >"$STAGE/usr/bin/vpcie-pcicfg" <<'EOF'
#!/bin/sh
# vpcie-pcicfg BDF|VENDOR:DEVICE: hex dump of the config space and the BARs
# (resource lines: start end flags) of one PCI function.
want="$1"
[ -n "$want" ] || { echo "usage: vpcie-pcicfg 0000:00:03.0 | 104c:b500" >&2; exit 2; }
for d in /sys/bus/pci/devices/*; do
    b=$(basename "$d")
    id="$(cut -c3- "$d/vendor"):$(cut -c3- "$d/device")"
    if [ "$b" = "$want" ] || [ "${b#0000:}" = "$want" ] || [ "$id" = "$want" ]; then
        echo "$b ($id)"
        hexdump -C "$d/config"
        echo "resources:"
        cat "$d/resource"
        exit 0
    fi
done
echo "vpcie-pcicfg: no PCI function $want" >&2
exit 1
EOF
chmod 755 "$STAGE/usr/bin/vpcie-lspci" "$STAGE/usr/bin/vpcie-pcicfg"

# vpcie-mmio: 32-bit register access through sysfs resourceN (busybox devmem
# needs the physical address instead). Built static once per cache, again
# when its source changes.
MMIO="$CACHE/out/vpcie-mmio"
if [ ! -x "$MMIO" ] || [ "$SELF_DIR/guest-mmio.c" -nt "$MMIO" ]; then
    mkdir -p "$CACHE/out"
    gcc -static -O2 -Wall -o "$MMIO.$$" "$SELF_DIR/guest-mmio.c" ||
        { rm -f "$MMIO.$$"; die "building the static vpcie-mmio failed"; }
    mv -f "$MMIO.$$" "$MMIO"
fi
cp "$MMIO" "$STAGE/usr/bin/vpcie-mmio"

# --- kernel modules ----------------------------------------------------------
MODSRC="$VPCIE_VM_MODULES"
MODDST="$STAGE/lib/modules/$VPCIE_VM_ABI"
DEP="$MODSRC/modules.dep"
[ -f "$DEP" ] || die "$DEP missing (re-run scripts/vm/provision.sh --refresh)"
mkdir -p "$MODDST"

# "name" -> line of modules.dep (module names compare with - and _ equal)
modline() {
    local n="${1//-/_}"
    awk -v n="$n" -F: '{
        b = $1; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b); gsub(/-/, "_", b)
        if (b == n) { print; exit }
    }' "$DEP"
}

declare -A PACKED=()
for m in "${ADD[@]}" "${LOAD[@]}"; do
    line="$(modline "$m")"
    if [ -z "$line" ]; then
        if grep -qE "/${m//-/[-_]}\.ko" "$MODSRC/modules.builtin" 2>/dev/null; then
            continue # built into the kernel: nothing to pack
        fi
        die "no module '$m' in $MODSRC"
    fi
    for f in ${line/:/ }; do
        [ -n "${PACKED[$f]:-}" ] && continue
        PACKED[$f]=1
        mkdir -p "$MODDST/$(dirname "$f")"
        cp "$MODSRC/$f" "$MODDST/$f"
    done
done
# modules.dep restricted to what is packed; aliases and builtin list for modprobe.
awk -F: 'NR == FNR { keep[$0] = 1; next } ($1 in keep)' \
    <(printf '%s\n' "${!PACKED[@]}") "$DEP" >"$MODDST/modules.dep"
for f in modules.builtin modules.order; do
    [ -f "$MODSRC/$f" ] && cp "$MODSRC/$f" "$MODDST/$f"
done
if [ -f "$MODSRC/modules.alias" ]; then
    names="$(for f in "${!PACKED[@]}"; do b="${f##*/}"; b="${b%%.ko*}"; echo "${b//-/_}"; done)"
    awk 'NR == FNR { keep[$0] = 1; next } { m = $3; gsub(/-/, "_", m) } (m in keep)' \
        <(echo "$names") "$MODSRC/modules.alias" >"$MODDST/modules.alias"
fi
printf '%s\n' "${LOAD[@]+"${LOAD[@]}"}" | sed '/^$/d' >"$STAGE/vpcie/modules"

# Out-of-tree modules for insmod: /vpcie/insmod lists their guest paths in order.
: >"$STAGE/vpcie/insmod"
for ko in "${INSMOD[@]+"${INSMOD[@]}"}"; do
    [ -f "$ko" ] || die "--insmod: no file $ko"
    case "$ko" in *.ko) ;; *) die "--insmod wants a .ko file, got $ko" ;; esac
    guest="/lib/modules/$VPCIE_VM_ABI/user/$(basename "$ko")"
    [ ! -e "$STAGE$guest" ] || die "--insmod: two modules named $(basename "$ko")"
    mkdir -p "$STAGE$(dirname "$guest")"
    cp "$ko" "$STAGE$guest"
    echo "$guest" >>"$STAGE/vpcie/insmod"
done

# --- guest command and extra files -------------------------------------------
if [ -n "$CMD_FILE" ]; then
    cp "$CMD_FILE" "$STAGE/vpcie/cmd"
elif [ "$HAVE_CMD" = 1 ]; then
    printf '%s\n' "$CMD" >"$STAGE/vpcie/cmd"
fi
[ -f "$STAGE/vpcie/cmd" ] && chmod 755 "$STAGE/vpcie/cmd"

for spec in "${FILES[@]+"${FILES[@]}"}"; do
    host="${spec%%:*}"
    guest="${spec#*:}"
    if [ "$host" = "$spec" ] || [ -z "$guest" ]; then
        die "--file wants HOST:GUEST, got '$spec'"
    fi
    [ -e "$host" ] || die "--file: $host does not exist"
    case "$guest" in /*) ;; *) guest="/$guest" ;; esac
    case "$guest" in */) guest="$guest$(basename "$host")" ;; esac
    mkdir -p "$STAGE$(dirname "$guest")"
    cp -a "$host" "$STAGE$guest"
done

# --- /init ---------------------------------------------------------------------
cat >"$STAGE/init" <<'EOF'
#!/bin/sh
# vpcie guest init (generated by scripts/vm/mkinitramfs.sh)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
hostname -F /etc/hostname
ip link set lo up 2>/dev/null
echo /sbin/modprobe >/proc/sys/kernel/modprobe 2>/dev/null

while read -r m; do
    [ -n "$m" ] || continue
    modprobe "$m" || echo "VPCIE-GUEST-MODPROBE-FAILED $m"
done </vpcie/modules
while read -r m; do
    [ -n "$m" ] || continue
    insmod "$m" || echo "VPCIE-GUEST-INSMOD-FAILED $m"
done </vpcie/insmod

cd /root
if [ -f /vpcie/cmd ] && ! grep -qw 'vpcie.shell=1' /proc/cmdline; then
    echo
    echo "VPCIE-GUEST-BEGIN $(cut -d' ' -f1 /proc/uptime)"
    /bin/sh /vpcie/cmd </dev/null 2>&1
    status=$?
    echo
    echo "VPCIE-GUEST-EXIT $status"
else
    echo "vpcie guest: no command; starting a shell (exit to power off)"
    setsid cttyhack /bin/sh -l
fi
sync
poweroff -f
# not reached; keep PID 1 alive rather than panic
while :; do sleep 3600; done
EOF
chmod 755 "$STAGE/init"

# --- archive -------------------------------------------------------------------
mkdir -p "$(dirname "$OUTPUT")"
(
    cd "$STAGE"
    find . -mindepth 1 | sed 's#^\./##' | LC_ALL=C sort |
        "$VPCIE_VM_BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null
) | gzip -6 >"$OUTPUT.tmp"
mv "$OUTPUT.tmp" "$OUTPUT"
