#!/usr/bin/env bash
# Prints the directory of the trixie arm64 VM image (rootfs.img, vmlinuz, initrd.img), building it first when the cache
# (test-tools/vm-cache/<hash of build-image.sh and guest/>) has none: a build takes ~10 min, a cached image nothing.
# Installs what building and booting need on a Debian machine: mmdebstrap, arch-test (its check that arm64 binaries
# run), qemu-user-static with binfmt (the root's maintainer scripts run emulated), e2fsprogs (mke2fs -d),
# qemu-system-arm (qemu-system-aarch64), qemu-utils (qemu-img: each VM's overlay), socat (the VM's per-connection
# forwards to the host's loopback), gpg, gpg-agent and dpkg-dev (make-repo.sh's signed repository).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
source "$repo/scripts/lib.sh"
ensure_debian_packages mmdebstrap arch-test qemu-user-static binfmt-support e2fsprogs qemu-system-arm qemu-utils socat gpg gpg-agent dpkg-dev \
  debian-archive-keyring >&2
key=$(cd "$here" && cat build-image.sh guest/* | sha256sum | cut -c1-16)
cache="$repo/test-tools/vm-cache"
dir="$cache/trixie-arm64-$key"
if [ ! -f "$dir/.complete" ]; then
  # binfmt_misc: arm64 binaries in the new root run through qemu-aarch64-static (registered with the F flag, so
  # inside the chroot too).
  [ -e /proc/sys/fs/binfmt_misc/register ] || as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  as_root update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "ensure-image.sh: no binfmt_misc entry for qemu-aarch64" >&2; exit 1; }
  rm -rf "$cache" && mkdir -p "$cache"
  start=$(date +%s)
  as_root "$here/build-image.sh" "$dir" "$(debian_mirror)" >&2
  echo "the VM image was built in $(( $(date +%s) - start )) s" >&2
fi
echo "$dir"
