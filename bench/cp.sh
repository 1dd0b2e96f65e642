#!/usr/bin/env bash
# Benchmark: `berth cp` of a ~1 GiB directory tree (a few big files and many
# small ones) out of a container and into one, against `docker cp` of the
# same data, side by side in one run. Not a timed test: it prints both
# medians and the ratios; record them in bench/RESULTS.md.
#
#   bench/cp.sh [RUNS]      (default 3; run as root)
#   BIG_MIB=200 BIG=4 SMALL=10000 SMALL_KIB=20 bench/cp.sh 3
#
# The data is random (incompressible), written inside a stopped container's
# rw layer from /dev/urandom (not timed). Each run times
#   out: cp CONTAINER:/data HOST-DIR   (a fresh HOST-DIR)
#   in:  cp HOST-DIR CONTAINER:/in     (into a fresh container)
# with the page cache dropped before each copy, so both engines read from
# disk. docker is skipped, with a message, when dockerd is not installed.
set -euo pipefail
RUNS=${1:-3}
BENCH=berth-bench-cp
BIG=${BIG:-4}
BIG_MIB=${BIG_MIB:-200}
SMALL=${SMALL:-10000}
SMALL_KIB=${SMALL_KIB:-20}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

WRITE="mkdir /data && i=0; while [ \$i -lt $BIG ]; do \
  dd if=/dev/urandom of=/data/big\$i bs=1M count=$BIG_MIB 2>/dev/null; i=\$((i+1)); done; \
  mkdir -p /data/small/a /data/small/b && \
  head -c \$(($SMALL / 2 * $SMALL_KIB * 1024)) /dev/urandom | split -b ${SMALL_KIB}k -a 4 - /data/small/a/f && \
  head -c \$(($SMALL / 2 * $SMALL_KIB * 1024)) /dev/urandom | split -b ${SMALL_KIB}k -a 4 - /data/small/b/f"
TOTAL_MB=$(( (BIG * BIG_MIB * 1048576 + SMALL * SMALL_KIB * 1024) / 1000000 ))
echo "data: $BIG files of $BIG_MIB MiB + $SMALL files of $SMALL_KIB KiB = $TOTAL_MB MB"

# engine_times NAME CMD...: RUNS timed copies out and in with the engine's
# CLI; checks that what came out is what went in.
engine_times() {
  local name=$1 i t0 t1
  shift
  local outs=() ins=()
  "$@" run --name "bench-cp-src" busybox sh -c "$WRITE"
  for i in $(seq "$RUNS"); do
    rm -rf "$WORK/out"
    mkdir "$WORK/out"
    drop_caches
    t0=$(now); "$@" cp bench-cp-src:/data "$WORK/out/data"; t1=$(now)
    outs+=("$(elapsed "$t0" "$t1")")
    [ "$(find "$WORK/out/data" -type f | wc -l)" = $((BIG + SMALL / 2 * 2)) ] || { echo "$name cp out: wrong file count" >&2; exit 1; }
    "$@" create --name "bench-cp-dst-$i" busybox true >/dev/null
    drop_caches
    t0=$(now); "$@" cp "$WORK/out/data" "bench-cp-dst-$i:/in"; t1=$(now)
    ins+=("$(elapsed "$t0" "$t1")")
    "$@" rm "bench-cp-dst-$i" >/dev/null
  done
  "$@" rm bench-cp-src >/dev/null
  rm -rf "$WORK/out"
  printf '%s\n' "${outs[@]}" >"$WORK/$name.out"
  printf '%s\n' "${ins[@]}" >"$WORK/$name.in"
  echo "$name cp out: runs ${outs[*]} s   median $(median <"$WORK/$name.out") s"
  echo "$name cp in:  runs ${ins[*]} s   median $(median <"$WORK/$name.in") s"
}

start_berthd
engine_times berth "${B[@]}"
BOUT=$(median <"$WORK/berth.out"); BIN_=$(median <"$WORK/berth.in")

if start_dockerd; then
  engine_times docker "${D[@]}"
  DOUT=$(median <"$WORK/docker.out"); DIN=$(median <"$WORK/docker.in")
  echo "docker $("${D[@]}" version --format '{{.Server.Version}}'), storage driver $("${D[@]}" info --format '{{.Driver}}')"
  echo "ratio docker/berth: out $(ratio "$DOUT" "$BOUT")x, in $(ratio "$DIN" "$BIN_")x (target: >= 2x)"
fi
