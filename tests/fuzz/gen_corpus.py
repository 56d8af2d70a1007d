#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of the fuzz targets (run from anywhere):

    python3 tests/fuzz/gen_corpus.py

corpus_device/, corpus_host/: inputs in the harnesses' formats (see the
comments at the top of fuzz_device.c, fuzz_host.c and fuzz_common.h);
corpus_caps/: VERSION JSON texts; corpus_cfg_walk/: config space images;
corpus_virtq_split/, corpus_virtq_packed/: rings and operations in
fuzz_virtq.c's format; corpus_ring_device/, corpus_ring_host/: the formats
of fuzz_ring_device.c and fuzz_ring_host.c; corpus_ntb/: fuzz_ntb.c's two-host
format.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# vfio-user commands
VERSION, DMA_MAP, DMA_UNMAP, GET_INFO, REGION_INFO, IO_FDS, IRQ_INFO, SET_IRQS = range(1, 9)
REGION_READ, REGION_WRITE, DMA_READ, DMA_WRITE, RESET = range(9, 14)
WRITE_MULTI, FEATURE = 15, 16
CMD, REPLY, NO_REPLY, ERROR = 0, 1, 0x10, 0x20
CFG = 7  # VFIO_PCI_CONFIG_REGION_INDEX
ROM = 6
# VFIO_IRQ_SET_*
DATA_NONE, DATA_BOOL, DATA_EVENTFD = 1, 2, 4
ACT_MASK, ACT_UNMASK, ACT_TRIGGER = 8, 16, 32
MSI, MSIX = 1, 2
# fd specs of a record
FD_NONE, FD_MEMFD, FD_PIPE = 0, 1, 2


def FD_EVENTFDS(n):
    return 2 + n


def hdr(msg_id, cmd, flags=CMD, error=0, size=0):
    return struct.pack("<HHIII", msg_id, cmd, size, flags, error)


def msg(msg_id, cmd, payload=b"", flags=CMD, error=0):
    """A whole message with a correct size field (for raw inputs)."""
    return hdr(msg_id, cmd, flags, error, 16 + len(payload)) + payload


def rec(msg_id, cmd, payload=b"", flags=CMD, fds=FD_NONE, error=0):
    """One structured record: u16 (length | fdspec << 12), header, payload."""
    body = hdr(msg_id, cmd, flags, error) + payload
    assert len(body) < 4096
    return struct.pack("<H", len(body) | fds << 12) + body


def region_access(region, off, count, data=b""):
    return struct.pack("<QII", off, region, count) + data


def dma_map(addr, size, flags=3, offset=0):
    return struct.pack("<IIQQQ", 32, flags, offset, addr, size)


def dma_unmap(addr, size, flags=0):
    return struct.pack("<IIQQ", 24, flags, addr, size)


def irq_set(index, start, count, flags, data=b""):
    return struct.pack("<IIIII", 20 + len(data), flags, index, start, count) + data


def version_payload(json):
    return struct.pack("<HH", 0, 1) + json.encode() + b"\0"


JSON = ('{"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,'
        '"pgsizes":4096,"max_dma_maps":65535,"write_multiple":true}}')


def write(dirname, name, data):
    d = os.path.join(HERE, dirname)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def le32(v):
    return struct.pack("<I", v)


def bar0_write(msg_id, off, v):
    return rec(msg_id, REGION_WRITE, region_access(0, off, 4, le32(v)))


def cfg_write16(msg_id, off, v):
    return rec(msg_id, REGION_WRITE, region_access(CFG, off, 2, struct.pack("<H", v)))


