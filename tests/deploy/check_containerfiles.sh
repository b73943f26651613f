#!/usr/bin/env bash
# Static checks of deploy/containers/Containerfile.*: multi-stage from the bookworm base, runtime
# stage FROM scratch, a non-root USER that matches the Kubernetes runAsUser (65532), and an
# exec-form ENTRYPOINT (JSON array: the server is PID 1 and gets SIGTERM; no shell in between).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
fails=0
fail() { echo "  FAIL $*"; fails=$((fails + 1)); }
n=0
for f in "$REPO"/deploy/containers/Containerfile.*; do
  n=$((n + 1))
  name=$(basename "$f")
  grep -qE '^ARG BASE=localhost/legwise/bookworm-base' "$f" || fail "$name: build stage not from the bookworm base"
  [[ $(grep -cE '^FROM ' "$f") -ge 2 ]] || fail "$name: not multi-stage"
  last_from=$(grep -nE '^FROM ' "$f" | tail -1)
  [[ "$last_from" == *"FROM scratch" ]] || fail "$name: runtime stage is not FROM scratch"
  runtime=$(sed -n "${last_from%%:*},\$p" "$f")
  grep -qxE 'USER 65532:65532' <<<"$runtime" || fail "$name: runtime USER is not 65532:65532"
  grep -qE '^ENTRYPOINT \["/[^"]+"(, "[^"]+")*\]$' <<<"$runtime" || fail "$name: ENTRYPOINT is not exec form"
  grep -qE '^(CMD|ENTRYPOINT) [^[]' <<<"$runtime" && fail "$name: shell-form CMD/ENTRYPOINT"
  grep -q 'collect-rootfs.sh' "$f" || fail "$name: runtime file system not assembled by collect-rootfs.sh"
done
for svc in triage content reminder redis; do
  [[ -f "$REPO/deploy/containers/Containerfile.$svc" ]] || fail "no Containerfile.$svc"
done
grep -q '^appendonly yes$' "$REPO/deploy/containers/redis.conf" || fail "redis.conf: AOF off"
echo "containerfiles: $n checked, $([[ $fails == 0 ]] && echo "all checks passed" || echo "$fails failures")"
((fails == 0))
