/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench` internals shared by its modules (tools/vpcie/bench*.c):
 * options, results, runners and the functions each module offers.
 *
 *   bench.c             options, the passes, the command
 *   bench_proc.c        child processes, CPU placement, machine load
 *   bench_stats.c       samples, percentiles, results and ratios
 *   bench_measure.c     runners, and measuring a path interleaved with floors
 *   bench_floor_sock.c  floors through the kernel (AF_UNIX, eventfd, connect)
 *   bench_floor_mem.c   floors in memory (memcpy, spin ping-pong, bare ring)
 *   bench_dev.c         the benchmark device and its idle cost
 *   bench_floor_net.c   floors over TCP loopback, plain and TLS (GnuTLS)
 *   bench_mmio.c, bench_dma.c, bench_irq.c, bench_conn.c   the paths
 *   bench_net.c         the same paths over TCP and TLS (tcp.*, tls.*, veth.tls.*)
 *   bench_netns.c       the network namespace and veth pair of veth.*
 *   bench_out.c         table, JSON, plots
 *
 * docs/bench.md describes the method and every result.
 */
#ifndef VPCIE_TOOL_BENCH_PRIV_H
#define VPCIE_TOOL_BENCH_PRIV_H

#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>

#include <vpcie/host.h>
#include <vpcie/tls.h>

#include "../../bench/bench_regs.h"
#include "../../lib/util/cpu.h"  /* vpcie_cpu_relax() */
#include "../../lib/util/util.h" /* vpcie_now_ns() */

#define MAX_KIDS 1024
#define MEM_BASE 0x80000000ull
#define IO_BASE 0x1000u
#define SHM_IOVA 0x100000000ull     /* host memory shared with the device (fd) */
#define MSG_IOVA 0x200000000ull     /* host memory reached by DMA messages */
#define XFER_CHUNK (1u << 20)       /* max_data_xfer_size both sides default to */
#define NULL_OFF 0x100u             /* where BAR0 accesses go */
#define MAP_OFF 0x1000u             /* where mmap'ed BAR2 accesses go */
#define SPIN_MSG_MAX 128u

/* Message sizes of the real paths (header 16 bytes). */
#define REQ_REGION 32u              /* hdr + offset/region/count */
#define REQ_DMA 32u                 /* hdr + addr/count */
#define REP_DMA_WRITE 28u           /* hdr + addr/count(4) */
#define REQ_SET_IRQS 36u            /* hdr + vfio_irq_set */
#define REP_EMPTY 16u
#define WM_BATCH 256u               /* writes per REGION_WRITE_MULTI */
#define REQ_WM (16u + 8u + WM_BATCH * 24u)
#define REP_WM 24u
/* The host runtime sends its queued posted writes once this much is queued
 * (HOST_POST_FLUSH in lib/host): the batched-stream floor writes as much. */
#define POST_FLUSH_BYTES (16u * 1024)
#define POST_MSG (REQ_REGION + 4u)  /* a posted 4-byte REGION_WRITE */
#define POST_BATCH ((POST_FLUSH_BYTES + POST_MSG - 1) / POST_MSG)

/*
 * Waiting disciplines, named in the results and the JSON ("discipline"):
 * every figure is compared first with a floor that waits the same way.
 *   block  sleeps in the kernel until the other side answers
 *   poll   polls without blocking for a while first (adaptive polling, the
 *          runtime's default), then sleeps
 *   spin   spins on shared memory (the ring transport, the spin floors)
 *   none   no waiting in what is timed (memcpy, loads)
 *   mixed  one side polls, the other blocks (the runtime's DMA messages,
 *          connect)
 */
#define DISC_BLOCK "block"
#define DISC_POLL "poll"
#define DISC_SPIN "spin"
#define DISC_NONE "none"
#define DISC_MIXED "mixed"

/* How a socket or eventfd floor waits (bench_floor_sock.c). */
enum wait {
	W_BLOCK,  /* read() */
	W_EVLOOP, /* poll() / epoll_wait(), then read() */
	W_POLL,   /* poll(0) / epoll_wait(0) for up to the polling cap, then as W_EVLOOP */
	W_MIXED,  /* request/reply: the requester as W_BLOCK, the peer answering as W_POLL */
};

/* spin_init() flags */
#define SPIN_POLITE 1u /* the peer naps when no request came for a while */
#define SPIN_NOTIFY 2u /* sample: our wake-up minus the peer's stamp */

/* The device a group of paths uses (bench_dev.c). */
enum dev_mode {
	DEV_SOCKET, /* socket transport, adaptive polling on both sides (defaults) */
	DEV_NOPOLL, /* socket transport, polling off on both sides (results *.nopoll) */
	DEV_RING,   /* shared-memory ring transport (results ring.*) */
	DEV_TCP,    /* TCP loopback, polling off on both sides (results tcp.*) */
	DEV_TLS,    /* the same with TLS 1.3 and a pre-shared key (results tls.*) */
};

enum load_mode { LOAD_IDLE = 1, LOAD_SPIN = 2, LOAD_BOTH = 3 };

struct opts {
	bool quick, json, progress, no_pin;
	int load;
	const char *plot_dir;
	const char *only;
	long iterations;
	const char *device;
};

/* ---- Samples and results (bench_stats.c) ------------------------------------ */

struct samples {
	double *v;
	size_t n, cap;
	bool sorted;
};

enum kind { K_LAT, K_BW, K_RATE };
enum tgt { T_NONE, T_RATIO_MAX, T_RATIO_MIN, T_ABS_MIN };

/*
 * One figure. Samples are ns per operation (K_LAT, K_BW, and K_RATE with
 * lat_samples) or operations per second of one run (other K_RATE).
 */
struct res {
	char name[64];
	char what[256];
	enum kind kind;
	bool lat_samples;
	struct samples s;
	uint64_t size;     /* K_BW: bytes per transfer */
	size_t n;
	double p50, p99;   /* K_LAT: ns. K_BW: MB/s at the p50 / p99 time. K_RATE: ops/s
			    * (runs: median and slowest; lat_samples: aggregate) */
	double ops;        /* ops/s: n / sum of sample times (K_LAT, lat_samples) */
	double lat_p50, lat_p99; /* K_RATE with lat_samples: per-op ns */
	/* Floors measured interleaved with this result (same machine state). */
	int floor, floor2; /* indices into the pass, -1 */
	double fval, fval2; /* the floor's headline over the paired samples */
	double ratio, ratio2;
	enum tgt tkind;
	double target;
	bool met;
	double host_p50;   /* DMA: host-side p50 ns around the triggering write */
	bool is_floor;
	const char *disc;  /* waiting discipline, DISC_* */
};

/* CPU an attached device uses while its host is quiet (not a path with a
 * floor: a cost, reported on its own). */
struct idle_cost {
	char name[32];
	const char *transport;
	double pct_p50, pct_max; /* % of one core, over the windows */
	unsigned windows;
	double window_s;
	double target_pct;
	bool met;
};

#define IDLE_TARGET_PCT 3.0 /* "no more than a few percent of one core" */

struct pass {
	const char *load; /* "idle" or "spinner" */
	struct res *r;
	size_t n, cap;
	double bg_before, bg_after, steal_before, steal_after;
	double seconds;
	struct idle_cost idle[2];
	unsigned nidle;
};

struct bench {
	struct opts o;
	char tmp[64];
	char devbin[PATH_MAX + 64];
	char sock[128];
	pid_t dev_pid;
	struct vpcie_host *h;
	volatile struct bench_stats *st;
	volatile uint8_t *bar2;
	struct vpcie_host_mem *shm, *msgmem;
	long lat_iters, irq_iters, conn_iters, posted_count, posted_runs;
	uint64_t budget_ns;
	uint64_t dma_bytes;
	long warm;
	uint64_t warm_ns;   /* and warm up at least this long: adaptive polling
			     * and CPU placement settle by time, not by count */
	struct pass *p;
	uint64_t poll_ns;   /* the runtime's polling cap (its default or $VPCIE_POLL_US) */
	enum dev_mode mode; /* of the device in use */
	bool ring;          /* the device in use speaks the ring transport */
	const char *prefix; /* "" or "ring.": result names of that device */
	const char *suffix; /* "" or ".nopoll": result names of that device */
	const char *disc;   /* how that device and its host wait, DISC_* */
	bool polling;       /* they poll (DEV_SOCKET with a polling cap) */
	const char *trace;  /* the device in use and its host record a trace
			     * (vpcie/trace.h) into this file; NULL: not asked */
	/* BAR2's statistics: b->st points into the mapping, or (TCP: no
	 * mapping) at st_copy, which stats_sync() refreshes by a region read. */
	bool st_mapped;
	struct bench_stats st_copy;
	char psk_path[96];         /* key file for DEV_TLS and the TLS floors */
	struct vpcie_tls_psk psk;  /* its contents (psk.key_len 0: not made yet) */
	/* veth.*: devices and floor peers in a network namespace behind a veth
	 * pair (bench_netns.c), at ns_ip; valid while veth is true. */
	bool veth;
	char ns_name[40];
	char ns_ip[16];
	int ns_fd, root_ns_fd;
};

/* ---- Runners: one operation per step, a path or a floor (bench_measure.c) --- */

struct runner {
	struct bench *b;
	int (*step)(struct runner *r, double *sample);
	void (*fini)(struct runner *r);
	bool live;
	/* floor peers */
	pid_t pid;
	int fd, fd2, fd3;
	size_t req, resp;
	unsigned chunks;
	double div;           /* sock_rr: sample = time / div (per-write figures) */
	enum wait wait;       /* socket and eventfd floors: how both sides wait */
	uint64_t poll_ns;     /* W_POLL: how long */
	unsigned flags;       /* spin: SPIN_* */
	uint8_t *buf;
	void *page;
	uint8_t *priv, *map;
	uint64_t size;
	bool to_host;
	struct sockaddr_un sa;
	/* paths */
	int op;
	size_t n;
	uint32_t cmd;
	bool shm;
	enum vpcie_host_irq_type irq;
	char sock[128];
	struct vpcie_host **hs;
	pid_t *pids;
	unsigned nh;
	size_t k;
	long count;
	struct samples extra; /* DMA: host-side time */
	void *ctx;            /* TCP/TLS floors: our end of the connection */
};

/* ---- What measure() runs --------------------------------------------------- */

struct floor_spec {
	char name[64];
	char what[256];
	enum kind kind;
	uint64_t size;
	const char *disc; /* DISC_* */
};

struct spec {
	const char *name;
	const char *what;
	enum kind kind;
	bool lat_samples;
	uint64_t size;
	size_t iters;
	long warm;
	enum tgt tkind;
	double target;
	const char *disc;       /* the path's waiting discipline, DISC_* */
	struct floor_spec f[2]; /* f[0]: the same discipline; f[1]: for contrast */
};

enum mmio_op { OP_READ, OP_WRITE, OP_CFG };

/* ---- bench_proc.c: children, placement, machine state ---------------------- */

extern volatile sig_atomic_t g_stop;
extern bool g_pinned;
extern int g_host_cpu, g_peer_cpu;

void pin_setup(bool want);
void on_signal(int sig);
void sleep_ms(unsigned ms);
void kid_reap(pid_t pid);
void kid_end(pid_t pid);
void kids_end_all(void);
pid_t fork_kid(void);
pid_t spawn_device(struct bench *b, const char *sock, enum dev_mode mode);
void background(unsigned ms, double *busy_cpus, double *steal_cpus);
const char *bg_state(double busy);
pid_t start_spinner(void);
void remove_tmp(const char *dir);

/* ---- bench_stats.c: samples and results ------------------------------------- */

int sm_add(struct samples *s, double x);
double sm_pct(struct samples *s, double p);
void sm_free(struct samples *s);
int res_find(const struct pass *p, const char *name);
int res_add(struct pass *p, const char *name, enum kind k, const char *what);
void res_stats(struct res *r);
void set_target(struct res *r, enum tgt k, double v);
int attach_floor(struct pass *p, int ri, bool second, const struct floor_spec *f,
		 struct samples *fs);

/* ---- bench_measure.c: runners and the measuring loop ------------------------ */

void progress(const struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool selected(const struct bench *b, const char *name);
void runner_fini(struct runner *r);
void runner_zero(struct runner *r, struct bench *b);
void peer_fini(struct runner *r);
int peer_started(struct runner *r, int sv[2], int (*step)(struct runner *, double *));
int measure(struct bench *b, const struct spec *sp, struct runner *path, struct runner *f0,
	    struct runner *f1);
int measure_floor(struct bench *b, const struct floor_spec *fs, struct runner *r, size_t iters);

/* ---- bench_floor_sock.c, bench_floor_mem.c: the floors ---------------------- */

int read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
int exchange(int fd, void *buf, size_t req, size_t resp);
/*
 * Each *_floor() starts a floor's peer in r and describes the floor in fs
 * (name, what, kind, discipline); 0 or -errno. Names tell the discipline:
 * floor.sock.rr.* blocks, floor.sock.rr_poll.* polls, and so on.
 */
/* AF_UNIX request/reply of req/resp bytes, `chunks` per step:
 * floor.sock.<kind>[_evloop|_poll|_mixed].<tail>. */
int sock_rr_floor(struct runner *r, struct floor_spec *fs, struct bench *b, const char *kind,
		  const char *tail, size_t req, size_t resp, unsigned chunks, enum wait w);
/* A socket request/reply path's two floors, in sp->f: the same discipline
 * (poll: W_POLL, else W_BLOCK), then for contrast W_BLOCK (poll) or W_EVLOOP. */
int sock_rr_floors(struct runner *f0, struct runner *f1, struct spec *sp, struct bench *b,
		   bool poll, const char *kind, const char *tail, size_t req, size_t resp,
		   unsigned chunks);
/* eventfd wake-up (intx: plus the UNMASK round trip): floor.eventfd[_poll][.intx]. */
int efd_floor(struct runner *r, struct floor_spec *fs, struct bench *b, bool intx, enum wait w);
/* One-way stream of POST_MSG-byte messages in runs of count, batch per write():
 * floor.sock.oneway.* (batch 1, blocking), floor.sock.batch[_poll].*. */
int stream_floor(struct runner *r, struct floor_spec *fs, struct bench *b, long count,
		 unsigned batch, enum wait w);
/* connect() + one 32-byte round trip: floor.connect. */
int connect_floor(struct runner *r, struct floor_spec *fs, struct bench *b);
/* memcpy private <-> memfd mapping, back to back (floor.memcpy.DIR.SIZE) or
 * woken: in a peer woken through a socket first (floor.memcpy_woken.DIR.SIZE). */
int memcpy_floor(struct runner *r, struct floor_spec *fs, struct bench *b, uint64_t size,
		 bool to_host, bool woken);
/* Both processes spinning on a shared page: request/reply of req/resp bytes
 * (floor.spin.rr.REQ.RESP), or with SPIN_NOTIFY a one-way notification
 * (floor.spin.notify); SPIN_POLITE: the peer naps when idle. */
int spin_floor(struct runner *r, struct floor_spec *fs, struct bench *b, size_t req, size_t resp,
	       unsigned flags);
/* One-way stream through the bare vpcie_ring primitives (floor.spin.oneway.64). */
int ringow_floor(struct runner *r, struct floor_spec *fs, struct bench *b, long count);

/* ---- bench_dev.c: the device ------------------------------------------------- */

void find_device(struct bench *b);
struct vpcie_host *open_device(const char *sock, enum dev_mode mode, int *err);
struct vpcie_host *open_device_traced(const char *sock, enum dev_mode mode, const char *trace,
				      int *err);
int dev_write(struct bench *b, unsigned reg, uint32_t v);
int setup_main_device(struct bench *b, enum dev_mode mode);
/* Refresh b->st when BAR2 is not mapped (TCP): 0 or -errno. */
int stats_sync(struct bench *b);
void teardown_main_device(struct bench *b);
int idle_cost(struct bench *b);

/* ---- The paths: bench_mmio.c, bench_dma.c, bench_irq.c, bench_conn.c -------- */

int path_mmio(struct bench *b, enum mmio_op op, size_t n);
int path_write_multi(struct bench *b);
int path_posted(struct bench *b);
int path_ring_read(struct bench *b);
int path_ring_posted(struct bench *b);
int path_mmap(struct bench *b);
int path_dma(struct bench *b, bool shm, bool to_host, uint64_t size);
int path_irq(struct bench *b, enum vpcie_host_irq_type type);
int path_connect(struct bench *b);
int path_multi(struct bench *b, unsigned ndev);
/* Tracing on against off, same run (bench_trace.c): needs the DEV_SOCKET
 * device up; starts a traced one beside it. */
int path_trace(struct bench *b);
/* Runners of one MMIO access / one device DMA of b's device, for paths
 * that compare two devices (bench_mmio.c, bench_dma.c). */
void mmio_runner(struct runner *r, struct bench *b, enum mmio_op op, size_t n);
int dma_runner(struct runner *r, struct bench *b, bool shm, bool to_host, uint64_t size);
/* Steps the TCP paths share with the socket ones. */
int dma_step(struct runner *r, double *out);
int irq_step(struct runner *r, double *out);
void irq_fini(struct runner *r);

/* ---- bench_floor_net.c: floors over TCP loopback, plain or TLS ---------------- */

/* Write the pre-shared key the TLS device and floors use (b->psk_path,
 * mode 0600, a fresh random key) and load it into b->psk. */
int net_make_psk(struct bench *b);
/* Blocking request/reply over TCP (TCP_NODELAY) or TLS, `chunks` per step:
 * floor.{tcp,tls}.<kind>.<tail>. */
int net_rr_floor(struct runner *r, struct floor_spec *fs, struct bench *b, bool tls,
		 const char *kind, const char *tail, size_t req, size_t resp, unsigned chunks);
/* A bare stream of size bytes, one way, ended by a 1-byte acknowledgement
 * (to_host: the peer sends after a 1-byte trigger; else we send):
 * floor.{tcp,tls}.stream.<dir>.<size>, bandwidth. */
int net_stream_floor(struct runner *r, struct floor_spec *fs, struct bench *b, bool tls,
		     uint64_t size, bool to_host);
/* Notification: we send req bytes; the peer stamps the time and answers
 * resp bytes; the sample is our wake-up minus its stamp:
 * floor.{tcp,tls}.notify.<req>.<resp>. */
int net_notify_floor(struct runner *r, struct floor_spec *fs, struct bench *b, bool tls,
		     size_t req, size_t resp);

/* ---- bench_net.c: the paths over TCP and TLS (tcp.*, tls.*) ------------------- */

/* Run the TCP (tls false) or TLS group on its own device; veth: the TLS
 * group across a veth pair (veth.tls.*), skipped with a reason if no
 * network namespace can be made. */
int run_net(struct bench *b, bool tls, bool veth);

/* ---- bench_netns.c: a network namespace behind a veth pair ------------------- */

/* Make it (b->veth, ns_ip...): 0, or -errno with the reason in why. */
int netns_setup(struct bench *b, char *why, size_t whylen);
void netns_teardown(struct bench *b);
/* In a child: move into the namespace. */
int netns_enter(const struct bench *b);
/* A socket of AF_INET and type in the namespace (b->veth), else here: fd or -errno. */
int netns_socket(const struct bench *b, int type);
/* The address TCP endpoints listen on: 127.0.0.1, or ns_ip for veth. */
#define NET_ADDR(b) ((b)->veth ? (b)->ns_ip : "127.0.0.1")

/* ---- bench_out.c: table, JSON, plots ------------------------------------------ */

void print_pass(const struct pass *p);
void print_json(const struct bench *b, struct pass *ps, size_t np);
int write_plots(const struct bench *b, struct pass *ps, size_t np);

#endif
