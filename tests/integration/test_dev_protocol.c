/* SPDX-License-Identifier: MIT */
/*
 * The device runtime against a raw client that speaks vfio-user byte by byte
 * (no host runtime), in one process over a socketpair: the test sends a
 * command, runs the device's dispatcher, and reads the reply.
 *
 *  - VERSION: the reply's capabilities are a subset of what the client
 *    proposed (none proposed: none back); a VERSION without reply creates no
 *    twin socket or ring whose fds would never be sent;
 *  - DEVICE_GET_REGION_INFO: the region fd travels only with a reply that
 *    carries the full info (what libvfio-user's client expects);
 *  - MSI pending state: only for enabled vectors, and never written into
 *    config bytes outside the MSI capability;
 *  - vpcie_dev_new() refuses max_msg_fds it cannot honour.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <vpcie/device.h>
#include <vpcie/transport.h>

#define BAR0_SIZE (16u * 1024) /* memory, first page trapped: sparse mmap cap */
#define BAR2_SIZE (1u << 20)   /* memory, no traps: no caps */
#define MSI_VECTORS 4u

struct rig {
	struct vpcie_dev *dev;
	struct vpcie_chan *cl;
	uint16_t next_id;
	unsigned msi_off;
};

static int trap_read(struct vpcie_dev *dev, void *opaque, uint64_t off, void *buf, size_t len)
{
	(void)dev, (void)opaque, (void)off;
	memset(buf, 0, len);
	return 0;
}

static int trap_write(struct vpcie_dev *dev, void *opaque, uint64_t off, const void *buf,
		      size_t len)
{
	(void)dev, (void)opaque, (void)off, (void)buf, (void)len;
	return 0;
}

static const struct vpcie_bar_ops trap_ops = {trap_read, trap_write};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

/* A device with two memory BARs, MSI (maskable or not) followed by a vendor
 * capability, attached to one end of a socketpair; the test holds the other. */
static void rig_open_opts(struct rig *r, bool msi_maskable, const struct vpcie_dev_opts *opts)
{
	static const struct vpcie_trap trap = {0, 4096};
	const struct vpcie_ids ids = {.vendor = 0x1234, .device = 0x5651, .class_code = 0xff0000};
	const struct vpcie_chan_limits lim = {.max_msg_size = 2u << 20, .max_fds = 16};
	const uint8_t vendor[8] = {'v', 'p', 'c', 'i', 'e', 1, 2, 3};
	struct vpcie_dev_opts o;
	int sv[2], off;

	memset(r, 0, sizeof(*r));
	if (opts)
		o = *opts;
	else
		vpcie_dev_opts_defaults(&o);
	o.log_level = getenv("TEST_VERBOSE") ? VPCIE_LOG_DEBUG : VPCIE_LOG_ERROR;
	o.poll_max_us = 0;
	r->dev = vpcie_dev_new(&ids, NULL, NULL, &o);
	assert_non_null(r->dev);
	assert_int_equal(vpcie_dev_set_bar(r->dev, 0, &(struct vpcie_bar_desc){
		.size = BAR0_SIZE, .kind = VPCIE_BAR_MEM32, .memory = true,
		.traps = &trap, .ntraps = 1, .ops = &trap_ops}), 0);
	assert_int_equal(vpcie_dev_set_bar(r->dev, 2, &(struct vpcie_bar_desc){
		.size = BAR2_SIZE, .kind = VPCIE_BAR_MEM32, .memory = true}), 0);
	off = vpcie_dev_add_msi(r->dev, MSI_VECTORS, msi_maskable);
	assert_true(off > 0);
	r->msi_off = (unsigned)off;
	assert_true(vpcie_dev_add_vendor_cap(r->dev, vendor, sizeof(vendor)) > 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vpcie_dev_attach(r->dev, sv[0]), 0);
	r->cl = vpcie_chan_new(sv[1], &lim);
	assert_non_null(r->cl);
	r->next_id = 1;
}

static void rig_open(struct rig *r, bool msi_maskable)
{
	rig_open_opts(r, msi_maskable, NULL);
}

static void rig_close(struct rig *r)
{
	vpcie_chan_free(r->cl);
	vpcie_dev_free(r->dev);
}

