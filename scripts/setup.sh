#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test hgc:
# LLVM/MLIR 22 from Debian, the build tools, GoogleTest, and a Python virtual
# environment (.venv) with the packages the Python tests use. Idempotent: a
# second run installs nothing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

apt_packages=(
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools clang-22 lld-22
  libomp-22-dev libclang-rt-22-dev cmake ninja-build libgtest-dev valgrind
  libprotobuf-dev protobuf-compiler
  python3 python3-venv
)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
    grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

venv=$root/.venv
requirements=$root/scripts/requirements.txt
nodeps=$root/scripts/requirements-nodeps.txt
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
want=$(cat "$requirements" "$nodeps" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into .venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    -r "$requirements"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    --no-deps -r "$nodeps"
  echo "$want" >"$venv/.requirements.sha256"
fi
