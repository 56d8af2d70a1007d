#!/bin/sh
# SPDX-License-Identifier: MIT
# Turn a VHDL design into what a C device program links with libvpcie
# (-ldl -lm -lz, see rtl/ghdl/meson.build's ghdl_dep):
#   ghdl-build.sh OUT.o GRT.a TOP PAYLOAD_W GLUE_DIR FILE.vhd...
# TOP is the design's top entity (the ports of vpcie_pkg's vpcie_device),
# PAYLOAD_W the width of its mwr_data/cpl_data. OUT.o is one relocatable
# object (ld -r) with the analysed design, the generated simulation top
# (vpcie_top.vhd.in), the VHPIDIRECT package and the std/ieee units it
# uses; GRT.a is a copy of GHDL's runtime library (GRT), linked after it as
# GHDL links it. ghdl_model.c drives the result. VHDL-2008, GHDL's LLVM
# back-end (GHDL=ghdl-llvm; ghdl-mcode makes no object files, ghdl-gcc's
# Debian objects are not PIC).
# shellcheck disable=SC2086 # $flags, $srcs, $objs: lists split on purpose
set -eu
out=$1 grt_out=$2 top=$3 pw=$4 glue=$5
shift 5
ghdl=${GHDL:-ghdl-llvm}
case $pw in
8|16|32|64|96|128|160|192|224|256|288|320|352|384|416|448|480|512) ;;
*) echo "ghdl-build.sh: PAYLOAD_W must be 8, 16, 32, 64 or a multiple of 32 up to 512" >&2; exit 2 ;;
esac
work=$(dirname "$out")/$(basename "$out" .o).d
rm -rf "$work"
mkdir -p "$work"
srcs=
for f in "$@"; do
	srcs="$srcs $(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
done
glue=$(cd "$glue" && pwd)
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
grt_out=$(cd "$(dirname "$grt_out")" && pwd)/$(basename "$grt_out")
sed "s/@TOP@/$top/g; s/@PAYLOAD_W@/$pw/g" "$glue/vpcie_top.vhd.in" >"$work/vpcie_ghdl_top.vhd"
cd "$work"   # GHDL writes e~top.o into the current directory
flags="--std=08 -O2 --workdir=."
$ghdl -a $flags "$glue/vpcie_pkg.vhd" "$glue/vpcie_ghdl.vhd" $srcs vpcie_ghdl_top.vhd
$ghdl --bind $flags vpcie_ghdl_top
$ghdl --list-link $flags vpcie_ghdl_top >link.lst
grt=$(grep '/libgrt\.a$' link.lst)
objs=$(grep '\.o$' link.lst)
# One object, linked whole: the std/ieee bodies must win over GRT's shadow
# copies of their resolution functions, as in GHDL's own link.
${LD:-ld} -r -o "$out" $objs
cp "$grt" "$grt_out"
