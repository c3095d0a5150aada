#!/usr/bin/env bash
# `npm start`: run the control plane with its embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
if [ ! -f dist/src/cli/main.js ] || [ -n "$(find src agent -name '*.ts' -newer dist/src/cli/main.js 2>/dev/null | head -1)" ]; then
  npm run --silent build:ts
fi
exec node --enable-source-maps dist/src/cli/main.js serve --local-agent "$@"
