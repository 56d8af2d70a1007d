#!/bin/bash
# Provision everything needed to boot a Debian guest in upstream QEMU with
# vpcie devices attached through vfio-user-pci. See docs/vm.md.
#
# Everything lands in a cache directory outside the source tree; the system's
# packages and apt configuration are never touched.
set -euo pipefail

readonly EXIT_SKIP=77 # could not download something: CI reports "skipped"
SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Bump when the cache layout or the set of steps changes: a cache provisioned
# by an older script then runs the missing steps instead of the fast path.
readonly LAYOUT=2 # 2: the NTB modules (steps ntb-source, ntb-build)

usage() {
    cat <<'EOF'
Usage: scripts/vm/provision.sh [--cache DIR] [--refresh] [--quiet] [--print-env]

Fetches (from the Debian mirror the system's apt sources name) and prepares:
  - qemu-system-x86 (>= 10.1, from trixie-backports) and its libraries,
    unpacked into DIR/qemu and wrapped by DIR/bin/qemu-system-x86_64
  - the Debian 12 guest kernel (ABI resolved from linux-image-amd64),
    its headers and kbuild, and busybox-static
  - pci_endpoint_test.ko built out of tree from linux-source-6.1, and a
    static pcitest plus pcitest.sh from the same source
  - the NTB stack from the same source, built out of tree although Debian's
    config leaves CONFIG_NTB off: ntb.ko, ntb_hw_epf.ko, ntb_transport.ko,
    ntb_netdev.ko, ntb_tool.ko, ntb_perf.ko, ntb_pingpong.ko (in the guest
    module tree under extra/ntb/, so modprobe loads them with their dependencies)

Options:
  --cache DIR   cache directory (default: $VPCIE_VM_CACHE or ~/.cache/vpcie-vm)
  --refresh     forget what was provisioned and do it again (new kernel ABI, new QEMU)
  --quiet       no summary at the end (progress lines still appear while
                downloading or building; a warm run prints nothing)
  --print-env   print the DIR/vm.env file (shell variables naming the artefacts)
  -h, --help    this text

Environment:
  VPCIE_VM_CACHE            default cache directory
  VPCIE_VM_MIRROR           Debian archive URI to use instead of the one read
                            from /etc/apt/sources.list(.d)
  VPCIE_VM_SECURITY_MIRROR  Debian security archive URI (same idea)

When everything is present already, nothing is downloaded or built and the
script finishes in well under a second, offline.

Exit status: 0 ready; 77 something could not be downloaded (reason on
stderr, one line starting "provision: skipped:"); 1 any other failure.
EOF
}

CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
REFRESH=0
QUIET=0
PRINT_ENV=0
while [ $# -gt 0 ]; do
    case "$1" in
        --cache) CACHE="${2:?--cache needs a directory}"; shift 2 ;;
        --cache=*) CACHE="${1#--cache=}"; shift ;;
        --refresh) REFRESH=1; shift ;;
        --quiet|-q) QUIET=1; shift ;;
        --print-env) PRINT_ENV=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "provision: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { echo "provision: $*" >&2; }
die() { echo "provision: error: $*" >&2; exit 1; }
skip() { echo "provision: skipped: $*" >&2; exit "$EXIT_SKIP"; }

mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"
STAMPS="$CACHE/stamps"
ENV_FILE="$CACHE/vm.env"

# One provisioner at a time per cache.
exec 9>"$CACHE/.lock"
flock 9

if [ "$REFRESH" = 1 ]; then
    log "refresh: forgetting previous provisioning"
    rm -rf "$STAMPS" "$ENV_FILE"
fi
mkdir -p "$STAMPS"

stamp_ok() { [ -f "$STAMPS/$1" ]; }
stamp_set() { printf '%s\n' "${2:-done}" >"$STAMPS/$1"; }
stamp_get() { cat "$STAMPS/$1"; }

