/* SPDX-License-Identifier: MIT */
/*
 * vpcie/protocol.h - the vfio-user wire format, shared by the device and the
 * host runtime.
 *
 * The reference is QEMU's docs/interop/vfio-user.rst. Payloads that the spec
 * borrows from VFIO use the kernel's <linux/vfio.h> constants (region and IRQ
 * indices, flag bits); only what vfio-user adds on top is defined here.
 *
 * Everything is host-endian, as the spec says for AF_UNIX peers. Structures are
 * packed exactly as on the wire; decode functions never trust a peer's sizes:
 * each validates lengths, counts and offsets against the bytes actually
 * received and returns -EINVAL (malformed) or -E2BIG (over a negotiated limit).
 */
#ifndef VPCIE_PROTOCOL_H
#define VPCIE_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Protocol version we speak: QEMU proposes 0.1 as well. */
#define VPCIE_PROTO_MAJOR 0
#define VPCIE_PROTO_MINOR 1

enum vpcie_cmd {
	VPCIE_CMD_VERSION = 1,
	VPCIE_CMD_DMA_MAP = 2,
	VPCIE_CMD_DMA_UNMAP = 3,
	VPCIE_CMD_DEVICE_GET_INFO = 4,
	VPCIE_CMD_DEVICE_GET_REGION_INFO = 5,
	VPCIE_CMD_DEVICE_GET_REGION_IO_FDS = 6,
	VPCIE_CMD_DEVICE_GET_IRQ_INFO = 7,
	VPCIE_CMD_DEVICE_SET_IRQS = 8,
	VPCIE_CMD_REGION_READ = 9,
	VPCIE_CMD_REGION_WRITE = 10,
	VPCIE_CMD_DMA_READ = 11,
	VPCIE_CMD_DMA_WRITE = 12,
	VPCIE_CMD_DEVICE_RESET = 13,
	/* 14 was DIRTY_PAGES in drafts and is unassigned now. */
	VPCIE_CMD_REGION_WRITE_MULTI = 15,
	VPCIE_CMD_DEVICE_FEATURE = 16,
	VPCIE_CMD_MIG_DATA_READ = 17,
	VPCIE_CMD_MIG_DATA_WRITE = 18,
	VPCIE_CMD_MAX = 18,
};

/*
 * vpcie extension, outside the spec's command numbers: an interrupt sent as
 * a message (device to client, always NO_REPLY) where no eventfd can travel,
 * i.e. over TCP. Only a client that proposed "vpcie_irq_msg" in VERSION and
 * got it back ever sees one (docs/tcp.md). One message = one eventfd signal.
 */
#define VPCIE_CMD_IRQ_NOTIFY 0x7601u

struct vpcie_irq_notify {
	uint32_t index;  /* VFIO_PCI_INTX/MSI/MSIX_IRQ_INDEX */
	uint32_t vector; /* vector within the index (0 for INTx) */
} __attribute__((packed));

/* Name of a command for logs ("VERSION", ...); "UNKNOWN" if out of range. */
const char *vpcie_cmd_name(unsigned cmd);

/* Message header flags. */
#define VPCIE_MSGF_TYPE_MASK 0xfu
#define VPCIE_MSGF_COMMAND 0x0u
#define VPCIE_MSGF_REPLY 0x1u
#define VPCIE_MSGF_NO_REPLY (1u << 4)
#define VPCIE_MSGF_ERROR (1u << 5)

struct vpcie_msg_hdr {
	uint16_t msg_id;
	uint16_t cmd;
	uint32_t size; /* whole message, header included */
	uint32_t flags;
	uint32_t error; /* errno in an error reply, reserved otherwise */
} __attribute__((packed));

#define VPCIE_HDR_SIZE ((uint32_t)sizeof(struct vpcie_msg_hdr))

/* ---- VERSION ------------------------------------------------------------ */

struct vpcie_version {
	uint16_t major;
	uint16_t minor;
	char data[]; /* optional NUL-terminated JSON */
} __attribute__((packed));

