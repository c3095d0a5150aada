#!/usr/bin/env bash
# `npm run prebuild`: N-API prebuilds for linux-x64, linux-arm64 and linux-arm (armv7 hard-float)
# into prebuilds/<platform>-<arch>/node.napi.node, stripped, with prebuildify. The ARM ones use
# Debian's cross compilers (scripts/setup/20-cross.sh installs them).
#
# Every build runs in a staging copy outside the repository: a cross-built build/Release left in
# the repository would shadow prebuilds/ in node-gyp-build (it looks in build/ first), and other
# work uses build/Release at the same time.
#
#   bash scripts/prebuild.sh              all three
#   bash scripts/prebuild.sh arm64 arm    only these (x64, arm64, arm)
set -euo pipefail

# npm also runs a script named "prebuild" as the pre-hook of `npm run build`, with the same
# environment. Only `npm run prebuild` itself should build: look at the npm command line above us.
if [ "${npm_lifecycle_event:-}" = prebuild ]; then
  pid=$PPID
  while [ "$pid" -gt 1 ] && [ -r "/proc/$pid/cmdline" ]; do
    args="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
    case " $args " in
      *" prebuild "*) break ;;                      # `npm run prebuild`
      *npm*" build "*|*npm*" run-script build "*) exit 0 ;;  # pre-hook of `npm run build`
    esac
    pid="$(awk '{print $4}' "/proc/$pid/stat")"
  done
fi

cd "$(dirname "$0")/.."
root="$PWD"
source scripts/env.sh

archs=("$@")
[ ${#archs[@]} -eq 0 ] && archs=(x64 arm64 arm)

stage="$(mktemp -d "${TMPDIR:-/tmp}/pi-controller-prebuild.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

# What node-gyp needs and nothing else. node-addon-api is found by binding.gyp through require().
mkdir -p "$stage/node_modules"
cp -a binding.gyp package.json native "$stage/"
cp -a node_modules/node-addon-api "$stage/node_modules/"

# The N-API headers of the running Node (npm_config_nodedir from env.sh); NAPI_VERSION in
# binding.gyp bounds which N-API functions the binary may use, so one build serves Node 20-24.
target="node@$(node -p 'process.versions.node')"
# node-gyp's make runs with this many jobs (prebuildify passes no --jobs of its own).
export JOBS="${JOBS:-$(nproc)}"

for arch in "${archs[@]}"; do
  case "$arch" in
    x64)   triple="" ;;
    arm64) triple=aarch64-linux-gnu ;;
    arm)   triple=arm-linux-gnueabihf ;;
    *) echo "prebuild: unknown arch '$arch' (x64, arm64, arm)" >&2; exit 2 ;;
  esac
  start=$(date +%s.%N)
  rm -rf "$stage/build" "$stage/prebuilds"
  (
    cd "$stage"
    if [ -n "$triple" ]; then
      command -v "$triple-g++" >/dev/null || {
        echo "prebuild: $triple-g++ not found; run 'bash scripts/setup/20-cross.sh' (as root) first" >&2
        exit 1
      }
      export CC="$triple-gcc" CXX="$triple-g++" LINK="$triple-g++" AR="$triple-ar"
      strip_bin="$triple-strip"
    else
      strip_bin=strip
    fi
    # armv7 is deliberately not tagged (--tag-armv): Raspberry Pi OS's own Node may report
    # arm_version 6 on an ARMv7 board and node-gyp-build would then skip the prebuild. The loader
    # refuses it on ARMv6 CPUs instead (src/hw/prebuild.ts).
    "$root/node_modules/.bin/prebuildify" --napi --strip --strip-bin="$strip_bin" \
      --arch "$arch" --target "$target" --node-gyp "$root/node_modules/.bin/node-gyp" --quiet .
  )
  out="prebuilds/linux-$arch"
  mkdir -p "$out"
  built="$stage/prebuilds/linux-$arch/pi-controller.node"
  # The newest glibc symbol version the binary needs (GCC 12's libstdc++ headers and fstat bring
  # in 2.32/2.33). The loader reads it to refuse the prebuild on an older system (Raspberry Pi OS
  # bullseye has 2.31), where dlopen would fail, and the install hook then builds from source.
  readelf -V -W "$built" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' | sed 's/GLIBC_//' | sort -uV | tail -n 1 \
    >"$out/.glibc-version.$$"
  # Each file is renamed into place, so a test reading prebuilds/ never sees half a file.
  cp "$built" "$out/.pi-controller.node.$$"
  mv -f "$out/.glibc-version.$$" "$out/glibc-version"
  mv -f "$out/.pi-controller.node.$$" "$out/pi-controller.node"
  for f in "$out"/*.node; do
    printf 'prebuild: %s %s bytes in %.1f s: %s\n' "$f" "$(stat -c %s "$f")" \
      "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" "$(file -b "$f" | cut -d, -f1-3), needs glibc >= $(cat "$out/glibc-version")"
  done
done
