#!/usr/bin/env bash
# Builds the Pi package: out/piorchestrator-<version>-<rid>.tar.gz with the app, the SQLite native for that RID,
# the systemd unit, example configuration and install.sh.
#   scripts/cross-publish.sh [linux-arm64|linux-arm|all] [--self-contained]
# Builds under out/build, apart from the developer build in src/*/bin.
# Default: framework-dependent (the Pi runs it with the .NET 10 ASP.NET Core runtime, 4 MB package); --self-contained
# carries the runtime (about 48 MB) and needs the runtime packs for the RID from NuGet.
set -euo pipefail
cd "$(dirname "$0")/.."
target=all
self_contained=no
for arg in "$@"; do
  case "$arg" in
    linux-arm64|linux-arm|all) target="$arg" ;;
    --self-contained) self_contained=yes ;;
    *) echo "usage: scripts/cross-publish.sh [linux-arm64|linux-arm|all] [--self-contained]" >&2; exit 2 ;;
  esac
done
rids=(linux-arm64 linux-arm)
[ "$target" = all ] || rids=("$target")
version=$(grep -o '<Version>[^<]*' Directory.Build.props | cut -d'>' -f2)
mkdir -p out

for rid in "${rids[@]}"; do
  name="piorchestrator-${version}-${rid}"
  stage="out/$name"
  rm -rf "$stage" "out/$name.tar.gz"
  if [ "$self_contained" = yes ]; then
    # The apphost and the whole runtime for that RID: the Pi then needs no .NET installed.
    if ! log=$(dotnet publish src/PiOrchestrator/PiOrchestrator.csproj -c Release -r "$rid" --self-contained true --artifacts-path out/build -o "$stage/app" -nologo -v quiet -clp:ErrorsOnly 2>&1); then
      if grep -q "NU110[12].*Microsoft\.[A-Za-z]*\.App\.Runtime\.$rid" <<<"$log"; then
        echo "error: a self-contained $rid build needs the Microsoft.NETCore.App.Runtime.$rid and Microsoft.AspNetCore.App.Runtime.$rid packs," >&2
        echo "       which this machine's NuGet sources do not have. Build framework-dependent (the default) instead." >&2
      else
        echo "$log" >&2
      fi
      exit 1
    fi
  else
    dotnet publish src/PiOrchestrator/PiOrchestrator.csproj -c Release -p:UseAppHost=false --artifacts-path out/build -o "$stage/app" -nologo -v quiet -clp:ErrorsOnly
    # Keep only this RID's natives (SQLite's e_sqlite3): the package is for one kind of Pi.
    find "$stage/app/runtimes" -mindepth 1 -maxdepth 1 -type d ! -name "$rid" -exec rm -rf {} +
    test -f "$stage/app/runtimes/$rid/native/libe_sqlite3.so" || { echo "error: SQLite native for $rid missing" >&2; exit 1; }
  fi
  cp deploy/systemd/piorchestrator.service deploy/install.sh deploy/appsettings.example.json deploy/piorchestrator.env.example README.md "$stage/"
  tar -C out -czf "out/$name.tar.gz" "$name"
  rm -rf "$stage"
  echo "out/$name.tar.gz"
done
