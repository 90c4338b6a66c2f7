#!/usr/bin/env bash
# C++ (libtorch) vs PyTorch-Python on the same workloads, alternating runs; writes bench/RESULTS.md.
#   bench/compare.sh [RUNS=5] [ITERS=10]      (run on an otherwise idle machine)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
ITERS=${2:-10}
THREADS=${THREADS:-$(nproc)}
scripts/setup.sh >/dev/null
dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed" || {
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
}
scripts/build.sh >/dev/null
PY=/usr/bin/python3   # Debian's python3-torch lives here, not in a pyenv/venv python
LOG=$(mktemp)
for w in ${WORKLOADS:-train guided sample}; do
  for r in $(seq "$RUNS"); do
    for impl in py cpp; do
      if [ $impl = py ]; then cmd=($PY bench/torch_ref.py); else cmd=(build/invdiff_perf); fi
      out=$(/usr/bin/time -f 'RSS %M' "${cmd[@]}" --workload "$w" --threads "$THREADS" --iters "$ITERS" 2>&1)
      json=$(echo "$out" | grep '^{')
      rss=$(echo "$out" | awk '/^RSS/{print $2}')
      echo "${json%\}}, \"peak_rss_kb\": $rss}" | tee -a "$LOG"
    done
  done
done
FLOPS=$($PY bench/torch_ref.py --workload flops)
MATMUL=$(build/invdiff_bench --benchmark_filter='BM_Matmul/1024' --benchmark_format=json 2>/dev/null |
         $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["benchmarks"][0]["GFLOP/s"]/1e9)')
$PY - "$LOG" "$FLOPS" "$MATMUL" "$RUNS" "$ITERS" <<'PYEOF'
import json, statistics, sys, platform, subprocess, datetime
log, flops, matmul, runs, iters = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = [json.loads(l) for l in open(log) if l.startswith("{")]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
fwd = flops["forward_flops_per_image"]
mult = {"train": 3, "guided": 4, "sample": 50}  # fwd+bwd ~ 3 fwd; guided: base fwd + G fwd/bwd
out = [f"# C++ vs PyTorch-Python ({datetime.date.today()})", "",
       f"Machine: {cpu}, {subprocess.getoutput('nproc')} cores; threads {rows[0]['threads']}; batch {rows[0]['batch']}; "
       f"libtorch {rows[0]['torch'] if rows[0]['impl']=='cpp' else rows[1]['torch']} (C++) and PyTorch from Debian python3-torch.",
       f"Runs: {runs} per implementation, alternating; each run's figure is the median of {iters} iterations after 3 warm-up.",
       f"Model: the default UNet, {flops['params']} parameters (both implementations print the same count), "
       f"{fwd/1e6:.1f} MFLOP per image forward.", f"Measured fp32 matmul peak (1024^2, libtorch): {matmul:.1f} GFLOP/s.", "",
       "| workload | PyTorch s/iter | C++ s/iter | C++ speed-up | C++ GFLOP/s | % of matmul peak | peak RSS Py / C++ (MB) |",
       "|---|---|---|---|---|---|---|"]
for w in ["train", "guided", "sample"]:
    py = [r for r in rows if r["workload"] == w and r["impl"] == "pytorch"]
    cc = [r for r in rows if r["workload"] == w and r["impl"] == "cpp"]
    if not py or not cc:
        continue
    mp = statistics.median(r["sec_per_iter"] for r in py)
    mc = statistics.median(r["sec_per_iter"] for r in cc)
    gf = fwd * mult[w] * cc[0]["batch"] / mc / 1e9
    rp = statistics.median(r["peak_rss_kb"] for r in py) / 1024
    rc = statistics.median(r["peak_rss_kb"] for r in cc) / 1024
    out.append(f"| {w} | {mp:.4f} | {mc:.4f} | {mp/mc:.2f}x | {gf:.1f} | {100*gf/matmul:.0f} % | {rp:.0f} / {rc:.0f} |")
out += ["", "Command: `bench/compare.sh " + runs + " " + iters + "`. Workloads: `train` = one base training step "
        "(forward, backward, clip, AdamW, EMA); `sample` = a 50-step DDIM loop; GFLOP/s counts convolution, "
        "linear and attention FLOPs only."]
open("bench/RESULTS.md", "w").write("\n".join(out) + "\n")
print("\n".join(out))
PYEOF
rm -f "$LOG"
