-- SPDX-License-Identifier: MIT
-- Wireshark/tshark dissector for vfio-user over TCP (docs/tcp.md): every
-- command and reply of the spec (header, error replies, the fixed parts of
-- the messages vpcie and QEMU exchange) and vpcie's VPCIE_CMD_IRQ_NOTIFY
-- extension. Messages are reassembled across TCP segments.
--
--   tshark -X lua_script:tools/wireshark/vfio-user.lua -d tcp.port==7601,vfio-user -r cap.pcap -V
--
-- No port is registered by default (vfio-user has none): use Decode As, or
-- set the preference vfio-user.tcp_port. A length that disagrees with the
-- message is flagged, never read past.

local p = Proto("vfio-user", "vfio-user")

local commands = {
  [1] = "VERSION", [2] = "DMA_MAP", [3] = "DMA_UNMAP", [4] = "DEVICE_GET_INFO",
  [5] = "DEVICE_GET_REGION_INFO", [6] = "DEVICE_GET_REGION_IO_FDS", [7] = "DEVICE_GET_IRQ_INFO",
  [8] = "DEVICE_SET_IRQS", [9] = "REGION_READ", [10] = "REGION_WRITE", [11] = "DMA_READ",
  [12] = "DMA_WRITE", [13] = "DEVICE_RESET", [15] = "REGION_WRITE_MULTI",
  [16] = "DEVICE_FEATURE", [17] = "MIG_DATA_READ", [18] = "MIG_DATA_WRITE",
  [0x7601] = "IRQ_NOTIFY (vpcie)",
}
local types = { [0] = "command", [1] = "reply" }
local regions = {
  [0] = "BAR0", [1] = "BAR1", [2] = "BAR2", [3] = "BAR3", [4] = "BAR4", [5] = "BAR5",
  [6] = "ROM", [7] = "config", [8] = "VGA",
}
local irqs = { [0] = "INTx", [1] = "MSI", [2] = "MSI-X", [3] = "ERR", [4] = "REQ" }

local f = p.fields
f.msg_id = ProtoField.uint16("vfio-user.msg_id", "Message id")
f.command = ProtoField.uint16("vfio-user.command", "Command", base.DEC, commands)
f.size = ProtoField.uint32("vfio-user.size", "Size")
f.flags = ProtoField.uint32("vfio-user.flags", "Flags", base.HEX)
f.type = ProtoField.uint32("vfio-user.type", "Type", base.DEC, types, 0xf)
f.no_reply = ProtoField.bool("vfio-user.no_reply", "No reply", 32, nil, 0x10)
f.is_error = ProtoField.bool("vfio-user.error_flag", "Error", 32, nil, 0x20)
f.error = ProtoField.uint32("vfio-user.error", "Error (errno)")
f.version = ProtoField.string("vfio-user.version", "Version")
f.caps = ProtoField.string("vfio-user.capabilities", "Capabilities (JSON)")
f.offset = ProtoField.uint64("vfio-user.offset", "Offset", base.HEX)
f.region = ProtoField.uint32("vfio-user.region", "Region", base.DEC, regions)
f.count = ProtoField.uint32("vfio-user.count", "Count")
f.data = ProtoField.bytes("vfio-user.data", "Data")
f.dma_addr = ProtoField.uint64("vfio-user.dma.address", "Address", base.HEX)
f.dma_count = ProtoField.uint64("vfio-user.dma.count", "Count")
f.map_flags = ProtoField.uint32("vfio-user.dma.flags", "Map flags", base.HEX)
f.map_offset = ProtoField.uint64("vfio-user.dma.offset", "File offset", base.HEX)
f.map_size = ProtoField.uint64("vfio-user.dma.size", "Size", base.HEX)
f.argsz = ProtoField.uint32("vfio-user.argsz", "argsz")
f.irq_flags = ProtoField.uint32("vfio-user.irq.flags", "SET_IRQS flags", base.HEX)
f.irq_index = ProtoField.uint32("vfio-user.irq.index", "IRQ index", base.DEC, irqs)
f.irq_start = ProtoField.uint32("vfio-user.irq.start", "Start")
f.irq_count = ProtoField.uint32("vfio-user.irq.count", "Count")
f.irq_vector = ProtoField.uint32("vfio-user.irq.vector", "Vector")
f.info_index = ProtoField.uint32("vfio-user.info.index", "Index")
f.info_size = ProtoField.uint64("vfio-user.info.size", "Size", base.HEX)

local e_short = ProtoExpert.new("vfio-user.short", "Message shorter than its layout",
                                expert.group.MALFORMED, expert.severity.ERROR)
local e_size = ProtoExpert.new("vfio-user.badsize", "Header size below 16 bytes",
                               expert.group.MALFORMED, expert.severity.ERROR)
local e_err = ProtoExpert.new("vfio-user.failed", "Error reply",
                              expert.group.RESPONSE_CODE, expert.severity.NOTE)
p.experts = { e_short, e_size, e_err }

p.prefs.tcp_port = Pref.uint("TCP port", 0, "Decode this TCP port as vfio-user (0: none)")

local HDR = 16