# ---------------------------------------------------------------------------
# Fast path: all done -> print and leave (no network, no apt).
# ---------------------------------------------------------------------------
print_summary() {
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    if [ "$PRINT_ENV" = 1 ]; then
        cat "$ENV_FILE"
        return
    fi
    [ "$QUIET" = 1 ] && return
    cat <<EOF
vpcie VM cache:      $CACHE
QEMU:                $VPCIE_VM_QEMU ($VPCIE_VM_QEMU_VERSION)
guest kernel:        $VPCIE_VM_KERNEL (ABI $VPCIE_VM_ABI)
guest modules:       $VPCIE_VM_MODULES
pci_endpoint_test:   $VPCIE_VM_EPTEST_KO
NTB modules:         $VPCIE_VM_NTB_KO_DIR
pcitest:             $VPCIE_VM_PCITEST
pcitest.sh:          $VPCIE_VM_PCITEST_SH
busybox:             $VPCIE_VM_BUSYBOX
variables:           $ENV_FILE
EOF
}

if stamp_ok all && [ "$(stamp_get all)" = "layout $LAYOUT" ] && [ -f "$ENV_FILE" ]; then
    print_summary
    exit 0
fi

# ---------------------------------------------------------------------------
# Host prerequisites (part of every Debian 12 build machine of this project).
# ---------------------------------------------------------------------------
for tool in apt-get apt-cache dpkg-deb tar xz gcc make objcopy flock; do
    command -v "$tool" >/dev/null 2>&1 || die "required host tool '$tool' not found"
done
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$KEYRING" ] || die "$KEYRING missing (package debian-archive-keyring)"

# ---------------------------------------------------------------------------
# Mirror discovery: read the Debian archive URIs from the system's sources.
# Prints "URI SUITE" for every enabled 'deb' entry (one-line and deb822).
# ---------------------------------------------------------------------------
system_sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -e 's/#.*//' "$f" | awk '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if (i + 1 <= NF) print $i, $(i + 1)
            }'
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush(   nu, ns, u, s, U, S) {
                if (types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no") {
                    nu = split(uris, U, /[ \t]+/); ns = split(suites, S, /[ \t]+/)
                    for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++)
                        if (U[u] != "" && S[s] != "") print U[u], S[s]
                }
                types = ""; uris = ""; suites = ""; enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                key = tolower($1); sub(/:$/, "", key)
                val = $0; sub(/^[^:]*:[ \t]*/, "", val)
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "enabled") enabled = val
            }
            END { flush() }' "$f"
    done
}

CODENAME="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
[ -n "$CODENAME" ] || die "cannot read VERSION_CODENAME from /etc/os-release"

discover_mirrors() {
    local pairs
    pairs="$(system_sources | sed -e 's#/*[[:space:]]# #')"
    MIRROR="${VPCIE_VM_MIRROR:-$(awk -v c="$CODENAME" '$2 == c { print $1; exit }' <<<"$pairs")}"
    SECURITY_MIRROR="${VPCIE_VM_SECURITY_MIRROR:-$(awk -v c="$CODENAME-security" '$2 == c { print $1; exit }' <<<"$pairs")}"
    UPDATES_MIRROR="$(awk -v c="$CODENAME-updates" '$2 == c { print $1; exit }' <<<"$pairs")"
    [ -n "$MIRROR" ] || die "no '$CODENAME' entry in /etc/apt/sources.list(.d); set VPCIE_VM_MIRROR"
    MIRROR="${MIRROR%/}"
}

# ---------------------------------------------------------------------------
# Private apt configurations: one for the host release (guest kernel,
# busybox), one for trixie + trixie-backports (QEMU). Own lists, cache and an
# empty dpkg status, so dependency resolution fetches the whole closure and
# the system's apt state is neither read nor written.
# ---------------------------------------------------------------------------
APT_ROOT="$CACHE/apt"

apt_setup() { # NAME
    local d="$APT_ROOT/$1"
    mkdir -p "$d/etc/sources.list.d" "$d/etc/preferences.d" "$d/lists/partial" \
        "$d/archives/partial" "$d/cache"
    [ -f "$d/status" ] || : >"$d/status"
}

