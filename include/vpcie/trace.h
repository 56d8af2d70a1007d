/* SPDX-License-Identifier: MIT */
/*
 * vpcie/trace.h - a per-process binary trace of every transaction.
 *
 * The device and host runtimes record each config access, region
 * read/write (with up to 8 data bytes), posted-write batch, DMA piece
 * (address, length, shared memory or message), interrupt, reset,
 * connect/disconnect and injected fault into an in-memory buffer of
 * fixed-size records, and append it to a file when the buffer is half full
 * (at the end of a dispatch round, or of a host request), when it is full,
 * and when the trace is closed. There is no thread.
 *
 * Tracing is off unless a handle's options name a file
 * (vpcie_dev_opts.trace_path / vpcie_host_opts.trace_path; both default to
 * $VPCIE_TRACE). Off costs a test of a NULL pointer (or two) per transaction.
 *
 * Timestamps are CLOCK_MONOTONIC nanoseconds, the same clock in every
 * process of the machine, so the traces of a device and of its host merge
 * into one timeline (`vpcie trace`). The file format is in docs/trace.md:
 * a sequence of chunks, each a 48-byte header (magic, version, pid, side,
 * clock, program name, record count) followed by its 80-byte records, all
 * little-endian. Writers open the file with O_APPEND and write a chunk in
 * one write(), so several handles and processes may share one file.
 */
#ifndef VPCIE_TRACE_H
#define VPCIE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VPCIE_TRACE_MAGIC "VPCIETRC"    /* 8 bytes, no NUL */
#define VPCIE_TRACE_VERSION 1
#define VPCIE_TRACE_HDR_SIZE 48u
#define VPCIE_TRACE_REC_SIZE 80u
#define VPCIE_TRACE_CLOCK_MONOTONIC 1   /* the only clock written */
#define VPCIE_TRACE_TEXT_MAX 36u        /* text bytes in a record (NUL-padded) */
#define VPCIE_TRACE_NAME_MAX 16u        /* program name bytes in a chunk header */

enum vpcie_trace_side {
	VPCIE_TRACE_SIDE_DEVICE = 1,
	VPCIE_TRACE_SIDE_HOST = 2,
};

/* Record types. Field use per type (see struct vpcie_trace_rec). */
enum vpcie_trace_type {
	/* Region read/write (index 7 is config space): index, addr = offset,
	 * len = bytes, data = the first min(len, 8) bytes, flags WRITE/POSTED
	 * and the path (RING, MMAP; neither: a socket message), status. */
	VPCIE_TRACE_ACCESS = 1,
	/* Host: posted writes sent in one system call: len = bytes, aux = writes. */
	VPCIE_TRACE_POST_BATCH = 2,
	/* DMA piece: addr, len, flags WRITE (to host memory) and MSG (a
	 * DMA_READ/DMA_WRITE message; else shared memory), status. */
	VPCIE_TRACE_DMA = 3,
	/* Device program raised an interrupt: index = mode's irq index,
	 * addr = vector, flags MASKED|PENDING when it was held back, status. */
	VPCIE_TRACE_IRQ_RAISE = 4,
	/* Interrupt sent (device) or received (host): index, addr = vector,
	 * flags RING when it went as a ring notice instead of the eventfd. */
	VPCIE_TRACE_IRQ = 5,
	/* SET_IRQS: index, addr = start, len = count, aux = VFIO_IRQ_SET_* flags. */
	VPCIE_TRACE_IRQ_SET = 6,
	/* Reset: aux = 0 device reset, 1 function level reset. */
	VPCIE_TRACE_RESET = 7,
	/* A client connected / went away (text: why). */
	VPCIE_TRACE_CONNECT = 8,
	VPCIE_TRACE_DISCONNECT = 9,
	/* An injected fault: text says what. */
	VPCIE_TRACE_FAULT = 10,
	VPCIE_TRACE_TYPE_MAX = 10,
};

enum {
	VPCIE_TRACE_F_WRITE = 1u << 0,
	VPCIE_TRACE_F_POSTED = 1u << 1,
	VPCIE_TRACE_F_MSG = 1u << 2,     /* DMA by message */
	VPCIE_TRACE_F_RING = 1u << 3,    /* through the shared-memory ring */
	VPCIE_TRACE_F_MMAP = 1u << 4,    /* through a mapping of the region */
	VPCIE_TRACE_F_MASKED = 1u << 5,
	VPCIE_TRACE_F_PENDING = 1u << 6,
	VPCIE_TRACE_F_ALL = (1u << 7) - 1,
};