static uint16_t rig_send(struct rig *r, unsigned cmd, uint32_t flags, const void *payload,
			 size_t len, const int *fds, unsigned nfds)
{
	struct vpcie_msg_hdr hdr = {.msg_id = r->next_id++, .cmd = (uint16_t)cmd, .flags = flags};
	struct iovec iov = {(void *)payload, len};

	assert_int_equal(vpcie_chan_send(r->cl, &hdr, &iov, len ? 1 : 0, fds, nfds, 1000), 0);
	return hdr.msg_id;
}

/* Let the device run until the reply to id arrives. Returns 0 (*out filled
 * if given), a positive errno for an error reply, or -errno. */
static int rig_reply(struct rig *r, uint16_t id, struct vpcie_msg *out)
{
	for (int i = 0; i < 400; i++) {
		struct vpcie_msg m;
		int rc;

		assert_int_equal(vpcie_dev_dispatch(r->dev, 5), 0);
		rc = vpcie_chan_recv(r->cl, &m, 0);
		if (rc == -EAGAIN || rc == -ETIMEDOUT)
			continue;
		if (rc)
			return rc;
		if ((m.hdr.flags & VPCIE_MSGF_TYPE_MASK) != VPCIE_MSGF_REPLY || m.hdr.msg_id != id) {
			vpcie_msg_release(&m);
			continue;
		}
		if (m.hdr.flags & VPCIE_MSGF_ERROR) {
			rc = m.hdr.error ? (int)m.hdr.error : EIO;
			vpcie_msg_release(&m);
			return rc;
		}
		if (out)
			*out = m;
		else
			vpcie_msg_release(&m);
		return 0;
	}
	return -ETIMEDOUT;
}

static int rig_call(struct rig *r, unsigned cmd, const void *payload, size_t len,
		    const int *fds, unsigned nfds, struct vpcie_msg *out)
{
	return rig_reply(r, rig_send(r, cmd, 0, payload, len, fds, nfds), out);
}

/* VERSION with this JSON (NULL: no version data at all). */
static uint16_t send_version(struct rig *r, const char *json, uint32_t flags)
{
	struct vpcie_version v = {VPCIE_PROTO_MAJOR, VPCIE_PROTO_MINOR};
	char buf[sizeof(v) + 1024];
	size_t len = sizeof(v);

	memcpy(buf, &v, sizeof(v));
	if (json) {
		assert_true(strlen(json) < sizeof(buf) - sizeof(v));
		strcpy(buf + sizeof(v), json);
		len += strlen(json) + 1;
	}
	return rig_send(r, VPCIE_CMD_VERSION, flags, buf, len, NULL, 0);
}

/* The reply's "capabilities" object, parsed with json-c (not our parser), or
 * NULL if the reply has no version data or no capabilities member. The
 * caller puts *root. */
static struct json_object *reply_caps(const struct vpcie_msg *m, struct json_object **root)
{
	const struct vpcie_version *v = m->payload;
	struct json_object *c = NULL;
	size_t len;

	*root = NULL;
	assert_true(m->payload_len >= sizeof(*v));
	assert_int_equal(v->major, VPCIE_PROTO_MAJOR);
	len = m->payload_len - sizeof(*v);
	if (!len)
		return NULL;
	assert_int_equal(v->data[len - 1], '\0');
	*root = json_tokener_parse(v->data);
	assert_non_null(*root);
	assert_true(json_object_is_type(*root, json_type_object));
	if (!json_object_object_get_ex(*root, "capabilities", &c))
		return NULL;
	assert_true(json_object_is_type(c, json_type_object));
	return c;
}

/* Negotiate, proposing these capabilities; the reply's members are returned
 * as a space-separated list of names in names[]. */
static void negotiate(struct rig *r, const char *json, char *names, size_t nlen)
{
	struct json_object *root, *c;
	struct vpcie_msg m;

	assert_int_equal(rig_reply(r, send_version(r, json, 0), &m), 0);
	c = reply_caps(&m, &root);
	names[0] = '\0';
	if (c) {
		json_object_object_foreach(c, key, val) {
			(void)val;
			snprintf(names + strlen(names), nlen - strlen(names), "%s%s",
				 names[0] ? " " : "", key);
		}
	}
	json_object_put(root);
	vpcie_msg_release(&m);
}

static void cfg_write(struct rig *r, unsigned off, const void *val, uint32_t len)
{
	uint8_t buf[sizeof(struct vpcie_region_access) + 4];
	struct vpcie_region_access a = {off, VFIO_PCI_CONFIG_REGION_INDEX, len};

	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), val, len);
	assert_int_equal(rig_call(r, VPCIE_CMD_REGION_WRITE, buf, sizeof(a) + len, NULL, 0, NULL),
			 0);
}

