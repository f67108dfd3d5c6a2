#!/usr/bin/env bash
# Makes a signed flat apt repository of the .debs given, as a fleet's own would be (README, "Debian package (apt)"):
#   test-tools/vm/make-repo.sh OUT-DIR DEB...
# OUT-DIR gets the packages, Packages, Release, InRelease (signed with a key made for this repository alone, in a
# throwaway GNUPGHOME) and key.gpg, the public key for the guest's signed-by=.
set -euo pipefail
out="$1"; shift
mkdir -p "$out"
cp "$@" "$out/"
cd "$out"
dpkg-scanpackages --multiversion . > Packages 2>/dev/null
{
  echo "Origin: piorchestrator-test"
  echo "Label: piorchestrator-test"
  echo "Suite: stable"
  echo "Codename: vm"
  echo "Date: $(LC_ALL=C date -u -R)"
  echo "Architectures: arm64"
  echo "SHA256:"
  printf ' %s %s Packages\n' "$(sha256sum Packages | cut -d' ' -f1)" "$(stat -c %s Packages)"
} > Release
GNUPGHOME=$(mktemp -d)
export GNUPGHOME
trap 'gpgconf --kill gpg-agent 2>/dev/null || true; rm -rf "$GNUPGHOME"' EXIT
gpg --batch -q --pinentry-mode loopback --passphrase '' --quick-gen-key 'PiOrchestrator test repository <repo@test.invalid>' ed25519 sign never 2>/dev/null
gpg --batch -q --export > key.gpg
gpg --batch -q --pinentry-mode loopback --passphrase '' --clearsign -o InRelease Release
