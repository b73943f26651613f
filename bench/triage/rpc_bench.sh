#!/usr/bin/env bash
# AssessLegSymptoms throughput as a ratio to the same server's grpc.health.v1.Health/Check, in the
# same run (h2load from nghttp2-client, gRPC over h2c with a fixed length-prefixed body).
# Usage: bench/triage/rpc_bench.sh <build-dir> [requests-per-round] [rounds]
# It starts its own legwise-triage on a free port (content unreachable: guidance is not asked for;
# no rate limit, development-mode admission),
# alternates Health/Check and AssessLegSymptoms rounds, and prints each round and the median ratio.
set -euo pipefail
BUILD=${1:?build dir}
N=${2:-30000}
ROUNDS=${3:-9}
CLIENTS=${CLIENTS:-4}
STREAMS=${STREAMS:-32}
TMP=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The per-caller rate limit is switched off (h2load is one caller); admission still runs.
"$BUILD/bin/legwise-triage" --port="$PORT" --metrics_port=0 --content_addr=127.0.0.1:1 \
  --rate_limit_per_second=0 2>"$TMP/triage.log" &
PID=$!
for _ in $(seq 50); do grep -q '"listening"' "$TMP/triage.log" && break; sleep 0.1; done

# gRPC message framing: 1 byte compressed flag, 4 bytes big-endian length, the protobuf bytes.
# AssessLegSymptomsRequest{pregnancy{gestational_age_weeks:30}, symptoms{LEG_SWELLING, LEFT},
# symptoms{LEG_TENDERNESS, LEFT}, locale:"en"}: an URGENT DVT answer with codes, LEFt, follow-ups.
printf '\x00\x00\x00\x00\x14\x12\x02\x08\x1e\x1a\x04\x08\x03\x10\x01\x1a\x04\x08\x04\x10\x01\x2a\x02en' \
  >"$TMP/assess.bin"
printf '\x00\x00\x00\x00\x00' >"$TMP/health.bin"

cpu_ticks() { awk '{print $14+$15}' "/proc/$PID/stat"; }  # server user+system, in 1/100 s
run() {  # path body -> requests/s
  h2load -n "$N" -c "$CLIENTS" -m "$STREAMS" -t 1 -H 'content-type: application/grpc' \
    -H 'te: trailers' -d "$2" "http://127.0.0.1:$PORT$1" 2>&1 |
    tee -a "$TMP/h2load.log" | awk '/^finished in/ {gsub(",", "", $4); print $4}'
}
check() {  # every request must have been answered 2xx
  grep -E '^status codes:' "$TMP/h2load.log" | tail -1
}

ratios=()
cpu_ratios=()
for r in $(seq "$ROUNDS"); do
  t0=$(cpu_ticks)
  h=$(run /grpc.health.v1.Health/Check "$TMP/health.bin"); hc=$(check)
  t1=$(cpu_ticks)
  a=$(run /legwise.triage.v1.TriageService/AssessLegSymptoms "$TMP/assess.bin"); ac=$(check)
  t2=$(cpu_ticks)
  hus=$(python3 -c "print(f'{($t1-$t0)*1e4/$N:.1f}')")
  aus=$(python3 -c "print(f'{($t2-$t1)*1e4/$N:.1f}')")
  ratio=$(python3 -c "print(f'{$a/$h:.3f}')")
  cpu_ratio=$(python3 -c "print(f'{$hus/$aus:.3f}')")
  ratios+=("$ratio")
  cpu_ratios+=("$cpu_ratio")
  echo "round $r: Health/Check $h req/s, ${hus} us server CPU/req ($hc) | AssessLegSymptoms $a req/s, ${aus} us/req ($ac) | throughput ratio $ratio, CPU-cost ratio $cpu_ratio"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median throughput ratio AssessLegSymptoms / Health.Check: $(median "${ratios[@]}") (target >= 0.85)"
echo "median server CPU-cost ratio (Health us/req / Assess us/req): $(median "${cpu_ratios[@]}")"
