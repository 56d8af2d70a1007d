/* SPDX-License-Identifier: MIT */
/* Unit tests of the protocol codec: payload validation and VERSION JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <vpcie/protocol.h>

#define MAXX (1u << 20)
/* A string literal as the (text, length) pair the parser takes. */
#define JSON(s) s, strlen(s)

static void test_header_layout(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct vpcie_msg_hdr), 16);
	assert_int_equal(offsetof(struct vpcie_msg_hdr, cmd), 2);
	assert_int_equal(offsetof(struct vpcie_msg_hdr, size), 4);
	assert_int_equal(offsetof(struct vpcie_msg_hdr, flags), 8);
	assert_int_equal(offsetof(struct vpcie_msg_hdr, error), 12);
	/* Payload sizes as the spec tabulates them. */
	assert_int_equal(sizeof(struct vpcie_dma_map), 32);
	assert_int_equal(sizeof(struct vpcie_dma_unmap), 24);
	assert_int_equal(sizeof(struct vpcie_device_info), 16);
	assert_int_equal(sizeof(struct vpcie_region_info), 32);
	assert_int_equal(sizeof(struct vpcie_irq_info), 16);
	assert_int_equal(sizeof(struct vpcie_irq_set), 20);
	assert_int_equal(sizeof(struct vpcie_region_access), 16);
	assert_int_equal(sizeof(struct vpcie_dma_access), 16);
	assert_int_equal(sizeof(struct vpcie_dma_write_reply), 12);
	assert_int_equal(sizeof(struct vpcie_write_multi_entry), 24);
	assert_int_equal(offsetof(struct vpcie_cap_sparse_mmap, areas), 16);
	/* The region info must match the kernel's struct that the spec reuses. */
	assert_int_equal(sizeof(struct vpcie_region_info), sizeof(struct vfio_region_info));
	assert_int_equal(sizeof(struct vpcie_irq_info), sizeof(struct vfio_irq_info));
}

static void test_cmd_names(void **state)
{
	(void)state;
	assert_string_equal(vpcie_cmd_name(VPCIE_CMD_VERSION), "VERSION");
	assert_string_equal(vpcie_cmd_name(VPCIE_CMD_REGION_WRITE_MULTI), "REGION_WRITE_MULTI");
	assert_string_equal(vpcie_cmd_name(14), "UNKNOWN");
	assert_string_equal(vpcie_cmd_name(0), "UNKNOWN");
	assert_string_equal(vpcie_cmd_name(9999), "UNKNOWN");
}

static void test_fixed_sizes(void **state)
{
	uint8_t buf[64] = {0};

	(void)state;
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DMA_MAP, buf, 32, MAXX), 0);
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DMA_MAP, buf, 31, MAXX), -EINVAL);
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DMA_UNMAP, buf, 23, MAXX), -EINVAL);
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_VERSION, buf, 3, MAXX), -EINVAL);
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_VERSION, buf, 4, MAXX), 0);
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DEVICE_GET_REGION_INFO, buf, 11, MAXX), -EINVAL);
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DEVICE_RESET, NULL, 0, MAXX), 0);
	assert_int_equal(vpcie_validate_command(14, buf, 0, MAXX), -ENOTSUP);
	assert_int_equal(vpcie_validate_command(200, buf, 0, MAXX), -ENOTSUP);
	assert_int_equal(vpcie_validate_reply(VPCIE_CMD_DEVICE_GET_INFO, buf, 15, MAXX), -EINVAL);
	assert_int_equal(vpcie_validate_reply(VPCIE_CMD_DEVICE_GET_INFO, buf, 16, MAXX), 0);
	assert_int_equal(vpcie_validate_reply(VPCIE_CMD_DEVICE_GET_REGION_INFO, buf, 31, MAXX), -EINVAL);
}

