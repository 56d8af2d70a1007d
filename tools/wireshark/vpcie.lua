-- SPDX-License-Identifier: MIT
-- Wireshark/tshark dissector for `vpcie trace --pcap` files (docs/trace.md):
-- link type LINKTYPE_USER0 (147); each packet is a 16-byte vpcie pseudo-header,
-- then a vfio-user message header and body.
--
--   tshark -X lua_script:tools/wireshark/vpcie.lua -r trace.pcap -V
--   wireshark -X lua_script:tools/wireshark/vpcie.lua trace.pcap
--
-- Every length is checked against the packet: a short or inconsistent packet
-- is flagged as malformed, never read past its end.

local vpcie = Proto("vpcie", "vpcie transaction trace")

local sides = { [1] = "device", [2] = "host" }
local types = {
  [1] = "ACCESS", [2] = "POST_BATCH", [3] = "DMA", [4] = "IRQ_RAISE", [5] = "IRQ",
  [6] = "IRQ_SET", [7] = "RESET", [8] = "CONNECT", [9] = "DISCONNECT", [10] = "FAULT",
}
local commands = {
  [0] = "(vpcie record)", [8] = "DEVICE_SET_IRQS", [9] = "REGION_READ", [10] = "REGION_WRITE",
  [11] = "DMA_READ", [12] = "DMA_WRITE", [13] = "DEVICE_RESET",
}
local regions = {
  [0] = "BAR0", [1] = "BAR1", [2] = "BAR2", [3] = "BAR3", [4] = "BAR4", [5] = "BAR5",
  [6] = "ROM", [7] = "config", [8] = "VGA",
}
local irqs = { [0] = "INTx", [1] = "MSI", [2] = "MSI-X" }

local f = vpcie.fields
f.version = ProtoField.uint8("vpcie.version", "Trace version")
f.side = ProtoField.uint8("vpcie.side", "Side", base.DEC, sides)
f.type = ProtoField.uint16("vpcie.type", "Record type", base.DEC, types)
f.pid = ProtoField.uint32("vpcie.pid", "Process id")
f.flags = ProtoField.uint16("vpcie.flags", "Record flags", base.HEX)
f.f_write = ProtoField.bool("vpcie.flags.write", "Write", 16, nil, 0x0001)
f.f_posted = ProtoField.bool("vpcie.flags.posted", "Posted", 16, nil, 0x0002)
f.f_msg = ProtoField.bool("vpcie.flags.msg", "DMA by message", 16, nil, 0x0004)
f.f_ring = ProtoField.bool("vpcie.flags.ring", "Ring", 16, nil, 0x0008)
f.f_mmap = ProtoField.bool("vpcie.flags.mmap", "Mapped access", 16, nil, 0x0010)
f.f_masked = ProtoField.bool("vpcie.flags.masked", "Masked", 16, nil, 0x0020)
f.f_pending = ProtoField.bool("vpcie.flags.pending", "Pending", 16, nil, 0x0040)
f.dur = ProtoField.uint32("vpcie.dur_ns", "Duration (ns)")
f.msg_id = ProtoField.uint16("vpcie.msg_id", "Message id")
f.command = ProtoField.uint16("vpcie.command", "Command", base.DEC, commands)
f.msg_size = ProtoField.uint32("vpcie.msg_size", "Message size")
f.msg_flags = ProtoField.uint32("vpcie.msg_flags", "Message flags", base.HEX)
f.error = ProtoField.uint32("vpcie.error", "Error (errno)")
f.offset = ProtoField.uint64("vpcie.offset", "Offset", base.HEX)
f.region = ProtoField.uint32("vpcie.region", "Region", base.DEC, regions)
f.count = ProtoField.uint32("vpcie.count", "Count")
f.data = ProtoField.bytes("vpcie.data", "Data (first 8 bytes)")
f.dma_addr = ProtoField.uint64("vpcie.dma.address", "DMA address", base.HEX)
f.dma_count = ProtoField.uint64("vpcie.dma.count", "DMA count")
f.irq_argsz = ProtoField.uint32("vpcie.irq.argsz", "argsz")
f.irq_flags = ProtoField.uint32("vpcie.irq.flags", "SET_IRQS flags", base.HEX)
f.irq_index = ProtoField.uint32("vpcie.irq.index", "IRQ index", base.DEC, irqs)
f.irq_start = ProtoField.uint32("vpcie.irq.start", "Start")
f.irq_count = ProtoField.uint32("vpcie.irq.count", "Count")
f.rec_index = ProtoField.uint32("vpcie.rec.index", "Index")
f.rec_aux = ProtoField.uint32("vpcie.rec.aux", "Aux")
f.rec_addr = ProtoField.uint64("vpcie.rec.addr", "Address / vector", base.HEX)
f.rec_len = ProtoField.uint64("vpcie.rec.len", "Length / count")
f.rec_text = ProtoField.string("vpcie.rec.text", "Text")

local e_short = ProtoExpert.new("vpcie.short", "Packet shorter than its layout",
  expert.group.MALFORMED, expert.severity.ERROR)
