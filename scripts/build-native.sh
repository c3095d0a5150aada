#!/usr/bin/env bash
# Builds the addon from source for this machine into build/Release (used by tests and `npm start`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
exec npx --no-install node-gyp rebuild --jobs="$(nproc)" "$@"
