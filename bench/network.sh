#!/usr/bin/env bash
# Benchmark: networking, berth side by side with docker. Not a timed test: it
# prints p50/p90, throughput and ratios; record them in bench/RESULTS.md.
#
#   bench/network.sh [RUNS] [STREAMS]   (defaults 30 and 3; run as root)
#
# 1. `run --rm busybox true` on the default bridge (a veth, an address, the
#    hosts files), RUNS times one after another after a warm-up: berth (its
#    own bridge, see bench/lib.sh) against `docker run --rm` on docker0.
#    p50 and p90 of the wall time; target berth p50 <= 60 ms.
# 2. A 1 GiB TCP stream from a container to the host through a port
#    published on 127.0.0.1: in the container busybox `nc -ll -e` runs
#    `dd if=/dev/zero bs=1M count=1024` on every connection; on the host a
#    small Python reader connects to 127.0.0.1:PORT, reads with 1 MiB
#    buffers and times from the first byte to the end (a byte count other
#    than 1 GiB fails). STREAMS streams each, the median MB/s. berth's path:
#    nftables dnat to the container over the veth; docker's: its userland
#    proxy (docker-proxy), which serves 127.0.0.1 as docker ships.
#
# Every daemon is private (own root, state, socket). dockerd here runs with
# its networking (docker0, iptables): bench/lib.sh saves the iptables rules
# first and puts them back, and deletes docker0, when the script exits. The
# traffic stays on the host: 127.0.0.1 and the containers.
set -euo pipefail
RUNS=${1:-30}
STREAMS=${2:-3}
BENCH=berth-bench-net
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init
echo "tcp stream: 1 GiB, $STREAMS streams each"

BYTES=$((1024 * 1024 * 1024))
cat >"$WORK/reader.py" <<'EOF'
# reader.py PORT BYTES: connects to 127.0.0.1:PORT until data comes (the
# server may not listen yet: refused, or a proxy that closes at once), reads
# to the end, prints MB/s from the first byte to the last.
import socket, sys, time
port, want = int(sys.argv[1]), int(sys.argv[2])
deadline = time.monotonic() + 30
buf = bytearray(1 << 20)
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        n = s.recv_into(buf)
    except (ConnectionRefusedError, ConnectionResetError):
        n = 0
    if n:
        break
    s.close()
    if time.monotonic() > deadline:
        sys.exit("no data from 127.0.0.1:%d in 30 s" % port)
    time.sleep(0.05)
t0 = time.monotonic()
total = n
while True:
    k = s.recv_into(buf)
    if not k:
        break
    total += k
t = time.monotonic() - t0
if total != want:
    sys.exit("got %d bytes, want %d" % (total, want))
print("%.1f" % (total / t / 1e6))
EOF

# stream CLI...: STREAMS 1 GiB streams from one container, prints the median
# MB/s.
stream() {
  local port name i
  port=$(free_port)
  name=stream-$RANDOM
  "$@" run -d --name "$name" -p "127.0.0.1:$port:5000" busybox \
    nc -ll -p 5000 -e sh -c "dd if=/dev/zero bs=1M count=1024 2>/dev/null" >/dev/null
  for i in $(seq "$STREAMS"); do
    python3 "$WORK/reader.py" "$port" "$BYTES"
  done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
  "$@" rm -f "$name" >/dev/null
}

# --- berth ------------------------------------------------------------------
start_berthd
"${B[@]}" run --rm busybox true # warm up (and fail loudly if the bridge does not work)
R=$(timeit "${B[@]}" run --rm busybox true); read -r BERTH_P50 BERTH_P90 <<<"$R"
echo "berth  run --rm busybox true (bridge):  p50 ${BERTH_P50} ms  p90 ${BERTH_P90} ms (target p50 <= 60 ms)"
R=$(timeit "${B[@]}" run --rm --network none busybox true); read -r BNONE_P50 BNONE_P90 <<<"$R"
echo "berth  run --rm --network none busybox true:  p50 ${BNONE_P50} ms  p90 ${BNONE_P90} ms"
BERTH_MBS=$(stream "${B[@]}")
echo "berth  tcp stream through -p 127.0.0.1 (nftables dnat):  ${BERTH_MBS} MB/s"
# berthd's part is over: its bridge and table go before dockerd's come.
stop "$BERTHD"; BERTHD=
ip link del "$BERTH_BRIDGE" 2>/dev/null || true
nft delete table inet "$BERTH_TABLE" 2>/dev/null || true

# --- docker --------------------------------------------------------------------
if start_dockerd_bridge; then
  "${D[@]}" run --rm busybox true
  R=$(timeit "${D[@]}" run --rm busybox true); read -r DOCKER_P50 DOCKER_P90 <<<"$R"
  echo "docker run --rm busybox true (docker0):  p50 ${DOCKER_P50} ms  p90 ${DOCKER_P90} ms"
  DOCKER_MBS=$(stream "${D[@]}")
  echo "docker tcp stream through -p 127.0.0.1 (docker-proxy):  ${DOCKER_MBS} MB/s"
fi

echo
echo "== ratios (> 1 means berth is faster)"
if [ -n "${DOCKER_P50:-}" ]; then
  echo "run --rm, p50 docker/berth:   $(ratio "$DOCKER_P50" "$BERTH_P50")x"
  echo "tcp stream, berth/docker:     $(ratio "$BERTH_MBS" "$DOCKER_MBS")x"
fi
