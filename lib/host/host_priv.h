/* SPDX-License-Identifier: MIT */
/*
 * lib/host/host_priv.h - internals of the host runtime shared by host.c
 * (connection, request engine, DMA service), region.c (regions, mmap,
 * config space, BARs), mem.c (host memory for DMA) and irq.c (interrupts).
 */
#ifndef VPCIE_HOST_PRIV_H
#define VPCIE_HOST_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vpcie/host.h>
#include <vpcie/transport.h>

#include "../util/spin.h"

/* Region indices we cache (PCI uses 0..8; device-specific ones follow). */
#define HOST_MAX_REGIONS 64u
/* fds we accept with one message (we announce it as max_msg_fds). */
#define HOST_MAX_FDS 16u
/* Room for a region info reply's capability chain beyond the fixed part. */
#define HOST_REGION_INFO_ARGSZ 8192u
/* BAR slots tracked: BAR0..5, then the expansion ROM (= VFIO ROM index 6). */
#define HOST_NR_BARS 7u
/* Most vectors any type can have (MSI-X table size limit). */
#define HOST_MAX_VECTORS 2048u

struct host_region {
	bool cached;
	bool has_sparse; /* info.sparse came from a SPARSE_MMAP capability */
	struct vpcie_host_region info;
	/* mmap state: reservation of map_len bytes; areas actually mapped. */
	uint8_t *map;
	size_t map_len;
	unsigned nr_areas;
	struct vpcie_sparse_area areas[VPCIE_MAX_SPARSE_AREAS];
};

struct vpcie_host_mem {
	struct vpcie_host *h;
	struct vpcie_host_mem *next;
	void *ptr;
	size_t size;
	uint64_t iova;
	unsigned flags;
};

#define HOST_IRQ_NONE (-1)

struct vpcie_host {
	struct vpcie_logger lg;
	struct vpcie_host_opts opts;
	struct vpcie_chan *ch;    /* main socket */
	struct vpcie_chan *twin;  /* server-to-client commands, or NULL */
	struct vpcie_caps peer;   /* what the device answered */
	uint64_t xfer;            /* min(ours, theirs): split size for data */
	uint16_t next_id;
	bool broken;
	struct vpcie_spin spin;   /* adaptive polling while waiting */

	/* Posted writes not yet sent: whole messages, flushed in one syscall
	 * before anything that sends a request, waits, or touches a mapping. */
	uint8_t *post;
	size_t post_len;

	struct host_region *regions[HOST_MAX_REGIONS];

	struct vpcie_host_mem *mems;
	uint64_t dma_refused;
	uint64_t dma_served;

	/* config space size (cached from region 7 info), 0 if unknown */
	size_t cfg_size;

	struct vpcie_host_bar bars[HOST_NR_BARS];

	/* interrupts */
	int irq_type;  /* enum vpcie_host_irq_type or HOST_IRQ_NONE */
	unsigned irq_n;
	int *irq_fds;  /* irq_n eventfds */
	bool intx_automasked; /* INTx needs an UNMASK after each event */
	unsigned msi_cap;      /* offsets found when enabling, 0 if none */
	uint16_t msi_flags;
	unsigned msix_cap;
	unsigned msix_bir;
	uint32_t msix_table_off;
	unsigned msix_table_size;
};

/* ---- host.c ------------------------------------------------------------- */

#define HOST_POST_BUF (64u * 1024)   /* posted-write batch buffer */
#define HOST_POST_FLUSH (16u * 1024) /* send once this much is queued */

/* Send the queued posted writes (0 if none). */
int host_flush(struct vpcie_host *h);

/* Queue a posted REGION_WRITE (sent at the next flush). */
int host_post_write(struct vpcie_host *h, unsigned index, uint64_t off, const void *data,
		    uint32_t count);

/*
 * Send command cmd (extra header flags in flags, e.g. VPCIE_MSGF_NO_REPLY)
 * with the payload pieces and fds, then wait for its reply (unless NO_REPLY),
 * serving device commands meanwhile. The reply is checked: error flag ->
 * -EIO, payload -> vpcie_validate_reply() (-EPROTO). If reply is non-NULL it
 * receives the message on success (caller releases); otherwise the reply is
 * released here. Returns 0 or -errno; -ECONNRESET once the handle is broken.
 */
int host_request(struct vpcie_host *h, unsigned cmd, uint32_t flags,
		 const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds,
		 struct vpcie_msg *reply);

/*
 * Serve device commands until extra_fd (if >= 0) becomes readable or
 * timeout_ms (-1: forever) passes. Returns 0 when extra_fd is readable,
 * -ETIMEDOUT, or a channel error.
 */
int host_wait_fd(struct vpcie_host *h, int extra_fd, int timeout_ms);

/* ---- region.c ----------------------------------------------------------- */

/* Cached region (queried on first use). */
int host_region_get(struct vpcie_host *h, unsigned index, struct host_region **out);
/* Close region fds, unmap, free. */
void host_regions_free(struct vpcie_host *h);
/* Check [off, off+len) lies inside region index; returns 0 or -EINVAL. */
int host_region_check(struct vpcie_host *h, unsigned index, uint64_t off, uint64_t len);

/* ---- mem.c -------------------------------------------------------------- */

/* The registered memory containing [addr, addr+len), or NULL. */
struct vpcie_host_mem *host_mem_find(struct vpcie_host *h, uint64_t addr, uint64_t len);
/* Unmap and free every allocation without telling the device. */
void host_mems_free(struct vpcie_host *h);

/* ---- irq.c -------------------------------------------------------------- */

/* Close the eventfds and forget the IRQ state (no messages). */
void host_irq_forget(struct vpcie_host *h);

#endif
