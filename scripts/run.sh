#!/usr/bin/env bash
# Sets up a fresh Debian / Raspberry Pi OS machine and runs the agent from this checkout.
#   scripts/run.sh            runs on embedded defaults (http://0.0.0.0:8082, data in ~/.local/share/piorchestrator)
#   scripts/run.sh --demo     adds a simulated door and camera: sessions and before/after pairs within seconds
# Any other argument goes to the agent (--urls http://127.0.0.1:9000, --Mqtt:Host=broker.lan, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_apt_lists
# shellcheck disable=SC2046 # agent_packages prints a word list
ensure_debian_packages $(agent_packages)
ensure_dotnet_sdk
dotnet build src/PiOrchestrator/PiOrchestrator.csproj -c Release -nologo -v quiet -clp:ErrorsOnly
exec dotnet src/PiOrchestrator/bin/Release/net10.0/PiOrchestrator.dll "$@"
