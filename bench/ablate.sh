#!/usr/bin/env bash
# Before/after figures for each optimisation of the C++ workloads (issue 6): every pair runs
# build/invdiff_perf with and without one switch, alternating, RUNS times; medians into
# bench/ABLATION.md. Run on an otherwise idle machine, after scripts/build.sh.
#   bench/ablate.sh [RUNS=3] [ITERS=8]
# A change with no switch (a code change) is measured against a build of the commit before it:
#   BEFORE=/tmp/old/build/invdiff_perf CHANGE="what changed" bench/ablate.sh 5 8
# then every pair runs that binary ("before") against build/invdiff_perf ("after") on each
# workload, with the same flags. OUT names the results file (default bench/ABLATION.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
RUNS=${1:-3}
ITERS=${2:-8}
THREADS=${THREADS:-$(nproc)}
PERF=build/invdiff_perf
OUT=${OUT:-bench/ABLATION.md}
LOG=$(mktemp)
# name | workload | iters | "before" flags | "after" flags  (after = what the product does,
# except the rows marked "candidate", which test a change the product has not adopted). A flag
# of the form NAME=VALUE is set in the environment of that side's process instead.
# ONLY=REGEX keeps the pairs whose name matches.
PAIRS=(
  "allocator: glibc defaults -> raised mmap/trim thresholds|train|$ITERS|--malloc default|--malloc tuned"
  "threads: 1 -> $THREADS|train|$ITERS|--threads 1|--threads $THREADS"
  "guided: base under autograd -> frozen base under NoGradGuard|guided|$ITERS|--naive-base 1|--naive-base 0"
  "candidate: NoGradGuard -> InferenceMode (sampling)|sample|$(( (ITERS + 3) / 4 ))|--inference-mode 0|--inference-mode 1"
  "candidate: contiguous -> channels-last (training)|train|$ITERS|--channels-last 0|--channels-last 1"
  "candidate: OpenMP threads bound to cores|guided|$ITERS|--variant small|--variant small OMP_PROC_BIND=true"
  "candidate: OpenMP threads sleep when idle|guided|$ITERS|--variant small|--variant small OMP_WAIT_POLICY=passive"
  "candidate: OpenMP threads always spin|guided|$ITERS|--variant small|--variant small GOMP_SPINCOUNT=infinite"
  "candidate: OpenBLAS's AVX-512 kernels named (on a CPU it does not recognise)|train|$ITERS||OPENBLAS_CORETYPE=Cooperlake"
)
if [ -n "${BEFORE:-}" ]; then
  [ -x "$BEFORE" ] || { echo "ablate: BEFORE=$BEFORE is not an executable" >&2; exit 1; }
  C=${CHANGE:-code change}
  PAIRS=("$C|train|$ITERS||" "$C|guided|$ITERS|--variant copy|--variant copy"
         "$C|guided|$ITERS|--variant small|--variant small" "$C|sample|$(( (ITERS + 3) / 4 ))||")
fi
for pair in "${PAIRS[@]}"; do
  IFS='|' read -r name w it before after <<<"$pair"
  [[ -n "${ONLY:-}" && ! "$name" =~ $ONLY ]] && continue
  for r in $(seq "$RUNS"); do
    for side in $(order_for "$r" before after); do
      envs=(X_ABLATE_SIDE=$side) args=()
      for f in ${!side}; do if [[ $f =~ ^[A-Z_]+= ]]; then envs+=("$f"); else args+=("$f"); fi; done
      bin=$PERF
      [ -n "${BEFORE:-}" ] && [ "$side" = before ] && bin=$BEFORE
      # the explicit --threads of a pair wins over the default one (last flag wins in invdiff_perf)
      timed_json "\"pair\": \"$name $w $before\", \"run\": $r, \"side\": \"$side\"" \
        env "${envs[@]}" $bin --workload "$w" --threads "$THREADS" --iters "$it" "${args[@]}" | tee -a "$LOG"
    done
  done
done
python3 - "$LOG" "$RUNS" "$ITERS" "$OUT" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PYEOF'
import json, statistics, sys, subprocess, datetime
log, runs, iters, outp, load = sys.argv[1:]
rows = [json.loads(l) for l in open(log) if l.startswith("{")]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
out = [f"# Optimisations, before and after ({datetime.date.today()})", "",
       f"Machine: {cpu}, {subprocess.getoutput('nproc')} cores; batch {rows[0]['batch']}; libtorch {rows[0]['torch']}.",
       f"`bench/ablate.sh {runs} {iters}`: {runs} runs per side, alternating; each run's figure is the median "
       "of its iterations after 3 warm-up (a sampling iteration is a whole 50-step DDIM loop); the speed-up is "
       f"the median of the per-pair ratios before / after, with their range. Load average at the end: {load}.", "",
       "| change | workload | before s/iter | after s/iter | speed-up (range) | peak RSS before / after (MB) |",
       "|---|---|---|---|---|---|"]
for name in dict.fromkeys(r["pair"] for r in rows):
    b = sorted((r for r in rows if r["pair"] == name and r["side"] == "before"), key=lambda r: r["run"])
    a = sorted((r for r in rows if r["pair"] == name and r["side"] == "after"), key=lambda r: r["run"])
    q = [x["sec_per_iter"] / y["sec_per_iter"] for x, y in zip(b, a)]
    mb = statistics.median(r["sec_per_iter"] for r in b)
    ma = statistics.median(r["sec_per_iter"] for r in a)
    rb = statistics.median(r["peak_rss_kb"] for r in b) / 1024
    ra = statistics.median(r["peak_rss_kb"] for r in a) / 1024
    w = b[0]["workload"] + (f" ({b[0]['variant']})" if b[0].get("variant") else "")
    label = name.split(" " + b[0]["workload"])[0]
    out.append(f"| {label} | {w} | {mb:.4f} | {ma:.4f} | {statistics.median(q):.2f}x ({min(q):.2f}..{max(q):.2f}) "
               f"| {rb:.0f} / {ra:.0f} |")
open(outp, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PYEOF
rm -f "$LOG"