apt_opts() { # NAME -> prints options one per line
    local d="$APT_ROOT/$1"
    printf '%s\n' \
        -o "Dir::State=$d" \
        -o "Dir::State::Lists=$d/lists" \
        -o "Dir::State::status=$d/status" \
        -o "Dir::Cache=$d/cache" \
        -o "Dir::Cache::Archives=$d/archives" \
        -o "Dir::Cache::pkgcache=" \
        -o "Dir::Cache::srcpkgcache=" \
        -o "Dir::Etc::SourceList=$d/etc/sources.list" \
        -o "Dir::Etc::SourceParts=$d/etc/sources.list.d" \
        -o "Dir::Etc::Preferences=$d/etc/preferences" \
        -o "Dir::Etc::PreferencesParts=$d/etc/preferences.d" \
        -o "APT::Architecture=amd64" \
        -o "APT::Architectures::=amd64" \
        -o "APT::Get::AllowUnauthenticated=false" \
        -o "Acquire::Languages=none" \
        -o "Debug::NoLocking=false" \
        -o "Acquire::Retries=3"
}

APT_UPDATED=""
apt_update() { # NAME
    case " $APT_UPDATED " in *" $1 "*) return 0 ;; esac
    local -a o
    mapfile -t o < <(apt_opts "$1")
    log "apt: updating private package lists ($1)"
    if ! apt-get "${o[@]}" -q update >"$APT_ROOT/$1/update.log" 2>&1; then
        tail -n 5 "$APT_ROOT/$1/update.log" >&2
        skip "cannot fetch Debian package lists ($1) from $(sed -n 's/^deb \[[^]]*\] \([^ ]*\) \([^ ]*\).*/\1 \2/p' "$APT_ROOT/$1/etc/sources.list" | head -n 1)"
    fi
    # apt-get update exits 0 even when some index could not be fetched.
    if grep -qE '^(W|E): (Failed to fetch|Some index files failed)' "$APT_ROOT/$1/update.log"; then
        grep -E '^(W|E):' "$APT_ROOT/$1/update.log" | head -n 3 >&2
        skip "cannot fetch Debian package lists ($1)"
    fi
    APT_UPDATED="$APT_UPDATED $1"
}

apt_run() { # NAME apt-get|apt-cache ARGS...
    local name="$1" cmd="$2"; shift 2
    local -a o
    mapfile -t o < <(apt_opts "$name")
    "$cmd" "${o[@]}" "$@"
}

setup_sources() {
    discover_mirrors
    local kr="signed-by=$KEYRING"
    apt_setup host
    {
        echo "deb [$kr] $MIRROR $CODENAME main"
        [ -z "$UPDATES_MIRROR" ] || echo "deb [$kr] ${UPDATES_MIRROR%/} $CODENAME-updates main"
        [ -z "$SECURITY_MIRROR" ] || echo "deb [$kr] ${SECURITY_MIRROR%/} $CODENAME-security main"
    } >"$APT_ROOT/host/etc/sources.list"
    apt_setup trixie
    {
        echo "deb [$kr] $MIRROR trixie main"
        echo "deb [$kr] $MIRROR trixie-backports main"
    } >"$APT_ROOT/trixie/etc/sources.list"
}

# ---------------------------------------------------------------------------
# Step 1: QEMU from trixie-backports.
# ---------------------------------------------------------------------------
QEMU_ROOT="$CACHE/qemu"
QEMU_WRAPPER="$CACHE/bin/qemu-system-x86_64"

write_qemu_wrapper() {
    mkdir -p "$CACHE/bin"
    cat >"$QEMU_WRAPPER.tmp" <<EOF
#!/bin/sh
# Generated by scripts/vm/provision.sh: QEMU from Debian trixie-backports,
# run with its own dynamic loader and libraries (they need a newer glibc
# than the host has).
P='$QEMU_ROOT'
exec "\$P/usr/lib64/ld-linux-x86-64.so.2" --library-path "\$P/usr/lib/x86_64-linux-gnu" \\
    "\$P/usr/bin/qemu-system-x86_64" -L "\$P/usr/share/qemu" -L "\$P/usr/share/seabios" "\$@"
EOF
    chmod +x "$QEMU_WRAPPER.tmp"
    mv "$QEMU_WRAPPER.tmp" "$QEMU_WRAPPER"
}

