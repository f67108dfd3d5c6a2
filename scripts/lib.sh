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
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
