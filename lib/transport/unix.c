/* SPDX-License-Identifier: MIT */
/* AF_UNIX stream endpoints: listening for and connecting to a device. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vpcie/transport.h>

#include "../util/util.h"

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

/* Is something accepting connections on path? */
static bool socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return alive;
}

int vpcie_unix_listen(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, ret = fill_addr(&sa, path);

	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		/* Replace a stale socket file left by a dead process, nothing else. */
		if (ret == -EADDRINUSE && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    !socket_alive(&sa) && unlink(path) == 0 &&
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			ret = 0;
		if (ret) {
			close(fd);
			return ret;
		}
	}
	if (listen(fd, 8) < 0) {
		ret = -errno;
		close(fd);
		unlink(path);
		return ret;
	}
	return fd;
}

int vpcie_unix_connect(const char *path, int timeout_ms)
{
	uint64_t deadline = vpcie_deadline(timeout_ms);
	struct sockaddr_un sa;
	int ret = fill_addr(&sa, path);

	if (ret)
		return ret;
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		ret = -errno;
		close(fd);
		/* The device may still be starting: retry until the deadline. */
		if ((ret != -ENOENT && ret != -ECONNREFUSED && ret != -EAGAIN) ||
		    vpcie_ms_left(deadline) == 0)
			return ret;
		poll(NULL, 0, 10);
	}
}
