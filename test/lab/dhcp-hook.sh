#!/bin/sh
# Address-only hook for dhclient (-sf): puts the leased address on the interface and a multicast route
# (for mDNS), nothing else. The stock dhclient-script would rewrite the machine's /etc/resolv.conf (namespaces
# do not isolate files) and add the offered router as a default route.
[ -n "${HOOK_LOG:-}" ] && echo "$(date +%T) $reason $interface $new_ip_address/$new_subnet_mask" >> "$HOOK_LOG"
case "$reason" in
  BOUND | RENEW | REBIND | REBOOT)
    if [ "$old_ip_address" != "$new_ip_address" ] || ! ip -4 addr show dev "$interface" | grep -q "inet $new_ip_address/"; then
      ip -4 addr flush dev "$interface"
      ip addr add "$new_ip_address/${new_subnet_mask:-255.255.255.0}" dev "$interface"
    fi
    ip route replace 224.0.0.0/4 dev "$interface" ;;
  EXPIRE | FAIL | RELEASE | STOP) ip -4 addr flush dev "$interface" ;;
esac
exit 0