static void test_region_access(void **state)
{
	uint8_t buf[64] = {0};
	struct vpcie_region_access *ra = (void *)buf;

	(void)state;
	ra->count = 8;
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_REGION_READ, buf, 16, MAXX), 0);
	/* A write must carry its data. */
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_REGION_WRITE, buf, 23, MAXX), -EINVAL);
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_REGION_WRITE, buf, 24, MAXX), 0);
	/* Counts over the negotiated transfer size are refused, reads included. */
	ra->count = MAXX + 1;
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_REGION_READ, buf, 16, MAXX), -E2BIG);
	/* A huge count never wraps the length check. */
	ra->count = UINT32_MAX;
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_REGION_WRITE, buf, 24, UINT64_MAX), -EINVAL);
	/* Reply to a read must carry as much data as it claims. */
	ra->count = 8;
	assert_int_equal(vpcie_validate_reply(VPCIE_CMD_REGION_READ, buf, 23, MAXX), -EINVAL);
	assert_int_equal(vpcie_validate_reply(VPCIE_CMD_REGION_READ, buf, 24, MAXX), 0);
}

static void test_dma_access(void **state)
{
	uint8_t buf[64] = {0};
	struct vpcie_dma_access *da = (void *)buf;

	(void)state;
	da->count = UINT64_MAX; /* 64-bit count: must not wrap */
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DMA_WRITE, buf, 32, UINT64_MAX), -EINVAL);
	da->count = 16;
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DMA_WRITE, buf, 32, MAXX), 0);
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DMA_READ, buf, 16, 8), -E2BIG);
	/* DMA_WRITE replies: 12 bytes per spec, 16 from some peers, both fine. */
	assert_int_equal(vpcie_validate_reply(VPCIE_CMD_DMA_WRITE, buf, 11, MAXX), -EINVAL);
	assert_int_equal(vpcie_validate_reply(VPCIE_CMD_DMA_WRITE, buf, 12, MAXX), 0);
	assert_int_equal(vpcie_validate_reply(VPCIE_CMD_DMA_WRITE, buf, 16, MAXX), 0);
}

static void test_set_irqs(void **state)
{
	uint8_t buf[64] = {0};
	struct vpcie_irq_set *s = (void *)buf;

	(void)state;
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	s->count = 4;
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DEVICE_SET_IRQS, buf, 20, MAXX), 0);
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DEVICE_SET_IRQS, buf, 19, MAXX), -EINVAL);
	/* Exactly one data type and one action. */
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DEVICE_SET_IRQS, buf, 20, MAXX), -EINVAL);
	s->flags = VFIO_IRQ_SET_DATA_NONE;
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DEVICE_SET_IRQS, buf, 20, MAXX), -EINVAL);
	s->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK | (1u << 9);
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DEVICE_SET_IRQS, buf, 20, MAXX), -EINVAL);
	/* DATA_BOOL carries count bytes. */
	s->flags = VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_UNMASK;
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DEVICE_SET_IRQS, buf, 23, MAXX), -EINVAL);
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_DEVICE_SET_IRQS, buf, 24, MAXX), 0);
}

static void test_write_multi(void **state)
{
	uint8_t buf[8 + 3 * 24] = {0};
	struct vpcie_write_multi *m = (void *)buf;

	(void)state;
	m->wr_cnt = 3;
	for (int i = 0; i < 3; i++)
		m->wrs[i].count = 4;
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_REGION_WRITE_MULTI, buf, sizeof(buf), MAXX), 0);
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_REGION_WRITE_MULTI, buf, sizeof(buf) - 1, MAXX), -EINVAL);
	m->wrs[1].count = 9; /* entries hold at most 8 bytes */
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_REGION_WRITE_MULTI, buf, sizeof(buf), MAXX), -EINVAL);
	m->wrs[1].count = 4;
	m->wr_cnt = 0;
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_REGION_WRITE_MULTI, buf, sizeof(buf), MAXX), -EINVAL);
	m->wr_cnt = UINT64_MAX; /* must not overflow the size computation */
	assert_int_equal(vpcie_validate_command(VPCIE_CMD_REGION_WRITE_MULTI, buf, sizeof(buf), MAXX), -EINVAL);
}

