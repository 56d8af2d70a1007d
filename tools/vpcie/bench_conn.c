/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: connecting to a device, and one host driving many device
 * processes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <linux/pci_regs.h>

#include "bench_priv.h"

static int conn_step(struct runner *r, double *out)
{
	uint64_t a = vpcie_now_ns(), t;
	int err = 0, rc = 0;
	struct vpcie_host *h = open_device(r->sock, DEV_SOCKET, &err);

	if (!h)
		return err ? err : -EIO;
	if (!vpcie_host_region_map(h, BENCH_MEM_BAR))
		rc = -errno;
	t = vpcie_now_ns();
	vpcie_host_close(h);
	if (!rc)
		*out = (double)(t - a);
	return rc;
}

static void conn_fini(struct runner *r)
{
	kid_end(r->pid);
	r->pid = 0;
}

int path_connect(struct bench *b)
{
	struct runner path, fl;
	int rc;

	if (!selected(b, "conn.open_map"))
		return 0;
	runner_zero(&path, b);
	snprintf(path.sock, sizeof(path.sock), "%s/conn.sock", b->tmp);
	path.pid = spawn_device(b, path.sock, DEV_SOCKET);
	if (path.pid < 0)
		return -errno;
	path.step = conn_step;
	path.fini = conn_fini;
	path.live = true;
	/* connect() and accept() block whatever the runtime's polling. */
	struct spec sp = {
		.name = "conn.open_map",
		.what = "vpcie_host_open() (connect + VERSION) + vpcie_host_region_map() of a BAR",
		.kind = K_LAT, .iters = (size_t)b->conn_iters, .warm = 3,
		.disc = b->poll_ns ? DISC_MIXED : DISC_BLOCK,
	};
	rc = connect_floor(&fl, &sp.f[0], b);
	if (rc) {
		runner_fini(&path);
		return rc;
	}
	return measure(b, &sp, &path, &fl, NULL);
}

static int multi_step(struct runner *r, double *out)
{
	uint64_t a = vpcie_now_ns();
	uint32_t v;
	int rc = vpcie_host_region_read(r->hs[r->k++ % r->nh], BENCH_NULL_BAR, NULL_OFF, &v,
					sizeof(v));

	if (!rc)
		*out = (double)(vpcie_now_ns() - a);
	return rc;
}

static void multi_fini(struct runner *r)
{
	if (r->hs)
		for (unsigned d = 0; d < r->nh; d++)
			vpcie_host_close(r->hs[d]);
	if (r->pids) {
		for (unsigned d = 0; d < r->nh; d++)
			if (r->pids[d] > 0)
				kill(r->pids[d], SIGTERM);
		for (unsigned d = 0; d < r->nh; d++)
			kid_reap(r->pids[d]);
	}
	free(r->hs);
	free(r->pids);
	r->hs = NULL;
	r->pids = NULL;
}

int path_multi(struct bench *b, unsigned ndev)
{
	char name[64], what[160], tail[32];
	struct runner path, fl, f2;
	size_t iters;
	int rc = 0;

	snprintf(name, sizeof(name), "multi.%u", ndev);
	if (!selected(b, name))
		return 0;
	progress(b, "%s: starting %u devices", name, ndev);
	runner_zero(&path, b);
	path.step = multi_step;
	path.fini = multi_fini;
	path.live = true;
	path.nh = ndev;
	path.hs = calloc(ndev, sizeof(*path.hs));
	path.pids = calloc(ndev, sizeof(*path.pids));
	if (!path.hs || !path.pids) {
		runner_fini(&path);
		return -ENOMEM;
	}
	for (unsigned d = 0; d < ndev && !rc; d++) {
		char sock[128];

		snprintf(sock, sizeof(sock), "%s/m%03u.sock", b->tmp, d);
		path.pids[d] = spawn_device(b, sock, DEV_SOCKET);
		if (path.pids[d] < 0)
			rc = -errno;
	}
	for (unsigned d = 0; d < ndev && !rc && !g_stop; d++) {
		char sock[128];
		uint32_t v;
		int err = 0;

		snprintf(sock, sizeof(sock), "%s/m%03u.sock", b->tmp, d);
		path.hs[d] = open_device(sock, DEV_SOCKET, &err);
		if (!path.hs[d]) {
			rc = err ? err : -EIO;
			break;
		}
		rc = vpcie_host_cfg_write16(path.hs[d], PCI_COMMAND, PCI_COMMAND_MEMORY);
		if (!rc)
			rc = vpcie_host_region_read(path.hs[d], BENCH_NULL_BAR, NULL_OFF, &v, sizeof(v));
	}
	snprintf(what, sizeof(what),
		 "%u device processes, one host thread reading 4 B round-robin: aggregate ops/s",
		 ndev);
	iters = (size_t)b->lat_iters;
	if (iters < 4u * ndev)
		iters = 4u * ndev;
	struct spec sp = {
		.name = name, .what = what, .kind = K_RATE, .lat_samples = true, .iters = iters,
		.warm = b->warm, .disc = b->poll_ns ? DISC_POLL : DISC_BLOCK,
	};
	snprintf(tail, sizeof(tail), "%u.%u", REQ_REGION, REQ_REGION + 4);
	if (!rc && g_stop)
		rc = -EINTR;
	if (!rc)
		rc = sock_rr_floors(&fl, &f2, &sp, b, b->poll_ns != 0, "rr", tail, REQ_REGION,
				    REQ_REGION + 4, 1);
	if (rc) {
		runner_fini(&path);
		return rc;
	}
	return measure(b, &sp, &path, &fl, &f2);
}
