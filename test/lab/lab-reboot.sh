#!/usr/bin/env bash
# lab-reboot.sh ROOT HOSTDIR : what a reboot of a lab "Pi" means in the lab, run detached as root
# from inside the host (its fake root's sbin/reboot starts it). A lab host has no kernel of its own,
# so this plays the firmware's and the kernel's part on the files a real boot would change:
#   - the host's sshd and every session go down (killed by pid), so clients see the host disappear;
#   - the "firmware" reads boot/firmware/cmdline.txt when the fake root has boot/firmware/ (Bookworm),
#     else boot/cmdline.txt, and only its first line becomes proc/cmdline, as on a Pi;
#   - the "kernel" turns the memory controller on in proc/cgroups when that line has
#     cgroup_enable=memory and no cgroup_disable=memory, unless HOSTDIR/lab-kernel-ignores-cgroup-flags
#     exists (a knob standing for a kernel that ignores the flags, as the Pi 5 quirk does);
#   - proc/swaps lists var/swap again unless it was uninstalled or dphys-swapfile's unit masked;
#   - a new boot id; then sshd starts again with the same host key.
# It does not reboot anything, run a boot loader or a kernel, or check that a real Pi reads these files.
set -u
ROOT=$1 D=$2
sleep 0.3 # let the reboot command's SSH channel finish, as a real shutdown takes a moment too
kill_tree() {
  local p kids
  for p in "$@"; do
    kids=$(pgrep -P "$p" || true)
    # shellcheck disable=SC2086
    [ -n "$kids" ] && kill_tree $kids
    kill -KILL "$p" 2> /dev/null || true
  done
}
kill_tree "$(cat "$D/sshd.pid")"
if [ -d "$ROOT/boot/firmware" ]; then f="$ROOT/boot/firmware/cmdline.txt"; else f="$ROOT/boot/cmdline.txt"; fi
line=$(head -n 1 "$f" 2> /dev/null || true)
printf '%s\n' "$line" > "$ROOT/proc/cmdline"
mem=0
case " $line " in *" cgroup_enable=memory "*) mem=1 ;; esac
case " $line " in *" cgroup_disable=memory "*) mem=0 ;; esac
[ -e "$D/lab-kernel-ignores-cgroup-flags" ] && mem=0
sed -i -E "s/^(memory[[:space:]]+[0-9]+[[:space:]]+[0-9]+[[:space:]]+)[01]$/\1$mem/" "$ROOT/proc/cgroups"
printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' > "$ROOT/proc/swaps"
if [ -e "$ROOT/var/swap" ] && [ ! -L "$ROOT/etc/systemd/system/dphys-swapfile.service" ]; then
  printf '/var/swap                               file\t\t102396\t\t0\t\t-2\n' >> "$ROOT/proc/swaps"
fi
cat /proc/sys/kernel/random/uuid > "$ROOT/proc/sys/kernel/random/boot_id"
nsenter -t "$(cat "$D/holder.pid")" -n -u -m /usr/sbin/sshd -D -f "$D/sshd_config" -E "$D/sshd.log" < /dev/null > /dev/null 2>&1 &
