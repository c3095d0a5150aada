#!/usr/bin/env bash
# `npm test`: set up what the suite needs on a fresh machine, build, then run every test.
#
#   npm test                      lint, every setup step, build, prebuilds, the whole suite (what CI runs)
#   npm run test:unit             build, then every test that needs no rig (scripts/test-files.mjs --unit)
#   npm test -- FILE...           build, then only these files (dist/test/... or test/....ts); no setup
#   npm test -- [FILE...] -- -X   anything after a second -- (or any argument starting with -) goes to tap
#
# Each file in scripts/setup/ installs one rig (Debian packages, cross compilers, test binaries);
# each is idempotent and quick when there is nothing to do. Every step prints the time it took.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/lib.sh
start=$(date +%s)

mode=full
files=()
tap_args=()
for a in "$@"; do
  case "$a" in
    --unit) mode=unit ;;
    --) ;;
    -*) tap_args+=("$a") ;;
    *)
      # test/x/y.test.ts names the compiled file dist/test/x/y.test.js.
      f="$a"
      case "$f" in test/*.ts) f="dist/${f%.ts}.js" ;; esac
      files+=("$f")
      ;;
  esac
done
[ ${#files[@]} -gt 0 ] && mode=files

# One run at a time per checkout: the build, the prebuilds and tap's results folder are shared.
exec 9>"${TMPDIR:-/tmp}/pi-controller-test-$(pwd | md5sum | cut -c1-12).lock"
if ! flock -n 9; then
  echo "== another npm test is running in this checkout; waiting for it" >&2
  flock 9
fi

# step NAME COMMAND...: runs one step and prints how long it took.
step() {
  local name="$1" t0
  shift
  t0=$(date +%s)
  echo "== $name"
  "$@"
  echo "== $name: $(($(date +%s) - t0)) s"
}

# The addon is rebuilt when a native source is newer than the binary (or there is none).
native_stale() {
  local bin=build/Release/pi_controller.node
  [ ! -f "$bin" ] || [ -n "$(find native binding.gyp -newer "$bin" -print -quit)" ]
}

# The web UI is rebuilt when a file under web/ (or its build script) is newer than the last build.
web_stale() {
  [ ! -f dist/web/.built ] || [ -n "$(find web scripts/build-web.mjs -newer dist/web/.built -print -quit)" ]
}

case $mode in
  full)
    step lint bash scripts/lint.sh
    for s in scripts/setup/*.sh; do
      [ -e "$s" ] || continue
      step "setup: $(basename "$s")" bash "$s"
    done
    step build npm run --silent build
    # The linux-x64, linux-arm64 and linux-arm prebuilds that test/legs packs and runs under qemu.
    step prebuilds npm run --silent prebuild
    mapfile -t files < <(node scripts/test-files.mjs)
    ;;
  unit | files)
    if native_stale; then step "build: native" npm run --silent build:native; fi
    step "build: typescript" npm run --silent build:ts
    if web_stale; then step "build: web" npm run --silent build:web; fi
    if [ $mode = unit ]; then
      mapfile -t files < <(node scripts/test-files.mjs --unit)
      # Repetition-heavy tests (crash.test's kill rounds) run fewer rounds in the inner loop.
      export PIC_TEST_MODE=unit
      # Unit files spend much of their time waiting on child processes and sockets: two per core
      # keeps both cores busy (106 s instead of 133 s here). `-j N` after `--` overrides it.
      jobs=$((2 * $(nproc)))
      tap_args=("--jobs=$jobs" "${tap_args[@]}")
    fi
    for f in "${files[@]}"; do
      [ -f "$f" ] || { echo "npm test: no such test file: $f (give dist/test/....test.js or test/....test.ts)" >&2; exit 2; }
    done
    ;;
esac

echo "== tests ($mode: ${#files[@]} files)"
t0=$(date +%s)
rm -rf .tap/test-results
status=0
if [ $mode = unit ]; then
  # The same tap test files, started without tap's coverage process tracker (see run-tests.mjs).
  node scripts/run-tests.mjs "${tap_args[@]}" "${files[@]}" || status=$?
else
  npx --no-install tap --reporter=terse "${tap_args[@]}" "${files[@]}" || status=$?
fi
node scripts/tap-summary.mjs .tap/test-results || status=$((status ? status : 1))
echo "== tests: $(($(date +%s) - t0)) s"
echo "== npm test ($mode) took $(($(date +%s) - start)) s"
exit $status
