#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile peers on both sides of `vpcie proxy` (run by test_proxy.sh).

  proxy_hostile.py device PORT      a fake device on 127.0.0.1:PORT: answers
                                    VERSION, then replies to the first
                                    request with an id nobody used
  proxy_hostile.py client SOCKET    a client that sends the proxy malformed
                                    fd usage (it must answer with errors and
                                    stay up), then a request the fake device
                                    answers wrongly (the proxy must close us)

Prints one "ok: ..." line per check that held, "bad: ..." otherwise; exit 0
only if every check held.
"""
import array
import json
import os
import socket
import struct
import sys

HDR = struct.Struct("<HHIII")  # msg_id, cmd, size, flags, error
VERSION, DMA_MAP, GET_INFO, SET_IRQS = 1, 2, 4, 8
REPLY, ERROR = 0x1, 0x20
EVENTFD_TRIGGER = (1 << 2) | (1 << 5)  # VFIO_IRQ_SET_DATA_EVENTFD | ACTION_TRIGGER
bad = 0


def check(cond, what):
    global bad
    print(("ok: " if cond else "bad: ") + what, flush=True)
    bad += 0 if cond else 1


def recv_msg(s):
    hdr = b""
    while len(hdr) < HDR.size:
        chunk = s.recv(HDR.size - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    mid, cmd, size, flags, err = HDR.unpack(hdr)
    body = b""
    while len(body) < size - HDR.size:
        chunk = s.recv(size - HDR.size - len(body))
        if not chunk:
            return None
        body += chunk
    return mid, cmd, flags, err, body


def msg(mid, cmd, flags, payload):
    return HDR.pack(mid, cmd, HDR.size + len(payload), flags, 0) + payload


def version_payload(caps):
    return struct.pack("<HH", 0, 1) + json.dumps({"capabilities": caps}).encode() + b"\0"


def device(port):
    # port 0: the kernel picks a free one (a fixed one may be taken)
    srv = socket.create_server(("127.0.0.1", port))
    print("listening on", srv.getsockname()[1], flush=True)
    c, _ = srv.accept()
    c.settimeout(20)
    m = recv_msg(c)
    if not m or m[1] != VERSION:
        return 1
    c.sendall(msg(m[0], VERSION, REPLY, version_payload(
        {"max_msg_fds": 0, "max_data_xfer_size": 1 << 20, "vpcie_irq_msg": True})))
    m = recv_msg(c)
    if m:
        c.sendall(msg((m[0] + 7) & 0xffff, m[1], REPLY, b""))  # a reply to nothing
    c.recv(1)  # until the proxy hangs up
    return 0


def client(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(10)
    s.sendall(msg(0, VERSION, 0, version_payload({"max_msg_fds": 8})))
    m = recv_msg(s)
    check(m is not None and m[1] == VERSION and not m[2] & ERROR, "VERSION through the proxy")
    mfd = os.memfd_create("t")
    os.ftruncate(mfd, 8192)
    # DMA_MAP with two fds: refused by the proxy itself.
    dma = struct.pack("<IIQQQ", 32, 3, 0, 0x100000, 4096)
    socket.send_fds(s, [msg(1, DMA_MAP, 0, dma)], [mfd, mfd])
    m = recv_msg(s)
    check(m is not None and m[0] == 1 and m[2] & ERROR and m[3] == 22, "DMA_MAP with 2 fds: EINVAL")
    # A window larger than its file: refused, the proxy does not map it.
    dma = struct.pack("<IIQQQ", 32, 3, 4096, 0x100000, 8192)
    socket.send_fds(s, [msg(2, DMA_MAP, 0, dma)], [mfd])
    m = recv_msg(s)
    check(m is not None and m[0] == 2 and m[2] & ERROR and m[3] == 22, "DMA_MAP past its file: EINVAL")
    # SET_IRQS for 2 vectors with 1 eventfd.
    irqs = struct.pack("<IIIII", 20, EVENTFD_TRIGGER, 2, 0, 2)
    socket.send_fds(s, [msg(3, SET_IRQS, 0, irqs)], [mfd])
    m = recv_msg(s)
    check(m is not None and m[0] == 3 and m[2] & ERROR and m[3] == 22, "SET_IRQS fds != count: EINVAL")
    # A truncated message body: the proxy answers EINVAL without the device.
    s.sendall(msg(4, DMA_MAP, 0, b"\0" * 8))
    m = recv_msg(s)
    check(m is not None and m[0] == 4 and m[2] & ERROR, "short DMA_MAP refused")
    # Now the fake device answers GET_INFO with a wrong id: we are closed.
    s.sendall(msg(5, GET_INFO, 0, struct.pack("<IIII", 16, 0, 0, 0)))
    try:
        m = recv_msg(s)
        # the request in flight may be answered (ENODEV) before the close
        if m is not None and m[0] == 5 and m[2] & ERROR:
            m = recv_msg(s)
        check(m is None, "closed after the device replied to nothing")
    except socket.timeout:
        check(False, "closed after the device replied to nothing (timed out)")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("device", "client"):
        sys.exit(__doc__)
    sys.exit(device(int(sys.argv[2])) if sys.argv[1] == "device" else client(sys.argv[2]))
