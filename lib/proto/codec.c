/* SPDX-License-Identifier: MIT */
/*
 * Structural validation of vfio-user payloads. Every check here is about the
 * bytes: a fixed part must be present, a variable part must be as long as the
 * count that announces it, a data count must respect the negotiated transfer
 * size. What the fields mean (is region 3 a BAR? is this address mapped?) is
 * the receiver's business.
 */
#include <errno.h>
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

static int check_access(size_t len, uint64_t max_xfer, size_t fixed,
			uint64_t count, int with_data)
{
	if (len < fixed)
		return -EINVAL;
	if (count > max_xfer)
		return -E2BIG;
	if (with_data && len - fixed < count)
		return -EINVAL;
	return 0;
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

int vpcie_validate_command(unsigned cmd, const void *payload, size_t len,
			   uint64_t max_xfer)
{
	const struct vpcie_region_access *ra = payload;
	const struct vpcie_dma_access *da = payload;

	switch (cmd) {
	case VPCIE_CMD_VERSION:
		if (len < sizeof(struct vpcie_version))
			return -EINVAL;
		return len - sizeof(struct vpcie_version) > VPCIE_VERSION_JSON_MAX ? -E2BIG : 0;
	case VPCIE_CMD_DMA_MAP:
		return len < sizeof(struct vpcie_dma_map) ? -EINVAL : 0;
	case VPCIE_CMD_DMA_UNMAP:
		return len < sizeof(struct vpcie_dma_unmap) ? -EINVAL : 0;
	case VPCIE_CMD_DEVICE_GET_INFO:
		return len < 8 ? -EINVAL : 0; /* argsz + flags; the rest is output */
	case VPCIE_CMD_DEVICE_GET_REGION_INFO:
		return len < 12 ? -EINVAL : 0; /* up to index */
	case VPCIE_CMD_DEVICE_GET_REGION_IO_FDS:
		return len < sizeof(struct vpcie_region_io_fds) ? -EINVAL : 0;
	case VPCIE_CMD_DEVICE_GET_IRQ_INFO:
		return len < 12 ? -EINVAL : 0;
	case VPCIE_CMD_DEVICE_SET_IRQS:
		return check_set_irqs(payload, len);
	case VPCIE_CMD_REGION_READ:
		return check_access(len, max_xfer, sizeof(*ra),
				    len >= sizeof(*ra) ? ra->count : 0, 0);
	case VPCIE_CMD_REGION_WRITE:
		return check_access(len, max_xfer, sizeof(*ra),
				    len >= sizeof(*ra) ? ra->count : 0, 1);
	case VPCIE_CMD_DMA_READ:
		return check_access(len, max_xfer, sizeof(*da),
				    len >= sizeof(*da) ? da->count : 0, 0);
	case VPCIE_CMD_DMA_WRITE:
		return check_access(len, max_xfer, sizeof(*da),
				    len >= sizeof(*da) ? da->count : 0, 1);
	case VPCIE_CMD_DEVICE_RESET:
		return 0;
	case VPCIE_CMD_REGION_WRITE_MULTI:
		return check_write_multi(payload, len);
	case VPCIE_CMD_DEVICE_FEATURE:
	case VPCIE_CMD_MIG_DATA_READ:
	case VPCIE_CMD_MIG_DATA_WRITE:
		return len < 8 ? -EINVAL : 0;
	default:
		return -ENOTSUP;
	}
}

int vpcie_validate_reply(unsigned cmd, const void *payload, size_t len,
			 uint64_t max_xfer)
{
	const struct vpcie_region_access *ra = payload;
	const struct vpcie_dma_access *da = payload;

	switch (cmd) {
	case VPCIE_CMD_VERSION:
		if (len < sizeof(struct vpcie_version))
			return -EINVAL;
		return len - sizeof(struct vpcie_version) > VPCIE_VERSION_JSON_MAX ? -E2BIG : 0;
	case VPCIE_CMD_DEVICE_GET_INFO:
		return len < sizeof(struct vpcie_device_info) ? -EINVAL : 0;
	case VPCIE_CMD_DEVICE_GET_REGION_INFO:
		return len < sizeof(struct vpcie_region_info) ? -EINVAL : 0;
	case VPCIE_CMD_DEVICE_GET_REGION_IO_FDS:
		return len < sizeof(struct vpcie_region_io_fds) ? -EINVAL : 0;
	case VPCIE_CMD_DEVICE_GET_IRQ_INFO:
		return len < sizeof(struct vpcie_irq_info) ? -EINVAL : 0;
	case VPCIE_CMD_REGION_READ:
		return check_access(len, max_xfer, sizeof(*ra),
				    len >= sizeof(*ra) ? ra->count : 0, 1);
	case VPCIE_CMD_DMA_READ:
		return check_access(len, max_xfer, sizeof(*da),
				    len >= sizeof(*da) ? da->count : 0, 1);
	case VPCIE_CMD_DMA_WRITE:
		/* The spec says 12 bytes; some peers send 16. Both are fine. */
		return len < sizeof(struct vpcie_dma_write_reply) ? -EINVAL : 0;
	case VPCIE_CMD_REGION_WRITE_MULTI:
		return len < sizeof(struct vpcie_write_multi) ? -EINVAL : 0;
	case VPCIE_CMD_DEVICE_FEATURE:
		return len < 8 ? -EINVAL : 0;
	case VPCIE_CMD_DMA_MAP:
	case VPCIE_CMD_DMA_UNMAP:
	case VPCIE_CMD_DEVICE_SET_IRQS:
	case VPCIE_CMD_REGION_WRITE:
	case VPCIE_CMD_DEVICE_RESET:
	case VPCIE_CMD_MIG_DATA_READ:
	case VPCIE_CMD_MIG_DATA_WRITE:
		return 0; /* no payload we rely on */
	default:
		return -ENOTSUP;
	}
}
