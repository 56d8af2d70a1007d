/* SPDX-License-Identifier: MIT */
/*
 * vpcie-simple-blk: the textbook block device, backed by an image file.
 *
 * A driver programs SECTOR, COUNT and (for DMA) DMA_ADDR, then writes STATUS
 * with S set (plus RW for a write, DMA for a transfer by DMA). The device
 * answers that write at once with B set, runs the command from a zero-delay
 * timer - so while its DMA waits for the host, the host's register accesses
 * are still served, as a real DMA engine works behind the register file -
 * and on completion clears B, sets E/ERROR on failure, sets IRQ_STATUS.DONE
 * and, if CONTROL.IE is set, interrupts: an MSI, or the INTx line held until
 * the driver acks. Every register is in simple_blk_regs.h; the datasheet is
 * docs/simple-blk.md.
 *
 * Nothing the driver writes can make the device touch memory outside the
 * image or its buffers: ranges are checked before any byte moves, and host
 * memory is reached only through the runtime's checked DMA calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vpcie/cli.h>
#include <vpcie/device.h>

#include "simple_blk_regs.h"

#define XFER_MAX ((size_t)SBLK_MAX_COUNT_VALUE * SBLK_SECTOR_SIZE)

/* A command as latched when S was accepted: later register writes do not
 * change the one that runs. */
struct sblk_cmd {
	bool write, dma;
	uint64_t sector, addr;
	uint32_t count;
	uint8_t data[SBLK_DATA_SIZE]; /* PIO write: the DATA window at start */
};

struct sblk {
	struct vpcie_dev *dev;
	struct vpcie_logger *lg;
	int fd;
	uint64_t capacity;      /* sectors */
	/* registers */
	bool busy;
	uint32_t latched;       /* RW and DMA bits of the last command */
	uint32_t error;
	uint32_t irq_status;
	uint32_t control;
	uint32_t count;
	uint64_t sector, dma_addr;
	uint32_t commands;
	uint8_t data[SBLK_DATA_SIZE];
	/* the engine */
	struct sblk_cmd cmd;
	struct vpcie_timer *timer;
	uint64_t generation;    /* bumped by reset: a command in flight is dropped */
	bool intx_level;
	uint8_t *bounce;        /* XFER_MAX bytes */
};

/* ---- Interrupts --------------------------------------------------------- */

/* The INTx line follows IRQ_STATUS while interrupts are enabled. */
static void intx_sync(struct sblk *s)
{
	bool level = (s->irq_status & SBLK_IRQ_DONE) && (s->control & SBLK_CTRL_IE) &&
		     vpcie_dev_irq_mode(s->dev) == VPCIE_IRQ_INTX;
	int rc;

	if (level == s->intx_level)
		return;
	s->intx_level = level;
	rc = vpcie_dev_irq_intx(s->dev, level);
	if (rc < 0 && level)
		vpcie_dbg(s->lg, "INTx: %s", strerror(-rc));
}

/* IRQ_STATUS got new bits: an MSI for each such event, or the INTx level. */
static void irq_signal(struct sblk *s)
{
	int rc;

	if ((s->control & SBLK_CTRL_IE) && vpcie_dev_irq_mode(s->dev) == VPCIE_IRQ_MSI) {
		rc = vpcie_dev_irq_raise(s->dev, 0);
		if (rc < 0)
			vpcie_dbg(s->lg, "MSI: %s", strerror(-rc));
	}
	intx_sync(s);
}

/* ---- The image -------------------------------------------------------------- */