/* One record, as stored (little-endian, 80 bytes, no padding). */
struct vpcie_trace_rec {
	uint64_t ts_ns;   /* CLOCK_MONOTONIC when the transaction started */
	uint64_t addr;
	uint64_t len;
	uint32_t dur_ns;  /* how long it took (saturates at ~4.29 s) */
	uint16_t type;    /* enum vpcie_trace_type */
	uint16_t flags;   /* VPCIE_TRACE_F_* */
	uint32_t index;   /* region or irq index */
	int32_t status;   /* 0 or -errno */
	uint32_t aux;
	uint8_t data[VPCIE_TRACE_TEXT_MAX]; /* data bytes, or NUL-padded text */
};

/* ---- Writing ------------------------------------------------------------- */

struct vpcie_trace;

/*
 * Open (create, append to) the trace file at path for one handle of this
 * process; name (the program, up to 16 bytes kept) labels its records.
 * "%p" in path is replaced by the pid. Returns 0 or -errno.
 */
int vpcie_trace_open(struct vpcie_trace **out, const char *path, enum vpcie_trace_side side,
		     const char *name);

/* Write what is buffered and close. NULL is ignored. */
void vpcie_trace_close(struct vpcie_trace *tr);

/* Write what is buffered now. 0 or -errno (the trace then stops recording). */
int vpcie_trace_flush(struct vpcie_trace *tr);

/* A natural point to write: flushes if the buffer is at least half full. */
void vpcie_trace_tick(struct vpcie_trace *tr);

/* The clock of the records: CLOCK_MONOTONIC in ns. */
uint64_t vpcie_trace_now(void);

/*
 * Append a record (never NULL tr: callers test it, that is the whole cost
 * of tracing when off). t0 is vpcie_trace_now() when the transaction
 * started; the duration is taken now. data/len for ACCESS: up to 8 bytes
 * copied. text (FAULT, DISCONNECT; may be NULL): truncated to 36 bytes.
 */
void vpcie_trace_access(struct vpcie_trace *tr, uint64_t t0, unsigned index, uint64_t off,
			const void *data, uint64_t len, unsigned flags, int status);
void vpcie_trace_dma(struct vpcie_trace *tr, uint64_t t0, uint64_t addr, uint64_t len,
		     unsigned flags, int status);
void vpcie_trace_event(struct vpcie_trace *tr, uint64_t t0, enum vpcie_trace_type type,
		       unsigned index, uint64_t addr, uint64_t len, unsigned flags, int status,
		       uint32_t aux, const char *text);
/* A fault (the fault engine's record): index/addr say where, text what. */
void vpcie_trace_fault(struct vpcie_trace *tr, unsigned index, uint64_t addr, const char *text);

/* ---- Reading ------------------------------------------------------------- */

/* A writer (one chunk header's identity). */
struct vpcie_trace_src {
	uint32_t pid;
	uint8_t side;                          /* enum vpcie_trace_side */
	char name[VPCIE_TRACE_NAME_MAX + 1];   /* NUL-terminated */
	unsigned file;                         /* which input it came from */
};

struct vpcie_trace_ev {
	struct vpcie_trace_rec rec;
	unsigned src;                          /* index into vpcie_trace_set.srcs */
};

/* Records of one or more trace files, merged. */
struct vpcie_trace_set {
	struct vpcie_trace_src *srcs;
	unsigned nsrcs;
	struct vpcie_trace_ev *evs;
	size_t nevs;
};

/*
 * Parse the trace file contents buf[0..len) (input number file) and add its
 * records to set. A header or record that is not valid (bad magic, version,
 * sizes, side, clock, type, flags, a chunk cut short) stops the parse:
 * -EPROTO with err (errlen bytes) saying what and at which byte offset;
 * nothing of this file is added then. -ENOMEM. An empty file is valid.
 */
int vpcie_trace_parse(struct vpcie_trace_set *set, unsigned file, const void *buf, size_t len,
		      char *err, size_t errlen);

/* Order every record by timestamp (stable: same-time records keep input
 * order). 0 or -ENOMEM (order unchanged). */
int vpcie_trace_sort(struct vpcie_trace_set *set);

void vpcie_trace_set_free(struct vpcie_trace_set *set);

/* "ACCESS", "DMA", ... ("?" for an unknown type). */
const char *vpcie_trace_type_name(unsigned type);

#ifdef __cplusplus
}
#endif

#endif
