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

# The native libraries the agent uses at run time (see README, "Why these libraries").
AGENT_PACKAGES=(libmosquitto1 libturbojpeg0 libgpiod2)

# An arm64 root with the agent's native libraries, for running the arm64 package under qemu-aarch64 -L <root>:
# the cross glibc/libstdc++ from Debian's *-arm64-cross packages, and the arm64 .debs of AGENT_PACKAGES (and what
# they need) fetched with a private apt state, so this machine's own apt configuration is left as it is.
ensure_arm64_sysroot() {
  local root="$1"
  [ -f "$root/.complete" ] && return 0
  ensure_debian_packages qemu-user libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross
  local work; work=$(mktemp -d)
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
  local apt_arm64=(-o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "Dir::State::status=/dev/null"
                   -o APT::Architecture=arm64 -o "APT::Architectures::=arm64" -o APT::Sandbox::User=root)
  apt-get "${apt_arm64[@]}" update -qq
  (cd "$work/debs" && apt-get "${apt_arm64[@]}" download -qq "${AGENT_PACKAGES[@]/%/:arm64}" libssl3:arm64 libcjson1:arm64)
  rm -rf "$root" && mkdir -p "$root/lib/aarch64-linux-gnu"
  local deb; for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$root"; done
  cp -a /usr/aarch64-linux-gnu/lib/. "$root/lib/aarch64-linux-gnu/"
  ln -sf aarch64-linux-gnu/ld-linux-aarch64.so.1 "$root/lib/ld-linux-aarch64.so.1"
  rm -rf "$work"
  touch "$root/.complete"
}