/* All len bytes at off (a read past the end of the file gives zeros). */
static int file_io(struct sblk *s, void *buf, size_t len, uint64_t off, bool write)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = write ? pwrite(s->fd, p, len, (off_t)off) : pread(s->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			if (write)
				return -EIO;
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* ---- Commands ------------------------------------------------------------- */

static uint32_t check(const struct sblk *s, const struct sblk_cmd *c)
{
	if (c->count == 0 || c->count > SBLK_MAX_COUNT_VALUE || (!c->dma && c->count != 1))
		return SBLK_ERR_COUNT;
	if (c->sector >= s->capacity || c->count > s->capacity - c->sector)
		return SBLK_ERR_RANGE;
	if (c->dma && c->addr + ((uint64_t)c->count * SBLK_SECTOR_SIZE - 1) < c->addr)
		return SBLK_ERR_DMA; /* the buffer wraps around the address space */
	return SBLK_ERR_NONE;
}

/* DMA between host memory and the image: straight into or out of the
 * host's memory when it is mapped, through the bounce buffer otherwise. */
static uint32_t run_dma(struct sblk *s, const struct sblk_cmd *c, uint64_t gen)
{
	size_t len = (size_t)c->count * SBLK_SECTOR_SIZE;
	uint64_t off = c->sector * SBLK_SECTOR_SIZE;
	uint8_t *p = vpcie_dev_dma_ptr(s->dev, c->addr, len, !c->write);
	int rc;

	if (c->write) {
		if (!p) {
			rc = vpcie_dev_dma_read(s->dev, c->addr, s->bounce, len);
			if (gen != s->generation)
				return SBLK_ERR_NONE; /* reset while we waited: dropped */
			if (rc < 0) {
				vpcie_dbg(s->lg, "DMA read 0x%" PRIx64 "+%zu: %s", c->addr, len,
					  strerror(-rc));
				return SBLK_ERR_DMA;
			}
			p = s->bounce;
		}
		return file_io(s, p, len, off, true) ? SBLK_ERR_IO : SBLK_ERR_NONE;
	}
	if (file_io(s, p ? p : s->bounce, len, off, false))
		return SBLK_ERR_IO;
	if (p)
		return SBLK_ERR_NONE;
	rc = vpcie_dev_dma_write(s->dev, c->addr, s->bounce, len);
	if (gen == s->generation && rc < 0) {
		vpcie_dbg(s->lg, "DMA write 0x%" PRIx64 "+%zu: %s", c->addr, len, strerror(-rc));
		return SBLK_ERR_DMA;
	}
	return SBLK_ERR_NONE;
}

static uint32_t run_pio(struct sblk *s, const struct sblk_cmd *c)
{
	uint64_t off = c->sector * SBLK_SECTOR_SIZE;

	if (c->write)
		return file_io(s, (void *)c->data, SBLK_DATA_SIZE, off, true) ? SBLK_ERR_IO : 0;
	return file_io(s, s->data, SBLK_DATA_SIZE, off, false) ? SBLK_ERR_IO : 0;
}

/* The timer: run the latched command, then complete it. */
static void run_command(struct vpcie_dev *dev, void *opaque)
{
	struct sblk *s = opaque;
	struct sblk_cmd *c = &s->cmd;
	uint64_t gen = s->generation;
	uint32_t err;

	(void)dev;
	if (!s->busy)
		return; /* reset between the start and now */
	err = check(s, c);
	if (!err)
		err = c->dma ? run_dma(s, c, gen) : run_pio(s, c);
	if (gen != s->generation)
		return; /* a reset came while the DMA waited: the command is gone */
	vpcie_dbg(s->lg, "%s %s sector %" PRIu64 " count %" PRIu32 ": error %" PRIu32,
		  c->write ? "write" : "read", c->dma ? "DMA" : "PIO", c->sector, c->count, err);
	if (err && !s->error)
		s->error = err;
	s->busy = false;
	s->commands++;
	s->irq_status |= SBLK_IRQ_DONE;
	irq_signal(s);
}

/* STATUS written: S starts a command unless one is running. */
static int start(struct sblk *s, uint32_t v)
{
	if (!(v & SBLK_STATUS_S))
		return 0;
	if (s->busy) {
		if (!s->error)
			s->error = SBLK_ERR_BUSY;
		return 0;
	}
	s->error = SBLK_ERR_NONE;
	s->latched = v & (SBLK_STATUS_RW | SBLK_STATUS_DMA);
	s->cmd.write = v & SBLK_STATUS_RW;
	s->cmd.dma = v & SBLK_STATUS_DMA;
	s->cmd.sector = s->sector;
	s->cmd.count = s->count;
	s->cmd.addr = s->dma_addr;
	if (s->cmd.write && !s->cmd.dma)
		memcpy(s->cmd.data, s->data, sizeof(s->data));
	s->busy = true;
	if (s->timer)
		vpcie_dev_timer_arm(s->timer, 0, 0);
	else
		s->timer = vpcie_dev_timer_add(s->dev, 0, 0, run_command, s);
	if (!s->timer) {
		s->busy = false;
		vpcie_err(s->lg, "cannot schedule the command");
		return -ENOMEM;
	}
	return 0;
}

/* ---- BAR0 ----------------------------------------------------------------- */

static uint32_t status(const struct sblk *s)
{
	return SBLK_STATUS_I | (s->busy ? SBLK_STATUS_B : SBLK_STATUS_R) | s->latched |
	       (s->error ? SBLK_STATUS_E : 0);
}

static uint32_t reg_read(const struct sblk *s, uint64_t off)
{
	switch (off) {
	case SBLK_REG_ID: return SBLK_ID_VALUE;
	case SBLK_REG_VERSION: return SBLK_VERSION_VALUE;
	case SBLK_REG_STATUS: return status(s);
	case SBLK_REG_ERROR: return s->error;
	case SBLK_REG_IRQ_STATUS: return s->irq_status;
	case SBLK_REG_CONTROL: return s->control;
	case SBLK_REG_COUNT: return s->count;
	case SBLK_REG_SECTOR_LO: return (uint32_t)s->sector;
	case SBLK_REG_SECTOR_HI: return (uint32_t)(s->sector >> 32);
	case SBLK_REG_DMA_ADDR_LO: return (uint32_t)s->dma_addr;
	case SBLK_REG_DMA_ADDR_HI: return (uint32_t)(s->dma_addr >> 32);
	case SBLK_REG_CAPACITY_LO: return (uint32_t)s->capacity;
	case SBLK_REG_CAPACITY_HI: return (uint32_t)(s->capacity >> 32);
	case SBLK_REG_MAX_COUNT: return SBLK_MAX_COUNT_VALUE;
	case SBLK_REG_COMMANDS: return s->commands;
	default: return 0; /* IRQ_ACK and unused offsets */
	}
}

static uint64_t set_lo(uint64_t r, uint32_t v) { return (r & ~0xffffffffull) | v; }
static uint64_t set_hi(uint64_t r, uint32_t v) { return (r & 0xffffffffull) | (uint64_t)v << 32; }

static int reg_write(struct sblk *s, uint64_t off, uint32_t v)
{
	switch (off) {
	case SBLK_REG_STATUS: return start(s, v);
	case SBLK_REG_IRQ_ACK:
		s->irq_status &= ~v;
		intx_sync(s);
		break;
	case SBLK_REG_CONTROL: {
		bool was = s->control & SBLK_CTRL_IE;

		s->control = v & SBLK_CTRL_IE;
		if (!was && (s->control & SBLK_CTRL_IE) && s->irq_status)
			irq_signal(s); /* enabling with an event pending interrupts */
		else
			intx_sync(s);
		break;
	}
	case SBLK_REG_COUNT: s->count = v; break;
	case SBLK_REG_SECTOR_LO: s->sector = set_lo(s->sector, v); break;
	case SBLK_REG_SECTOR_HI: s->sector = set_hi(s->sector, v); break;
	case SBLK_REG_DMA_ADDR_LO: s->dma_addr = set_lo(s->dma_addr, v); break;
	case SBLK_REG_DMA_ADDR_HI: s->dma_addr = set_hi(s->dma_addr, v); break;
	default: break; /* read-only and unused offsets ignore writes */
	}
	return 0;
}

static bool in_data(uint64_t off, size_t len)
{
	return off >= SBLK_REG_DATA && off < SBLK_REG_DATA + SBLK_DATA_SIZE &&
	       len <= SBLK_REG_DATA + SBLK_DATA_SIZE - off;
}

/* Registers take aligned 4-byte accesses; the 64-bit ones 8 bytes too. */
static bool reg_access_ok(uint64_t off, size_t len)
{
	if (len == 4)
		return off % 4 == 0 && off < SBLK_BAR0_SIZE;
	return len == 8 && (off == SBLK_REG_SECTOR_LO || off == SBLK_REG_DMA_ADDR_LO ||
			    off == SBLK_REG_CAPACITY_LO);
}

static int bar0_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	struct sblk *s = opaque;
	uint32_t v[2];

	(void)dev;
	if (in_data(off, len)) {
		memcpy(buf, s->data + (off - SBLK_REG_DATA), len);
		return 0;
	}
	if (!reg_access_ok(off, len))
		return -EINVAL;
	v[0] = reg_read(s, off);
	v[1] = len == 8 ? reg_read(s, off + 4) : 0;
	memcpy(buf, v, len); /* little-endian host: the bytes as on the bus */
	return 0;
}

