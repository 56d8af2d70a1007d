/* SPDX-License-Identifier: MIT */
/* Device runtime internals, shared by the files of lib/device. */
#ifndef VPCIE_DEV_PRIV_H
#define VPCIE_DEV_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <vpcie/device.h>
#include <vpcie/ring.h>
#include <vpcie/tls.h>
#include <vpcie/trace.h>
#include <vpcie/transport.h>

#include "../util/spin.h"

#define DEV_NUM_REGIONS VFIO_PCI_NUM_REGIONS /* BAR0-5, ROM, config, VGA */
/* INTx, MSI, MSI-X. No ERR/REQ: answering those indexes with count 0 makes
 * QEMU warn that error recovery is unavailable; refusing them is what an
 * older kernel does, and QEMU accepts it silently. */
#define DEV_NUM_IRQS (VFIO_PCI_MSIX_IRQ_INDEX + 1)
#define DEV_PAGE 4096u
#define DEV_MAX_DEFERRED 4096u              /* commands queued during a DMA wait */
#define DEV_RING_BUDGET 256u                /* ring commands per dispatch */
#define DEV_SPIN_POLL_NS 4000u              /* polling the ring: look at the fds this often */

struct dev_bar {
	bool present;
	bool upper_half;                    /* second slot of a 64-bit BAR */
	struct vpcie_bar_desc desc;         /* desc.ops points to ops */
	struct vpcie_bar_ops ops;
	struct vpcie_trap traps[VPCIE_MAX_TRAPS + 2]; /* + MSI-X table and PBA */
	unsigned ntraps;
	int memfd;                          /* memory-backed: shared with host */
	uint8_t *mem;
};

struct dma_map {
	uint64_t addr, size;
	uint32_t prot;                      /* VFIO_DMA_MAP_FLAG_READ/WRITE */
	uint8_t *ptr;                       /* mmap of the host's fd, or NULL */
	size_t map_len;                     /* length of the mmap */
	size_t map_skew;                    /* ptr + map_skew is addr */
};

/* A mapping the client unmapped while device code waited for a DMA reply:
 * pointers from vpcie_dev_dma_ptr() stay valid until the dispatcher runs again. */
struct dma_zombie {
	uint8_t *ptr;
	size_t len;
};

/* Interrupt fds the client attached, per IRQ index. */
/* A trigger "fd" meaning: deliver as a VPCIE_CMD_IRQ_NOTIFY message (a
 * client on a stream without fds that negotiated vpcie_irq_msg). */
#define DEV_IRQ_BY_MSG (-2)

struct dev_irq {
	unsigned count;                     /* vectors of this index */
	int *trigger;                       /* eventfd per vector or -1 */
	int *mask_ev, *unmask_ev;           /* mask/unmask notifiers or -1 */
	uint8_t *client_masked;             /* SET_IRQS MASK/UNMASK state */
};

struct dev_timer_list;

/* The shared-memory ring transport of the current client (ring.c). */
struct dev_ring {
	void *mem;
	size_t len;
	uint32_t slots;
	int memfd;
	int h2d_wake;                       /* the host writes it: in our epoll set */
	int d2h_wake;                       /* we write it to wake the host */
	struct vpcie_ring h2d;              /* we consume commands */
	struct vpcie_ring d2h;              /* we produce replies and IRQ notices */
	bool armed;                         /* h2d_wake is in the epoll set */
	uint64_t served;                    /* slots handled */
};

struct vpcie_timer {
	struct vpcie_dev *dev;
	uint64_t due_ns;                    /* 0: disarmed */
	uint64_t period_ns;
	vpcie_timer_fn fn;
	void *opaque;
	struct vpcie_timer *next;
};

struct vpcie_dev {
	struct vpcie_logger log;
	struct vpcie_dev_opts opts;
	struct vpcie_dev_ops ops;           /* the program's, copied */
	void *opaque;

	struct vpcie_cfg cfg;
	struct vpcie_cfg *cfg_reset;        /* power-on image, taken when serving starts */
	struct dev_bar bars[6];
	uint8_t *rom;
	uint32_t rom_size;

	/* Capabilities the runtime acts on (0: absent). */
	unsigned pcie_off, msi_off, msix_off;
	unsigned msi_nvec;
	uint32_t msi_pending;               /* pending vectors of an MSI without
					     * per-vector masking (no PBA register) */
	unsigned msix_nvec, msix_table_bar, msix_pba_bar;
	uint32_t msix_table_off, msix_pba_off;
	uint8_t *msix_table;                /* 16 bytes per vector */
	uint8_t *msix_ctrl_written;         /* client wrote this vector's control */
	uint64_t *msix_pending;             /* PBA bits */

