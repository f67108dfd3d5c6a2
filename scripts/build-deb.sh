#!/usr/bin/env bash
# Builds a Debian package of the agent with dpkg-deb: out/deb/<flavour>/piorchestrator_<version>_<arch>.deb
#   scripts/build-deb.sh --app DIR --rid linux-arm64|linux-arm|linux-x64 [--native] [--version V] [--out DIR]
# DIR is a published agent (cross-publish.sh stages one; a framework-dependent build output works too: other RIDs'
# natives are left out). Flavours: framework-dependent (Depends on the ASP.NET Core 10 runtime package) or --native
# (one executable compiled ahead of time). Both are package "piorchestrator", so one apt repository serves one flavour.
# Installs the app in /usr/lib/piorchestrator, the unit in /usr/lib/systemd/system, /etc/piorchestrator/appsettings.json
# (configured for nothing) and piorchestrator.env as conffiles; the maintainer scripts are in deploy/debian/.
set -euo pipefail
cd "$(dirname "$0")/.."
app="" rid="" flavour=framework out=out/deb
version=$(grep -o '<Version>[^<]*' Directory.Build.props | cut -d'>' -f2)
while [ $# -gt 0 ]; do
  case "$1" in
    --app) app="${2%/}"; shift ;;
    --rid) rid="$2"; shift ;;
    --native) flavour=native ;;
    --version) version="$2"; shift ;;
    --out) out="$2"; shift ;;
    *) echo "usage: scripts/build-deb.sh --app DIR --rid linux-arm64|linux-arm|linux-x64 [--native] [--version V] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
case "$rid" in
  linux-arm64) arch=arm64 ;;
  linux-arm) arch=armhf ;;
  linux-x64) arch=amd64 ;;
  *) echo "build-deb.sh: --rid linux-arm64, linux-arm or linux-x64" >&2; exit 2 ;;
esac
command -v llvm-strip >/dev/null || { echo "build-deb.sh: needs llvm-strip (apt-get install llvm)" >&2; exit 1; }
[ -d "$app" ] || { echo "build-deb.sh: --app DIR: no such directory '$app'" >&2; exit 2; }
if [ "$flavour" = native ]; then
  [ -x "$app/PiOrchestrator" ] && [ ! -f "$app/PiOrchestrator.dll" ] || { echo "build-deb.sh: $app is not a native build" >&2; exit 2; }
else
  [ -f "$app/PiOrchestrator.dll" ] || { echo "build-deb.sh: $app has no PiOrchestrator.dll" >&2; exit 2; }
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
lib="$root/usr/lib/piorchestrator"
doc="$root/usr/share/doc/piorchestrator"
install -d -m 0755 "$lib" "$doc" "$root/usr/lib/systemd/system" "$root/etc/piorchestrator" "$root/DEBIAN"