static int bar0_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf,
		      size_t len)
{
	struct sblk *s = opaque;
	uint32_t v[2] = {0, 0};
	int rc;

	(void)dev;
	if (in_data(off, len)) {
		memcpy(s->data + (off - SBLK_REG_DATA), buf, len);
		return 0;
	}
	if (!reg_access_ok(off, len))
		return -EINVAL;
	memcpy(v, buf, len);
	rc = reg_write(s, off, v[0]);
	if (!rc && len == 8)
		rc = reg_write(s, off + 4, v[1]);
	return rc;
}

static void on_reset(struct vpcie_dev *dev, void *opaque, enum vpcie_reset_kind kind)
{
	struct sblk *s = opaque;

	(void)dev;
	vpcie_dbg(s->lg, "%s reset", kind == VPCIE_RESET_FLR ? "function level" : "device");
	s->generation++;
	s->busy = false;
	s->latched = s->error = s->irq_status = s->control = s->count = s->commands = 0;
	s->sector = s->dma_addr = 0;
	memset(s->data, 0, sizeof(s->data));
	s->intx_level = false; /* the runtime dropped the line with config space */
}

/* ---- Options and set-up ----------------------------------------------------- */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s --socket PATH --image FILE [--size N] [options]\n"
		"The teaching block device (docs/simple-blk.md): status/command registers,\n"
		"a PIO sector window, DMA, INTx and MSI completion interrupts.\n\n"
		"  -i, --image FILE      disk image (raw); capacity = its size / 512\n"
		"      --size N          create FILE, or grow/shrink it, to N bytes (a multiple\n"
		"                        of 512; suffix k/M/G allowed)\n"
		"  -h, --help            this help\n",
		prog);
	vpcie_cli_usage(f);
}

