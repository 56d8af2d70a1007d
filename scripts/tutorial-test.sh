#!/usr/bin/env bash
# Run docs/tutorial.md as a newcomer would, so the tutorial cannot rot.
# A fenced block counts when the line before its fence is a marker:
#     <!-- tutorial: run NAME -->      a ```sh block: run it
#     <!-- tutorial: file PATH -->     any block: write it to PATH (relative to
#                                      the directory the blocks before it left)
#     <!-- tutorial: excerpt PATH -->  any block: must appear, line for line,
#                                      in PATH of the source tree (so quoted
#                                      code stays what the file says)
# run and file blocks execute in order in one shell (variables, cd and
# background jobs carry over), in a scratch copy of the tree with HOME set to
# an empty directory, as scripts/readme-test.sh does for README.md. Prints
#     TUTORIAL-RESULT NAME OK|FAIL
# per block (blocks after a failing one: FAIL, not run). Exit 0 if all pass.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/tutorial-test.sh [--list] [--keep] [TUTORIAL]

Runs the marked blocks of TUTORIAL (default: docs/tutorial.md of this tree)
in a scratch copy of the tracked files, HOME set to an empty directory, and
checks its excerpts against the tree. The guest steps use $VPCIE_VM_CACHE
(default ~/.cache/vpcie-vm of the caller).

  --list   print the blocks, do not run them
  --keep   keep the scratch directory (its path is printed)
EOF
}

top=$(cd "$(dirname "$0")/.." && pwd)
doc=$top/docs/tutorial.md
list=0
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	--list) list=1; shift ;;
	--keep) keep=1; shift ;;
	-*) echo "tutorial-test: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) doc=$1; shift ;;
	esac
done
[ -f "$doc" ] || { echo "tutorial-test: no such file: $doc" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/vpcie-tutorial.XXXXXX")
trap '[ "$keep" = 1 ] || rm -rf "$work"' EXIT
script=$work/tutorial.sh
# The excerpts are checked here; run/file blocks become one script whose EXIT
# trap reports the steps that finished, the one that failed and the rest.
python3 - "$doc" "$script" "$top" >"$work/excerpts" <<'PY'
import os, re, shlex, sys
src, out, top = sys.argv[1:4]
lines = open(src).read().split("\n")
steps, excerpts, i = [], [], 0
marker = re.compile(r"\s*<!--\s*tutorial:\s*(run|file|excerpt)\s+(\S+)\s*-->\s*$")
while i < len(lines):
    m = marker.match(lines[i])
    if m:
        kind, arg = m.groups()
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            sys.exit(f"tutorial-test: {src}:{i + 1}: marker not followed by a fenced block")
        if kind == "run" and not re.match(r"```(sh|bash)\s*$", lines[i + 1]):
            sys.exit(f"tutorial-test: {src}:{i + 1}: a run block must be ```sh")
        j = i + 2
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if j >= len(lines):
            sys.exit(f"tutorial-test: {src}:{i + 2}: unterminated block")
        body = lines[i + 2:j]
        if kind == "excerpt":
            excerpts.append((arg, i + 3, body))
        else:
            name = arg if kind == "run" else "file-" + os.path.basename(arg)
            steps.append((kind, name, arg, i + 3, body))
        i = j
    i += 1
if not steps:
    sys.exit(f"tutorial-test: {src}: no <!-- tutorial: run|file ... --> blocks")
names = [s[1] for s in steps]
if len(set(names)) != len(names):
    sys.exit("tutorial-test: block names must be unique")
for path, lineno, body in excerpts:
    try:
        text = open(os.path.join(top, path)).read().split("\n")
    except OSError as e:
        print(f"excerpt-line-{lineno} FAIL ({path}: {e.strerror})")
        continue
    n = len(body)
    found = any(text[k:k + n] == body for k in range(len(text) - n + 1))
    print(f"excerpt-line-{lineno} " + ("OK" if found else f"FAIL (not in {path})"))
with open(out, "w") as f:
    f.write("set -euo pipefail\n")
    f.write("__steps=(%s)\n__done=0\n" % " ".join(shlex.quote(s[1]) for s in steps))
    f.write(r'''__report() {
	local rc=$? i
	for i in "${!__steps[@]}"; do
		if [ "$i" -lt "$__done" ]; then echo "TUTORIAL-RESULT ${__steps[$i]} OK"
		elif [ "$i" -eq "$__done" ]; then echo "TUTORIAL-RESULT ${__steps[$i]} FAIL (exit $rc)"
		else echo "TUTORIAL-RESULT ${__steps[$i]} FAIL (not run)"; fi
	done
	jobs -p | xargs -r kill 2>/dev/null || true
	wait 2>/dev/null || true
}
trap __report EXIT
''')
    for n, (kind, name, arg, lineno, body) in enumerate(steps):
        f.write(f"echo '=== tutorial block {name} (line {lineno})' >&2\n")
        if kind == "run":
            f.write("\n".join(body) + "\n")
        else:
            tag = "__TUTORIAL_FILE_END__"
            if tag in body:
                sys.exit(f"tutorial-test: {src}:{lineno}: block contains {tag}")
            f.write(f"cat >{shlex.quote(arg)} <<'{tag}'\n" + "\n".join(body) + f"\n{tag}\n")
        f.write(f"__done={n + 1}\n")
PY
if [ "$list" = 1 ]; then
	grep -o "=== tutorial block .*" "$script" | sed "s/' >&2$//"
	sed 's/^excerpt-/excerpt /; s/ OK$//; s/ FAIL.*$//' "$work/excerpts"
	exit 0
fi

mkdir -p "$work/home" "$work/src"
(cd "$top" && git ls-files -z | xargs -0 cp -P --parents -t "$work/src")
[ "$keep" = 1 ] && echo "tutorial-test: scratch directory $work" >&2
export VPCIE_VM_CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
rc=0
sed 's/^/TUTORIAL-RESULT /' "$work/excerpts"
grep -q ' FAIL' "$work/excerpts" && rc=1
set +e
(cd "$work/src" && HOME=$work/home bash "$script")
[ $? -eq 0 ] || rc=1
set -e
exit $rc
