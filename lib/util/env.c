/* SPDX-License-Identifier: MIT */
/* Settings a user may give through the environment, without code changes. */
#include <stdlib.h>

#include "util.h"

unsigned vpcie_env_poll_us(unsigned def)
{
	const char *e = getenv("VPCIE_POLL_US");
	char *end;
	unsigned long v;

	if (!e || !*e)
		return def;
	v = strtoul(e, &end, 10);
	return *end || v > 1000000 ? def : (unsigned)v;
}
