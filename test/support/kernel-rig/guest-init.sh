#!/bin/sh
# PID 1 of the test guest (busybox, from the initramfs). It loads the rig's modules, mounts the
# host's / read-only over 9p (tag hostroot) and the run's output folder read-write (tag out),
# chroots into the host's tree so the guest runs the host's own node and built addon, runs the
# command from the kernel command line, and hands its exit status back to qemu.
# Kernel command line: pc.out=<host folder shared rw> pc.cmd=<script to run inside the chroot>
# pc.scale=<the host's load factor>
#   pc.repo=<the checkout the command comes from; kept visible even when it lives under /tmp>
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r mod args; do
  # shellcheck disable=SC2086  # module parameters are separate words on purpose
  insmod "/lib/modules/$mod" $args || echo "[init] insmod $mod failed"
done < /modules.order
mount -t configfs none /sys/kernel/config
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
OUT=$(arg pc.out)
CMD=$(arg pc.cmd)
REPO=$(arg pc.repo)
# The host's load factor when it started the VM (test/support/wait.ts): the guest's waits stretch by it.
SCALE=$(arg pc.scale)
mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose hostroot /host
for d in proc sys dev; do mount --rbind "/$d" "/host/$d"; done
# The guest gets its own empty /tmp and /run. A checkout under the host's /tmp (CI may clone
# there) would vanish under that tmpfs, so hold it on a bind mount first and put it back after.
mkdir -p /repo
[ -n "$REPO" ] && mount --bind "/host$REPO" /repo
mount -t tmpfs tmp /host/tmp
mount -t tmpfs run /host/run
if [ -n "$REPO" ]; then mkdir -p "/host$REPO" && mount --bind /repo "/host$REPO"; fi
# The output folder is mounted after the tmpfs, so it may live under /tmp on the host.
mkdir -p "/host$OUT"
mount -t 9p -o trans=virtio,version=9p2000.L,rw,msize=524288 out "/host$OUT"
echo "[init] kernel $(uname -r), at $(cut -d' ' -f1 /proc/uptime)s"
chroot /host /bin/sh -c "cd '$OUT' && HOME=/tmp PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin PC_GUEST_OUT='$OUT' PC_WAIT_SCALE='${SCALE:-1}' $CMD"
RC=$?
echo "[init] guest command rc=$RC at $(cut -d' ' -f1 /proc/uptime)s"
sync
# isa-debug-exit at port 0xf4: qemu exits with 2*value+1; value = rc+16 keeps it apart from
# qemu's own exit codes (0, 1), so the runner can tell "the guest reported" from "qemu failed".
printf "\\$(printf %o $((RC + 16)))" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