# ---- fuzz_device ------------------------------------------------------------
# mode byte: 1 VERSION prefix, 2 structured, 4 twin, 8 small max_xfer
def device():
    V, S = 1, 2
    # Raw streams: a complete session without the prefix, and broken framing.
    write("corpus_device", "raw_version_info",
          bytes([0]) + msg(1, VERSION, version_payload(JSON)) +
          msg(2, GET_INFO, struct.pack("<IIII", 16, 0, 0, 0)) +
          msg(3, REGION_READ, region_access(CFG, 0, 64)))
    write("corpus_device", "raw_huge_size", bytes([V]) + hdr(1, REGION_WRITE, size=0xffffffff))
    write("corpus_device", "raw_short_size", bytes([V]) + hdr(1, GET_INFO, size=8) + b"\0" * 8)
    write("corpus_device", "raw_truncated",
          bytes([V]) + hdr(1, REGION_READ, size=64) + region_access(CFG, 0, 4))
    write("corpus_device", "raw_before_version",
          bytes([0]) + msg(1, GET_INFO, struct.pack("<IIII", 16, 0, 0, 0)) +
          msg(2, VERSION, version_payload(JSON)) + msg(3, VERSION, version_payload("{}")))

    write("corpus_device", "get_info",
          bytes([V | S]) + rec(1, GET_INFO, struct.pack("<IIII", 16, 0, 0, 0)))
    write("corpus_device", "region_info",
          bytes([V | S]) + b"".join(
              rec(i + 1, REGION_INFO, struct.pack("<IIIIQQ", 32 if i != 2 else 256, 0, i, 0, 0, 0))
              for i in range(10)) +
          rec(20, IO_FDS, struct.pack("<IIII", 16, 0, 2, 0)) +
          b"".join(rec(30 + i, IRQ_INFO, struct.pack("<IIII", 16, 0, i, 0)) for i in range(6)))
    write("corpus_device", "cfg_read",
          bytes([V | S]) + rec(1, REGION_READ, region_access(CFG, 0, 256)) +
          rec(2, REGION_READ, region_access(CFG, 256, 3840)) +
          rec(3, REGION_READ, region_access(CFG, 0x94, 12)) +
          rec(4, REGION_READ, region_access(ROM, 0, 64)) +
          rec(5, REGION_READ, region_access(ROM, 2040, 16)))
    write("corpus_device", "cfg_write_bars",
          bytes([V | S]) +
          b"".join(rec(1 + i, REGION_WRITE, region_access(CFG, 0x10 + 4 * i, 4, le32(0xffffffff)))
                   for i in range(6)) +
          rec(7, REGION_WRITE, region_access(CFG, 0x30, 4, le32(0xfffff800))) +
          rec(8, REGION_READ, region_access(CFG, 0x10, 0x24)) +
          cfg_write16(9, 4, 0x0407))
    write("corpus_device", "set_irqs_msix",
          bytes([V | S]) + cfg_write16(1, 4, 0x0006) + cfg_write16(2, 0x96, 0x8000) +
          rec(3, SET_IRQS, irq_set(MSIX, 0, 2, DATA_EVENTFD | ACT_TRIGGER), fds=FD_EVENTFDS(2)) +
          rec(4, REGION_WRITE, region_access(4, 0, 16, struct.pack("<QII", 0xfee00000, 0x41, 0))) +
          rec(5, SET_IRQS, irq_set(MSIX, 0, 1, DATA_NONE | ACT_TRIGGER)) +
          bar0_write(6, 0x18, 1) +
          rec(7, REGION_WRITE, region_access(4, 12, 4, le32(1))) +
          bar0_write(8, 0x18, 0) +
          rec(9, REGION_READ, region_access(4, 0x2000, 8)) +
          rec(10, REGION_WRITE, region_access(4, 12, 4, le32(0))) +
          rec(11, SET_IRQS, irq_set(MSIX, 0, 0, DATA_NONE | ACT_TRIGGER)))
    write("corpus_device", "set_irqs_msi",
          bytes([V | S]) + cfg_write16(1, 4, 0x0006) +
          rec(2, REGION_WRITE, region_access(CFG, 0x7c + 4, 4, le32(0xfee00000))) +
          cfg_write16(3, 0x7c + 2, 0x0051) +
          rec(4, SET_IRQS, irq_set(MSI, 0, 4, DATA_EVENTFD | ACT_TRIGGER), fds=FD_EVENTFDS(4)) +
          bar0_write(5, 0x18, 3) +
          rec(6, REGION_WRITE, region_access(CFG, 0x7c + 16, 4, le32(0xf))) +
          bar0_write(7, 0x18, 2) +
          rec(8, REGION_WRITE, region_access(CFG, 0x7c + 16, 4, le32(0))) +
          rec(9, SET_IRQS, irq_set(MSI, 0, 2, DATA_BOOL | ACT_TRIGGER, b"\1\1")))
    write("corpus_device", "set_irqs_intx",
          bytes([V | S]) +
          rec(1, SET_IRQS, irq_set(0, 0, 1, DATA_EVENTFD | ACT_TRIGGER), fds=FD_EVENTFDS(1)) +
          rec(2, SET_IRQS, irq_set(0, 0, 1, DATA_EVENTFD | ACT_UNMASK), fds=FD_EVENTFDS(1)) +
          cfg_write16(3, 4, 0x0002) + bar0_write(4, 0x1c, 1) +
          rec(5, SET_IRQS, irq_set(0, 0, 1, DATA_NONE | ACT_UNMASK)) +
          rec(6, SET_IRQS, irq_set(0, 0, 1, DATA_NONE | ACT_MASK)) + bar0_write(7, 0x1c, 0))
    write("corpus_device", "dma_map",
          bytes([V | S]) + rec(1, DMA_MAP, dma_map(0x10000, 0x4000)) +
          rec(2, DMA_MAP, dma_map(0x100000, 0x10000), fds=FD_MEMFD) +
          rec(3, DMA_MAP, dma_map(0x12000, 0x1000)) +
          rec(4, DMA_MAP, dma_map(0x200000, 0x1000, offset=0x8000), fds=FD_MEMFD) +
          rec(5, DMA_MAP, dma_map(0x300000, 0x1000), fds=FD_PIPE) +
          rec(6, DMA_UNMAP, dma_unmap(0x10000, 0x4000)) +
          rec(7, DMA_UNMAP, dma_unmap(0, 0, flags=2)))
    # Device-initiated DMA: the fuzzer answers the device's DMA_READ/WRITE.
    write("corpus_device", "dma_messages",
          bytes([V | S]) + cfg_write16(1, 4, 0x0006) + rec(2, DMA_MAP, dma_map(0x10000, 0x4000)) +
          bar0_write(3, 0x08, 0x10000) + bar0_write(4, 0x10, 32) + bar0_write(5, 0x14, 1) +
          rec(0, DMA_READ, struct.pack("<QQ", 0x10000, 32) + b"\xab" * 32, flags=REPLY) +
          bar0_write(6, 0x14, 2) +
          rec(1, DMA_WRITE, struct.pack("<QI", 0x10000, 32), flags=REPLY) +
          bar0_write(7, 0x10, 8192) + bar0_write(8, 0x14, 1) +
          rec(2, DMA_READ, b"", flags=REPLY | ERROR, error=14) +
          rec(9, REGION_READ, region_access(0, 0x14, 4)))
    write("corpus_device", "dma_shared",
          bytes([V | S]) + cfg_write16(1, 4, 0x0006) +
          rec(2, DMA_MAP, dma_map(0x100000, 0x10000), fds=FD_MEMFD) +
          bar0_write(3, 0x08, 0x100100) + bar0_write(4, 0x10, 4096) + bar0_write(5, 0x14, 2) +
          bar0_write(6, 0x14, 1) + bar0_write(7, 0x04, 1) + bar0_write(8, 0x14, 3) +
          bar0_write(9, 0x08, 0x10f000) + bar0_write(10, 0x14, 1))
    write("corpus_device", "write_multi",
          bytes([V | S]) + rec(1, WRITE_MULTI, struct.pack("<Q", 3) +
                               struct.pack("<QII8s", 4, CFG, 2, b"\x06\0") +
                               struct.pack("<QII8s", 4, 0, 4, le32(7)) +
                               struct.pack("<QII8s", 0, 1, 1, b"\x5a"))) 
    write("corpus_device", "reset_flr",
          bytes([V | S]) + rec(1, RESET) + cfg_write16(2, 0x48 + 8, 0x8000) +
          rec(3, REGION_READ, region_access(CFG, 0x48, 16)) +
          rec(4, FEATURE, struct.pack("<II", 8, 0)))
    write("corpus_device", "bars",
          bytes([V | S]) + cfg_write16(1, 4, 0x0003) +
          rec(2, REGION_READ, region_access(0, 0, 4)) +
          rec(3, REGION_READ, region_access(1, 0, 16)) +
          rec(4, REGION_WRITE, region_access(1, 250, 6, b"abcdef")) +
          rec(5, REGION_READ, region_access(2, 4090, 12)) +
          rec(6, REGION_WRITE, region_access(2, 0, 8, b"12345678")) +
          rec(7, REGION_READ, region_access(4, 0x1ff8, 16)) +
          rec(8, REGION_READ, region_access(0, 0x100, 4)) +
          bar0_write(9, 0x20, 0) + rec(10, REGION_WRITE, region_access(2, 0, 4, b"x" * 4),
                                      flags=NO_REPLY))
    write("corpus_device", "twin",
          bytes([V | S | 4]) + rec(1, GET_INFO, struct.pack("<IIII", 16, 0, 0, 0)) +
          cfg_write16(2, 4, 0x0006) + rec(3, DMA_MAP, dma_map(0x10000, 0x1000)) +
          bar0_write(4, 0x08, 0x10000) + bar0_write(5, 0x10, 16) + bar0_write(6, 0x14, 1))
    write("corpus_device", "small_xfer",
          bytes([V | S | 8]) + rec(1, REGION_READ, region_access(CFG, 0, 4096)) +
          rec(2, REGION_READ, region_access(CFG, 0, 4097)))


