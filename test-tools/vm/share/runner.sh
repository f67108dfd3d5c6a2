#!/bin/bash
# Run by vm-runner.service after boot: marks the boot (boots/<boot id>), then runs each cmd/NAME.sh the host puts in
# the share once, in name order, as root: its output goes to NAME.out, its exit status to NAME.rc (written last, by a
# rename, so the host never reads half of it). A command cut short by a reboot or power cut never gets its .rc.
share=/mnt/host
boot=$(cat /proc/sys/kernel/random/boot_id)
mkdir -p "$share/boots" "$share/cmd"
echo "$boot" > "$share/boots/$boot.tmp" && mv "$share/boots/$boot.tmp" "$share/boots/$boot"
while :; do
  for f in "$share"/cmd/*.sh; do
    [ -e "$f" ] || continue
    n="${f%.sh}"
    [ -e "$n.started" ] && continue
    echo "$boot" > "$n.started"
    bash "$f" > "$n.out" 2>&1
    echo $? > "$n.rc.tmp" && mv "$n.rc.tmp" "$n.rc"
  done
  sleep 0.2
done