static void test_caps_defaults_and_roundtrip(void **state)
{
	struct vpcie_caps c, d;
	char json[512];
	int n;

	(void)state;
	assert_int_equal(vpcie_caps_from_json(JSON(""), &c), 0);
	assert_int_equal(c.max_msg_fds, 1);
	assert_int_equal(c.max_data_xfer_size, 1u << 20);
	assert_int_equal(c.max_dma_maps, 65535);
	assert_int_equal(c.pgsizes, 4096);
	assert_false(c.write_multiple);
	assert_false(c.twin_socket);
	assert_int_equal(c.twin_fd_index, -1);

	c.max_msg_fds = 16;
	c.max_data_xfer_size = 64u << 20;
	c.write_multiple = true;
	c.twin_socket = true;
	c.twin_fd_index = 0;
	n = vpcie_caps_to_json(&c, json, sizeof(json));
	assert_true(n > 0);
	assert_int_equal(json[n - 1], '\0');
	assert_int_equal(vpcie_caps_from_json(json, (size_t)n, &d), 0);
	assert_int_equal(d.max_msg_fds, 16);
	assert_int_equal(d.max_data_xfer_size, 64u << 20);
	assert_true(d.write_multiple);
	assert_true(d.twin_socket);
	assert_int_equal(d.twin_fd_index, 0);
	assert_int_equal(vpcie_caps_to_json(&c, json, 10), -ENOSPC);
}

/* present records what the JSON carried; the subset serialiser writes only
 * those members (a VERSION reply must not hold more than was proposed). */
static void test_caps_present_and_subset(void **state)
{
	struct vpcie_caps c, d;
	char json[512];
	int n;

	(void)state;
	assert_int_equal(vpcie_caps_from_json(JSON(""), &c), 0);
	assert_int_equal(c.present, 0);
	assert_int_equal(vpcie_caps_from_json(JSON("{\"capabilities\":{}}"), &c), 0);
	assert_int_equal(c.present, 0);
	assert_int_equal(vpcie_caps_from_json(JSON("{\"capabilities\":{\"pgsizes\":4096,"
						   "\"twin_socket\":{\"supported\":false},"
						   "\"migration\":{}}}"), &c), 0);
	assert_int_equal(c.present, VPCIE_CAP_PGSIZES | VPCIE_CAP_TWIN_SOCKET);

	vpcie_caps_defaults(&c);
	c.max_msg_fds = 16;
	c.twin_socket = true;
	c.twin_fd_index = 0;
	n = vpcie_caps_to_json_subset(&c, 0, json, sizeof(json));
	assert_true(n > 0);
	assert_string_equal(json, "{\"capabilities\":{}}");
	n = vpcie_caps_to_json_subset(&c, VPCIE_CAP_MAX_MSG_FDS | VPCIE_CAP_TWIN_SOCKET, json,
				      sizeof(json));
	assert_true(n > 0);
	assert_int_equal(vpcie_caps_from_json(json, (size_t)n, &d), 0);
	assert_int_equal(d.present, VPCIE_CAP_MAX_MSG_FDS | VPCIE_CAP_TWIN_SOCKET);
	assert_int_equal(d.max_msg_fds, 16);
	assert_true(d.twin_socket);
	/* The full serialiser still writes every member. */
	n = vpcie_caps_to_json(&c, json, sizeof(json));
	assert_true(n > 0);
	assert_int_equal(vpcie_caps_from_json(json, (size_t)n, &d), 0);
	assert_int_equal(d.present, VPCIE_CAP_ALL & ~VPCIE_CAP_RING & ~VPCIE_CAP_DMA_READ_MAX &
					 ~VPCIE_CAP_IRQ_MSG);
	/* vpcie_dma_read_max travels when set, and only then */
	c.dma_read_max = 1u << 20;
	n = vpcie_caps_to_json(&c, json, sizeof(json));
	assert_true(n > 0);
	assert_non_null(strstr(json, "\"vpcie_dma_read_max\":1048576"));
	assert_int_equal(vpcie_caps_from_json(json, (size_t)n, &d), 0);
	assert_int_equal(d.dma_read_max, 1u << 20);
	assert_true(d.present & VPCIE_CAP_DMA_READ_MAX);
	/* vpcie_irq_msg: a boolean, written only when set */
	c.irq_msg = true;
	n = vpcie_caps_to_json(&c, json, sizeof(json));
	assert_true(n > 0);
	assert_non_null(strstr(json, "\"vpcie_irq_msg\":true"));
	assert_int_equal(vpcie_caps_from_json(json, (size_t)n, &d), 0);
	assert_true(d.irq_msg);
	assert_true(d.present & VPCIE_CAP_IRQ_MSG);
	const char *notbool = "{\"capabilities\":{\"vpcie_irq_msg\":1}}";

	assert_int_equal(vpcie_caps_from_json(notbool, strlen(notbool), &d), -EINVAL);
	const char *zero = "{\"capabilities\":{\"vpcie_dma_read_max\":0}}";

	assert_int_equal(vpcie_caps_from_json(zero, strlen(zero), &d), -EINVAL);
}

