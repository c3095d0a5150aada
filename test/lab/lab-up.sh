#!/usr/bin/env bash
# lab-up.sh [--hosts N] : the discovery lab. Every piece lives in network namespaces named ${LAB_PREFIX}-*:
#   ${P}-hub   bridge br0 (${NET}.1/24) and dnsmasq as the lab's DHCP server (real lease file, no router, no DNS)
#   ${P}-ctl   the control plane's side: eth0 ${NET}.2/24 (tests run discovery here with `ip netns exec`)
#   ${P}-hK    "Pi" host K: eth0 with a Raspberry Pi OUI MAC, address by DHCP (ISC dhclient with an
#              address-only hook), its own hostname, Debian's stock avahi-daemon advertising it as Raspberry
#              Pi OS does, its own sshd (own host key, users pi with passwordless sudo, nosudo without sudo, and
#              pwsudo whose sudo asks for a password, $LAB_SUDO_PASSWORD, given in lab.json as sudoPassword),
#              and a fake root directory with the files a capability probe reads.
# Nothing is changed in the root namespace: no interface, route, resolv.conf, sysctl or service; no namespace
# gets a default route. State (configs, logs, pids, lease file, keys, fake roots) goes to $LAB_DIR, and
# $LAB_DIR/lab.json describes the lab for the tests. On any failure the trap tears everything down again.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/lab-env.sh"

HOSTS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) HOSTS="$2"; shift 2 ;;
    --hosts=*) HOSTS="${1#*=}"; shift ;;
    *) echo "lab-up: unknown argument $1 (usage: lab-up.sh [--hosts N])" >&2; exit 64 ;;
  esac
done
if ! [[ "$HOSTS" =~ ^[0-9]+$ ]] || [ "$HOSTS" -lt 1 ] || [ "$HOSTS" -gt 40 ]; then
  echo "lab-up: --hosts must be 1..40, not $HOSTS" >&2; exit 64
fi
lab_require
if ip netns list | grep -q "^${P}-"; then
  echo "lab-up: namespaces ${P}-* exist already: run lab-down.sh first" >&2; exit 65
fi

T0=$(date +%s.%N)
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "lab-up: failed (exit $rc), tearing down" >&2; bash "$HERE/lab-down.sh" >&2 || true; fi' EXIT
rm -rf "$LAB_DIR"; mkdir -p "$LAB_DIR"; chmod 755 "$LAB_DIR"

# --- the hub and the controller's namespace --------------------------------------------------------------------
ip netns add "$P-hub"
ip -n "$P-hub" link set lo up
ip -n "$P-hub" link add br0 type bridge
ip -n "$P-hub" link set br0 address 02:00:00:00:00:01
ip -n "$P-hub" addr add "$NET.1/24" dev br0
ip -n "$P-hub" link set br0 up
ip -n "$P-hub" route add 224.0.0.0/4 dev br0

# plug NS: a veth whose far end is eth0 in NS, with MAC, attached to the hub's bridge
plug() { # ns mac
  ip netns add "$1"
  ip -n "$1" link set lo up
  ip -n "$P-hub" link add "v-${1#"$P"-}" type veth peer name eth0 address "$2" netns "$1"
  ip -n "$P-hub" link set "v-${1#"$P"-}" master br0 up
  ip -n "$1" link set eth0 up
}
plug "$P-ctl" 02:00:00:00:00:02
ip -n "$P-ctl" addr add "$NET.2/24" dev eth0
ip -n "$P-ctl" route add 224.0.0.0/4 dev eth0

# --- DHCP: dnsmasq in the hub. --port=0 no DNS; options 3 and 6 empty: no router and no DNS server offered;
# --no-ping: no ICMP check before an offer (it costs 3 s); leases of 1 h so none expires during a run.
mkdir -p "$LAB_DIR/dhcp"
ip netns exec "$P-hub" dnsmasq -k --conf-file=/dev/null --port=0 --interface=br0 --bind-interfaces \
  --dhcp-range="$NET.100,$NET.199,255.255.255.0,1h" --dhcp-option=3 --dhcp-option=6 --dhcp-authoritative --no-ping \
  --dhcp-leasefile="$LAB_DIR/dhcp/dnsmasq.leases" --log-dhcp --log-facility="$LAB_DIR/dhcp/dnsmasq.log" \
  > "$LAB_DIR/dhcp/dnsmasq.out" 2>&1 &
echo $! > "$LAB_DIR/dhcp/dnsmasq.pid"

# --- the SSH key the tests log in with ---------------------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C pi-controller-lab -f "$LAB_DIR/client_key"

