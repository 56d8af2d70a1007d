#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn `vpcie bench --json` output into the Markdown results table of
docs/bench.md / README.md: each figure, its floor, the ratio, the command.

Usage: vpcie bench --load=both --json > bench.json
       bench/bench_table.py bench.json [--all]
Without --all only the headline rows are printed (the ones with targets and
one size per DMA curve). "wait" is how the path waits (poll: adaptive polling,
the default; block: polling off; spin: the shared-memory ring; mixed; none);
its floor waits the same way, and the second ratio compares with a floor that
waits differently (named by how it waits, or evloop / woken / 1/write).
"""
import json
import sys

HEADLINE = [
    "mmio.read.4", "mmio.write.4", "cfg.read.4", "mmio.posted.4", "mmio.write_multi.4",
    "mmio.read.4.nopoll", "mmio.write.4.nopoll", "cfg.read.4.nopoll", "mmio.posted.4.nopoll",
    "ring.mmio.read.4", "ring.mmio.posted.4",
    "mmio.mmap.read.4",
    "dma.shm.to_host.4096", "dma.shm.to_host.1048576", "dma.shm.to_device.1048576",
    "dma.shm.to_device.4194304", "dma.msg.to_host.1048576", "dma.msg.to_device.1048576",
    "irq.intx", "irq.msi", "irq.msix", "irq.msi.nopoll", "ring.irq.msi", "conn.open_map",
    "multi.1", "multi.16", "multi.64", "multi.256",
]


def fmt(kind, unit, v):
    if v is None:
        return "-"
    if unit == "ns":
        if v < 1000:
            return f"{v:.1f} ns"
        if v < 1e6:
            return f"{v / 1e3:.1f} µs"
        return f"{v / 1e6:.2f} ms"
    if unit == "MB/s":
        return f"{v / 1e3:.1f} GB/s" if v >= 1000 else f"{v:.0f} MB/s"
    return f"{v / 1e6:.2f} M/s" if v >= 1e6 else f"{v / 1e3:.1f} k/s"


def ratio(r):
    if r.get("ratio") is None:
        return "-"
    if r["ratio_kind"] == "time":
        return f"{r['ratio']:.2f}x"
    return f"{r['ratio'] * 100:.0f}%"


def floor2_tag(r):
    name = r["floor2"]
    for key, tag in (("evloop", "evloop"), ("woken", "woken"), ("oneway", "1/write")):
        if key in name:
            return tag
    return r.get("floor2_discipline") or "2nd"


def target(r):
    t = r.get("target")
    if not t:
        return ""
    if t["kind"] == "ratio_max":
        s = f"≤{t['value']:.2f}x"
    elif t["kind"] == "ratio_min":
        s = f"≥{t['value'] * 100:.0f}%"
    else:
        s = f"≥{t['value'] / 1e6:.0f} M/s"
    return s + (" met" if t["met"] else " **missed**")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    doc = json.load(open(sys.argv[1]))
    every = "--all" in sys.argv
    passes = doc["passes"]
    loads = [p["load"] for p in passes]
    print("| figure | wait | " + " | ".join(
        f"{l}: value | {l}: floor | {l}: ratio" for l in loads) + " | target | command |")
    print("|---|---|" + "---|---|---|" * len(loads) + "---|---|")
    names = []
    for p in passes:
        for r in p["results"]:
            if r["name"] not in names and (every or r["name"] in HEADLINE):
                names.append(r["name"])
    if not every:
        names.sort(key=lambda n: HEADLINE.index(n) if n in HEADLINE else 999)
    for name in names:
        cells, tgt, wait = [], "", ""
        for p in passes:
            r = next((x for x in p["results"] if x["name"] == name), None)
            if r is None:
                cells += ["-", "-", "-"]
                continue
            if r["kind"] == "rate" and r.get("latency_p50_ns"):
                value = fmt("rate", "ops/s", r["p50"]) + f" ({fmt('latency', 'ns', r['latency_p50_ns'])}/op)"
            else:
                value = fmt(r["kind"], r["unit"], r["p50"])
            funit = "ops/s" if r["kind"] == "rate" else r["unit"]
            floor = f"{fmt(r['kind'], funit, r.get('floor_value'))} ({r.get('floor')})"
            ra = ratio(r)
            if r.get("ratio2") is not None and r.get("floor2"):
                ra += f"; {floor2_tag(r)} " + (f"{r['ratio2']:.2f}x" if r["ratio_kind"] == "time"
                                               else f"{r['ratio2'] * 100:.0f}%")
            cells += [value, floor, ra]
            tgt = tgt or target(r)
            wait = wait or r.get("discipline", "")
        cmd = f"`vpcie bench --load=both --only {name}`"
        print(f"| {name} | {wait} | " + " | ".join(cells) + f" | {tgt} | {cmd} |")
    for p in passes:
        bg = p["background"]
        print(f"\n{p['load']}: background {bg['busy_cpus_before']:.2f} CPUs busy before "
              f"({bg['state_before']}), {bg['busy_cpus_after']:.2f} after ({bg['state_after']}); "
              f"{p['seconds']:.0f} s.", end="")
    print()


if __name__ == "__main__":
    main()
