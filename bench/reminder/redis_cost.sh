#!/usr/bin/env bash
# Redis cost of the reminder service, measured from outside on one loopback redis-server:
# commands per idle second of one replica, commands per CreateReminderPlan and per
# ListUpcomingNudges, and Redis bytes per user for plans of 4 kinds with a standing shift.
# Usage: bench/reminder/redis_cost.sh [BIN_DIR] [USERS]   (defaults: build/release/bin, 300)
set -euo pipefail
BIN=${1:-build/release/bin}
USERS=${2:-300}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
GRPC=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MET=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIR=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' --appendonly no >"$DIR/redis.log" 2>&1 &
REDIS_PID=$!
start() {
  "$BIN/legwise-reminder" --port "$GRPC" --metrics_port "$MET" --redis_addr "127.0.0.1:$PORT" \
    --content_addr= --log_level=error "$@" 2>>"$DIR/reminder.log" &
  SVC_PID=$!
  sleep 2
}
start
trap 'kill $SVC_PID $REDIS_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
R() { redis-cli -p "$PORT" "$@"; }
CTL() { "$BIN/legwisectl" --reminder_addr="127.0.0.1:$GRPC" "$@" >/dev/null; }
total() { R info stats | tr -d '\r' | awk -F: '/^total_commands_processed/ {print $2}'; }
plan() {
  CTL plan create --user "$1" --tz Europe/London --wake 07:00 --sleep 22:30 \
    --kinds hydration,stretching,movement_break,bedtime_stretch \
    --shift mon,tue,wed,thu,fri@08:00-16:00:standing
}

a=$(total); sleep 10; b=$(total)
echo "idle replica: $(( (b - a - 1) / 10 )) Redis commands/s"

# The per-call counts on an API-only replica (--dispatcher=false), so the dispatcher's polling is
# not counted with them (the StreamNudges hub still reads its live log, about 10 commands/s).
kill $SVC_PID; wait $SVC_PID 2>/dev/null || true
start --dispatcher=false
a=$(total); sleep 5; b=$(total)
IDLE=$(( (b - a - 1) / 5 ))
echo "API-only replica idle: $IDLE Redis commands/s"

# Steady state: one call first loads the scripts (the first EVALSHA of each is refused with
# NOSCRIPT and sent again as EVAL), then the mean over CALLS calls, less the idle commands that
# fell inside the window.
CALLS=20
per_call() {  # name, then the command run CALLS times with $i set
  local name=$1; shift
  local a b t0 t1
  a=$(total); t0=$(date +%s.%N)
  for i in $(seq "$CALLS"); do "$@"; done
  b=$(total); t1=$(date +%s.%N)
  awk -v n="$name" -v d=$((b - a - 1)) -v idle="$IDLE" -v t0="$t0" -v t1="$t1" -v c="$CALLS" \
    'BEGIN { t = t1 - t0; printf "%s: %.1f Redis commands (mean of %d, %.1f idle commands taken off)\n", n, (d - idle * t) / c, c, idle * t }'
}
plan bench-first
CTL nudges --user bench-first --hours 24
per_call CreateReminderPlan eval 'plan "bench-create-$i"'
per_call ListUpcomingNudges eval 'CTL nudges --user "bench-create-$i" --hours 24'

before=$(R info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}')
for i in $(seq "$USERS"); do plan "bench-user-$i"; done
after=$(R info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}')
echo "memory: $(( (after - before) / USERS )) bytes of Redis per user ($USERS users)"
