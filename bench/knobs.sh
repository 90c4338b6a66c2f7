#!/usr/bin/env bash
# The knob sweeps of issue 5 (sampling ratio r, number of groups G, lambda, G_psi variant) as
# `invdiff bench` runs sharing one bench directory: each reuses the base model, the classifier
# and every cell it does not change (an r sweep trains nothing: it re-evaluates the trained
# cells), and writes its own table bench_<tags>.md. The r sweep runs over SEEDS seeds; the
# training sweeps over KNOB_SEEDS (default 1: each of their cells trains a G_psi).
#   bench/knobs.sh        (env: BASE=runs/quick/base OUT=runs/bench SEEDS=3 KNOB_SEEDS=1 INVDIFF=build/invdiff)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=("${INVDIFF:-build/invdiff}" bench -m "${BASE:-runs/quick/base}" -o "${OUT:-runs/bench}")
SEEDS=${SEEDS:-3}
KNOB_SEEDS=${KNOB_SEEDS:-1}
for r in 1.5 2; do "${BENCH[@]}" --seeds "$SEEDS" --rows erm,invdiff,oracle --guidance-ratio "$r"; done
for G in 2 4 8; do "${BENCH[@]}" --seeds "$KNOB_SEEDS" --rows invdiff -G "$G"; done
for l in 100 1000; do "${BENCH[@]}" --seeds "$KNOB_SEEDS" --rows invdiff,oracle --lambda "$l"; done
for v in lora copy; do "${BENCH[@]}" --seeds "$KNOB_SEEDS" --rows invdiff,oracle --variant "$v"; done
