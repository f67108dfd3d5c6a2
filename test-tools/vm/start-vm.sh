#!/usr/bin/env bash
# Boots the trixie arm64 image under qemu-system-aarch64 (TCG: no KVM needed) and runs until the guest powers off:
#   test-tools/vm/start-vm.sh IMAGE-DIR DISK SHARE-DIR API-PORT CONSOLE-LOG [HOST-PORT...]
# DISK: a qcow2 overlay on IMAGE-DIR/rootfs.img (writes stay in it; ensure-image.sh's image is never written).
# SHARE-DIR: the 9p share (tag "host") with boot.sh and runner.sh. API-PORT: the host's 127.0.0.1 port that reaches
# the guest's 8082. Each HOST-PORT (a camera, broker or S3 server on the host's loopback) is reached from the guest
# at 10.0.2.100 on the same port, one socat per connection; with restrict=on nothing else leaves the guest (no
# DNS, NTP or apt traffic).
set -euo pipefail
image="$1" disk="$2" share="$3" api="$4" console="$5"
shift 5
net="user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:$api-:8082"
for port in "$@"; do net="$net,guestfwd=tcp:10.0.2.100:$port-cmd:socat - TCP:127.0.0.1:$port"; done
# pl061: qemu's virt board has its own GPIO controller; kept off, gpio-sim's chip is gpiochip0 as on a Pi.
exec qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 \
  -display none -monitor none -serial "file:$console" \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
  -append "root=/dev/vda rw console=ttyAMA0 initcall_blacklist=pl061_gpio_driver_init" \
  -drive "file=$disk,if=none,id=hd,format=qcow2,cache=writeback" -device virtio-blk-pci,drive=hd \
  -netdev "$net" -device virtio-net-pci,netdev=net0,romfile= \
  -fsdev "local,id=share,path=$share,security_model=none" -device virtio-9p-pci,fsdev=share,mount_tag=host \
  -device virtio-rng-pci
