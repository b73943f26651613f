#!/usr/bin/env bash
# The abuse half of the soak (legwise_load_suite --soak_abuse): four attackers, each from its own
# loopback address so that the per-peer limiters can tell them from the legitimate load, each
# repeating its attack until this script is killed. One JSON line of what it saw per round goes to
# stdout, prefixed with the attack's name.
#
# usage: bench/abuse/soak_abusers.sh TRIAGE_PORT REMINDER_PORT ATTACKER_TOKEN FORGED_TOKEN
#   ATTACKER_TOKEN  a valid user token (attackers can have accounts too)
#   FORGED_TOKEN    a well-formed token signed by a key the servers do not trust
# SOAK_ATTACKS (space-separated names, default all) runs only some of them.
set -uo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
READER=("/usr/bin/python3" "$REPO/tests/outside_client/slow_reader.py")
triage=$1 reminder=$2 attacker=$3 forged=$4
assess=/legwise.triage.v1.TriageService/AssessLegSymptoms
triage_body="1a0208011a0208021a020803220208013001"  # three symptoms, include_guidance

out=$(mktemp -d)
attack() {  # name, then slow_reader arguments; runs in a background subshell
  local name=$1 child=""
  shift
  [[ " ${SOAK_ATTACKS:-$name} " == *" $name "* ]] || return 0
  trap 'kill $child 2>/dev/null; exit 0' TERM
  while true; do
    "${READER[@]}" "$@" >"$out/$name" 2>&1 &
    child=$!
    wait $child
    echo "$name $(tail -1 "$out/$name")"
  done
}

# Slow readers: zero-window streams on a valid account, never read.
attack slow_readers 127.0.0.1 "$triage" "$assess" "$triage_body" --source 127.0.0.2 \
  --connections 20 --streams 500 --hold 5 --authorization "Bearer $attacker" &
# Forged tokens: 5,000 calls a round, each refused.
attack forged_tokens 127.0.0.1 "$triage" "$assess" "$triage_body" --source 127.0.0.3 \
  --connections 5 --streams 1000 --hold 1 --authorization "Bearer $forged" &
# Connections that never start HTTP/2 (plaintext here: the preface stands in for the handshake).
attack idle_connections 127.0.0.1 "$reminder" / "" --source 127.0.0.4 --silent \
  --connections 300 --hold 15 &
# Bytes that are no message of the method's type, and methods nobody serves.
attack malformed 127.0.0.1 "$reminder" /legwise.reminder.v1.ReminderService/AcknowledgeNudge \
  ffffffffffffffff --source 127.0.0.5 --connections 2 --streams 500 --hold 1 \
  --authorization "Bearer $attacker" &
attack unknown_methods 127.0.0.1 "$triage" /grpc.reflection.v1.ServerReflection/Nope "" \
  --source 127.0.0.6 --connections 2 --streams 500 --hold 1 --authorization "Bearer $attacker" &
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$out"; exit 0' TERM INT
wait
