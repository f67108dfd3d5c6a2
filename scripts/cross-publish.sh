#!/usr/bin/env bash
# Builds the Pi package: out/piorchestrator-<version>-<rid>[-<kind>].tar.gz with the app, the SQLite native for
# that RID, the systemd unit, example configuration and install.sh.
#   scripts/cross-publish.sh [linux-arm64|linux-arm|linux-x64|all] [--self-contained|--native] [--deb]
# Builds under out/build, apart from the developer build in src/*/bin. Kinds:
#   (default)         framework-dependent: the Pi runs it with the .NET 10 ASP.NET Core runtime (4 MB package).
#   --self-contained  carries the runtime (48 MB); needs the runtime packs for the RID from NuGet.
#   --native          compiled ahead of time to one executable (no JIT, no runtime to install; about half the
#                     memory, start in tens of ms); linux-arm64 and linux-x64. Needs clang and lld, and to build
#                     for arm64 on another CPU, Debian's gcc-aarch64-linux-gnu (its linker, C library and objcopy).
# "all" is the two Pi RIDs, linux-arm64 and linux-arm.
# --deb also builds the Debian package of each framework-dependent or native build (scripts/build-deb.sh):
#   out/deb/<framework|native>/piorchestrator_<version>_<arm64|armhf|amd64>.deb
set -euo pipefail
cd "$(dirname "$0")/.."
target=all
kind=framework
deb=no
for arg in "$@"; do
  case "$arg" in
    linux-arm64|linux-arm|linux-x64|all) target="$arg" ;;
    --self-contained) kind=self-contained ;;
    --native) kind=native ;;
    --deb) deb=yes ;;
    *) echo "usage: scripts/cross-publish.sh [linux-arm64|linux-arm|linux-x64|all] [--self-contained|--native] [--deb]" >&2; exit 2 ;;
  esac
done
if [ "$deb" = yes ] && [ "$kind" = self-contained ]; then
  echo "error: --deb packages framework-dependent and native builds (a self-contained one would duplicate the runtime package)." >&2
  exit 2
fi
rids=(linux-arm64 linux-arm)
[ "$target" = all ] || rids=("$target")
version=$(grep -o '<Version>[^<]*' Directory.Build.props | cut -d'>' -f2)
mkdir -p out
publish=(dotnet publish src/PiOrchestrator/PiOrchestrator.csproj -c Release --artifacts-path out/build -nologo -v quiet -clp:ErrorsOnly)

# Says which Debian packages a native build for $1 lacks, if any.
native_toolchain_missing() {
  local missing=()
  command -v clang >/dev/null 2>&1 || missing+=(clang)
  command -v ld.lld >/dev/null 2>&1 || missing+=(lld)
  if [ "$1" = linux-arm64 ] && [ "$(uname -m)" != aarch64 ]; then
    command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
    # Only a Recommends of the cross gcc, so absent after --no-install-recommends: the link then misses Scrt1.o.
    [ -f /usr/aarch64-linux-gnu/lib/Scrt1.o ] || missing+=(libc6-dev-arm64-cross)
  fi
  echo "${missing[*]}"
}

for rid in "${rids[@]}"; do
  name="piorchestrator-${version}-${rid}"
  [ "$kind" = framework ] || name="$name-$kind"
  stage="out/$name"
  rm -rf "$stage" "out/$name.tar.gz"
  case "$kind" in
    self-contained)
      # The apphost and the whole runtime for that RID: the Pi then needs no .NET installed.
      if ! log=$("${publish[@]}" -r "$rid" --self-contained true -o "$stage/app" 2>&1); then
        if grep -q "NU110[12].*Microsoft\.[A-Za-z]*\.App\.Runtime\.$rid" <<<"$log"; then
          echo "error: a self-contained $rid build needs the Microsoft.NETCore.App.Runtime.$rid and Microsoft.AspNetCore.App.Runtime.$rid packs," >&2
          echo "       which this machine's NuGet sources do not have. Build framework-dependent (the default) instead." >&2
        else
          echo "$log" >&2
        fi
        exit 1
      fi ;;
    native)
      if [ "$rid" = linux-arm ]; then
        echo "error: --native builds linux-arm64 and linux-x64; a 32-bit Raspberry Pi OS takes the framework-dependent package." >&2
        exit 1
      fi
      missing=$(native_toolchain_missing "$rid")
      if [ -n "$missing" ]; then
        echo "error: a native $rid build needs the Debian packages: $missing (apt-get install $missing)" >&2
        exit 1
      fi
      cross=()
      [ "$rid" = linux-arm64 ] && [ "$(uname -m)" != aarch64 ] && cross=(-p:ObjCopyName=aarch64-linux-gnu-objcopy)
      "${publish[@]}" -r "$rid" -p:PublishAot=true "${cross[@]}" -o "$stage/app"
      # Debug symbols stay in out/build; the Pi gets the stripped executable.
      rm -f "$stage/app/PiOrchestrator.dbg" ;;
    framework)
      "${publish[@]}" -p:UseAppHost=false -o "$stage/app"
      # Keep only this RID's natives (SQLite's e_sqlite3): the package is for one kind of Pi.
      find "$stage/app/runtimes" -mindepth 1 -maxdepth 1 -type d ! -name "$rid" -exec rm -rf {} +
      test -f "$stage/app/runtimes/$rid/native/libe_sqlite3.so" || { echo "error: SQLite native for $rid missing" >&2; exit 1; } ;;
  esac
  cp deploy/systemd/piorchestrator.service deploy/install.sh deploy/appsettings.example.json deploy/piorchestrator.env.example README.md "$stage/"
  tar -C out -czf "out/$name.tar.gz" "$name"
  if [ "$deb" = yes ]; then
    deb_args=(--app "$stage/app" --rid "$rid")
    [ "$kind" = native ] && deb_args+=(--native)
    scripts/build-deb.sh "${deb_args[@]}"
  fi
  rm -rf "$stage"
  echo "out/$name.tar.gz"
done
