#!/usr/bin/env bash
# Stops what deploy/local/up.sh started (SIGTERM: the services drain, Redis writes its AOF).
set -uo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
RUN="$REPO/.run"
for name in legwise-push legwise-triage legwise-reminder legwise-content redis; do
  pidfile="$RUN/$name.pid"
  [[ -f "$pidfile" ]] || continue
  pid=$(cat "$pidfile")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "stopped $name"
  fi
  rm -f "$pidfile"
done
