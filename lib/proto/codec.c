/* SPDX-License-Identifier: MIT */
/*
 * Structural validation of vfio-user payloads. Every check here is about the
 * bytes: a fixed part must be present, a variable part must be as long as the
 * count that announces it, a data count must respect the negotiated transfer
 * size. What the fields mean (is region 3 a BAR? is this address mapped?) is
 * the receiver's business.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <vpcie/protocol.h>

static const char *const cmd_names[VPCIE_CMD_MAX + 1] = {
	[VPCIE_CMD_VERSION] = "VERSION",
	[VPCIE_CMD_DMA_MAP] = "DMA_MAP",
	[VPCIE_CMD_DMA_UNMAP] = "DMA_UNMAP",
	[VPCIE_CMD_DEVICE_GET_INFO] = "DEVICE_GET_INFO",
	[VPCIE_CMD_DEVICE_GET_REGION_INFO] = "DEVICE_GET_REGION_INFO",
	[VPCIE_CMD_DEVICE_GET_REGION_IO_FDS] = "DEVICE_GET_REGION_IO_FDS",
	[VPCIE_CMD_DEVICE_GET_IRQ_INFO] = "DEVICE_GET_IRQ_INFO",
	[VPCIE_CMD_DEVICE_SET_IRQS] = "DEVICE_SET_IRQS",
	[VPCIE_CMD_REGION_READ] = "REGION_READ",
	[VPCIE_CMD_REGION_WRITE] = "REGION_WRITE",
	[VPCIE_CMD_DMA_READ] = "DMA_READ",
	[VPCIE_CMD_DMA_WRITE] = "DMA_WRITE",
	[VPCIE_CMD_DEVICE_RESET] = "DEVICE_RESET",
	[VPCIE_CMD_REGION_WRITE_MULTI] = "REGION_WRITE_MULTI",
	[VPCIE_CMD_DEVICE_FEATURE] = "DEVICE_FEATURE",
	[VPCIE_CMD_MIG_DATA_READ] = "MIG_DATA_READ",
	[VPCIE_CMD_MIG_DATA_WRITE] = "MIG_DATA_WRITE",
};

const char *vpcie_cmd_name(unsigned cmd)
{
	if (cmd > VPCIE_CMD_MAX || !cmd_names[cmd])
		return "UNKNOWN";
	return cmd_names[cmd];
}

/* Exactly one bit of mask set in v. */
static int one_of(uint32_t v, uint32_t mask)
{
	uint32_t b = v & mask;

	return b && !(b & (b - 1));
}

/* Smallest payload of each command and of its reply; 0 where none is needed. */
static const struct {
	uint16_t cmd, reply;
} min_len[VPCIE_CMD_MAX + 1] = {
	[VPCIE_CMD_VERSION] = {sizeof(struct vpcie_version), sizeof(struct vpcie_version)},
	[VPCIE_CMD_DMA_MAP] = {sizeof(struct vpcie_dma_map), 0},
	[VPCIE_CMD_DMA_UNMAP] = {sizeof(struct vpcie_dma_unmap), 0},
	/* Requests need only what the server reads (argsz, flags, index). */
	[VPCIE_CMD_DEVICE_GET_INFO] = {8, sizeof(struct vpcie_device_info)},
	[VPCIE_CMD_DEVICE_GET_REGION_INFO] = {12, sizeof(struct vpcie_region_info)},
	[VPCIE_CMD_DEVICE_GET_REGION_IO_FDS] = {sizeof(struct vpcie_region_io_fds),
						sizeof(struct vpcie_region_io_fds)},
	[VPCIE_CMD_DEVICE_GET_IRQ_INFO] = {12, sizeof(struct vpcie_irq_info)},
	[VPCIE_CMD_DEVICE_SET_IRQS] = {sizeof(struct vpcie_irq_set), 0},
	[VPCIE_CMD_REGION_READ] = {sizeof(struct vpcie_region_access),
				   sizeof(struct vpcie_region_access)},
	[VPCIE_CMD_REGION_WRITE] = {sizeof(struct vpcie_region_access), 0},
	[VPCIE_CMD_DMA_READ] = {sizeof(struct vpcie_dma_access), sizeof(struct vpcie_dma_access)},
	/* The spec's DMA_WRITE reply is 12 bytes; some peers send 16. */
	[VPCIE_CMD_DMA_WRITE] = {sizeof(struct vpcie_dma_access),
				 sizeof(struct vpcie_dma_write_reply)},
	[VPCIE_CMD_DEVICE_RESET] = {0, 0},
	[VPCIE_CMD_REGION_WRITE_MULTI] = {sizeof(struct vpcie_write_multi),
					  sizeof(struct vpcie_write_multi)},
	[VPCIE_CMD_DEVICE_FEATURE] = {8, 8},
	[VPCIE_CMD_MIG_DATA_READ] = {8, 0},
	[VPCIE_CMD_MIG_DATA_WRITE] = {8, 0},
};

