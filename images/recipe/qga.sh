#!/bin/sh
# Respawned by busybox init: run qemu-guest-agent on the virtio-serial port that L0 named
# org.qemu.guest_agent.0 (no udev here, so find /dev/vportNpM through sysfs).
for i in $(seq 1 50); do
  for p in /sys/class/virtio-ports/*; do
    if [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ]; then
      echo "nested-l1: qemu-ga on /dev/${p##*/}" > /dev/console
      exec /usr/sbin/qemu-ga -m virtio-serial -p "/dev/${p##*/}" -t /run
    fi
  done
  sleep 0.2
done
echo "nested-l1: no org.qemu.guest_agent.0 port" > /dev/console
sleep 5
