#!/usr/bin/env bash
# `npm run lint`: ESLint (typescript-eslint), prettier's check of the TypeScript and scripts, and
# clang-format's check of native/. `npm test` runs it first, so a style regression fails in seconds.
# `npm run format` (--fix) rewrites the files instead of checking them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

fix=0
[ "${1:-}" = --fix ] && fix=1
ts_globs=('src/**/*.ts' 'agent/**/*.ts' 'test/**/*.ts' 'bench/**/*.ts' 'web/**/*.{ts,tsx,css}' 'scripts/**/*.{mjs,cjs}' 'eslint.config.js')
mapfile -t cc < <(find native \( -name '*.cc' -o -name '*.h' \) | LC_ALL=C sort)

if ! command -v clang-format >/dev/null; then apt_need clang-format; fi
status=0
if [ $fix = 1 ]; then
  npx --no-install prettier --log-level warn --write "${ts_globs[@]}"
  npx --no-install eslint --fix . || status=$?
  clang-format -i "${cc[@]}"
else
  npx --no-install eslint . || status=$?
  npx --no-install prettier --log-level warn --check "${ts_globs[@]}" || { echo "lint: run 'npm run format' to fix the formatting" >&2; status=1; }
  clang-format --dry-run --Werror "${cc[@]}" || { echo "lint: run 'npm run format' to fix native/" >&2; status=1; }
fi
exit $status
