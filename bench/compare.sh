#!/usr/bin/env bash
# C++ (libtorch) vs PyTorch-Python on the same workloads, interleaved runs; writes a results file.
#   bench/compare.sh [RUNS=5] [ITERS=10]        OUT=bench/RESULTS.md  WORKLOADS="train guided-copy guided-small sample"
# Each run pairs one PyTorch and one C++ process back to back (the order alternates run to run, so
# a drift of the machine's speed does not favour one side); a pair's ratio is PyTorch's time over
# C++'s. The file gives, per workload, the median of the pair ratios and their range, the matmul
# peak measured at the start and the end of this invocation, the load average before it started
# and the CPU time the hypervisor stole during it: a shared machine's figures without those are
# one sample of its weather, not a result.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
RUNS=${1:-5}
ITERS=${2:-10}
THREADS=${THREADS:-$(nproc)}
OUT=${OUT:-bench/RESULTS.md}
WORKLOADS=${WORKLOADS:-train guided-copy guided-small sample}
scripts/setup.sh >/dev/null
dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed" || {
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
}
scripts/build.sh >/dev/null
PY=/usr/bin/python3   # Debian's python3-torch lives here, not in a pyenv/venv python
LOG=$(mktemp)
peak() {  # the oneDNN convolution rate the workloads are measured against (torch_ref.py --workload peak)
  $PY bench/torch_ref.py --workload peak --threads "$THREADS"
}
BLAS=$(OPENBLAS_VERBOSE=2 build/invdiff_bench --benchmark_filter='BM_Matmul/1024' --benchmark_format=json 2>&1 |
  $PY -c '
import json, sys
t = sys.stdin.read()
core = [l.split(":", 1)[1].strip() for l in t.splitlines() if l.startswith("Core:")] or ["?"]
g = json.loads(t[t.index("{"):])["benchmarks"][0]["GFLOP/s"] / 1e9
print("%.0f GFLOP/s (OpenBLAS core %s)" % (g, core[0]))')
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
STAT0=$(head -1 /proc/stat)
START=$(date -u '+%Y-%m-%d %H:%M UTC')
MM0=$(peak)
run_one() {  # impl workload run -> one JSON line in $LOG
  local impl=$1 w=$2 r=$3 base=${2%%-*} variant=""
  [[ $2 == *-* ]] && variant=${2#*-}
  local cmd
  if [ "$impl" = py ]; then cmd=($PY bench/torch_ref.py); else cmd=(build/invdiff_perf); fi
  cmd+=(--workload "$base" --threads "$THREADS" --iters "$ITERS")
  [ -n "$variant" ] && cmd+=(--variant "$variant")
  timed_json "\"name\": \"$w\", \"run\": $r" "${cmd[@]}" | tee -a "$LOG"
}
for w in $WORKLOADS; do
  for r in $(seq "$RUNS"); do
    for impl in $(order_for "$r" py cpp); do run_one "$impl" "$w" "$r"; done
  done
done
MM1=$(peak)
STAT1=$(head -1 /proc/stat)
FLOPS=$($PY bench/torch_ref.py --workload flops)
$PY - "$LOG" "$FLOPS" "$MM0" "$MM1" "$RUNS" "$ITERS" "$LOAD0" "$STAT0" "$STAT1" "$START" "$OUT" "$WORKLOADS" "$BLAS" <<'PYEOF'
import json, statistics, sys, subprocess, datetime
log, flops, mm0, mm1, runs, iters, load0, stat0, stat1, start, outp, names, blas = sys.argv[1:]
flops, mm0, mm1 = json.loads(flops), float(mm0), float(mm1)
rows = [json.loads(l) for l in open(log) if l.startswith("{")]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
s0, s1 = [list(map(int, s.split()[1:])) for s in (stat0, stat1)]
d = [b - a for a, b in zip(s0, s1)]
steal = 100.0 * (d[7] if len(d) > 7 else 0) / max(1, sum(d))
fwd = flops["forward_flops_per_image"]
cpp_torch = next(r["torch"] for r in rows if r["impl"] == "cpp")
py_torch = next(r["torch"] for r in rows if r["impl"] == "pytorch")
out = [f"# C++ vs PyTorch-Python ({start})", "",
       f"Machine: {cpu}, {subprocess.getoutput('nproc')} cores; threads {rows[0]['threads']}; batch {rows[0]['batch']}; "
       f"libtorch {cpp_torch} (C++) and PyTorch {py_torch} (Debian python3-torch, same ATen kernels).",
       f"Load average before the first run: {load0}; CPU time stolen by the hypervisor during the runs: {steal:.1f} %.",
       f"Peak: a [64, 256, 16, 16] 3x3 fp32 convolution through oneDNN (the kernels the workloads spend their time in), "
       f"measured in this invocation: {mm0:.1f} GFLOP/s before the runs, {mm1:.1f} after; 1024^2 matmul through "
       f"the system BLAS: {blas}.",
       f"Runs: {runs} pairs per workload, order alternating; each run's figure is the median of {iters} iterations "
       "after 3 warm-up; a pair's ratio is PyTorch / C++.",
       f"Model: the default UNet, {flops['params']} parameters (both sides print the same count), "
       f"{fwd/1e6:.1f} MFLOP per image forward.", "",
       "| workload | G_psi params | PyTorch s/iter, median (min..max) | C++ s/iter, median (min..max) | "
       "C++ speed-up: median pair ratio (range) | C++ GFLOP/s | % of conv peak | peak RSS Py / C++ (MB) |",
       "|---|---|---|---|---|---|---|---|"]
gmult = lambda g: 1 + 3 * g / flops["params"]  # base fwd + G fwd/bwd (G's FLOPs ~ its share of parameters)
for w in names.split():
    py = sorted((r for r in rows if r["name"] == w and r["impl"] == "pytorch"), key=lambda r: r["run"])
    cc = sorted((r for r in rows if r["name"] == w and r["impl"] == "cpp"), key=lambda r: r["run"])
    if not py or not cc:
        continue
    tp = [r["sec_per_iter"] for r in py]
    tc = [r["sec_per_iter"] for r in cc]
    ratios = [a / b for a, b in zip(tp, tc)]
    mc = statistics.median(tc)
    g = cc[0].get("g_params", 0)
    mult = {"train": 3, "sample": 50}.get(w, gmult(g) if g else 4)
    gf = fwd * mult * cc[0]["batch"] / mc / 1e9
    rp = statistics.median(r["peak_rss_kb"] for r in py) / 1024
    rc = statistics.median(r["peak_rss_kb"] for r in cc) / 1024
    gs = f"{g} / {py[0].get('g_params', 0)}" if g else "-"
    out.append(f"| {w} | {gs} | {statistics.median(tp):.4f} ({min(tp):.4f}..{max(tp):.4f}) | "
               f"{mc:.4f} ({min(tc):.4f}..{max(tc):.4f}) | {statistics.median(ratios):.2f}x "
               f"({min(ratios):.2f}..{max(ratios):.2f}) | {gf:.1f} | {100*gf/max(mm0, mm1):.0f} % | {rp:.0f} / {rc:.0f} |")
out += ["", f"Command: `bench/compare.sh {runs} {iters}`. Workloads: `train` = one base training step (forward, "
        "backward, clip, AdamW, EMA); `guided-copy` / `guided-small` = one G_psi step (frozen base forward, G_psi "
        "forward and backward, group objective, clip, AdamW) with G_psi a copy of the base or invdiff's `small` "
        "module (C++ / PyTorch parameter counts in the second column); `sample` = a 50-step DDIM loop. GFLOP/s counts "
        "convolution, linear and attention FLOPs only (guided: G_psi's FLOPs taken as its share of the parameters)."]
open(outp, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PYEOF
rm -f "$LOG"
