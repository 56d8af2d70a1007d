/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the capability walkers over arbitrary config space
 * images. The image is a heap buffer of exactly the input's size (capped at
 * 4096), so ASan catches any read outside it; walks must stay inside the
 * image, return offsets where a header fits, and terminate.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vpcie/config.h>

#define STEPS_MAX 1100u /* far above any legal chain: 48 std, (4096-256)/4 ext */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const uint8_t *img, size_t len)
{
	unsigned off = 0, steps = 0;

	while ((off = vpcie_cfg_next_cap(img, len, off)) != 0) {
		if (off < 0x40 || off + 2 > len || off > 0xff || ++steps > STEPS_MAX)
			abort();
	}
	off = 0;
	steps = 0;
	while ((off = vpcie_cfg_next_ext_cap(img, len, off)) != 0) {
		if (off < 0x100 || off + 4 > len || ++steps > STEPS_MAX)
			abort();
	}
	for (unsigned id = 0; id < 0x16; id++) {
		unsigned o = vpcie_cfg_find_cap(img, len, (uint8_t)id);

		if (o && (o + 2 > len || img[o] != id))
			abort();
	}
	for (unsigned id = 0; id < 0x30; id++) {
		unsigned o = vpcie_cfg_find_ext_cap(img, len, (uint16_t)id);

		if (o && (o + 4 > len || (unsigned)(img[o] | (img[o + 1] << 8)) != id))
			abort();
	}
	/* Arbitrary "prev" values must not escape either. */
	for (unsigned prev = 1; prev < 0x1000; prev += 0x53) {
		unsigned o = vpcie_cfg_next_cap(img, len, prev);

		if (o && o + 2 > len)
			abort();
		o = vpcie_cfg_next_ext_cap(img, len, prev);
		if (o && o + 4 > len)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = size > VPCIE_CFG_SIZE ? VPCIE_CFG_SIZE : size;
	uint8_t *img;

	/* The image as given (any length), and padded to the documented 256/4096. */
	img = malloc(len ? len : 1);
	if (!img)
		return 0;
	if (len)
		memcpy(img, data, len);
	walk(img, len);
	free(img);

	img = calloc(1, VPCIE_CFG_SIZE);
	if (!img)
		return 0;
	memcpy(img, data, len);
	walk(img, len <= 256 ? 256 : VPCIE_CFG_SIZE);
	free(img);
	return 0;
}
