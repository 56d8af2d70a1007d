#!/usr/bin/env bash
# Run README.md's copy-paste blocks, in order, as a newcomer would, so the
# README cannot rot. A block is run when the line before its ```sh fence is
#     <!-- readme-test: NAME -->
# All blocks run in one shell (state such as exported variables and
# background devices carries from one block to the next), in a scratch copy
# of the tree, with HOME set to an empty directory. Prints one line per block:
#     README-RESULT NAME OK|FAIL
# (blocks after a failing one are reported FAIL as not run). Exit 0 if all pass.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/readme-test.sh [--list] [--keep] [README]

Runs the blocks of README (default: README.md of this tree) marked with
<!-- readme-test: NAME --> in a scratch copy of the tracked files, HOME set to
an empty directory. Background jobs a block starts are killed at the end.

  --list   print the blocks that would run, do not run them
  --keep   keep the scratch directory (its path is printed)
EOF
}

top=$(cd "$(dirname "$0")/.." && pwd)
readme=$top/README.md
list=0
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	--list) list=1; shift ;;
	--keep) keep=1; shift ;;
	-*) echo "readme-test: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) readme=$1; shift ;;
	esac
done
[ -f "$readme" ] || { echo "readme-test: no such file: $readme" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/vpcie-readme.XXXXXX")
script=$work/readme.sh
# One function-free script: `set -e` stays in force inside each block. The
# EXIT trap reports the blocks that finished, the one that failed and those
# never reached.
python3 - "$readme" "$script" <<'PY'
import re, shlex, sys
src, out = sys.argv[1], sys.argv[2]
lines = open(src).read().split("\n")
blocks, i = [], 0
while i < len(lines):
    m = re.match(r"\s*<!--\s*readme-test:\s*([A-Za-z0-9_.-]+)\s*-->\s*$", lines[i])
    if m:
        if i + 1 >= len(lines) or not re.match(r"```(sh|bash)\s*$", lines[i + 1]):
            sys.exit(f"readme-test: {src}:{i + 1}: marker not followed by a ```sh block")
        j = i + 2
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if j >= len(lines):
            sys.exit(f"readme-test: {src}:{i + 2}: unterminated block")
        blocks.append((m.group(1), i + 3, lines[i + 2:j]))
        i = j
    i += 1
if not blocks:
    sys.exit(f"readme-test: {src}: no <!-- readme-test: NAME --> blocks")
names = [b[0] for b in blocks]
if len(set(names)) != len(names):
    sys.exit("readme-test: block names must be unique")
with open(out, "w") as f:
    f.write("set -euo pipefail\n")
    f.write("__steps=(%s)\n__done=0\n" % " ".join(shlex.quote(n) for n in names))
    f.write(r'''__report() {
	local rc=$? i
	for i in "${!__steps[@]}"; do
		if [ "$i" -lt "$__done" ]; then echo "README-RESULT ${__steps[$i]} OK"
		elif [ "$i" -eq "$__done" ]; then echo "README-RESULT ${__steps[$i]} FAIL (exit $rc)"
		else echo "README-RESULT ${__steps[$i]} FAIL (not run)"; fi
	done
	jobs -p | xargs -r kill 2>/dev/null || true
	wait 2>/dev/null || true
}
trap __report EXIT
''')
    for n, (name, lineno, body) in enumerate(blocks):
        f.write(f"echo '=== README block {name} (README.md line {lineno})' >&2\n")
        f.write("\n".join(body) + "\n")
        f.write(f"__done={n + 1}\n")
PY
if [ "$list" = 1 ]; then
	grep -o "=== README block .*" "$script" | sed "s/' >&2$//"
	rm -rf "$work"
	exit 0
fi

# A scratch copy of the tracked files (with their working-tree contents).
mkdir -p "$work/home" "$work/src"
(cd "$top" && git ls-files -z | xargs -0 cp --parents -t "$work/src")
[ "$keep" = 1 ] && echo "readme-test: scratch directory $work" >&2
# The guest blocks use the VM cache of the caller (CI points it at a cache
# it built from scratch); everything else sees only the empty HOME.
export VPCIE_VM_CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
set +e
(cd "$work/src" && HOME=$work/home bash "$script")
rc=$?
set -e
[ "$keep" = 1 ] || rm -rf "$work"
exit $rc
