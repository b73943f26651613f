#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a bounded time, starting from
# its committed corpus in tests/fuzz/corpus/<name>/ (new inputs go to a scratch copy, not the repo).
# A crash leaves its input in build/fuzz/artifacts/ and fails the run.
#   FUZZ_SECONDS=20 tests/run_fuzzers.sh
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_EACH="${FUZZ_SECONDS:-20}"
cmake --preset fuzz -S "$REPO" >/dev/null
FUZZERS=$(cd "$REPO/tests/fuzz" && ls *_fuzzer.cc | sed 's/\.cc$//')
BUILT=()
for f in $FUZZERS; do
  if cmake --build "$REPO/build/fuzz" --target "$f" -j "$(nproc)" >/dev/null 2>"$REPO/build/fuzz/$f.build.log"; then
    BUILT+=("$f")
  else
    echo "fuzz: $f does not build here (see build/fuzz/$f.build.log)" >&2
    exit 1
  fi
done
mkdir -p "$REPO/build/fuzz/artifacts"
failed=0
for f in "${BUILT[@]}"; do
  name="${f%_fuzzer}"
  scratch="$REPO/build/fuzz/corpus/$name"
  mkdir -p "$scratch"
  cp -r "$REPO/tests/fuzz/corpus/$name/." "$scratch/" 2>/dev/null || true
  if "$REPO/build/fuzz/bin/$f" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$REPO/build/fuzz/artifacts/$name-" "$scratch" \
       >"$REPO/build/fuzz/$f.log" 2>&1; then
    echo "fuzz: $f ok ($(grep -o 'Done [0-9]* runs' "$REPO/build/fuzz/$f.log" | tail -1) in ${SECONDS_EACH}s)"
  else
    echo "fuzz: $f FAILED; see build/fuzz/$f.log and build/fuzz/artifacts/" >&2
    tail -30 "$REPO/build/fuzz/$f.log" >&2
    failed=1
  fi
done
exit $failed
