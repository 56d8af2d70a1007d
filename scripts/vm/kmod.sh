#!/bin/bash
# Build an out-of-tree kernel module for the guest kernel, against the
# linux-headers + linux-kbuild that scripts/vm/provision.sh unpacked. The one
# module builder of the harness: provision.sh builds pci_endpoint_test.ko with
# it, scripts/vm/run --module builds yours. See --help and docs/vm.md.
set -euo pipefail

SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    cat <<'EOF'
Usage: scripts/vm/kmod.sh [options] SOURCE...

Builds kernel modules for the guest kernel of the VM cache with
make -C <guest headers> M=<copy of SOURCE> modules, checks that each module's
vermagic names the guest kernel, and prints the path of every .ko, one a line.

SOURCE is one of:
  NAME.c      a module of one source file: NAME.ko ('obj-m += NAME.o' is generated)
  DIR         a module directory with its own Kbuild or Makefile (obj-m ...),
              as for any out-of-tree module: every .ko it builds
  NAME.ko     a module built already: only its vermagic is checked, then copied
Sources are copied to a build directory first; nothing is written next to them.

Options:
  -o, --out DIR       where the .ko files go (default CACHE/kmod)
  --cache DIR         VM cache (default $VPCIE_VM_CACHE or ~/.cache/vpcie-vm);
                      scripts/vm/provision.sh runs first (no-op when provisioned)
  --headers DIR       kernel headers to build against instead of the cache's
  --abi RELEASE       the kernel release they are for (vermagic check; with --headers)
  --build-dir DIR     build in DIR (emptied first, kept) instead of a temporary directory
  -q, --quiet         no compiler warnings on stderr (the log is still shown on failure)
  -h, --help          this text

Example:
  scripts/vm/kmod.sh examples/driver/vpcie_minimal.c
  scripts/vm/run --module examples/driver/vpcie_minimal.c --device '...' -- '...'

Exit status: 0 built; 1 a build failed or a module is not for the guest kernel;
2 usage error; 77 the VM packages could not be fetched (provisioning skipped).
EOF
}

CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
OUT=""
HEADERS=""
ABI=""
BUILD_DIR=""
QUIET=0
SOURCES=()
need() { [ $# -ge 2 ] || { echo "kmod: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case "$1" in
        -o|--out) need "$@"; OUT="$2"; shift 2 ;;
        --cache) need "$@"; CACHE="$2"; shift 2 ;;
        --headers) need "$@"; HEADERS="$2"; shift 2 ;;
        --abi) need "$@"; ABI="$2"; shift 2 ;;
        --build-dir) need "$@"; BUILD_DIR="$2"; shift 2 ;;
        -q|--quiet) QUIET=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; SOURCES+=("$@"); break ;;
        -*) echo "kmod: unknown option: $1 (see --help)" >&2; exit 2 ;;
        *) SOURCES+=("$1"); shift ;;
    esac
done
[ ${#SOURCES[@]} -gt 0 ] || { echo "kmod: no module source (see --help)" >&2; exit 2; }
if [ -n "$HEADERS" ] && [ -z "$ABI" ]; then
    echo "kmod: --headers needs --abi RELEASE" >&2; exit 2
fi
if [ -n "$BUILD_DIR" ] && [ ${#SOURCES[@]} -gt 1 ]; then
    echo "kmod: --build-dir takes one SOURCE" >&2; exit 2
fi

say() { echo "kmod: $*" >&2; }
die() { say "error: $*"; exit 1; }

if [ -z "$HEADERS" ]; then
    rc=0
    "$SELF_DIR/provision.sh" --cache "$CACHE" --quiet || rc=$?
    [ $rc -eq 0 ] || exit $rc # 77: skipped, passed on
    CACHE="$(cd "$CACHE" && pwd)"
    # shellcheck disable=SC1091
    . "$CACHE/vm.env"
    HEADERS="$VPCIE_VM_HEADERS"
    ABI="$VPCIE_VM_ABI"
    [ -n "$OUT" ] || OUT="$CACHE/kmod"
fi
[ -n "$OUT" ] || die "-o DIR is needed with --headers"
[ -f "$HEADERS/Makefile" ] || die "no kernel headers in $HEADERS (scripts/vm/provision.sh --refresh)"
for tool in make objcopy; do
    command -v "$tool" >/dev/null || die "host tool '$tool' is needed"
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

TMP=""
trap '[ -z "$TMP" ] || rm -rf "$TMP"' EXIT

# check_vermagic KO: the module must be for the guest kernel
check_vermagic() {
    local vm
    vm="$(objcopy -O binary --only-section=.modinfo "$1" /dev/stdout 2>/dev/null |
        tr '\0' '\n' | sed -n 's/^vermagic=//p')"
    case "$vm" in
        "$ABI "*) ;;
        "") die "$1: not a kernel module (no vermagic)" ;;
        *) die "$1: vermagic '$vm' is not for the guest kernel $ABI" ;;
    esac
}

# build SOURCE DIR: kbuild SOURCE in DIR, print the .ko files it made
build() {
    local src="$1" b="$2" name from to
    rm -rf "$b"
    mkdir -p "$b"
    if [ -d "$src" ]; then
        [ -f "$src/Kbuild" ] || [ -f "$src/Makefile" ] ||
            die "$src: a module directory needs a Kbuild or Makefile (obj-m += NAME.o)"
        cp -aL "$src/." "$b/" # -L: a linked header (a shared register map) is copied
        find "$b" \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' \) -delete
        from="$b/" to="${src%/}/"
    else
        name="$(basename "$src" .c)"
        case "$name" in ''|*[!A-Za-z0-9_-]*) die "$src: module names are [A-Za-z0-9_-]" ;; esac
        cp "$src" "$b/$name.c"
        echo "obj-m += $name.o" >"$b/Kbuild"
        from="$b/$name.c" to="$src"
    fi
    # Compiler messages name the copy: show them with the path given to us.
    show() { sed "s#${from//#/\\#}#${to//#/\\#}#g" "$@" >&2; }
    if ! make -C "$HEADERS" M="$b" modules >"$b/build.log" 2>&1; then
        show "$b/build.log"
        die "building $src for $ABI failed (make -C $HEADERS M=<copy of $src> modules)"
    fi
    [ $QUIET = 1 ] || ! grep -q 'warning:' "$b/build.log" || grep -A3 'warning:' "$b/build.log" | show
    local kos=() ko
    mapfile -t kos < <(find "$b" -name '*.ko' | LC_ALL=C sort)
    [ ${#kos[@]} -gt 0 ] || die "$src: the build made no .ko (log: $b/build.log)"
    for ko in "${kos[@]}"; do
        check_vermagic "$ko"
        cp "$ko" "$OUT/"
        echo "$OUT/$(basename "$ko")"
    done
}

i=0
for src in "${SOURCES[@]}"; do
    [ -e "$src" ] || die "no such file: $src"
    if [ -d "$src" ] || [ "${src%.c}" != "$src" ]; then
        if [ -n "$BUILD_DIR" ]; then
            build "$src" "$BUILD_DIR"
        else
            [ -n "$TMP" ] || TMP="$(mktemp -d "${TMPDIR:-/tmp}/vpcie-kmod.XXXXXX")"
            build "$src" "$TMP/$i"
        fi
    elif [ "${src%.ko}" != "$src" ]; then
        check_vermagic "$src"
        [ "$(cd "$(dirname "$src")" && pwd)" = "$OUT" ] || cp "$src" "$OUT/"
        echo "$OUT/$(basename "$src")"
    else
        die "$src: want NAME.c, a module directory or NAME.ko"
    fi
    i=$((i + 1))
done
