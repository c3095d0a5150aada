#!/bin/sh
# Runs inside the guest (a chroot of the host's /, read-only; the current folder is the run's
# output folder, shared read-write). Each compiled guest tap file runs with the host's node
# against the guest kernel's /dev/gpiochipN and /dev/i2c-N; its TAP output and exit status are
# written to the output folder for the host-side test to read.
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
OUT=$(pwd)
echo "kernel $(uname -r)" > "$OUT/guest-info"
cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ' >> "$OUT/guest-info"
run_one() {
  name=$(basename "$1" .js)
  t0=$(cut -d' ' -f1 /proc/uptime)
  # Each file gets a bounded time; a hung event thread or a stuck transfer fails the file.
  TAP=1 timeout 90 node "$1" > "$OUT/$name.tap" 2>&1
  rc=$?
  t1=$(cut -d' ' -f1 /proc/uptime)
  echo "$name $rc $t0 $t1" >> "$OUT/status"
}
# The files use different hardware (gpio-sim vs i2c-stub) and the guest has two CPUs: run them
# side by side, since most of each file's time under TCG is node starting and loading tap.
for f in "$REPO"/dist/test/kernel/guest/*.guest.js; do
  run_one "$f" &
done
wait
echo done >> "$OUT/status"
