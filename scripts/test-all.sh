#!/usr/bin/env bash
# Install dependencies, build vpcie with gcc and clang, and run every test:
# plain builds, an AddressSanitizer + UndefinedBehaviorSanitizer build, the
# bounded fuzz runs, and (when its packages can be fetched) the Linux guest
# tests. Ends with one line "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

scripts/install-deps.sh

results=$(mktemp)
trap 'rm -f "$results"' EXIT

# build NAME CC [meson options...]: configure and build into build-ci/NAME.
build() {
	local name=$1 cc=$2
	shift 2
	local dir=$top/build-ci/$name
	echo "=== build $name ($cc $*)"
	if [ ! -d "$dir" ]; then
		CC=$cc meson setup "$dir" "$@" >/dev/null
	else
		meson configure "$dir" "$@" >/dev/null
	fi
	# quiet when it builds; the compiler's words when it does not
	if ! ninja -C "$dir" >"$dir.ninja.log" 2>&1; then
		grep -E -B2 -A8 'error|FAILED' "$dir.ninja.log" | head -n 80
		echo "build $name FAILED (whole log: $dir.ninja.log)"
		return 1
	fi
}

# run NAME [meson test options...]: run tests, append their verdicts.
run() {
	local name=$1
	shift
	local dir=$top/build-ci/$name
	echo "=== test $name"
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs "$@" || true
	if [ ! -s "$dir/meson-logs/testlog.json" ]; then
		# meson could not run the suite at all: that is a failure, not silence
		echo "$name: no tests ran" >&2
		echo "$name suite NO-TESTLOG" >>"$results"
		return 0
	fi
	python3 - "$dir/meson-logs/testlog.json" "$name" >>"$results" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    print(sys.argv[2], t["name"], t["result"])
PY
}

# Every build treats warnings as errors here (users' builds do not: werror is
# off by default, so a newer compiler's new warning does not break them).
# Both compilers, both optimisation levels users build with.
build gcc gcc -Dwerror=true -Dbuildtype=debugoptimized
run gcc --no-suite fuzz
build gcc-release gcc -Dwerror=true -Dbuildtype=release
run gcc-release --no-suite fuzz
# Install the library and build the minimal examples (a device and a host
# program driving it) against the installed headers and vpcie.pc, as a user
# outside this tree would; then run them against each other.
echo "=== install + out-of-tree build (examples/minimal-device.c, minimal-host.c)"
inst=$top/build-ci/install
rm -rf "$inst"
if meson install -C "$top/build-ci/gcc" --destdir "$inst" >/dev/null &&
   pc=$(dirname "$(find "$inst" -name vpcie.pc | head -n 1)") &&
   flags=$(PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$inst pkg-config --cflags --libs vpcie) &&
   rpath=$(dirname "$(find "$inst" -name 'libvpcie.so' | head -n 1)") &&
   gcc -std=c11 -Wall -Wextra -Werror examples/minimal-device.c $flags -o "$inst/minimal-device" -Wl,-rpath,"$rpath" &&
   gcc -std=c11 -Wall -Wextra -Werror examples/minimal-host.c $flags -o "$inst/minimal-host" -Wl,-rpath,"$rpath" &&
   "$inst/minimal-device" --help &&
   sock=$inst/min.sock && { "$inst/minimal-device" --socket "$sock" & pid=$!; } &&
   listing=$("$top/build-ci/gcc/tools/vpcie/vpcie" lspci --socket "$sock" --wait 5000) &&
   grep -q '^00:00.0 .*1234:0001' <<<"$listing" &&
   hostout=$("$inst/minimal-host" "$sock") &&
   grep -qx 'MSI vector 0 received' <<<"$hostout" &&
   kill -TERM "$pid" && wait "$pid" && [ ! -e "$sock" ]; then
	echo "install minimal-device OK" >>"$results"
else
	echo "install minimal-device FAIL" >>"$results"
fi

