#!/usr/bin/env bash
# Every test: the Rust suites (unit, integration, crash, golden, property), then the pages in
# real headless Chromium. Installs what a fresh machine lacks (Debian's chromium, the npm
# packages from the committed lock file) before using it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Debian's chromium for the browser tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

echo "== cargo test"
cargo test

echo "== browser tests (tests/browser, node --test)"
cd tests/browser
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund
fi
npm test
