# Shared by the benchmarks (sourced, not run): the binaries as they ship, private
# daemons (berthd, containerd, dockerd) and a private registry under one temp
# dir, their cleanup, and timing helpers. A script sets RUNS and BENCH (a name:
# temp dir and berthd's cgroup parent), then sources this file.
#
# After `bench_init`: BIN (target/dist), WORK, ARCHIVE (a busybox docker-save
# archive), B / C / D (the berth, ctr and docker command lines for the private
# daemons) and an EXIT trap that removes every container, stops the daemons and
# removes WORK, mounts, berthd's cgroup parent, bridge and nftables table, and
# what a dockerd with networking changed (docker0, iptables rules).

bench_init() {
  cd "$(dirname "$0")/.."
  [ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
  if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  # The binaries as they ship: a static, LTO'd shim next to berthd.
  scripts/build.sh -q >/dev/null
  BIN=$PWD/target/dist
  WORK=$(mktemp -d "/var/tmp/$BENCH-XXXXXX")
  BERTHD= DOCKERD= CONTAINERD=
  B=("$BIN/berth" -H "unix://$WORK/berth.sock")
  D=(docker -H "unix://$WORK/docker.sock")
  C=(ctr --address "$WORK/containerd/containerd.sock" --namespace bench)
  trap bench_cleanup EXIT
  ARCHIVE=$WORK/busybox.tar
  "$BIN/make-image" busybox "$ARCHIVE" --tag busybox:latest
  echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1e6 }' /proc/meminfo), kernel $(uname -r), $RUNS runs each"
}

stop() { # pid: SIGTERM, then wait for it
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}

