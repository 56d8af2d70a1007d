/* SPDX-License-Identifier: MIT */
/* Subcommands of the `vpcie` tool; each lives in its own file. */
#ifndef VPCIE_TOOL_CMDS_H
#define VPCIE_TOOL_CMDS_H

/* Each takes argv with argv[0] = subcommand name and returns the exit status. */
int cmd_lspci(int argc, char **argv);
int cmd_setpci(int argc, char **argv);
int cmd_mmio(int argc, char **argv);
int cmd_pcitest(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_fault(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_proxy(int argc, char **argv);
int cmd_daq(int argc, char **argv);

#endif
