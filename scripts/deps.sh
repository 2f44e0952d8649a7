#!/usr/bin/env bash
# scripts/deps.sh: install the Debian 12 packages Halqa builds and tests with.
#
# Idempotent and non-interactive: it asks apt-get only for what is missing, so
# a second run costs a dpkg query and nothing else. Runs as root, or through
# sudo when that is available without a password.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libsodium-dev libzmq3-dev libsqlcipher-dev libuv1-dev
  libjansson-dev libinih-dev libical-dev tzdata
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo_cmd=(sudo -n)
  else
    echo "deps: missing packages (${missing[*]}) and no root: run this script as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
