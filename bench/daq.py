#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmark: vpcie-detector -> `vpcie daq` (issue 14, docs/detector.md).

Runs `vpcie daq --json` against fresh vpcie-detector processes over a matrix
(frame sizes 4 KiB .. 4 MiB, CRC-checked vs header-only, interrupt
moderation on/off, polling, posting without the tail shadow, 1/2/4 channels
and 2 devices, message DMA) for
--rounds rounds, interleaved (every case once per round), and prints the
median of each figure with its ratio to the floor `vpcie daq` measured in
the same run: a single thread's memcpy of the same frames into the same
buffers (header-only cases), or crc32 over them (CRC cases). On a loaded
machine both processes get a fraction of a CPU, so the table also gives the
engine's throughput per second of its own CPU time (logged by the device)
against memcpy's per second of CPU time: how efficient the engine is,
whatever CPU share it got. Every run must
end with 0 lost and 0 corrupted, or the script says so and exits 1. Not a
test: no figure is asserted. Markdown on stdout; --json for the raw runs.

  bench/daq.py --build build --rounds 5
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

KiB, MiB = 1024, 1024 * 1024

# name, device args, daq args, bytes to stream, floor ("memcpy" or "crc32")
def cases(quick):
    big = 256 * MiB if quick else 4096 * MiB
    out = []
    for fs in (4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB):
        out.append((f"hdr.{fs // KiB}k", [], ["--no-crc", "--frame-size", str(fs)],
                    big if fs >= 64 * KiB else big // 4, "memcpy"))
    for fs in (64 * KiB, MiB):
        out.append((f"crc.{fs // KiB}k", [], ["--frame-size", str(fs)], big // 2, "crc32"))
    out.append(("irq.4k.moderated", [], ["--no-crc", "--frame-size", "4096"], big // 8, "memcpy"))
    out.append(("irq.4k.every-frame", [], ["--no-crc", "--frame-size", "4096", "--irq-frames", "1",
                                            "--irq-usec", "0"], big // 8, "memcpy"))
    out.append(("poll.64k", [], ["--no-crc", "--frame-size", "65536", "--poll"], big, "memcpy"))
    # Posting by RING_TAIL writes only (a message per pass), as before the tail shadow.
    out.append(("noshadow.64k", [], ["--no-crc", "--frame-size", "65536", "--no-shadow"], big,
                "memcpy"))
    for ch in (2, 4):
        out.append((f"chan{ch}.64k", ["--channels", str(ch)],
                    ["--no-crc", "--frame-size", "65536"], big, "memcpy"))
    out.append(("dev2.64k", "two", ["--no-crc", "--frame-size", "65536"], big, "memcpy"))
    for fs in (64 * KiB, MiB):
        out.append((f"msg.{fs // KiB}k", [], ["--no-crc", "--no-shared", "--frame-size", str(fs)],
                    big // 8, "memcpy"))
    out.append(("small.64B", [], ["--no-crc", "--frame-size", "64"], None, "memcpy"))
    return out


def start_device(binary, sock, args, log):
    p = subprocess.Popen([binary, "--socket", sock] + args, stderr=log)
    for _ in range(200):
        if os.path.exists(sock):
            return p
        time.sleep(0.01)
    p.kill()
    raise RuntimeError(f"{binary} did not create {sock}")


def engine_cpu_mbs(path):
    """The devices' own 'MB/s of CPU time' lines (logged at disconnect)."""
    vals = []
    for line in open(path, errors="replace"):
        if "engine:" in line and "MB/s of CPU time" in line:
            vals.append(float(line.split("device CPU ")[1].split(", ")[1].split(" MB/s")[0]))
    return vals


def run_case(vpcie, detector, tmp, case, nice):
    name, dargs, qargs, nbytes, floor = case
    socks, procs = [], []
    logpath = os.path.join(tmp, "devices.log")
    if os.path.exists(logpath):
        os.unlink(logpath)
    log = open(logpath, "ab")
    try:
        for i in range(2 if dargs == "two" else 1):
            s = os.path.join(tmp, f"d{i}.sock")
            procs.append(start_device(detector, s, [] if dargs == "two" else dargs, log))
            socks.append(s)
        cmd = ["nice", "-n", str(nice)] if nice else []
        cmd += [vpcie, "daq", "--json"]
        for s in socks:
            cmd += ["--socket", s]
        cmd += qargs
        cmd += ["--bytes", str(nbytes)] if nbytes else ["--frames", "1000000"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        lines = r.stdout.strip().splitlines()
        if r.returncode != 0 or len(lines) < 2:
            raise RuntimeError(f"{name}: {' '.join(cmd)}: exit {r.returncode}: "
                               f"{r.stderr.strip()[-300:]}")
        d = json.loads(lines[-2])
        d["last_line"] = lines[-1]
        d["floor"] = d["memcpy_mb_per_s"] if floor == "memcpy" else d["crc32_mb_per_s"]
        d["floor_name"] = floor
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
        log.close()
    eng = engine_cpu_mbs(logpath)
    # Several devices or channels: each engine's figure; the mean per engine.
    d["engine_mb_per_cpu_s"] = statistics.mean(eng) if eng else 0
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="less data per run")
    ap.add_argument("--only", default="", help="comma-separated name prefixes")
    ap.add_argument("--nice", type=int, default=0, help="run daq under nice -n N")
    ap.add_argument("--json", action="store_true", help="raw runs as JSON")
    a = ap.parse_args()
    vpcie = os.path.join(a.build, "tools", "vpcie", "vpcie")
    detector = os.path.join(a.build, "devices", "detector", "vpcie-detector")
    todo = [c for c in cases(a.quick)
            if not a.only or any(c[0].startswith(p) for p in a.only.split(","))]
    runs = {c[0]: [] for c in todo}
    tmp = tempfile.mkdtemp(prefix="vpcie-daq-bench.")
    bad = 0
    try:
        for rnd in range(a.rounds):
            for c in todo:
                d = run_case(vpcie, detector, tmp, c, a.nice)
                if d["lost"] or d["corrupted"]:
                    print(f"{c[0]} round {rnd}: {d['last_line']}", file=sys.stderr)
                    bad += 1
                runs[c[0]].append(d)
                print(f"round {rnd + 1}/{a.rounds} {c[0]}: {d['last_line']}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        json.dump(runs, sys.stdout, indent=1)
        print()
        return 1 if bad else 0
    print(f"vpcie daq, medians of {a.rounds} rounds (ratio: per run, then median)\n")
    print("| case | MB/s | frames/s | interrupts/s | floor | floor MB/s | ratio "
          "| engine MB/CPU-s | memcpy MB/CPU-s | CPU ratio |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for name, rs in runs.items():
        med = lambda k: statistics.median(r[k] for r in rs)
        ratio = statistics.median(r["mb_per_s"] / r["floor"] for r in rs if r["floor"] > 0)
        irq = statistics.median(r["interrupts"] / r["seconds"] for r in rs if r["seconds"] > 0)
        cpu = [r["engine_mb_per_cpu_s"] / r["memcpy_mb_per_cpu_s"] for r in rs
               if r["memcpy_mb_per_cpu_s"] > 0 and r["engine_mb_per_cpu_s"] > 0]
        cpu_ratio = f"{100 * statistics.median(cpu):.0f}%" if cpu else "-"
        print(f"| {name} | {med('mb_per_s'):.0f} | {med('frames_per_s'):.0f} | {irq:.0f} | "
              f"{rs[0]['floor_name']} | {med('floor'):.0f} | {100 * ratio:.0f}% | "
              f"{med('engine_mb_per_cpu_s'):.0f} | {med('memcpy_mb_per_cpu_s'):.0f} | "
              f"{cpu_ratio} |")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
