#!/usr/bin/env bash
# Builds the arm64 Debian 13 (trixie) system the VM tests boot under qemu-system-aarch64, into DIR:
#   test-tools/vm/build-image.sh DIR [DEBIAN-MIRROR]
# DIR gets rootfs.img (ext4, the whole system), vmlinuz and initrd.img (booted directly, no firmware) and .complete.
# The kernel is trixie-backports' linux-image-arm64: Debian's stable kernels lack CONFIG_GPIO_SIM. Built by
# mmdebstrap through qemu-user binfmt (the maintainer scripts run emulated, ~10 min), mke2fs -d makes the image
# without loop mounts. The result is kept in the cache that test-tools/vm/ensure-image.sh keys by this directory's hash.
set -euo pipefail
out="$1"
here="$(cd "$(dirname "$0")" && pwd)"
mirror="${2:-http://deb.debian.org/debian}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# What a Raspberry Pi OS trixie system has that the agent needs (systemd, udev, libgpiod 2 and its tools, the agent's
# Depends and Recommends, timesyncd); the kernel and initramfs come in the hook below, from backports.
packages=systemd-sysv,udev,kmod,dbus,libgpiod3,gpiod,libturbojpeg0,libssl3t64,sqlite3,systemd-timesyncd,initramfs-tools,zstd,procps
mmdebstrap --arch=arm64 --variant=minbase --include="$packages" \
  --dpkgopt=force-unsafe-io \
  --customize-hook='chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -t trixie-backports linux-image-arm64' \
  --customize-hook="copy-in $here/guest /tmp" \
  --customize-hook='chroot "$1" sh /tmp/guest/setup.sh' \
  --customize-hook='rm -rf "$1"/tmp/guest "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
  --customize-hook='cp -L "$1"/vmlinuz "$1"/initrd.img '"$work/" \
  trixie "$work/root.tar" \
  "deb $mirror trixie main" "deb $mirror trixie-backports main"

mkdir -p "$work/root"
tar -C "$work/root" --numeric-owner -xpf "$work/root.tar"
rm "$work/root.tar"
# 3 GiB, sparse: room for the agent, its evidence and the journal across several boots.
rm -f "$out/rootfs.img.new"
mkdir -p "$out"
mke2fs -q -t ext4 -L root -d "$work/root" "$out/rootfs.img.new" 3G
mv "$out/rootfs.img.new" "$out/rootfs.img"
mv "$work/vmlinuz" "$out/vmlinuz"
mv "$work/initrd.img" "$out/initrd.img"
touch "$out/.complete"
