/* SPDX-License-Identifier: MIT */
/*
 * Device runtime: construction, the connection lifecycle and the event loop
 * (one epoll fd over the listener, the client socket, a timerfd for device
 * timers and an optional signalfd). The function's layout (BARs, ROM,
 * capabilities) is layout.c, the timers timer.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "dev_priv.h"
#include "../util/abi.h"
#include "../util/util.h"

static void opts_defaults(struct vpcie_dev_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->name = "vpcie";
	opts->log_level = VPCIE_LOG_INFO;
	opts->max_data_xfer_size = 1u << 20;
	opts->max_msg_fds = 16;
	opts->offer_twin_socket = true;
	opts->dma_timeout_ms = 5000;
	opts->msg_timeout_ms = 5000;
	opts->reset_supported = true;
	opts->dma_shm = true;
	opts->poll_max_us = vpcie_env_poll_us(50);
	opts->offer_ring = !(getenv("VPCIE_DEV_RING") && !strcmp(getenv("VPCIE_DEV_RING"), "0"));
	opts->ring_slots = VPCIE_RING_SLOTS_DEFAULT;
	opts->trace_path = getenv("VPCIE_TRACE");
	if (opts->trace_path && !*opts->trace_path)
		opts->trace_path = NULL;
}

void vpcie_dev_opts_defaults_sized(struct vpcie_dev_opts *opts, size_t size)
{
	struct vpcie_dev_opts d;

	opts_defaults(&d);
	vpcie_abi_fill(opts, size, &d, sizeof(d));
}

struct vpcie_dev *vpcie_dev_new_sized(const struct vpcie_ids *ids, size_t ids_size,
				      const struct vpcie_dev_ops *ops, size_t ops_size,
				      void *opaque, const struct vpcie_dev_opts *opts,
				      size_t opts_size)
{
	struct vpcie_ids id = {0};
	struct vpcie_dev *dev;

	if (!ids || vpcie_abi_copy(&id, sizeof(id), ids, ids_size)) {
		errno = EINVAL;
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	opts_defaults(&dev->opts);
	if ((opts && vpcie_abi_copy(&dev->opts, sizeof(dev->opts), opts, opts_size)) ||
	    (ops && vpcie_abi_copy(&dev->ops, sizeof(dev->ops), ops, ops_size)) ||
	    /* Every client may send an fd (max_msg_fds is 1 unless we say
	     * more), and SET_IRQS needs them: 0 cannot be honoured. */
	    !dev->opts.max_msg_fds || dev->opts.max_msg_fds > VPCIE_MAX_FDS_LIMIT) {
		free(dev);
		errno = EINVAL;
		return NULL;
	}
	if (!dev->opts.name)
		dev->opts.name = "vpcie";
	if (dev->opts.max_data_xfer_size < 4096 ||
	    dev->opts.max_data_xfer_size > VPCIE_MAX_XFER_LIMIT)
		dev->opts.max_data_xfer_size = 1u << 20;
	if (dev->opts.dma_timeout_ms <= 0)
		dev->opts.dma_timeout_ms = 5000;
	if (dev->opts.msg_timeout_ms <= 0)
		dev->opts.msg_timeout_ms = 5000;
	if (!vpcie_ring_slots_valid(dev->opts.ring_slots))
		dev->opts.ring_slots = VPCIE_RING_SLOTS_DEFAULT;
	vpcie_spin_init(&dev->spin, (uint64_t)dev->opts.poll_max_us * 1000u);
	vpcie_logger_init(&dev->log, dev->opts.name, dev->opts.log_level);
	dev->log.sink = dev->opts.log_sink;
	dev->log.opaque = dev->opts.log_opaque;
	dev->opaque = opaque;
	vpcie_cfg_init(&dev->cfg, &id);
	dev->listen_fd = dev->timer_fd = dev->signal_fd = -1;
	if (dev->opts.trace_path) {
		int ret = vpcie_trace_open(&dev->trace, dev->opts.trace_path,
					   VPCIE_TRACE_SIDE_DEVICE, dev->opts.name);

		if (ret) {
			vpcie_err(&dev->log, "cannot open trace %s: %s", dev->opts.trace_path,
				  strerror(-ret));
			free(dev);
			errno = -ret;
			return NULL;
		}
	}
	for (unsigned i = 0; i < 6; i++)
		dev->bars[i].memfd = -1;
	dev->epfd = epoll_create1(EPOLL_CLOEXEC);
	dev->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (dev->epfd < 0 || dev->timer_fd < 0)
		goto fail;
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = dev->timer_fd};

	if (epoll_ctl(dev->epfd, EPOLL_CTL_ADD, dev->timer_fd, &ev) < 0)
		goto fail;
	if (dev->opts.nfaults || dev->opts.fault_control) {
		int ret = dev_fault_init(dev); /* -EINVAL: a bad rule */

		if (ret) {
			vpcie_dev_free(dev);
			errno = -ret;
			return NULL;
		}
	}
	return dev;
