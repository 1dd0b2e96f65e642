#!/usr/bin/env bash
# Runs every test of berth: the unit tests of each crate and the end-to-end
# tests in tests/ (each starts its own berthd; they need root).
# This is the README's test command; .ci/run calls exactly this.
#
# Uses cargo-nextest when installed (one process per test, runs the e2e
# tests in parallel, prints a summary), else `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
if [ "$(id -u)" != 0 ]; then
  echo "berth's tests need root (overlay mounts, a daemon per test): run as root" >&2
  exit 1
fi
# The e2e tests drive the built binaries (target/debug/berthd, berth).
cargo build --workspace --bins --all-targets
if cargo nextest --version >/dev/null 2>&1; then
  # nextest does not run doc tests: run them first, so that nextest's
  # summary of every test is the last thing printed.
  rc=0
  cargo test --workspace --doc || rc=$?
  cargo nextest run --workspace --no-fail-fast || rc=$?
  exit "$rc"
else
  exec cargo test --workspace --no-fail-fast
fi
