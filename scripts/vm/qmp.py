#!/usr/bin/env python3
"""Send one QMP command to a running QEMU and print its answer.

Usage: qmp.py SOCKET COMMAND [ARGS_JSON] [--wait-event NAME] [--timeout S]

  SOCKET        the QMP unix socket (scripts/vm/run --qmp PATH)
  COMMAND       a QMP command, e.g. query-status, device_del, device_add
  ARGS_JSON     its arguments as a JSON object, e.g. '{"id":"vdev0"}'
  --wait-event NAME
                after the command succeeded, wait for event NAME (e.g.
                DEVICE_DELETED); with a "id" argument only the event whose
                data.device is that id counts. Prints the event.
  --timeout S   give up after S seconds in total (default 30)

Prints the command's "return" value as JSON on stdout. Exit status: 0 done,
1 QMP error reply (its class and description on stderr), 3 timeout,
2 usage error or no QEMU at SOCKET. python3 standard library only.
"""
import json
import socket
import sys
import time


def fail(code, text):
    print(f"qmp: {text}", file=sys.stderr)
    sys.exit(code)


class Qmp:
    def __init__(self, path, deadline):
        self.deadline = deadline
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            self.sock.connect(path)
        except OSError as e:
            fail(2, f"cannot connect to {path}: {e}")
        self.buf = b""
        self.events = []

    def read(self):
        """Next JSON object from QEMU (raises TimeoutError at the deadline)."""
        while b"\n" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout as e:
                raise TimeoutError from e
            if not chunk:
                fail(2, "QEMU closed the QMP connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            obj = json.loads(line)
        except ValueError:
            fail(2, f"not JSON from QEMU: {line[:200]!r}")
        if not isinstance(obj, dict):
            fail(2, f"unexpected QMP message: {line[:200]!r}")
        return obj

    def execute(self, cmd, args=None):
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            obj = self.read()
            if "event" in obj:
                self.events.append(obj)
            elif "return" in obj:
                return obj["return"]
            elif "error" in obj:
                err = obj["error"]
                fail(1, f"{cmd}: {err.get('class')}: {err.get('desc')}")

    def wait_event(self, name, device):
        while True:
            obj = self.events.pop(0) if self.events else self.read()
            if obj.get("event") != name:
                continue
            data = obj.get("data") or {}
            if device is None or data.get("device") == device:
                return obj


def main(argv):
    pos, wait, timeout = [], None, 30.0
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__)
            return 0
        if a in ("--wait-event", "--timeout"):
            if i + 1 >= len(argv):
                fail(2, f"{a} needs a value")
            if a == "--wait-event":
                wait = argv[i + 1]
            else:
                try:
                    timeout = float(argv[i + 1])
                except ValueError:
                    fail(2, f"--timeout: not a number: {argv[i + 1]}")
            i += 2
            continue
        pos.append(a)
        i += 1
    if len(pos) not in (2, 3):
        fail(2, "usage: qmp.py SOCKET COMMAND [ARGS_JSON] [--wait-event NAME] [--timeout S]")
    args = None
    if len(pos) == 3:
        try:
            args = json.loads(pos[2])
        except ValueError as e:
            fail(2, f"ARGS_JSON: {e}")
        if not isinstance(args, dict):
            fail(2, "ARGS_JSON must be a JSON object")
    q = Qmp(pos[0], time.monotonic() + timeout)
    try:
        greeting = q.read()
        if "QMP" not in greeting:
            fail(2, "no QMP greeting")
        q.execute("qmp_capabilities")
        ret = q.execute(pos[1], args)
        print(json.dumps(ret))
        if wait:
            ev = q.wait_event(wait, args.get("id") if args else None)
            print(json.dumps(ev))
    except TimeoutError:
        fail(3, f"timeout after {timeout:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