# --- the hosts --------------------------------------------------------------------------------------------------
# Model table: poses in this order, repeated for more than five hosts.
#   slug  model string (device-tree)  compatible  revision  MemTotal kB  cpus  arch  cgroup-memory  boot-root  OUI
MODELS=(
  "zero2w|Raspberry Pi Zero 2 W Rev 1.0|raspberrypi,model-zero-2-w brcm,bcm2837|902120|439000|4|aarch64|0|/dev/mmcblk0p2|28:cd:c1"
  "3bplus|Raspberry Pi 3 Model B Plus Rev 1.3|raspberrypi,3-model-b-plus brcm,bcm2837|a020d3|944000|4|armv7l|0|/dev/sda2|b8:27:eb"
  "4b|Raspberry Pi 4 Model B Rev 1.5|raspberrypi,4-model-b brcm,bcm2711|d03115|7999000|4|aarch64|1|/dev/mmcblk0p2|dc:a6:32"
  "400|Raspberry Pi 400 Rev 1.1|raspberrypi,400 brcm,bcm2711|c03131|3881000|4|aarch64|1|/dev/sda2|e4:5f:01"
  "5|Raspberry Pi 5 Model B Rev 1.0|raspberrypi,5-model-b brcm,bcm2712|d04170|8245000|4|aarch64|1|/dev/nvme0n1p2|d8:3a:dd"
)
# Users: uids far from the machine's own; they exist only inside the hosts' mount namespaces (a private
# /etc/passwd and /etc/group are bind-mounted there), so the machine's account files stay untouched.
cp /etc/passwd "$LAB_DIR/passwd"; cp /etc/group "$LAB_DIR/group"
echo "pi:*:4301:4301:lab pi:$LAB_DIR/home/pi:/bin/bash" >> "$LAB_DIR/passwd"
echo "nosudo:*:4302:4302:lab nosudo:$LAB_DIR/home/nosudo:/bin/bash" >> "$LAB_DIR/passwd"
# pwsudo: sudo asks for its password (LAB_SUDO_PASSWORD), and sshd also takes that password as a login
# (key logins work too). The hash sits in the private passwd file: pam_unix and sshd read it there.
LAB_SUDO_PASSWORD='lab pw; $(touch /tmp/pi-controller-lab-pw-marker) `id` "q"'
echo "pwsudo:$(openssl passwd -6 "$LAB_SUDO_PASSWORD"):4303:4303:lab pwsudo:$LAB_DIR/home/pwsudo:/bin/bash" >> "$LAB_DIR/passwd"
printf 'pi:x:4301:\nnosudo:x:4302:\npwsudo:x:4303:\n' >> "$LAB_DIR/group"
for u in pi:4301 nosudo:4302 pwsudo:4303; do
  mkdir -p "$LAB_DIR/home/${u%%:*}/.ssh"
  cp "$LAB_DIR/client_key.pub" "$LAB_DIR/home/${u%%:*}/.ssh/authorized_keys"
  chown -R "${u#*:}:${u#*:}" "$LAB_DIR/home/${u%%:*}"
  chmod 700 "$LAB_DIR/home/${u%%:*}/.ssh"
done
mkdir -p "$LAB_DIR/sudoers.d"
cp -a /etc/sudoers.d/. "$LAB_DIR/sudoers.d/" 2>/dev/null || true
echo 'pi ALL=(ALL) NOPASSWD:ALL' > "$LAB_DIR/sudoers.d/lab-pi"; chmod 440 "$LAB_DIR/sudoers.d/lab-pi"
echo 'pwsudo ALL=(ALL) ALL' > "$LAB_DIR/sudoers.d/lab-pwsudo"; chmod 440 "$LAB_DIR/sudoers.d/lab-pwsudo"

