/* SPDX-License-Identifier: MIT */
/*
 * `vpcie proxy` internals: the table of client memory the proxy maps
 * (proxy_maps.c), the log of the client's config-space writes
 * (proxy_cfglog.c), the session relaying one client (proxy_session.c) and
 * the connection to the device, lost and found again (proxy_device.c).
 */
#ifndef VPCIE_TOOL_PROXY_PRIV_H
#define VPCIE_TOOL_PROXY_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vpcie/protocol.h>
#include <vpcie/transport.h>

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

/* ---- The client's config-space writes (proxy_cfglog.c) ------------------ */

/*
 * A restarted device has lost what the client wrote to its config space
 * (command register, BARs, MSI set-up): the proxy keeps those writes to
 * replay them. One record per (offset, length); a write replaces the
 * record of the same shape and moves it last, so replaying the records in
 * order ends with the newest value of every byte.
 */
struct proxy_cfgw {
	uint32_t off, len;
	uint8_t *data;
};

struct proxy_cfglog {
	struct proxy_cfgw *v;
	unsigned n, cap;
	bool overflowed; /* the oldest records were dropped */
};

#define PROXY_CFG_SPACE 4096u /* PCIe config space */
#define PROXY_MAX_CFGW 4096u  /* records kept; then the oldest is dropped */

/* Record a write of len bytes at off: 0, -EINVAL (empty or outside config space), -ENOMEM. */
int proxy_cfglog_add(struct proxy_cfglog *l, uint64_t off, const void *data, uint64_t len);

/* Forget every write (the device was reset); frees the records. */
void proxy_cfglog_clear(struct proxy_cfglog *l);

/* ---- Sessions (proxy_session.c) ---------------------------------------- */

struct vpcie_logger;
struct vpcie_endpoint;
struct vpcie_tls_psk;
struct vpcie_chan;