	/* INTx line. */
	bool intx_level, intx_pending, intx_signalled;

	/* Connection. */
	int epfd, listen_fd, timer_fd, signal_fd;
	char *sock_path;                    /* UNIX socket file to remove, or NULL */
	char *listen_where;                 /* the endpoint as given to listen */
	struct vpcie_tls_psk *psk;          /* TLS on every connection if set */
	struct vpcie_chan *chan, *twin;
	bool negotiated;
	bool irq_msg;                       /* interrupts as VPCIE_CMD_IRQ_NOTIFY */
	bool listening_armed;
	struct vpcie_caps peer;             /* what the client accepts */
	uint64_t xfer_limit;                /* largest transfer we take from it */
	uint16_t next_id;
	struct dma_map *maps;
	unsigned nmaps, maps_cap;
	struct dev_irq irqs[DEV_NUM_IRQS];
	struct vpcie_msg *deferred;         /* commands read while waiting */
	unsigned ndeferred, deferred_head;
	size_t deferred_bytes;
	int handler_depth;                  /* inside a client command's handler */
	int dma_depth;                      /* nested DMA waits */
	struct dma_zombie *zombies;         /* unmapped during a DMA wait (dma.c) */
	unsigned nzombies, zombies_cap;
	bool warned_unsealed;               /* said once per client */

	struct dev_ring *ring;              /* ring transport, or NULL */
	struct vpcie_spin spin;             /* adaptive polling of the client */
	bool spun;                          /* polled once since becoming idle */
	struct vpcie_timer *timers;
	struct vpcie_timer *stall_timer;    /* watches half-received messages */
	uint64_t stall_mark;                /* bytes received when it was armed */
	bool stop;
	bool drop_client;                   /* dispatcher found the client broken */
	const char *drop_why;               /* if set, the reason logged for it */
	struct dev_fault *fault;            /* fault injection (fault_hooks.c); NULL: none */
	struct vpcie_trace *trace;          /* opts.trace_path open, or NULL */
};

/* Trace points (vpcie/trace.h) cost this one test when tracing is off. */
#define DEV_TRACING(dev) __builtin_expect((dev)->trace != NULL, 0)
#define DEV_TRACE_T0(dev) (DEV_TRACING(dev) ? vpcie_trace_now() : 0)

/* dispatch.c */
int dev_handle_msg(struct vpcie_dev *dev, struct vpcie_msg *msg);
void dev_cfg_reset(struct vpcie_dev *dev);
void dev_do_reset(struct vpcie_dev *dev, enum vpcie_reset_kind kind);
/* A region access as the host asked it: checked, then through the fault
 * set if there is one. 0, -errno, or DEV_FAULT_NOREPLY (send no reply). */
int dev_region_access(struct vpcie_dev *dev, unsigned region, uint64_t off,
		      void *buf, size_t len, bool write);
/* The access itself: config space, ROM, BAR memory, callbacks, MSI-X. */
int dev_region_route(struct vpcie_dev *dev, unsigned region, uint64_t off,
		     void *buf, size_t len, bool write);
/* The same, saying how it came for the trace (VPCIE_TRACE_F_RING, _POSTED). */
int dev_region_access_via(struct vpcie_dev *dev, unsigned region, uint64_t off, void *buf,
			  size_t len, bool write, unsigned trace_flags);

/* dma.c */
int dev_dma_map(struct vpcie_dev *dev, const struct vpcie_dma_map *m, int fd);
int dev_dma_unmap(struct vpcie_dev *dev, const struct vpcie_dma_unmap *u);
void dev_dma_unmap_all(struct vpcie_dev *dev);
/* Send a request to the client and wait for its reply. Commands that arrive
 * meanwhile are served at once if no handler is running (handler_depth 0),
 * else queued for the dispatcher (see vpcie_dev_dma_read() in vpcie/device.h). */
int dev_request(struct vpcie_dev *dev, struct vpcie_msg_hdr *hdr, const struct iovec *iov,
		int iovcnt, struct vpcie_msg *reply);
/* Take the oldest queued command; false if none. */
bool dev_deferred_pop(struct vpcie_dev *dev, struct vpcie_msg *msg);
/* Drop every queued command. */
void dev_deferred_clear(struct vpcie_dev *dev);
/* Release mappings unmapped during DMA waits (the dispatcher runs: no device
 * code holds a pointer into them any more). */
