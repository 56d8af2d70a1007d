/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "cmds.h"

int cmd_pcitest(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "%s: not implemented yet\n", argv[0]);
	return 1;
}