-- The body of one message (tvb holds exactly the message).
local function body(tvb, tree, cmd, is_reply, is_error)
  local len = tvb:len() - HDR
  local b = tvb(HDR)
  local function need(n)
    if len < n then
      tree:add_proto_expert_info(e_short)
      return false
    end
    return true
  end
  if is_error or len == 0 then return end
  if cmd == 1 then -- VERSION: major, minor, JSON
    if not need(4) then return end
    tree:add(f.version, b(0, 4), string.format("%d.%d", b(0, 2):le_uint(), b(2, 2):le_uint()))
    if len > 4 then tree:add(f.caps, b(4, len - 4)) end
  elseif cmd == 2 and not is_reply then -- DMA_MAP
    if not need(32) then return end
    tree:add_le(f.argsz, b(0, 4)); tree:add_le(f.map_flags, b(4, 4))
    tree:add_le(f.map_offset, b(8, 8)); tree:add_le(f.dma_addr, b(16, 8))
    tree:add_le(f.map_size, b(24, 8))
  elseif cmd == 3 then -- DMA_UNMAP
    if not need(24) then return end
    tree:add_le(f.argsz, b(0, 4)); tree:add_le(f.map_flags, b(4, 4))
    tree:add_le(f.dma_addr, b(8, 8)); tree:add_le(f.map_size, b(16, 8))
  elseif cmd == 5 or cmd == 7 then -- GET_REGION_INFO / GET_IRQ_INFO
    if not need(12) then return end
    tree:add_le(f.argsz, b(0, 4)); tree:add_le(f.irq_flags, b(4, 4))
    tree:add_le(cmd == 7 and f.irq_index or f.region, b(8, 4))
    if cmd == 5 and len >= 32 then tree:add_le(f.info_size, b(16, 8)) end
    if cmd == 7 and len >= 16 then tree:add_le(f.irq_count, b(12, 4)) end
  elseif cmd == 8 and not is_reply then -- SET_IRQS
    if not need(20) then return end
    tree:add_le(f.argsz, b(0, 4)); tree:add_le(f.irq_flags, b(4, 4))
    tree:add_le(f.irq_index, b(8, 4)); tree:add_le(f.irq_start, b(12, 4))
    tree:add_le(f.irq_count, b(16, 4))
    if len > 20 then tree:add(f.data, b(20, len - 20)) end
  elseif cmd == 9 or cmd == 10 then -- REGION_READ / REGION_WRITE
    if not need(16) then return end
    tree:add_le(f.offset, b(0, 8)); tree:add_le(f.region, b(8, 4)); tree:add_le(f.count, b(12, 4))
    if len > 16 then tree:add(f.data, b(16, len - 16)) end
  elseif cmd == 12 and is_reply then -- DMA_WRITE reply: address, u32 count
    if not need(12) then return end
    tree:add_le(f.dma_addr, b(0, 8)); tree:add_le(f.count, b(8, 4))
  elseif cmd == 11 or cmd == 12 then -- DMA_READ / DMA_WRITE
    if not need(16) then return end
    tree:add_le(f.dma_addr, b(0, 8)); tree:add_le(f.dma_count, b(8, 8))
    if len > 16 then tree:add(f.data, b(16, len - 16)) end
  elseif cmd == 0x7601 then -- IRQ_NOTIFY
    if not need(8) then return end
    tree:add_le(f.irq_index, b(0, 4)); tree:add_le(f.irq_vector, b(4, 4))
  else
    tree:add(f.data, b(0, len))
  end
end

local function message_len(tvb, pinfo, offset)
  local size = tvb(offset + 4, 4):le_uint()
  if size < HDR then return HDR end -- flagged in the dissector
  return size
end

local function dissect_one(tvb, pinfo, tree)
  local cmd = tvb(2, 2):le_uint()
  local flags = tvb(8, 4):le_uint()
  local size = tvb(4, 4):le_uint()
  local is_reply = bit.band(flags, 0xf) == 1
  local is_error = bit.band(flags, 0x20) ~= 0
  local name = commands[cmd] or string.format("command %d", cmd)
  pinfo.cols.protocol = "vfio-user"
  local t = tree:add(p, tvb(), string.format("vfio-user %s %s, id %d", name,
                                               is_reply and "reply" or "command",
                                               tvb(0, 2):le_uint()))
  t:add_le(f.msg_id, tvb(0, 2)); t:add_le(f.command, tvb(2, 2))
  local st = t:add_le(f.size, tvb(4, 4))
  if size < HDR then st:add_proto_expert_info(e_size) end
  local ft = t:add_le(f.flags, tvb(8, 4))
  ft:add_le(f.type, tvb(8, 4)); ft:add_le(f.no_reply, tvb(8, 4)); ft:add_le(f.is_error, tvb(8, 4))
  local et = t:add_le(f.error, tvb(12, 4))
  if is_error then et:add_proto_expert_info(e_err) end
  pinfo.cols.info:append(string.format("%s%s %s id=%d; ", name, is_reply and " reply" or "",
                                       is_error and ("error " .. tvb(12, 4):le_uint()) or "",
                                       tvb(0, 2):le_uint()))
  if size >= HDR then body(tvb, t, cmd, is_reply, is_error) end
  return tvb:len()
end

function p.dissector(tvb, pinfo, tree)
  pinfo.cols.info:clear()
  dissect_tcp_pdus(tvb, tree, HDR, message_len, dissect_one)
  return tvb:len()
end

local tcp_table = DissectorTable.get("tcp.port")
tcp_table:add_for_decode_as(p)
local registered = 0
function p.prefs_changed()
  if registered ~= 0 then tcp_table:remove(registered, p) end
  registered = p.prefs.tcp_port
  if registered ~= 0 then tcp_table:add(registered, p) end
end
