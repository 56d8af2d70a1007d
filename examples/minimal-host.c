/* SPDX-License-Identifier: MIT */
/*
 * Drive examples/minimal-device.c from C with no VM, as a driver would:
 * read its IDs, assign its BARs, enable one MSI, ring the register and wait
 * for the interrupt.
 *
 *   cc minimal-host.c $(pkg-config --cflags --libs vpcie) -o minimal-host
 *   ./minimal-host /tmp/min.sock
 */
#include <stdio.h>
#include <string.h>

#include <linux/pci_regs.h>

#include <vpcie/host.h>

int main(int argc, char **argv)
{
	struct vpcie_host *h;
	uint32_t id;
	int err = 0;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "Usage: %s SOCKET\n", argv[0]);
		return 2;
	}
	h = vpcie_host_open(argv[1], NULL, &err); /* connect + VERSION */
	if (!h) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	id = vpcie_host_cfg_read32(h, PCI_VENDOR_ID, &err);
	if (!err)
		printf("device %04x:%04x\n", id & 0xffff, id >> 16);
	if (!err)
		err = vpcie_host_assign_bars(h, 0x80000000, 0x1000); /* + memory, bus master */
	if (!err && (err = vpcie_host_irq_enable(h, VPCIE_HOST_IRQ_MSI, 1)) > 0)
		err = 0;
	if (!err)
		err = vpcie_host_bar_write32(h, 0, 0, 0); /* the device raises vector 0 */
	if (!err)
		err = vpcie_host_irq_wait(h, 0, 2000);
	if (!err)
		printf("MSI vector 0 received\n");
	else
		fprintf(stderr, "minimal-host: %s\n", strerror(-err));
	vpcie_host_close(h);
	return err ? 1 : 0;
}
