#!/usr/bin/env bash
# Run README.md's copy-paste blocks, in order, as a newcomer would, so the
# README cannot rot. A block is run when the line before its ```sh fence is
#     <!-- readme-test: NAME -->
# All blocks run in one shell, in a scratch copy of the tree, with HOME set to
# an empty directory (scripts/doc-test.sh does the work). Prints one line per
# block:
#     README-RESULT NAME OK|FAIL
# (blocks after a failing one are reported FAIL as not run). Exit 0 if all pass.
#
# Usage: scripts/readme-test.sh [--list] [--keep] [README]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
-h | --help)
	echo "Usage: scripts/readme-test.sh [--list] [--keep] [README]"
	echo "Runs the <!-- readme-test: NAME --> blocks of README (default: README.md"
	echo "of this tree); --list prints them, --keep keeps the scratch directory."
	exit 0 ;;
esac
args=()
doc=$here/../README.md
for a; do case "$a" in -*) args+=("$a") ;; *) doc=$a ;; esac; done
exec "$here/doc-test.sh" --tag readme-test --prefix README "${args[@]+"${args[@]}"}" "$doc"
