/* SPDX-License-Identifier: MIT */
/*
 * The smallest useful vpcie device, built against an installed libvpcie:
 *
 *   cc minimal-device.c $(pkg-config --cflags --libs vpcie) -o minimal-device
 *   ./minimal-device --socket /tmp/min.sock
 *
 * BAR0 holds one 32-bit register; writing N to it raises interrupt vector N.
 */
#include <stdio.h>
#include <string.h>

#include <vpcie/device.h>

struct state {
	uint32_t last;
};

static int reg_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct state *s = opaque;

	(void)dev;
	(void)off;
	memset(buf, 0, len);
	memcpy(buf, &s->last, len < 4 ? len : 4);
	return 0;
}

static int reg_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf, size_t len)
{
	struct state *s = opaque;

	(void)off;
	s->last = 0;
	memcpy(&s->last, buf, len < 4 ? len : 4);
	vpcie_dev_irq_raise(dev, s->last); /* routed to INTx, MSI or MSI-X as enabled */
	return 0;
}

int main(int argc, char **argv)
{
	static const struct vpcie_bar_ops ops = {reg_read, reg_write};
	const struct vpcie_ids ids = {.vendor = 0x1234, .device = 0x0001, .class_code = 0xff0000};
	struct state s = {0};
	struct vpcie_dev *dev;
	int rc;

	if (argc == 2 && !strcmp(argv[1], "--help")) {
		printf("Usage: %s --socket PATH\nA one-register vfio-user device.\n", argv[0]);
		return 0;
	}
	if (argc != 3 || strcmp(argv[1], "--socket")) {
		fprintf(stderr, "Usage: %s --socket PATH\n", argv[0]);
		return 2;
	}
	dev = vpcie_dev_new(&ids, NULL, &s, NULL);
	if (!dev || vpcie_dev_set_bar(dev, 0, &(struct vpcie_bar_desc){
			    .size = 4096, .kind = VPCIE_BAR_MEM32, .ops = &ops, .opaque = &s}) ||
	    vpcie_dev_add_msi(dev, 4, true) < 0) {
		fprintf(stderr, "minimal-device: setup failed\n");
		return 1;
	}
	rc = vpcie_dev_serve(dev, argv[2], -1); /* until SIGINT/SIGTERM */
	vpcie_dev_free(dev);                     /* removes the socket */
	return rc ? 1 : 0;
}
