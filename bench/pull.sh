#!/usr/bin/env bash
# Benchmark: cold pull of a 300 MB+ multi-layer image from a private registry
# on 127.0.0.1, berth side by side with `docker pull` and `ctr images pull`.
# Not a timed test: it prints p50/min/max and ratios; record them in
# bench/RESULTS.md. Target: berth at least 1.5x faster than docker.
#
#   bench/pull.sh [RUNS]                     (default 5; run as root)
#   BENCH_TOOLS="docker ctr" bench/pull.sh   (the engines to pull with; default
#                                             "berth docker ctr")
#
# The image is generated here, the same on every machine, with no network:
# seven gzip'd layers (level 6, like docker's) of ~15,500 files of
# log-uniform sizes: generated text (documentation, a source tree, config),
# part-compressible "shared libraries" (random, zero and text blocks), hex
# data, incompressible assets and one 128 MiB incompressible "model" file,
# plus directories, symlinks, a hard link and whiteouts (a removed directory,
# an opaque directory). It is written as an OCI layout once and cached in
# target/bench-cache/ (regenerated when the generator changes), then pushed
# with skopeo as a Docker v2 schema 2 image (PULL_FORMAT=oci for an OCI
# manifest) to a private docker-registry (plain HTTP, storage in the temp dir).
# The gzip'd bytes, and so the digests, depend on the machine's zlib.
#
# Each run pulls once with every engine, one engine after another, so noise
# from the machine spreads over all of them rather than landing on one. Every
# pull is cold: the engine's copy of the image is removed beforehand (berth:
# `rmi` + `system prune`; docker: `rmi` + `image prune -af`; ctr: `images rm
# --sync`, which garbage-collects content and snapshots) and the script checks
# that none of the image's blobs or layers is left and that its storage is
# back to its size before the first pull. All three unpack: berth and
# docker always do, and `ctr images pull` unpacks into its default snapshotter
# (overlayfs), as docker's overlay2 and berth's snapshotter do. Each engine
# keeps its shipped download concurrency (docker 3, ctr unlimited, berth 6).
# An untimed warm-up pull per engine comes first; it prints how much the engine
# wrote to disk, as a check that it did unpack.
#
# The page cache is not dropped before a pull, only synced: the registry's
# files were just written by the push and stay cached for every engine alike,
# so a pull measures the engine (HTTP, digest checks, decompression, writes,
# fsyncs) rather than the disk under the registry; dropping the cache would
# also evict each engine's own binaries and metadata, which a user's pull
# finds warm. `sync` makes sure the writeback of one pull does not land on the
# next one.
set -euo pipefail
RUNS=${1:-5}
BENCH=berth-bench-pull
BENCH_TOOLS=${BENCH_TOOLS:-berth docker ctr}
PULL_FORMAT=${PULL_FORMAT:-v2s2}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
for t in $BENCH_TOOLS; do
  case $t in berth | docker | ctr) ;; *) echo "BENCH_TOOLS: unknown engine '$t' (berth, docker, ctr)" >&2; exit 1 ;; esac
done
case $PULL_FORMAT in v2s2 | oci) ;; *) echo "PULL_FORMAT: v2s2 or oci" >&2; exit 1 ;; esac
command -v skopeo >/dev/null || { echo "skopeo is not installed (apt-get install skopeo)" >&2; exit 1; }
bench_init
uses() { [[ " $BENCH_TOOLS " == *" $1 "* ]]; }

