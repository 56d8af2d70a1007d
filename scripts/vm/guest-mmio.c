/* SPDX-License-Identifier: MIT */
/*
 * vpcie-mmio: 32-bit MMIO access to a PCI BAR through its sysfs resource
 * file, for the guest tests (scripts/vm/test-guest.sh). Built statically on
 * the host and packed into the guest initramfs (busybox has no such tool,
 * and sysfs resourceN files of memory BARs can only be mmap()ed).
 *
 *   vpcie-mmio /sys/bus/pci/devices/BDF/resourceN OFFSET          read, print 0x%08x
 *   vpcie-mmio /sys/bus/pci/devices/BDF/resourceN OFFSET VALUE    write VALUE
 *
 * OFFSET and VALUE take C notation (0x...). Exit 0 on success, 1 on error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return (errno || end == s || *end) ? -1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t off, val = 0;
	struct stat st;
	long page;
	size_t map_off, map_len;
	void *map;
	volatile uint32_t *reg;
	int fd;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: %s RESOURCE_FILE OFFSET [VALUE]\n", argv[0]);
		return 1;
	}
	if (parse_u64(argv[2], &off) || (off & 3) ||
	    (argc == 4 && (parse_u64(argv[3], &val) || val > UINT32_MAX))) {
		fprintf(stderr, "vpcie-mmio: bad offset or value\n");
		return 1;
	}
	fd = open(argv[1], argc == 4 ? O_RDWR | O_SYNC : O_RDONLY | O_SYNC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "vpcie-mmio: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (off + 4 > (uint64_t)st.st_size) {
		fprintf(stderr, "vpcie-mmio: offset 0x%llx beyond %s (%lld bytes)\n",
			(unsigned long long)off, argv[1], (long long)st.st_size);
		return 1;
	}
	page = sysconf(_SC_PAGESIZE);
	map_off = (size_t)off & ~((size_t)page - 1);
	map_len = (size_t)page;
	map = mmap(NULL, map_len, argc == 4 ? PROT_READ | PROT_WRITE : PROT_READ,
		   MAP_SHARED, fd, (off_t)map_off);
	if (map == MAP_FAILED) {
		fprintf(stderr, "vpcie-mmio: mmap %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	reg = (volatile uint32_t *)((char *)map + (off - map_off));
	if (argc == 4)
		*reg = (uint32_t)val;
	else
		printf("0x%08x\n", *reg);
	munmap(map, map_len);
	close(fd);
	return 0;
}