# ---- fuzz_host ----------------------------------------------------------------
# mode byte: 1 structured, 2 read-only host memory, 4 twin (+ split byte),
# 8 custom VERSION JSON (+ length byte). Host request ids: 0 VERSION,
# 1 DMA_MAP (both answered by the harness), then 2 GET_INFO, 3..12 region
# info 0..9, 13 region info 63, 14 IRQ info 2, 15.. config dump (1 KiB chunks).
def host():
    S = 1

    def rinfo(msg_id, index, size, flags, cap=b"", fds=FD_NONE):
        cap_off = 32 if cap else 0
        f = flags | (8 if cap else 0)
        return rec(msg_id, REGION_INFO,
                   struct.pack("<IIIIQQ", 32 + len(cap), f, index, cap_off, size, 0) + cap,
                   flags=REPLY, fds=fds)

    def sparse(areas):
        return struct.pack("<HHIII", 1, 1, 0, len(areas), 0) + b"".join(
            struct.pack("<QQ", o, s) for o, s in areas)

    RW, MMAP = 3, 4
    info = rec(2, GET_INFO, struct.pack("<IIII", 16, 3, 9, 5), flags=REPLY)
    regions = (rinfo(3, 0, 4096, RW) + rinfo(4, 1, 256, RW) +
               rinfo(5, 2, 0x10000, RW | MMAP, sparse([(0x1000, 0xf000)]), fds=FD_MEMFD) +
               rinfo(6, 3, 0, 0) + rinfo(7, 4, 0x4000, RW) + rinfo(8, 5, 0, 0) +
               rinfo(9, 6, 2048, 1) + rinfo(10, 7, 4096, RW) + rinfo(11, 8, 0, 0) +
               rec(12, REGION_INFO, b"", flags=REPLY | ERROR, error=22))
    cfg = cfg_image()
    dump = b"".join(rec(15 + i, REGION_READ, region_access(CFG, i * 1024, 1024,
                                                            cfg[i * 1024:(i + 1) * 1024]),
                        flags=REPLY) for i in range(4))
    write("corpus_host", "session", bytes([S]) + info + regions +
          rec(13, REGION_INFO, b"", flags=REPLY | ERROR, error=22) +
          rec(14, IRQ_INFO, struct.pack("<IIII", 16, 0x7, 2, 64), flags=REPLY) + dump)
    write("corpus_host", "dma_requests", bytes([S]) +
          rec(100, DMA_READ, struct.pack("<QQ", 0x100000, 64)) +
          rec(101, DMA_WRITE, struct.pack("<QQ", 0x100040, 8) + b"ABCDEFGH") +
          rec(102, DMA_READ, struct.pack("<QQ", 0x0, 64)) +
          rec(103, DMA_WRITE, struct.pack("<QQ", 0x10fffc, 8) + b"overflow") +
          rec(104, DMA_READ, struct.pack("<QQ", 0x100000, 0x10000)) +
          rec(105, DMA_READ, struct.pack("<QQ", 0x100000, 8), flags=NO_REPLY) +
          rec(106, VERSION, b"") + rec(107, 99, b"junk") + info)
    write("corpus_host", "dma_readonly", bytes([S | 2]) +
          rec(100, DMA_WRITE, struct.pack("<QQ", 0x100000, 4) + b"nope") + info)
    write("corpus_host", "stray_replies", bytes([S]) +
          rec(2, REGION_READ, b"", flags=REPLY) + rec(2, GET_INFO, b"\0" * 8, flags=REPLY) +
          rec(3, GET_INFO, struct.pack("<IIII", 16, 3, 9, 5), flags=REPLY | ERROR, error=5) +
          rec(0x55, GET_INFO, b"", flags=7) + info)
    write("corpus_host", "raw_stream", bytes([0]) +
          msg(2, GET_INFO, struct.pack("<IIII", 16, 3, 9, 5), flags=REPLY) +
          msg(50, DMA_READ, struct.pack("<QQ", 0x100000, 16)) + hdr(3, REGION_INFO, REPLY, 0, 0xffff))
    write("corpus_host", "twin", bytes([S | 4, 2]) + info + rinfo(3, 0, 4096, RW) +
          rec(60, DMA_READ, struct.pack("<QQ", 0x100000, 64)) +
          rec(61, DMA_WRITE, struct.pack("<QQ", 0x100000, 4) + b"twin"))
    j = b'{"capabilities":{"max_msg_fds":1,"max_data_xfer_size":512,"write_multiple":false}}'
    write("corpus_host", "custom_json", bytes([S | 8, len(j)]) + j + info)
    # MSI-X enable: config reads of the capability, table writes, SET_IRQS.
    write("corpus_host", "irq", bytes([S]) + info + regions + cfg_reply_all(cfg, 15))