# fake_root DIR fields... : the files a capability probe reads, for one model
fake_root() {
  local r=$1 model=$2 compat=$3 rev=$4 mem=$5 cpus=$6 arch=$7 cg=$8 bootroot=$9 slug=${10}
  mkdir -p "$r/proc/device-tree" "$r/proc/sys/kernel" "$r/boot/firmware" "$r/dev" "$r/etc" "$r/usr/local/bin"
  printf '%s\0' "$model" > "$r/proc/device-tree/model"
  local c; : > "$r/proc/device-tree/compatible"
  for c in $compat; do printf '%s\0' "$c" >> "$r/proc/device-tree/compatible"; done
  local i cpuinfo=""
  for ((i = 0; i < cpus; i++)); do cpuinfo+="processor	: $i"$'\n'"BogoMIPS	: 108.00"$'\n'"CPU implementer	: 0x41"$'\n\n'; done
  printf '%sHardware\t: BCM2835\nRevision\t: %s\nSerial\t\t: 10000000%08x\nModel\t\t: %s\n' "$cpuinfo" "$rev" "$RANDOM" "$model" > "$r/proc/cpuinfo"
  printf 'MemTotal:       %8d kB\nMemFree:        %8d kB\nMemAvailable:   %8d kB\nSwapTotal:        102396 kB\nSwapFree:         102396 kB\n' \
    "$mem" $((mem / 2)) $((mem * 3 / 4)) > "$r/proc/meminfo"
  printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/var/swap                               file\t\t102396\t\t0\t\t-2\n' > "$r/proc/swaps"
  printf '#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t1\t1\ncpu\t0\t1\t1\nmemory\t0\t1\t%s\npids\t0\t1\t1\n' "$cg" > "$r/proc/cgroups"
  local extra=""; [ "$cg" = 1 ] && extra=" cgroup_memory=1 cgroup_enable=memory"
  echo "console=serial0,115200 console=tty1 root=$bootroot rootfstype=ext4 fsck.repair=yes rootwait$extra" > "$r/boot/firmware/cmdline.txt"
  echo "6.6.51+rpt-rpi-v8" > "$r/proc/sys/kernel/osrelease"
  echo "$arch" > "$r/proc/sys/kernel/arch"
  printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n' > "$r/etc/os-release"
  # gpiochips and I2C buses as the kernel names them on each family (markers: the probe only lists names)
  local chips buses
  case "$slug" in
    5) chips="0 1 2 3 4"; buses="1 13 14" ;;
    4b | 400) chips="0 1"; buses="1 20 21" ;;
    *) chips="0 1"; buses="1" ;;
  esac
  for c in $chips; do : > "$r/dev/gpiochip$c"; done
  for c in $buses; do : > "$r/dev/i2c-$c"; done
  [ "$slug" = 5 ] && printf '#!/bin/sh\necho "k3s version v1.30.4+k3s1"\n' > "$r/usr/local/bin/k3s" && chmod 755 "$r/usr/local/bin/k3s"
  return 0
}

# run_in HOST CMD... : run in host K's namespaces (network, UTS for its hostname, mount for its private /run)
run_in() { local h=$1; shift; nsenter -t "$(cat "$LAB_DIR/hosts/$h/holder.pid")" -n -u -m "$@"; }

HOSTLIST=()
for ((k = 1; k <= HOSTS; k++)); do
  IFS='|' read -r slug model compat rev mem cpus arch cg bootroot oui <<< "${MODELS[$(( (k - 1) % 5 ))]}"
  h="h$k"; name="${LAB_HOSTNAME_PREFIX}$k"; ns="$P-$h"; D="$LAB_DIR/hosts/$h"
  mac="$oui:$(printf '%02x:%02x:%02x' $((0x10 + k)) $((k * 7 % 256)) "$k")"
  mkdir -p "$D/services" "$D/run"
  plug "$ns" "$mac"
  fake_root "$D/root" "$model" "$compat" "$rev" "$mem" "$cpus" "$arch" "$cg" "$bootroot" "$slug"

  # The holder: a process that owns the host's UTS and mount namespaces (hostname; tmpfs /run, because avahi's
  # pid file and socket and sshd's privilege-separation directory are compiled-in /run paths; private passwd,
  # group and sudoers.d with the lab users; an /etc/hosts that knows the host's own name, as sudo wants). Every daemon of the host is entered into it with nsenter.
  ip netns exec "$ns" unshare --uts --mount --propagation private --fork sh -c '
    set -e
    hostname "$1"; mount -t tmpfs -o mode=755 tmpfs /run; mkdir -p /run/sshd; chmod 755 /run/sshd
    mount --bind "$2/services" /etc/avahi/services
    { cat /etc/hosts; echo "127.0.1.1 $1"; } > "$2/hosts"; mount --bind "$2/hosts" /etc/hosts
    mount --bind "$3/passwd" /etc/passwd; mount --bind "$3/group" /etc/group; mount --bind "$3/sudoers.d" /etc/sudoers.d
    echo $$ > "$2/holder.pid"
    exec sleep 2147483647' holder "$name" "$D" "$LAB_DIR" > "$D/holder.log" 2>&1 &
  for ((i = 0; i < 50; i++)); do [ -s "$D/holder.pid" ] && break; sleep 0.1; done
  [ -s "$D/holder.pid" ] || { echo "lab-up: holder of $h did not start: $(cat "$D/holder.log")" >&2; exit 1; }
  sleep 0.1

  # DHCP with ISC dhclient: -sf an address-only hook (the stock dhclient-script would rewrite the machine's
  # resolv.conf and add the offered router as a default route); the host name sent goes into the lease file.
  printf 'send host-name "%s";\nrequest subnet-mask, broadcast-address;\n' "$name" > "$D/dhclient.conf"
  HOOK_LOG="$D/dhcp-hook.log" run_in "$h" dhclient -4 -d -cf "$D/dhclient.conf" -sf "$HERE/dhcp-hook.sh" \
    -lf "$D/dhclient.leases" -pf "$D/dhclient.pid" eth0 > "$D/dhclient.log" 2>&1 &
  HOSTLIST+=("$h|$name|$ns|$mac|$slug|$model|$D")
