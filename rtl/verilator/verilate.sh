#!/bin/sh
# SPDX-License-Identifier: MIT
# Turn a Verilog/SystemVerilog design into one static library that a C
# device program links with libvpcie and -lstdc++:
#   verilate.sh OUT.a TOP SHIM_DIR INCLUDE_DIR FILE.v...
# The library holds the Verilated model (with VCD tracing, --wave), Verilator's runtime and
# vpcie_vl_shim.cpp built for class V<TOP> (vpcie_vl.h's API).
# Used by rtl/meson.build; see docs/rtl.md for the snippet.
set -eu
out=$1 top=$2 shimdir=$3 incdir=$4
shift 4
work=$(dirname "$out")/$(basename "$out" .a).d
rm -rf "$work"
mkdir -p "$work/x"
verilator --cc --trace --timescale 1ns/1ns -Wall -O3 --top-module "$top" --prefix "V$top" -Mdir "$work" -I"$shimdir" "$@"
make -s -C "$work" -f "V$top.mk" OPT_FAST=-O2 OPT_SLOW=-O1 OPT_GLOBAL=-O2 \
	"V${top}__ALL.a" verilated.o verilated_threads.o verilated_vcd_c.o >/dev/null
vinc=$(verilator --getenv VERILATOR_ROOT)/include
${CXX:-c++} -O2 -std=c++17 -c "$shimdir/vpcie_vl_shim.cpp" -o "$work/shim.o" \
	-DVL_TOP="V$top" -DVL_HEADER="\"V$top.h\"" \
	-I"$work" -I"$vinc" -I"$vinc/vltstd" -I"$shimdir" -I"$incdir"
(cd "$work/x" && ar x "../V${top}__ALL.a")
rm -f "$out"
ar rcs "$out" "$work"/x/*.o "$work/verilated.o" "$work/verilated_threads.o" "$work/verilated_vcd_c.o" "$work/shim.o"
