#!/usr/bin/env bash
# Slow HTTP/2 readers against a real legwise-triage: tests/outside_client/slow_reader.py opens
# CONNECTIONS x STREAMS calls whose streams advertise a zero receive window and never read; this
# prints the server's RSS before, at its peak and after, and what the attacker saw.
#
# usage: bench/abuse/slow_readers.sh [--limits-off] [--big] [--no-settings-ack]
#   --limits-off       run the server with the per-connection stream limit and the memory quota
#                      set out of reach (the behaviour before they existed)
#   --big              40 KB requests (an unknown field) instead of 9-byte ones with guidance
#   --no-settings-ack  the attacker never acknowledges the server's SETTINGS
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${LEGWISE_BIN_DIR:-$REPO/build/release/bin}"
server_flags=()
client_flags=(--connections 60 --streams 1000 --hold 5)
body="1a0208011a0208021a020803220208013001"  # three symptoms, include_guidance
for arg in "$@"; do
  case "$arg" in
    --limits-off) server_flags+=(--max_concurrent_streams=100000 --grpc_memory_mib=100000) ;;
    --big) body="1a0208019a06c0b802$(printf '61%.0s' $(seq 1 40000))" ;;
    --no-settings-ack) client_flags+=(--no-settings-ack) ;;
    *) echo "unknown argument $arg" >&2; exit 2 ;;
  esac
done
port=$(( 20000 + RANDOM % 20000 ))
"$BIN/legwise-triage" --port=$port --metrics_port=0 --content_addr=127.0.0.1:1 \
  "${server_flags[@]}" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 1.5
rss() { awk '/VmRSS/{print int($2/1024)}' /proc/$server/status; }
echo "RSS before: $(rss) MiB"
peak_file=$(mktemp)
( peak=0; while kill -0 $server 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r;
  echo $peak > "$peak_file"; sleep 0.25; done ) &
watcher=$!
/usr/bin/python3 "$REPO/tests/outside_client/slow_reader.py" 127.0.0.1 $port \
  /legwise.triage.v1.TriageService/AssessLegSymptoms "$body" "${client_flags[@]}"
echo "RSS peak: $(cat "$peak_file") MiB"
sleep 3
echo "RSS 3 s after: $(rss) MiB"
kill $watcher 2>/dev/null || true
rm -f "$peak_file"
