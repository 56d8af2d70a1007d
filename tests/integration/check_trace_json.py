#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Validate `vpcie trace --perfetto` output against the Chrome trace-event
format: a JSON object with a traceEvents list; every event has ph, ts, pid,
tid and name of the right types; ph is one we write (M, X, i); complete
events have a non-negative dur; timestamps never go back on a track.
Then checks what a pcitest DMA read must show: the named tracks (BAR0,
config, DMA, interrupts) and at least one DMA and one interrupt event.
Usage: check_trace_json.py FILE [REQUIRED_TRACK...]; exit 0 ok, 1 not."""
import json
import sys


def fail(msg):
    print("check_trace_json: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        fail("no traceEvents list")
    last = {}
    tracks = {}
    cats = set()
    for i, ev in enumerate(doc["traceEvents"]):
        for key, typ in (("ph", str), ("name", str), ("pid", int), ("tid", int)):
            if not isinstance(ev.get(key), typ):
                fail(f"event {i}: {key} missing or not {typ.__name__}: {ev}")
        if not isinstance(ev.get("ts"), (int, float)) or ev["ts"] < 0:
            fail(f"event {i}: bad ts: {ev}")
        ph = ev["ph"]
        if ph not in ("M", "X", "i"):
            fail(f"event {i}: unexpected ph {ph!r}")
        if ph == "M":
            if ev["name"] not in ("process_name", "thread_name") or \
                    not isinstance(ev.get("args", {}).get("name"), str):
                fail(f"event {i}: bad metadata event: {ev}")
            if ev["name"] == "thread_name":
                tracks[(ev["pid"], ev["tid"])] = ev["args"]["name"]
            continue
        if ph == "X" and (not isinstance(ev.get("dur"), (int, float)) or ev["dur"] < 0):
            fail(f"event {i}: complete event without a valid dur: {ev}")
        if ph == "i" and ev.get("s") not in ("t", "p", "g"):
            fail(f"event {i}: instant event without scope: {ev}")
        key = (ev["pid"], ev["tid"])
        if key not in tracks:
            fail(f"event {i}: track {key} has no thread_name before it")
        if ev["ts"] < last.get(key, 0):
            fail(f"event {i}: ts {ev['ts']} goes back on track {key} (last {last[key]})")
        last[key] = ev["ts"]
        cats.add(ev.get("cat"))
    names = set(tracks.values())
    for want in sys.argv[2:]:
        if want not in names and want not in cats:
            fail(f"no track or category {want!r} (tracks {sorted(names)}, categories {sorted(cats)})")
    print(f"check_trace_json: {len(doc['traceEvents'])} events on {len(tracks)} tracks: ok")


main()
