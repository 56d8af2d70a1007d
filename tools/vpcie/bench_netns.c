/* SPDX-License-Identifier: MIT */
/*
 * `vpcie bench`: a veth pair into a network namespace, made for the veth.*
 * paths and removed after them (`ip netns`, `ip link`: iproute2). The
 * device and the floor peers' sockets live in the namespace, at
 * 10.251.N.2; this process stays in its own, at 10.251.N.1, so every byte
 * crosses the veth pair as it would cross a link between two machines
 * (minus the wire). Not loopback: the runtime insists on TLS there.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_priv.h"

/* Run `ip ARGS...` quietly: 0 if it exited 0. */
static int run_ip(const char *const *argv)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		if (nul >= 0) {
			dup2(nul, 1);
			dup2(nul, 2);
		}
		execvp("ip", (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EPERM;
}

void netns_teardown(struct bench *b)
{
	if (b->ns_fd >= 0)
		close(b->ns_fd);
	if (b->root_ns_fd >= 0)
		close(b->root_ns_fd);
	b->ns_fd = b->root_ns_fd = -1;
	if (b->ns_name[0]) {
		/* Deleting the namespace deletes the veth end in it, and so the pair. */
		const char *del[] = {"ip", "netns", "del", b->ns_name, NULL};

		run_ip(del);
		b->ns_name[0] = 0;
	}
	b->veth = false;
}

int netns_setup(struct bench *b, char *why, size_t whylen)
{
	unsigned n = (unsigned)getpid() % 250u + 1u;
	char v0[16], v1[16], a0[24], a1[24], path[80];

	b->ns_fd = b->root_ns_fd = -1;
	snprintf(b->ns_name, sizeof(b->ns_name), "vpcie-bench-%d", (int)getpid());
	snprintf(v0, sizeof(v0), "vpb0-%u", (unsigned)getpid() % 100000u);
	snprintf(v1, sizeof(v1), "vpb1-%u", (unsigned)getpid() % 100000u);
	snprintf(a0, sizeof(a0), "10.251.%u.1/24", n);
	snprintf(a1, sizeof(a1), "10.251.%u.2/24", n);
	snprintf(b->ns_ip, sizeof(b->ns_ip), "10.251.%u.2", n);
	{
		const char *add[] = {"ip", "netns", "add", b->ns_name, NULL};

		if (run_ip(add)) {
			snprintf(why, whylen, "`ip netns add` failed (needs root and iproute2)");
			b->ns_name[0] = 0;
			return -EPERM;
		}
	}
	const char *const cmds[][10] = {
		{"ip", "link", "add", v0, "type", "veth", "peer", "name", v1, NULL},
		{"ip", "link", "set", v1, "netns", b->ns_name, NULL},
		{"ip", "addr", "add", a0, "dev", v0, NULL},
		{"ip", "link", "set", v0, "up", NULL},
		{"ip", "-n", b->ns_name, "addr", "add", a1, "dev", v1, NULL},
		{"ip", "-n", b->ns_name, "link", "set", v1, "up", NULL},
		{"ip", "-n", b->ns_name, "link", "set", "lo", "up", NULL},
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (run_ip(cmds[i])) {
			snprintf(why, whylen, "`ip %s %s %s` failed", cmds[i][1], cmds[i][2],
				 cmds[i][3]);
			if (i == 0) {
				const char *del[] = {"ip", "link", "del", v0, NULL};

				run_ip(del);
			}
			netns_teardown(b);
			return -EPERM;
		}
	}
	snprintf(path, sizeof(path), "/run/netns/%s", b->ns_name);
	b->ns_fd = open(path, O_RDONLY | O_CLOEXEC);
	b->root_ns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (b->ns_fd < 0 || b->root_ns_fd < 0) {
		snprintf(why, whylen, "cannot open the namespaces: %s", strerror(errno));
		netns_teardown(b);
		return -EPERM;
	}
	b->veth = true;
	return 0;
}

int netns_enter(const struct bench *b)
{
	return setns(b->ns_fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

int netns_socket(const struct bench *b, int type)
{
	int fd, e;

	if (!b->veth) {
		fd = socket(AF_INET, type, 0);
		return fd < 0 ? -errno : fd;
	}
	if (setns(b->ns_fd, CLONE_NEWNET) < 0)
		return -errno;
	fd = socket(AF_INET, type, 0);
	e = errno;
	if (setns(b->root_ns_fd, CLONE_NEWNET) < 0) {
		/* Stuck in the namespace: nothing below would be measured right. */
		perror("vpcie bench: setns back");
		_exit(1);
	}
	return fd < 0 ? -e : fd;
}
