#!/usr/bin/env bash
# The proof suite: benchmarks against nginx (wrk) in the same run, and the fault, bad-input and load tests
# against the built agent as a process with real mosquitto, s3rver and a fake camera.
#   scripts/proof.sh            CI scale (what scripts/test.sh also runs), plus the benchmarks
#   scripts/proof.sh --long     full scale: 500 door cycles with 20 kill -9, 10,000 MQTT payloads, 10,000 HTTP
#                               requests, 200 pollers for 10 minutes (about 40 minutes), and the soak: 150,000
#                               door events on each build (about 25 minutes each)
# Prints every figure; bench/RESULTS.md records them with this command.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

scale=ci
[ "${1:-}" = "--long" ] && scale=long

# Everything the tests need (and the test run itself would install), plus wrk and nginx for the baselines.
# clang, lld: the native build the Pi package uses (scripts/cross-publish.sh --native), measured beside the JIT one.
# tcpdump: the door latency bench times each camera request on the wire (loopback), where no process's wake-up hides it.
ensure_apt_lists
# shellcheck disable=SC2046 # agent_packages prints a word list
ensure_debian_packages $(agent_packages) mosquitto mosquitto-clients wrk nginx clang lld tcpdump
command -v npm >/dev/null 2>&1 || ensure_debian_packages nodejs npm
ensure_dotnet_sdk
if [ ! -d test-tools/node_modules/@20minutes/s3rver ]; then
  (cd test-tools && npm install --no-audit --no-fund --loglevel=error)
fi
node test-tools/patch-s3rver.js
dotnet build Nexbasira.Edge.sln -c Release -nologo -v quiet -clp:ErrorsOnly
bench="dotnet bench/PiOrchestrator.Bench/bin/Release/net10.0/PiOrchestrator.Bench.dll"
native="$(pwd)/out/bench-native"
rm -rf "$native" && mkdir -p "$native"
tar xzf "$(scripts/cross-publish.sh linux-x64 --native | tail -1)" -C "$native" --strip-components=1

# Each benchmark twice: the JIT build (dotnet PiOrchestrator.dll) and the native build (PIORCH_BENCH_AGENT).
for build in jit native; do
  agent=""; [ "$build" = native ] && agent="$native/app/PiOrchestrator"
  echo "== [$build] HTTP: evidence list, 304, image proxy vs nginx; RSS idle and loaded"
  PIORCH_BENCH_AGENT="$agent" $bench http 10 64 3   # 3 rounds, servers alternating; medians
  echo "== [$build] door event → camera request latency vs bare MQTT + HTTP"
  PIORCH_BENCH_AGENT="$agent" $bench latency 500
  echo "== [$build] start → READY=1 and idle RSS vs a bare Kestrel app"
  PIORCH_BENCH_AGENT="$agent" $bench startup 5
done

if [ "$scale" = long ]; then
  # A compressed year on short retention settings: RSS, database, WAL, fds and threads flat after warm-up.
  for build in native jit; do
    agent=""; [ "$build" = native ] && agent="$native/app/PiOrchestrator"
    echo "== [$build] soak: 150,000 door events over 4 containers at 120/s (CSV in out/soak-$build.csv)"
    PIORCH_BENCH_AGENT="$agent" $bench soak 150000 4 "out/soak-$build.csv" 120
  done
fi

echo "== fault, bad-input and load tests ($scale scale)"
PROOF_SCALE=$scale dotnet test src/PiOrchestrator.Tests -c Release --no-build --nologo \
  --filter "FullyQualifiedName~PiOrchestrator.Tests.Proof" --logger "console;verbosity=detailed" \
  -- RunConfiguration.TestSessionTimeout=7200000 | grep -E "^\s+(Passed|Failed) |requests:|generated messages|pollers for|Error Message|Passed!|Failed!"
