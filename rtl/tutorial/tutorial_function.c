/* SPDX-License-Identifier: MIT */
/* The tutorial device's PCI function (tutorial_function.h). */
#include <errno.h>

#include "tutorial_function.h"

static int setup(struct vpcie_dev *dev, struct vpcie_rtl *rtl, void *opaque)
{
	int rc = vpcie_rtl_set_bar(rtl, 0, &(struct vpcie_bar_desc){
		.size = 4096, .kind = VPCIE_BAR_MEM32});

	if (!rc && vpcie_dev_add_pcie(dev, true) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_msi(dev, 4, false) < 0)
		rc = -EINVAL;
	(void)opaque; /* no options of its own */
	return rc;
}

static const struct vpcie_ids ids = {
	.vendor = 0x1234, .device = 0x5652,
	.subsys_vendor = 0x1234, .subsys = 0x0001,
	.class_code = 0xff0000, .revision = 1,
};

const struct vpcie_rtl_program tutorial_function = {
	.ids = &ids,
	.setup = setup,
};
