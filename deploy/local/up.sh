#!/usr/bin/env bash
# Quick start, part 1: on a fresh Debian 12 machine (as root), install what is missing, build, start
# redis-server, the three services and the push sender on loopback with their default ports, and
# show them working.
# Idempotent: run it again and it rebuilds and restarts everything. Stop with deploy/local/down.sh.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
source "$REPO/deploy/local/common.sh"

install_packages
build
BIN="$REPO/build/${LEGWISE_PRESET:-release}/bin"
RUN="$REPO/.run"
mkdir -p "$RUN/logs" "$RUN/redis"

"$REPO/deploy/local/down.sh" >/dev/null 2>&1 || true

log "starting redis-server on 127.0.0.1:6379 (AOF on, data in .run/redis)"
if redis-cli -p 6379 ping >/dev/null 2>&1; then
  log "a Redis already answers on 6379; using it"
else
  redis-server "$REPO/deploy/redis/redis.conf" --dir "$RUN/redis" --daemonize yes \
    --pidfile "$RUN/redis.pid" --logfile "$RUN/logs/redis.log"
  for _ in $(seq 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

start() {  # name, flags...
  local name=$1; shift
  log "starting $name"
  nohup "$BIN/$name" "$@" >>"$RUN/logs/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}
start legwise-content
start legwise-triage
start legwise-reminder
# The push sender (its own deployment, k8s/README.md). No provider keys here unless given in
# LEGWISE_PUSH_FLAGS (e.g. "--apns_key_file=... --apns_key_id=... --apns_team_id=...
# --apns_topic=..."): it then reads the outbox's push group and acknowledges every entry as
# not sendable (counted in legwise_push_submit_refusals_total), so the feed stays trimmed. Only
# https endpoints on public addresses (no --push_allow_insecure_loopback).
# shellcheck disable=SC2086
start legwise-push --content_addr=127.0.0.1:50052 ${LEGWISE_PUSH_FLAGS:-}

log "waiting until all three report SERVING"
for _ in $(seq 100); do
  "$BIN/legwisectl" health >/dev/null 2>&1 && break
  sleep 0.2
done
"$BIN/legwisectl" health
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:9466/metrics >/dev/null 2>&1 && break
  sleep 0.2
done
if ! kill -0 "$(cat "$RUN/legwise-push.pid")" 2>/dev/null ||
   ! curl -sf http://127.0.0.1:9466/metrics >/dev/null 2>&1; then
  log "legwise-push did not start; see .run/logs/legwise-push.log"
  exit 1
fi
log "legwise-push running (health 127.0.0.1:50056, metrics 9466)"

log "a triage call: swelling and tenderness in the left calf at 30 weeks"
"$BIN/legwisectl" triage --weeks 30 --symptom leg_swelling:left:calf --symptom leg_tenderness:left:calf || true

cat <<MSG

legwise is up: triage 127.0.0.1:50051, content 127.0.0.1:50052, reminder 127.0.0.1:50053,
push sender 127.0.0.1:50056 (metrics on 9461-9463, 9466). Logs: .run/logs/. Try:
  $BIN/legwisectl help
  $BIN/legwisectl guidance leg-cramps --locale es --weeks 32 --standing
Stop everything with deploy/local/down.sh
MSG
