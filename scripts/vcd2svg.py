#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Draw signals of a VCD file (e.g. from --wave) as an SVG timing diagram.

  scripts/vcd2svg.py FILE.vcd OUT.svg [--signals a,b,c] [--from T] [--to T]
                     [--around SIGNAL[:N]] [--clock clk]

--around SIGNAL[:N] picks the window: from a few cycles before the N-th
(default first) rise of SIGNAL until the design's busy output falls after
it. Times are in the file's units. One-bit signals are drawn as lines,
vectors as boxes with their hex value. Used for the picture in docs/rtl.md.
"""
import argparse
import sys
from xml.sax.saxutils import escape

DEFAULT = ("clk,req_en,req_wr,req_addr,req_data,rep_en,busy,mrd_en,mrd_rdy,mrd_addr,mrd_len,"
           "cpl_en,cpl_rdy,cpl_data,cpl_last,mwr_en,mwr_rdy,mwr_addr,mwr_data,mwr_size,"
           "msi_en,msi_rdy,msi_vec")


def parse(path, wanted):
    """Return ({name: width}, {name: [(time, value-int-or-None)]}) for wanted names."""
    ids, width, changes = {}, {}, {}
    t = 0
    in_defs = True
    with open(path, encoding="ascii", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if in_defs:
                if line.startswith("$var"):
                    p = line.split()
                    name = p[4]
                    if name in wanted and name not in width:
                        ids.setdefault(p[3], []).append(name)
                        width[name] = int(p[2])
                        changes[name] = []
                elif line.startswith("$enddefinitions"):
                    in_defs = False
                continue
            if line[0] == "#":
                t = int(line[1:])
            elif line[0] in "01xzXZ":
                for n in ids.get(line[1:], ()):
                    changes[n].append((t, int(line[0]) if line[0] in "01" else None))
            elif line[0] in "bB":
                val, code = line[1:].split()
                v = None if any(c in val for c in "xzXZ") else int(val, 2)
                for n in ids.get(code, ()):
                    changes[n].append((t, v))
    return width, changes


def value_at(ch, t):
    v = None
    for ct, cv in ch:
        if ct > t:
            break
        v = cv
    return v


def window(changes, around, clock):
    name, _, nth = around.partition(":")
    nth = int(nth or 1)
    rises = [t for (t, v), (_, pv) in zip(changes[name][1:], changes[name]) if v == 1 and pv != 1]
    if len(rises) < nth:
        sys.exit(f"vcd2svg: {name} rises {len(rises)} times, not {nth}")
    start = rises[nth - 1]
    period = 10
    if clock in changes and len(changes[clock]) > 2:
        ups = [t for t, v in changes[clock] if v == 1]
        if len(ups) > 1:
            period = ups[1] - ups[0]
    end = start + 40 * period
    if "busy" in changes:
        falls = [t for t, v in changes["busy"] if t > start and v == 0]
        if falls:
            end = falls[0] + 2 * period
    return start - 3 * period, end, period


def draw(width, changes, names, t0, t1, out):
    lw, row, h = 110, 22, 14
    px = max(2.0, min(14.0, 900.0 / max(1, t1 - t0)))
    w = lw + int((t1 - t0) * px) + 10
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{row * len(names) + 10}" '
           'font-family="monospace" font-size="10">',
           f'<rect width="{w}" height="{row * len(names) + 10}" fill="white"/>']
    for i, n in enumerate(names):
        y = 5 + i * row
        svg.append(f'<text x="4" y="{y + h - 3}">{escape(n)}</text>')
        pts = [(t0, value_at(changes[n], t0))] + [(t, v) for t, v in changes[n] if t0 < t < t1]
        pts.append((t1, None))
        for (ta, va), (tb, _) in zip(pts, pts[1:]):
            xa, xb = lw + (ta - t0) * px, lw + (tb - t0) * px
            if width[n] == 1:
                yy = y if va == 1 else y + h
                colour = "#c00" if va is None else "#036"
                svg.append(f'<line x1="{xa:.1f}" y1="{yy}" x2="{xb:.1f}" y2="{yy}" stroke="{colour}"/>')
                svg.append(f'<line x1="{xb:.1f}" y1="{y}" x2="{xb:.1f}" y2="{y + h}" stroke="#036" '
                           'stroke-width="0.5"/>')
            else:
                svg.append(f'<polygon points="{xa + 1:.1f},{y + h / 2} {xa + 3:.1f},{y} {xb - 1:.1f},{y} '
                           f'{xb + 1:.1f},{y + h / 2} {xb - 1:.1f},{y + h} {xa + 3:.1f},{y + h}" '
                           'fill="#eef" stroke="#036" stroke-width="0.7"/>')
                label = "x" if va is None else f"{va:x}"
                room = int((xb - xa - 6) / 6)
                if room >= 1:
                    if len(label) > room:
                        label = label[:max(1, room - 1)] + "…"
                    svg.append(f'<text x="{xa + 4:.1f}" y="{y + h - 3}">{escape(label)}</text>')
    svg.append("</svg>")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(svg) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vcd")
    ap.add_argument("svg")
    ap.add_argument("--signals", default=DEFAULT)
    ap.add_argument("--from", dest="t0", type=int)
    ap.add_argument("--to", dest="t1", type=int)
    ap.add_argument("--around")
    ap.add_argument("--clock", default="clk")
    a = ap.parse_args()
    names = [n for n in a.signals.split(",") if n]
    width, changes = parse(a.vcd, set(names) | {"busy", a.clock})
    missing = [n for n in names if n not in width]
    if missing:
        sys.exit(f"vcd2svg: not in {a.vcd}: {', '.join(missing)}")
    if a.around:
        t0, t1, _ = window(changes, a.around, a.clock)
    else:
        t0 = a.t0 if a.t0 is not None else 0
        t1 = a.t1 if a.t1 is not None else t0 + 400
    t0, t1 = (a.t0 if a.t0 is not None else t0), (a.t1 if a.t1 is not None else t1)
    if t1 <= t0:
        sys.exit("vcd2svg: empty window")
    draw(width, changes, names, t0, t1, a.svg)


if __name__ == "__main__":
    main()
