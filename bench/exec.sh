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
RUNS=${1:-50}
BENCH=berth-bench-exec
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init

# --- berth ------------------------------------------------------------------
start_berthd
"${B[@]}" run -d --name ex busybox sleep 100000 >/dev/null
"${B[@]}" exec ex true # warm up (and fail loudly if exec does not work)
R=$(timeit "${B[@]}" exec ex true); read -r BERTH_P50 BERTH_P90 <<<"$R"
echo "berth  exec ex true:       p50 ${BERTH_P50} ms  p90 ${BERTH_P90} ms (target p50 <= 20 ms)"
R=$(timeit "${B[@]}" exec -t ex true); read -r BERTH_T_P50 BERTH_T_P90 <<<"$R"
echo "berth  exec -t ex true:    p50 ${BERTH_T_P50} ms  p90 ${BERTH_T_P90} ms"

# --- containerd (ctr) ------------------------------------------------------------
if start_containerd; then
  "${C[@]}" run -d "$CIMG" ex sleep 100000 >/dev/null
  n=0
  ctr_once() { n=$((n + 1)); "${C[@]}" task exec --exec-id "bench-$n-$RANDOM" ex true; }
  ctr_once
  R=$(timeit ctr_once); read -r CTR_P50 CTR_P90 <<<"$R"
  echo "ctr    task exec ex true:  p50 ${CTR_P50} ms  p90 ${CTR_P90} ms"
fi

# --- docker --------------------------------------------------------------------
if start_dockerd; then
  "${D[@]}" run -d --network none --name ex busybox sleep 100000 >/dev/null
  "${D[@]}" exec ex true
  R=$(timeit "${D[@]}" exec ex true); read -r DOCKER_P50 DOCKER_P90 <<<"$R"
  echo "docker exec ex true:       p50 ${DOCKER_P50} ms  p90 ${DOCKER_P90} ms"
fi

echo
echo "== exec true, p50 ratios (peer / berth; > 1 means berth is faster)"
[ -n "${DOCKER_P50:-}" ] && echo "docker/berth: $(ratio "$DOCKER_P50" "$BERTH_P50")x"
[ -n "${CTR_P50:-}" ] && echo "ctr/berth:    $(ratio "$CTR_P50" "$BERTH_P50")x"
exit 0
