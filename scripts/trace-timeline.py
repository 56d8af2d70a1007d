#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Draw a Perfetto-like timeline of one traced session as a PNG (gnuplot).

Runs vpcie-epf-test traced (--trace), drives it with
`vpcie --trace HOST pcitest -r -s SIZE [--no-shared]`, converts both traces
with `vpcie trace --perfetto` and draws the trace-event JSON: a row per
track (process / BAR, DMA, interrupts, ...), a box per transaction as long
as it took, a tick per instant event. The window starts at the transfer
(the first access to BAR0) unless --whole.

  scripts/trace-timeline.py [--build build] [--size 1024] [--no-shared]
                            [--whole] [-o docs/img/trace-timeline.png]

Perfetto UI itself cannot run here; this reads the same JSON it would.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

COLORS = {"ACCESS": "#4878d0", "DMA": "#ee854a", "IRQ_RAISE": "#d65f5f", "IRQ": "#d65f5f",
          "IRQ_SET": "#956cb4", "POST_BATCH": "#82c6e2", "RESET": "#8c613c",
          "CONNECT": "#6acc64", "DISCONNECT": "#6acc64", "FAULT": "#000000"}


def run_session(build, size, no_shared, tmp):
    vpcie = os.path.join(build, "tools/vpcie/vpcie")
    epf = os.path.join(build, "devices/epf-test/vpcie-epf-test")
    sock, dev_t, host_t = (os.path.join(tmp, n) for n in ("epf.sock", "dev.bin", "host.bin"))
    dev = subprocess.Popen([epf, "--socket", sock, "--trace", dev_t], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        cmd = [vpcie, "--trace", host_t, "pcitest", "--socket", sock, "-r", "-s", str(size)]
        if no_shared:
            cmd.append("--no-shared")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(timeout=10)
    out = os.path.join(tmp, "t.json")
    subprocess.run([vpcie, "trace", "--perfetto", "-o", out, dev_t, host_t], check=True)
    with open(out, encoding="utf-8") as f:
        return json.load(f)["traceEvents"]


def draw(events, whole, png, title):
    procs = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}
    evs = [e for e in events if e["ph"] in ("X", "i")]
    start = min(e["ts"] for e in evs)
    if not whole:
        bar0 = [e["ts"] for e in evs if threads.get((e["pid"], e["tid"])) == "BAR0"]
        start = min(bar0) - 20 if bar0 else start
        evs = [e for e in evs if e["ts"] >= start]
    end = max(e["ts"] + e.get("dur", 0) for e in evs)
    # Rows: host first, then device; in each, tracks in tid order.
    keys = sorted({(e["pid"], e["tid"]) for e in evs},
                  key=lambda k: (not procs.get(k[0], "").startswith("host"), k[0], k[1]))
    row = {k: len(keys) - i for i, k in enumerate(keys)}
    minw = (end - start) / 600.0  # at least a pixel or so
    boxes, ticks = [], []
    for e in evs:
        y = row[(e["pid"], e["tid"])]
        x0 = e["ts"] - start
        color = COLORS.get(e.get("cat"), "#777777")
        if e["ph"] == "X":
            w = max(e["dur"], minw)
            boxes.append(f"{x0 + w / 2:.3f} {y} {w / 2:.3f} 0.32 0x{color[1:]}")
        else:
            ticks.append(f"{x0:.3f} {y} 0x{color[1:]}")
    with tempfile.TemporaryDirectory() as d:
        bf, tf, gp = (os.path.join(d, n) for n in ("boxes.dat", "ticks.dat", "plot.gp"))
        with open(bf, "w") as f:
            f.write("\n".join(boxes or ["0 0 0 0 0"]) + "\n")
        with open(tf, "w") as f:
            f.write("\n".join(ticks or ["0 0 0"]) + "\n")
        ytics = ", ".join(f'"{procs.get(k[0], "?")} / {threads.get(k, "?")}" {row[k]}'
                          for k in keys)
        with open(gp, "w") as f:
            f.write(f"""set terminal pngcairo noenhanced size 1400,{140 + 34 * len(keys)} font "sans,10"
set output "{png}"
set title "{title}"
set xlabel "time (us, CLOCK_MONOTONIC, from the first event shown)"
set xrange [0:{end - start:.3f}]
set yrange [0.3:{len(keys) + 0.7}]
set ytics ({ytics})
set grid xtics lc rgb "#dddddd"
set key off
set style fill solid 0.9 noborder
set lmargin 34
plot "{bf}" using 1:2:3:4:5 with boxxyerror lc rgb variable, \\
     "{tf}" using 1:2:3 with points pt 9 ps 1.4 lc rgb variable
""")
        subprocess.run(["gnuplot", gp], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--no-shared", action="store_true")
    ap.add_argument("--whole", action="store_true")
    ap.add_argument("-o", "--output", default="docs/img/trace-timeline.png")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        events = run_session(a.build, a.size, a.no_shared, tmp)
    title = (f"vpcie pcitest -r -s {a.size}{' --no-shared' if a.no_shared else ''} "
             "against vpcie-epf-test: host and device traces merged")
    draw(events, a.whole, os.path.abspath(a.output), title)
    print(f"trace-timeline: wrote {a.output}", file=sys.stderr)


main()
