#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run `vpcie bench --quick --json` and check the shape of its output.

Usage: check_bench_json.py VPCIE [extra bench args...]
(VPCIE_BENCH_DEVICE in the environment names the device program.)
Checks structure and sanity (finite, positive numbers; every result has its
floor and a ratio; every floor says how it waits, and a result's first floor
waits as the result does), never timing targets.
"""
import json
import math
import subprocess
import sys

EXPECTED = [
    "mmio.read.1", "mmio.read.2", "mmio.read.4", "mmio.read.8",
    "mmio.write.1", "mmio.write.2", "mmio.write.4", "mmio.write.8",
    "cfg.read.4", "mmio.posted.4", "mmio.mmap.read.4",
    "dma.shm.to_host.4096", "dma.shm.to_device.4096",
    "dma.msg.to_host.4096", "dma.msg.to_device.4096",
    "dma.shm.to_host.1048576", "dma.msg.to_device.1048576",
    "irq.intx", "irq.msi", "irq.msix",
    "mmio.read.4.nopoll", "mmio.write.4.nopoll", "cfg.read.4.nopoll",
    "mmio.posted.4.nopoll", "irq.msi.nopoll",
    "ring.mmio.read.4", "ring.mmio.posted.4", "ring.irq.msi",
    "conn.open_map", "multi.1", "multi.16",
    "trace.mmio.read.4", "trace.dma.shm.to_host.1048576",
    "tcp.mmio.read.4", "tcp.dma.msg.to_host.1048576", "tcp.dma.msg.to_device.1048576",
    "tcp.irq.msi", "tls.mmio.read.4", "tls.dma.msg.to_host.1048576", "tls.irq.msi",
]
EXPECTED_FLOORS = ["floor.sock.rr.32.36", "floor.sock.rr_poll.32.36",
                   "floor.sock.rr_evloop.32.36", "floor.spin.rr.32.36", "floor.spin.notify",
                   "floor.eventfd", "floor.eventfd_poll", "floor.eventfd_poll.intx",
                   "floor.sock.oneway.36", "floor.sock.batch.36", "floor.sock.batch_poll.36",
                   "floor.memcpy.to_host.4096", "floor.sock.xfer.to_host.4096",
                   "floor.sock.xfer_mixed.to_host.4096", "floor.connect",
                   "floor.untraced.mmio.read.4", "floor.untraced.dma.shm.to_host.1048576",
                   "floor.tcp.rr.32.36", "floor.tls.rr.32.36", "floor.tcp.stream.to_host.1048576",
                   "floor.tls.stream.to_host.1048576", "floor.tcp.xfer.to_host.1048576",
                   "floor.tcp.notify.36.24", "floor.tls.notify.36.24"]
KINDS = {"latency": "ns", "bandwidth": "MB/s", "rate": "ops/s"}
DISCIPLINES = ("block", "poll", "spin", "none", "mixed")
# Floors named for their discipline.
FLOOR_TAGS = {"_poll.": "poll", "_mixed.": "mixed", "_evloop.": "block", "floor.sock.rr.": "block",
              "floor.eventfd.": "block", "floor.spin.": "spin",
              "floor.tcp.": "block", "floor.tls.": "block"}
# connect() and accept() block whatever the runtime does.
FIRST_FLOOR_OTHER_DISCIPLINE = {"conn.open_map"}


def fail(msg):
    print("check_bench_json: " + msg, file=sys.stderr)
    sys.exit(1)


def num(o, key, where, positive=True):
    v = o.get(key)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        fail(f"{where}: {key} is not a number: {v!r}")
    if positive and v <= 0:
        fail(f"{where}: {key} is not positive: {v!r}")
    return v


def check_entry(e, where):
    for key in ("name", "what", "kind", "unit"):
        if not isinstance(e.get(key), str) or not e[key]:
            fail(f"{where}: missing {key}")
    if e["kind"] not in KINDS or KINDS[e["kind"]] != e["unit"]:
        fail(f"{where}: kind/unit {e['kind']}/{e['unit']}")
    num(e, "p50", where)
    num(e, "p99", where)
    num(e, "samples", where)
    if e.get("discipline") not in DISCIPLINES:
        fail(f"{where}: bad discipline {e.get('discipline')!r}")


def main():
    if len(sys.argv) < 2:
        fail("usage: check_bench_json.py VPCIE [args]")
    cmd = [sys.argv[1], "bench", "--quick", "--json"] + sys.argv[2:]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=170)
    sys.stderr.write(p.stderr)
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited with {p.returncode}")
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        fail(f"output is not JSON: {e}")
    if doc.get("tool") != "vpcie bench" or doc.get("schema") != 2 or doc.get("quick") is not True:
        fail("bad header (tool/schema/quick)")
    m = doc.get("machine")
    if not isinstance(m, dict) or not isinstance(m.get("cpus"), int) or m["cpus"] < 1:
        fail("bad machine")
    passes = doc.get("passes")
    if not isinstance(passes, list) or not passes:
        fail("no passes")
    for p in passes:
        where = f"pass {p.get('load')}"
        if p.get("load") not in ("idle", "spinner"):
            fail(f"{where}: bad load")
        bg = p.get("background")
        if not isinstance(bg, dict) or bg.get("state_before") not in ("quiet", "noisy", "busy", "unknown"):
            fail(f"{where}: bad background")
        num(bg, "busy_cpus_before", where, positive=False)
        floors = {f.get("name"): f for f in p.get("floors", [])}
        results = {r.get("name"): r for r in p.get("results", [])}
        for f in floors.values():
            check_entry(f, f"{where} {f.get('name')}")
            for tag, d in FLOOR_TAGS.items():
                if tag in f["name"] + "." and f["discipline"] != d:
                    fail(f"{where} {f['name']}: discipline {f['discipline']}, expected {d}")
        for name in EXPECTED_FLOORS:
            if name not in floors:
                fail(f"{where}: floor {name} missing")
        for name in EXPECTED:
            if name not in results:
                fail(f"{where}: result {name} missing")
        for r in results.values():
            w = f"{where} {r['name']}"
            check_entry(r, w)
            if r.get("floor") not in floors:
                fail(f"{w}: floor {r.get('floor')!r} is not among the floors")
            num(r, "ratio", w)
            num(r, "floor_value", w)
            if r.get("ratio_kind") not in ("time", "throughput"):
                fail(f"{w}: bad ratio_kind")
            fl = floors[r["floor"]]
            if r.get("floor_discipline") != fl["discipline"]:
                fail(f"{w}: floor_discipline {r.get('floor_discipline')!r} is not its floor's")
            if r["name"] not in FIRST_FLOOR_OTHER_DISCIPLINE and fl["discipline"] != r["discipline"]:
                fail(f"{w}: waits as {r['discipline']!r} but its floor {fl['name']} as "
                     f"{fl['discipline']!r}")
            if r["name"].endswith(".nopoll") and r["discipline"] != "block":
                fail(f"{w}: polling off but discipline {r['discipline']!r}")
            if r.get("floor2") is not None:
                if r["floor2"] not in floors:
                    fail(f"{w}: floor2 {r['floor2']!r} is not among the floors")
                if r.get("floor2_discipline") != floors[r["floor2"]]["discipline"]:
                    fail(f"{w}: floor2_discipline is not its floor's")
                num(r, "ratio2", w)
            # --quick is a smoke test: too short to judge a target by
            if r.get("target") is not None:
                fail(f"{w}: --quick judged a target")
            if r["kind"] == "bandwidth":
                num(r, "size", w)
    print(f"check_bench_json: ok ({len(passes)} pass(es), "
          f"{sum(len(p['results']) for p in passes)} results)")


if __name__ == "__main__":
    main()
