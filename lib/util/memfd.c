/* SPDX-License-Identifier: MIT */
/*
 * Shared memory that a peer maps. Ours is sealed against resizing, so a peer
 * holding the fd cannot shrink it under our mapping (which would fault on
 * access); a peer's fd is checked for the same seal.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "util.h"

int vpcie_memfd_sized(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

bool vpcie_fd_size_sealed(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	return seals >= 0 && (seals & F_SEAL_SHRINK);
}

bool vpcie_fd_map_safe(int fd)
{
	struct statfs fs;

	if (!vpcie_fd_size_sealed(fd))
		return false;
	/* hugetlbfs: the seal stops truncation but not FALLOC_FL_PUNCH_HOLE, and
	 * a punched huge page that is touched again faults in a fresh one from
	 * the pool - SIGBUS when the pool is empty. (A punched shmem page comes
	 * back as a zero page: harmless.) */
	return fstatfs(fd, &fs) == 0 && fs.f_type != HUGETLBFS_MAGIC;
}