/* A data count (after a fixed part of len bytes) within max_xfer, and, when
 * the message carries the data, present in full. */
static int check_data(size_t len, size_t fixed, uint64_t count, uint64_t max_xfer,
		      bool carries_data)
{
	if (count > max_xfer)
		return -E2BIG;
	return carries_data && len - fixed < count ? -EINVAL : 0;
}

static uint64_t region_count(const void *payload)
{
	return ((const struct vpcie_region_access *)payload)->count;
}

static uint64_t dma_count(const void *payload)
{
	return ((const struct vpcie_dma_access *)payload)->count;
}

static int check_set_irqs(const struct vpcie_irq_set *s, size_t len)
{
	if (len < sizeof(*s))
		return -EINVAL;
	if (!one_of(s->flags, VFIO_IRQ_SET_DATA_TYPE_MASK) ||
	    !one_of(s->flags, VFIO_IRQ_SET_ACTION_TYPE_MASK) ||
	    (s->flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)))
		return -EINVAL;
	if ((s->flags & VFIO_IRQ_SET_DATA_BOOL) && len - sizeof(*s) < s->count)
		return -EINVAL;
	return 0;
}

static int check_write_multi(const struct vpcie_write_multi *m, size_t len)
{
	if (len < sizeof(*m))
		return -EINVAL;
	if (m->wr_cnt == 0 || m->wr_cnt > VPCIE_WRITE_MULTI_MAX)
		return -EINVAL;
	if ((len - sizeof(*m)) / sizeof(m->wrs[0]) < m->wr_cnt)
		return -EINVAL;
	for (uint64_t i = 0; i < m->wr_cnt; i++)
		if (m->wrs[i].count == 0 || m->wrs[i].count > sizeof(m->wrs[i].data))
			return -EINVAL;
	return 0;
}

static int validate(unsigned cmd, bool reply, const void *payload, size_t len,
		    uint64_t max_xfer)
{
	if (cmd == 0 || cmd > VPCIE_CMD_MAX || !cmd_names[cmd])
		return -ENOTSUP;
	if (len < (reply ? min_len[cmd].reply : min_len[cmd].cmd))
		return -EINVAL;
	switch (cmd) {
	case VPCIE_CMD_VERSION:
		return len - sizeof(struct vpcie_version) > VPCIE_VERSION_JSON_MAX ? -E2BIG : 0;
	case VPCIE_CMD_DEVICE_SET_IRQS:
		return reply ? 0 : check_set_irqs(payload, len);
	case VPCIE_CMD_REGION_WRITE_MULTI:
		return reply ? 0 : check_write_multi(payload, len);
	case VPCIE_CMD_REGION_READ:   /* the data travels in the reply */
	case VPCIE_CMD_REGION_WRITE:  /* the data travels in the command */
		if (reply && cmd == VPCIE_CMD_REGION_WRITE)
			return 0;
		return check_data(len, sizeof(struct vpcie_region_access), region_count(payload),
				  max_xfer, reply == (cmd == VPCIE_CMD_REGION_READ));
	case VPCIE_CMD_DMA_READ:
	case VPCIE_CMD_DMA_WRITE:
		if (reply && cmd == VPCIE_CMD_DMA_WRITE)
			return 0;
		return check_data(len, sizeof(struct vpcie_dma_access), dma_count(payload),
				  max_xfer, reply == (cmd == VPCIE_CMD_DMA_READ));
	default:
		return 0;
	}
}

int vpcie_validate_command(unsigned cmd, const void *payload, size_t len, uint64_t max_xfer)
{
	return validate(cmd, false, payload, len, max_xfer);
}

int vpcie_validate_reply(unsigned cmd, const void *payload, size_t len, uint64_t max_xfer)
{
	return validate(cmd, true, payload, len, max_xfer);
}
