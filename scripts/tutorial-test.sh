#!/usr/bin/env bash
# Run docs/tutorial.md as a newcomer would, so the tutorial cannot rot:
#     <!-- tutorial-test: NAME -->           a ```sh block, run
#     <!-- tutorial-test: file PATH -->      a block written to PATH
#     <!-- tutorial-test: excerpt PATH -->   a block that must be in PATH of the tree
# in order, in one shell, in a scratch copy of the tree with HOME set to an
# empty directory (scripts/doc-test.sh does the work). Prints one line per
# block and excerpt:
#     TUTORIAL-RESULT NAME OK|FAIL
# Exit 0 if all pass. The guest step uses $VPCIE_VM_CACHE.
#
# Usage: scripts/tutorial-test.sh [--list] [--keep] [TUTORIAL]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
-h | --help)
	echo "Usage: scripts/tutorial-test.sh [--list] [--keep] [TUTORIAL]"
	echo "Runs the <!-- tutorial-test: ... --> blocks of TUTORIAL (default:"
	echo "docs/tutorial.md of this tree) and checks its excerpts; --list prints"
	echo "them, --keep keeps the scratch directory."
	exit 0 ;;
esac
args=()
doc=$here/../docs/tutorial.md
for a; do case "$a" in -*) args+=("$a") ;; *) doc=$a ;; esac; done
exec "$here/doc-test.sh" --tag tutorial-test --prefix TUTORIAL "${args[@]+"${args[@]}"}" "$doc"
