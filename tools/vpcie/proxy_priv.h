/* SPDX-License-Identifier: MIT */
/*
 * `vpcie proxy` internals: the table of client memory the proxy maps
 * (proxy_maps.c) and the event loop relaying one client (proxy.c).
 */
#ifndef VPCIE_TOOL_PROXY_PRIV_H
#define VPCIE_TOOL_PROXY_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vpcie/protocol.h>

/*
 * One DMA window the client mapped. ptr is the proxy's mapping of the
 * client's fd (the proxy answers the device's DMA_READ/DMA_WRITE on it), or
 * NULL when the client gave no fd we may map (its DMA is relayed to it).
 */
struct proxy_map {
	uint64_t addr, size;
	uint32_t prot;  /* VFIO_DMA_MAP_FLAG_READ | _WRITE */
	uint8_t *ptr;   /* first byte of the window, or NULL */
	void *map_base; /* what mmap returned */
	size_t map_len;
};

/* Sorted, disjoint windows; owned by one client session. */
struct proxy_maps {
	struct proxy_map *v;
	unsigned n, cap;
	bool warned_unsealed;
};

#define PROXY_MAX_MAPS 65535u

/*
 * Add the window m; fd (owned by the call, -1: none) is mapped only if it
 * is sealed against shrinking (a client that can truncate the file under
 * the mapping would crash the proxy with SIGBUS), as the device runtime
 * does; otherwise the window is served by the client. 0, or -EINVAL
 * (malformed, or the file is smaller than the window), -EEXIST (overlap),
 * -ENOSPC, -ENOMEM, -errno of mmap. *unsealed tells whether an fd was
 * refused for want of seals.
 */
int proxy_maps_add(struct proxy_maps *t, const struct vpcie_dma_map *m, int fd, bool *unsealed);

/* Remove the window that starts at addr with exactly size bytes: 0 or -ENOENT. */
int proxy_maps_remove(struct proxy_maps *t, uint64_t addr, uint64_t size);

/* Remove every window and free the table. */
void proxy_maps_clear(struct proxy_maps *t);

/*
 * The proxy's pointer to [addr, addr+len) if one mapped window holds all of
 * it and allows the access (write: the device writes client memory), else
 * NULL (the access is relayed to the client, who knows its whole memory).
 */
uint8_t *proxy_maps_find(const struct proxy_maps *t, uint64_t addr, uint64_t len, bool write);

/* ---- Sessions (proxy_session.c) ---------------------------------------- */

struct vpcie_logger;
struct vpcie_endpoint;
struct vpcie_tls_psk;
struct vpcie_chan;

struct proxy_cfg {
	const struct vpcie_endpoint *remote; /* the device (TCP) */
	const struct vpcie_tls_psk *psk;     /* NULL: plaintext (loopback only) */
	int timeout_ms;                      /* connect, handshake, each send */
	const struct vpcie_logger *lg;
	/* NULL: connect to remote. Otherwise called instead, to hand over a
	 * channel to the device (a test or fuzzer's socketpair): 0 or -errno. */
	int (*connect)(void *opaque, struct vpcie_chan **dev);
	void *connect_opaque;
};

/*
 * Serve one client on the connected UNIX socket client_fd (owned by the
 * call) until it leaves, the device leaves, or stop_fd (a signalfd) becomes
 * readable. Returns 0 when the session ended (either side gone), 1 when
 * stop_fd fired, -errno on a local failure.
 */
int proxy_session_run(const struct proxy_cfg *cfg, int client_fd, int stop_fd);

#endif
