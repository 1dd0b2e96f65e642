#!/usr/bin/env bash
# Installs the Debian packages berth needs on a fresh machine, skipping what
# is installed already. Runs without a terminal (CI=true, no stdin).
#
#   scripts/install-deps.sh          what the tests need: busybox-static (the
#                                    test images), skopeo and umoci (read what
#                                    `berth save` writes; skopeo also fills
#                                    the test registries), zstd, docker.io
#                                    (archives must move between docker and
#                                    berth; a private dockerd is started),
#                                    libseccomp-dev (the shim links libseccomp),
#                                    runc (--runtime runc is tested), procps
#                                    (berth top runs the host's ps),
#                                    docker-registry (the distribution tests
#                                    start private registries), openssl (they
#                                    make a CA and a server certificate),
#                                    nftables (berthd's NAT and isolation
#                                    rules), iproute2 (the network tests look
#                                    inside namespaces with ip)
#   scripts/install-deps.sh --all    also the other peers of the benchmarks:
#                                    containerd, hyperfine
#
# The Rust toolchain is not a Debian package here: it comes with the machine
# (rustup, ~/.cargo); the script only checks that cargo is there.
set -euo pipefail

need=(busybox-static skopeo umoci zstd docker.io libseccomp-dev runc procps
  docker-registry openssl nftables iproute2)
if [ "${1:-}" = --all ]; then
  need+=(containerd hyperfine)
fi
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "installing ${missing[*]} needs root" >&2; exit 1; }
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
else
  echo "Debian packages: all present (${need[*]})"
fi
if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
