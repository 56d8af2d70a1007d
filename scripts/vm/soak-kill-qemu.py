#!/usr/bin/env python3
"""kill -9 soak of QEMU <-> vpcie-epf-test, with an unmodified Linux guest.

The QEMU half of scripts/soak-kill.py (whose Device class, fd and statistics
helpers it reuses). Each round boots the provisioned guest (QEMU 11.1 under
TCG, scripts/vm/run) with vfio-user-pci attached to a long-lived
vpcie-epf-test; the guest (scripts/vm/guest-soak.sh) runs pcitest transfers
back to back with the pci_endpoint_test driver: READ/WRITE/COPY, seeded sizes
of 1 KiB..1 MiB, a quarter with -d, MSI or MSI-X per round, one console line
per transfer. After a seeded number of transfers plus a seeded 0-200 ms, one
side is SIGKILLed:

  QEMU killed    the device logs the lost client within --timeout (time
                 measured), its fd count returns to its idle count, it stays
                 up and serves the next round's QEMU.
  device killed  what QEMU does is recorded: whether it logs the loss (time
                 measured), exits or aborts (its message), whether the guest's
                 pcitest fails or stays waiting for the completion interrupt,
                 and whether QEMU still answers QMP (it must: a QEMU that
                 neither exits nor answers is a hang). Then QEMU is stopped, a
                 new device starts and its idle fd count is checked.

A round that hangs (no guest progress for --stall s before the kill, a run
that does not end after QEMU is stopped) fails the run. With a sanitizer
build (--build DIR configured with -Db_sanitize=address), every device is
checked for sanitizer reports and the last one is stopped with SIGTERM so
LeakSanitizer runs.

Usage: scripts/vm/soak-kill-qemu.py [--transfers N] [--seed S] [--build DIR]
           [--per-round N] [--timeout S] [--cache DIR] [--keep-logs DIR]
Exit status: 0 every check held, 1 a check failed, 2 usage error,
77 the VM cache cannot be provisioned. python3 standard library only.
"""
import argparse
import collections
import importlib.util
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "soak_kill", os.path.join(HERE, "..", "soak-kill.py"))
sk = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sk)

SIZES = [1024, 4096, 16384, 65536, 102400, 262144, 1048576]
IRQS = {1: "MSI", 2: "MSI-X"}


class Console:
    """The guest's serial log, read as it grows."""

    def __init__(self, path):
        self.path, self.off, self.part = path, 0, ""
        self.xfers = 0
        self.begin = self.end = False
        self.fail = self.error = None

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return
        self.off += len(data)
        lines = (self.part + data.decode(errors="replace")).split("\n")
        self.part = lines.pop()
        for ln in lines:
            ln = ln.strip("\r")
            if ln.startswith("SOAK-XFER "):
                self.xfers += 1
            elif ln.startswith("SOAK-BEGIN"):
                self.begin = True
            elif ln.startswith("SOAK-END"):
                self.end = True
            elif ln.startswith("SOAK-FAIL ") and self.fail is None:
                self.fail = ln
            elif ln.startswith("SOAK-ERROR ") and self.error is None:
                self.error = ln