build clang clang -Dwerror=true -Dbuildtype=debugoptimized
run clang --no-suite fuzz
build clang-release clang -Dwerror=true -Dbuildtype=release
run clang-release --no-suite fuzz
build asan clang -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run asan --no-suite fuzz
build fuzz clang -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true -Dfuzz_seconds="${VPCIE_FUZZ_SECONDS:-20}"
run fuzz --suite fuzz

# CI proves a fresh machine: the guest tests build their cache (QEMU, kernel,
# modules, busybox) from scratch in an empty directory instead of trusting
# whatever ~/.cache holds on the machine CI happens to run on.
if [ "${CI:-}" = true ] && [ -z "${VPCIE_VM_CACHE:-}" ]; then
	export VPCIE_VM_CACHE=$top/build-ci/vm-cache
	rm -rf "$VPCIE_VM_CACHE"
fi

# The guest tests print "GUEST-RESULT <name> OK|FAIL|SKIP" lines; exit 77 means
# the packages they need could not be fetched (reported as skipped, never passed).
for guest in test-guest test-rtl test-epf-vhdl test-virtio-blk test-kmod test-simple-blk test-detector test-ntb test-trace test-fault test-hotplug test-proxy test-virtio-blk-proxy; do
	[ -x "scripts/vm/$guest.sh" ] || continue
	echo "=== guest: $guest (QEMU vfio-user-pci + Linux)"
	log=$top/build-ci/$guest.log
	set +e
	"scripts/vm/$guest.sh" --build "$top/build-ci/gcc" >"$log" 2>&1
	rc=$?
	set -e
	tail -n 40 "$log"
	# (a guest's serial console ends lines with CR)
	tr -d '\r' <"$log" | grep -E '^GUEST-RESULT ' | sed "s/^GUEST-RESULT /$guest /" >>"$results" || true
	if [ $rc -eq 77 ] && ! grep -q '^GUEST-RESULT ' "$log"; then
		echo "$guest harness SKIP" >>"$results"
	elif [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		echo "$guest harness FAIL(exit $rc)" >>"$results"
	fi
done

# doc_blocks NAME: scripts/NAME-test.sh runs a document's blocks as a newcomer
# would (a scratch copy of the tree, an empty HOME; guest blocks reuse the VM
# cache above) and prints "NAME-RESULT <block> OK|FAIL ..." (NAME upper-case).
doc_blocks() {
	local name=$1 tag rc
	tag=$(tr '[:lower:]' '[:upper:]' <<<"$name")-RESULT
	echo "=== $name blocks (scripts/$name-test.sh)"
	log=$top/build-ci/$name-test.log
	set +e
	"scripts/$name-test.sh" >"$log" 2>&1
	rc=$?
	set -e
	tail -n 30 "$log"
	grep -E "^$tag " "$log" | sed "s/^$tag /$name /; s/ FAIL.*/ FAIL/" >>"$results" || true
	if [ $rc -ne 0 ] && [ $rc -ne 77 ] && ! grep -q "^$tag .* FAIL" "$log"; then
		echo "$name harness FAIL(exit $rc)" >>"$results"
	fi
}
# README's first hour; docs/tutorial.md (whose excerpts are also checked
# against the tree).
doc_blocks readme
doc_blocks tutorial
# docs/rtl-tutorial.md (exit 77, SKIP lines: no verilator/ghdl-llvm, or no VM)
doc_blocks rtl-tutorial

echo "=== summary"
grep -v ' OK$' "$results" | grep -v ' SKIP$' || true
pass=$(grep -c ' OK$' "$results" || true)
skip=$(grep -c ' SKIP$' "$results" || true)
fail=$(grep -vc -e ' OK$' -e ' SKIP$' "$results" || true)
# where the failed guest runs kept their consoles and device logs
# (guest_workdir_cleanup; in CI under build-ci/vm-cache/logs)
grep -ah 'logs of the failed run kept in' "$top"/build-ci/test-*.log 2>/dev/null || true
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
