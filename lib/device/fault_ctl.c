// SPDX-License-Identifier: MIT
/*
 * The fault control socket (vpcie/fault.h): text lines from one local peer
 * at a time, which may be hostile - a bounded line buffer, non-blocking
 * reads and writes, and an error line for anything that is not a command.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fault_priv.h"

static void client_close(struct vpcie_dev *dev, struct dev_fault *f)
{
	if (f->ctl_client < 0)
		return;
	if (dev)
		epoll_ctl(dev->epfd, EPOLL_CTL_DEL, f->ctl_client, NULL);
	close(f->ctl_client);
	f->ctl_client = -1;
	f->ctl_len = 0;
}

void dev_fault_ctl_close(struct dev_fault *f)
{
	client_close(NULL, f);
	if (f->ctl_fd >= 0)
		close(f->ctl_fd);
	f->ctl_fd = -1;
	if (f->ctl_path) {
		unlink(f->ctl_path);
		free(f->ctl_path);
		f->ctl_path = NULL;
	}
}

/* A listening socket only we may connect to: mode 0600 before listen(), so
 * no connection is accepted while it is still open to others. */
static int ctl_listen(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* The device socket next to it is ours (we listen on it), so a socket
	 * file here is a stale one of an earlier run. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (chmod(path, 0600) < 0 || listen(fd, 4) < 0) {
		ret = -errno;
		close(fd);
		unlink(path);
		return ret;
	}
	return fd;
}

int vpcie_dev_fault_control(struct vpcie_dev *dev, const char *path)
{
	struct dev_fault *f;
	int fd, ret = dev_fault_ensure(dev);

	if (ret)
		return ret;
	f = dev->fault;
	if (f->ctl_fd >= 0)
		return -EBUSY;
	fd = ctl_listen(path);
	if (fd < 0)
		return fd;
	f->ctl_path = strdup(path);
	ret = f->ctl_path ? dev_ep_add(dev, fd) : -ENOMEM;
	if (ret) {
		close(fd);
		unlink(path);
		free(f->ctl_path);
		f->ctl_path = NULL;
		return ret;
	}
	f->ctl_fd = fd;
	vpcie_info(&dev->log, "fault control on %s", path);
	return 0;
}

int dev_fault_ctl_serve(struct vpcie_dev *dev, const char *socket_path)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int ret;

	if (!dev->opts.fault_control)
		return 0;
	if (!socket_path) {
		vpcie_err(&dev->log, "fault control needs a socket path (not --fd)");
		return -EINVAL;
	}
	if (!dev->sock_path) {
		vpcie_err(&dev->log, "fault control sits beside a UNIX socket; %s is not one",
			  socket_path);
		return -EINVAL;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s.fault", dev->sock_path) >= sizeof(path))
		return -ENAMETOOLONG;
	ret = vpcie_dev_fault_control(dev, path);
	if (ret)
		vpcie_err(&dev->log, "cannot open fault control %s: %s", path, strerror(-ret));
	return ret;
}

/* Answer lines; a peer that does not read them is dropped. */
static bool say(struct vpcie_dev *dev, const char *fmt, ...)
{
	struct dev_fault *f = dev->fault;
	char line[VPCIE_FAULT_SPEC_MAX + 128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return false;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (send(f->ctl_client, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
		client_close(dev, f);
		return false;
	}
	return true;
}

static void cmd_list(struct vpcie_dev *dev)
{
	struct vpcie_fault_info in;
	char spec[VPCIE_FAULT_SPEC_MAX + 1];
	unsigned i;

	for (i = 0; vpcie_fault_set_get(dev->fault->set, i, &in); i++) {
		vpcie_fault_format(&in.rule, spec, sizeof(spec));
		if (!say(dev, "rule %u %s fired=%" PRIu64 " seen=%" PRIu64 "%s", in.id, spec,
			 in.fired, in.seen, in.spent ? " spent" : ""))
			return;
	}
	say(dev, "ok %u rules", i);
}

static void command(struct vpcie_dev *dev, char *line)
{
	char err[160] = "";
	char *arg = strchr(line, ' ');
	int ret;

	if (arg)
		*arg++ = '\0';
	if (!strcmp(line, "add") && arg) {
		ret = vpcie_dev_fault_add(dev, arg, err, sizeof(err));
		if (ret < 0)
			say(dev, "error %s", err);
		else
			say(dev, "ok %d", ret);
	} else if (!strcmp(line, "clear")) {
		char *end = NULL;
		unsigned long id = 0;

		if (arg) {
			errno = 0;
			id = strtoul(arg, &end, 10);
			if (errno || *end || !*arg || *arg == '-' || !id || id > 1000000000ul) {
				say(dev, "error clear takes a rule id (a number >= 1), or nothing for all");
				return;
			}
		}
		ret = vpcie_dev_fault_clear(dev, (unsigned)id);
		if (ret < 0)
			say(dev, "error no rule %lu", id);
		else
			say(dev, "ok %d cleared", ret);
	} else if (!strcmp(line, "list") && !arg) {
		cmd_list(dev);
	} else {
		say(dev, "error unknown command (add SPEC | clear [ID] | list)");
	}
}

static void client_read(struct vpcie_dev *dev)
{
	struct dev_fault *f = dev->fault;
	ssize_t n = recv(f->ctl_client, f->ctl_buf + f->ctl_len, sizeof(f->ctl_buf) - f->ctl_len,
			 MSG_DONTWAIT);
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(dev, f);
		return;
	}
	f->ctl_len += (size_t)n;
	while (f->ctl_client >= 0 && (nl = memchr(f->ctl_buf, '\n', f->ctl_len))) {
		size_t used = (size_t)(nl - f->ctl_buf) + 1;
		bool nul = memchr(f->ctl_buf, '\0', used - 1) != NULL;

		*nl = '\0';
		if (nl > f->ctl_buf && nl[-1] == '\r')
			nl[-1] = '\0';
		if (nul)
			say(dev, "error NUL byte in the line");
		else
			command(dev, f->ctl_buf);
		if (f->ctl_client < 0)
			return;
		memmove(f->ctl_buf, f->ctl_buf + used, f->ctl_len - used);
		f->ctl_len -= used;
	}
	if (f->ctl_client >= 0 && f->ctl_len == sizeof(f->ctl_buf)) {
		say(dev, "error line longer than %u bytes", VPCIE_FAULT_CTL_LINE_MAX - 1);
		client_close(dev, f);
	}
}

bool dev_fault_ctl_event(struct vpcie_dev *dev, int fd)
{
	struct dev_fault *f = dev->fault;

	if (!f || fd < 0)
		return false;
	if (fd == f->ctl_fd) {
		int c = accept4(f->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (c < 0)
			return true;
		client_close(dev, f); /* one peer at a time: the newest */
		if (dev_ep_add(dev, c)) {
			close(c);
			return true;
		}
		f->ctl_client = c;
		return true;
	}
	if (fd == f->ctl_client) {
		client_read(dev);
		return true;
	}
	return false;
}
