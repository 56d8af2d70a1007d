#!/usr/bin/env bash
# The virtio-blk guest test (test-virtio-blk.sh: ext2 written, read back in a
# second boot, fsck-clean from the host, guest RAM shared and private) with
# the device behind `vpcie proxy` over TCP: QEMU's vfio-user-pci talks to the
# proxy, the proxy to vpcie-virtio-blk, and no fd reaches the device.
exec "$(dirname "$0")/test-virtio-blk.sh" --via-proxy "$@"