done

# Wait for every lease (bounded): the hook puts the address on eth0.
deadline=$(($(date +%s) + 60))
addr_of() { ip -n "$P-$1" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1 | head -1; }
for e in "${HOSTLIST[@]}"; do
  h=${e%%|*}
  until [ -n "$(addr_of "$h")" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "lab-up: $h got no DHCP lease: $(tail -3 "$LAB_DIR/hosts/$h/dhclient.log")" >&2; exit 1; }
    sleep 0.2
  done
done

# sshd and avahi per host
for e in "${HOSTLIST[@]}"; do
  IFS='|' read -r h name ns mac slug model D <<< "$e"
  ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$D/ssh_host_ed25519_key"
  cat > "$D/sshd_config" <<CONF
Port 22
ListenAddress 0.0.0.0
HostKey $D/ssh_host_ed25519_key
PidFile $D/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin no
AllowUsers pi nosudo pwsudo
Subsystem sftp /usr/lib/openssh/sftp-server
Match User pwsudo
  PasswordAuthentication yes
CONF
  run_in "$h" /usr/sbin/sshd -D -f "$D/sshd_config" -E "$D/sshd.log" &
  echo $! > "$D/sshd.nsenter.pid"

  # Debian's stock avahi-daemon with Debian's shipped config, changed only where Raspberry Pi OS differs
  # (publish-workstation=yes, ssh and sftp-ssh service files) and where the lab needs it (no D-Bus).
  sed -e 's/^#\?enable-dbus=.*/enable-dbus=no/' -e 's/^#\?publish-workstation=.*/publish-workstation=yes/' \
    /etc/avahi/avahi-daemon.conf > "$D/avahi-daemon.conf"
  grep -q '^enable-dbus=no' "$D/avahi-daemon.conf" || sed -i 's/^\[server\]/[server]\nenable-dbus=no/' "$D/avahi-daemon.conf"
  grep -q '^publish-workstation=yes' "$D/avahi-daemon.conf" || sed -i 's/^\[publish\]/[publish]\npublish-workstation=yes/' "$D/avahi-daemon.conf"
  cp /usr/share/doc/avahi-daemon/examples/ssh.service /usr/share/doc/avahi-daemon/examples/sftp-ssh.service "$D/services/"
  chmod 644 "$D/services/"*
  run_in "$h" avahi-daemon -f "$D/avahi-daemon.conf" --no-rlimits --no-chroot --no-proc-title > "$D/avahi.log" 2>&1 &
  echo $! > "$D/avahi.nsenter.pid"
done

# Ready when every sshd accepts and every avahi-daemon has its host name and both services established (bounded).
deadline=$(($(date +%s) + 60))
for e in "${HOSTLIST[@]}"; do
  IFS='|' read -r h name ns mac slug model D <<< "$e"
  a=$(addr_of "$h")
  until ip netns exec "$P-ctl" bash -c "exec 3<>/dev/tcp/$a/22" 2>/dev/null && grep -q 'Server startup complete' "$D/avahi.log" &&
    [ "$(grep -c 'successfully established' "$D/avahi.log")" -ge 2 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "lab-up: $h not ready: $(tail -3 "$D/sshd.log" "$D/avahi.log")" >&2; exit 1; }
    sleep 0.2
  done
done

# lab.json for the tests
{
  printf '{"prefix":"%s","dir":"%s","subnet":"%s.0/24","hub":"%s-hub","controller":{"ns":"%s-ctl","address":"%s.2"},' \
    "$P" "$LAB_DIR" "$NET" "$P" "$P" "$NET"
  printf '"leaseFile":"%s/dhcp/dnsmasq.leases","clientKey":"%s/client_key",' "$LAB_DIR" "$LAB_DIR"
  printf '"sudoPassword":"%s","hosts":[' "$(printf '%s' "$LAB_SUDO_PASSWORD" | sed 's/["\\]/\\&/g')"
  sep=""
  for e in "${HOSTLIST[@]}"; do
    IFS='|' read -r h name ns mac slug model D <<< "$e"
    fp=$(ssh-keygen -l -E sha256 -f "$D/ssh_host_ed25519_key.pub" | awk '{print $2}')
    printf '%s{"id":"%s","hostname":"%s","ns":"%s","mac":"%s","address":"%s","pose":"%s","model":"%s","root":"%s/root/","hostKeyFingerprint":"%s"}' \
      "$sep" "$h" "$name" "$ns" "$mac" "$(addr_of "$h")" "$slug" "$model" "$D" "$fp"
    sep=","
  done
  printf ']}\n'
} > "$LAB_DIR/lab.json"
trap - EXIT
echo "lab: $HOSTS hosts up in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}') s; $LAB_DIR/lab.json"
