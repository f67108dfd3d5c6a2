# Shared by scripts/run.sh and scripts/test.sh: make a fresh Debian machine able to build and run the agent.

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages given that are not installed yet; apt-get update runs once, only if needed.
ensure_debian_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  # Packages with a service (mosquitto, nginx) must not start it: the tests and benches start their own, and a
  # service that cannot start (port taken, no init) would fail the install. policy-rc.d 101 = "do not start".
  local policy=/usr/sbin/policy-rc.d placed=no
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod 0755 "$policy" && placed=yes
  fi
  local status=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  [ "$placed" = yes ] && as_root rm -f "$policy"
  return $status
}

ensure_dotnet_sdk() {
  if ! command -v dotnet >/dev/null 2>&1 || ! dotnet --list-sdks 2>/dev/null | grep -q '^10\.'; then
    echo "error: the .NET 10 SDK is needed (dotnet --list-sdks shows none)." >&2
    echo "       Install it from Microsoft's Debian feed (package dotnet-sdk-10.0) or with dotnet-install.sh, then run this again." >&2
    exit 1
  fi
}

# The native libraries the agent uses at run time (see README, "Why these libraries"). libgpiod's runtime differs by
# release: Debian 13 trixie (Raspberry Pi OS since late 2025) ships libgpiod 2 as libgpiod3 and no libgpiod2;
# Debian 12 bookworm ships libgpiod 1 as libgpiod2. Needs apt's package lists (ensure_apt_lists).
agent_packages() {
  local gpiod=libgpiod2
  apt-cache show libgpiod3 >/dev/null 2>&1 && gpiod=libgpiod3
  echo libturbojpeg0 "$gpiod"
}

# apt-get update once, on a machine that has never fetched package lists (apt-cache then knows nothing).
ensure_apt_lists() {
  compgen -G "/var/lib/apt/lists/*_Packages" >/dev/null || as_root apt-get update -qq
}

# An arm64 root of one Debian release with the agent's native libraries and their C library, for running the arm64
# package as a Pi of that release would: qemu-aarch64 -L <root>. Built from that release's arm64 .debs, fetched with a
# private apt state and sources entry (dependencies resolved against an empty system), so this machine's own apt
# configuration is left as it is.
ensure_arm64_root() {
  local root="$1" release="$2"
  [ -f "$root/.complete" ] && return 0
  ensure_debian_packages qemu-user debian-archive-keyring
  # libstdc++6: the self-contained runtime; libssl: .NET's TLS (MQTT over TLS, S3 over https) loads libssl.so.3.
  local packages=(libc6 libstdc++6 libturbojpeg0)
  case "$release" in
    bookworm) packages+=(libgpiod2 libssl3) ;;
    *) packages+=(libgpiod3 libssl3t64) ;;
  esac
  local work; work=$(mktemp -d)
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/parts"
  echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $release main" > "$work/sources.list"
  local apt_arm64=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts"
                   -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "Dir::State::status=/dev/null"
                   -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$work/parts"
                   -o APT::Architecture=arm64 -o "APT::Architectures::=arm64" -o APT::Sandbox::User=root -o Debug::NoLocking=1)
  apt-get "${apt_arm64[@]}" update -qq
  apt-get "${apt_arm64[@]}" install -qq -y --download-only --no-install-recommends "${packages[@]}" >/dev/null
  rm -rf "$root" && mkdir -p "$root"
  local deb; for deb in "$work"/cache/archives/*.deb; do dpkg -x "$deb" "$root"; done
  # Debian's arm64 libc puts the loader in /usr/lib (merged /usr): the ELF interpreter path is /lib/ld-linux-aarch64.so.1.
  [ -e "$root/lib" ] || ln -s usr/lib "$root/lib"
  rm -rf "$work"
  touch "$root/.complete"
}

# The Debian archive this machine's apt uses (its first URI ending in /debian), for the private arm64 sources entry.
debian_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -vE '^\s*#' \
        | grep -oE 'https?://[^ ]+/debian/?( |$)' | sed -n 1p | tr -d ' ')
  [ -n "$uri" ] || { echo "error: no Debian archive in this machine's apt sources, for the arm64 test roots" >&2; return 1; }
  echo "$uri"
}

# The test run's summary: the 8 waits that came closest to their deadline, from the log the tests append to.
# sed reads to the end: `head` would close the pipe early, and under pipefail sort's SIGPIPE (exit 141) would end
# the run before its last line.
closest_waits() {
  [ -s "$1" ] || return 0
  echo "the waits that came closest to their deadline (share used, time, what was awaited):"
  sort -rn "$1" | sed -n '1,8s/^/  /p'
}
