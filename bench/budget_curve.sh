#!/usr/bin/env bash
# Bias against G_psi's optimiser updates (issue 16): the bench trains each row's cell once, keeping
# a snapshot of G_psi every EVERY steps (debias.snapshot_every), then every snapshot is evaluated
# the way the bench evaluates a cell's final model (same dataset, classifier, sampling seed 1000
# and images per prompt), and one table gives the curve. Snapshots of one run are points on its
# learning-rate schedule (warm-up, then cosine to STEPS), not shorter runs of their own.
#   bench/budget_curve.sh [-- global invdiff flags, e.g. --threads 2]
#   env: BASE=runs/bench/base OUT=runs/curve DATA=data/cfmnist ROWS=invdiff STEPS=10000
#        EVERY=2000 N=200 INVDIFF=build/invdiff PARALLEL_EVAL=0
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = "--" ] && shift
INVDIFF=${INVDIFF:-build/invdiff} OUT=${OUT:-runs/curve} DATA=${DATA:-data/cfmnist}
STEPS=${STEPS:-10000} EVERY=${EVERY:-2000} N=${N:-200} ROWS=${ROWS:-invdiff}
# With PARALLEL_EVAL=1 each snapshot is evaluated as soon as it is written (atomically: a visible
# one is complete), at one thread beside the training: for a training at --threads 1 on a 2-core
# machine. Beside a multi-threaded training it would stall both (OpenMP threads spin-wait for a
# core), so by default the snapshots are evaluated after it.
eval_new() {
  local cell snap s
  for cell in "$OUT"/seed0/*_steps"$STEPS"_*; do
    for snap in "$cell"/*/snapshots/step_*.pt; do  # the cell's model directory: guided/, model/
      [ -f "$snap" ] || continue
      s=$(basename "$snap" .pt)
      # the last snapshot is the final model, which the bench evaluates itself (cell/eval)
      [ "$s" = "step_$STEPS" ] || [ -f "$cell/eval_$s/metrics.json" ] && continue
      "$INVDIFF" "${EVAL_FLAGS[@]}" -q eval -m "$snap" --data "$DATA" -o "$cell/eval_$s" -n "$N" --seed 1000 \
        --classifier "$OUT/classifier"
    done
  done
}
EVAL_FLAGS=("$@")
[ "${PARALLEL_EVAL:-0}" = 1 ] && EVAL_FLAGS=(--threads 1)
"$INVDIFF" "$@" -q bench -m "${BASE:-runs/bench/base}" -o "$OUT" --data "$DATA" --rows "base,$ROWS" --seeds 1 \
  -n "$N" --debias-steps "$STEPS" --set "debias.snapshot_every=$EVERY" &
BENCH_PID=$!
trap 'kill $BENCH_PID 2>/dev/null' EXIT
while kill -0 "$BENCH_PID" 2>/dev/null; do [ "${PARALLEL_EVAL:-0}" = 1 ] && eval_new; sleep 30; done
wait "$BENCH_PID"
trap - EXIT
eval_new
python3 - "$OUT" "$STEPS" "$N" <<'PYEOF'
import glob, json, os, re, sys
out, steps, n = sys.argv[1:]
def row(label, m):
    return f"| {label} | {m['bias']:.3f} | {m['fd']:.4f} | {m['faithfulness']:.3f} | {m['purity']:.3f} |"
lines = [f"G_psi snapshots of one {steps}-step run per row, {n} images per prompt, seed 0 (`bench/budget_curve.sh`).", "",
         "| model | Bias | FD | faithfulness | colour purity |", "|---|---|---|---|---|"]
base = os.path.join(out, "seed0", "base", "eval", "metrics.json")
if os.path.exists(base):
    lines.append(row("Base (no debiasing)", json.load(open(base))))
for cell in sorted(glob.glob(os.path.join(out, "seed0", f"*_steps{steps}_*"))):
    name = os.path.basename(cell).split("_steps")[0]
    evals = {int(re.search(r"eval_step_(\d+)", p).group(1)): p
             for p in glob.glob(os.path.join(cell, "eval_step_*", "metrics.json"))}
    if os.path.exists(os.path.join(cell, "eval", "metrics.json")):
        evals[int(steps)] = os.path.join(cell, "eval", "metrics.json")
    for s in sorted(evals):
        lines.append(row(f"{name}, step {s}", json.load(open(evals[s]))))
text = "\n".join(lines) + "\n"
open(os.path.join(out, f"curve_steps{steps}.md"), "w").write(text)
print(text)
PYEOF
