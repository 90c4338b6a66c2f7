#!/usr/bin/env bash
# Before/after figures for each optimisation of the C++ workloads (issue 6): every pair runs
# build/invdiff_perf with and without one switch, alternating, RUNS times; medians into
# bench/ABLATION.md. Run on an otherwise idle machine, after scripts/build.sh.
#   bench/ablate.sh [RUNS=3] [ITERS=8]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
ITERS=${2:-8}
THREADS=${THREADS:-$(nproc)}
PERF=build/invdiff_perf
LOG=$(mktemp)
# name | workload | iters | "before" flags | "after" flags  (after = what the product does,
# except the rows marked "candidate", which test a change the product has not adopted)
PAIRS=(
  "allocator: glibc defaults -> raised mmap/trim thresholds|train|$ITERS|--malloc default|--malloc tuned"
  "threads: 1 -> $THREADS|train|$ITERS|--threads 1|--threads $THREADS"
  "guided: base under autograd -> frozen base under NoGradGuard|guided|$ITERS|--naive-base 1|--naive-base 0"
  "candidate: NoGradGuard -> InferenceMode (sampling)|sample|$(( (ITERS + 3) / 4 ))|--inference-mode 0|--inference-mode 1"
  "candidate: contiguous -> channels-last (training)|train|$ITERS|--channels-last 0|--channels-last 1"
)
for pair in "${PAIRS[@]}"; do
  IFS='|' read -r name w it before after <<<"$pair"
  for r in $(seq "$RUNS"); do
    for side in before after; do
      flags=${!side}
      # the explicit --threads of a pair wins over the default one (last flag wins in invdiff_perf)
      out=$(/usr/bin/time -f 'RSS %M' $PERF --workload "$w" --threads "$THREADS" --iters "$it" $flags 2>&1)
      json=$(echo "$out" | grep '^{')
      rss=$(echo "$out" | awk '/^RSS/{print $2}')
      echo "{\"pair\": \"$name\", \"side\": \"$side\", ${json#\{}" | sed "s/}\$/, \"peak_rss_kb\": $rss}/" | tee -a "$LOG"
    done
  done
done
python3 - "$LOG" "$RUNS" "$ITERS" <<'PYEOF'
import json, statistics, sys, subprocess, datetime
log, runs, iters = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in open(log) if l.startswith("{")]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
out = [f"# Optimisations, before and after ({datetime.date.today()})", "",
       f"Machine: {cpu}, {subprocess.getoutput('nproc')} cores; batch {rows[0]['batch']}; libtorch {rows[0]['torch']}.",
       f"`bench/ablate.sh {runs} {iters}`: {runs} runs per side, alternating; each run's figure is the median "
       "of its iterations after 3 warm-up (a sampling iteration is a whole 50-step DDIM loop).", "",
       "| change | workload | before s/iter | after s/iter | speed-up | peak RSS before / after (MB) |",
       "|---|---|---|---|---|---|"]
for name in dict.fromkeys(r["pair"] for r in rows):
    b = [r for r in rows if r["pair"] == name and r["side"] == "before"]
    a = [r for r in rows if r["pair"] == name and r["side"] == "after"]
    mb = statistics.median(r["sec_per_iter"] for r in b)
    ma = statistics.median(r["sec_per_iter"] for r in a)
    rb = statistics.median(r["peak_rss_kb"] for r in b) / 1024
    ra = statistics.median(r["peak_rss_kb"] for r in a) / 1024
    out.append(f"| {name} | {b[0]['workload']} | {mb:.4f} | {ma:.4f} | {mb/ma:.2f}x | {rb:.0f} / {ra:.0f} |")
open("bench/ABLATION.md", "w").write("\n".join(out) + "\n")
print("\n".join(out))
PYEOF
rm -f "$LOG"