def cfg_reply_all(cfg, first_id):
    out = b""
    for i in range(4):
        out += rec(first_id + i, REGION_READ,
                   region_access(CFG, i * 1024, 1024, cfg[i * 1024:(i + 1) * 1024]), flags=REPLY)
    return out


# ---- config images ------------------------------------------------------------
def cfg_image(loop=False):
    img = bytearray(4096)
    struct.pack_into("<HHHH", img, 0, 0x1234, 0x5650, 0, 0x0010)
    img[0x8:0xc] = bytes([1, 0, 0, 0xff])
    struct.pack_into("<I", img, 0x14, 1)
    struct.pack_into("<I", img, 0x18, 0xc)
    img[0x34] = 0x40
    img[0x3d] = 1
    img[0x40:0x44] = bytes([0x01, 0x48, 0x03, 0x00])          # PM
    img[0x48:0x4c] = bytes([0x10, 0x7c, 0x02, 0x00])          # PCIe v2 endpoint
    struct.pack_into("<I", img, 0x4c, 0x10008021)
    img[0x7c:0x80] = bytes([0x05, 0x94, 0x8a, 0x01])          # MSI 64-bit maskable
    img[0x94:0x98] = bytes([0x11, 0xa0, 0x3f, 0x00])          # MSI-X 64
    struct.pack_into("<II", img, 0x98, 4, 0x2004)
    img[0xa0:0xa7] = bytes([0x09, 0x40 if loop else 0, 7, ord("V"), ord("P"), 1, 2])
    struct.pack_into("<III", img, 0x100, 0x10c10003, 0x12345678, 0x9abcdef0)  # DSN -> 0x10c
    struct.pack_into("<I", img, 0x10c, (0x100 if loop else 0) << 20 | 1 << 16 | 0x0001)  # AER
    return bytes(img)


def cfg_walk():
    write("corpus_cfg_walk", "sample_4k", cfg_image())
    write("corpus_cfg_walk", "sample_256", cfg_image()[:256])
    write("corpus_cfg_walk", "looped_4k", cfg_image(loop=True))
    short = bytearray(cfg_image()[:0x46])
    write("corpus_cfg_walk", "truncated", bytes(short))


def caps():
    write("corpus_caps", "full", JSON.encode() + b"\0")
    write("corpus_caps", "twin",
          b'{"capabilities":{"max_msg_fds":2,"twin_socket":{"supported":true,"fd_index":0}}}')
    write("corpus_caps", "empty", b"{}")
    write("corpus_caps", "unknown", b'{"capabilities":{"migration":{"pgsize":4096},"x":[1,2.5,null]}}')
    write("corpus_caps", "bad_types", b'{"capabilities":{"max_msg_fds":"1","write_multiple":1}}')
    write("corpus_caps", "limits", b'{"capabilities":{"max_msg_fds":4294967295,'
                                   b'"max_data_xfer_size":9223372036854775807,"pgsizes":1}}')