/* Negotiable capabilities carried as JSON in VERSION (spec defaults noted). */
struct vpcie_caps {
	uint32_t max_msg_fds;        /* default 1 */
	uint64_t max_data_xfer_size; /* default 1 MiB */
	uint32_t max_dma_maps;       /* default 65535 */
	uint64_t pgsizes;            /* default 4096 */
	bool write_multiple;         /* default false */
	bool twin_socket;            /* twin_socket.supported */
	int twin_fd_index;           /* twin_socket.fd_index, -1 if absent */
	/*
	 * vpcie's shared-memory ring transport (vpcie/ring.h), a vpcie-only
	 * member other peers ignore: "vpcie_ring": {"version": 1} proposed by
	 * the host; the device's answer adds "slots" and the fd indices of the
	 * memfd and of the two wake-up eventfds. Absent members: 0 / -1.
	 */
	bool ring;                   /* the vpcie_ring object is present */
	uint32_t ring_version;
	uint32_t ring_slots;
	int ring_fd_index;           /* memfd with both rings */
	int ring_h2d_wake_fd_index;  /* eventfd the host writes to wake the device */
	int ring_d2h_wake_fd_index;  /* eventfd the device writes to wake the host */
	/*
	 * "vpcie_dma_read_max": the largest DMA_READ reply the client sends
	 * whole (a vpcie host proposes its max_data_xfer_size). Without it a
	 * vpcie device asks for at most 64 KiB per DMA_READ, because QEMU
	 * truncates larger replies (see lib/device/dma.c). 0: absent.
	 */
	uint64_t dma_read_max;
	/*
	 * "vpcie_irq_msg": true -- interrupts as VPCIE_CMD_IRQ_NOTIFY messages,
	 * proposed by a vpcie host on a stream that cannot carry fds; a
	 * device that agrees answers it back.
	 */
	bool irq_msg;
	uint32_t present;            /* VPCIE_CAP_* members the JSON carried
				      * (vpcie_caps_from_json); 0 from defaults */
};

/* Capability members, for vpcie_caps.present and vpcie_caps_to_json_subset(). */
#define VPCIE_CAP_MAX_MSG_FDS (1u << 0)
#define VPCIE_CAP_MAX_DATA_XFER_SIZE (1u << 1)
#define VPCIE_CAP_MAX_DMA_MAPS (1u << 2)
#define VPCIE_CAP_PGSIZES (1u << 3)
#define VPCIE_CAP_WRITE_MULTIPLE (1u << 4)
#define VPCIE_CAP_TWIN_SOCKET (1u << 5)
#define VPCIE_CAP_RING (1u << 6)
#define VPCIE_CAP_DMA_READ_MAX (1u << 7)
#define VPCIE_CAP_IRQ_MSG (1u << 8)
#define VPCIE_CAP_ALL 0x1ffu

/* Spec defaults, used when a capability is absent. */
void vpcie_caps_defaults(struct vpcie_caps *caps);

/*
 * Serialise caps as the VERSION JSON into buf (NUL included in the returned
 * length): every numeric and boolean member, twin_socket and vpcie_ring when
 * set. Returns the length, or -ENOSPC if buf is too small.
 */
int vpcie_caps_to_json(const struct vpcie_caps *caps, char *buf, size_t len);

/*
 * Same, limited to the VPCIE_CAP_* members in mask: a VERSION reply must
 * hold a subset of what the peer proposed, so a server passes the client's
 * vpcie_caps.present (0 gives an empty "capabilities" object).
 */
int vpcie_caps_to_json_subset(const struct vpcie_caps *caps, uint32_t mask, char *buf,
			      size_t len);

/*
 * Parse the VERSION JSON of len bytes (need not be NUL-terminated). Missing
 * capabilities take spec defaults; unknown ones are ignored, as the spec asks.
 * Returns 0, or -EINVAL for malformed JSON or a capability of the wrong type
 * or out of range (max_msg_fds > VPCIE_MAX_FDS_LIMIT is clamped, not refused).
 */
int vpcie_caps_from_json(const char *json, size_t len, struct vpcie_caps *caps);

/* Upper bounds we accept from any peer, whatever it announces. */
#define VPCIE_MAX_FDS_LIMIT 253u /* SCM_MAX_FD */
#define VPCIE_MAX_XFER_LIMIT (64u << 20)
#define VPCIE_VERSION_JSON_MAX 4096u

/* ---- DMA_MAP / DMA_UNMAP ------------------------------------------------ */

struct vpcie_dma_map {
	uint32_t argsz;
	uint32_t flags; /* VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE */
	uint64_t offset;
	uint64_t addr;
	uint64_t size;
} __attribute__((packed));

