#!/usr/bin/env bash
# Builds the Pi package: framework-dependent (the Pi runs it with the .NET 10 ASP.NET Core runtime),
# carrying the SQLite natives for linux-arm64 and linux-arm.
#   scripts/cross-publish.sh            -> out/piorchestrator-<version>/
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(grep -o '<Version>[^<]*' Directory.Build.props | cut -d'>' -f2)
out="out/piorchestrator-${version}"
rm -rf "$out"
dotnet publish src/PiOrchestrator/PiOrchestrator.csproj -c Release -o "$out" -nologo -v quiet -clp:ErrorsOnly
for rid in linux-arm64 linux-arm; do
  test -f "$out/runtimes/$rid/native/libe_sqlite3.so" || { echo "error: SQLite native for $rid missing from $out" >&2; exit 1; }
done
cp deploy/systemd/piorchestrator.service "$out/"
echo "$out"
