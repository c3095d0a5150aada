#!/usr/bin/env bash
# Setup for the discovery lab (test/lab): Debian's stock avahi-daemon (and avahi-utils for the
# benchmark's baseline browser), dnsmasq as the lab's DHCP server, OpenSSH's server for the hosts,
# ISC dhclient for the hosts' leases, sudo for the lab user with passwordless sudo, iproute2 for
# the namespaces, systemd's systemd-analyze (test/provision/agent-unit.test.ts checks the agent's unit
# file with it; the lab itself runs no systemd). Idempotent: quick when installed.
# The machine's policy-rc.d keeps the packages' own services from starting; the lab runs every
# daemon by hand inside its namespaces.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

# Installing avahi-daemon and openssh-server must not start them on this machine: without a
# policy-rc.d of its own, the install runs under a temporary one that refuses every service start.
if [ "$(id -u)" -eq 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# pi-controller lab setup: no service starts during this install\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt_need iproute2 avahi-daemon avahi-utils dbus dnsmasq-base openssh-server isc-dhcp-client sudo util-linux procps systemd
