#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmark of vpcie-epf-test-vhdl (pci-epf-test in VHDL under GHDL, through
the RTL bridge) against the C vpcie-epf-test, measured in the same run with
the same tools and waiting discipline (docs/rtl.md, "VHDL with GHDL").

  mmio.read        BAR0 register read round trip: one `vpcie mmio` process
                   doing 1 read vs 1+N reads, (t_N - t_1) / N; median of runs
  dma.READ/WRITE/COPY 1 MiB  `vpcie pcitest --json` usec of the case (command
                   to interrupt), as MB/s; median of runs
  cycles.busy      simulated cycles per CPU second of the device process
                   while it runs only 1 MiB transfers (DMA busy), and the
                   bytes moved per cycle (interface limit: PAYLOAD_W/8 = 32)
  cycles.traffic   the same while it only serves register reads (the design
                   idle, clocked for each access and its tail)
  idle.cpu         the device's CPU time over 5 s after traffic, % of a core
  cycles.bare      the floor of cycles.busy: epf_test.vhd under GHDL alone
                   (bench/ghdl/epf_bare_tb.vhd: a VHDL testbench instead of
                   the C bridge, 1 MiB WRITE + READ rounds), cycles per CPU
                   second; cycles.busy / cycles.bare is the bridge's cost

Usage: bench/ghdl_epf_bench.py [--build DIR] [--runs N] [--reads N] [--json]
Figures are medians of --runs (default 5); the machine's load average is
printed with them (other processes share its CPUs).
"""
import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HZ = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


class Device:
    def __init__(self, prog, tmp, name):
        self.sock = os.path.join(tmp, name + ".sock")
        self.log = open(os.path.join(tmp, name + ".log"), "w+")
        self.p = subprocess.Popen([prog, "--socket", self.sock], stderr=self.log,
                                  stdout=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(self.sock):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{prog}: no socket")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=60)
        self.log.seek(0)
        return self.log.read()


def mmio_time(vpcie, sock, nreads):
    ops = ["0:0.L"] * nreads
    t0 = time.monotonic()
    subprocess.run([vpcie, "mmio", "--socket", sock, "--timeout", "60000"] + ops,
                   check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def mmio_read_us(vpcie, sock, reads):
    one = mmio_time(vpcie, sock, 1)
    many = mmio_time(vpcie, sock, 1 + reads)
    return (many - one) / reads * 1e6


def dma_usec(vpcie, sock):
    out = subprocess.run([vpcie, "pcitest", "--socket", sock, "--json", "--timeout", "60000",
                          "-s", str(MIB), "-r", "-w", "-c"],
                         check=True, capture_output=True, text=True).stdout
    return {r["case"]: r["usec"] for r in json.loads(out)["results"] if r["result"] == "OKAY"}


def cycles_of(log):
    m = re.search(r"info: (\d+) cycles", log)
    return int(m.group(1)) if m else None


def bare_cycles_per_cpu_s(src, tmp, ghdl):
    """epf_test.vhd with the VHDL testbench: cycles per CPU second."""
    work = os.path.join(tmp, "bare")
    os.mkdir(work)
    flags = ["--std=08", "-O2", "--workdir=."]
    subprocess.run([ghdl, "-a"] + flags + [os.path.join(src, "rtl/ghdl/vpcie_pkg.vhd"),
                   os.path.join(src, "rtl/epf-test/epf_test.vhd"),
                   os.path.join(src, "bench/ghdl/epf_bare_tb.vhd")], cwd=work, check=True)
    subprocess.run([ghdl, "-e"] + flags + ["-o", "tb", "epf_bare_tb"], cwd=work, check=True)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["./tb", "--ieee-asserts=disable-at-0"], cwd=work, check=True,
                         capture_output=True, text=True).stdout
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return int(re.search(r"bare cycles (\d+)", out).group(1)) / cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--reads", type=int, default=2000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--ghdl", default=os.environ.get("GHDL", "ghdl-llvm"))
    a = ap.parse_args()
    vpcie = os.path.join(a.build, "tools/vpcie/vpcie")
    progs = {"c": os.path.join(a.build, "devices/epf-test/vpcie-epf-test"),
             "vhdl": os.path.join(a.build, "rtl/ghdl/vpcie-epf-test-vhdl")}
    for p in [vpcie] + list(progs.values()):
        if not os.access(p, os.X_OK):
            sys.exit(f"ghdl_epf_bench: {p} missing (build it first)")
    res = {"load_avg": os.getloadavg()[0], "runs": a.runs}
    with tempfile.TemporaryDirectory(prefix="vpcie-gbench.") as tmp:
        # Latency and throughput, C device and VHDL device alternately.
        for name, prog in progs.items():
            d = Device(prog, tmp, name)
            mmio_time(vpcie, d.sock, 10)  # warm-up
            lat = [mmio_read_us(vpcie, d.sock, a.reads) for _ in range(a.runs)]
            dma = [dma_usec(vpcie, d.sock) for _ in range(a.runs)]
            d.stop()
            res[f"{name}.mmio.read_us"] = statistics.median(lat)
            for case in ("READ", "WRITE", "COPY"):
                us = statistics.median(r[case] for r in dma if case in r)
                res[f"{name}.dma.{case}_MBps"] = MIB / us
        # Simulated cycles per CPU second: busy (DMA only) ...
        d = Device(progs["vhdl"], tmp, "busy")
        c0 = cpu_ticks(d.p.pid)
        for _ in range(a.runs):
            dma_usec(vpcie, d.sock)
        c1 = cpu_ticks(d.p.pid)
        # ... idle after the traffic ...
        time.sleep(0.5)
        i0 = cpu_ticks(d.p.pid)
        time.sleep(5)
        i1 = cpu_ticks(d.p.pid)
        cyc = cycles_of(d.stop())
        res["vhdl.cycles.busy_per_cpu_s"] = cyc / ((c1 - c0) / HZ)
        res["vhdl.dma.bytes_per_cycle"] = a.runs * 3 * MIB / cyc  # per channel: COPY reads and writes in the same cycles
        res["vhdl.idle.cpu_percent"] = 100.0 * (i1 - i0) / HZ / 5
        # ... and serving register reads (the design idle between them).
        d = Device(progs["vhdl"], tmp, "traffic")
        mmio_time(vpcie, d.sock, 10)
        c0 = cpu_ticks(d.p.pid)
        for _ in range(a.runs):
            mmio_time(vpcie, d.sock, a.reads)
        c1 = cpu_ticks(d.p.pid)
        cyc = cycles_of(d.stop())
        res["vhdl.cycles.traffic_per_cpu_s"] = cyc / max(c1 - c0, 1) * HZ
        src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        res["vhdl.cycles.bare_per_cpu_s"] = statistics.median(
            bare_cycles_per_cpu_s(src, os.path.join(tmp, str(i)), a.ghdl)
            for i in range(a.runs) if not os.mkdir(os.path.join(tmp, str(i))))
    res["ratio.cycles.bare_over_busy"] = (res["vhdl.cycles.bare_per_cpu_s"] /
                                          res["vhdl.cycles.busy_per_cpu_s"])
    res["ratio.mmio.read"] = res["vhdl.mmio.read_us"] / res["c.mmio.read_us"]
    for case in ("READ", "WRITE", "COPY"):
        res[f"ratio.dma.{case}"] = res[f"c.dma.{case}_MBps"] / res[f"vhdl.dma.{case}_MBps"]
    if a.json:
        print(json.dumps(res, indent=1))
        return
    print(f"load average {res['load_avg']:.2f}, medians of {a.runs} runs")
    print(f"MMIO read round trip     C {res['c.mmio.read_us']:8.1f} us   VHDL "
          f"{res['vhdl.mmio.read_us']:8.1f} us   ratio {res['ratio.mmio.read']:.1f}x")
    for case in ("READ", "WRITE", "COPY"):
        print(f"DMA {case:5} 1 MiB         C {res[f'c.dma.{case}_MBps']:8.1f} MB/s VHDL "
              f"{res[f'vhdl.dma.{case}_MBps']:8.2f} MB/s ratio {res[f'ratio.dma.{case}']:.0f}x")
    print(f"GHDL cycles/CPU-s        busy (DMA) {res['vhdl.cycles.busy_per_cpu_s'] / 1e3:.1f} k, "
          f"register traffic {res['vhdl.cycles.traffic_per_cpu_s'] / 1e3:.1f} k")
    print(f"GHDL alone (floor)       {res['vhdl.cycles.bare_per_cpu_s'] / 1e3:.1f} k cycles/CPU-s: "
          f"the bridge costs {res['ratio.cycles.bare_over_busy']:.2f}x")
    print(f"DMA bytes per cycle      {res['vhdl.dma.bytes_per_cycle']:.1f} (interface: 32)")
    print(f"idle device CPU          {res['vhdl.idle.cpu_percent']:.2f} % of a core over 5 s")


if __name__ == "__main__":
    main()
