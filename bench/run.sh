#!/usr/bin/env bash
# Benchmark: container start/stop latency and memory, berth side by side with
# its peers. Not a timed test: it prints medians and ratios; record them in
# bench/RESULTS.md.
#
#   bench/run.sh [RUNS]        (default 30; run as root)
#
# 1. `run --rm busybox true`, RUNS times, one after another: berth (through
#    berthd and a shim, built-in runtime) against `docker run --rm --network
#    none`, `ctr run --rm` (containerd) and bare `runc run` on the same
#    rootfs. p50 and p90 of each; ratios against berth.
# 2. RSS of one idle shim (berth-shim vs containerd-shim-runc-v2) and of the
#    idle daemons (berthd vs dockerd + containerd).
# 3. 100 detached `sleep` containers started one after another, and 100
#    started 10 at a time: total time, berth against docker.
#
# Every daemon is private (own root, state, socket; docker without bridge or
# iptables). A peer that is not installed is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-30}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
# The binaries as they ship: a static, LTO'd shim next to berthd (scripts/build.sh).
scripts/build.sh -q
BIN=$PWD/target/dist
WORK=$(mktemp -d /var/tmp/berth-bench-XXXXXX)
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
  # berthd's cgroup parent, empty once its containers are gone.
  for d in /sys/fs/cgroup/*/berth-bench; do rmdir "$d" 2>/dev/null; done
  grep -o " $WORK[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

ms_now() { date +%s%N; }
# stats: reads milliseconds, prints "p50 p90"
stats() { sort -n | awk '{ a[NR] = $1 } END { printf "%.1f %.1f\n", a[int((NR + 1) / 2)], a[int(NR * 0.9 + 0.5)] }'; }
# timeit CMD...: runs CMD RUNS times, prints "p50 p90" in ms
timeit() {
  local i t0 t1
  for i in $(seq "$RUNS"); do
    t0=$(ms_now); "$@" >/dev/null; t1=$(ms_now)
    echo $(( (t1 - t0) / 1000 )) | awk '{ printf "%.3f\n", $1 / 1000 }'
  done | stats
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
private_dirty_kib() { awk '/^Private_Dirty:/ { print $2 }' "/proc/$1/smaps_rollup"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

ARCHIVE=$WORK/busybox.tar
"$BIN/make-image" busybox "$ARCHIVE" --tag busybox:latest
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1e6 }' /proc/meminfo), kernel $(uname -r), $RUNS runs each"

# --- berth ------------------------------------------------------------------
"$BIN/berthd" --root "$WORK/berth-root" --state "$WORK/berth-state" \
  --address "unix://$WORK/berth.sock" --cgroup-parent berth-bench --log-level warn \
  </dev/null >>"$WORK/berthd.log" 2>&1 &
BERTHD=$!
for _ in $(seq 200); do "${B[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${B[@]}" load -q -i "$ARCHIVE" >/dev/null
"${B[@]}" run --rm busybox true # warm the page cache
read -r BERTH_P50 BERTH_P90 < <(timeit "${B[@]}" run --rm busybox true)
echo "berth  run --rm busybox true:  p50 ${BERTH_P50} ms  p90 ${BERTH_P90} ms (target p50 <= 40 ms)"
read -r BRUNC_P50 BRUNC_P90 < <(timeit "${B[@]}" run --rm --runtime runc busybox true)
echo "berth  run --rm --runtime runc busybox true:  p50 ${BRUNC_P50} ms  p90 ${BRUNC_P90} ms"

# --- runc alone, on the same rootfs ------------------------------------------
if command -v runc >/dev/null; then
  mkdir -p "$WORK/runc/rootfs"
  tar -xf "$ARCHIVE" -C "$WORK/runc" 2>/dev/null || true
  # The archive's only layer is the busybox rootfs.
  layer=$(python3 -c "import json,sys; m=json.load(open('$WORK/runc/manifest.json')); print(m[0]['Layers'][0])")
  tar -xf "$WORK/runc/$layer" -C "$WORK/runc/rootfs"
  (cd "$WORK/runc" && runc spec && python3 - <<'EOF'
import json
s = json.load(open("config.json"))
s["process"]["terminal"] = False
s["process"]["args"] = ["true"]
json.dump(s, open("config.json", "w"))
EOF
  )
  n=0
  runc_once() { n=$((n + 1)); runc --root "$WORK/runc/state" run --bundle "$WORK/runc" "bench-$$-$n-$RANDOM" </dev/null; }
  read -r RUNC_P50 RUNC_P90 < <(timeit runc_once)
  echo "runc   run (bare, same rootfs):  p50 ${RUNC_P50} ms  p90 ${RUNC_P90} ms"
else
  echo "runc: not installed (apt-get install runc) — skipped"
fi

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
  n=0
  ctr_once() { n=$((n + 1)); "${C[@]}" run --rm "$CIMG" "bench-$n" true </dev/null; }
  read -r CTR_P50 CTR_P90 < <(timeit ctr_once)
  echo "ctr    run --rm busybox true:  p50 ${CTR_P50} ms  p90 ${CTR_P90} ms"
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
  "${D[@]}" run --rm --network none busybox true
  read -r DOCKER_P50 DOCKER_P90 < <(timeit "${D[@]}" run --rm --network none busybox true)
  echo "docker run --rm --network none busybox true:  p50 ${DOCKER_P50} ms  p90 ${DOCKER_P90} ms"
else
  echo "docker: dockerd is not installed (apt-get install docker.io) — skipped"
fi

echo
echo "== run --rm true, p50 ratios (peer / berth; > 1 means berth is faster)"
[ -n "${DOCKER_P50:-}" ] && echo "docker/berth: $(ratio "$DOCKER_P50" "$BERTH_P50")x"
[ -n "${CTR_P50:-}" ] && echo "ctr/berth:    $(ratio "$CTR_P50" "$BERTH_P50")x"
[ -n "${RUNC_P50:-}" ] && echo "runc/berth:   $(ratio "$RUNC_P50" "$BERTH_P50")x"

# --- memory --------------------------------------------------------------------
echo
echo "== idle memory (RSS)"
"${B[@]}" run -d --name rss busybox sleep 1000 >/dev/null
sleep 1
SHIM_PID=$(cat "$WORK"/berth-state/tasks/default/*/shim.pid)
echo "berth-shim:               $(rss_kib "$SHIM_PID") KiB (private dirty $(private_dirty_kib "$SHIM_PID") KiB)"
echo "berthd:                   $(rss_kib "$BERTHD") KiB"
if [ -n "$CONTAINERD" ]; then
  "${C[@]}" run -d "$CIMG" rss sleep 1000 >/dev/null
  sleep 1
  CSHIM=$(pgrep -f "containerd-shim-runc-v2.*-namespace bench" | head -n1)
  echo "containerd-shim-runc-v2:  $(rss_kib "$CSHIM") KiB (private dirty $(private_dirty_kib "$CSHIM") KiB)"
  echo "containerd:               $(rss_kib "$CONTAINERD") KiB"
