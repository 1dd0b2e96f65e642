#!/usr/bin/env bash
# Runs every test of berth: the unit tests of each crate and the
# end-to-end tests in tests/ (each starts its own berthd; they need root).
# This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
if [ "$(id -u)" != 0 ]; then
  echo "berth's tests need root (overlay mounts, device nodes): run as root" >&2
  exit 1
fi
# The e2e tests drive the built binaries.
cargo build --workspace --bins --locked
cargo test --workspace --all-targets --locked --no-fail-fast
