#!/usr/bin/env bash
# Benchmark: container start/stop latency and memory, berth side by side with
# its peers. Not a timed test: it prints medians and ratios; record them in
# bench/RESULTS.md.
#
#   bench/run.sh [RUNS]        (default 30; run as root)
#
# 1. `run --rm --network none busybox true`, RUNS times, one after another
#    (and berth's with `-v NAME:/d` of a named volume, against its own run
#    without: the volume's cost):
#    berth (through berthd and a shim, built-in runtime; the bridge's cost is
#    bench/network.sh's) against `docker run --rm --network none`, `ctr run --rm` (containerd) and bare `runc run` on the same
#    rootfs. p50 and p90 of each; ratios against berth.
# 2. RSS of one idle shim (berth-shim vs containerd-shim-runc-v2) and of the
#    idle daemons (berthd vs dockerd + containerd).
# 3. 100 detached `sleep` containers started one after another, and 100
#    started 10 at a time: total time, berth against docker.
#
# Every daemon is private (own root, state, socket; docker without bridge or
# iptables). A peer that is not installed is skipped with a message.
set -euo pipefail
RUNS=${1:-30}
BENCH=berth-bench
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
private_dirty_kib() { awk '/^Private_Dirty:/ { print $2 }' "/proc/$1/smaps_rollup"; }

# --- berth ------------------------------------------------------------------
start_berthd
"${B[@]}" run --rm --network none busybox true # warm the page cache
R=$(timeit "${B[@]}" run --rm --network none busybox true); read -r BERTH_P50 BERTH_P90 <<<"$R"
echo "berth  run --rm --network none busybox true:  p50 ${BERTH_P50} ms  p90 ${BERTH_P90} ms (target p50 <= 40 ms)"
"${B[@]}" volume create benchvol >/dev/null
R=$(timeit "${B[@]}" run --rm --network none -v benchvol:/d busybox true); read -r BVOL_P50 BVOL_P90 <<<"$R"
echo "berth  run --rm --network none -v benchvol:/d busybox true:  p50 ${BVOL_P50} ms  p90 ${BVOL_P90} ms (+$(awk -v a="$BVOL_P50" -v b="$BERTH_P50" 'BEGIN { printf "%.1f", a - b }') ms for the volume; target <= 3 ms)"
"${B[@]}" volume rm benchvol >/dev/null
R=$(timeit "${B[@]}" run --rm --network none --runtime runc busybox true); read -r BRUNC_P50 BRUNC_P90 <<<"$R"
echo "berth  run --rm --network none --runtime runc busybox true:  p50 ${BRUNC_P50} ms  p90 ${BRUNC_P90} ms"

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
  R=$(timeit runc_once); read -r RUNC_P50 RUNC_P90 <<<"$R"
  echo "runc   run (bare, same rootfs):  p50 ${RUNC_P50} ms  p90 ${RUNC_P90} ms"
else
  echo "runc: not installed (apt-get install runc) — skipped"
fi

# --- containerd (ctr) ------------------------------------------------------------
if start_containerd; then
  n=0
  ctr_once() { n=$((n + 1)); "${C[@]}" run --rm "$CIMG" "bench-$n" true </dev/null; }
  R=$(timeit ctr_once); read -r CTR_P50 CTR_P90 <<<"$R"
  echo "ctr    run --rm busybox true:  p50 ${CTR_P50} ms  p90 ${CTR_P90} ms"
fi

# --- docker --------------------------------------------------------------------
if start_dockerd; then
  "${D[@]}" run --rm --network none busybox true
  R=$(timeit "${D[@]}" run --rm --network none busybox true); read -r DOCKER_P50 DOCKER_P90 <<<"$R"
  echo "docker run --rm --network none busybox true:  p50 ${DOCKER_P50} ms  p90 ${DOCKER_P90} ms"
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
