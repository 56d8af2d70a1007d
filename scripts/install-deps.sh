#!/usr/bin/env bash
# Install vpcie's build and test dependencies from Debian's archive.
# Each one is justified in README.md ("Dependencies").
set -euo pipefail

pkgs=(
	meson ninja-build pkg-config gcc clang   # build, both compilers CI uses
	libclang-rt-14-dev                        # clang's ASan/UBSan/libFuzzer runtimes
	llvm-14                                   # llvm-profdata/llvm-cov: scripts/fuzz-long.sh's line coverage
	linux-libc-dev                            # <linux/vfio.h>, <linux/pci_regs.h>, <linux/pcitest.h>
	libjson-c-dev                             # VERSION capabilities (JSON)
	libgnutls28-dev                           # TLS 1.3 with pre-shared keys for vfio-user over TCP
	gnutls-bin                                # psktool: the key files the TLS tests use
	iproute2                                  # `ip netns`, veth: the proxy guest test and `vpcie bench`'s veth.tls.* paths
	nftables                                  # nft: random packet loss on the proxy guest test's veth (no sch_netem here)
	zlib1g-dev                                # CRC32 for the epf-test checksum
	libcmocka-dev                             # unit tests
	pciutils                                  # lspci decodes our config dumps in tests
	python3                                   # test-result summary
	gnuplot-nox                               # `vpcie bench --plot`: latency/bandwidth PNGs (no X11)
	verilator g++                             # RTL devices (rtl/): Verilog to C++, the shim and model (+ make, below)
	ghdl-llvm                                 # VHDL devices (rtl/ghdl): GHDL's LLVM back-end, objects a C main links
	tshark                                    # the trace test decodes `vpcie trace --pcap` (tools/wireshark/vpcie.lua)
	# guest tests (scripts/vm): fetch and unpack Debian's QEMU/kernel packages,
	# build pci_endpoint_test.ko and static guest programs
	xz-utils make binutils libc6-dev debian-archive-keyring
	e2fsprogs                                 # the virtio-blk guest test checks the guest's ext2 from the host
	util-linux gzip                           # setsid/flock and initramfs compression (Priority: required, listed anyway)
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark: no setuid dumpcap group (asked interactively otherwise); we only read files.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