static void cfg_write16(struct rig *r, unsigned off, uint16_t v)
{
	cfg_write(r, off, &v, 2);
}

static void cfg_write32(struct rig *r, unsigned off, uint32_t v)
{
	cfg_write(r, off, &v, 4);
}

/* ---- VERSION ------------------------------------------------------------------ */

static void test_version_no_caps_proposed(void **state)
{
	static const char *const proposals[] = {NULL, "{}", "{\"capabilities\":{}}",
						"{\"unknown\":{\"max_msg_fds\":8}}"};
	(void)state;
	for (size_t i = 0; i < sizeof(proposals) / sizeof(proposals[0]); i++) {
		struct rig r;
		char names[256];

		rig_open(&r, true);
		negotiate(&r, proposals[i], names, sizeof(names));
		if (names[0])
			fail_msg("proposed %s, got capabilities back: %s",
				 proposals[i] ? proposals[i] : "no JSON", names);
		assert_true(vpcie_dev_connected(r.dev));
		rig_close(&r);
	}
}

static void test_version_subset(void **state)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{"{\"capabilities\":{\"max_msg_fds\":8}}", "max_msg_fds"},
		{"{\"capabilities\":{\"max_data_xfer_size\":65536,\"pgsizes\":4096}}",
		 "max_data_xfer_size pgsizes"},
		{"{\"capabilities\":{\"write_multiple\":true,\"max_dma_maps\":10}}",
		 "max_dma_maps write_multiple"},
		{"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
		 "\"max_dma_maps\":65535,\"pgsizes\":4096,\"write_multiple\":false}}",
		 "max_msg_fds max_data_xfer_size max_dma_maps pgsizes write_multiple"},
		/* Twin socket proposed: answered (it needs the fd index). */
		{"{\"capabilities\":{\"twin_socket\":{\"supported\":true}}}", "twin_socket"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rig r;
		char names[256];

		rig_open(&r, true);
		negotiate(&r, cases[i].json, names, sizeof(names));
		if (strcmp(names, cases[i].want))
			fail_msg("proposed %s: reply has '%s', want '%s'", cases[i].json, names,
				 cases[i].want);
		rig_close(&r);
	}
}

/* A client that proposes no max_data_xfer_size assumes the spec's 1 MiB for
 * the device too, since the device may not answer with its own: a device
 * set up for 64 KiB must then take larger writes from it. (128 KiB: what a
 * socketpair buffers without the device running.) */
static void test_version_default_xfer_honoured(void **state)
{
	const size_t count = 128u * 1024;
	struct vpcie_region_access *w = calloc(1, sizeof(*w) + count);
	struct vpcie_dev_opts o;
	struct rig r;
	char names[64];

	(void)state;
	assert_non_null(w);
	vpcie_dev_opts_defaults(&o);
	o.max_data_xfer_size = 64 * 1024;
	rig_open_opts(&r, true, &o);
	negotiate(&r, "{}", names, sizeof(names));
	assert_string_equal(names, "");
	cfg_write16(&r, PCI_COMMAND, PCI_COMMAND_MEMORY);
	w->region = 2;
	w->count = (uint32_t)count;
	memset(w->data, 0x5a, count);
	assert_int_equal(rig_call(&r, VPCIE_CMD_REGION_WRITE, w, sizeof(*w) + count, NULL, 0, NULL),
			 0);
	assert_int_equal(((uint8_t *)vpcie_dev_bar_mem(r.dev, 2))[count - 1], 0x5a);
	free(w);
	rig_close(&r);

	/* A client that proposes a size is told the device's 64 KiB. */
	rig_open_opts(&r, true, &o);
	{
		struct json_object *root, *c, *v;
		struct vpcie_msg m;

		assert_int_equal(rig_reply(&r, send_version(&r, "{\"capabilities\":"
							    "{\"max_data_xfer_size\":1048576}}", 0), &m), 0);
		c = reply_caps(&m, &root);
		assert_non_null(c);
		assert_true(json_object_object_get_ex(c, "max_data_xfer_size", &v));
		assert_int_equal(json_object_get_int64(v), 64 * 1024);
		json_object_put(root);
		vpcie_msg_release(&m);
	}
	rig_close(&r);
}

/* VERSION with NO_REPLY: whatever the client proposed, no twin socket and no
 * ring may be set up, since their fds could only travel with the reply. */
