# Sourced by the lab scripts: names and paths, overridable from the environment so two labs can coexist.
#   LAB_PREFIX  namespace prefix (default pcl: pcl-hub, pcl-ctl, pcl-h1...)
#   LAB_NET     first three octets of the lab's /24 (default 10.231.0)
#   LAB_DIR     state directory (default /tmp/pi-controller-lab-$LAB_PREFIX)
P="${LAB_PREFIX:-pcl}"
NET="${LAB_NET:-10.231.0}"
LAB_DIR="${LAB_DIR:-/tmp/pi-controller-lab-$P}"
LAB_HOSTNAME_PREFIX="${LAB_HOSTNAME_PREFIX:-labpi}"

# lab_require: root and the programs the lab runs, or a plain reason and exit 77 (the "skip" code).
lab_require() {
  if [ "$(id -u)" -ne 0 ]; then echo "lab: needs root (network namespaces)" >&2; exit 77; fi
  local p missing=()
  for p in ip nsenter unshare dnsmasq dhclient avahi-daemon /usr/sbin/sshd ssh-keygen; do
    command -v "$p" > /dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "lab: missing ${missing[*]}: run scripts/setup/50-lab.sh as root" >&2; exit 77
  fi
}
