#!/usr/bin/env bash
# `npm run bench [name]`: build, then run bench/<name>.js (or every benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
[ -f build/Release/pi_controller.node ] || npm run --silent build:native
npm run --silent build:ts
if [ $# -gt 0 ]; then names=("$@"); else names=(); for f in bench/*.ts; do names+=("$(basename "$f" .ts)"); done; fi
for n in "${names[@]}"; do
  echo "== bench: $n"
  node --expose-gc --enable-source-maps "dist/bench/$n.js"
done
