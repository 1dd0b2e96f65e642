#!/usr/bin/env bash
# Benchmark: `exec CONTAINER true` latency, berth side by side with its peers.
# Not a timed test: it prints p50/p90 and ratios; record them in
# bench/RESULTS.md.
#
#   bench/exec.sh [RUNS]        (default 50; run as root)
#
# One running busybox `sleep` container per engine, then RUNS execs of `true`
# into it, one after another, each a whole CLI invocation as a user types it:
# berth (berth -> berthd -> shim: register, attach, start, wait, delete),
# `docker exec` (a private dockerd, as bench/run.sh starts it) and
# `ctr task exec` (a private containerd). Target: berth p50 <= 20 ms.
# A peer that is not installed is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-50}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
if [ -x scripts/build.sh ]; then
  # The binaries as they ship (static, LTO'd shim next to berthd).
  scripts/build.sh -q >/dev/null
  BIN=$PWD/target/dist
else
  cargo build --release --workspace --bins -q
  BIN=$PWD/target/release
fi
WORK=$(mktemp -d /var/tmp/berth-bench-exec-XXXXXX)
BERTHD= DOCKERD= CONTAINERD=
stop() { # pid: SIGTERM, then wait for it
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
B=("$BIN/berth" -H "unix://$WORK/berth.sock")
D=(docker -H "unix://$WORK/docker.sock")
C=(ctr --address "$WORK/containerd/containerd.sock" --namespace bench)
cleanup() {
  set +e
  [ -n "$BERTHD" ] && "${B[@]}" ps -aq 2>/dev/null | xargs -r "${B[@]}" rm -f >/dev/null 2>&1
  [ -n "$DOCKERD" ] && "${D[@]}" ps -aq 2>/dev/null | xargs -r "${D[@]}" rm -f >/dev/null 2>&1
  if [ -n "$CONTAINERD" ]; then
    for t in $("${C[@]}" task ls -q 2>/dev/null); do "${C[@]}" task kill -s KILL "$t"; done >/dev/null 2>&1
    sleep 0.5
    for t in $("${C[@]}" task ls -q 2>/dev/null); do "${C[@]}" task rm -f "$t"; done >/dev/null 2>&1
    "${C[@]}" containers ls -q 2>/dev/null | xargs -r "${C[@]}" containers rm >/dev/null 2>&1
  fi
  stop "$BERTHD"; stop "$DOCKERD"; stop "$CONTAINERD"
  for d in /sys/fs/cgroup/*/berth-bench-exec; do rmdir "$d" 2>/dev/null; done
  grep -o " $WORK[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

ms_now() { date +%s%N; }
# stats: reads milliseconds, prints "p50 p90"
stats() { sort -n | awk '{ a[NR] = $1 } END { printf "%.1f %.1f\n", a[int((NR + 1) / 2)], a[int(NR * 0.9 + 0.5)] }'; }
# timeit CMD...: runs CMD RUNS times, prints "p50 p90" in ms; a failure fails
# (a fast failing exec must not pass for a fast exec).
timeit() {
  local i t0 t1 us=""
  for i in $(seq "$RUNS"); do
    t0=$(ms_now)
    "$@" </dev/null >/dev/null || { echo "failed: $*" >&2; return 1; }
    t1=$(ms_now)
    us+="$(( (t1 - t0) / 1000 ))"$'\n'
  done
  printf '%s' "$us" | awk '{ printf "%.3f\n", $1 / 1000 }' | stats
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

ARCHIVE=$WORK/busybox.tar
"$BIN/make-image" busybox "$ARCHIVE" --tag busybox:latest
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1e6 }' /proc/meminfo), kernel $(uname -r), $RUNS execs each"

# --- berth ------------------------------------------------------------------
"$BIN/berthd" --root "$WORK/berth-root" --state "$WORK/berth-state" \
  --address "unix://$WORK/berth.sock" --cgroup-parent berth-bench-exec --log-level warn \
  </dev/null >>"$WORK/berthd.log" 2>&1 &
BERTHD=$!
for _ in $(seq 200); do "${B[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${B[@]}" load -q -i "$ARCHIVE" >/dev/null
"${B[@]}" run -d --name ex busybox sleep 100000 >/dev/null
"${B[@]}" exec ex true # warm up (and fail loudly if exec does not work)
R=$(timeit "${B[@]}" exec ex true); read -r BERTH_P50 BERTH_P90 <<<"$R"
echo "berth  exec ex true:       p50 ${BERTH_P50} ms  p90 ${BERTH_P90} ms (target p50 <= 20 ms)"
R=$(timeit "${B[@]}" exec -t ex true); read -r BERTH_T_P50 BERTH_T_P90 <<<"$R"
echo "berth  exec -t ex true:    p50 ${BERTH_T_P50} ms  p90 ${BERTH_T_P90} ms"

# --- containerd (ctr) ------------------------------------------------------------
if command -v containerd >/dev/null && command -v ctr >/dev/null; then
  mkdir -p "$WORK/containerd"
  cat >"$WORK/containerd/config.toml" <<EOF
version = 2
root = "$WORK/containerd/root"
state = "$WORK/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$WORK/containerd/containerd.sock"
[plugins."io.containerd.runtime.v2.task"]
EOF
  containerd --config "$WORK/containerd/config.toml" </dev/null >"$WORK/containerd.log" 2>&1 &
  CONTAINERD=$!
  for _ in $(seq 200); do "${C[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${C[@]}" images import "$ARCHIVE" >/dev/null
  CIMG=$("${C[@]}" images ls -q | head -n1)
  "${C[@]}" run -d "$CIMG" ex sleep 100000 >/dev/null
  n=0
  ctr_once() { n=$((n + 1)); "${C[@]}" task exec --exec-id "bench-$n-$RANDOM" ex true; }
  ctr_once
  R=$(timeit ctr_once); read -r CTR_P50 CTR_P90 <<<"$R"
  echo "ctr    task exec ex true:  p50 ${CTR_P50} ms  p90 ${CTR_P90} ms"
else
  echo "containerd: not installed (apt-get install containerd) — skipped"
fi

# --- docker --------------------------------------------------------------------
if command -v dockerd >/dev/null && command -v docker >/dev/null; then
  mkdir -p "$WORK/docker"
  dockerd --data-root "$WORK/docker/root" --exec-root "$WORK/docker/exec" \
    --pidfile "$WORK/docker/dockerd.pid" --host "unix://$WORK/docker.sock" \
    --bridge none --iptables=false --ip6tables=false </dev/null >"$WORK/dockerd.log" 2>&1 &
  DOCKERD=$!
  for _ in $(seq 300); do "${D[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${D[@]}" load -q -i "$ARCHIVE" >/dev/null
  "${D[@]}" run -d --network none --name ex busybox sleep 100000 >/dev/null
  "${D[@]}" exec ex true
  R=$(timeit "${D[@]}" exec ex true); read -r DOCKER_P50 DOCKER_P90 <<<"$R"
  echo "docker exec ex true:       p50 ${DOCKER_P50} ms  p90 ${DOCKER_P90} ms"
else
  echo "docker: dockerd is not installed (apt-get install docker.io) — skipped"
fi

echo
echo "== exec true, p50 ratios (peer / berth; > 1 means berth is faster)"
[ -n "${DOCKER_P50:-}" ] && echo "docker/berth: $(ratio "$DOCKER_P50" "$BERTH_P50")x"
[ -n "${CTR_P50:-}" ] && echo "ctr/berth:    $(ratio "$CTR_P50" "$BERTH_P50")x"
exit 0