void dev_dma_release_zombies(struct vpcie_dev *dev);
/* vpcie_dev_dma_read/write without the fault set. */
int dev_dma_rw(struct vpcie_dev *dev, uint64_t addr, void *buf, size_t len, bool write);
/* One DMA_READ/DMA_WRITE message for [addr, addr+len), maps unchecked. */
int dev_dma_msg(struct vpcie_dev *dev, uint64_t addr, void *buf, size_t len, bool write);

/* irq.c */
int dev_irq_setup(struct vpcie_dev *dev);
void dev_irq_free(struct vpcie_dev *dev);
void dev_irq_drop_fds(struct vpcie_dev *dev, unsigned index);
int dev_set_irqs(struct vpcie_dev *dev, const struct vpcie_irq_set *s, struct vpcie_msg *msg);
uint32_t dev_irq_info_flags(unsigned index);
/* Re-evaluate pending vectors after a mask or enable may have changed. */
void dev_irq_update(struct vpcie_dev *dev);
void dev_irq_reset_state(struct vpcie_dev *dev);
int dev_msix_access(struct vpcie_dev *dev, unsigned bar, uint64_t off, void *buf,
		    size_t len, bool write, bool *handled);
/* vpcie_dev_irq_raise without the fault set. */
int dev_irq_raise(struct vpcie_dev *dev, unsigned n);

/* fault_hooks.c, fault_ctl.c: fault injection (vpcie/fault.h). Each hook is
 * called only when dev->fault is set. */
#define DEV_FAULT_NOREPLY 1                 /* the access is never answered */
int dev_fault_init(struct vpcie_dev *dev);  /* opts.faults; 0 or -errno */
void dev_fault_free(struct vpcie_dev *dev);
int dev_fault_access(struct vpcie_dev *dev, unsigned region, uint64_t off, void *buf,
		     size_t len, bool write);
int dev_fault_dma(struct vpcie_dev *dev, uint64_t addr, void *buf, size_t len, bool write);
int dev_fault_irq(struct vpcie_dev *dev, unsigned n);
/* After a client was dropped: true if a removal keeps the link down (the
 * listener is closed and reopens later), so it must not be re-armed. */
bool dev_fault_link_down(struct vpcie_dev *dev);
/* Whether access rules apply to region idx (it is then not offered for mmap). */
bool dev_fault_traps_region(struct vpcie_dev *dev, unsigned idx);
/* Whether DMA rules are active (vpcie_dev_dma_ptr() then returns NULL). */
bool dev_fault_traps_dma(struct vpcie_dev *dev);
/* An epoll event on a control socket fd? Handles it and returns true. */
bool dev_fault_ctl_event(struct vpcie_dev *dev, int fd);
/* vpcie_dev_serve(): open SOCKET.fault if opts.fault_control. */
int dev_fault_ctl_serve(struct vpcie_dev *dev, const char *socket_path);

/* device.c */
void dev_drop_client(struct vpcie_dev *dev, const char *why);
/* Channel limits for a client that may send xfer-byte transfers. */
void dev_chan_limits(const struct vpcie_dev *dev, uint64_t xfer, struct vpcie_chan_limits *lim);
int dev_ep_add(struct vpcie_dev *dev, int fd);

/* timer.c */
/* The timerfd fired: run every due timer, re-arm the timerfd. */
void dev_run_timers(struct vpcie_dev *dev);

/* ring.c */
/* Create the memory and eventfds for a client that proposed the ring; fds[]
 * receives memfd, h2d wake, d2h wake (still ours; sent with the reply). */
int dev_ring_create(struct vpcie_dev *dev, int fds[3]);
/* After the VERSION reply went out: start serving the ring. */
int dev_ring_activate(struct vpcie_dev *dev);
void dev_ring_destroy(struct vpcie_dev *dev);
/* Commands ready in the ring (also true when its indices are broken). */
bool dev_ring_has_work(struct vpcie_dev *dev);
/* Handle up to budget commands; returns how many. Sets drop_client on a
 * protocol error. */
int dev_ring_serve(struct vpcie_dev *dev, unsigned budget);
/* Deliver an interrupt as a ring notice; -EAGAIN (ring nearly full) or
 * -ENOTCONN means: use the eventfd. */
int dev_ring_irq(struct vpcie_dev *dev, unsigned index, unsigned vector);
/* The eventfd the host kicks us with was readable: reset it. */
void dev_ring_drain_wake(struct vpcie_dev *dev);
/* We are about to block outside the dispatcher's own spin (the program's
 * loop polls vpcie_dev_fd()): make sure the host kicks us. */
void dev_ring_sleep(struct vpcie_dev *dev);

#endif