struct vpcie_dma_unmap {
	uint32_t argsz;
	uint32_t flags; /* VFIO_DMA_UNMAP_FLAG_ALL unmaps everything */
	uint64_t addr;
	uint64_t size;
} __attribute__((packed));

/* ---- DEVICE_GET_INFO ---------------------------------------------------- */

/* vfio-user's 16-byte form: the kernel struct has grown a cap_offset since. */
struct vpcie_device_info {
	uint32_t argsz;
	uint32_t flags; /* VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI */
	uint32_t num_regions;
	uint32_t num_irqs;
} __attribute__((packed));

/* ---- DEVICE_GET_REGION_INFO: struct vfio_region_info, then caps --------- */

struct vpcie_region_info {
	uint32_t argsz;
	uint32_t flags; /* VFIO_REGION_INFO_FLAG_* */
	uint32_t index;
	uint32_t cap_offset;
	uint64_t size;
	uint64_t offset;
} __attribute__((packed));

struct vpcie_sparse_area {
	uint64_t offset;
	uint64_t size;
} __attribute__((packed));

/* VFIO_REGION_INFO_CAP_SPARSE_MMAP, version 1 */
struct vpcie_cap_sparse_mmap {
	uint16_t id;
	uint16_t version;
	uint32_t next;
	uint32_t nr_areas;
	uint32_t reserved;
	struct vpcie_sparse_area areas[];
} __attribute__((packed));

#define VPCIE_MAX_SPARSE_AREAS 64u

/* ---- DEVICE_GET_REGION_IO_FDS ------------------------------------------- */

struct vpcie_region_io_fds {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
	/* sub-regions follow; we always answer count 0 for now */
} __attribute__((packed));

/* ---- DEVICE_GET_IRQ_INFO / DEVICE_SET_IRQS ------------------------------ */

struct vpcie_irq_info {
	uint32_t argsz;
	uint32_t flags; /* VFIO_IRQ_INFO_* */
	uint32_t index;
	uint32_t count;
} __attribute__((packed));

struct vpcie_irq_set {
	uint32_t argsz;
	uint32_t flags; /* one VFIO_IRQ_SET_DATA_* | one VFIO_IRQ_SET_ACTION_* */
	uint32_t index;
	uint32_t start;
	uint32_t count;
	uint8_t data[]; /* count bools for DATA_BOOL; nothing otherwise */
} __attribute__((packed));

/* ---- REGION_READ / REGION_WRITE ----------------------------------------- */

struct vpcie_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	uint8_t data[];
} __attribute__((packed));

struct vpcie_write_multi_entry {
	uint64_t offset;
	uint32_t region;
	uint32_t count; /* 1..8 */
	uint8_t data[8];
} __attribute__((packed));

struct vpcie_write_multi {
	uint64_t wr_cnt;
	struct vpcie_write_multi_entry wrs[];
} __attribute__((packed));

#define VPCIE_WRITE_MULTI_MAX 1024u

/* ---- DMA_READ / DMA_WRITE (server -> client) ---------------------------- */

struct vpcie_dma_access {
	uint64_t addr;
	uint64_t count;
	uint8_t data[];
} __attribute__((packed));

/* The spec's DMA_WRITE reply has a 4-byte count; some peers send 8. */
struct vpcie_dma_write_reply {
	uint64_t addr;
	uint32_t count;
} __attribute__((packed));

/* ---- DEVICE_FEATURE ----------------------------------------------------- */

struct vpcie_device_feature {
	uint32_t argsz;
	uint32_t flags;
	uint8_t data[];
} __attribute__((packed));

/* ---- Validation --------------------------------------------------------- */

/*
 * Check that a command message's payload (len bytes after the header) is well
 * formed for its command: fixed part present, variable parts consistent with
 * the counts they declare, data counts within max_xfer. Does not judge
 * semantics (region index, addresses): that is the receiver's job.
 * Returns 0, -EINVAL, -E2BIG (count over max_xfer) or -ENOTSUP (unknown cmd).
 */
int vpcie_validate_command(unsigned cmd, const void *payload, size_t len,
			   uint64_t max_xfer);

/*
 * Same for a reply to cmd. Tolerant where real peers differ (DMA_WRITE reply
 * of 12 or 16 bytes) but never lets a size point outside the payload.
 */
int vpcie_validate_reply(unsigned cmd, const void *payload, size_t len,
			 uint64_t max_xfer);

#ifdef __cplusplus
}
#endif
#endif
