#!/usr/bin/env bash
# The main job on a fresh machine, as root: install what is missing (Debian
# packages), build berth (release, scripts/build.sh), start a berthd with its own root, state
# dir and socket under /var/lib/berth-demo (or $BERTH_DEMO_DIR), build the
# busybox image from the host's static busybox, load it and list it.
#
# berthd is LEFT RUNNING afterwards (detached, in its own session) so you can
# keep using it; the script prints how to use and how to stop it. Running the
# script again stops the previous demo berthd first.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (berthd mounts overlays)" >&2; exit 1; }
scripts/install-deps.sh --all
# Release binaries plus the static, LTO'd shim, in target/dist.
scripts/build.sh

BIN=$PWD/target/dist
DEMO=${BERTH_DEMO_DIR:-/var/lib/berth-demo}
SOCK=$DEMO/berth.sock
mkdir -p "$DEMO"
if [ -f "$DEMO/berthd.pid" ] && kill -0 "$(cat "$DEMO/berthd.pid")" 2>/dev/null; then
  echo "stopping the previous demo berthd (pid $(cat "$DEMO/berthd.pid"))"
  kill "$(cat "$DEMO/berthd.pid")"
  for _ in $(seq 100); do kill -0 "$(cat "$DEMO/berthd.pid")" 2>/dev/null || break; sleep 0.1; done
fi
setsid "$BIN/berthd" --root "$DEMO/root" --state "$DEMO/state" --address "unix://$SOCK" \
  --log-level info </dev/null >"$DEMO/berthd.log" 2>&1 &
echo $! >"$DEMO/berthd.pid"
berth() { "$BIN/berth" -H "unix://$SOCK" "$@"; }
for _ in $(seq 200); do berth version >/dev/null 2>&1 && break; sleep 0.1; done
berth version || { echo "berthd did not start; its log:" >&2; cat "$DEMO/berthd.log" >&2; exit 1; }

"$BIN/make-image" busybox "$DEMO/busybox.tar" --tag busybox:latest
berth load -i "$DEMO/busybox.tar"
berth images
berth history busybox
# A container: the shim, the built-in runtime, the log, --rm.
berth run --rm busybox sh -c 'echo "hello from $(hostname), pid $$, as $(id -un)"'
berth rm -f demo >/dev/null 2>&1 || true # from an earlier run of this script
berth run -d --name demo busybox sleep 3600
berth exec demo sh -c 'echo "exec in $(hostname): $(ps | wc -l) lines of ps"'
berth ps

cat <<MSG

berthd is still running (pid $(cat "$DEMO/berthd.pid"), log $DEMO/berthd.log).
A container named "demo" runs too: berth exec -it demo sh; berth rm -f demo.
Use it:   $BIN/berth -H unix://$SOCK images
          export BERTH_HOST=unix://$SOCK; $BIN/berth image inspect busybox
Stop it:  kill \$(cat $DEMO/berthd.pid)
MSG