fail:
	vpcie_dev_free(dev);
	return NULL;
}

void vpcie_dev_free(struct vpcie_dev *dev)
{
	if (!dev)
		return;
	if (dev->chan)
		dev_drop_client(dev, "device shutting down");
	while (dev->timers)
		vpcie_dev_timer_cancel(dev->timers);
	if (dev->listen_fd >= 0)
		close(dev->listen_fd);
	if (dev->sock_path) {
		unlink(dev->sock_path);
		free(dev->sock_path);
	}
	free(dev->listen_where);
	if (dev->psk) {
		vpcie_tls_psk_clear(dev->psk);
		free(dev->psk);
	}
	for (unsigned i = 0; i < 6; i++) {
		struct dev_bar *b = &dev->bars[i];

		if (b->memfd >= 0)
			close(b->memfd);
		if (b->mem && b->desc.memory)
			munmap(b->mem, b->desc.size);
	}
	dev_irq_free(dev);
	if (dev->timer_fd >= 0)
		close(dev->timer_fd);
	if (dev->signal_fd >= 0)
		close(dev->signal_fd);
	if (dev->epfd >= 0)
		close(dev->epfd);
	free(dev->rom);
	free(dev->cfg_reset);
	free(dev->maps);
	free(dev->zombies);
	free(dev->deferred);
	dev_fault_free(dev);
	vpcie_trace_close(dev->trace);
	free(dev);
}

struct vpcie_logger *vpcie_dev_logger(struct vpcie_dev *dev)
{
	return &dev->log;
}

struct vpcie_cfg *vpcie_dev_cfg(struct vpcie_dev *dev)
{
	return &dev->cfg;
}

/* ---- Connection lifecycle ----------------------------------------------- */

