#!/usr/bin/env bash
# What a Prometheus scrape of /metrics costs the agent, against an evidence-list 200 on the same agent:
# requests/s with wrk (one connection, 10 s each) and the agent's CPU time per request (utime+stime from /proc).
#   bench/metrics-scrape.sh [agent command...]   default: dotnet src/PiOrchestrator/bin/Release/net10.0/PiOrchestrator.dll
# Runs the agent in --demo mode (a simulated door and camera), without MQTT and without the rate limit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- dotnet src/PiOrchestrator/bin/Release/net10.0/PiOrchestrator.dll
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
data=$(mktemp -d)
PIORCH_CONFIG_FILE=/nonexistent PIORCH_Storage__DataDirectory="$data" PIORCH_Mqtt__Enabled=false PIORCH_Api__RateLimitPerSecond=0 \
  "$@" --urls "http://127.0.0.1:$port" --demo >"$data/agent.log" 2>&1 &
agent=$!
trap 'kill $agent 2>/dev/null; wait $agent 2>/dev/null; rm -rf "$data"' EXIT
base="http://127.0.0.1:$port"
session=""
for _ in $(seq 120); do
  session=$(curl -sf "$base/api/v1/sessions?status=complete" | python3 -c 'import sys,json; s=json.load(sys.stdin)["data"]["sessions"]; print(s[0]["id"] if s else "")' 2>/dev/null || true)
  [ -n "$session" ] && break
  sleep 0.5
done
[ -n "$session" ] || { echo "no complete demo session" >&2; exit 1; }
ticks_per_s=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
measure() {
  local name="$1" url="$2" before after out requests
  before=$(cpu_ticks)
  out=$(wrk -t1 -c1 -d10s "$url")
  after=$(cpu_ticks)
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  awk -v n="$name" -v r="$requests" -v t="$((after - before))" -v hz="$ticks_per_s" \
    'BEGIN { printf "%-22s %8.0f req/s  %6.1f us CPU per request\n", n, r / 10, t / hz / r * 1e6 }'
}
echo "/metrics: $(curl -s "$base/metrics" | wc -c) bytes"
measure "/metrics" "$base/metrics"
measure "evidence list 200" "$base/api/v1/sessions/$session/evidence?include_image=false"