static int parse_size(const char *arg, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || end == arg || *arg == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end || v == 0 || v > (UINT64_MAX >> 1) >> shift)
		return -1;
	v <<= shift;
	if (v % SBLK_SECTOR_SIZE)
		return -1;
	*out = v;
	return 0;
}

static int open_image(struct sblk *s, const char *path, uint64_t size)
{
	struct stat st;

	s->fd = open(path, O_RDWR | O_CLOEXEC | (size ? O_CREAT : 0), 0644);
	if (s->fd < 0)
		return -errno;
	if (size && ftruncate(s->fd, (off_t)size) < 0)
		return -errno;
	if (fstat(s->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return -EINVAL;
	if (S_ISREG(st.st_mode))
		s->capacity = (uint64_t)st.st_size / SBLK_SECTOR_SIZE;
	else {
		off_t end = lseek(s->fd, 0, SEEK_END);

		if (end < 0)
			return -errno;
		s->capacity = (uint64_t)end / SBLK_SECTOR_SIZE;
	}
	return s->capacity ? 0 : -ENOSPC;
}

static int setup(struct sblk *s)
{
	static const struct vpcie_bar_ops ops = {bar0_read, bar0_write};

	if (vpcie_dev_set_bar(s->dev, 0, &(struct vpcie_bar_desc){
		    .size = SBLK_BAR0_SIZE, .kind = VPCIE_BAR_MEM32, .ops = &ops, .opaque = s}))
		return -1;
	if (vpcie_dev_add_pm(s->dev) < 0 || vpcie_dev_add_msi(s->dev, 1, true) < 0 ||
	    vpcie_dev_add_pcie(s->dev, true) < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		VPCIE_CLI_LONGOPTS,
		{"image", required_argument, NULL, 'i'},
		{"size", required_argument, NULL, 'z'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct vpcie_ids ids = {
		.vendor = SBLK_VENDOR_ID, .device = SBLK_DEVICE_ID,
		.subsys_vendor = SBLK_VENDOR_ID, .subsys = SBLK_DEVICE_ID,
		.class_code = SBLK_CLASS, .revision = SBLK_REVISION,
	};
	const struct vpcie_dev_ops ops = {.reset = on_reset};
	struct vpcie_dev_opts opts;
	struct sblk s = {.fd = -1};
	struct vpcie_cli cli;
	const char *image = NULL;
	uint64_t size = 0;
	int c, rc;

	vpcie_dev_opts_defaults(&opts);
	opts.name = "vpcie-simple-blk";
	vpcie_cli_init(&cli, opts.name);
	while ((c = getopt_long(argc, argv, VPCIE_CLI_SHORTOPTS "i:h", longopts, NULL)) != -1) {
		switch (vpcie_cli_option(&cli, &opts, c, optarg)) {
		case 1: continue;
		case -1: return 2;
		}
		switch (c) {
		case 'i': image = optarg; break;
		case 'z':
			if (parse_size(optarg, &size)) {
				fprintf(stderr, "%s: --size takes a non-zero multiple of 512 "
						"(suffix k/M/G allowed), not '%s'\n", opts.name, optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout, argv[0]); return 0;
		default: usage(stderr, argv[0]); return 2;
		}
	}
	if (vpcie_cli_finish(&cli, argc - optind))
		return 2;
	if (!image) {
		fprintf(stderr, "%s: --image FILE is required; see --help\n", opts.name);
		return 2;
	}
	rc = open_image(&s, image, size);
	if (rc) {
		fprintf(stderr, "%s: %s: %s\n", opts.name, image,
			rc == -ENOSPC ? "smaller than one sector (use --size)" : strerror(-rc));
		if (s.fd >= 0)
			close(s.fd);
		return 1;
	}
	s.bounce = malloc(XFER_MAX);
	s.dev = s.bounce ? vpcie_dev_new(&ids, &ops, &s, &opts) : NULL;
	if (!s.dev || setup(&s)) {
		fprintf(stderr, "%s: device setup failed\n", opts.name);
		if (s.dev)
			vpcie_dev_free(s.dev);
		free(s.bounce);
		close(s.fd);
		return 1;
	}
	s.lg = vpcie_dev_logger(s.dev);
	vpcie_info(s.lg, "%s: %" PRIu64 " sectors", image, s.capacity);
	rc = vpcie_dev_serve(s.dev, cli.socket, cli.fd);
	vpcie_info(s.lg, "%" PRIu32 " commands since the last reset", s.commands);
	vpcie_dev_free(s.dev);
	if (fdatasync(s.fd) < 0)
		fprintf(stderr, "%s: %s: flush: %s\n", opts.name, image, strerror(errno));
	close(s.fd);
	free(s.bounce);
	return rc ? 1 : 0;
}
