#!/bin/sh
# PID 1 of the test guest (busybox, from the initramfs). It loads the rig's modules, mounts the
# host's / read-only over 9p (tag hostroot) and the run's output folder read-write (tag out),
# chroots into the host's tree so the guest runs the host's own node and built addon, runs the
# command from the kernel command line, and hands its exit status back to qemu.
# Kernel command line: pc.out=<host folder shared rw> pc.cmd=<script to run inside the chroot>
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
mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose hostroot /host
for d in proc sys dev; do mount --rbind "/$d" "/host/$d"; done
mount -t tmpfs tmp /host/tmp
mount -t tmpfs run /host/run
# The output folder is mounted after the tmpfs, so it may live under /tmp on the host.
mkdir -p "/host$OUT"
mount -t 9p -o trans=virtio,version=9p2000.L,rw,msize=524288 out "/host$OUT"
echo "[init] kernel $(uname -r), at $(cut -d' ' -f1 /proc/uptime)s"
chroot /host /bin/sh -c "cd '$OUT' && HOME=/tmp PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin PC_GUEST_OUT='$OUT' $CMD"
RC=$?
echo "[init] guest command rc=$RC at $(cut -d' ' -f1 /proc/uptime)s"
sync
# isa-debug-exit at port 0xf4: qemu exits with 2*value+1; value = rc+16 keeps it apart from
# qemu's own exit codes (0, 1), so the runner can tell "the guest reported" from "qemu failed".
printf "\\$(printf %o $((RC + 16)))" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
