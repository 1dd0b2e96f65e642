#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test berth:
# Debian packages (test fixtures, image tools, benchmark peers) and, if
# cargo is missing, nothing can be done here: the Rust toolchain comes with
# the machine (rustup).
set -euo pipefail

need=(busybox-static skopeo umoci zstd)
if [ "${BERTH_BENCH_PEERS:-0}" = 1 ]; then
  need+=(docker.io containerd runc hyperfine)
fi
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }
