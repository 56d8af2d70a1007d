/* SPDX-License-Identifier: MIT */
/* The device runtime's fault injection state (fault_hooks.c, fault_ctl.c). */
#ifndef VPCIE_DEV_FAULT_PRIV_H
#define VPCIE_DEV_FAULT_PRIV_H

#include <vpcie/fault.h>

#include "dev_priv.h"

#define DEV_FAULT_IRQ_QUEUE 64u      /* delayed interrupts waiting at once */
#define DEV_FAULT_LOG_EACH 10u       /* firings of a rule logged at info, then debug */

struct dev_fault {
	struct vpcie_fault_set *set;
	struct vpcie_timer *time_timer;  /* timed rules (remove/spurious with ms= alone) */
	struct vpcie_timer *back_timer;  /* remove,back=MS: listen again */
	bool back_pending;               /* the next drop keeps the link down */
	uint64_t back_ms;
	struct vpcie_timer *irq_timer;   /* irq action=delay */
	struct {
		uint64_t due_ns;
		unsigned vector;
	} irq_q[DEV_FAULT_IRQ_QUEUE];
	unsigned irq_n;
	/* Control socket (fault_ctl.c). */
	int ctl_fd, ctl_client;
	char *ctl_path;
	char ctl_buf[VPCIE_FAULT_CTL_LINE_MAX];
	size_t ctl_len;
};

/* Create dev->fault if needed. 0 or -ENOMEM. */
int dev_fault_ensure(struct vpcie_dev *dev);
void dev_fault_ctl_close(struct dev_fault *f);

#endif
