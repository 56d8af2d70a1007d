/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the fault rule grammar (vpcie_fault_parse) on arbitrary
 * bytes, NUL-terminated at the input's end. A rule that parses must format
 * to a canonical spec that parses back to the same rule, and must survive a
 * set's trigger logic on a few events built from the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vpcie/fault.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vpcie_fault_rule r, again;
	char canon[VPCIE_FAULT_SPEC_MAX + 1], err[160];
	char *spec = malloc(size + 1); /* exact size: ASan sees over-reads */
	int n;

	if (!spec)
		return 0;
	memcpy(spec, data, size);
	spec[size] = '\0';
	memset(&r, 0, sizeof(r));
	if (vpcie_fault_parse(spec, &r, err, sizeof(err)) == 0) {
		memset(&again, 0, sizeof(again));
		n = vpcie_fault_format(&r, canon, sizeof(canon));
		if (n <= 0 || (size_t)n >= sizeof(canon))
			abort(); /* every rule has a spec within the limit */
		if (vpcie_fault_parse(canon, &again, err, sizeof(err)) != 0 ||
		    memcmp(&r, &again, sizeof(r)) != 0)
			abort(); /* the round trip must be lossless */

		struct vpcie_fault_set *set = vpcie_fault_set_new();

		if (set && vpcie_fault_set_add(set, &r, 0) == 1) {
			for (size_t i = 0; i < size && i < 32; i++) {
				struct vpcie_fault_event ev = {
					.on = (enum vpcie_fault_on)(data[i] & 3), .region = data[i] >> 4,
					.offset = (uint64_t)data[i] << (data[i] & 7), .len = 1 + (data[i] & 7),
					.write = data[i] & 8, .vector = data[i] & 15,
					.now_ns = (uint64_t)i * 1000000u * data[i],
				};
				struct vpcie_fault_hit hit;
				unsigned cur = 0;

				while (vpcie_fault_set_next(set, &ev, &cur, &hit))
					if (hit.rule == NULL || hit.id != 1)
						abort();
			}
			vpcie_fault_set_next_due(set);
			if (vpcie_fault_set_clear(set, 1) != 1)
				abort();
		}
		vpcie_fault_set_free(set);
	}
	free(spec);
	return 0;
}