static void test_version_no_reply(void **state)
{
	struct vpcie_device_info in = {.argsz = sizeof(in)};
	struct rig r;
	int before;

	(void)state;
	rig_open(&r, true);
	before = count_fds();
	send_version(&r,
		     "{\"capabilities\":{\"max_msg_fds\":16,\"twin_socket\":{\"supported\":true},"
		     "\"vpcie_ring\":{\"version\":1}}}",
		     VPCIE_MSGF_NO_REPLY);
	/* The next command's reply shows the VERSION was handled. */
	assert_int_equal(rig_call(&r, VPCIE_CMD_DEVICE_GET_INFO, &in, sizeof(in), NULL, 0, NULL),
			 0);
	assert_true(vpcie_dev_connected(r.dev));
	assert_false(vpcie_dev_ring_active(r.dev));
	assert_int_equal(count_fds(), before);
	{
		/* Nothing arrived besides the GET_INFO reply. */
		struct vpcie_msg m;

		assert_int_equal(vpcie_chan_recv(r.cl, &m, 0), -EAGAIN);
	}
	rig_close(&r);
}

/* ---- DEVICE_GET_REGION_INFO ------------------------------------------------------ */

/* Region info with this argsz: returns the reply's argsz, flags and fd count. */
static void region_info(struct rig *r, unsigned index, uint32_t argsz, uint32_t *rargsz,
			uint32_t *flags, unsigned *nfds)
{
	struct vpcie_region_info req = {.argsz = argsz, .index = index}, info;
	struct vpcie_msg m;

	assert_int_equal(rig_call(r, VPCIE_CMD_DEVICE_GET_REGION_INFO, &req, sizeof(req), NULL, 0,
				  &m), 0);
	assert_true(m.payload_len >= sizeof(info));
	memcpy(&info, m.payload, sizeof(info));
	*rargsz = info.argsz;
	*flags = info.flags;
	*nfds = m.nfds;
	if (info.flags & VFIO_REGION_INFO_FLAG_CAPS)
		assert_true(m.payload_len >= info.argsz);
	vpcie_msg_release(&m);
}

