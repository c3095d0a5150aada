#!/usr/bin/env bash
# `npm start`: run the control plane with its embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
if [ ! -f dist/src/cli/main.js ] || [ -n "$(find src agent -name '*.ts' -newer dist/src/cli/main.js 2>/dev/null | head -1)" ]; then
  npm run --silent build:ts
fi
# A 4 MB young-generation semi-space: under load V8 otherwise grows it to 16 MB (x2), about
# 20 MB of RSS that stays after the load ends, for no measurable throughput (npm run bench:api).
# The web UI too, when a file under web/ is newer than its last build (or it was never built).
if [ ! -f dist/web/.built ] || [ -n "$(find web scripts/build-web.mjs -newer dist/web/.built -print -quit)" ]; then
  npm run --silent build:web
fi
exec node --enable-source-maps --max-semi-space-size=4 dist/src/cli/main.js serve --local-agent "$@"
