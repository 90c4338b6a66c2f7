#!/usr/bin/env bash
# The knob sweeps of issue 5 (sampling ratio r, lambda, G_psi variant) as `invdiff bench` runs
# sharing one bench directory: each reuses the base model, the classifier and every cell it does
# not change (an r sweep trains nothing), and writes its own table bench_<tags>.md.
#   bench/knobs.sh        (env: BASE=runs/quick/base OUT=runs/bench SEEDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=(build/invdiff bench -m "${BASE:-runs/quick/base}" -o "${OUT:-runs/bench}" --seeds "${SEEDS:-3}")
for r in 1.5 2; do "${BENCH[@]}" --rows erm,invdiff,oracle --guidance-ratio "$r"; done
"${BENCH[@]}" --rows erm,invdiff,oracle --lambda 100
for v in lora copy; do "${BENCH[@]}" --rows erm,invdiff,oracle --variant "$v"; done
