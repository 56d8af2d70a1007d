// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: a trace file as `vpcie trace` reads it. The input is
 * parsed (vpcie_trace_parse must refuse what is not valid, never read past
 * the buffer); what parses is merged and written in all three output
 * formats, whose encoders then see hostile field values.
 */
#include <stdint.h>
#include <stdio.h>

#include <vpcie/trace.h>

#include "../../tools/vpcie/trace_out.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vpcie_trace_set set = {0};
	char err[160];
	FILE *null;

	if (vpcie_trace_parse(&set, 0, data, size, err, sizeof(err)) == 0 &&
	    vpcie_trace_sort(&set) == 0 && (null = fopen("/dev/null", "w"))) {
		trace_write_text(null, &set);
		trace_write_json(null, &set);
		trace_write_pcap(null, &set);
		fclose(null);
	}
	vpcie_trace_set_free(&set);
	return 0;
}
