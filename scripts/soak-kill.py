#!/usr/bin/env python3
"""kill -9 soak: the host runtime and vpcie-epf-test under random SIGKILLs.

Each round runs one `vpcie pcitest` (the host runtime) with a batch of
READ/WRITE/COPY cases (seeded sizes; shared-memory DMA or DMA messages;
MSI or legacy interrupts) against a long-lived vpcie-epf-test, and SIGKILLs
one side at a seeded moment. For the survivor it checks:

  device killed  pcitest exits, with the untransferred cases NOT OKAY, at
                 most its --timeout after the kill (never hangs); the time
                 from the kill to its exit is measured. A new device starts.
  host killed    the device logs the lost client (time measured), its fd
                 count is back to its idle count, and it serves the next
                 round (its next client).

Transfers are the OKAY READ/WRITE/COPY lines; the run stops at --transfers.
With a sanitizer build (--build DIR configured with -Db_sanitize=address),
every pcitest that exits and every device that is stopped (SIGTERM at the
end) is leak-checked: any sanitizer report fails the run.

Usage: scripts/soak-kill.py [--transfers N] [--seed S] [--build DIR]
                            [--timeout MS] [--log FILE]
Exit status: 0 every check held, 1 a check failed, 2 usage error.
python3 standard library only.
"""
import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

SIZES = [1, 1024, 4096, 65536, 102400, 1024000]
SAN_RE = re.compile(r"^==\d+==ERROR|^SUMMARY: \w+Sanitizer|runtime error:", re.M)


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid, want=None):
    """The fd count once the lost client's fds are closed (the device logs
    the loss before it closes them): WANT within 0.5 s, or else a count
    that holds for 50 ms."""
    end = time.monotonic() + 0.5
    f = fds(pid)
    while time.monotonic() < end:
        if want is not None and f == want:
            return f
        time.sleep(0.05 if want is None else 0.001)
        g = fds(pid)
        if want is None and g == f:
            return f
        f = g
    return f


