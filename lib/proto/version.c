/* SPDX-License-Identifier: MIT */
/*
 * The VERSION message's JSON capabilities, through json-c. Unknown members
 * are ignored (the spec requires it and QEMU sends a "migration" object);
 * known members of the wrong type or out of range are errors.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include <vpcie/protocol.h>

void vpcie_caps_defaults(struct vpcie_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	caps->max_msg_fds = 1;
	caps->max_data_xfer_size = 1u << 20;
	caps->max_dma_maps = 65535;
	caps->pgsizes = 4096;
	caps->twin_fd_index = -1;
	caps->ring_fd_index = caps->ring_h2d_wake_fd_index = caps->ring_d2h_wake_fd_index = -1;
}

int vpcie_caps_to_json(const struct vpcie_caps *caps, char *buf, size_t len)
{
	return vpcie_caps_to_json_subset(caps, VPCIE_CAP_ALL, buf, len);
}

int vpcie_caps_to_json_subset(const struct vpcie_caps *caps, uint32_t mask, char *buf,
			      size_t len)
{
	struct json_object *root = json_object_new_object();
	struct json_object *c = json_object_new_object();
	const char *s;
	size_t n;
	int ret;

	if (!root || !c) {
		json_object_put(root);
		json_object_put(c);
		return -ENOMEM;
	}
	json_object_object_add(root, "capabilities", c);
	if (mask & VPCIE_CAP_MAX_MSG_FDS)
		json_object_object_add(c, "max_msg_fds", json_object_new_int64(caps->max_msg_fds));
	if (mask & VPCIE_CAP_MAX_DATA_XFER_SIZE)
		json_object_object_add(c, "max_data_xfer_size",
				       json_object_new_int64((int64_t)caps->max_data_xfer_size));
	if (mask & VPCIE_CAP_MAX_DMA_MAPS)
		json_object_object_add(c, "max_dma_maps", json_object_new_int64(caps->max_dma_maps));
	if (mask & VPCIE_CAP_PGSIZES)
		json_object_object_add(c, "pgsizes", json_object_new_int64((int64_t)caps->pgsizes));
	if (mask & VPCIE_CAP_WRITE_MULTIPLE)
		json_object_object_add(c, "write_multiple",
				       json_object_new_boolean(caps->write_multiple));
	if (caps->dma_read_max && (mask & VPCIE_CAP_DMA_READ_MAX))
		json_object_object_add(c, "vpcie_dma_read_max",
				       json_object_new_int64((int64_t)caps->dma_read_max));
	if (caps->irq_msg && (mask & VPCIE_CAP_IRQ_MSG))
		json_object_object_add(c, "vpcie_irq_msg", json_object_new_boolean(1));
	if (caps->twin_socket && (mask & VPCIE_CAP_TWIN_SOCKET)) {
		struct json_object *t = json_object_new_object();

		json_object_object_add(t, "supported", json_object_new_boolean(1));
		if (caps->twin_fd_index >= 0)
			json_object_object_add(t, "fd_index",
					       json_object_new_int(caps->twin_fd_index));
		json_object_object_add(c, "twin_socket", t);
	}
	if (caps->ring && (mask & VPCIE_CAP_RING)) {
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "version", json_object_new_int64(caps->ring_version));
		if (caps->ring_slots)
			json_object_object_add(r, "slots", json_object_new_int64(caps->ring_slots));
		if (caps->ring_fd_index >= 0)
			json_object_object_add(r, "fd_index", json_object_new_int(caps->ring_fd_index));
		if (caps->ring_h2d_wake_fd_index >= 0)
			json_object_object_add(r, "h2d_wake_fd_index",
					       json_object_new_int(caps->ring_h2d_wake_fd_index));
		if (caps->ring_d2h_wake_fd_index >= 0)
			json_object_object_add(r, "d2h_wake_fd_index",
					       json_object_new_int(caps->ring_d2h_wake_fd_index));
		json_object_object_add(c, "vpcie_ring", r);
	}
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	n = strlen(s) + 1;
	if (n > len) {
		ret = -ENOSPC;
	} else {
		memcpy(buf, s, n);
		ret = (int)n;
	}
	json_object_put(root);
	return ret;
}

/* Record that member bit of caps is present if o has key. */
static void mark(struct json_object *o, const char *key, uint32_t bit, struct vpcie_caps *caps)
{
	if (json_object_object_get_ex(o, key, NULL))
		caps->present |= bit;
}

/* A non-negative integer member within [min, max]; absent leaves *out. */
static int get_uint(struct json_object *o, const char *key, uint64_t min, uint64_t max,
		    uint64_t *out)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	errno = 0;
	x = json_object_get_int64(v);
	if (errno || x < 0 || (uint64_t)x < min || (uint64_t)x > max)
		return -EINVAL;
	*out = (uint64_t)x;
	return 0;
}