# --- the image ----------------------------------------------------------------
# Writes an OCI layout to $1 and one line per layer to $1/layers.tsv:
# digest, diff id, chain id, gzip'd size, tar size, files.
GEN=$(
  cat <<'PY'
import gzip, hashlib, json, math, os, random, sys, tarfile
from concurrent.futures import ProcessPoolExecutor

OUT, ARCH = sys.argv[1], sys.argv[2]
MiB = 1 << 20
MTIME = 1700000000  # 2023-11-14T22:13:20Z
CREATED = "2023-11-14T22:13:20Z"

# A vocabulary with Zipf-like frequencies, so text compresses like text (~3-4x).
_v = random.Random("vocab")
VOCAB = ["".join(_v.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(_v.randint(2, 10)))
         for _ in range(4000)] + ["{", "}", "=", "();", "return", "if", "fn", "let", "//", "0", "1"]
CUM = []
_t = 0.0
for r in range(len(VOCAB)):
    _t += 1.0 / (r + 1)
    CUM.append(_t)

def text(rng, n):
    words = rng.choices(VOCAB, cum_weights=CUM, k=n // 5 + 12)
    lines = ("    " * (i % 3) + " ".join(words[i:i + 12]) for i in range(0, len(words), 12))
    b = "\n".join(lines).encode()
    while len(b) < n:
        b += text(rng, n - len(b))
    return b[:n]

def rand(rng, n):
    return rng.randbytes(n)

def binary(rng, n):  # blocks of machine code, zero padding and symbol tables
    out = bytearray()
    while len(out) < n:
        x = rng.random()
        out += rng.randbytes(4096) if x < 0.45 else bytes(4096) if x < 0.65 else text(rng, 4096)
    return bytes(out[:n])

def hexdata(rng, n):
    return rng.randbytes(n // 2 + 1).hex().encode()[:n]

KINDS = {"text": text, "random": rand, "binary": binary, "hex": hexdata}

class Content:
    """A file's bytes made chunk by chunk, so a 128 MiB file never sits in memory."""
    def __init__(self, kind, size, seed):
        self.fn, self.left, self.rng = KINDS[kind], size, random.Random(seed)
        self.buf, self.off = b"", 0
    def read(self, n):
        out = bytearray()
        while len(out) < n:
            if self.off == len(self.buf):
                if self.left == 0:
                    break
                want = min(self.left, MiB)
                self.buf, self.off, self.left = self.fn(self.rng, want), 0, self.left - want
            take = min(n - len(out), len(self.buf) - self.off)
            out += self.buf[self.off:self.off + take]
            self.off += take
        return bytes(out)

class Tee:
    """Hashes and counts what passes through to `out`."""
    def __init__(self, out):
        self.out, self.h, self.n = out, hashlib.sha256(), 0
    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.out.write(b)

# name, what made it, bytes of files, file size range, kind, directory
LAYERS = [
    ("base", "a base system", 32 * MiB, (200, 64 << 10), "text", "usr/share/doc"),
    ("libs", "shared libraries", 120 * MiB, (64 << 10, 4 * MiB), "binary", "usr/lib/x86_64-linux-gnu"),
    ("deps", "a source tree", 64 * MiB, (100, 32 << 10), "text", "app/node_modules"),
    ("assets", "incompressible assets", 80 * MiB, (256 << 10, 8 * MiB), "random", "app/assets"),
    ("config", "config and whiteouts", 64 << 10, (100, 8 << 10), "text", "etc/app"),
    ("model", "one large file", 128 * MiB, (128 * MiB, 128 * MiB), "random", "app/model"),
    ("data", "hex data", 40 * MiB, (4 << 10, 1 * MiB), "hex", "app/data"),
]
DIRS = ["core", "util", "net", "io", "fmt", "sync", "text", "time", "os", "db", "http", "json"]

def entries(layer):
    """(path, type, arg, mode): type f (arg: (kind, size)), l (symlink target), h (hard link target), d."""
    name, _, budget, (lo, hi), kind, root = layer
    rng = random.Random("layer/" + name)
    out, total, i = [], 0, 0
    while total < budget:
        size = min(int(math.exp(rng.uniform(math.log(lo), math.log(hi)))), budget - total) if lo < hi else hi
        sub = "/".join(rng.choice(DIRS) for _ in range(rng.randint(0, 3)))
        path = "/".join(p for p in (root, sub, "%s-%d.%s" % (rng.choice(VOCAB[:200]), i, rng.choice(["c", "so", "js", "md", "bin"]))) if p)
        out.append((path, "f", (kind, size), 0o755 if rng.random() < 0.1 else 0o644))
        total, i = total + size, i + 1
    if name == "base":
        out += [("bin", "l", "usr/bin", 0o777), ("lib", "l", "usr/lib", 0o777), ("tmp", "d", None, 0o1777),
                ("usr/bin/busybox", "f", ("binary", 1 << 20), 0o755), ("usr/bin/sh", "h", "usr/bin/busybox", 0o755),
                ("usr/bin/ls", "l", "busybox", 0o777), ("etc/empty", "f", ("text", 0), 0o644),
                ("usr/share/doc/removed-later/README", "f", ("text", 5000), 0o644),
                ("etc/app/old.conf", "f", ("text", 3000), 0o644)]
    if name == "config":
        out += [("usr/share/doc/.wh.removed-later", "f", ("text", 0), 0o644),
                ("etc/app/.wh..wh..opq", "f", ("text", 0), 0o644)]
    return out

def build(n):
    layer = LAYERS[n]
    items = entries(layer)
    dirs = {"/".join(p.split("/")[:k]) for p, *_ in items for k in range(1, p.count("/") + 1)}
    items += [(d, "d", None, 0o755) for d in dirs if d not in {p for p, *_ in items}]
    tmp = os.path.join(OUT, "blobs", "sha256", "tmp-%d" % n)
    files = 0
    with open(tmp, "wb") as f:
        gz_tee = Tee(f)
        gz = gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=gz_tee, mtime=0)
        tar_tee = Tee(gz)
        tar = tarfile.open(fileobj=tar_tee, mode="w|", format=tarfile.PAX_FORMAT, copybufsize=MiB)
        for path, typ, arg, mode in sorted(items):
            ti = tarfile.TarInfo(path)
            ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = MTIME, mode, 0, 0, "root", "root"
            if typ == "f":
                ti.size = arg[1]
                tar.addfile(ti, Content(arg[0], arg[1], "%s/%s" % (layer[0], path)))
                files += 1
            else:
                ti.type = {"d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE}[typ]
                if arg:
                    ti.linkname = arg
                tar.addfile(ti)
        tar.close()
        gz.close()
    digest = "sha256:" + gz_tee.h.hexdigest()
    os.rename(tmp, os.path.join(OUT, "blobs", "sha256", digest[7:]))
    return digest, gz_tee.n, "sha256:" + tar_tee.h.hexdigest(), tar_tee.n, files

def blob(obj):
    b = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    d = hashlib.sha256(b).hexdigest()
    with open(os.path.join(OUT, "blobs", "sha256", d), "wb") as f:
        f.write(b)
    return {"digest": "sha256:" + d, "size": len(b)}

os.makedirs(os.path.join(OUT, "blobs", "sha256"))
with ProcessPoolExecutor(os.cpu_count()) as pool:
    layers = list(pool.map(build, range(len(LAYERS))))
chain, chains = None, []
for _, _, diff, _, _ in layers:
    chain = diff if chain is None else "sha256:" + hashlib.sha256(("%s %s" % (chain, diff)).encode()).hexdigest()
    chains.append(chain)
config = blob({
    "created": CREATED, "architecture": ARCH, "os": "linux",
    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
               "Cmd": ["/bin/sh"], "WorkingDir": "/app"},
    "rootfs": {"type": "layers", "diff_ids": [l[2] for l in layers]},
    "history": [{"created": CREATED, "created_by": "berth bench: " + l[1]} for l in LAYERS],
})
manifest = blob({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **config),
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s}
               for d, s, _, _, _ in layers],
})
with open(os.path.join(OUT, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [dict(
        mediaType="application/vnd.oci.image.manifest.v1+json",
        annotations={"org.opencontainers.image.ref.name": "bench"}, **manifest)]}, f)
