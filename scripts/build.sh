#!/usr/bin/env bash
# Builds berth as it ships and puts the binaries in target/dist/:
#
#   berthd, berth, make-image   `cargo build --release`
#   berth-shim                  `--profile shim` (Cargo.toml): whole-program LTO,
#                               panic=abort, opt-level z, linked statically
#                               (glibc and libseccomp) and position-dependent
#
# One shim runs per container, so its resident size is a target (issue 3: an idle
# shim under 3 MiB, bench/run.sh): a static, LTO'd shim maps no shared libraries
# and no dynamic loader, and has half the code. berthd finds `berth-shim` next to
# itself, so run the binaries from target/dist. Tests use the ordinary debug
# build (`cargo build`), whose shim is dynamic; both behave the same.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
cargo build --release --workspace --bins "$@"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (they
# stay dynamic host binaries) and puts the shim in its own directory.
host=$(rustc -vV | sed -n 's/^host: //p')
static_libs=$(dirname "$(gcc -print-file-name=libseccomp.a)")
[ -f "$static_libs/libseccomp.a" ] || {
  echo "libseccomp.a not found: apt-get install libseccomp-dev" >&2
  exit 1
}
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$static_libs \
  RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
  cargo build --profile shim -p berth-shim --target "$host" "$@"
mkdir -p target/dist
for b in berthd berth make-image; do
  cp -f "target/release/$b" "target/dist/$b.new" && mv -f "target/dist/$b.new" "target/dist/$b"
done
cp -f "target/$host/shim/berth-shim" target/dist/berth-shim.new
mv -f target/dist/berth-shim.new target/dist/berth-shim
echo "binaries in $PWD/target/dist: $(cd target/dist && echo *)"