bench_cleanup() {
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
  stop "${REGISTRY:-}"
  # berthd's default bridge and table outlive it (as docker0 does).
  if [ -n "$BERTHD" ]; then
    ip link del "$BERTH_BRIDGE" 2>/dev/null
    nft delete table inet "$BERTH_TABLE" 2>/dev/null
  fi
  [ -n "${DOCKER_NET:-}" ] && docker_network_cleanup
  # berthd's cgroup parent, empty once its containers are gone.
  for d in /sys/fs/cgroup/*/"$BENCH"; do rmdir "$d" 2>/dev/null; done
  grep -o " $WORK[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$WORK"
}

# The bench berthd's default bridge, subnet and nftables table: not the
# defaults (berth0, 10.77.0.0/16, "berth"), so a berthd of the host is left
# alone; bench_cleanup deletes them.
BERTH_BRIDGE=bbench0
BERTH_SUBNET=10.203.0.0/24
BERTH_TABLE=berth-bench

# A private berthd with the busybox image loaded.
start_berthd() {
  cat >"$WORK/berthd.toml" <<EOF
bridge = "$BERTH_BRIDGE"
bridge_subnet = "$BERTH_SUBNET"
default_address_pools = [{ base = "10.204.0.0/20", size = 24 }]
firewall_table = "$BERTH_TABLE"
EOF
  "$BIN/berthd" --root "$WORK/berth-root" --state "$WORK/berth-state" \
    --address "unix://$WORK/berth.sock" --cgroup-parent "$BENCH" --log-level warn \
    --config "$WORK/berthd.toml" </dev/null >>"$WORK/berthd.log" 2>&1 &
  BERTHD=$!
  for _ in $(seq 200); do "${B[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${B[@]}" load -q -i "$ARCHIVE" >/dev/null
}

# A private containerd with the image imported; sets CIMG. Fails (returns 1)
# with a message when containerd is not installed.
start_containerd() {
  if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
    echo "containerd: not installed (apt-get install containerd) — skipped"
    return 1
  fi
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
}

# A private dockerd (no bridge, no iptables) with the image loaded. Fails
# (returns 1) with a message when docker is not installed.
start_dockerd() {
  if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    echo "docker: dockerd is not installed (apt-get install docker.io) — skipped"
    return 1
  fi
  mkdir -p "$WORK/docker"
  dockerd --data-root "$WORK/docker/root" --exec-root "$WORK/docker/exec" \
    --pidfile "$WORK/docker/dockerd.pid" --host "unix://$WORK/docker.sock" \
    --bridge none --iptables=false --ip6tables=false </dev/null >"$WORK/dockerd.log" 2>&1 &
  DOCKERD=$!
  for _ in $(seq 300); do "${D[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${D[@]}" load -q -i "$ARCHIVE" >/dev/null
}

# A private dockerd with docker's own networking, as docker ships: docker0
# (172.17.0.0/16), iptables NAT and the userland proxy (docker-proxy) for
# ports published on 127.0.0.1; the busybox image loaded. dockerd leaves
# docker0, its iptables chains and FORWARD's policy DROP behind when it
# stops, which would cut off other bridges' forwarded traffic: the rules are
# saved first and put back by bench_cleanup (docker_network_cleanup), and
# docker0 is deleted unless it was there before. Fails (returns 1) with a
# message when docker or iptables is not installed.
start_dockerd_bridge() {
  if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    echo "docker: dockerd is not installed (apt-get install docker.io) — skipped"
    return 1
  fi
  if ! command -v iptables-save >/dev/null; then
    echo "docker: iptables is not installed (apt-get install iptables) — skipped"
    return 1
  fi
  DOCKER0_BEFORE=$([ -e /sys/class/net/docker0 ] && echo yes || true)
  IP_FORWARD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)
  iptables-save >"$WORK/iptables.before"
  DOCKER_NET=1
  mkdir -p "$WORK/docker"
  dockerd --data-root "$WORK/docker/root" --exec-root "$WORK/docker/exec" \
    --pidfile "$WORK/docker/dockerd.pid" --host "unix://$WORK/docker.sock" \
    </dev/null >"$WORK/dockerd.log" 2>&1 &
  DOCKERD=$!
  for _ in $(seq 300); do "${D[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${D[@]}" load -q -i "$ARCHIVE" >/dev/null
}

# Puts back what start_dockerd_bridge's dockerd changed (once it stopped).
docker_network_cleanup() {
  local t c
  iptables-restore <"$WORK/iptables.before"
  # Tables that did not exist before: emptied, their policies open again.
  for t in filter nat; do
    grep -q "^\*$t" "$WORK/iptables.before" && continue
    iptables -t "$t" -F
    iptables -t "$t" -X
    if [ "$t" = filter ]; then
      for c in INPUT FORWARD OUTPUT; do iptables -P "$c" ACCEPT; done
    fi
  done
  [ -z "$DOCKER0_BEFORE" ] && ip link del docker0 2>/dev/null
  echo "$IP_FORWARD_BEFORE" >/proc/sys/net/ipv4/ip_forward
  DOCKER_NET=
}

# A free TCP port on 127.0.0.1 (the kernel's choice; closed again at once).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A private registry (Debian's docker-registry, distribution v2) over plain
# HTTP on 127.0.0.1:<free port>, storage in WORK; sets REGISTRY (its pid) and
# REGISTRY_ADDR (host:port). Every engine treats 127.0.0.0/8 as insecure, so
# none needs configuring. Fails (returns 1) with a message when it is not
# installed or does not answer.
start_registry() {
  if [ ! -x /usr/bin/docker-registry ]; then
    echo "registry: /usr/bin/docker-registry is not installed (apt-get install docker-registry)" >&2
    return 1
  fi
  local i
  mkdir -p "$WORK/registry/storage"
  for i in 1 2 3; do # another process may take the port between our check and its bind
    REGISTRY_ADDR=127.0.0.1:$(free_port)
    cat >"$WORK/registry/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry/storage
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
    /usr/bin/docker-registry serve "$WORK/registry/config.yml" </dev/null >>"$WORK/registry.log" 2>&1 &
    REGISTRY=$!
    for _ in $(seq 100); do
      curl -fsS -o /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null && return 0
      kill -0 "$REGISTRY" 2>/dev/null || break
      sleep 0.1
    done
    stop "$REGISTRY"; REGISTRY=
  done
  echo "registry did not start:" >&2
  tail -n 20 "$WORK/registry.log" >&2
  return 1
}

ms_now() { date +%s%N; }
# stats: reads milliseconds, prints "p50 p90"
stats() { sort -n | awk '{ a[NR] = $1 } END { printf "%.1f %.1f\n", a[int((NR + 1) / 2)], a[int(NR * 0.9 + 0.5)] }'; }
# timeit CMD...: runs CMD RUNS times, prints "p50 p90" in ms; a failure fails
# (a fast failing command must not pass for a fast one).
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
# spread: reads seconds, prints "p50 min max"
spread() { sort -n | awk '{ a[NR] = $1 } END { printf "%.2f %.2f %.2f\n", a[int((NR + 1) / 2)], a[1], a[NR] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