struct proxy_cfg {
	const struct vpcie_endpoint *remote; /* the device (TCP) */
	const struct vpcie_tls_psk *psk;     /* NULL: plaintext (loopback only) */
	int timeout_ms;                      /* connect, handshake, each send */
	unsigned reconnect_s; /* 0: a lost device ends the session; else retry that long */
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

/* ---- Inside a session (proxy_session.c, proxy_device.c) ----------------- */

/* A client request in flight at the device, by the client's msg_id. */
struct proxy_pend {
	uint16_t cmd; /* 0: none */
	bool kept;    /* its effect is held and replayed by the proxy (DMA_MAP, SET_IRQS) */
	uint32_t flags;      /* DMA_UNMAP: its flags; REGION_READ: the region */
	uint64_t addr, size; /* DMA_MAP/UNMAP: the window; REGION_READ: offset, count */
};

/* A device DMA request relayed to the client, by the id the proxy gave it. */
struct proxy_relayed {
	uint16_t cmd;    /* 0: free */
	uint16_t dev_id; /* the device's msg_id */
	bool stale;      /* that device is gone: the reply is dropped */
};

#define PROXY_NIDS 65536u
#define PROXY_ID_PAGE 256u
#define PROXY_ID_PAGES (PROXY_NIDS / PROXY_ID_PAGE)

struct proxy_session {
	const struct proxy_cfg *cfg;
	const struct vpcie_logger *lg;
	struct vpcie_chan *cl, *dev; /* dev is NULL while the device is away */
	bool dev_lost, cl_lost;      /* a send or receive failed on that side */
	int op_ms;                   /* timeout of one device operation */
	struct proxy_maps maps;
	struct proxy_cfglog cfgw;
	int *irq[VFIO_PCI_NUM_IRQS]; /* the client's eventfds, -1: none */
	unsigned nirq[VFIO_PCI_NUM_IRQS];
	/* Both by msg_id, in pages of PROXY_ID_PAGE entries allocated when an
	 * id of theirs is first used (proxy_pend_slot, proxy_relayed_slot) and
	 * kept until the session ends: a session costs what its ids use, not
	 * two 65536-entry tables. */
	struct proxy_pend *to_dev[PROXY_ID_PAGES];   /* by client msg_id */
	struct proxy_relayed *to_cl[PROXY_ID_PAGES]; /* by the proxy's msg_id towards the client */
	uint16_t cl_next_id, replay_id;
	uint64_t xfer;                /* negotiated max_data_xfer_size */
	struct vpcie_caps cl_caps;    /* what the client proposed, proposed again */
	bool irq_msg;                 /* the device sends interrupts as messages */
	/* what the device looked like, to recognise it when it comes back */
	bool have_info, have_id;
	struct vpcie_device_info info;
	uint32_t id; /* config dword 0: vendor and device ID */
	/* while the device is away */
	int64_t away_since, next_try; /* CLOCK_MONOTONIC ms */
	unsigned attempts, backoff_ms;
	uint64_t dma_local, dma_relayed, irqs, reconnects; /* for the log */
};

#define PROXY_RETRY_FIRST_MS 100
#define PROXY_RETRY_MAX_MS 5000
#define PROXY_RETRY_OP_MS 1000 /* bound of each step of a reconnection */

int64_t proxy_now_ms(void);
void proxy_chan_limits(uint64_t xfer, struct vpcie_chan_limits *lim);

/* The request in flight with client id id, or NULL if that id's page was never used (free). */
static inline struct proxy_pend *proxy_pend_at(const struct proxy_session *s, uint16_t id)
{
	struct proxy_pend *p = s->to_dev[id / PROXY_ID_PAGE];

	return p ? &p[id % PROXY_ID_PAGE] : NULL;
}

/* The relayed DMA request with proxy id id, or NULL (free), as proxy_pend_at. */
static inline struct proxy_relayed *proxy_relayed_at(const struct proxy_session *s, uint16_t id)
{
	struct proxy_relayed *r = s->to_cl[id / PROXY_ID_PAGE];

	return r ? &r[id % PROXY_ID_PAGE] : NULL;
}

/* proxy_session.c: the entry of id, its page allocated (zeroed) if need be; NULL: no memory. */
struct proxy_pend *proxy_pend_slot(struct proxy_session *s, uint16_t id);
struct proxy_relayed *proxy_relayed_slot(struct proxy_session *s, uint16_t id);

/* Whether messages can go to the device now. */
static inline bool proxy_dev_up(const struct proxy_session *s)
{
	return s->dev && !s->dev_lost;
}

/* proxy_device.c: VERSION's payload, read (caps and minor) and sent (a reply if req). */
int proxy_read_version(const struct vpcie_msg *m, struct vpcie_caps *caps, uint16_t *minor);
int proxy_send_version(struct vpcie_chan *ch, const struct vpcie_msg_hdr *req, uint16_t minor,
		       const struct vpcie_caps *caps, uint32_t mask, int timeout_ms);

/* proxy_device.c: connect (TCP, TLS) and negotiate VERSION for the client's caps. */
int proxy_connect_device(struct proxy_session *s);
int proxy_device_version(struct proxy_session *s, struct vpcie_caps *dc);

/*
 * The device is gone (s->dev_lost, or a receive failed): answer the
 * client's requests in flight, forget the connection, and schedule the
 * first reconnection. -ENOTCONN when reconnecting is off (end the
 * session), -EPIPE if the client is gone too, else 0.
 */
int proxy_device_gone(struct proxy_session *s);

/*
 * One reconnection attempt (when s->next_try has come): connect, VERSION,
 * check it is the same device, replay DMA maps, config writes and
 * interrupt set-up. 0 whether or not it worked (s->dev tells), -ETIMEDOUT
 * when the device has been away longer than cfg->reconnect_s (end the
 * session), -EPIPE if the client is gone.
 */
int proxy_reconnect(struct proxy_session *s);

/*
 * Answer the client's request h now, for a device that is away: success
 * for what the proxy holds and will replay (p->kept: DMA_MAP, SET_IRQS
 * triggers; DMA_UNMAP and DEVICE_RESET, already true of the device that
 * comes back), ENODEV for everything else, as a dead device would.
 * 0 or -EPIPE (the client is gone).
 */
int proxy_answer_away(struct proxy_session *s, const struct vpcie_msg_hdr *h,
		      const struct proxy_pend *p);

/* proxy_session.c: a message from the device (command: DMA, IRQ_NOTIFY). */
int proxy_from_device(struct proxy_session *s, struct vpcie_msg *m);

#endif
