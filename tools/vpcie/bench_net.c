/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: the paths over TCP loopback, plain (tcp.*) and with TLS 1.3
 * and a pre-shared key (tls.*): MMIO read round trip, DMA by messages and
 * interrupts as IRQ_NOTIFY messages. The device listens on tcp:127.0.0.1:PORT
 * and both sides run with polling off, so every figure is compared with a
 * blocking floor over the same kind of connection (bench_floor_net.c); the
 * second floor is for contrast: AF_UNIX or an eventfd for tcp.*, plain TCP
 * for tls.* (what TLS costs).
 */
#include <errno.h>
#include <stdio.h>

#include "bench_priv.h"

static const uint64_t net_dma_full[] = {65536, 1048576, 4194304};
static const uint64_t net_dma_quick[] = {1048576};

#define NET_MMIO_TARGET 1.3
#define TCP_DMA_TARGET 0.80
#define TLS_DMA_TARGET 0.60
#define IRQ_NOTIFY_MSG 24u /* hdr + {u32 index; u32 vector} */

static const char *net_prefix(const struct bench *b, bool tls)
{
	return b->veth ? (tls ? "veth.tls" : "veth.tcp") : tls ? "tls" : "tcp";
}

static const char *net_over(const struct bench *b, bool tls)
{
	if (b->veth)
		return tls ? "TLS over TCP across a veth pair" : "TCP across a veth pair";
	return tls ? "TLS over TCP loopback" : "TCP loopback";
}

static void net_dma_sizes(const struct bench *b, const uint64_t **s, size_t *n)
{
	*s = b->o.quick ? net_dma_quick : net_dma_full;
	*n = b->o.quick ? 1 : 3;
}

static bool group_selected(const struct bench *b, bool tls)
{
	const char *p = net_prefix(b, tls);
	const uint64_t *ds;
	size_t nds;
	char n[64];

	snprintf(n, sizeof(n), "%s.mmio.read.4", p);
	if (selected(b, n))
		return true;
	snprintf(n, sizeof(n), "%s.irq.msi", p);
	if (selected(b, n))
		return true;
	net_dma_sizes(b, &ds, &nds);
	for (size_t i = 0; i < nds; i++)
		for (int th = 0; th < 2; th++) {
			snprintf(n, sizeof(n), "%s.dma.msg.%s.%llu", p, th ? "to_host" : "to_device",
				 (unsigned long long)ds[i]);
			if (selected(b, n))
				return true;
		}
	return false;
}

static int read_step(struct runner *r, double *out)
{
	uint8_t buf[4];
	uint64_t a = vpcie_now_ns();
	int rc = vpcie_host_region_read(r->b->h, BENCH_NULL_BAR, NULL_OFF, buf, sizeof(buf));

	if (!rc)
		*out = (double)(vpcie_now_ns() - a);
	return rc;
}

/* MMIO read: against the bare ping-pong of the same sizes over the same
 * kind of connection; second floor AF_UNIX (tcp) or plain TCP (tls). */
static int net_mmio(struct bench *b, bool tls)
{
	char name[64], what[200], tail[32];
	struct runner path, fl, f2;
	int rc;

	snprintf(name, sizeof(name), "%s.mmio.read.4", net_prefix(b, tls));
	if (!selected(b, name))
		return 0;
	snprintf(what, sizeof(what),
		 "vpcie_host_region_read() of 4 B on a callback BAR over %s (REGION_READ round "
		 "trip); polling off on both sides", net_over(b, tls));
	snprintf(tail, sizeof(tail), "%u.%u", REQ_REGION, REQ_REGION + 4);
	struct spec sp = {
		.name = name, .what = what, .kind = K_LAT, .iters = (size_t)b->lat_iters,
		.warm = b->warm, .tkind = T_RATIO_MAX, .target = NET_MMIO_TARGET,
		.disc = DISC_BLOCK,
	};
	rc = net_rr_floor(&fl, &sp.f[0], b, tls, "rr", tail, REQ_REGION, REQ_REGION + 4, 1);
	if (rc)
		return rc;
	if (tls)
		rc = net_rr_floor(&f2, &sp.f[1], b, false, "rr", tail, REQ_REGION, REQ_REGION + 4, 1);
	else
		rc = sock_rr_floor(&f2, &sp.f[1], b, "rr", tail, REQ_REGION, REQ_REGION + 4, 1,
				   W_BLOCK);
	if (rc) {
		runner_fini(&fl);
		return rc;
	}
	runner_zero(&path, b);
	path.step = read_step;
	return measure(b, &sp, &path, &fl, &f2);
}

/* DMA by messages: against a bare stream of the same bytes over the same
 * kind of connection; second floor: request/reply per chunk as the runtime
 * exchanges them (tcp), or the plain TCP stream (tls). */
