#!/usr/bin/env bash
# Run a document's copy-paste blocks as a newcomer would, so the document
# cannot rot (scripts/readme-test.sh: README.md; scripts/tutorial-test.sh:
# docs/tutorial.md). A fenced block counts when the line before its fence is
# a marker with the document's TAG:
#     <!-- TAG: NAME -->            a ```sh block: run it
#     <!-- TAG: file PATH -->       any block: write it to PATH (relative to
#                                   the directory the blocks before it left)
#     <!-- TAG: excerpt PATH -->    any block: must appear, line for line, in
#                                   PATH of the source tree (quoted code stays
#                                   what the file says)
# Run and file blocks execute in order in one shell (exported variables, cd
# and background devices carry from one block to the next), in a scratch copy
# of the tracked files with HOME set to an empty directory. Prints one line
# per block and excerpt:
#     PREFIX-RESULT NAME OK|FAIL
# (blocks after a failing one are reported FAIL as not run). Exit 0 if all pass.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/doc-test.sh --tag TAG --prefix PREFIX [--list] [--keep] FILE

Runs the blocks of FILE marked with <!-- TAG: ... --> in a scratch copy of the
tracked files (their working-tree contents), HOME set to an empty directory,
and checks its excerpts against the tree. Background jobs a block starts are
killed at the end. Guest blocks use $VPCIE_VM_CACHE (default: the caller's
~/.cache/vpcie-vm).

  --tag TAG        the marker word (readme-test, tutorial-test)
  --prefix PREFIX  results are printed as PREFIX-RESULT lines
  --list           print the blocks that would run, do not run them
  --keep           keep the scratch directory (its path is printed)
EOF
}

top=$(cd "$(dirname "$0")/.." && pwd)
doc=""
tag=""
prefix=""
list=0
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	--tag) tag=${2:?--tag needs a word}; shift 2 ;;
	--prefix) prefix=${2:?--prefix needs a word}; shift 2 ;;
	--list) list=1; shift ;;
	--keep) keep=1; shift ;;
	-*) echo "doc-test: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) doc=$1; shift ;;
	esac
done
if [ -z "$tag" ] || [ -z "$prefix" ]; then
	echo "doc-test: --tag and --prefix are needed" >&2
	exit 2
fi
[ -f "$doc" ] || { echo "doc-test: no such file: ${doc:-(none given)}" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/vpcie-doc.XXXXXX")
trap '[ "$keep" = 1 ] || rm -rf "$work"' EXIT
script=$work/doc.sh
# Excerpts are checked here (their verdicts go to $work/excerpts); run and
# file blocks become one function-free script (so `set -e` stays in force in
# each block) whose EXIT trap reports the steps that finished, the one that
# failed and those never reached.
python3 - "$doc" "$script" "$top" "$tag" "$prefix" >"$work/excerpts" <<'PY'
import os, re, shlex, sys
src, out, top, tag, prefix = sys.argv[1:6]
here = os.path.basename(src)
lines = open(src).read().split("\n")
marker = re.compile(r"\s*<!--\s*" + re.escape(tag) +
                    r":\s*(?:(file|excerpt)\s+)?([A-Za-z0-9_./-]+)\s*-->\s*$")
steps, excerpts, i = [], [], 0
while i < len(lines):
    m = marker.match(lines[i])
    if m:
        kind, arg = m.group(1) or "run", m.group(2)
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            sys.exit(f"doc-test: {src}:{i + 1}: marker not followed by a fenced block")
        if kind == "run" and not re.match(r"```(sh|bash)\s*$", lines[i + 1]):
            sys.exit(f"doc-test: {src}:{i + 1}: marker not followed by a ```sh block")
        j = i + 2
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if j >= len(lines):
            sys.exit(f"doc-test: {src}:{i + 2}: unterminated block")
        body = lines[i + 2:j]
        if kind == "excerpt":
            excerpts.append((arg, i + 3, body))
        else:
            name = arg if kind == "run" else "file-" + os.path.basename(arg)
            steps.append((kind, name, arg, i + 3, body))
        i = j
    i += 1
if not steps:
    sys.exit(f"doc-test: {src}: no <!-- {tag}: NAME --> blocks")
names = [s[1] for s in steps]
if len(set(names)) != len(names):
    sys.exit("doc-test: block names must be unique")
for path, lineno, body in excerpts:
    try:
        text = open(os.path.join(top, path)).read().split("\n")
    except OSError as e:
        print(f"excerpt-line-{lineno} FAIL ({path}: {e.strerror})")
        continue
    n = len(body)
    found = n > 0 and any(text[k:k + n] == body for k in range(len(text) - n + 1))
    print(f"excerpt-line-{lineno} " + ("OK" if found else f"FAIL (not in {path})"))
end = "__DOC_TEST_FILE_END__"
with open(out, "w") as f:
    f.write("set -euo pipefail\n")
    f.write("__prefix=%s\n" % shlex.quote(prefix + "-RESULT"))
    f.write("__steps=(%s)\n__done=0\n" % " ".join(shlex.quote(n) for n in names))
    f.write(r'''__report() {
	local rc=$? i
	for i in "${!__steps[@]}"; do
		if [ "$i" -lt "$__done" ]; then echo "$__prefix ${__steps[$i]} OK"
		elif [ "$i" -eq "$__done" ]; then echo "$__prefix ${__steps[$i]} FAIL (exit $rc)"
		else echo "$__prefix ${__steps[$i]} FAIL (not run)"; fi
	done
	jobs -p | xargs -r kill 2>/dev/null || true
	wait 2>/dev/null || true
}
trap __report EXIT
''')
    for n, (kind, name, arg, lineno, body) in enumerate(steps):
        f.write(f"echo '=== {prefix} block {name} ({here} line {lineno})' >&2\n")
        if kind == "run":
            f.write("\n".join(body) + "\n")
        else:
            if end in body:
                sys.exit(f"doc-test: {src}:{lineno}: a file block may not contain {end}")
            f.write(f"cat >{shlex.quote(arg)} <<'{end}'\n" + "\n".join(body) + f"\n{end}\n")
        f.write(f"__done={n + 1}\n")
PY
if [ "$list" = 1 ]; then
	grep -o "=== $prefix block .*" "$script" | sed "s/' >&2$//"
	sed 's/ .*//; s/^excerpt-line-/excerpt at line /' "$work/excerpts"
	exit 0
fi

# A scratch copy of the tracked files (with their working-tree contents).
mkdir -p "$work/home" "$work/src"
(cd "$top" && git ls-files -z | xargs -0 cp --parents -t "$work/src")
[ "$keep" = 1 ] && echo "doc-test: scratch directory $work" >&2
# The guest blocks use the VM cache of the caller (CI points it at a cache
# it built from scratch); everything else sees only the empty HOME.
export VPCIE_VM_CACHE="${VPCIE_VM_CACHE:-$HOME/.cache/vpcie-vm}"
rc=0
sed "s/^/$prefix-RESULT /" "$work/excerpts"
if grep -q ' FAIL' "$work/excerpts"; then rc=1; fi
if ! (cd "$work/src" && HOME=$work/home bash "$script"); then
	rc=1
fi
exit $rc