# ---- fuzz_virtq_split / fuzz_virtq_packed ---------------------------------------
# header: flags (1 INDIRECT, 2 EVENT_IDX, 4 direct pointers, 8 pointers for the
# lower half only), u16 size, u16 max_chain, u16 desc/driver/device offsets;
# then ops: 0 WRITE off len bytes, 1 POP how, 2 PUSH k written, 3 NOTIFY, 4 DRAIN.
VQ_BASE = 0x100000
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
P_AVAIL, P_USED = 1 << 7, 1 << 15


def vq_hdr(flags, size, desc, driver, device, max_chain=0):
    return bytes([flags]) + struct.pack("<HHHHH", size, max_chain, desc, driver, device)


def vq_w(off, data):
    out = b""
    while data:
        chunk, data = data[:255], data[255:]
        out += b"\0" + struct.pack("<HB", off, len(chunk)) + chunk
        off += len(chunk)
    return out


def vq_pop(data=True):
    return b"\1" + bytes([1 if data else 0])


def vq_push(k, written):
    return b"\2" + bytes([k]) + struct.pack("<I", written)


VQ_NOTIFY, VQ_DRAIN = b"\3", b"\4"


def sdesc(addr, length, flags=0, nxt=0):
    return struct.pack("<QIHH", VQ_BASE + addr, length, flags, nxt)


def pdesc(addr, length, buf_id, flags, wrap=1):
    f = flags | ((P_AVAIL if wrap else P_USED))
    return struct.pack("<QIHH", VQ_BASE + addr, length, buf_id, f)


def virtq_split():
    # size 8 (1 << 3): descriptors at 0, available ring at 0x200, used at 0x400
    D, A, U = 0, 0x200, 0x400
    h = vq_hdr(4 | 1, 3, D, A, U)
    table = sdesc(0x1000, 64, F_NEXT, 1) + sdesc(0x2000, 32, F_WRITE) + sdesc(0x1100, 16) + \
        sdesc(0x3000, 48, F_INDIRECT)
    ind = sdesc(0x1200, 8, F_NEXT, 1) + sdesc(0x2100, 100, F_WRITE | F_NEXT, 2) + \
        sdesc(0x2200, 4, F_WRITE)
    avail = struct.pack("<HH", 0, 3) + struct.pack("<8H", 0, 2, 3, 0, 0, 0, 0, 0)
    more = vq_w(A + 4 + 6, struct.pack("<H", 2)) + vq_w(A + 2, struct.pack("<H", 4))
    write("corpus_virtq_split", "chains",
          h + vq_w(D, table) + vq_w(0x3000, ind) + vq_w(A, avail) +
          vq_pop() + vq_pop() + vq_push(1, 10) + vq_pop() + vq_push(0, 5) + vq_push(0, 0) +
          VQ_NOTIFY + more + VQ_DRAIN + VQ_NOTIFY)
    # Event index: used_event after the ring, read-only accessor path.
    h = vq_hdr(2 | 1, 3, D, A, U)
    write("corpus_virtq_split", "event_idx",
          h + vq_w(D, table) + vq_w(0x3000, ind) + vq_w(A, avail + struct.pack("<H", 1)) +
          VQ_DRAIN + more + vq_w(A + 4 + 16, struct.pack("<H", 3)) + VQ_DRAIN + VQ_NOTIFY)
    # Pointers for the lower half only: a chain crossing 0x8000.
    h = vq_hdr(4 | 8, 1, D, A, U)
    write("corpus_virtq_split", "mixed",
          h + vq_w(D, sdesc(0x7ff0, 0x20, F_NEXT, 1) + sdesc(0x8000, 0x100, F_WRITE)) +
          vq_w(A, struct.pack("<HHHH", 0, 1, 0, 0)) + vq_pop() + vq_push(0, 0x100) + VQ_NOTIFY)
    # Hostile: a loop, a head out of range, an index far ahead, memory edges.
    h = vq_hdr(4, 2, D, A, U)
    write("corpus_virtq_split", "loop",
          h + vq_w(D, sdesc(0x1000, 8, F_NEXT, 1) + sdesc(0x1000, 8, F_NEXT, 0)) +
          vq_w(A, struct.pack("<HHHH", 0, 1, 0, 0)) + vq_pop() + vq_pop())
    write("corpus_virtq_split", "bad_head",
          h + vq_w(A, struct.pack("<HHHH", 0, 1, 9, 0)) + vq_pop())
    write("corpus_virtq_split", "idx_ahead",
          h + vq_w(A, struct.pack("<HHHH", 0, 9, 0, 0)) + vq_pop())
    write("corpus_virtq_split", "edge",
          vq_hdr(4 | 1, 2, 0xffe0, A, U) + vq_w(0xffe0, sdesc(0xfff0, 0x20, F_INDIRECT)) +
          vq_w(A, struct.pack("<HHHH", 0, 1, 0, 0)) + vq_pop())
    write("corpus_virtq_split", "huge", vq_hdr(4 | 3, 15, D, 0x8000, 0xc000) +
          vq_w(0x8000, struct.pack("<HH", 0, 1)) + vq_pop() + VQ_DRAIN)
    # Two rounds over a ring of 2 (index wrap within the ring).
    rounds = b""
    for i in range(1, 6):
        rounds += vq_w(A + 4 + 2 * ((i - 1) % 2), struct.pack("<H", (i - 1) % 2)) + \
            vq_w(A + 2, struct.pack("<H", i)) + vq_pop() + vq_push(0, 1) + VQ_NOTIFY
    write("corpus_virtq_split", "rounds",
          vq_hdr(2 | 4, 1, D, A, U) + vq_w(D, sdesc(0x1000, 8) + sdesc(0x2000, 8, F_WRITE)) +
          rounds)