class Device:
    """One vpcie-epf-test process; its stderr goes to a file we poll."""

    def __init__(self, exe, sock, logdir, gen):
        self.log = os.path.join(logdir, f"dev{gen}.log")
        try:
            os.unlink(sock)  # a killed device leaves its socket file behind
        except FileNotFoundError:
            pass
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen([exe, "--socket", sock, "--msix", "8"],
                                         stdin=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"device generation {gen} did not come up: {self.text()}")
            time.sleep(0.002)
        self.seen = 0  # "client disconnected" lines already accounted for
        self.seen_clients = 0  # "client negotiated" lines already accounted for

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def lost(self):
        return self.text().count("client disconnected")

    def clients(self):
        return self.text().count("client negotiated")

    def wait_lost(self, timeout_s):
        """Seconds until a new 'client disconnected' line (None: not seen)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            n = self.lost()
            if n > self.seen:
                self.seen = n
                return time.monotonic() - t0
            time.sleep(0.0005)
        return None


def stats(label, values):
    if not values:
        return f"  {label}: none"
    v = sorted(values)
    return (f"  {label}: {len(v)}, median {v[len(v) // 2] * 1000:.1f} ms, "
            f"p99 {v[min(len(v) - 1, len(v) * 99 // 100)] * 1000:.1f} ms, max {v[-1] * 1000:.1f} ms")


def main():
    ap = argparse.ArgumentParser(description="kill -9 soak of vpcie pcitest <-> vpcie-epf-test")
    ap.add_argument("--transfers", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--build", default="build")
    ap.add_argument("--timeout", type=int, default=2000, help="pcitest --timeout (ms)")
    ap.add_argument("--log", default=None, help="per-round log file")
    a = ap.parse_args()
    if a.transfers < 1 or a.timeout < 100:
        ap.error("--transfers >= 1, --timeout >= 100")
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    vpcie = os.path.join(a.build, "tools/vpcie/vpcie")
    epf = os.path.join(a.build, "devices/epf-test/vpcie-epf-test")
    for f in (vpcie, epf):
        if not os.access(f, os.X_OK):
            print(f"soak-kill: missing {f} (build first)", file=sys.stderr)
            return 2
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    os.environ.update(env)
    log = open(a.log, "w") if a.log else None
    timeout_s = a.timeout / 1000
    failures = []

    def fail(msg):
        failures.append(msg)
        print(f"soak-kill: FAIL: {msg}")

    print(f"soak-kill: seed {seed} (repeat with --seed {seed}), {a.transfers} transfers, "
          f"pcitest --timeout {a.timeout} ms")
    with tempfile.TemporaryDirectory(prefix="vpcie-soak.", dir="/tmp") as work:
        sock = os.path.join(work, "epf.sock")
        gen = 1
        dev = Device(epf, sock, work, gen)
        devices = [dev]
        def warm_up(d):
            """Idle fd count of a new device, after a first client came and went."""
            subprocess.run([vpcie, "pcitest", "--socket", sock, "-i", "1", "-r", "-s", "4096"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            if d.wait_lost(5) is None:
                raise RuntimeError("warm-up: the device did not report its first client's end")
            d.seen_clients = d.clients()
            return settled_fds(d.proc.pid, idle)

        idle = None
        idle = warm_up(dev)
        det_dev, det_dev_early, det_host = [], [], []
        rounds = xfers = no_kill = fd_checks = early = served_by_next = 0
        t_start = time.monotonic()
        while xfers < a.transfers and not failures:
            rounds += 1
            n = rng.randint(10, 40)
            cases = ["-i", str(rng.choice([0, 1]))]
            cases += [rng.choice(["-r", "-w", "-c"]) for _ in range(n)]
            size = rng.choice(SIZES)
            shared = ["--no-shared"] if rng.random() < 0.25 else []
            victim = rng.choice(["device", "host"])
            delay = rng.uniform(0, 0.100)
            cmd = [vpcie, "pcitest", "--socket", sock, "--timeout", str(a.timeout),
                   "-s", str(size)] + shared + cases
            client = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
            time.sleep(delay)
            killed = "none"
            t0 = time.monotonic()
            if client.poll() is None:
                if victim == "device":
                    dev.proc.kill()
                    killed = "device"
                else:
                    client.kill()
                    killed = "host"
            if killed == "device":
                # The client's exit is timed by a thread while the new device
                # starts (a client still connecting is served by it).
                exit_at = []
                waiter = threading.Thread(target=lambda: (client.wait(), exit_at.append(time.monotonic())))
                waiter.start()
                dev.proc.wait()
                connected = dev.clients() > dev.seen_clients
                gen += 1
                dev = Device(epf, sock, work, gen)
                devices.append(dev)
            try:
                out, _ = client.communicate(timeout=60 if killed != "device" else 3 * timeout_s + 5)
            except subprocess.TimeoutExpired:
                client.kill()
                out, _ = client.communicate()
                fail(f"round {rounds}: pcitest hung (killed={killed})")
            t1 = time.monotonic()
            out = out.decode(errors="replace")
            st = client.returncode
            if killed == "device":
                waiter.join()
                t1 = exit_at[0] if exit_at else t1
                if connected:
                    det_dev.append(t1 - t0)
                    if t1 - t0 > timeout_s + 0.5:
                        fail(f"round {rounds}: pcitest noticed the dead device after {(t1 - t0) * 1000:.0f} ms")
                    if st == 0 and "NOT OKAY" in out:
                        fail(f"round {rounds}: pcitest exited 0 with NOT OKAY cases")
                else:
                    # Killed before this client's VERSION reached it: the
                    # client failed at once (reset connection) or retried
                    # connecting and was served by the new device.
                    det_dev_early.append(t1 - t0)
                    if st == 0:
                        served_by_next += 1
                # the new device's previous client was this round's, if any
                dev.wait_lost(0.2 if dev.clients() else 0)
                dev.seen = dev.lost()
                f = warm_up(dev)
                if f != idle:
                    fail(f"device generation {gen}: {f} fds when idle, generation 1 had {idle}")
            else:
                d = dev.wait_lost(timeout_s * 2)
                clients = dev.clients()
                connected = clients > dev.seen_clients
                dev.seen_clients = clients
                if d is None and connected:
                    fail(f"round {rounds}: the device did not report the lost client")
                elif d is None:
                    early += 1  # killed before its VERSION reached the device
                elif killed == "host":
                    det_host.append(time.monotonic() - t0)
                if killed == "none":
                    no_kill += 1
                    if st != 0:
                        fail(f"round {rounds}: pcitest failed without a kill (exit {st}): "
                             + next((ln for ln in out.splitlines() if "NOT OKAY" in ln), out[-300:]))
                if dev.proc.poll() is not None:
                    fail(f"round {rounds}: the device died: {dev.text()[-500:]}")
                    break
                fd_checks += 1
                f = settled_fds(dev.proc.pid, idle)
                if f != idle:
                    fail(f"round {rounds}: the device has {f} fds after its client left, {idle} when idle")
            if killed != "host" and SAN_RE.search(out):
                fail(f"round {rounds}: sanitizer report from pcitest:\n{out[-2000:]}")
            got = sum(1 for ln in out.splitlines()
                      if re.match(r"(READ|WRITE|COPY) ", ln) and ln.rstrip().endswith("OKAY")
                      and "NOT OKAY" not in ln)
            xfers += got
            if log:
                log.write(f"round {rounds}: {n} cases -s {size} {'messages' if shared else 'shared'} "
                          f"killed={killed} delay={delay * 1e6:.0f}us exit={st} transfers={got} "
                          f"total={xfers} t={(t1 - t0) * 1000:.1f}ms\n")
        elapsed = time.monotonic() - t_start
        # The last device ends properly, so a sanitizer build checks it for leaks.
        dev.proc.send_signal(signal.SIGTERM)
        try:
            dev.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            dev.proc.kill()
            dev.proc.wait()
            fail("the last device ignored SIGTERM for 10 s")
        for g, d in enumerate(devices, 1):
            if SAN_RE.search(d.text()):
                fail(f"device generation {g}: sanitizer report:\n{d.text()[-2000:]}")
        if dev.proc.returncode not in (0, -signal.SIGTERM):
            fail(f"the last device exited with {dev.proc.returncode} on SIGTERM")
    print(f"soak-kill: {rounds} rounds, {xfers} transfers in {elapsed:.0f} s; {gen} device processes")
    print(stats("device killed -> pcitest exited (failing the rest)", det_dev))
    print(stats("device killed before the client's VERSION -> pcitest ended", det_dev_early))
    print(f"    of which served by the restarted device (exit 0): {served_by_next}")
    print(stats("host killed -> device reported the lost client", det_host))
    print(f"  host killed before its VERSION reached the device: {early}")
    print(f"  rounds where the batch ended before the kill: {no_kill}; device fd count "
          f"checked {fd_checks} times, idle {idle}")
    if failures:
        print(f"soak-kill: FAILED ({len(failures)} failures, seed {seed})")
        return 1
    print("soak-kill: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
