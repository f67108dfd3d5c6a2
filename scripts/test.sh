#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine, builds, runs every test, and ends with
#   tests: N passed, N failed[, N skipped]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# mosquitto + clients: the real broker and mosquitto_pub/_sub the tests use; systemd: systemd-analyze for the unit tests.
# chromium: the status page's browser tests (driven by playwright-core, never a downloaded browser).
# prometheus (and its promtool): scrapes the agent in the metrics tests, checks deploy/prometheus's alert rules.
# lintian: checks the .deb packages (scripts/build-deb.sh); llvm: its llvm-strip strips their native SQLite of any architecture.
# wrk, nginx: the smoke run of the dashboard benchmark (nginx serves the baseline copy of the same bytes).
# clang, lld, gcc-aarch64-linux-gnu: the native (ahead-of-time) builds, for this machine and cross to arm64;
# libc6-dev-arm64-cross (crt files, libdl/librt/libm for the arm64 link) is only a Recommends of the cross gcc.
# libfaketime: its thread-safe libfaketimeMT is preloaded into the agent process to step its wall clock mid-session
# (ClockStepProcessTests); clang also builds the C probe that checks it (FakeWallClockTests).
# sqlite3: the .deb's postrm counts evidence not yet uploaded with it when purged (DebianPackageTests).
ensure_apt_lists
# shellcheck disable=SC2046 # agent_packages prints a word list
ensure_debian_packages $(agent_packages) mosquitto mosquitto-clients systemd chromium wrk nginx clang lld openssl unzip \
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross prometheus lintian llvm libfaketime sqlite3
ensure_dotnet_sdk
# qemu-user and an arm64 root per Raspberry Pi OS base (Debian 12 bookworm: libgpiod 1; Debian 13 trixie: libgpiod 2):
# the linux-arm64 packages are run as a Pi of each would run them.
for release in bookworm trixie; do ensure_arm64_root "$(pwd)/test-tools/arm64-$release" "$release"; done

# s3rver (the S3 server the upload tests talk to), playwright-core and the OpenAPI tools (redocly, openapi-typescript, typescript), pinned in test-tools/package.json.
command -v npm >/dev/null 2>&1 || ensure_debian_packages nodejs npm
if [ ! -d test-tools/node_modules/@20minutes/s3rver ] || [ ! -d test-tools/node_modules/s3rver ] || [ ! -d test-tools/node_modules/playwright-core ] \
  || [ ! -d test-tools/node_modules/@redocly/cli ] || [ ! -d test-tools/node_modules/openapi-typescript ]; then
  (cd test-tools && npm install --no-audit --no-fund --loglevel=error)
fi
node test-tools/patch-s3rver.js

results="$(pwd)/TestResults"
rm -rf "$results" && mkdir -p "$results" && touch "$results/.started"
# The VM tests' arm64 Debian 13 image (test-tools/vm/: ~10 min to build on a fresh clone, then cached in
# test-tools/vm-cache): built beside the first pass, waited for before the VM pass.
test-tools/vm/ensure-image.sh > "$results/vm-image.log" 2>&1 & vm_image=$!
# Every wait on a condition that took over a second, with the share of its deadline it used (listed at the end).
export PIORCH_TEST_WAIT_LOG="$results/waits.tsv"
dotnet build Nexbasira.Edge.sln -c Release -nologo -v quiet -clp:ErrorsOnly

# Pass 1: every test, the agent process run as `dotnet PiOrchestrator.dll`.
# Pass 2: the tests that run the agent as a process (trait Agent=Process) again, against the native build a site
# installs with `scripts/cross-publish.sh --native`, so that build is proven on the same real parts.
native="$(pwd)/out/test-native"
run_tests() {
  local name="$1"; shift
  dotnet test Nexbasira.Edge.sln -c Release --no-build --nologo \
    --results-directory "$results" --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" "$@" \
    -- RunConfiguration.TestSessionTimeout=3000000
}
set +e
run_tests all --filter "Vm!=Trixie"; status_all=$?
rm -rf "$native" && mkdir -p "$native"
if package=$(scripts/cross-publish.sh linux-x64 --native | tail -1) && tar xzf "$package" -C "$native" --strip-components=1; then
  PIORCH_TEST_AGENT="$native/app/PiOrchestrator" run_tests native --filter "Agent=Process"; status_native=$?
else
  echo "the native build failed"; status_native=1
fi
# Pass 3: the tests that boot the VM (trait Vm=Trixie), with the native arm64 .deb made from the tarball the first
# pass built (DeploymentTests); without one the tests build it.
if wait "$vm_image"; then
  arm64_deb="" tarball=$(ls -t out/piorchestrator-*-linux-arm64-native.tar.gz 2>/dev/null | sed -n 1p)
  if [ -n "$tarball" ] && [ "$tarball" -nt "$results/.started" ]; then
    mkdir -p "$results/arm64" && tar xzf "$tarball" -C "$results/arm64" --strip-components=1 \
      && arm64_deb=$(scripts/build-deb.sh --app "$results/arm64/app" --rid linux-arm64 --native --out "$results/arm64/deb" | tail -1)
  fi
  PIORCH_TEST_ARM64_DEB="$arm64_deb" run_tests vm --filter "Vm=Trixie"; status_vm=$?
else
  echo "the VM image could not be made:"; tail -20 "$results/vm-image.log"; status_vm=1
fi
set -e

passed=0; failed=0; skipped=0
for name in all native vm; do
  trx="$results/$name.trx"
  if [ ! -f "$trx" ]; then failed=$(( failed + 1 )); continue; fi
  counter() { grep -o "<Counters [^>]*>" "$trx" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  passed=$(( passed + $(counter passed) ))
  failed=$(( failed + $(counter failed) + $(counter error) + $(counter timeout) + $(counter aborted) ))
  skipped=$(( skipped + $(counter total) - $(counter executed) ))
done
if { [ "$status_all" -ne 0 ] || [ "$status_native" -ne 0 ] || [ "$status_vm" -ne 0 ]; } && [ "$failed" -eq 0 ]; then failed=1; fi
closest_waits "$PIORCH_TEST_WAIT_LOG"
echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