def virtq_packed():
    # size 8: descriptor ring at 0, driver event at 0x200, device event at 0x300
    D, DRV, DEV = 0, 0x200, 0x300
    ring = pdesc(0x1000, 64, 5, F_NEXT) + pdesc(0x2000, 32, 5, F_WRITE) + \
        pdesc(0x1100, 16, 7, 0) + pdesc(0x3000, 48, 9, F_INDIRECT)
    ind = sdesc(0x1200, 8) + sdesc(0x2100, 100, F_WRITE) + sdesc(0x2200, 4, F_WRITE)
    ev_desc = struct.pack("<HH", 3 | 0x8000, 2)   # VRING_PACKED_EVENT_FLAG_DESC at slot 3
    write("corpus_virtq_packed", "chains",
          vq_hdr(1 | 4, 8, D, DRV, DEV) + vq_w(D, ring) + vq_w(0x3000, ind) +
          vq_pop() + vq_pop() + vq_push(1, 10) + vq_pop() + vq_push(0, 5) + vq_push(0, 0) +
          VQ_NOTIFY + vq_w(DRV, struct.pack("<HH", 0, 1)) + VQ_NOTIFY)
    write("corpus_virtq_packed", "event_idx",
          vq_hdr(1 | 2, 8, D, DRV, DEV) + vq_w(D, ring) + vq_w(0x3000, ind) +
          vq_w(DRV, ev_desc) + VQ_DRAIN + VQ_NOTIFY)
    # Wrap-around: a ring of 3 refilled with the flipped wrap each lap.
    laps = b""
    wrap = 1
    pos = 0
    for i in range(7):
        laps += vq_w(D + 16 * pos, pdesc(0x1000 + 0x100 * pos, 8, i, F_WRITE, wrap)) + VQ_DRAIN
        pos += 1
        if pos == 3:
            pos, wrap = 0, 1 - wrap
    write("corpus_virtq_packed", "laps", vq_hdr(2 | 4, 3, D, DRV, DEV) + laps + VQ_NOTIFY)
    # Hostile: a chain longer than the ring, indirect with NEXT, a table
    # beyond memory, ring at the end of memory.
    write("corpus_virtq_packed", "endless",
          vq_hdr(4, 4, D, DRV, DEV) + vq_w(D, b"".join(pdesc(0x1000, 8, 0, F_NEXT) for _ in range(4))) +
          vq_pop() + vq_pop())
    write("corpus_virtq_packed", "indirect_next",
          vq_hdr(1 | 4, 4, D, DRV, DEV) + vq_w(D, pdesc(0x3000, 16, 1, F_INDIRECT | F_NEXT)) +
          vq_pop())
    write("corpus_virtq_packed", "edge",
          vq_hdr(1 | 4 | 8, 4, 0xffc0, DRV, DEV) +
          vq_w(0xffc0, pdesc(0x7ff8, 0x10, 1, F_NEXT) + pdesc(0xfff0, 0x20, 1, F_INDIRECT)) +
          vq_pop() + VQ_DRAIN)


# ---- fuzz_ring_device ------------------------------------------------------------
# setup byte: 1 MSI-X eventfds, 2 MSI eventfds, 4 shared DMA memory, 8 64 slots;
# then ops: 0 CMD op flags count index u32 offset data, 1 RAW publish slot64,
# 2 RUN how, 3 CTRL which u32, 4 POKE u16 off u8 len bytes, 5 SOCK what, 6 CLOSE.
R_READ, R_WRITE, R_FENCE = 1, 2, 3
R_POSTED = 4


def r_cmd(op, index=0, offset=0, data=b"", count=None, flags=0):
    if count is None:
        count = len(data)
    if op != R_WRITE:
        data = b""
    return b"\0" + bytes([op, flags, count, index]) + struct.pack("<I", offset) + data[:32]


def r_read(index, offset, count):
    return r_cmd(R_READ, index, offset, count=count)


def r_write(index, offset, data, posted=False):
    return r_cmd(R_WRITE, index, offset, data, flags=R_POSTED if posted else 0)


def r_run(how=1):
    return b"\2" + bytes([how])


def r_ctrl(which, value):
    return b"\3" + bytes([which]) + struct.pack("<I", value)


def r_raw(slot, publish=True):
    return b"\1" + bytes([1 if publish else 0]) + slot


def r_slot(op, id_, flags, count, index, error, offset, seq, reserved, data=b""):
    return struct.pack("<HHHHIIQII", op, id_, flags, count, index, error, offset, seq,
                       reserved) + data.ljust(32, b"\0")[:32]


R_FENCE_CMD, R_CLOSE = r_cmd(R_FENCE), b"\6"


def r_bar0(off, v, posted=False):
    return r_write(0, off, le32(v), posted)


def r_cfg16(off, v):
    return r_write(CFG, off, struct.pack("<H", v))


