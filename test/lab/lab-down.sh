#!/usr/bin/env bash
# lab-down.sh : stops every process inside the lab's namespaces (by PID, as `ip netns pids` and the holders'
# pid files report them), then deletes the namespaces. Idempotent: nothing to do is not an error.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/lab-env.sh"
[ "$(id -u)" -eq 0 ] || { echo "lab-down: needs root" >&2; exit 77; }

nss=$(ip netns list 2> /dev/null | awk -v p="$P-" 'index($1, p) == 1 {print $1}')
pids() {
  local ns
  for ns in $nss; do ip netns pids "$ns" 2> /dev/null; done
  # holders and daemons entered with nsenter sit in the network namespace too; the pid files are a second list
  cat "$LAB_DIR"/hosts/*/holder.pid "$LAB_DIR"/dhcp/dnsmasq.pid 2> /dev/null
}
for sig in TERM KILL; do
  for p in $(pids | sort -u); do kill -s "$sig" "$p" 2> /dev/null; done
  for ((i = 0; i < 30; i++)); do [ -z "$(for ns in $nss; do ip netns pids "$ns" 2> /dev/null; done)" ] && break; sleep 0.1; done
done
for ns in $nss; do ip netns del "$ns" 2> /dev/null || echo "lab-down: could not delete $ns" >&2; done
left=$(ip netns list 2> /dev/null | awk -v p="$P-" 'index($1, p) == 1 {print $1}')
[ -z "$left" ] || { echo "lab-down: still present: $left" >&2; exit 1; }
echo "lab: down"
