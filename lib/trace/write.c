/* SPDX-License-Identifier: MIT */
/* Recording a trace: a buffer of records appended to a file (vpcie/trace.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"

#define TRACE_RECS 4096u /* buffer: 320 KiB; written at half, or when full */

struct vpcie_trace {
	int fd;
	bool failed;                 /* a write failed: recording stopped */
	struct trace_chunk_hdr hdr;  /* template for every chunk */
	unsigned n;
	struct vpcie_trace_rec recs[TRACE_RECS];
};

uint64_t vpcie_trace_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* text into a NUL-padded field of size bytes (no terminator when full). */
static void copy_text(void *field, size_t size, const char *text)
{
	memcpy(field, text, strnlen(text, size));
}

/* path with every "%p" replaced by the pid; NULL on overflow. */
static char *expand(const char *path)
{
	char pid[16];
	size_t n = 0, cap = strlen(path) + 1;
	char *out;

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	for (const char *p = path; (p = strstr(p, "%p")); p += 2)
		cap += strlen(pid);
	out = malloc(cap);
	if (!out)
		return NULL;
	for (const char *p = path; *p;) {
		if (p[0] == '%' && p[1] == 'p') {
			memcpy(out + n, pid, strlen(pid));
			n += strlen(pid);
			p += 2;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = 0;
	return out;
}

int vpcie_trace_open(struct vpcie_trace **out, const char *path, enum vpcie_trace_side side,
		     const char *name)
{
	struct vpcie_trace *tr;
	char *file;

	*out = NULL;
	if (!path || !*path || (side != VPCIE_TRACE_SIDE_DEVICE && side != VPCIE_TRACE_SIDE_HOST))
		return -EINVAL;
	tr = calloc(1, sizeof(*tr));
	file = expand(path);
	if (!tr || !file) {
		free(tr);
		free(file);
		return -ENOMEM;
	}
	tr->fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	free(file);
	if (tr->fd < 0) {
		int err = -errno;

		free(tr);
		return err;
	}
	memcpy(tr->hdr.magic, VPCIE_TRACE_MAGIC, 8);
	tr->hdr.version = VPCIE_TRACE_VERSION;
	tr->hdr.hdr_size = VPCIE_TRACE_HDR_SIZE;
	tr->hdr.rec_size = VPCIE_TRACE_REC_SIZE;
	tr->hdr.side = (uint8_t)side;
	tr->hdr.clock = VPCIE_TRACE_CLOCK_MONOTONIC;
	tr->hdr.pid = (uint32_t)getpid();
	if (name)
		copy_text(tr->hdr.name, sizeof(tr->hdr.name), name);
	*out = tr;
	return 0;
}

int vpcie_trace_flush(struct vpcie_trace *tr)
{
	struct trace_chunk_hdr h;
	struct iovec iov[2];
	size_t want;
	ssize_t n;

	if (!tr || tr->failed)
		return tr ? -EIO : 0;
	if (!tr->n)
		return 0;
	h = tr->hdr;
	h.nrec = tr->n;
	trace_hdr_swap(&h);
	for (unsigned i = 0; i < tr->n; i++)
		trace_rec_swap(&tr->recs[i]);
	iov[0] = (struct iovec){&h, sizeof(h)};
	iov[1] = (struct iovec){tr->recs, (size_t)tr->n * sizeof(tr->recs[0])};
	want = iov[0].iov_len + iov[1].iov_len;
	/* One write of the whole chunk: with O_APPEND, other writers' chunks
	 * never land inside ours. */
	do
		n = writev(tr->fd, iov, 2);
	while (n < 0 && errno == EINTR);
	tr->n = 0;
	if (n != (ssize_t)want) {
		tr->failed = true;
		return n < 0 ? -errno : -EIO;
	}
	return 0;
}

void vpcie_trace_tick(struct vpcie_trace *tr)
{
	if (tr && tr->n >= TRACE_RECS / 2)
		vpcie_trace_flush(tr);
}

void vpcie_trace_close(struct vpcie_trace *tr)
{
	if (!tr)
		return;
	vpcie_trace_flush(tr);
	close(tr->fd);
	free(tr);
}

static struct vpcie_trace_rec *next_rec(struct vpcie_trace *tr, uint64_t t0,
					enum vpcie_trace_type type, unsigned flags, int status)
{
	struct vpcie_trace_rec *r;
	uint64_t now;

	if (tr->failed)
		return NULL;
	if (tr->n == TRACE_RECS && vpcie_trace_flush(tr))
		return NULL;
	now = vpcie_trace_now();
	r = &tr->recs[tr->n++];
	memset(r, 0, sizeof(*r));
	if (!t0 || t0 > now)
		t0 = now;
	r->ts_ns = t0;
	r->dur_ns = now - t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(now - t0);
	r->type = (uint16_t)type;
	r->flags = (uint16_t)(flags & VPCIE_TRACE_F_ALL);
	r->status = status;
	return r;
}

void vpcie_trace_access(struct vpcie_trace *tr, uint64_t t0, unsigned index, uint64_t off,
			const void *data, uint64_t len, unsigned flags, int status)
{
	struct vpcie_trace_rec *r = next_rec(tr, t0, VPCIE_TRACE_ACCESS, flags, status);

	if (!r)
		return;
	r->index = index;
	r->addr = off;
	r->len = len;
	if (data && status == 0)
		memcpy(r->data, data, len < 8 ? len : 8);
}

void vpcie_trace_dma(struct vpcie_trace *tr, uint64_t t0, uint64_t addr, uint64_t len,
		     unsigned flags, int status)
{
	struct vpcie_trace_rec *r = next_rec(tr, t0, VPCIE_TRACE_DMA, flags, status);

	if (!r)
		return;
	r->addr = addr;
	r->len = len;
}

void vpcie_trace_event(struct vpcie_trace *tr, uint64_t t0, enum vpcie_trace_type type,
		       unsigned index, uint64_t addr, uint64_t len, unsigned flags, int status,
		       uint32_t aux, const char *text)
{
	struct vpcie_trace_rec *r = next_rec(tr, t0, type, flags, status);

	if (!r)
		return;
	r->index = index;
	r->addr = addr;
	r->len = len;
	r->aux = aux;
	if (text)
		copy_text(r->data, sizeof(r->data), text);
}

void vpcie_trace_fault(struct vpcie_trace *tr, unsigned index, uint64_t addr, const char *text)
{
	if (tr)
		vpcie_trace_event(tr, 0, VPCIE_TRACE_FAULT, index, addr, 0, 0, 0, 0, text);
}
