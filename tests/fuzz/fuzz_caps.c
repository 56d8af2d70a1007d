/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the VERSION capabilities JSON parser on arbitrary bytes
 * (not NUL-terminated: the input buffer is exactly the bytes). What parses
 * must respect the documented bounds and survive a round trip through
 * vpcie_caps_to_json().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vpcie/protocol.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vpcie_caps caps, again;
	char json[1024];
	char *copy = malloc(size ? size : 1); /* exact size: ASan sees over-reads */
	int n;

	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	if (vpcie_caps_from_json(copy, size, &caps) == 0) {
		if (caps.max_msg_fds > VPCIE_MAX_FDS_LIMIT ||
		    caps.twin_fd_index < -1 || caps.twin_fd_index > (int)VPCIE_MAX_FDS_LIMIT)
			abort();
		n = vpcie_caps_to_json(&caps, json, sizeof(json));
		if (n < 0)
			abort(); /* every parsed value must be printable */
		if (vpcie_caps_from_json(json, (size_t)n, &again) != 0 ||
		    again.max_msg_fds != caps.max_msg_fds ||
		    again.max_data_xfer_size != caps.max_data_xfer_size ||
		    again.max_dma_maps != caps.max_dma_maps || again.pgsizes != caps.pgsizes ||
		    again.write_multiple != caps.write_multiple)
			abort(); /* the round trip must be lossless */
	}
	free(copy);
	return 0;
}