int dev_ep_add(struct vpcie_dev *dev, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(dev->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int ep_add(struct vpcie_dev *dev, int fd)
{
	return dev_ep_add(dev, fd);
}

static void arm_listener(struct vpcie_dev *dev, bool on)
{
	if (dev->listen_fd < 0 || dev->listening_armed == on)
		return;
	if (on)
		ep_add(dev, dev->listen_fd);
	else
		epoll_ctl(dev->epfd, EPOLL_CTL_DEL, dev->listen_fd, NULL);
	dev->listening_armed = on;
}

/* Snapshot the power-on config image the first time we serve. */
static int freeze_layout(struct vpcie_dev *dev)
{
	if (dev->cfg_reset)
		return 0;
	dev->cfg_reset = malloc(sizeof(dev->cfg));
	if (!dev->cfg_reset)
		return -ENOMEM;
	memcpy(dev->cfg_reset, &dev->cfg, sizeof(dev->cfg));
	return dev_irq_setup(dev);
}

/* The TLS key for a TCP endpoint, if opts.psk_file names one. */
static int load_psk(struct vpcie_dev *dev, const struct vpcie_endpoint *ep)
{
	char why[160];
	int ret;

	if (!dev->opts.psk_file)
		return 0;
	if (ep->kind != VPCIE_ENDPOINT_TCP) {
		vpcie_err(&dev->log, "a pre-shared key is for tcp: endpoints; a UNIX socket is "
				     "protected by its file mode (0600)");
		return -EINVAL;
	}
	dev->psk = calloc(1, sizeof(*dev->psk));
	if (!dev->psk)
		return -ENOMEM;
	ret = vpcie_tls_psk_load(dev->opts.psk_file, dev->psk, why, sizeof(why));
	if (ret) {
		vpcie_err(&dev->log, "key file %s: %s", dev->opts.psk_file,
			  why[0] ? why : strerror(-ret));
		free(dev->psk);
		dev->psk = NULL;
		return ret;
	}
	return 0;
}

int vpcie_dev_listen(struct vpcie_dev *dev, const char *where)
{
	struct vpcie_endpoint ep;
	int fd, ret = freeze_layout(dev);

	if (ret)
		return ret;
	if (dev->listen_fd >= 0)
		return -EBUSY;
	ret = vpcie_endpoint_parse(where, &ep);
	if (ret)
		return ret;
	ret = load_psk(dev, &ep);
	if (ret)
		return ret;
	fd = vpcie_endpoint_listen(&ep, dev->psk != NULL);
	if (fd == -EACCES && ep.kind == VPCIE_ENDPOINT_TCP)
		vpcie_err(&dev->log, "%s: plaintext TCP is allowed on loopback addresses only; "
				     "give a pre-shared key (--psk-file) for TLS", where);
	if (fd < 0)
		return fd;
	/* Only a UNIX socket leaves a file behind to remove at exit. */
	if (ep.kind == VPCIE_ENDPOINT_UNIX) {
		dev->sock_path = strdup(ep.path);
		if (!dev->sock_path) {
			close(fd);
			unlink(ep.path);
			return -ENOMEM;
		}
	}
	dev->listen_where = strdup(where);
	if (!dev->listen_where) {
		close(fd);
		if (dev->sock_path)
			unlink(dev->sock_path);
		return -ENOMEM;
	}
	dev->listen_fd = fd;
	if (!dev->chan)
		arm_listener(dev, true);
	vpcie_info(&dev->log, "listening on %s", where);
	return 0;
}

static int attach_chan(struct vpcie_dev *dev, struct vpcie_chan *ch);

int vpcie_dev_attach(struct vpcie_dev *dev, int fd)
{
	struct vpcie_chan_limits lim;
	struct vpcie_chan *ch;
	int ret = freeze_layout(dev);

	if (ret) {
		close(fd);
		return ret;
	}
	if (dev->chan) {
		close(fd);
		return -EBUSY;
	}
	dev_chan_limits(dev, dev->opts.max_data_xfer_size, &lim);
	ch = vpcie_chan_new(fd, &lim);
	if (!ch)
		return -errno;
	return attach_chan(dev, ch);
}

int vpcie_dev_attach_chan(struct vpcie_dev *dev, struct vpcie_chan *ch)
{
	struct vpcie_chan_limits lim;
	int ret = freeze_layout(dev);

	if (!ret && dev->chan)
		ret = -EBUSY;
	if (ret) {
		vpcie_chan_free(ch);
		return ret;
	}
	dev_chan_limits(dev, dev->opts.max_data_xfer_size, &lim);
	vpcie_chan_set_limits(ch, &lim);
	return attach_chan(dev, ch);
}

/* Serve the client on ch (owned from here on). */
static int attach_chan(struct vpcie_dev *dev, struct vpcie_chan *ch)
{
	int ret;

	dev->chan = ch;
	ret = ep_add(dev, vpcie_chan_fd(dev->chan));
	if (ret) {
		vpcie_chan_free(dev->chan);
		dev->chan = NULL;
		return ret;
	}
	arm_listener(dev, false);
	dev->negotiated = false;
	dev->irq_msg = false;
	dev->drop_client = false;
	dev->warned_unsealed = false;
	dev->xfer_limit = dev->opts.max_data_xfer_size;
	vpcie_caps_defaults(&dev->peer);
	vpcie_dbg(&dev->log, "client connected");
	if (DEV_TRACING(dev)) /* trace point: connect */
		vpcie_trace_event(dev->trace, 0, VPCIE_TRACE_CONNECT, 0, 0, 0, 0, 0, 0, NULL);
	return 0;
}

bool vpcie_dev_connected(const struct vpcie_dev *dev)
{
	return dev->chan && dev->negotiated;
}

bool vpcie_dev_ring_active(const struct vpcie_dev *dev)
{
	return dev->chan && dev->negotiated && dev->ring && dev->ring->armed;
}

void dev_chan_limits(const struct vpcie_dev *dev, uint64_t xfer, struct vpcie_chan_limits *lim)
{
	/* The largest message: a REGION_WRITE or DMA reply of xfer bytes (+ its
	 * fixed part); never less than 64 KiB, which VERSION's JSON may need. */
	uint64_t size = xfer + 64;

	lim->max_msg_size = size < 64 * 1024 ? 64 * 1024 : size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
	lim->max_fds = dev->opts.max_msg_fds;
}

void dev_drop_client(struct vpcie_dev *dev, const char *why)
{
	bool was = dev->negotiated, down;

	if (!dev->chan)
		return;
	/* Fault injection, remove,back=MS: the socket file goes before the
	 * client sees the link drop. */
	down = dev_fault_link_down(dev);
	if (dev->drop_why)
		why = dev->drop_why;
	dev->drop_why = NULL;
	vpcie_info(&dev->log, "client disconnected: %s", why);
	if (DEV_TRACING(dev)) /* trace point: disconnect */
		vpcie_trace_event(dev->trace, 0, VPCIE_TRACE_DISCONNECT, 0, 0, 0, 0, 0, 0, why);
	epoll_ctl(dev->epfd, EPOLL_CTL_DEL, vpcie_chan_fd(dev->chan), NULL);
	vpcie_chan_free(dev->chan);
	dev->chan = NULL;
	vpcie_chan_free(dev->twin);
	dev->twin = NULL;
	dev_ring_destroy(dev);
	dev->negotiated = false;
	dev->irq_msg = false;
	dev->drop_client = false;
	vpcie_dev_timer_cancel(dev->stall_timer);
	dev->stall_timer = NULL;
	dev_deferred_clear(dev);
	dev_dma_unmap_all(dev);
	for (unsigned i = 0; i < DEV_NUM_IRQS; i++)
		dev_irq_drop_fds(dev, i);
	if (!down)
		arm_listener(dev, true);
	if (was && dev->ops.disconnect)
		dev->ops.disconnect(dev, dev->opaque);
}

int vpcie_dev_fd(const struct vpcie_dev *dev)
{
	return dev->epfd;
}

void vpcie_dev_stop(struct vpcie_dev *dev)
{
	dev->stop = true;
}

int vpcie_dev_stop_on_signals(struct vpcie_dev *dev)
{
	sigset_t set;
	int ret;

	if (dev->signal_fd >= 0)
		return 0;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	dev->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (dev->signal_fd < 0)
		return -errno;
	ret = ep_add(dev, dev->signal_fd);
	return ret;
}

/* ---- Dispatch ----------------------------------------------------------- */

static void accept_client(struct vpcie_dev *dev)
{
	int fd = vpcie_endpoint_accept(dev->listen_fd);

	if (fd < 0) {
		if (fd != -EAGAIN && fd != -EWOULDBLOCK)
			vpcie_warn(&dev->log, "accept: %s", strerror(-fd));
		return;
	}
	if (dev->psk) {
		/* The handshake is bounded by the message timeout: a client
		 * that stalls in it is dropped and the next one accepted. */
		struct vpcie_chan_limits lim;
		struct vpcie_chan *ch;
		char why[200];

		dev_chan_limits(dev, dev->opts.max_data_xfer_size, &lim);
		ch = vpcie_tls_chan_new(fd, true, dev->psk, &lim, dev->opts.msg_timeout_ms, why,
					sizeof(why));
		if (!ch) {
			vpcie_warn(&dev->log, "client refused: %s",
				   errno == ETIMEDOUT ? "TLS handshake not finished in time" : why);
			return;
		}
		if (attach_chan(dev, ch) < 0)
			vpcie_warn(&dev->log, "cannot serve new client");
		return;
	}
	if (vpcie_dev_attach(dev, fd) < 0)
		vpcie_warn(&dev->log, "cannot serve new client");
}

/* Take the next command: one queued during a DMA wait, or from the socket. */
static int next_msg(struct vpcie_dev *dev, struct vpcie_msg *msg)
{
	if (dev_deferred_pop(dev, msg))
		return 0;
	return vpcie_chan_recv(dev->chan, msg, 0);
}

/* Serve up to a budget of commands, so timers are not starved: commands
 * queued during a DMA wait, the ring, then (if sock, or bytes are already
 * buffered) the socket. Our host never has commands in flight in the ring
 * and on the socket at once (vpcie/ring.h), so this order is the host's.
 * Returns how many were handled. */
static int serve_client(struct vpcie_dev *dev, bool sock)
{
	int handled = 0;

	if (dev->chan && dev->ring && !dev->ndeferred) {
		handled += dev_ring_serve(dev, DEV_RING_BUDGET);
		if (dev->drop_client) {
			dev_drop_client(dev, "protocol error on the ring");
			return handled;
		}
	}
	if (!sock && !(dev->chan && (dev->ndeferred || vpcie_chan_has_buffered(dev->chan))))
		return handled;
	for (int budget = 64; budget > 0 && dev->chan; budget--) {
		struct vpcie_msg msg;
		int ret = next_msg(dev, &msg);

		if (ret == -EAGAIN)
			break;
		if (ret) {
			/* Posted writes the host put in the ring before it closed are
			 * applied, as bytes still in the socket would be. */
			if (ret == -ECONNRESET && dev->ring)
				handled += dev_ring_serve(dev, dev->ring->slots);
			dev_drop_client(dev, ret == -ECONNRESET ? "connection closed" : strerror(-ret));
			break;
		}
		ret = dev_handle_msg(dev, &msg);
		vpcie_msg_release(&msg);
		handled++;
		if (ret || dev->drop_client) {
			dev_drop_client(dev, ret ? strerror(-ret) : "protocol error");
			break;
		}
	}
	return handled;
}

/* A client that stops in the middle of a message would hold the device (one
 * client at a time) forever: give each message a deadline for progress. */
static void stall_check(struct vpcie_dev *dev, void *opaque)
{
	(void)opaque;
	if (!dev->chan || !vpcie_chan_partial(dev->chan))
		return; /* one-shot: stays disarmed until the next partial message */
	if (vpcie_chan_received(dev->chan) == dev->stall_mark) {
		dev_drop_client(dev, "incomplete message, no progress");
		return;
	}
	dev->stall_mark = vpcie_chan_received(dev->chan);
	vpcie_dev_timer_arm(dev->stall_timer, (uint64_t)dev->opts.msg_timeout_ms * 1000000u, 0);
}

static void watch_partial(struct vpcie_dev *dev)
{
	if (!dev->chan || !vpcie_chan_partial(dev->chan))
		return;
	if (!dev->stall_timer) {
		dev->stall_timer = vpcie_dev_timer_add(dev, (uint64_t)dev->opts.msg_timeout_ms * 1000000u,
						       0, stall_check, NULL);
		dev->stall_mark = vpcie_chan_received(dev->chan);
	} else if (!dev->stall_timer->due_ns) {
		dev->stall_mark = vpcie_chan_received(dev->chan);
		vpcie_dev_timer_arm(dev->stall_timer, (uint64_t)dev->opts.msg_timeout_ms * 1000000u, 0);
	}
}

static bool client_has_work(struct vpcie_dev *dev)
{
	return dev->chan && (dev->ndeferred || vpcie_chan_has_buffered(dev->chan) ||
			     dev_ring_has_work(dev));
}

struct ring_watch {
	struct vpcie_dev *dev;
	struct epoll_event *evs;
};

static bool ring_watch_ready(void *ctx)
{
	return vpcie_ring_ready(&((struct ring_watch *)ctx)->dev->ring->h2d);
}

static int ring_watch_look(void *ctx)
{
	struct ring_watch *w = ctx;

	return epoll_wait(w->dev->epfd, w->evs, 8, 0);
}

/*
 * Adaptive polling with a ring: watch the next slot (a memory load, no
 * system call) until the window ends, looking at the other fds (socket,
 * timers, signals) every few microseconds. Returns what epoll_wait() found
 * (0: nothing); *ring_ready if the ring has work, *seen_at about when.
 */
static int ring_spin(struct vpcie_dev *dev, struct epoll_event *evs, uint64_t until,
		     bool *ring_ready, uint64_t *seen_at)
{
	struct ring_watch w = {dev, evs};

	return vpcie_spin_watch(ring_watch_ready, ring_watch_look, &w, dev->spin.idle_since,
				until, DEV_SPIN_POLL_NS, ring_ready, seen_at);
}

/* external: the caller may block on vpcie_dev_fd() after we return. */
static int dev_dispatch(struct vpcie_dev *dev, int timeout_ms, bool external)
{
	struct epoll_event evs[8];
	bool chan_ready = false, ring_ready = false;
	bool ring = dev->ring && dev->ring->armed;
	uint64_t seen_at = 0;
	int n = 0;

	dev_dma_release_zombies(dev); /* no device code holds pointers into them now */
	if (ring)
		vpcie_ring_awake(&dev->ring->h2d);
	if (client_has_work(dev))
		timeout_ms = 0;
	if (timeout_ms != 0 && dev->chan && dev->spin.idle_since && !dev->spun) {
		/* Adaptive polling, once per idle period: the client often
		 * answers within microseconds. */
		uint64_t until = dev->spin.idle_since + dev->spin.window_ns;

		dev->spun = true;
		if (ring) {
			n = ring_spin(dev, evs, until, &ring_ready, &seen_at);
		} else {
			do
				n = epoll_wait(dev->epfd, evs, 8, 0);
			while (n == 0 && vpcie_now_ns() < until);
		}
		if (n > 0 || ring_ready)
			dev->spin.spins_hit++;
		else
			dev->spin.spins_missed++;
	}
	if (n == 0 && !ring_ready) {
		/* Announce sleep so the host kicks us; a last look first. */
		if (ring && timeout_ms != 0 && vpcie_ring_sleep_prepare(&dev->ring->h2d))
			timeout_ms = 0;
		n = epoll_wait(dev->epfd, evs, 8, timeout_ms);
		if (ring)
			vpcie_ring_awake(&dev->ring->h2d);
	}
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;

		if (fd == dev->timer_fd) {
			dev_run_timers(dev);
		} else if (fd == dev->signal_fd) {
			struct signalfd_siginfo si;

			if (read(dev->signal_fd, &si, sizeof(si)) == sizeof(si))
				vpcie_info(&dev->log, "signal %u: stopping", si.ssi_signo);
			dev->stop = true;
		} else if (fd == dev->listen_fd) {
			if (!dev->chan)
				accept_client(dev);
		} else if (dev->chan && fd == vpcie_chan_fd(dev->chan)) {
			chan_ready = true;
		} else if (dev->ring && fd == dev->ring->h2d_wake) {
			dev_ring_drain_wake(dev);
			ring_ready = true;
		} else {
			dev_fault_ctl_event(dev, fd); /* fault control socket */
		}
	}
	if (!ring_ready && dev_ring_has_work(dev))
		ring_ready = true;
	if ((chan_ready || ring_ready) && dev->spin.idle_since) {
		vpcie_spin_observe(&dev->spin, (seen_at ? seen_at : vpcie_now_ns()) -
						       dev->spin.idle_since);
		dev->spin.idle_since = 0;
	}
	/* The client last: accept and timers above may have changed it. */
	if ((chan_ready || ring_ready || client_has_work(dev)) &&
	    serve_client(dev, chan_ready) > 0 && dev->spin.max_ns) {
		dev->spin.idle_since = vpcie_now_ns();
		dev->spun = false;
	}
	/* A DMA wait in a timer may have found the client broken. */
	if (dev->chan && dev->drop_client)
		dev_drop_client(dev, "protocol error during a DMA wait");
	watch_partial(dev);
	if (external)
		dev_ring_sleep(dev);
	if (DEV_TRACING(dev))
		vpcie_trace_tick(dev->trace); /* a natural point to write the trace */
	return 0;
}

bool vpcie_dev_has_work(struct vpcie_dev *dev)
{
	return client_has_work(dev);
}

int vpcie_dev_dispatch(struct vpcie_dev *dev, int timeout_ms)
{
	return dev_dispatch(dev, timeout_ms, true);
}

int vpcie_dev_serve(struct vpcie_dev *dev, const char *socket_path, int fd)
{
	int ret;

	if (!socket_path && fd < 0)
		return -EINVAL;
	ret = socket_path ? vpcie_dev_listen(dev, socket_path) : vpcie_dev_attach(dev, fd);
	if (ret) {
		vpcie_err(&dev->log, "cannot serve %s: %s", socket_path ? socket_path : "--fd",
			  strerror(-ret));
		return ret;
	}
	ret = dev_fault_ctl_serve(dev, socket_path);
	if (ret)
		return ret;
	ret = vpcie_dev_stop_on_signals(dev);
	if (ret) {
		vpcie_err(&dev->log, "cannot handle signals: %s", strerror(-ret));
		return ret;
	}
	ret = vpcie_dev_run(dev);
	if (ret)
		vpcie_err(&dev->log, "event loop failed: %s", strerror(-ret));
	return ret;
}

int vpcie_dev_run(struct vpcie_dev *dev)
{
	int ret = 0;

	dev->stop = false;
	while (!dev->stop && ret == 0)
		ret = dev_dispatch(dev, -1, false);
	dev_ring_sleep(dev);
	return ret;
}
