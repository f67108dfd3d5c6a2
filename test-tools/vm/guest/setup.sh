#!/bin/sh
# Run inside the new root (chrooted, emulated) by build-image.sh: what a Raspberry Pi OS system sets up for GPIO,
# plus the two units through which a test drives the VM from the 9p share the host gives it (tag "host").
set -e
cd /tmp/guest
echo pi-vm > /etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 pi-vm\n' > /etc/hosts
printf 'LABEL=root / ext4 rw,errors=remount-ro 0 1\nhost /mnt/host 9p trans=virtio,version=9p2000.L,msize=262144,nofail 0 0\n' > /etc/fstab
mkdir -p /mnt/host /var/log/journal
# The gpio group owns /dev/gpiochip*, as on Raspberry Pi OS (its postinst adds the service user to it).
groupadd --system gpio
install -m 0644 60-gpiochip.rules /etc/udev/rules.d/60-gpiochip.rules
install -m 0644 vm-boot.service vm-runner.service /etc/systemd/system/
install -m 0644 wired.network /etc/systemd/network/wired.network
systemctl enable vm-boot.service vm-runner.service systemd-networkd.service
# Nothing scheduled that a test did not ask for (and no package lists: the VM reaches no mirror).
systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer 2>/dev/null || true
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
passwd -d root
