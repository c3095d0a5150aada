#!/usr/bin/env bash
# Setup for the web UI's browser tests (test/ui) and its benchmark (bench/ui.ts): Debian's
# Chromium, driven headless by playwright-core, and the fonts its pages and screenshots need
# (DejaVu for Latin text, Liberation for the metric-compatible sans and mono faces).
# Idempotent: quick when installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

apt_need chromium fonts-dejavu-core fonts-liberation
echo "setup: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium missing') at /usr/bin/chromium" >&2