with open(os.path.join(OUT, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(os.path.join(OUT, "layers.tsv"), "w") as f:
    for (d, s, diff, us, n), c in zip(layers, chains):
        f.write("%s\t%s\t%s\t%d\t%d\t%d\n" % (d, diff, c, s, us, n))
PY
)
case $(uname -m) in x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; *) ARCH=$(uname -m) ;; esac
KEY=$(printf '%s\n%s\n' "$GEN" "$ARCH" | sha256sum | cut -c1-12)
CACHE=$PWD/target/bench-cache
LAYOUT=$CACHE/pull-$KEY
if [ ! -f "$LAYOUT/layers.tsv" ]; then
  echo "generating the image (once; cached in $LAYOUT)..."
  rm -rf "$CACHE"/pull-* # older generators' images
  mkdir -p "$CACHE"
  python3 -c "$GEN" "$LAYOUT.tmp" "$ARCH"
  mv "$LAYOUT.tmp" "$LAYOUT"
fi
read -r NLAYERS GZ_MB TAR_MB NFILES < <(awk '{ n++; gz += $4; tar += $5; f += $6 }
  END { printf "%d %.0f %.0f %d\n", n, gz / 1e6, tar / 1e6, f }' "$LAYOUT/layers.tsv")
mapfile -t DIGESTS < <(cut -f1 "$LAYOUT/layers.tsv")
mapfile -t CHAINS < <(cut -f3 "$LAYOUT/layers.tsv")

start_registry
REF=$REGISTRY_ADDR/bench:latest
skopeo copy -q --format "$PULL_FORMAT" --dest-tls-verify=false "oci:$LAYOUT:bench" "docker://$REF"
echo "image: $NLAYERS layers, $GZ_MB MB compressed (gzip), $TAR_MB MB uncompressed, $NFILES files; $PULL_FORMAT manifest; registry docker-registry $(/usr/bin/docker-registry --version | awk '{ print $3 }') at $REGISTRY_ADDR"

# --- the engines ----------------------------------------------------------------
# Per engine: pull_X (timed), reset_X (remove the image and whatever it left),
# left_X (prints what of the image is still stored: nothing, for a cold pull)
# and disk_X (bytes under its storage, to check that it unpacked).
pull_berth() { "${B[@]}" pull "$REF"; }
reset_berth() {
  "${B[@]}" rmi -f "$REF" >/dev/null 2>&1 || true
  "${B[@]}" system prune -f >/dev/null
}
left_berth() {
  local d
  for d in "${DIGESTS[@]}"; do
    [ ! -e "$WORK/berth-root/content/blobs/sha256/${d#sha256:}" ] || echo "blob $d"
  done
  ls "$WORK/berth-root/content/ingest" 2>/dev/null | sed 's/^/ingest /'
}
disk_berth() { du -sb "$WORK/berth-root" | cut -f1; }

pull_docker() { "${D[@]}" pull "$REF"; }
reset_docker() {
  "${D[@]}" rmi -f "$REF" >/dev/null 2>&1 || true
  "${D[@]}" image prune -af >/dev/null
}
left_docker() {
  local c
  for c in "${CHAINS[@]}"; do
    [ ! -e "$WORK/docker/root/image/overlay2/layerdb/sha256/${c#sha256:}" ] || echo "layer $c"
  done
}
disk_docker() { du -sb "$WORK/docker/root" | cut -f1; }

pull_ctr() { "${C[@]}" images pull --plain-http "$REF"; }
reset_ctr() {
  "${C[@]}" images rm --sync "$REF" >/dev/null 2>&1 || true
}
left_ctr() {
  local content snaps x
  content=$("${C[@]}" content ls -q)
  snaps=$("${C[@]}" snapshots ls | awk 'NR > 1 { print $1 }')
  for x in "${DIGESTS[@]}"; do grep -qxF "$x" <<<"$content" && echo "blob $x"; done
  for x in "${CHAINS[@]}"; do grep -qxF "$x" <<<"$snaps" && echo "snapshot $x"; done
  true
}
disk_ctr() { du -sb "$WORK/containerd/root" | cut -f1; }

TOOLS=()
if uses berth; then start_berthd; TOOLS+=(berth); fi
if uses docker && start_dockerd; then TOOLS+=(docker); fi
if uses ctr && start_containerd; then TOOLS+=(ctr); fi
[ ${#TOOLS[@]} -gt 0 ] || { echo "no engine to measure (BENCH_TOOLS=$BENCH_TOOLS)" >&2; exit 1; }

# Run 0 warms each engine up (its code, its first connection to the registry,
# as run.sh does with its first `run`) and is not counted.
declare -A TIMES BASE
for t in "${TOOLS[@]}"; do TIMES[$t]=; BASE[$t]=$("disk_$t"); done
for i in $(seq 0 "$RUNS"); do
  for t in "${TOOLS[@]}"; do
    "reset_$t"
    left=$("left_$t")
    # Whatever the names, the unpacked layers must be gone too (< 20 MB left).
    grown=$(( ($("disk_$t") - BASE[$t]) / 1000000 ))
    [ "$grown" -lt 20 ] || left+="${left:+$'\n'}$grown MB more on disk than before the first pull"
    [ -z "$left" ] || { echo "$t: not cold, still stored after the reset:" >&2; echo "$left" >&2; exit 1; }
    sync
    t0=$(ms_now)
    "pull_$t" </dev/null >/dev/null || { echo "failed: $t pull $REF (run $i)" >&2; exit 1; }
    t1=$(ms_now)
    s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    if [ "$i" = 0 ]; then
      # The cold check must see the image once it is there, or it proves nothing.
      [ "$("left_$t" | wc -l)" -ge "$NLAYERS" ] || { echo "$t: left_$t does not see the pulled image's layers" >&2; exit 1; }
      echo "$t: warm-up pull ${s} s, $(( ($("disk_$t") - BASE[$t]) / 1000000 )) MB more on disk"
    else
      TIMES[$t]+="$s "
    fi
  done
done

echo
echo "== cold pull of $REF ($GZ_MB MB, $NLAYERS layers), $RUNS runs: p50 (min-max), seconds"
declare -A P50
for t in "${TOOLS[@]}"; do
  read -r p50 min max < <(tr ' ' '\n' <<<"${TIMES[$t]}" | grep . | spread)
  P50[$t]=$p50
  case $t in
    berth) what="berth pull" ;;
    docker) what="docker pull ($("${D[@]}" version --format '{{.Server.Version}}'), $("${D[@]}" info --format '{{.Driver}}'))" ;;
    ctr) what="ctr images pull ($(ctr --version | awk '{ print $3 }'), overlayfs, unpacked)" ;;
  esac
  printf '%-6s p50 %6s s (%s-%s)   runs: %s  %s\n' "$t" "$p50" "$min" "$max" "${TIMES[$t]% }" "$what"
done
if [ -n "${P50[berth]:-}" ]; then
  echo
  echo "== p50 ratios (peer / berth; > 1 means berth is faster)"
  [ -n "${P50[docker]:-}" ] && echo "docker/berth: $(ratio "${P50[docker]}" "${P50[berth]}")x (target >= 1.5x)"
  [ -n "${P50[ctr]:-}" ] && echo "ctr/berth:    $(ratio "${P50[ctr]}" "${P50[berth]}")x"
fi
true