static void test_caps_qemu_and_hostile(void **state)
{
	/* What QEMU 11.1 proposes, including its legacy migration object. */
	static const char qemu[] =
		"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,"
		"\"pgsizes\":4096,\"max_dma_maps\":65535,\"write_multiple\":true,"
		"\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":1048576}}}";
	struct vpcie_caps c;

	(void)state;
	assert_int_equal(vpcie_caps_from_json(qemu, sizeof(qemu), &c), 0);
	assert_int_equal(c.max_msg_fds, 16);
	assert_true(c.write_multiple);
	/* Unknown members are ignored. */
	assert_int_equal(vpcie_caps_from_json(JSON("{\"x\":[1,2],\"capabilities\":{\"new\":{}}}"), &c), 0);
	/* Known members of the wrong type or range are errors. */
	assert_int_equal(vpcie_caps_from_json(JSON("{\"capabilities\":{\"max_msg_fds\":\"16\"}}"), &c), -EINVAL);
	assert_int_equal(vpcie_caps_from_json(JSON("{\"capabilities\":{\"max_msg_fds\":-1}}"), &c), -EINVAL);
	assert_int_equal(vpcie_caps_from_json(JSON("{\"capabilities\":{\"max_data_xfer_size\":0}}"), &c), -EINVAL);
	assert_int_equal(vpcie_caps_from_json(JSON("{\"capabilities\":{\"twin_socket\":true}}"), &c), -EINVAL);
	assert_int_equal(vpcie_caps_from_json(JSON("{\"capabilities\":[]}"), &c), -EINVAL);
	/* Huge fd counts are clamped to what SCM_RIGHTS can carry. */
	assert_int_equal(vpcie_caps_from_json(JSON("{\"capabilities\":{\"max_msg_fds\":100000}}"), &c), 0);
	assert_int_equal(c.max_msg_fds, VPCIE_MAX_FDS_LIMIT);
	/* Not JSON, trailing garbage, embedded NUL, not an object. */
	assert_int_equal(vpcie_caps_from_json(JSON("{"), &c), -EINVAL);
	assert_int_equal(vpcie_caps_from_json(JSON("{} x"), &c), -EINVAL);
	assert_int_equal(vpcie_caps_from_json("{}\0{}", 5, &c), -EINVAL);
	assert_int_equal(vpcie_caps_from_json(JSON("42"), &c), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_cmd_names),
		cmocka_unit_test(test_fixed_sizes),
		cmocka_unit_test(test_region_access),
		cmocka_unit_test(test_dma_access),
		cmocka_unit_test(test_set_irqs),
		cmocka_unit_test(test_write_multi),
		cmocka_unit_test(test_caps_defaults_and_roundtrip),
		cmocka_unit_test(test_caps_present_and_subset),
		cmocka_unit_test(test_caps_qemu_and_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