# The application. Framework-dependent: only this RID's natives (SQLite's e_sqlite3); no apphost, dotnet runs the dll.
cp -a "$app/." "$lib/"
rm -f "$lib"/*.pdb "$lib"/*.dbg "$lib/PiOrchestrator.deps.json.bak"
if [ "$flavour" = framework ]; then
  rm -f "$lib/PiOrchestrator"
  [ -d "$lib/runtimes" ] && find "$lib/runtimes" -mindepth 1 -maxdepth 1 -type d ! -name "$rid" -exec rm -rf {} +
  test -f "$lib/runtimes/$rid/native/libe_sqlite3.so" || { echo "build-deb.sh: SQLite native for $rid missing in $app" >&2; exit 1; }
fi
find "$lib" -type d -exec chmod 0755 {} +
find "$lib" -type f -exec chmod 0644 {} +
[ "$flavour" = native ] && chmod 0755 "$lib/PiOrchestrator"
# NuGet's native SQLite carries its symbols; Debian packages ship stripped objects. llvm-strip strips any architecture.
find "$lib" -name '*.so' -exec llvm-strip --strip-unneeded {} +

# The unit, with the package's paths; a native build never JITs, so it also runs with MemoryDenyWriteExecute.
unit="$root/usr/lib/systemd/system/piorchestrator.service"
sed -e 's|/opt/piorchestrator/README.md|/usr/share/doc/piorchestrator/README.md.gz|' \
    -e 's|/opt/piorchestrator|/usr/lib/piorchestrator|g' \
    -e 's|install.sh writes one per file|the package writes one per file|' \
    deploy/systemd/piorchestrator.service > "$unit"
if [ "$flavour" = native ]; then
  sed -i -e 's|^ExecStart=.*|ExecStart=/usr/lib/piorchestrator/PiOrchestrator|' \
         -e 's|^NoNewPrivileges=yes|NoNewPrivileges=yes\nMemoryDenyWriteExecute=yes|' "$unit"
fi
chmod 0644 "$unit"

# Configuration: conffiles, so an operator's edits survive upgrades (dpkg asks, or keeps them under apt -y). The
# installed appsettings.json configures nothing (no example addresses a site may not own); the example is documentation.
install -m 0644 deploy/debian/appsettings.json "$root/etc/piorchestrator/appsettings.json"
install -m 0644 deploy/appsettings.example.json "$doc/appsettings.example.json"
install -m 0644 deploy/piorchestrator.env.example "$root/etc/piorchestrator/piorchestrator.env"
printf '/etc/piorchestrator/appsettings.json\n/etc/piorchestrator/piorchestrator.env\n' > "$root/DEBIAN/conffiles"

# Documentation, as Debian policy wants it: copyright, a (native package) changelog, the README.
gzip -9n < README.md > "$doc/README.md.gz"
cp deploy/debian/copyright "$doc/copyright"
{
  printf 'piorchestrator (%s) unstable; urgency=medium\n\n' "$version"
  printf '  * Release %s, built from the PiOrchestrator repository.\n\n' "$version"
  printf ' -- %s  %s\n' "$(sed -n 's/^Maintainer: //p' deploy/debian/control.in)" "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc"/*

# The native executable carries .NET's compression shim with zlib-ng linked in statically (the ahead-of-time compiler
# links the runtime's own static libraries; it cannot take the system's libz instead).
if [ "$flavour" = native ]; then
  install -d -m 0755 "$root/usr/share/lintian/overrides"
  printf '# .NET native AOT links its System.IO.Compression shim (zlib-ng) statically into the executable.\npiorchestrator: embedded-library zlib [usr/lib/piorchestrator/PiOrchestrator]\n' \
    > "$root/usr/share/lintian/overrides/piorchestrator"
  chmod 0644 "$root/usr/share/lintian/overrides/piorchestrator"
fi

# Maintainer scripts.
for script in postinst prerm postrm; do install -m 0755 "deploy/debian/$script" "$root/DEBIAN/$script"; done

# Dependencies: the native libraries the agent loads (libssl: .NET's TLS for MQTT and S3 over TLS) (libgpiod 2 as libgpiod3 on trixie, libgpiod 1 as libgpiod2 on
# bookworm; the agent picks its driver by what loads), and for framework-dependent builds the ASP.NET Core runtime.
depends="libc6, libturbojpeg0, libgpiod3 | libgpiod2, libssl3t64 | libssl3"
[ "$flavour" = framework ] && depends="$depends, aspnetcore-runtime-10.0"
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s#@VERSION@#$version#" -e "s#@ARCH@#$arch#" -e "s#@DEPENDS@#$depends#" -e "s#@SIZE@#$installed_size#" \
    -e "s|@FLAVOUR@|$([ "$flavour" = native ] && echo 'native (ahead-of-time compiled) build' || echo 'build for the .NET 10 ASP.NET Core runtime')|" \
    deploy/debian/control.in > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$out/$flavour"
deb="$out/$flavour/piorchestrator_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
