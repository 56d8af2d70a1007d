#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Judge the guest tests of scripts/vm/test-guest.sh from console logs.

  guest-results.py keys --section NAME FILE
      normalise pcitest output lines (the fake pcitest's or the guest's) to
      one "SECTION KEY RESULT" line each (used to build the expected list)

  guest-results.py epf --expected FILE --console LOG [--msix-console LOG] [--name N]
      per-group verdicts of the epf-pcitest test: GUEST-RESULT lines + detail
      (named N-GROUP; N defaults to epf-pcitest); the sections judged are
      those of the expected list

  guest-results.py cfg --console LOG --label L --host-dump F --host-verbose F
                       --lspci-guest F --lspci-host F
      compare the guest's view of one device's config space with the device's
      own (vpcie lspci after QEMU exited); GUEST-RESULT line + detail
"""
import argparse
import re
import subprocess
import sys

# ----------------------------------------------------------------------------
# pcitest output
# ----------------------------------------------------------------------------
CASE = re.compile(
    r"^(?P<label>BAR[0-5]|SET IRQ TYPE TO (?:LEGACY|MSI-X|MSI)|LEGACY IRQ|"
    r"MSI-X\d+|MSI\d+|(?:READ|WRITE|COPY) \(\s*\d+ bytes\)):\s*(?P<res>\S.*?)\s*$")


def clean(line):
    return line.replace("\r", "").rstrip("\n")


def parse_cases(lines, section="pcitest.sh"):
    """Yield (section, key, ok, raw) for pcitest result lines.

    A key repeats in pcitest.sh ("SET IRQ TYPE TO MSI" twice), so every key
    gets its occurrence number within its section: "SET IRQ TYPE TO MSI#2".
    """
    seen = {}
    for raw in lines:
        line = clean(raw)
        if line.startswith("EPF-SECTION "):
            section = line.split(None, 1)[1].strip()
            continue
        m = CASE.match(line)
        if not m:
            continue
        label = re.sub(r"\(\s+", "(", re.sub(r"\s+", " ", m.group("label")))
        n = seen.get((section, label), 0) + 1
        seen[(section, label)] = n
        yield section, f"{label}#{n}", m.group("res") == "OKAY", line


def group_of(section, key):
    label = key.split("#")[0]
    if label.startswith("BAR"):
        g = "bar"
    elif label.startswith("SET IRQ TYPE"):
        g = "irq-type"
    elif label == "LEGACY IRQ":
        g = "legacy"
    elif label.startswith("MSI-X"):
        g = "msix"
    elif label.startswith("MSI"):
        g = "msi"
    else:
        g = label.split()[0].lower()  # read / write / copy
    return g + "-dma" if section == "dma" else g


def msix_number(key):
    m = re.match(r"MSI-X(\d+)#", key)
    return int(m.group(1)) if m else None


def cmd_keys(args):
    with open(args.file, errors="replace") as fh:
        for section, key, _ok, _raw in parse_cases(fh, args.section):
            print(f"{section}\t{key}")


def cmd_epf(args):
    expected = []
    with open(args.expected) as fh:
        for line in fh:
            section, key = line.rstrip("\n").split("\t")
            expected.append((section, key))
    sections = {s for s, _k in expected}
    name = args.name
    with open(args.console, errors="replace") as fh:
        lines = [clean(x) for x in fh]
    granted = None
    infos = []
    for line in lines:
        if line.startswith("EPF-MSIX-GRANTED "):
            granted = int(line.split()[1])
        elif line.startswith(("EPF-INFO ", "EPF-ERROR ")):
            infos.append(line.split(" ", 1)[1])
    results = {}
    for section, key, ok, raw in parse_cases(lines, section="preamble"):
        if section in sections:
            results[(section, key)] = (ok, raw)
    msix_lines = []
    if args.msix_console:
        with open(args.msix_console, errors="replace") as fh:
            msix_lines = [clean(x) for x in fh]
        for line in msix_lines:
            if line.startswith(("EPF-INFO ", "EPF-ERROR ")):
                infos.append("(MSI-X boot) " + line.split(" ", 1)[1])
        # Cases of the second boot stand in for the deferred ones of pcitest.sh.
        for section, key, ok, raw in parse_cases(msix_lines, section="preamble"):
            if section == "msix":
                results[("pcitest.sh", key)] = (ok, raw)

    for i in infos:
        print(f"  {i}")
    if granted is None and any(msix_number(k) is not None for _s, k in expected):
        print("  the guest never reported its MSI-X capacity (no EPF-MSIX-GRANTED line)")
    if granted is None:
        granted = 2048

    groups = {}   # name -> dict(total, ok, failed[], missing[])
    order = []
    limited = []
    for section, key in expected:
        g = group_of(section, key)
        if g not in groups:
            groups[g] = {"total": 0, "ok": 0, "failed": [], "missing": []}
            order.append(g)
        n = msix_number(key)
        if n is not None and n > granted and (section, key) not in results:
            limited.append(n)
            continue
        st = groups[g]
        st["total"] += 1
        r = results.get((section, key))
        if r is None:
            st["missing"].append(key.split("#")[0])
        elif r[0]:
            st["ok"] += 1
        else:
            st["failed"].append(r[1])
    extra = [k for k in results if k not in set(expected)]

    all_ok = True
    print("  per group (cases from upstream pcitest.sh; -dma: its READ/WRITE/COPY with -d):")
    for g in order:
        st = groups[g]
        good = st["ok"] == st["total"] and st["total"] > 0
        all_ok &= good
        det = f"{st['ok']}/{st['total']} OKAY"
        if st["failed"]:
            det += f", {len(st['failed'])} NOT OKAY: " + "; ".join(
                re.sub(r"\s+", " ", x) for x in st["failed"][:8])
            if len(st["failed"]) > 8:
                det += "; ..."
        if st["missing"]:
            det += f", {len(st['missing'])} missing (never ran): " + ", ".join(st["missing"][:8])
            if len(st["missing"]) > 8:
                det += ", ..."
        print(f"  {name}-{g}: {det}")
    if extra:
        print(f"  note: {len(extra)} result lines not in the expected list: "
              + ", ".join(k for _s, k in extra[:5]))
    total = sum(st["total"] for st in groups.values())
    passed = sum(st["ok"] for st in groups.values())
    print(f"  total: {passed}/{total} cases OKAY; platform-limited MSI-X cases: {len(limited)}"
          + (f" (MSI-X{min(limited)}..MSI-X{max(limited)}: the guest granted {granted} vectors)"
             if limited else ""))
    for g in order:
        st = groups[g]
        good = st["ok"] == st["total"] and st["total"] > 0
        print(f"GUEST-RESULT {name}-{g} {'OK' if good else 'FAIL'}")
    if limited:
        print(f"GUEST-RESULT {name}-msix-platform-limited SKIP")
    return 0 if all_ok else 1


# ----------------------------------------------------------------------------
# config space comparison
# ----------------------------------------------------------------------------
def read_guest(console, label):
    data = bytearray()
    res = []
    bdf = None
    with open(console, errors="replace") as fh:
        for raw in fh:
            line = clean(raw)
            if line.startswith(f"T2-CFG {label} "):
                data += bytes(int(x, 16) for x in line.split()[2:])
            elif line.startswith(f"T2-RES {label} "):
                res.append([int(x, 16) for x in line.split()[2:5]])
            elif line.startswith(f"T2-BDF {label} "):
                bdf = line.split()[2]
    return bytes(data), res, bdf


def read_lspci_dump(path):
    data = bytearray(4096)
    top = 0
    with open(path) as fh:
        for line in fh:
            m = re.match(r"^([0-9a-f]{2,3}): ((?:[0-9a-f]{2} ?){16})$", line.strip())
            if m:
                off = int(m.group(1), 16)
                vals = bytes(int(x, 16) for x in m.group(2).split())
                data[off:off + 16] = vals
                top = max(top, off + 16)
    return bytes(data[:top])


def write_lspci_dump(path, bdf, data):
    with open(path, "w") as fh:
        fh.write(f"{bdf} guest view\n")
        for off in range(0, len(data), 16):
            fh.write(f"{off:02x}: " + " ".join(f"{b:02x}" for b in data[off:off + 16]) + "\n")


def u16(d, o):
    return d[o] | d[o + 1] << 8


def u32(d, o):
    return u16(d, o) | u16(d, o + 2) << 16


def cap_list(d):
    caps, seen = [], set()
    p = d[0x34] & 0xfc if d[0x06] & 0x10 else 0
    while p and p not in seen and p + 1 < len(d):
        seen.add(p)
        caps.append((p, d[p]))
        p = d[p + 1] & 0xfc
    return caps


def ext_cap_list(d):
    caps, seen = [], set()
    p = 0x100
    while len(d) >= 0x104 and p and p not in seen and p + 4 <= len(d):
        seen.add(p)
        h = u32(d, p)
        if h in (0, 0xffffffff):
            break
        caps.append((p, h & 0xffff, (h >> 16) & 0xf))
        p = (h >> 20) & 0xffc
    return caps


CAP_NAMES = {0x01: "PM", 0x05: "MSI", 0x09: "Vendor", 0x10: "PCIe", 0x11: "MSI-X",
             0x03: "VPD", 0x12: "SATA", 0x13: "AF"}
EXT_NAMES = {0x0001: "AER", 0x0003: "DSN", 0x000b: "Vendor", 0x000e: "ARI",
             0x0010: "SR-IOV", 0x000d: "ACS", 0x0018: "LTR", 0x001e: "L1SS"}


def host_bar_sizes(verbose):
    """Region N / Expansion ROM sizes and kinds from `vpcie lspci -v`."""
    out = {}
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    for line in verbose:
        m = re.match(r"\s*(Region (\d)|Expansion ROM).*?\[size=(\d+)([KMG]?)\]", line)
        if not m:
            continue
        n = int(m.group(2)) if m.group(2) else 6
        kind = "rom" if n == 6 else ("io" if "I/O" in line else
                                      ("mem64" if "64-bit" in line else "mem32"))
        if "prefetchable" in line and "non-prefetchable" not in line:
            kind += ",pref"
        out[n] = (int(m.group(3)) * mult[m.group(4)], kind)
    return out


def guest_bar_sizes(res):
    out = {}
    for n, (start, end, flags) in enumerate(res[:7]):
        if not flags or end <= start:
            continue
        kind = "rom" if n == 6 else ("io" if flags & 0x100 else
                                      ("mem64" if flags & 0x100000 else "mem32"))
        if n != 6 and flags & 0x2000:
            kind += ",pref"
        out[n] = (end - start + 1, kind)
    return out


def fmt_size(n):
    for unit, div in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


def lspci_decode(path):
    try:
        p = subprocess.run(["lspci", "-F", path, "-vvv"], capture_output=True,
                           text=True, timeout=20)
        return p.stdout.splitlines()
    except (OSError, subprocess.SubprocessError) as e:
        return [f"(lspci -F failed: {e})"]


def cmd_cfg(args):
    label = args.label
    g, res, bdf = read_guest(args.console, label)
    h = read_lspci_dump(args.host_dump)
    with open(args.host_verbose) as fh:
        hv = fh.read().splitlines()
    problems, explained = [], []
    if len(g) < 64:
        print(f"  {label}: the guest dumped no config space ({len(g)} bytes)")
        print(f"GUEST-RESULT two-devices-config-{label} FAIL")
        return 1
    if len(h) < 64:
        print(f"  {label}: no config dump from the device (vpcie lspci)")
        print(f"GUEST-RESULT two-devices-config-{label} FAIL")
        return 1
    n = min(len(g), len(h))
    print(f"  {label}: guest {bdf or '?'} config {len(g)} bytes (sysfs), device {len(h)} bytes (vpcie lspci -xxxx); comparing {n}")
    write_lspci_dump(args.lspci_guest, bdf[5:] if bdf and len(bdf) > 7 else "00:00.0", g[:n])

    # --- decoded by pciutils, for people --------------------------------------------
    dg, dh = lspci_decode(args.lspci_guest), lspci_decode(args.lspci_host)

    def summary(lines):
        s = {}
        for ln in lines:
            if re.match(r"^[0-9a-f]{2}:[0-9a-f]{2}\.\d ", ln):
                s["device"] = ln.split(" ", 1)[1]
            elif ln.startswith("\tSubsystem:"):
                s["subsystem"] = ln.split(":", 1)[1].strip()
            elif ln.startswith("\tInterrupt:"):
                s["pin"] = ln.split(":", 1)[1].strip().split(" routed")[0]
            m = re.match(r"^\tCapabilities: \[([0-9a-f]+)(?: v\d+)?\] ([^:]*)", ln)
            if m:
                s.setdefault("caps", []).append(f"[{m.group(1)}] {m.group(2).strip()}")
        return s
    sg, sh = summary(dg), summary(dh)
    print(f"    lspci -F (guest):  {sg.get('device')}; Subsystem {sg.get('subsystem')}; Interrupt {sg.get('pin')}")
    print(f"    lspci -F (device): {sh.get('device')}; Subsystem {sh.get('subsystem')}; Interrupt {sh.get('pin')}")
    print(f"    caps (guest):  {', '.join(sg.get('caps', []))}")
    print(f"    caps (device): {', '.join(sh.get('caps', []))}")

    # --- stable identity fields --------------------------------------------------------
    for name, off, width in (("vendor", 0x00, 2), ("device", 0x02, 2), ("revision", 0x08, 1),
                             ("class", 0x09, 3), ("header type", 0x0e, 1),
                             ("subsystem vendor", 0x2c, 2), ("subsystem", 0x2e, 2),
                             ("capability pointer", 0x34, 1), ("interrupt pin", 0x3d, 1)):
        a = int.from_bytes(g[off:off + width], "little")
        b = int.from_bytes(h[off:off + width], "little")
        if name == "header type":  # QEMU owns the multi-function bit
            a, b = a & 0x7f, b & 0x7f
        if a != b:
            problems.append(f"{name}: guest {a:#x}, device {b:#x}")
    # --- capability lists ------------------------------------------------------------
    cg, ch = cap_list(g), cap_list(h)
    if cg != ch:
        problems.append("capability list: guest " + " ".join(f"{o:#x}:{CAP_NAMES.get(i, hex(i))}" for o, i in cg)
                        + " / device " + " ".join(f"{o:#x}:{CAP_NAMES.get(i, hex(i))}" for o, i in ch))
    eg, eh = ext_cap_list(g[:n]), ext_cap_list(h[:n])
    if eg != eh:
        hidden = [c for c in eh if c not in eg]
        problems.append("extended capabilities: guest " + (" ".join(f"{o:#x}:{EXT_NAMES.get(i, hex(i))}v{v}" for o, i, v in eg) or "none")
                        + " / device " + (" ".join(f"{o:#x}:{EXT_NAMES.get(i, hex(i))}v{v}" for o, i, v in eh) or "none")
                        + (f" (hidden from the guest: {hidden})" if hidden else ""))
    print("    capability IDs in order: " + " ".join(f"{o:#x}:{CAP_NAMES.get(i, hex(i))}" for o, i in ch)
          + " | extended: " + (" ".join(f"{o:#x}:{EXT_NAMES.get(i, hex(i))}v{v}" for o, i, v in eh) or "none")
          + ("  (same in guest and device)" if cg == ch and eg == eh else ""))

    # --- BAR kinds and sizes ------------------------------------------------------------------
    gs, hs = guest_bar_sizes(res), host_bar_sizes(hv)
    bars = []
    for b in sorted(set(gs) | set(hs)):
        name = "ROM" if b == 6 else f"BAR{b}"
        if gs.get(b) != hs.get(b):
            problems.append(f"{name}: guest {gs.get(b)}, device {hs.get(b)}")
        else:
            bars.append(f"{name} {hs[b][1]} {fmt_size(hs[b][0])}")
    print("    BARs (guest sysfs resource = device sizing): " + "; ".join(bars))

    # --- every other byte: equal, or a field QEMU/the guest legitimately owns ----------
    allowed = {}  # offset -> reason

    def allow(lo, hi, why):
        for o in range(lo, hi):
            allowed.setdefault(o, why)
    allow(0x04, 0x08, "command/status: guest-driven (decode/bus-master/INTx-disable enables, INTx status)")
    allow(0x0c, 0x0e, "cache line size / latency timer: written by the guest")
    allow(0x3c, 0x3d, "interrupt line: written by the guest's IRQ routing")
    # BAR and ROM addresses: type bits are checked, address bits belong to the guest.
    bar_addr_bytes = set()
    for i in range(6):
        o = 0x10 + 4 * i
        for k in range(4):
            bar_addr_bytes.add(o + k)
    for k in range(4):
        bar_addr_bytes.add(0x30 + k)
    i = 0
    while i < 6:
        o = 0x10 + 4 * i
        if h[o] & 1:  # I/O BAR: bit 0
            kg, kh = g[o] & 0x1, h[o] & 0x1
        else:         # memory BAR: 64-bit and prefetchable bits
            kg, kh = g[o] & 0xf, h[o] & 0xf
        if kg != kh:
            problems.append(f"BAR{i} type bits: guest {kg:#x}, device {kh:#x}")
        i += 2 if (h[o] & 0x7) == 0x4 else 1
    for o in bar_addr_bytes:
        allowed.setdefault(o, "BAR/ROM address: assigned by the guest (type bits compared above)")
    for off, cid in ch:
        if cid == 0x01:    # PM: PMCSR and bridge extension data
            allow(off + 4, off + 8, "PM control/status: guest power state")
        elif cid == 0x05:  # MSI
            allow(off + 2, off + 3, "MSI control: enable and multiple-message-enable, programmed by the guest (QEMU emulates MSI)")
            ctl = u16(h, off + 2)
            end = off + (10 if not ctl & 0x80 else 14) + (10 if ctl & 0x100 else 0)
            allow(off + 4, end, "MSI address/data/mask/pending: programmed by the guest (QEMU emulates MSI)")
        elif cid == 0x11:  # MSI-X
            allow(off + 3, off + 4, "MSI-X control: enable/function-mask, programmed by the guest (QEMU emulates MSI-X)")
        elif cid == 0x10:  # PCI Express
            gt, ht = (g[off + 2] >> 4) & 0xf, (h[off + 2] >> 4) & 0xf
            if gt != ht:
                if ht == 0 and gt == 9:
                    allow(off + 2, off + 3, "PCIe device/port type: Endpoint (0) shown as Root Complex Integrated Endpoint (9): "
                          "QEMU's vfio does so for a device on the root bus of q35 (pcie.0)")
                    allow(off + 0x0c, off + 0x14, "PCIe link cap/control/status: cleared by QEMU for an integrated endpoint (it has no link)")
                    allow(off + 0x2c, off + 0x34, "PCIe link cap2/control2/status2: cleared by QEMU for an integrated endpoint")
                else:
                    problems.append(f"PCIe device/port type: guest {gt}, device {ht}")
            allow(off + 0x08, off + 0x0c, "PCIe device control/status: written by the guest (payload/read-request sizes, error reporting) and status bits")
            allow(off + 0x10, off + 0x14, "PCIe link control/status: written by the guest")
            allow(off + 0x28, off + 0x2c, "PCIe device control 2/status 2: written by the guest")
            allow(off + 0x30, off + 0x34, "PCIe link control 2/status 2: written by the guest")
    diffs = [o for o in range(n) if g[o] != h[o]]
    why_used = {}
    for o in diffs:
        if o in allowed:
            why_used.setdefault(allowed[o], []).append(o)
        else:
            problems.append(f"unexpected difference at {o:#05x}: guest {g[o]:02x}, device {h[o]:02x}")
    same = n - len(diffs)
    print(f"    bytes: {same}/{n} identical, {len(diffs)} differ")
    for why, offs in why_used.items():
        shown = ", ".join(f"{o:#x}:{g[o]:02x}/{h[o]:02x}" for o in offs[:6]) + (" ..." if len(offs) > 6 else "")
        print(f"    explained ({len(offs)} bytes, guest/device): {why}: {shown}")
    if args.verbose:
        import difflib
        for ln in difflib.unified_diff(dh, dg, "device (vpcie lspci)", "guest (sysfs config)", lineterm="", n=0):
            print("    | " + ln)
    for p in problems:
        print(f"    UNEXPECTED: {p}")
    print(f"GUEST-RESULT two-devices-config-{label} {'FAIL' if problems else 'OK'}")
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("keys")
    k.add_argument("--section", required=True)
    k.add_argument("file")
    e = sub.add_parser("epf")
    e.add_argument("--expected", required=True)
    e.add_argument("--console", required=True)
    e.add_argument("--msix-console")
    e.add_argument("--name", default="epf-pcitest")
    c = sub.add_parser("cfg")
    c.add_argument("--console", required=True)
    c.add_argument("--label", required=True)
    c.add_argument("--host-dump", required=True)
    c.add_argument("--host-verbose", required=True)
    c.add_argument("--lspci-guest", required=True)
    c.add_argument("--lspci-host", required=True)
    c.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    if a.cmd == "keys":
        return cmd_keys(a) or 0
    if a.cmd == "epf":
        return cmd_epf(a)
    return cmd_cfg(a)


if __name__ == "__main__":
    sys.exit(main())