local e_size = ProtoExpert.new("vpcie.size", "vfio-user size disagrees with the packet",
  expert.group.MALFORMED, expert.severity.ERROR)
local e_error = ProtoExpert.new("vpcie.failed", "Transaction failed",
  expert.group.RESPONSE_CODE, expert.severity.WARN)
vpcie.experts = { e_short, e_size, e_error }

local PSEUDO = 16
local HDR = 16

function vpcie.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol = "vpcie"
  local len = tvb:len()
  local t = tree:add(vpcie, tvb(), "vpcie trace record")
  if len < PSEUDO + HDR then
    t:add_proto_expert_info(e_short)
    return len
  end
  local p = t:add(vpcie, tvb(0, PSEUDO), "Pseudo-header")
  p:add_le(f.version, tvb(0, 1))
  p:add_le(f.side, tvb(1, 1))
  p:add_le(f.type, tvb(2, 2))
  p:add_le(f.pid, tvb(4, 4))
  local fl = p:add_le(f.flags, tvb(8, 2))
  for _, b in ipairs({ f.f_write, f.f_posted, f.f_msg, f.f_ring, f.f_mmap, f.f_masked, f.f_pending }) do
    fl:add_le(b, tvb(8, 2))
  end
  p:add_le(f.dur, tvb(12, 4))

  local side = sides[tvb(1, 1):le_uint()] or "?"
  local rtype = tvb(2, 2):le_uint()
  local cmd = tvb(PSEUDO + 2, 2):le_uint()
  local size = tvb(PSEUDO + 4, 4):le_uint()
  local err = tvb(PSEUDO + 12, 4):le_uint()
  local h = t:add(vpcie, tvb(PSEUDO, HDR), "vfio-user header")
  h:add_le(f.msg_id, tvb(PSEUDO, 2))
  h:add_le(f.command, tvb(PSEUDO + 2, 2))
  local si = h:add_le(f.msg_size, tvb(PSEUDO + 4, 4))
  h:add_le(f.msg_flags, tvb(PSEUDO + 8, 4))
  h:add_le(f.error, tvb(PSEUDO + 12, 4))
  if size ~= len - PSEUDO then
    si:add_proto_expert_info(e_size)
  end
  if err ~= 0 then
    t:add_proto_expert_info(e_error)
  end

  local o = PSEUDO + HDR
  local body = len - o
  local info = side .. " " .. (types[rtype] or "?")
  local function need(n)
    if body < n then
      t:add_proto_expert_info(e_short)
      return false
    end
    return true
  end

  if cmd == 9 or cmd == 10 then
    if not need(16) then return len end
    local region = tvb(o + 8, 4):le_uint()
    local count = tvb(o + 12, 4):le_uint()
    t:add_le(f.offset, tvb(o, 8))
    t:add_le(f.region, tvb(o + 8, 4))
    t:add_le(f.count, tvb(o + 12, 4))
    if body > 16 then
      t:add(f.data, tvb(o + 16, body - 16))
    end
    info = string.format("%s %s %s+0x%x len %d", side, cmd == 9 and "read" or "write",
      regions[region] or ("region " .. region), tvb(o, 8):le_uint64():tonumber(), count)
  elseif cmd == 11 or cmd == 12 then
    if not need(16) then return len end
    t:add_le(f.dma_addr, tvb(o, 8))
    t:add_le(f.dma_count, tvb(o + 8, 8))
    info = string.format("%s DMA %s 0x%x len %s", side, cmd == 12 and "write" or "read",
      tvb(o, 8):le_uint64():tonumber(), tostring(tvb(o + 8, 8):le_uint64()))
  elseif cmd == 8 then
    if not need(20) then return len end
    t:add_le(f.irq_argsz, tvb(o, 4))
    t:add_le(f.irq_flags, tvb(o + 4, 4))
    t:add_le(f.irq_index, tvb(o + 8, 4))
    t:add_le(f.irq_start, tvb(o + 12, 4))
    t:add_le(f.irq_count, tvb(o + 16, 4))
    info = string.format("%s SET_IRQS %s", side, irqs[tvb(o + 8, 4):le_uint()] or "?")
  elseif cmd == 13 then
    info = side .. " DEVICE_RESET"
  elseif cmd == 0 then
    if not need(60) then return len end
    t:add_le(f.rec_index, tvb(o, 4))
    t:add_le(f.rec_aux, tvb(o + 4, 4))
    t:add_le(f.rec_addr, tvb(o + 8, 8))
    t:add_le(f.rec_len, tvb(o + 16, 8))
    t:add(f.rec_text, tvb(o + 24, 36))
    if rtype == 4 or rtype == 5 then
      info = string.format("%s %s %s vector %s", side, types[rtype],
        irqs[tvb(o, 4):le_uint()] or "?", tostring(tvb(o + 8, 8):le_uint64()))
    else
      local text = tvb(o + 24, 36):stringz()
      if text ~= "" then info = info .. ": " .. text end
    end
  end
  pinfo.cols.info = info
  return len
end

local encap = (wtap_encaps and wtap_encaps.USER0) or wtap.USER0
DissectorTable.get("wtap_encap"):add(encap, vpcie)
