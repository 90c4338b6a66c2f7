#!/usr/bin/env bash
# Kill `invdiff run` mid-stage, rerun it, and compare with an uninterrupted run (issue 5):
# run A goes straight through; run B is interrupted with Ctrl-C (SIGINT) during base training
# and killed outright (SIGKILL) during G_psi training, then rerun to the end each time.
#   bench/resume_check.sh [OUT=runs/resume_check]      (~10 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/resume_check}
ARGS=(--steps 600 --debias-steps 1200 -n 50)
B="build/invdiff --threads ${THREADS:-0}"
rm -rf "$OUT" && mkdir -p "$OUT"
$B -q run -o "$OUT/a" "${ARGS[@]}" > "$OUT/a.log" 2>&1

wait_for() {  # file pattern, then kill with the signal
  local file=$1 min_step=$2 sig=$3 pid=$4
  while kill -0 "$pid" 2>/dev/null; do
    if [ -f "$file" ] && [ "$(tail -1 "$file" | cut -d, -f1)" -ge "$min_step" ] 2>/dev/null; then
      kill -"$sig" "$pid"; wait "$pid" || true; return 0
    fi
    sleep 1
  done
  echo "run finished before it could be interrupted" >&2; exit 1
}
$B run -o "$OUT/b" "${ARGS[@]}" > "$OUT/b1.log" 2>&1 & pid=$!
sleep 20; kill -INT $pid; wait $pid || true                 # Ctrl-C during base training
echo "b1: $(grep -o 'interrupted at step [0-9]*' "$OUT/b1.log" || echo 'no interruption message')"
$B run -o "$OUT/b" "${ARGS[@]}" > "$OUT/b2.log" 2>&1 & pid=$!
wait_for "$OUT/b/guided/loss.csv" 500 KILL $pid              # SIGKILL after G_psi's step-500 checkpoint
echo "b2: killed during G_psi at step $(tail -1 "$OUT/b/guided/loss.csv" | cut -d, -f1) (last checkpoint 500)"
$B -q run -o "$OUT/b" "${ARGS[@]}" > "$OUT/b3.log" 2>&1
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
a, b = (json.load(open(f"{out}/{r}/metrics.json")) for r in "ab")
keys = ["bias", "purity", "faithfulness", "fd", "kid", "precision", "recall"]
same = True
for m in ["reference", "base", "guided"]:
    va, vb = [a["eval"][m][k] for k in keys], [b["eval"][m][k] for k in keys]
    same &= va == vb
    print(f"{m:9s} uninterrupted {va}\n{'':9s} interrupted   {vb}")
same &= a["groups"]["groups"] == b["groups"]["groups"]
print("identical report numbers" if same else "DIFFERENT")
sys.exit(0 if same else 1)
PY