step_qemu() {
    stamp_ok qemu && return 0
    apt_update trixie
    local arch="$APT_ROOT/trixie/archives"
    log "qemu: downloading qemu-system-x86 and dependencies from trixie-backports"
    if ! apt_run trixie apt-get -q -y --download-only --no-install-recommends \
        -o APT::Default-Release=trixie-backports install qemu-system-x86 \
        >"$APT_ROOT/trixie/download.log" 2>&1; then
        tail -n 5 "$APT_ROOT/trixie/download.log" >&2
        if grep -q 'Unable to locate\|has no installation candidate\|unmet dependencies' "$APT_ROOT/trixie/download.log"; then
            die "qemu-system-x86 cannot be resolved from trixie-backports"
        fi
        skip "cannot download qemu-system-x86 from trixie-backports"
    fi
    log "qemu: unpacking into $QEMU_ROOT"
    rm -rf "$QEMU_ROOT.tmp"
    mkdir -p "$QEMU_ROOT.tmp"
    local deb
    for deb in "$arch"/*.deb; do
        dpkg-deb -x "$deb" "$QEMU_ROOT.tmp"
    done
    rm -rf "$QEMU_ROOT"
    mv "$QEMU_ROOT.tmp" "$QEMU_ROOT"
    write_qemu_wrapper
    local ver
    ver="$("$QEMU_WRAPPER" --version | head -n 1)" || die "fetched QEMU does not run"
    # vfio-user-pci appeared in QEMU 10.1.
    "$QEMU_WRAPPER" -device vfio-user-pci,help >/dev/null 2>&1 ||
        die "fetched QEMU ($ver) has no vfio-user-pci device"
    # The .debs are not needed any more once unpacked.
    rm -f "$arch"/*.deb
    stamp_set qemu "$ver"
}

# ---------------------------------------------------------------------------
# Step 2: guest kernel, headers, kbuild, source, busybox (host release).
# ---------------------------------------------------------------------------
DEBS="$CACHE/debs"
KROOT="$CACHE/kernel"

resolve_abi() {
    stamp_ok abi && return 0
    apt_update host
    local dep
    dep="$(apt_run host apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1)"
    [ -n "$dep" ] || die "cannot resolve the kernel package linux-image-amd64 depends on"
    local abi="${dep#linux-image-}"
    abi="${abi%-amd64}"
    local ver
    ver="$(apt_run host apt-cache show --no-all-versions "$dep" | sed -n 's/^Version: //p' | head -n 1)"
    [ -n "$ver" ] || die "no version for $dep"
    stamp_set abi "$abi $ver"
}

fetch_debs() { # PKG=VER...
    mkdir -p "$DEBS"
    local spec pkg ver missing=()
    for spec in "$@"; do
        pkg="${spec%%=*}"; ver="${spec#*=}"
        [ -n "$(deb_of "$pkg")" ] && continue
        missing+=("$pkg=$ver")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    apt_update host
    log "download: ${missing[*]}"
    if ! (cd "$DEBS" && apt_run host apt-get -q download "${missing[@]}") >"$DEBS/download.log" 2>&1; then
        tail -n 5 "$DEBS/download.log" >&2
        skip "cannot download ${missing[*]}"
    fi
}

deb_of() { # PKG -> path of its downloaded .deb, or nothing
    local f
    for f in "$DEBS/${1}_"*.deb; do
        [ -f "$f" ] && { echo "$f"; return 0; }
    done
    return 0
}

step_kernel() {
    resolve_abi
    read -r ABI KVER < <(stamp_get abi)
    KSERIES="${KVER%%.*}.$(echo "$KVER" | cut -d. -f2)" # 6.1
    stamp_ok kernel && return 0
    # The source and kbuild packages come from the same source version.
    fetch_debs "linux-image-$ABI-amd64=$KVER" \
        "linux-headers-$ABI-amd64=$KVER" "linux-headers-$ABI-common=$KVER" \
        "linux-kbuild-$KSERIES=$KVER"
    log "kernel: unpacking $ABI into $KROOT"
    rm -rf "$KROOT"
    mkdir -p "$KROOT"
    local p
    for p in "linux-image-$ABI-amd64" "linux-headers-$ABI-amd64" \
        "linux-headers-$ABI-common" "linux-kbuild-$KSERIES"; do
        dpkg-deb -x "$(deb_of "$p")" "$KROOT"
    done
    [ -f "$KROOT/boot/vmlinuz-$ABI-amd64" ] || die "kernel image missing in linux-image-$ABI-amd64"
    # The amd64 headers refer to the common headers and kbuild by absolute
    # /usr/src and /usr/lib paths: point them at the unpacked copies.
    local hdr="$KROOT/usr/src/linux-headers-$ABI-amd64"
    local f
    grep -rlI --exclude-dir=include -e "/usr/src/linux-headers-$ABI-common" -e "/usr/lib/linux-kbuild-$KSERIES" \
        "$hdr" 2>/dev/null | while read -r f; do
        sed -i -e "s#\([^A-Za-z0-9_.-]\|^\)/usr/src/linux-headers-$ABI-common#\1$KROOT/usr/src/linux-headers-$ABI-common#g" \
            -e "s#\([^A-Za-z0-9_.-]\|^\)/usr/lib/linux-kbuild-$KSERIES#\1$KROOT/usr/lib/linux-kbuild-$KSERIES#g" "$f"
    done
    # Symlinks (scripts, tools) pointing at absolute kbuild/common paths.
    find "$KROOT/usr/src" -type l | while read -r f; do
        local t
        t="$(readlink "$f")"
        case "$t" in
            /usr/src/*|/usr/lib/linux-kbuild-*) ln -sfn "$KROOT$t" "$f" ;;
        esac
    done
    # Unpacked now; the .debs can be fetched again if ever needed.
    for p in "linux-image-$ABI-amd64" "linux-headers-$ABI-amd64" \
        "linux-headers-$ABI-common" "linux-kbuild-$KSERIES"; do
        rm -f "$(deb_of "$p")"
    done
    stamp_set kernel "$ABI"
}

# ---------------------------------------------------------------------------
# Step 3: pci_endpoint_test.c and tools/pci from linux-source, streamed out of
# the .deb without unpacking the whole 140 MB tarball.
# ---------------------------------------------------------------------------
SRC="$CACHE/src"

step_source() {
    stamp_ok source && return 0
    local deb
    deb="$(deb_of "linux-source-$KSERIES")"
    [ -n "$deb" ] || fetch_debs "linux-source-$KSERIES=$KVER"
    deb="$(deb_of "linux-source-$KSERIES")"
    log "source: extracting pci_endpoint_test.c and tools/pci from $(basename "$deb")"
    rm -rf "$SRC"
    mkdir -p "$SRC"
    dpkg-deb --fsys-tarfile "$deb" |
        tar -xO "./usr/src/linux-source-$KSERIES.tar.xz" |
        tar -xJ -C "$SRC" --strip-components=1 \
            "linux-source-$KSERIES/drivers/misc/pci_endpoint_test.c" \
            "linux-source-$KSERIES/tools/pci" \
            "linux-source-$KSERIES/include/uapi/linux/pcitest.h"
    [ -f "$SRC/drivers/misc/pci_endpoint_test.c" ] || die "pci_endpoint_test.c not in linux-source-$KSERIES"
    stamp_set source "$KVER" # (the .deb goes once step_ntb_source has what it needs too)
}

# The NTB stack (issue 16), from the same source: caches provisioned before
# it existed download linux-source once more.
NTB_SOURCES=(drivers/ntb/core.c drivers/ntb/ntb_transport.c drivers/ntb/hw/epf/ntb_hw_epf.c
             drivers/ntb/test/ntb_tool.c drivers/ntb/test/ntb_perf.c
             drivers/ntb/test/ntb_pingpong.c drivers/net/ntb_netdev.c)

step_ntb_source() {
    stamp_ok ntb-source && return 0
    local deb f paths=()
    deb="$(deb_of "linux-source-$KSERIES")"
    [ -n "$deb" ] || fetch_debs "linux-source-$KSERIES=$KVER"
    deb="$(deb_of "linux-source-$KSERIES")"
    log "source: extracting the NTB drivers from $(basename "$deb")"
    for f in "${NTB_SOURCES[@]}"; do paths+=("linux-source-$KSERIES/$f"); done
    mkdir -p "$SRC"
    dpkg-deb --fsys-tarfile "$deb" |
        tar -xO "./usr/src/linux-source-$KSERIES.tar.xz" |
        tar -xJ -C "$SRC" --strip-components=1 "${paths[@]}"
    for f in "${NTB_SOURCES[@]}"; do
        [ -f "$SRC/$f" ] || die "$f not in linux-source-$KSERIES"
    done
    stamp_set ntb-source "$KVER"
}

# ---------------------------------------------------------------------------
# Step 4: build pci_endpoint_test.ko (unmodified source, out of tree) and a
# static pcitest.
# ---------------------------------------------------------------------------
OUT="$CACHE/out"

step_build() {
    stamp_ok build && return 0
    local b="$CACHE/build/pci_endpoint_test"
    mkdir -p "$OUT"
    # scripts/vm/kmod.sh: the same out-of-tree build users get for their own
    # modules (make -C headers M=..., vermagic checked), into $OUT.
    log "build: pci_endpoint_test.ko against linux-headers-$ABI-amd64"
    "$SELF_DIR/kmod.sh" --quiet --headers "$KROOT/usr/src/linux-headers-$ABI-amd64" \
        --abi "$ABI-amd64" --build-dir "$b" -o "$OUT" \
        "$SRC/drivers/misc/pci_endpoint_test.c" >/dev/null ||
        die "building pci_endpoint_test.ko failed (log: $b/build.log)"

    log "build: static pcitest"
    # pcitest.c includes <linux/pcitest.h>; use the one from the same source.
    mkdir -p "$b/include/linux"
    cp "$SRC/include/uapi/linux/pcitest.h" "$b/include/linux/pcitest.h"
    if ! gcc -static -O2 -I"$b/include" -o "$OUT/pcitest" "$SRC/tools/pci/pcitest.c" >"$b/pcitest.log" 2>&1; then
        cat "$b/pcitest.log" >&2
        die "building static pcitest failed"
    fi
    cp "$SRC/tools/pci/pcitest.sh" "$OUT/pcitest.sh"
    chmod +x "$OUT/pcitest.sh"
    stamp_set build "$ABI"
}

# The NTB modules: one flat Kbuild directory that names the objects itself
# (the CONFIG_NTB* symbols the upstream Makefiles test are off in Debian's
# config). CONFIG_NTB_MSI stays undefined: core.c and <linux/ntb.h> then agree
# on the ntb_dev layout without msi.c, and ntb_transport uses doorbells.
NTB_MODULES="ntb ntb_hw_epf ntb_transport ntb_netdev ntb_tool ntb_perf ntb_pingpong"

step_ntb_build() {
    stamp_ok ntb-build && return 0
    local s="$CACHE/build/ntb-src" b="$CACHE/build/ntb" f
    rm -rf "$s"
    mkdir -p "$s" "$OUT/ntb"
    for f in "${NTB_SOURCES[@]}"; do cp "$SRC/$f" "$s/"; done
    cat >"$s/Kbuild" <<'KBUILD'
# Generated by scripts/vm/provision.sh: drivers/ntb and drivers/net/ntb_netdev.c
# of linux-source, as modules whatever the kernel config says about CONFIG_NTB.
obj-m += ntb.o ntb_hw_epf.o ntb_transport.o ntb_netdev.o ntb_tool.o ntb_perf.o ntb_pingpong.o
ntb-y := core.o
KBUILD
    log "build: NTB modules ($NTB_MODULES) against linux-headers-$ABI-amd64"
    rm -f "$OUT/ntb/"*.ko
    "$SELF_DIR/kmod.sh" --quiet --headers "$KROOT/usr/src/linux-headers-$ABI-amd64" \
        --abi "$ABI-amd64" --build-dir "$b" -o "$OUT/ntb" "$s" >/dev/null ||
        die "building the NTB modules failed (log: $b/build.log)"
    for f in $NTB_MODULES; do
        [ -f "$OUT/ntb/$f.ko" ] || die "the NTB build made no $f.ko (log: $b/build.log)"
        # debug info is 80% of each file and every guest initramfs packs them
        objcopy --strip-debug "$OUT/ntb/$f.ko"
    done
    stamp_set ntb-build "$ABI"
}

# ---------------------------------------------------------------------------
# Step 5: busybox-static.
# ---------------------------------------------------------------------------
step_busybox() {
    stamp_ok busybox && return 0
    local ver
    apt_update host
    ver="$(apt_run host apt-cache show --no-all-versions busybox-static | sed -n 's/^Version: //p' | head -n 1)"
    [ -n "$ver" ] || die "busybox-static not found"
    fetch_debs "busybox-static=$ver"
    rm -rf "$CACHE/busybox"
    dpkg-deb -x "$(deb_of busybox-static)" "$CACHE/busybox"
    mkdir -p "$OUT"
    cp "$CACHE/busybox/bin/busybox" "$OUT/busybox"
    # (captured first: under pipefail, grep -q leaving early would SIGPIPE
    # busybox and fail the check at random)
    help="$("$OUT/busybox" cpio --help 2>&1 || true)"
    case "$help" in *"(-o)"*) ;; *) die "busybox has no cpio -o" ;; esac
    stamp_set busybox "$ver"
}

# ---------------------------------------------------------------------------
# Step 6: put pci_endpoint_test.ko into the unpacked module tree and build
# modules.dep there (Debian generates it at install time; busybox depmod does
# the same job here, offline).
# ---------------------------------------------------------------------------
step_depmod() {
    stamp_ok depmod && return 0
    local md="$KROOT/lib/modules/$ABI-amd64"
    mkdir -p "$md/extra"
    cp "$OUT/pci_endpoint_test.ko" "$md/extra/pci_endpoint_test.ko"
    log "depmod: $md"
    "$OUT/busybox" depmod -b "$KROOT" "$ABI-amd64" || die "depmod failed"
    grep -q '^extra/pci_endpoint_test.ko:' "$md/modules.dep" || die "depmod did not index pci_endpoint_test.ko"
    stamp_set depmod "$ABI"
}

# The NTB modules join the tree the same way (a step of its own: caches made
# before them have the depmod stamp already).
step_ntb_depmod() {
    stamp_ok ntb-depmod && return 0
    local md="$KROOT/lib/modules/$ABI-amd64" m
    rm -rf "$md/extra/ntb"
    mkdir -p "$md/extra/ntb"
    cp "$OUT/ntb/"*.ko "$md/extra/ntb/"
    log "depmod: $md (NTB modules)"
    "$OUT/busybox" depmod -b "$KROOT" "$ABI-amd64" || die "depmod failed"
    for m in $NTB_MODULES; do
        grep -q "^extra/ntb/$m.ko:" "$md/modules.dep" || die "depmod did not index $m.ko"
    done
    # ntb_netdev needs ntb_transport needs ntb: modprobe has to know
    grep -q '^extra/ntb/ntb_netdev.ko:.*extra/ntb/ntb_transport.ko.*extra/ntb/ntb.ko' "$md/modules.dep" ||
        die "modules.dep lacks ntb_netdev's dependencies: $(grep '^extra/ntb/ntb_netdev.ko:' "$md/modules.dep")"
    stamp_set ntb-depmod "$ABI"
}

# ---------------------------------------------------------------------------
main() {
    local t0=$SECONDS
    setup_sources
    step_qemu
    step_kernel
    step_source
    step_ntb_source
    rm -f "$DEBS/linux-source-"*.deb # 140 MB; everything needed from it is extracted now
    step_build
    step_ntb_build
    step_busybox
    step_depmod
    step_ntb_depmod
    write_qemu_wrapper
    local kv
    kv="$(stamp_get qemu)"
    cat >"$ENV_FILE.tmp" <<EOF
# Generated by scripts/vm/provision.sh; sourced by scripts/vm/run.
VPCIE_VM_CACHE='$CACHE'
VPCIE_VM_ABI='$ABI-amd64'
VPCIE_VM_KERNEL_VERSION='$KVER'
VPCIE_VM_KERNEL='$KROOT/boot/vmlinuz-$ABI-amd64'
VPCIE_VM_MODULES='$KROOT/lib/modules/$ABI-amd64'
VPCIE_VM_HEADERS='$KROOT/usr/src/linux-headers-$ABI-amd64'
VPCIE_VM_EPTEST_KO='$OUT/pci_endpoint_test.ko'
VPCIE_VM_NTB_KO_DIR='$OUT/ntb'
VPCIE_VM_NTB_MODULES='$NTB_MODULES'
VPCIE_VM_PCITEST='$OUT/pcitest'
VPCIE_VM_PCITEST_SH='$OUT/pcitest.sh'
VPCIE_VM_BUSYBOX='$OUT/busybox'
VPCIE_VM_QEMU='$QEMU_WRAPPER'
VPCIE_VM_QEMU_VERSION='$kv'
EOF
    mv "$ENV_FILE.tmp" "$ENV_FILE"
    stamp_set all "layout $LAYOUT"
    log "done in $((SECONDS - t0)) s"
    print_summary
}

main
