#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine, builds, runs every test, and ends with
#   tests: N passed, N failed[, N skipped]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# mosquitto + clients: the real broker and mosquitto_pub/_sub the tests use; systemd: systemd-analyze for the unit tests.
# chromium: the status page's browser tests (driven by playwright-core, never a downloaded browser).
# wrk, nginx: the smoke run of the dashboard benchmark (nginx serves the baseline copy of the same bytes).
ensure_debian_packages "${AGENT_PACKAGES[@]}" mosquitto mosquitto-clients systemd chromium wrk nginx
ensure_dotnet_sdk
# qemu-user and an arm64 root: the self-contained linux-arm64 package is run as the Pi would run it.
ensure_arm64_sysroot "$(pwd)/test-tools/arm64-sysroot"

# s3rver (the S3 server the upload tests talk to) and playwright-core, pinned in test-tools/package.json.
command -v npm >/dev/null 2>&1 || ensure_debian_packages nodejs npm
if [ ! -d test-tools/node_modules/@20minutes/s3rver ] || [ ! -d test-tools/node_modules/s3rver ] || [ ! -d test-tools/node_modules/playwright-core ]; then
  (cd test-tools && npm install --no-audit --no-fund --loglevel=error)
fi
node test-tools/patch-s3rver.js

results="$(pwd)/TestResults"
rm -rf "$results"
dotnet build Nexbasira.Edge.sln -c Release -nologo -v quiet -clp:ErrorsOnly

set +e
dotnet test Nexbasira.Edge.sln -c Release --no-build --nologo \
  --results-directory "$results" --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
  -- RunConfiguration.TestSessionTimeout=3000000
status=$?
set -e

trx="$results/results.trx"
if [ ! -f "$trx" ]; then
  echo "tests: 0 passed, 1 failed"
  exit 1
fi
counter() { grep -o "<Counters [^>]*>" "$trx" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
passed=$(counter passed); failed=$(counter failed); total=$(counter total); executed=$(counter executed)
skipped=$(( total - executed ))
failed=$(( failed + $(counter error) + $(counter timeout) + $(counter aborted) ))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
