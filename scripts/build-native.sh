#!/usr/bin/env bash
# Builds the addon from source for this machine into build/Release (used by tests and `npm start`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# node-gyp rebuild deletes and recreates build/: two at once (two test runs in one checkout)
# break each other, so builds of this checkout take turns (the lock is this script file).
exec flock scripts/build-native.sh npx --no-install node-gyp rebuild --jobs="$(nproc)" "$@"
