#!/usr/bin/env bash
# Quick start, part 2: runs every test. Installs what is missing (apt-get), builds, then runs the
# unit tests, the integration tests (each starts its own redis-server and the real executables on
# free loopback ports), `buf lint`, the fuzzers for a bounded time, and every test again under
# ASan+UBSan (LEGWISE_SKIP_SANITIZERS=1 skips that part for a quick local run). Idempotent. Exit code 0 only when everything passed.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
source "$REPO/deploy/local/common.sh"

install_packages
build
# playwright-core (npm) for the browser test, once into .cache/playwright.
bash "$REPO/tests/browser/install.sh"
log "buf lint (STANDARD)"
(cd "$REPO" && "$(buf_bin)" lint)
echo "buf lint: clean"

log "fuzzers: ${FUZZ_SECONDS:=20}s each (libFuzzer, ASan+UBSan)"
FUZZ_SECONDS="$FUZZ_SECONDS" bash "$REPO/tests/run_fuzzers.sh"

if [[ "${LEGWISE_SKIP_SANITIZERS:-0}" != 1 ]]; then
  log "sanitizers: every test under ASan+UBSan"
  bash "$REPO/tests/run_sanitizers.sh"
fi

# Last, so that its summary closes the output.
log "ctest: unit and integration tests"
export LEGWISE_TEST_LOG_DIR="$REPO/build/${LEGWISE_PRESET:-release}/test-logs"
rm -rf "$LEGWISE_TEST_LOG_DIR"
ctest --test-dir "$REPO/build/${LEGWISE_PRESET:-release}" --output-on-failure -j 2 "$@"