static int net_dma(struct bench *b, bool tls, bool to_host, uint64_t size)
{
	char name[64], what[200], tail[48];
	const char *dir = to_host ? "to_host" : "to_device";
	struct runner path, fl, f2;
	int rc;

	snprintf(name, sizeof(name), "%s.dma.msg.%s.%llu", net_prefix(b, tls), dir,
		 (unsigned long long)size);
	if (!selected(b, name))
		return 0;
	snprintf(what, sizeof(what),
		 "device %s %llu B through DMA_%s messages over %s, timed inside the device",
		 to_host ? "vpcie_dev_dma_write() to host memory," : "vpcie_dev_dma_read() of host memory,",
		 (unsigned long long)size, to_host ? "WRITE" : "READ",
		 net_over(b, tls));
	rc = dev_write(b, BENCH_REG_DMA_ADDR_LO, (uint32_t)MSG_IOVA);
	if (!rc)
		rc = dev_write(b, BENCH_REG_DMA_ADDR_HI, (uint32_t)(MSG_IOVA >> 32));
	if (!rc)
		rc = dev_write(b, BENCH_REG_DMA_LEN, (uint32_t)size);
	if (rc)
		return rc;
	struct spec sp = {
		.name = name, .what = what, .kind = K_BW, .size = size,
		.iters = (size_t)(b->o.quick ? 5 : 200), .warm = 3,
		.tkind = to_host ? T_RATIO_MIN : T_NONE,
		.target = tls ? TLS_DMA_TARGET : TCP_DMA_TARGET, .disc = DISC_BLOCK,
	};
	if (b->o.iterations && (size_t)b->o.iterations < sp.iters)
		sp.iters = (size_t)b->o.iterations;
	rc = net_stream_floor(&fl, &sp.f[0], b, tls, size, to_host);
	if (rc)
		return rc;
	if (tls) {
		rc = net_stream_floor(&f2, &sp.f[1], b, false, size, to_host);
	} else {
		/* The runtime's exchange: one request and reply per chunk of
		 * max_data_xfer_size (DMA_READ: its 64 KiB default limit, unless
		 * the host proposes more, as vpcie hosts do: see lib/device/dma.c). */
		uint64_t chunk = size < XFER_CHUNK ? size : XFER_CHUNK;
		unsigned chunks = (unsigned)((size + chunk - 1) / chunk);

		snprintf(tail, sizeof(tail), "%s.%llu", dir, (unsigned long long)size);
		rc = net_rr_floor(&f2, &sp.f[1], b, false, "xfer", tail,
				  to_host ? REQ_DMA + chunk : REQ_DMA,
				  to_host ? REP_DMA_WRITE : REQ_DMA + chunk, chunks);
		sp.f[1].kind = K_BW;
		sp.f[1].size = size;
	}
	if (rc) {
		runner_fini(&fl);
		return rc;
	}
	runner_zero(&path, b);
	path.step = dma_step;
	path.cmd = to_host ? BENCH_DMA_TO_HOST : BENCH_DMA_TO_DEVICE;
	return measure(b, &sp, &path, &fl, &f2);
}

/* MSI as an IRQ_NOTIFY message: against a notification of the same sizes
 * (a posted 4-byte REGION_WRITE, a 24-byte IRQ_NOTIFY) over the same kind
 * of connection; second floor an eventfd (tcp) or plain TCP (tls). */
static int net_irq(struct bench *b, bool tls)
{
	char name[64], what[200];
	struct runner path, fl, f2;
	int rc;

	snprintf(name, sizeof(name), "%s.irq.msi", net_prefix(b, tls));
	if (!selected(b, name))
		return 0;
	snprintf(what, sizeof(what),
		 "MSI over %s: device raise -> IRQ_NOTIFY message -> vpcie_host_irq_wait() "
		 "returns; polling off on both sides", net_over(b, tls));
	struct spec sp = {
		.name = name, .what = what, .kind = K_LAT, .iters = (size_t)b->irq_iters,
		.warm = b->warm, .tkind = T_RATIO_MAX, .target = 1.3, .disc = DISC_BLOCK,
	};
	rc = net_notify_floor(&fl, &sp.f[0], b, tls, POST_MSG, IRQ_NOTIFY_MSG);
	if (rc)
		return rc;
	if (tls)
		rc = net_notify_floor(&f2, &sp.f[1], b, false, POST_MSG, IRQ_NOTIFY_MSG);
	else
		rc = efd_floor(&f2, &sp.f[1], b, false, W_BLOCK);
	if (rc) {
		runner_fini(&fl);
		return rc;
	}
	rc = vpcie_host_irq_enable(b->h, VPCIE_HOST_IRQ_MSI, 1);
	if (rc < 0) {
		runner_fini(&fl);
		runner_fini(&f2);
		return rc;
	}
	runner_zero(&path, b);
	path.step = irq_step;
	path.fini = irq_fini;
	path.live = true;
	return measure(b, &sp, &path, &fl, &f2);
}

int run_net(struct bench *b, bool tls, bool veth)
{
	const uint64_t *ds;
	size_t nds;
	char why[160];
	int rc;

	b->veth = veth;
	if (!group_selected(b, tls)) {
		b->veth = false;
		return 0;
	}
	if (veth && netns_setup(b, why, sizeof(why))) {
		fprintf(stderr, "vpcie bench: veth.* skipped: %s\n", why);
		return 0;
	}
	rc = setup_main_device(b, tls ? DEV_TLS : DEV_TCP);
	if (!rc)
		rc = net_mmio(b, tls);
	net_dma_sizes(b, &ds, &nds);
	for (int th = 1; th >= 0 && !rc; th--)
		for (size_t i = 0; i < nds && !rc; i++)
			rc = net_dma(b, tls, th, ds[i]);
	if (!rc)
		rc = net_irq(b, tls);
	teardown_main_device(b);
	if (veth)
		netns_teardown(b);
	b->veth = false;
	return rc;
}
