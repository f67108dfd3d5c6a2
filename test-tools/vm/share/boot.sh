#!/bin/sh
# Run at every boot before the agent (vm-boot.service): makes the GPIO chip a Pi's header has with gpio-sim
# (/dev/gpiochip0 labelled pinctrl-rp1, lines GPIO0..GPIO27; qemu's own PL061 is kept off it on the kernel command
# line) and sets each line the test listed in gpio-pulls ("17 pull-down") as the simulator's pull, the level the line
# reads. /run/gpio-sim names the chip's sysfs directory, where sim_gpioN/pull moves a line.
set -eu
modprobe gpio-sim
cfg=/sys/kernel/config/gpio-sim/pi
mkdir "$cfg" "$cfg/bank0"
echo 28 > "$cfg/bank0/num_lines"
echo pinctrl-rp1 > "$cfg/bank0/label"
i=0
while [ "$i" -lt 28 ]; do
  mkdir "$cfg/bank0/line$i" && echo "GPIO$i" > "$cfg/bank0/line$i/name"
  i=$((i + 1))
done
echo 1 > "$cfg/live"
sim="/sys/devices/platform/$(cat "$cfg/dev_name")/$(cat "$cfg/bank0/chip_name")"
# The udev rule's group and mode are on /dev/gpiochip0 before the agent starts.
udevadm settle
echo "$sim" > /run/gpio-sim
if [ -f /mnt/host/gpio-pulls ]; then
  while read -r line pull; do echo "$pull" > "$sim/sim_gpio$line/pull"; done < /mnt/host/gpio-pulls
fi
