#!/usr/bin/env bash
# Installs PiOrchestrator from this unpacked package on Raspberry Pi OS / Debian 12 (bookworm) or 13 (trixie). Idempotent.
#   sudo ./install.sh                 install or upgrade, enable and start the service
#   sudo ./install.sh --uninstall     remove it, keeping /var/lib/piorchestrator (the evidence) and /etc config
#   sudo ./install.sh --uninstall --purge   remove the data and configuration too
# --root DIR installs into DIR instead of / (apt, systemctl and the .NET check are then skipped): for testing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root=""
mode=install
purge=no
while [ $# -gt 0 ]; do
  case "$1" in
    --uninstall) mode=uninstall ;;
    --purge) purge=yes ;;
    --root) root="${2%/}"; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
live() { [ -z "$root" ]; }
run() { if live; then "$@"; else echo "(skipped in --root: $*)"; fi; }

app="$root/opt/piorchestrator"
etc="$root/etc/piorchestrator"
unit="$root/etc/systemd/system/piorchestrator.service"
data="$root/var/lib/piorchestrator"

if [ "$(id -u)" -ne 0 ] && live; then echo "install.sh: run as root (sudo)" >&2; exit 1; fi

if [ "$mode" = uninstall ]; then
  run systemctl disable --now piorchestrator.service || true
  rm -f "$unit"
  rm -rf "$unit.d"
  rm -rf "$app"
  run systemctl daemon-reload
  if [ "$purge" = yes ]; then
    rm -rf "$data" "$etc" "$root/var/cache/piorchestrator"
    if getent --help >/dev/null 2>&1 && grep -q '^piorchestrator:' "$root/etc/passwd" 2>/dev/null; then
      userdel ${root:+--root "$root"} piorchestrator || true
    fi
    echo "PiOrchestrator removed, with its data and configuration."
  else
    echo "PiOrchestrator removed; evidence kept in /var/lib/piorchestrator, configuration in /etc/piorchestrator (--purge removes them)."
  fi
  exit 0
fi

# 1. Native libraries the agent calls. libgpiod is libgpiod3 (libgpiod 2) on Debian 13 trixie, which has no
#    libgpiod2, and libgpiod2 (libgpiod 1) on Debian 12 bookworm; the agent picks its driver by what loads.
if live; then
  apt-cache show libgpiod3 >/dev/null 2>&1 || apt-cache show libgpiod2 >/dev/null 2>&1 || apt-get update -qq
  gpiod=libgpiod2
  apt-cache show libgpiod3 >/dev/null 2>&1 && gpiod=libgpiod3
  apt-get install -y --no-install-recommends libturbojpeg0 "$gpiod"
fi

# 2. The ASP.NET Core 10 runtime, unless the package runs by itself: self-contained (app/PiOrchestrator beside the
#    runtime) or native (app/PiOrchestrator alone, compiled ahead of time).
package_kind=framework
if [ -x "$here/app/PiOrchestrator" ]; then
  package_kind=self-contained
  [ -f "$here/app/PiOrchestrator.dll" ] || package_kind=native
fi
if live && [ "$package_kind" = framework ] && ! dotnet --list-runtimes 2>/dev/null | grep -q '^Microsoft.AspNetCore.App 10\.'; then
  echo "install.sh: the .NET 10 ASP.NET Core runtime is missing." >&2
  echo "  Install it with Microsoft's script:  curl -sSL https://dot.net/v1/dotnet-install.sh | bash -s -- --channel 10.0 --runtime aspnetcore --install-dir /usr/share/dotnet" >&2
  echo "  and link it:                         ln -sf /usr/share/dotnet/dotnet /usr/bin/dotnet" >&2
  exit 1
fi

# 3. The service user, in the gpio group for the door sensors.
if ! grep -q '^piorchestrator:' "$root/etc/passwd" 2>/dev/null; then
  useradd ${root:+--root "$root"} --system --user-group --no-create-home --home-dir /var/lib/piorchestrator --shell /usr/sbin/nologin piorchestrator
fi
if grep -q '^gpio:' "$root/etc/group" 2>/dev/null; then
  usermod ${root:+--root "$root"} -a -G gpio piorchestrator
fi

# 4. The application: replaced as a whole, so an upgrade leaves no stale files.
rm -rf "$app.new"
mkdir -p "$app.new"
cp -a "$here/app/." "$app.new/"
rm -rf "$app"
mv "$app.new" "$app"
chown -R root:root "$app"

# 5. Configuration: installed once, never overwritten.
install -d -m 0750 "$etc"
[ -f "$etc/appsettings.json" ] || install -m 0640 "$here/appsettings.example.json" "$etc/appsettings.json"
[ -f "$etc/piorchestrator.env" ] || install -m 0640 "$here/piorchestrator.env.example" "$etc/piorchestrator.env"
chgrp -R piorchestrator "$etc" 2>/dev/null || true
# Secrets as systemd credentials: root-only files here, handed to the service alone (LoadCredential=).
install -d -m 0700 "$etc/credentials"
# Test captures need a key: without one any web page open in a technician's browser on the LAN could take photos.
# Made once, only when no key is configured anywhere; the status page asks for it.
if [ ! -f "$etc/credentials/api-key" ] && ! grep -qsE '^\s*PIORCH_Api__Key=.' "$etc/piorchestrator.env" \
   && ! grep -qs '"Key"' "$etc/appsettings.json"; then
  (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' > "$etc/credentials/api-key")
  echo "An API key for test captures was made: sudo cat /etc/piorchestrator/credentials/api-key"
fi

# 6. The unit, then start.
install -d "$(dirname "$unit")"
install -m 0644 "$here/piorchestrator.service" "$unit"
# One LoadCredential= per secret present in /etc/piorchestrator/credentials (a missing one would stop the unit).
dropin="$unit.d/credentials.conf"
creds=""
for name in s3-access-key s3-secret-key mqtt-password api-key device-key invite-pepper; do
  [ -f "$etc/credentials/$name" ] && creds="$creds"$'\n'"LoadCredential=$name:/etc/piorchestrator/credentials/$name"
done
if [ -n "$creds" ]; then
  install -d "$unit.d"
  printf '# Written by install.sh from the files in /etc/piorchestrator/credentials; run it again after adding one.\n[Service]%s\n' "$creds" > "$dropin"
else
  rm -f "$dropin"
fi
# A package that runs by itself starts its executable instead of /usr/bin/dotnet; a native one never JITs, so it
# also runs with MemoryDenyWriteExecute (no memory both writable and executable).
executable_dropin="$unit.d/executable.conf"
if [ "$package_kind" = framework ]; then
  rm -f "$executable_dropin"
else
  install -d "$unit.d"
  {
    printf '# Written by install.sh for a %s package.\n[Service]\nExecStart=\nExecStart=/opt/piorchestrator/PiOrchestrator\n' "$package_kind"
    [ "$package_kind" = native ] && printf 'MemoryDenyWriteExecute=yes\n'
  } > "$executable_dropin"
fi
rmdir "$unit.d" 2>/dev/null || true
run systemctl daemon-reload
run systemctl enable piorchestrator.service
run systemctl restart piorchestrator.service
echo "PiOrchestrator installed: systemctl status piorchestrator; journalctl -u piorchestrator -p warning"