def ring_device():
    d = "corpus_ring_device"
    write(d, "rw", bytes([0]) + r_read(CFG, 0, 4) + r_read(CFG, 0, 32) + r_bar0(4, 0x1234) +
          r_read(0, 4, 4) + R_FENCE_CMD + r_run() + r_bar0(4, 7, posted=True) +
          r_write(1, 250, b"abcdef", posted=True) + R_FENCE_CMD + r_read(1, 248, 8) +
          r_read(2, 4090, 12) + r_read(4, 0x1ff8, 16) + r_read(ROM, 0, 32) + r_run() + R_CLOSE)
    msix_table = struct.pack("<QII", 0xfee00000, 0x41, 0)
    write(d, "msix_irq", bytes([1 | 4]) + r_cfg16(4, 6) + r_cfg16(0x96, 0x8000) +
          r_write(4, 0, msix_table) + r_write(4, 16, msix_table) + r_run() +
          r_bar0(0x18, 0) + r_bar0(0x18, 1) + r_bar0(0x18, 5) + r_run() +
          b"".join(r_bar0(0x18, 0) for _ in range(10)) + r_run(3) +
          b"".join(r_bar0(0x18, 1) for _ in range(6)) + r_run(3) + r_run() +
          r_bar0(0x20, 0) + r_run() + r_run())
    write(d, "msi_irq", bytes([2]) + r_cfg16(4, 6) + r_write(CFG, 0x80, le32(0xfee00000)) +
          r_cfg16(0x7e, 0x0051) + r_bar0(0x18, 0) + r_bar0(0x18, 3) +
          r_write(CFG, 0x90, le32(0xf)) + r_bar0(0x18, 2) + r_run() + r_write(CFG, 0x90, le32(0)) +
          r_run())
    write(d, "dma", bytes([4]) + r_cfg16(4, 6) + r_bar0(8, 0x10000) + r_bar0(0x10, 64) +
          r_bar0(0x14, 2) + r_bar0(0x14, 1) + r_bar0(4, 1) + r_bar0(0x14, 3) +
          r_bar0(8, 0x1fff0) + r_bar0(0x14, 1) + r_read(0, 0x14, 4) + r_run())
    write(d, "full", bytes([0]) + b"".join(r_read(CFG, 4 * i, 4) for i in range(16)) + r_run(3) +
          b"".join(r_read(CFG, 4 * i, 4) for i in range(16)) + r_run(3) + r_run())
    write(d, "malformed", bytes([0]) + r_cmd(9, count=0) + r_cmd(R_READ, CFG, 0, count=0) +
          r_cmd(R_WRITE, 0, 4, count=40, data=b"x" * 32) + r_cmd(R_FENCE, count=4, data=b"abcd") +
          r_cmd(R_READ, CFG, 0, count=4, flags=R_POSTED) + r_cmd(R_READ, CFG, 0, count=4, flags=0x80) +
          r_raw(r_slot(R_READ, 77, 0, 4, CFG, 0, 0, 0, 1)) +
          r_raw(r_slot(R_READ, 78, 0, 4, CFG, 5, 0, 0, 0)) +
          r_read(9, 0, 4) + r_read(CFG, 4094, 4) + r_read(CFG, 0xffffffff, 4) + r_run() + R_CLOSE)
    write(d, "ctrl", bytes([8]) + r_read(CFG, 0, 4) + r_run() + r_ctrl(2, 5) +
          b"".join(r_read(CFG, 0, 4) for _ in range(20)) + r_run() + r_ctrl(5, 9) +
          r_read(CFG, 0, 4) + r_run() + r_ctrl(4, 0x1000) + r_read(CFG, 0, 4) + r_run())
    write(d, "sock_mix", bytes([1]) + r_bar0(4, 1, posted=True) + r_bar0(4, 2, posted=True) +
          b"\5\1" + r_read(0, 4, 4) + r_bar0(4, 3, posted=True) + b"\5\2" + b"\5\0" + b"\5\3" +
          r_run() + r_read(0, 4, 4) + r_run())
    write(d, "close_pending", bytes([0]) + r_bar0(4, 9, posted=True) + r_bar0(0x20, 0, posted=True) +
          r_read(0, 4, 4) + R_CLOSE)
    write(d, "raw", bytes([0]) + r_raw(r_slot(R_READ, 1, 0, 4, CFG, 0, 0, 5, 0), publish=False) +
          r_run() + r_raw(r_slot(R_READ, 2, 0, 4, CFG, 0, 0, 0, 0)) +
          b"\4" + struct.pack("<HB", 4096 + 64, 4) + b"\xff\xff\xff\xff" + r_run())


# ---- fuzz_ring_host ---------------------------------------------------------------
# byte 0: 1 = 64 slots; then one record per command the host puts in the ring:
# ctl (bits 0-1 noise count, 4 honest reply, 8 no reply, 0x10 control word
# follows, 0x20/0x40 fix up op+id / index+offset of a given reply, 0x80 noise
# after the reply), noise slots, [reply slot], [which, u32 value].
# Ring commands of host_calls() in fuzz_ring_host.c with honest answers:
# 23 = the BAR2 read right after MSI-X is enabled, 38 = the one after MSI.
H_HONEST = b"\4"
IRQ_OP = 4


def h_rec(ctl, noise=(), reply=None, ctrl=None):
    out = bytes([ctl | len(noise) | (0x10 if ctrl is not None else 0)]) + b"".join(noise)
    if reply is not None:
        out += reply
    if ctrl is not None:
        out += bytes([ctrl[0]]) + struct.pack("<I", ctrl[1])
    return out


def notice(index, vector):
    return r_slot(IRQ_OP, 0, 0, 0, index, 0, vector, 0, 0)


