#!/usr/bin/env bash
# Installs the Debian 12 packages Syncline builds and runs with, when any is missing.
# Idempotent and quiet when everything is present; needs root (or sudo) to install.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache git
  libasio-dev libprotobuf-dev protobuf-compiler liblmdb-dev lmdb-utils libroaring-dev
  libspdlog-dev libfmt-dev libxxhash-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libtomlplusplus-dev libcpp-httplib-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done" >&2
