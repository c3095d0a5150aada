#!/usr/bin/env bash
# avahi-browse-time.sh : the benchmark's mDNS baseline. In the lab's controller namespace, inside a private
# mount namespace (a tmpfs /run), start a private D-Bus system bus and Debian's avahi-daemon on it, wait for
# the daemon, then time Debian's `avahi-browse -a -r -p -t -k` (resolve everything, stop at "all for now").
# Prints "<ms> <hosts resolved with an IPv4 _ssh._tcp address>". The machine's system bus and /run are untouched.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/lab-env.sh"
D="$LAB_DIR/avahi-browse"; rm -rf "$D"; mkdir -p "$D"; chmod 755 "$D"
cat > "$D/bus.conf" << 'EOT'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/><allow send_destination="*"/><allow receive_sender="*"/></policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
</busconfig>
EOT
sed -e 's/^#\?enable-dbus=.*/enable-dbus=yes/' -e 's/^#\?allow-interfaces=.*/allow-interfaces=eth0/' /etc/avahi/avahi-daemon.conf > "$D/avahi-daemon.conf"
ip netns exec "$P-ctl" unshare --uts --mount --propagation private sh -c '
  D=$1; hostname lab-controller; mount -t tmpfs -o mode=755 tmpfs /run; mkdir -p /run/dbus
  dbus-daemon --config-file="$D/bus.conf" --nofork --nopidfile > "$D/dbus.log" 2>&1 & B=$!
  i=0; while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  avahi-daemon -f "$D/avahi-daemon.conf" --no-rlimits --no-chroot > "$D/avahi.log" 2>&1 & A=$!
  i=0; while ! grep -q "Server startup complete" "$D/avahi.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  t0=$(date +%s%N)
  timeout 20 avahi-browse -a -r -p -t -k > "$D/browse.txt" 2> "$D/browse.err" || true
  t1=$(date +%s%N)
  kill $A $B 2> /dev/null; wait 2> /dev/null
  n=$(grep "^=;eth0;IPv4;" "$D/browse.txt" | grep ";_ssh._tcp;" | cut -d";" -f7 | sort -u | wc -l)
  echo "$(( (t1 - t0) / 1000000 )) $n"' sh "$D"