static void test_region_info_fd_with_full_reply(void **state)
{
	uint32_t argsz, flags;
	unsigned nfds;
	struct rig r;
	char names[256];

	(void)state;
	rig_open(&r, true);
	negotiate(&r, NULL, names, sizeof(names));

	/* BAR0 has a sparse-mmap capability: too small a buffer gets the
	 * needed argsz, no capabilities, and no fd. */
	region_info(&r, 0, sizeof(struct vpcie_region_info), &argsz, &flags, &nfds);
	assert_true(argsz > sizeof(struct vpcie_region_info));
	assert_false(flags & VFIO_REGION_INFO_FLAG_CAPS);
	assert_true(flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(nfds, 0);
	/* Asked again with room for everything: capabilities and the fd. */
	region_info(&r, 0, argsz, &argsz, &flags, &nfds);
	assert_true(flags & VFIO_REGION_INFO_FLAG_CAPS);
	assert_int_equal(nfds, 1);

	/* BAR2 has no capabilities: the fixed part is the full info. */
	region_info(&r, 2, sizeof(struct vpcie_region_info), &argsz, &flags, &nfds);
	assert_int_equal(argsz, sizeof(struct vpcie_region_info));
	assert_true(flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(nfds, 1);
	/* A client whose argsz does not even cover the fixed part gets no fd. */
	region_info(&r, 2, 8, &argsz, &flags, &nfds);
	assert_int_equal(nfds, 0);
	rig_close(&r);
}

/* ---- MSI pending bits ------------------------------------------------------------ */

/* Bus mastering on, MSI enabled with 2^log2n vectors. */
static void msi_enable(struct rig *r, unsigned log2n)
{
	uint16_t flags = vpcie_cfg_get16(vpcie_dev_cfg(r->dev), r->msi_off + PCI_MSI_FLAGS);

	cfg_write16(r, PCI_COMMAND, PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY);
	flags = (uint16_t)((flags & ~PCI_MSI_FLAGS_QSIZE) | (log2n << 4) | PCI_MSI_FLAGS_ENABLE);
	cfg_write16(r, r->msi_off + PCI_MSI_FLAGS, flags);
}

static void irq_action(struct rig *r, unsigned index, uint32_t flags, unsigned start,
		       unsigned count, const int *fds)
{
	struct vpcie_irq_set s = {.argsz = sizeof(s), .flags = flags, .index = index,
				  .start = start, .count = count};

	assert_int_equal(rig_call(r, VPCIE_CMD_DEVICE_SET_IRQS, &s, sizeof(s), fds,
				  fds ? count : 0, NULL), 0);
}

static void test_msi_pending_only_enabled_vectors(void **state)
{
	struct rig r;
	char names[256];

	(void)state;
	rig_open(&r, true);
	negotiate(&r, NULL, names, sizeof(names));
	msi_enable(&r, 2); /* 4 vectors */
	cfg_write32(&r, r.msi_off + PCI_MSI_MASK_64, 0xf);
	assert_int_equal(vpcie_dev_irq_raise(r.dev, 3), 0);
	assert_true(vpcie_dev_irq_pending(r.dev, 3));
	/* The host shrinks MSI to one vector: vector 3 no longer exists. */
	msi_enable(&r, 0);
	assert_int_equal(vpcie_dev_irq_vectors(r.dev), 1);
	assert_int_equal(vpcie_dev_irq_raise(r.dev, 3), -EINVAL);
	assert_false(vpcie_dev_irq_pending(r.dev, 3));
	assert_false(vpcie_dev_irq_pending(r.dev, 0));
	rig_close(&r);
}

static void test_msi_pending_without_mask_bits(void **state)
{
	uint8_t before[VPCIE_CFG_SIZE];
	int efd[MSI_VECTORS];
	uint64_t cnt;
	struct rig r;
	char names[256];

	(void)state;
	rig_open(&r, false);
	negotiate(&r, NULL, names, sizeof(names));
	msi_enable(&r, 2);
	for (unsigned i = 0; i < MSI_VECTORS; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(efd[i] >= 0);
	}
	irq_action(&r, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		   0, MSI_VECTORS, efd);
	/* The client masks vector 1 (this MSI has no mask bits of its own). */
	irq_action(&r, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK,
		   1, 1, NULL);
	memcpy(before, vpcie_dev_cfg(r.dev)->data, sizeof(before));
	assert_int_equal(vpcie_dev_irq_raise(r.dev, 1), 0);
	assert_true(vpcie_dev_irq_pending(r.dev, 1));
	assert_false(vpcie_dev_irq_pending(r.dev, 0));
	assert_int_equal(read(efd[1], &cnt, sizeof(cnt)), -1);
	/* Pending is the device's business: config space is untouched (the
	 * capability has no Pending Bits; the bytes after it are the vendor
	 * capability's). */
	assert_memory_equal(vpcie_dev_cfg(r.dev)->data, before, sizeof(before));
	/* Unmasked: delivered, no longer pending. */
	irq_action(&r, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
		   1, 1, NULL);
	assert_int_equal(read(efd[1], &cnt, sizeof(cnt)), (ssize_t)sizeof(cnt));
	assert_false(vpcie_dev_irq_pending(r.dev, 1));
	for (unsigned i = 0; i < MSI_VECTORS; i++)
		close(efd[i]);
	rig_close(&r);
}

/* ---- Options ---------------------------------------------------------------------- */

static void test_max_msg_fds_refused(void **state)
{
	const struct vpcie_ids ids = {.vendor = 0x1234, .device = 0x5651};
	struct vpcie_dev_opts o;
	struct vpcie_dev *dev;

	(void)state;
	vpcie_dev_opts_defaults(&o);
	o.max_msg_fds = 0;
	errno = 0;
	assert_null(vpcie_dev_new(&ids, NULL, NULL, &o));
	assert_int_equal(errno, EINVAL);
	o.max_msg_fds = VPCIE_MAX_FDS_LIMIT + 1;
	errno = 0;
	assert_null(vpcie_dev_new(&ids, NULL, NULL, &o));
	assert_int_equal(errno, EINVAL);
	o.max_msg_fds = 1;
	dev = vpcie_dev_new(&ids, NULL, NULL, &o);
	assert_non_null(dev);
	vpcie_dev_free(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_no_caps_proposed),
		cmocka_unit_test(test_version_subset),
		cmocka_unit_test(test_version_default_xfer_honoured),
		cmocka_unit_test(test_version_no_reply),
		cmocka_unit_test(test_region_info_fd_with_full_reply),
		cmocka_unit_test(test_msi_pending_only_enabled_vectors),
		cmocka_unit_test(test_msi_pending_without_mask_bits),
		cmocka_unit_test(test_max_msg_fds_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
