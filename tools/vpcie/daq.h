/* SPDX-License-Identifier: MIT */
/*
 * daq.h - `vpcie daq`'s parts: the devices and channels it drives
 * (daq_dev.c: connect, allocate rings in host memory, program and start
 * the detector, stop it and read its counters), the frame sink for
 * --output (daq_out.c) and the memcpy floor (daq_dev.c).
 */
#ifndef VPCIE_TOOL_DAQ_H
#define VPCIE_TOOL_DAQ_H

#include <stdbool.h>
#include <stdint.h>

#include <vpcie/host.h>

#include "daq_ring.h"
#include "detector_regs.h"
#include "tool.h"

#define DAQ_MAX_DEVS 16u

/* What every channel is asked to do. */
struct daq_cfg {
	uint32_t frame_size, buf_size, ring_size;
	uint32_t period_ns, pattern, seed;
	uint32_t irq_frames, irq_usec;
	unsigned channels;   /* per device; 0: all the device has */
	uint64_t frames;     /* per channel; 0: until interrupted */
	bool shared;         /* host memory shared with the device (zero copy) */
	bool crc;
	bool poll;           /* busy-poll instead of waiting for MSI-X */
	bool shadow;         /* post through the tail shadow when the device has it */
};

struct daq_chan {
	struct daq_ring r;
	struct vpcie_host_mem *mem;
	uint32_t tail_written; /* to RING_TAIL, or to the shadow */
	uint64_t doorbells;    /* RING_TAIL writes while streaming */
	uint64_t limit;      /* frames this channel produces; 0: unlimited */
	bool done;
	/* The device's counters, read when it is stopped. */
	uint64_t dev_frames, dev_dropped, dev_bad_desc, dev_dma_err, dev_irqs;
};

struct daq_dev {
	const char *socket;
	struct vpcie_host *h;
	unsigned nch;
	bool shared;         /* host memory shared (false: asked, or over TCP) */
	bool shadow;         /* tail shadow in use (DET_CAP_SHADOW and cfg->shadow) */
	struct daq_chan ch[DET_MAX_CHANNELS];
	uint64_t irq_events; /* MSI-X interrupts received */
};

/* Connect, check the device, enable MSI-X, allocate and lay out every
 * channel's ring (channel c of device d at its own bus address). 0 or -1
 * (message printed). */
int daq_dev_open(struct daq_dev *d, unsigned index, const struct tool_conn *conn,
		 const struct daq_cfg *cfg);
/* Program every channel (ring, frame, moderation, limit) and start them. */
int daq_dev_start(struct daq_dev *d, const struct daq_cfg *cfg);
/* Write RING_TAIL of channels whose tail moved (posted writes). */
int daq_dev_post(struct daq_dev *d);
/* Stop every channel and read its counters. */
int daq_dev_stop(struct daq_dev *d);
void daq_dev_close(struct daq_dev *d);

/* The floors: memcpy of frame_size pieces into the buffers of d's first
 * channel, as the device writes them, or crc32 over them. Each fills
 * mbs[DAQ_FLOOR_ROUNDS] with MB/s of timed 40 ms rounds (pages faulted in
 * first), and cpu_mbs (if not NULL) with MB per second of the thread's CPU
 * time. 0 or -1. daq measures them before and after streaming and takes
 * the median of both sets. */
#define DAQ_FLOOR_ROUNDS 7
int daq_memcpy_floor(struct daq_dev *d, uint32_t frame_size, double *mbs, double *cpu_mbs);
int daq_crc_floor(struct daq_dev *d, uint32_t frame_size, double *mbs);
/* Median of n values (sorts them). */
double daq_median(double *v, size_t n);

/* --output: a file (frames back to back, O_DIRECT when aligned) or a
 * directory (one file per frame). */
struct daq_out;
struct daq_out *daq_out_open(const char *path, uint32_t frame_size, uint32_t buf_size);
/* daq_frame_fn */
int daq_out_frame(void *opaque, uint16_t channel, uint64_t seq, const struct iovec *iov,
		  unsigned n);
/* Close; returns the first write error (negative errno) or 0. */
int daq_out_close(struct daq_out *o);

#endif
