#!/bin/bash
# Cross-check of the throughput ratio with nghttp2's h2load (an independent HTTP/2 load generator):
# cached GetGuidance vs grpc.health.v1 Health/Check on the same legwise-content server.
# Usage: bench/content/h2load.sh <port> [requests] [clients] [streams per client]
set -euo pipefail
port=${1:?usage: h2load.sh <port> [requests] [clients] [streams]}
n=${2:-200000}; c=${3:-4}; m=${4:-16}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# gRPC frames: 1 flag byte (uncompressed), 4-byte big-endian length, then the protobuf bytes.
# HealthCheckRequest{} is empty. GetGuidanceRequest{topic_id:"leg-cramps", locale:"es",
# context{stands_for_long_periods:true}} = 0a 0a "leg-cramps" 12 02 "es" 1a 02 10 01.
printf '\x00\x00\x00\x00\x00' > "$tmp/health.bin"
printf '\x00\x00\x00\x00\x14\x0a\x0aleg-cramps\x12\x02es\x1a\x02\x10\x01' > "$tmp/guidance.bin"
hdr=(-H 'content-type: application/grpc' -H 'te: trailers')
run() {  # $1 = path, $2 = body file; prints requests/s
  h2load -n "$n" -c "$c" -m "$m" -t 1 "${hdr[@]}" -d "$2" "http://127.0.0.1:$port$1" |
    awk '/^finished in/ {gsub(",", "", $4); print $4}'
}
run /legwise.content.v1.ContentService/GetGuidance "$tmp/guidance.bin" >/dev/null  # warm the cache
h=$(run /grpc.health.v1.Health/Check "$tmp/health.bin")
g=$(run /legwise.content.v1.ContentService/GetGuidance "$tmp/guidance.bin")
echo "health_check_rps=$h get_guidance_cached_rps=$g ratio=$(awk -v g="$g" -v h="$h" 'BEGIN {printf "%.2f", g / h}')"