def alive(pid):
    """PID exists with a thread still running: a SIGKILLed QEMU's main thread
    turns zombie at once, its files (the socket) close with its last thread."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                return True
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except (FileNotFoundError, IndexError):
        return False


def size_of(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def qemu_kind(text):
    """One QEMU log line with its variable parts (paths, numbers) masked."""
    t = re.sub(r"^qemu-system-\S+: ", "", text.strip())
    t = re.sub(r"vfio-user:[^:]*:", "vfio-user:", t)
    t = re.sub(r"0x[0-9a-f]+|\b\d+\b", "N", t)
    return t[:140]


def main():
    ap = argparse.ArgumentParser(
        description="kill -9 soak of QEMU (vfio-user-pci, Linux guest pcitest) <-> vpcie-epf-test")
    ap.add_argument("--transfers", type=int, default=10000, help="stop at this many guest transfers")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--build", default="build", help="meson build dir (an ASan one checks leaks)")
    ap.add_argument("--per-round", type=int, default=500,
                    help="mean transfers before a kill (the guest gets twice as many cases)")
    ap.add_argument("--timeout", type=float, default=5.0,
                    help="s the device has to report a killed QEMU")
    ap.add_argument("--observe", type=float, default=10.0,
                    help="s to watch QEMU after the device is killed (QEMU's x-msg-timeout is 5 s)")
    ap.add_argument("--stall", type=float, default=120.0,
                    help="s without guest progress before the kill that count as a hang")
    ap.add_argument("--cache", default=os.environ.get("VPCIE_VM_CACHE",
                                                      os.path.expanduser("~/.cache/vpcie-vm")))
    ap.add_argument("--keep-logs", default=None, help="keep every round's logs in this directory")
    a = ap.parse_args()
    if a.transfers < 1 or a.per_round < 1 or a.timeout <= 0 or a.observe <= 0 or a.stall <= 0:
        ap.error("--transfers, --per-round >= 1; --timeout, --observe, --stall > 0")
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    build = os.path.abspath(a.build)
    vpcie = os.path.join(build, "tools/vpcie/vpcie")
    epf = os.path.join(build, "devices/epf-test/vpcie-epf-test")
    for f in (vpcie, epf):
        if not os.access(f, os.X_OK):
            print(f"soak-kill-qemu: missing {f} (build first)", file=sys.stderr)
            return 2
    prov = subprocess.run([os.path.join(HERE, "provision.sh"), "--cache", a.cache, "--quiet"],
                          check=False)
    if prov.returncode != 0:
        print(f"soak-kill-qemu: VM provisioning failed (exit {prov.returncode})", file=sys.stderr)
        return 77 if prov.returncode == 77 else 1
    os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    failures = []

    def fail(msg):
        failures.append(msg)
        print(f"soak-kill-qemu: FAIL: {msg}", flush=True)

    print(f"soak-kill-qemu: seed {seed} (repeat with --seed {seed}), {a.transfers} transfers, "
          f"~{a.per_round} per round, device {epf}", flush=True)
    work = tempfile.mkdtemp(prefix="vpcie-qsoak.", dir="/tmp")
    logroot = os.path.abspath(a.keep_logs) if a.keep_logs else os.path.join(work, "logs")
    os.makedirs(logroot, exist_ok=True)
    sock = os.path.join(work, "epf.sock")
    gen = 1
    dev = sk.Device(epf, sock, logroot, gen)
    devices = [dev]

    def warm_up(d, want):
        """Idle fd count of a new device, after a first (vpcie pcitest) client."""
        subprocess.run([vpcie, "pcitest", "--socket", sock, "-r", "-s", "4096"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        if d.wait_lost(5) is None:
            raise RuntimeError("warm-up: the device did not report its first client's end")
        d.seen_clients = d.clients()
        return sk.settled_fds(d.proc.pid, want)

    idle = warm_up(dev, None)
    det_dev, det_dev_gone, qemu_exit, qemu_react, boots = [], [], [], [], []
    outcomes = collections.Counter()
    qemu_msgs = collections.Counter()
    rounds = xfers = no_kill = fd_checks = 0
    kills = collections.Counter()
    run_exe = os.path.join(HERE, "run")
    t_start = time.monotonic()
    run = None
    try:
        while xfers < a.transfers and not failures:
            rounds += 1
            rdir = os.path.join(logroot, f"round{rounds}")
            os.makedirs(rdir, exist_ok=True)
            n_cases = 2 * a.per_round
            cases = os.path.join(rdir, "soak-cases")
            case_list = []
            for _ in range(n_cases):
                op = rng.choice(["-r", "-w", "-c"])
                dma = " -d" if rng.random() < 0.25 else ""
                case_list.append(f"{op}{dma} -s {rng.choice(SIZES)}")
            with open(cases, "w") as f:
                f.write("".join(c + "\n" for c in case_list))
            irq = rng.choice(list(IRQS))
            victim = rng.choice(["qemu", "device"])
            kill_after = rng.randint(1, n_cases + n_cases // 10)  # > n_cases: no kill
            delay = rng.uniform(0, 0.200)
            pidfile = os.path.join(work, "qemu.pid")
            qmp = os.path.join(work, "qmp.sock")
            for p in (pidfile, qmp):
                if os.path.exists(p):
                    os.unlink(p)
            cmd = [run_exe, "--cache", a.cache, "--quiet", "--timeout", "86400",
                   "--log-dir", rdir, "--socket", sock, "--qmp", qmp,
                   "--qemu-arg", "-pidfile", "--qemu-arg", pidfile,
                   "--file", os.path.join(HERE, "guest-soak.sh") + ":/opt/",
                   "--file", cases + ":/opt/soak-cases", "--load", "pci_endpoint_test",
                   "--", "sh", "/opt/guest-soak.sh", "/opt/soak-cases", str(irq)]
            with open(os.path.join(rdir, "run.out"), "w") as out:
                run = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
            con = Console(os.path.join(rdir, "console.log"))
            qlog = os.path.join(rdir, "qemu.log")
            t_round = time.monotonic()
            last_progress, last_n = t_round, 0
            t_first = None
            killed = None
            while True:
                con.poll()
                now = time.monotonic()
                if con.xfers != last_n:
                    last_n, last_progress = con.xfers, now
                if t_first is None and con.xfers:
                    t_first = now - t_round
                if con.error or con.fail:
                    fail(f"round {rounds}: before any kill: {con.error or con.fail}")
                    break
                if run.poll() is not None:
                    con.poll()
                    if con.end:
                        no_kill += 1
                    else:
                        fail(f"round {rounds}: the guest run ended (exit {run.returncode}) "
                             f"after {con.xfers} transfers without a kill: "
                             + open(os.path.join(rdir, "run.out"), errors="replace").read()[-600:])
                    break
                if now - last_progress > a.stall:
                    fail(f"round {rounds}: no guest progress for {a.stall:.0f} s before the kill "
                         f"({con.xfers} transfers, begun={con.begin})")
                    break
                if con.xfers >= kill_after:
                    time.sleep(delay)
                    try:
                        with open(pidfile) as f:
                            qpid = int(f.read().split()[0])
                    except (OSError, ValueError, IndexError):
                        fail(f"round {rounds}: no QEMU pid in {pidfile}")
                        break
                    if victim == "qemu":
                        os.kill(qpid, signal.SIGKILL)
                    else:
                        qlog_at = size_of(qlog)
                        dev.proc.kill()
                    t0 = time.monotonic()
                    con.poll()
                    at = con.xfers  # transfers done at the kill: case at+1 was running
                    killed = victim
                    kills[victim] += 1
                    break
                time.sleep(0.02)
            boots.append(t_first)

            if killed == "qemu":
                # QEMU's socket closes as its last thread exits: both that
                # moment and the device's report are timed.
                gone = lost = None
                while time.monotonic() - t0 < a.timeout and lost is None:
                    now = time.monotonic()
                    if gone is None and not alive(qpid):
                        gone = now - t0
                    if dev.lost() > dev.seen:
                        dev.seen = dev.lost()
                        lost = now - t0
                    time.sleep(0.0005)
                dev.seen_clients = dev.clients()
                if lost is None:
                    fail(f"round {rounds}: the device did not report the killed QEMU "
                         f"within {a.timeout} s")
                else:
                    det_dev.append(lost)
                    if gone is not None:
                        det_dev_gone.append(max(0.0, lost - gone))
                    qemu_exit.append(gone if gone is not None else lost)
                if dev.proc.poll() is not None:
                    fail(f"round {rounds}: the device died: {dev.text()[-500:]}")
                    break
                fd_checks += 1
                f = sk.settled_fds(dev.proc.pid, idle)
                if f != idle:
                    fail(f"round {rounds}: the device has {f} fds after QEMU was killed, {idle} when idle")
                outcome = "-"
            elif killed == "device":
                dev.proc.wait()
                react = exited = None
                while time.monotonic() - t0 < a.observe:
                    con.poll()
                    if react is None and size_of(qlog) > qlog_at:
                        react = time.monotonic() - t0
                    if exited is None and not alive(qpid):
                        exited = time.monotonic() - t0
                    if exited is not None and react is not None:
                        break
                    time.sleep(0.005)
                con.poll()
                if react is not None:
                    qemu_react.append(react)
                with open(qlog, errors="replace") as f:
                    f.seek(qlog_at)
                    new = [ln for ln in f.read().splitlines() if ln.strip()]
                for k in dict.fromkeys(qemu_kind(ln) for ln in new):
                    qemu_msgs[k] += 1
                if exited is not None:
                    why = next((ln for ln in new if "Assertion" in ln or "abort" in ln.lower()),
                               new[-1] if new else "no message")
                    outcome = ("QEMU aborted: " if "Assertion" in why else "QEMU exited: ") + qemu_kind(why)
                else:
                    q = subprocess.run([sys.executable, os.path.join(HERE, "qmp.py"), qmp,
                                        "query-status", "--timeout", "5"],
                                       capture_output=True, text=True, check=False)
                    if q.returncode != 0 or '"running"' not in q.stdout:
                        outcome = "QEMU alive but not answering QMP"
                        fail(f"round {rounds}: QEMU did not answer query-status after the device "
                             f"was killed: {q.stdout.strip()} {q.stderr.strip()}")
                    elif con.fail:
                        outcome = "QEMU running; the guest's pcitest failed (NOT OKAY) and the guest went on"
                    else:
                        outcome = ("QEMU running (QMP answers); the guest's pcitest waits for "
                                   "its completion interrupt (no timeout in the 6.1 driver)")
                outcomes[outcome] += 1
                if react is None and exited is None:
                    outcomes["  of which QEMU logged nothing within --observe"] += 1
            else:
                outcome = "-"
            # End the run (QEMU is stopped by run's own clean-up) and never wait forever.
            if run.poll() is None:
                run.send_signal(signal.SIGTERM)
            try:
                run.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
                fail(f"round {rounds}: scripts/vm/run did not end 30 s after SIGTERM")
            run = None
            con.poll()
            xfers += con.xfers
            if killed == "device":
                gen += 1
                dev = sk.Device(epf, sock, logroot, gen)
                devices.append(dev)
                f = warm_up(dev, idle)
                if f != idle:
                    fail(f"device generation {gen}: {f} fds when idle, generation 1 had {idle}")
            elif dev.proc.poll() is None and killed is None:
                # the guest powered off: QEMU closed its connection itself
                if dev.wait_lost(a.timeout) is None:
                    fail(f"round {rounds}: the device did not report QEMU's orderly exit")
                dev.seen_clients = dev.clients()
                fd_checks += 1
                f = sk.settled_fds(dev.proc.pid, idle)
                if f != idle:
                    fail(f"round {rounds}: the device has {f} fds after QEMU exited, {idle} when idle")
            print(f"round {rounds}: {IRQS[irq]}, kill {killed or 'none'} after {kill_after}+"
                  f"{delay * 1000:.0f}ms: {con.xfers} transfers (total {xfers}, "
                  f"{time.monotonic() - t_start:.0f} s)"
                  + (f"; in case {at + 1} ({case_list[at] if at < n_cases else '-'})" if killed else "")
                  + (f"; {outcome}" if killed == "device" else ""),
                  flush=True)
    finally:
        if run is not None and run.poll() is None:
            os.killpg(run.pid, signal.SIGTERM)
            try:
                run.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
        elapsed = time.monotonic() - t_start
        # The last round's survivor has no next QEMU: the host runtime is its next client.
        if dev.proc.poll() is None:
            last = subprocess.run([vpcie, "pcitest", "--socket", sock, "-r", "-s", "4096"],
                                  capture_output=True, text=True, check=False)
            if last.returncode != 0:
                fail(f"the device did not serve a client after the last round: {last.stdout[-300:]}")
        dev.proc.send_signal(signal.SIGTERM)
        try:
            dev.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            dev.proc.kill()
            dev.proc.wait()
            fail("the last device ignored SIGTERM for 10 s")
        for g, d in enumerate(devices, 1):
            if sk.SAN_RE.search(d.text()):
                fail(f"device generation {g}: sanitizer report:\n{d.text()[-2000:]}")
        if dev.proc.returncode not in (0, -signal.SIGTERM):
            fail(f"the last device exited with {dev.proc.returncode} on SIGTERM")
        shutil.rmtree(work, ignore_errors=True)

    b = sorted(x for x in boots if x is not None)
    boot = f"{b[len(b) // 2]:.0f} s" if b else "-"
    print(f"soak-kill-qemu: {rounds} rounds, {xfers} guest transfers in {elapsed:.0f} s; "
          f"{gen} device processes; first transfer {boot} after the round began (median: "
          f"initramfs, TCG boot, driver bind)")
    print(f"  kills: QEMU {kills['qemu']}, device {kills['device']}; rounds without a kill: {no_kill}")
    print(sk.stats("QEMU killed -> device reported the lost client", det_dev))
    print(sk.stats("  of which QEMU's own exit (SIGKILL -> last thread gone, or the report if sooner)", qemu_exit))
    print(sk.stats("  QEMU gone -> device reported (0 if it reported first)", det_dev_gone))
    print(f"  device fd count checked {fd_checks} times after QEMU left, idle {idle}; "
          f"{gen - 1} restarted devices checked idle")
    print(sk.stats("device killed -> QEMU's first log line", qemu_react))
    print("  device killed -> QEMU:")
    for k, v in outcomes.most_common():
        print(f"    {v:4d}  {k}")
    print("  QEMU log lines after the device was killed (rounds showing each):")
    for k, v in qemu_msgs.most_common(12):
        print(f"    {v:4d}  {k}")
    if failures:
        print(f"soak-kill-qemu: FAILED ({len(failures)} failures, seed {seed})")
        return 1
    print("soak-kill-qemu: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