fi
if [ -n "$DOCKERD" ]; then
  DCTD=$(pgrep -P "$DOCKERD" -f containerd | head -n1)
  echo "dockerd + its containerd: $(( $(rss_kib "$DOCKERD") + ${DCTD:+$(rss_kib "$DCTD")}+0 )) KiB"
fi

# --- 100 detached -------------------------------------------------------------------
echo
echo "== 100 detached sleep containers (seconds, total)"
hundred() { # CLI...: sequential, then 10 at a time
  local t0 t1 seq conc
  t0=$(ms_now)
  for i in $(seq 100); do "$@" run -d --network none busybox sleep 1000 >/dev/null; done
  t1=$(ms_now); seq=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  "$@" ps -aq | xargs -r "$@" rm -f >/dev/null
  t0=$(ms_now)
  for j in $(seq 10); do
    (for i in $(seq 10); do "$@" run -d --network none busybox sleep 1000 >/dev/null; done) &
  done
  wait
  t1=$(ms_now); conc=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  "$@" ps -aq | xargs -r "$@" rm -f >/dev/null
  echo "$seq $conc"
}
"${B[@]}" rm -f rss >/dev/null
read -r BS BC < <(hundred "${B[@]}")
echo "berth:  sequential ${BS} s, concurrent (10 x 10) ${BC} s"
if [ -n "$DOCKERD" ]; then
  read -r DS DC < <(hundred "${D[@]}" )
  echo "docker: sequential ${DS} s, concurrent (10 x 10) ${DC} s"
  echo "docker/berth: sequential $(ratio "$DS" "$BS")x, concurrent $(ratio "$DC" "$BC")x"
fi