def ring_host():
    d = "corpus_ring_host"
    write(d, "honest", bytes([0]))
    write(d, "honest64", bytes([1]))
    write(d, "msix_notices", bytes([0]) + H_HONEST * 23 +
          h_rec(4 | 0x80, [notice(MSIX, 0), notice(MSIX, 1), notice(MSIX, 7)]))
    write(d, "msi_notices", bytes([1]) + H_HONEST * 38 +
          h_rec(4, [notice(MSI, 3), notice(MSI, 0), notice(MSIX, 0)]))
    write(d, "stray", bytes([0]) +
          h_rec(4, [r_slot(R_READ, 99, 1, 4, 0, 0, 0, 0, 0), r_slot(R_READ, 2, 0x80, 4, 0, 0, 0, 0, 0)]) +
          h_rec(4 | 0x80, [r_slot(R_WRITE, 3, 1, 0, 0, 0, 8, 0, 0)]))
    write(d, "wrong_reply", bytes([0]) +
          h_rec(0x20, reply=r_slot(0, 0, 1, 4, 5, 0, 0x40, 0, 0)) +
          h_rec(0x60, reply=r_slot(0, 0, 3, 0, 0, 5, 0, 0, 0)) +
          h_rec(0x60, reply=r_slot(0, 0, 1, 8, 0, 0, 0, 0, 0)))
    write(d, "error_replies", bytes([0]) + H_HONEST * 9 +
          h_rec(0x60, reply=r_slot(0, 0, 3, 0, 0, 0, 0, 0, 0)) + H_HONEST * 11 +
          h_rec(0x60, reply=r_slot(0, 0, 3, 0, 0, 22, 0, 0, 0)))
    write(d, "no_reply", bytes([0]) + H_HONEST + h_rec(8))
    write(d, "garbage", bytes([0]) + h_rec(0, reply=bytes(range(64))))
    write(d, "cons_wait", bytes([0]) + H_HONEST * 15 + h_rec(4, ctrl=(0, 0)))
    write(d, "cons_broken", bytes([0]) + H_HONEST * 15 + h_rec(4, ctrl=(0, 0x10000)))
    write(d, "flags", bytes([0]) + h_rec(4, ctrl=(1, 7)) + h_rec(4, ctrl=(6, 3)) +
          h_rec(4, ctrl=(5, 0xffffffff)) + H_HONEST * 20 + h_rec(4, ctrl=(4, 1)))


# ---- fuzz_ntb -----------------------------------------------------------------
# byte 0: mode (1: --dma-messages); u16: length of host A's records; A's
# records; B's records. BAR0 config region of ntb_regs.h; BAR2 window 1 at
# 0x1000, doorbells at 4 * n.
def ntb_host(vectors, mw_addr, extra=b""):
    r = (cfg_write16(1, 0x04, 0x0006) +              # memory + bus master
         cfg_write16(2, 0x96, 0x8000) +              # MSI-X enable (cap at 0x94)
         rec(3, SET_IRQS, irq_set(MSIX, 0, vectors, DATA_EVENTFD | ACT_TRIGGER),
             fds=FD_EVENTFDS(vectors)) +
         rec(4, DMA_MAP, dma_map(0x100000, 0x10000), fds=FD_MEMFD) +
         bar0_write(5, 0x04, 0x10000 | vectors) + bar0_write(6, 0x00, 1) +   # CONFIGURE_DOORBELL
         bar0_write(7, 0x10, mw_addr) + bar0_write(8, 0x14, 0) +
         bar0_write(9, 0x18, 0x8000) + bar0_write(10, 0x1c, 0) +
         bar0_write(11, 0x04, 0) + bar0_write(12, 0x00, 3) +                 # CONFIGURE_MW 0
         bar0_write(13, 0x00, 5) +                                           # LINK_UP
         rec(14, REGION_WRITE, region_access(1, 0, 4, le32(0xabcd))) +       # peer spad
         rec(15, REGION_WRITE, region_access(2, 0x1000, 16, b"w" * 16)) +    # window 1
         rec(16, REGION_READ, region_access(2, 0x1000, 16)) +
         rec(17, REGION_WRITE, region_access(2, 8, 4, le32(2))) +            # doorbell 2
         rec(18, REGION_READ, region_access(0, 0x800, 4)) + extra)
    return r


def ntb_pair(mode, a, b):
    return bytes([mode]) + struct.pack("<H", len(a)) + a + b


def ntb():
    a = ntb_host(4, 0x100000)
    b = ntb_host(8, 0x104000, bar0_write(19, 0x00, 6) +                    # LINK_DOWN
                 bar0_write(20, 0x04, 9) + bar0_write(21, 0x00, 4) +       # TEARDOWN_MW 9
                 rec(22, DMA_UNMAP, dma_unmap(0x100000, 0x10000)) +
                 rec(23, REGION_WRITE, region_access(2, 0x1000, 16, b"x" * 16)))
    write("corpus_ntb", "both_hosts", ntb_pair(0, a, b))
    write("corpus_ntb", "both_hosts_messages", ntb_pair(1, a, b))
    write("corpus_ntb", "outside_memory",
          ntb_pair(0, ntb_host(4, 0x7000000), ntb_host(4, 0x10f000)))
    write("corpus_ntb", "one_host", ntb_pair(0, a, b""))


if __name__ == "__main__":
    device()
    host()
    cfg_walk()
    caps()
    virtq_split()
    virtq_packed()
    ring_device()
    ring_host()
    ntb()
