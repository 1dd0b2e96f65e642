#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build berth
# (release), start a berthd with its own root and socket, build the busybox
# image from the host's static busybox, load it and list it.
# berthd keeps running afterwards; the script prints how to use and stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
cargo build --release --workspace --bins --locked

BIN=$PWD/target/release
DEMO=${BERTH_DEMO_DIR:-/var/lib/berth-demo}
SOCK=$DEMO/berth.sock
mkdir -p "$DEMO"
if [ -f "$DEMO/berthd.pid" ] && kill -0 "$(cat "$DEMO/berthd.pid")" 2>/dev/null; then
  echo "stopping the previous demo berthd"
  kill "$(cat "$DEMO/berthd.pid")"
  sleep 1
fi
"$BIN/berthd" --root "$DEMO/root" --state "$DEMO/state" --address "unix://$SOCK" \
  >"$DEMO/berthd.log" 2>&1 &
echo $! >"$DEMO/berthd.pid"
berth() { "$BIN/berth" -H "unix://$SOCK" "$@"; }
for _ in $(seq 100); do berth version >/dev/null 2>&1 && break; sleep 0.1; done
berth version

"$BIN/make-image" busybox "$DEMO/busybox.tar" --tag busybox:latest
berth load -i "$DEMO/busybox.tar"
berth images
berth image inspect busybox --format json | head -n 20

cat <<MSG

berthd is running (pid $(cat "$DEMO/berthd.pid"), log $DEMO/berthd.log).
Use it:   $BIN/berth -H unix://$SOCK images
Stop it:  kill \$(cat $DEMO/berthd.pid)
MSG
