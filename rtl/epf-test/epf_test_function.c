/* SPDX-License-Identifier: MIT */
/* pci-epf-test's PCI function for the RTL designs (epf_test_function.h). */
#include <errno.h>
#include <stdlib.h>

#include "epf_regs.h"
#include "epf_test_function.h"

#define NBARS 6u
#define OPT_MSIX 0x100

/* BAR0: registers, MSI-X table, PBA, rounded up to a power of two. */
static uint64_t bar0_size(unsigned msix_vectors)
{
	uint64_t need = EPF_REG_AREA + (uint64_t)msix_vectors * 16 + (msix_vectors + 63) / 64 * 8;
	uint64_t p = 512;

	while (p < need)
		p <<= 1;
	return p;
}

static int setup(struct vpcie_dev *dev, struct vpcie_rtl *rtl, void *opaque)
{
	static const uint64_t sizes[NBARS] = EPF_DEFAULT_BAR_SIZES;
	const struct epf_test_config *cfg = opaque;
	unsigned msix_vectors = cfg ? cfg->msix_vectors : EPF_TEST_MSIX_MAX;
	int rc;

	rc = vpcie_rtl_set_bar(rtl, 0, &(struct vpcie_bar_desc){
		.size = bar0_size(msix_vectors), .kind = VPCIE_BAR_MEM32});
	for (unsigned n = 1; !rc && n < NBARS; n++)
		rc = vpcie_dev_set_bar(dev, n, &(struct vpcie_bar_desc){
			.size = sizes[n], .kind = VPCIE_BAR_MEM32, .memory = true});
	if (!rc && vpcie_dev_add_pm(dev) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_msi(dev, 32, true) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_pcie(dev, true) < 0)
		rc = -EINVAL;
	if (!rc && vpcie_dev_add_msix(dev, msix_vectors, 0, EPF_MSIX_TABLE_OFF, 0,
				      EPF_MSIX_TABLE_OFF + msix_vectors * 16u) < 0)
		rc = -EINVAL;
	return rc;
}

static const char *option(void *opaque, int code, const char *arg)
{
	struct epf_test_config *cfg = opaque;
	char *end;
	unsigned long v;

	if (code != OPT_MSIX || !cfg)
		return "not an option of this program";
	errno = 0;
	v = strtoul(arg, &end, 0);
	if (errno || end == arg || *end || v < 1 || v > EPF_TEST_MSIX_MAX)
		return "MSI-X vectors: 1..2048";
	cfg->msix_vectors = (unsigned)v;
	return NULL;
}

static const struct option options[] = {
	{"msix", required_argument, NULL, OPT_MSIX},
	{0},
};

static const struct vpcie_ids ids = {
	.vendor = EPF_DEFAULT_VENDOR, .device = EPF_DEFAULT_DEVICE,
	.class_code = 0xff0000, /* PCI_CLASS_OTHERS, as pci-epf-test */
};

const struct vpcie_rtl_program epf_test_function = {
	.ids = &ids,
	.setup = setup,
	.options = options,
	.options_help = "      --msix N           MSI-X vectors: 1..2048 (default 2048)\n",
	.option = option,
};
