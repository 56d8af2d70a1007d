// SPDX-License-Identifier: MIT
/*
 * vdet-abi-test - the edges of the vpcie_detector user ABI (vpcie_detector.h),
 * run in the guest by scripts/vm/guest-detector.sh against /dev/vdetD.C:
 * one opener, configuration limits, mmap rules, CONFIG refused while mapped
 * or started, buffers returned only by their holder, START twice, read's
 * size and end of stream, unknown ioctls. One "ok"/"FAIL" line per check;
 * exit status 0 when all pass.
 *
 *   vdet-abi-test [DEVICE]     (default /dev/vdet0.0)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "detector_regs.h"
#include "vpcie_detector.h"

static int failed;

/* expect NAME: rc is -1 with errno want (want 0: rc >= 0) */
static void expect(const char *name, long rc, int want)
{
	int got = rc < 0 ? errno : 0;

	if (got == want) {
		printf("ok   %s\n", name);
	} else {
		printf("FAIL %s: got %s, want %s\n", name, got ? strerror(got) : "success",
		       want ? strerror(want) : "success");
		failed = 1;
	}
}

static long config(int fd, struct vdet_config *base, uint32_t fs, uint32_t nbufs, uint32_t seg)
{
	struct vdet_config c = *base;

	c.frame_size = fs;
	c.nbufs = nbufs;
	c.seg_size = seg;
	return ioctl(fd, VDET_IOC_CONFIG, &c);
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/vdet0.0";
	struct vdet_completion rec[4];
	struct vdet_config cfg;
	struct vdet_info info;
	uint32_t idx;
	void *map;
	long r;
	int fd;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("FAIL open %s: %s\n", dev, strerror(errno));
		return 1;
	}
	expect("second open: EBUSY", open(dev, O_RDWR | O_CLOEXEC), EBUSY);
	expect("INFO", ioctl(fd, VDET_IOC_INFO, &info), 0);
	if (info.abi_version != VDET_ABI_VERSION) {
		printf("FAIL abi version %u\n", info.abi_version);
		failed = 1;
	}
	cfg = info.config;
	expect("frame size not a multiple of 8: EINVAL", config(fd, &cfg, 4100, 4, 0), EINVAL);
	expect("frame size below DET_FRAME_MIN: EINVAL", config(fd, &cfg, 56, 4, 0), EINVAL);
	expect("no buffers: EINVAL", config(fd, &cfg, 4096, 0, 0), EINVAL);
	expect("more than VDET_MAX_BUFS: EINVAL", config(fd, &cfg, 4096, VDET_MAX_BUFS + 1, 0), EINVAL);
	expect("segment not a page multiple: EINVAL", config(fd, &cfg, 4096, 4, 1000), EINVAL);
	expect("descriptors beyond a 65536 ring: EINVAL", config(fd, &cfg, 17 * 4096, 4096, 4096), EINVAL);
	expect("beyond max_mb: E2BIG", config(fd, &cfg, DET_FRAME_MAX, 64, 0), E2BIG);
	cfg.pattern = 7;
	expect("unknown pattern: EINVAL", config(fd, &cfg, 4096, 4, 0), EINVAL);
	cfg.pattern = DET_PAT_COUNTER;
	cfg.reserved = 1;
	expect("reserved field set: EINVAL", config(fd, &cfg, 4096, 4, 0), EINVAL);
	cfg.reserved = 0;
	/* a good one: 3 buffers of 12 KiB in 4 KiB segments */
	cfg.frame_size = 3 * 4096;
	cfg.nbufs = 3;
	cfg.seg_size = 4096;
	cfg.irq_frames = 1;
	cfg.frame_limit = 0;
	expect("CONFIG 3 x 12 KiB in 4 KiB segments", ioctl(fd, VDET_IOC_CONFIG, &cfg), 0);
	if (cfg.nsegs != 3 || cfg.ring_size != 16 || cfg.buf_stride != 3 * 4096 ||
	    cfg.mmap_size != 9 * 4096) {
		printf("FAIL geometry: nsegs %u ring %u stride %llu size %llu\n", cfg.nsegs,
		       cfg.ring_size, (unsigned long long)cfg.buf_stride,
		       (unsigned long long)cfg.mmap_size);
		failed = 1;
	}

	map = mmap(NULL, cfg.mmap_size, PROT_READ, MAP_PRIVATE, fd, 0);
	expect("MAP_PRIVATE: EINVAL", map == MAP_FAILED ? -1 : 0, EINVAL);
	map = mmap(NULL, cfg.mmap_size - 4096, PROT_READ, MAP_SHARED, fd, 0);
	expect("short mapping: EINVAL", map == MAP_FAILED ? -1 : 0, EINVAL);
	map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 4096);
	expect("offset mapping: EINVAL", map == MAP_FAILED ? -1 : 0, EINVAL);
	map = mmap(NULL, cfg.mmap_size, PROT_READ, MAP_SHARED, fd, 0);
	expect("whole mapping", map == MAP_FAILED ? -1 : 0, 0);
	expect("CONFIG while mapped: EBUSY", ioctl(fd, VDET_IOC_CONFIG, &cfg), EBUSY);

	idx = 0;
	expect("write before START: EINVAL", write(fd, &idx, sizeof(idx)), EINVAL);
	expect("read of less than a record: EINVAL", read(fd, rec, sizeof(rec[0]) - 1), EINVAL);
	expect("read while stopped: 0 (end)", read(fd, rec, sizeof(rec)) == 0 ? 0 : -1, 0);
	expect("START", ioctl(fd, VDET_IOC_START), 0);
	expect("START again: EBUSY", ioctl(fd, VDET_IOC_START), EBUSY);
	expect("CONFIG while started: EBUSY", ioctl(fd, VDET_IOC_CONFIG, &cfg), EBUSY);
	idx = 5;
	expect("write of a buffer that does not exist: EINVAL", write(fd, &idx, sizeof(idx)), EINVAL);
	/* buffers on the ring, or completed but not read: none is ours yet */
	usleep(200000);
	idx = 0;
	expect("write of a buffer not delivered: EINVAL", write(fd, &idx, sizeof(idx)), EINVAL);
	r = read(fd, rec, sizeof(rec)); /* blocks for the first frame */
	expect("read: whole records", r > 0 && r % (long)sizeof(rec[0]) == 0 ? 0 : -1, 0);
	if (r > 0) {
		const uint8_t *f = (const uint8_t *)map + rec[0].index * cfg.buf_stride;
		uint32_t magic, w, bad = 0;

		/* through the mapping, across the 3 segments: header, counter payload */
		memcpy(&magic, f, 4);
		for (uint32_t i = 0; i < (cfg.frame_size - DET_HDR_SIZE) / 4; i++) {
			memcpy(&w, f + DET_HDR_SIZE + 4 * i, 4);
			bad += w != i;
		}
		expect("frame whole in the mapping", magic == DET_FRAME_MAGIC && !bad &&
		       rec[0].nsegs == 3 && rec[0].length == cfg.frame_size &&
		       rec[0].status == VDET_ST_OK ? 0 : -1, 0);
		expect("give a delivered buffer back", write(fd, &rec[0].index, 4) == 4 ? 0 : -1, 0);
		expect("give it back twice: EINVAL", write(fd, &rec[0].index, 4), EINVAL);
	}
	expect("unknown ioctl: ENOTTY", ioctl(fd, _IO(VDET_IOC_MAGIC, 0x7f)), ENOTTY);
	expect("STOP", ioctl(fd, VDET_IOC_STOP), 0);
	expect("read after STOP: 0 (end)", read(fd, rec, sizeof(rec)) == 0 ? 0 : -1, 0);
	expect("munmap", munmap(map, cfg.mmap_size), 0);
	expect("CONFIG after munmap", ioctl(fd, VDET_IOC_CONFIG, &cfg), 0);
	close(fd);
	fd = open(dev, O_RDWR | O_CLOEXEC);
	expect("open after close", fd, 0);
	if (fd >= 0)
		close(fd);
	printf("%s\n", failed ? "vdet-abi-test: FAIL" : "vdet-abi-test: all ok");
	return failed;
}
