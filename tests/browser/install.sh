#!/usr/bin/env bash
# Installs what the browser test needs: Debian's chromium (deploy/packages.txt) and playwright-core
# from npm into .cache/playwright (once; offline afterwards).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$REPO/.cache/playwright"
if [[ ! -d "$dir/node_modules/playwright-core" ]]; then
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" playwright-core@1 >/dev/null
fi