static int get_bool(struct json_object *o, const char *key, bool *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return -EINVAL;
	*out = json_object_get_boolean(v);
	return 0;
}

static int parse_caps(struct json_object *c, struct vpcie_caps *caps)
{
	struct json_object *t;
	uint64_t v;
	int ret = 0;

	if (!json_object_is_type(c, json_type_object))
		return -EINVAL;
	mark(c, "max_msg_fds", VPCIE_CAP_MAX_MSG_FDS, caps);
	mark(c, "max_data_xfer_size", VPCIE_CAP_MAX_DATA_XFER_SIZE, caps);
	mark(c, "max_dma_maps", VPCIE_CAP_MAX_DMA_MAPS, caps);
	mark(c, "pgsizes", VPCIE_CAP_PGSIZES, caps);
	mark(c, "write_multiple", VPCIE_CAP_WRITE_MULTIPLE, caps);
	mark(c, "twin_socket", VPCIE_CAP_TWIN_SOCKET, caps);
	mark(c, "vpcie_ring", VPCIE_CAP_RING, caps);
	mark(c, "vpcie_dma_read_max", VPCIE_CAP_DMA_READ_MAX, caps);
	mark(c, "vpcie_irq_msg", VPCIE_CAP_IRQ_MSG, caps);
	v = caps->max_msg_fds;
	ret |= get_uint(c, "max_msg_fds", 0, UINT32_MAX, &v);
	caps->max_msg_fds = v > VPCIE_MAX_FDS_LIMIT ? VPCIE_MAX_FDS_LIMIT : (uint32_t)v;
	ret |= get_uint(c, "max_data_xfer_size", 1, UINT64_MAX >> 1, &caps->max_data_xfer_size);
	v = caps->max_dma_maps;
	ret |= get_uint(c, "max_dma_maps", 0, UINT32_MAX, &v);
	caps->max_dma_maps = (uint32_t)v;
	ret |= get_uint(c, "pgsizes", 1, UINT64_MAX >> 1, &caps->pgsizes);
	ret |= get_bool(c, "write_multiple", &caps->write_multiple);
	ret |= get_bool(c, "vpcie_irq_msg", &caps->irq_msg);
	ret |= get_uint(c, "vpcie_dma_read_max", 1, UINT64_MAX >> 1, &caps->dma_read_max);
	if (json_object_object_get_ex(c, "twin_socket", &t)) {
		if (!json_object_is_type(t, json_type_object))
			return -EINVAL;
		ret |= get_bool(t, "supported", &caps->twin_socket);
		v = UINT64_MAX;
		ret |= get_uint(t, "fd_index", 0, VPCIE_MAX_FDS_LIMIT, &v);
		caps->twin_fd_index = v == UINT64_MAX ? -1 : (int)v;
	}
	if (json_object_object_get_ex(c, "vpcie_ring", &t)) {
		int *idx[3] = {&caps->ring_fd_index, &caps->ring_h2d_wake_fd_index,
			       &caps->ring_d2h_wake_fd_index};
		static const char *const keys[3] = {"fd_index", "h2d_wake_fd_index",
						    "d2h_wake_fd_index"};

		if (!json_object_is_type(t, json_type_object))
			return -EINVAL;
		caps->ring = true;
		v = 0;
		ret |= get_uint(t, "version", 0, UINT32_MAX, &v);
		caps->ring_version = (uint32_t)v;
		v = 0;
		ret |= get_uint(t, "slots", 0, UINT32_MAX, &v);
		caps->ring_slots = (uint32_t)v;
		for (int i = 0; i < 3; i++) {
			v = UINT64_MAX;
			ret |= get_uint(t, keys[i], 0, VPCIE_MAX_FDS_LIMIT, &v);
			*idx[i] = v == UINT64_MAX ? -1 : (int)v;
		}
	}
	return ret ? -EINVAL : 0;
}

int vpcie_caps_from_json(const char *json, size_t len, struct vpcie_caps *caps)
{
	struct json_tokener *tok;
	struct json_object *root, *c;
	int ret = 0;

	vpcie_caps_defaults(caps);
	/* A trailing NUL (which the spec includes) is not part of the text. */
	while (len && json[len - 1] == '\0')
		len--;
	if (len == 0)
		return 0;
	if (len > VPCIE_VERSION_JSON_MAX || memchr(json, '\0', len))
		return -EINVAL;
	tok = json_tokener_new_ex(16);
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		ret = -EINVAL;
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		ret = -EINVAL;
		goto out;
	}
	if (json_object_object_get_ex(root, "capabilities", &c))
		ret = parse_caps(c, caps);
out:
	json_object_put(root);
	json_tokener_free(tok);
	return ret;
}
