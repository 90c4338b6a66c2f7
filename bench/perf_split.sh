#!/usr/bin/env bash
# Where each side's CPU time goes, by library: `perf record` (cpu-clock sampling, both threads) of
# one workload in C++ (build/invdiff_perf) and in PyTorch-Python (bench/torch_ref.py), then the
# share of samples per shared object. Unlike the libtorch profiler, sampling adds no per-op cost,
# so the interpreter's share and the kernels' shares are comparable across the two sides.
#   bench/perf_split.sh [WORKLOAD=guided] [VARIANT=copy] [ITERS=20]   OUT=bench/PERF_SPLIT.md
# Needs Debian's linux-perf (installed here if missing) and a kernel that allows perf_event_open.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-guided}
V=${2:-copy}
ITERS=${3:-20}
THREADS=${THREADS:-$(nproc)}
OUT=${OUT:-bench/PERF_SPLIT.md}
command -v perf >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
args=(--workload "$W" --threads "$THREADS" --iters "$ITERS")
[ "$W" = guided ] && args+=(--variant "$V")
perf record -q -F 999 -o "$TMP/cpp.data" build/invdiff_perf "${args[@]}" >/dev/null 2>&1
perf record -q -F 999 -o "$TMP/py.data" /usr/bin/python3 bench/torch_ref.py "${args[@]}" >/dev/null 2>&1
split() {  # perf data -> "share<TAB>library" lines, the JIT-compiled oneDNN kernels as one entry
  perf report -i "$1" --no-children --sort dso -g none 2>/dev/null | grep -v '^#' | grep '%' |
    sed -E 's/\[JIT\] tid [0-9]+/oneDNN JIT kernels/' | awk '{p=$1; $1=""; sub(/^ /,""); printf "%s\t%s\n", p, $0}'
}
split "$TMP/cpp.data" >"$TMP/cpp.txt"
split "$TMP/py.data" >"$TMP/py.txt"
python3 - "$TMP/cpp.txt" "$TMP/py.txt" "$W" "$V" "$ITERS" "$THREADS" "$OUT" <<'PYEOF'
import sys, datetime
cpp_f, py_f, w, v, iters, threads, outp = sys.argv[1:]
def load(f):
    d = {}
    for line in open(f):
        share, lib = line.rstrip("\n").split("\t")
        d[lib] = d.get(lib, 0.0) + float(share.rstrip("%"))
    return d
c, p = load(cpp_f), load(py_f)
libs = sorted(set(c) | set(p), key=lambda k: -max(c.get(k, 0), p.get(k, 0)))
name = w + (f" ({v})" if w == "guided" else "")
out = [f"# CPU samples by library: {name} ({datetime.date.today()})", "",
       f"`bench/perf_split.sh {w} {v} {iters}`: perf record at 999 Hz over warm-up and {iters} iterations, "
       f"{threads} threads, batch 64; share of all samples of the process (both threads).", "",
       "| library | C++ | PyTorch-Python |", "|---|---|---|"]
for k in libs:
    if max(c.get(k, 0), p.get(k, 0)) >= 0.3:
        out.append(f"| {k} | {c.get(k, 0):.1f} % | {p.get(k, 0):.1f} % |")
open(outp, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PYEOF
