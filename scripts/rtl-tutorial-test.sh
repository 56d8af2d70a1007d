#!/usr/bin/env bash
# Run docs/rtl-tutorial.md as a newcomer would, so the RTL walkthrough
# cannot rot: its <!-- rtl-tutorial-test: ... --> blocks (run, file,
# excerpt; see scripts/doc-test.sh), in order, in one shell, in a scratch
# copy of the tree with HOME set to an empty directory. Prints one line per
# block and excerpt:
#     RTL-TUTORIAL-RESULT NAME OK|FAIL|SKIP
# Exit 0 if all pass. Exit 77 (skipped, never passed) when verilator or
# ghdl-llvm is not installed (every block SKIP), or when the guest block's
# scripts/vm/run could not provision the VM (exit 77: that block SKIP, the
# others as they ran). The guest step uses $VPCIE_VM_CACHE.
#
# Usage: scripts/rtl-tutorial-test.sh [--list] [--keep] [TUTORIAL]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
-h | --help)
	echo "Usage: scripts/rtl-tutorial-test.sh [--list] [--keep] [TUTORIAL]"
	echo "Runs the <!-- rtl-tutorial-test: ... --> blocks of TUTORIAL (default:"
	echo "docs/rtl-tutorial.md of this tree) and checks its excerpts; --list prints"
	echo "them, --keep keeps the scratch directory. Exit 77: skipped (no verilator"
	echo "or ghdl-llvm; or the guest could not be provisioned)."
	exit 0 ;;
esac
args=()
list=0
doc=$here/../docs/rtl-tutorial.md
for a; do
	case "$a" in
	--list) list=1; args+=("$a") ;;
	-*) args+=("$a") ;;
	*) doc=$a ;;
	esac
done
run() { "$here/doc-test.sh" --tag rtl-tutorial-test --prefix RTL-TUTORIAL "${args[@]+"${args[@]}"}" "$doc"; }
[ "$list" = 1 ] && exec "$here/doc-test.sh" --tag rtl-tutorial-test --prefix RTL-TUTORIAL "${args[@]}" "$doc"
if ! command -v verilator >/dev/null || ! command -v "${GHDL:-ghdl-llvm}" >/dev/null; then
	echo "rtl-tutorial-test: verilator or ${GHDL:-ghdl-llvm} not installed (scripts/install-deps.sh)" >&2
	echo "RTL-TUTORIAL-RESULT all SKIP"
	exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
run | tee "$out" | sed -u 's/^\(RTL-TUTORIAL-RESULT guest\) FAIL (exit 77)$/\1 SKIP/'
rc=${PIPESTATUS[0]}
set -e
# The guest block is the last one: its 77 (VM not provisioned) is a skip.
if [ "$rc" -ne 0 ] && grep -qx 'RTL-TUTORIAL-RESULT guest FAIL (exit 77)' "$out" &&
	[ "$(grep -c '^RTL-TUTORIAL-RESULT .* FAIL' "$out")" = 1 ]; then
	rc=77
fi
exit "$rc"
