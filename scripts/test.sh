#!/usr/bin/env bash
# `npm test`: set up what the suite needs on a fresh machine, build, then run every test.
# Each file in scripts/setup/ installs one rig (Debian packages, cross compilers, test binaries);
# each is idempotent and quick when there is nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/lib.sh
start=$(date +%s)

# One run at a time per checkout: the build, the prebuilds and tap's results folder are shared.
exec 9>"${TMPDIR:-/tmp}/pi-controller-test-$(pwd | md5sum | cut -c1-12).lock"
if ! flock -n 9; then
  echo "== another npm test is running in this checkout; waiting for it" >&2
  flock 9
fi

for s in scripts/setup/*.sh; do
  [ -e "$s" ] || continue
  echo "== setup: $(basename "$s")"
  bash "$s"
done

echo "== build"
npm run --silent build

# The linux-x64, linux-arm64 and linux-arm prebuilds that test/legs packs and runs under qemu.
echo "== prebuilds"
npm run --silent prebuild

echo "== tests"
rm -rf .tap/test-results
status=0
npx --no-install tap --reporter=terse "$@" 'dist/test/**/*.test.js' || status=$?
node scripts/tap-summary.mjs .tap/test-results || status=$((status ? status : 1))
echo "== npm test took $(( $(date +%s) - start )) s"
exit $status
