#!/usr/bin/env bash
# The knob sweeps of issues 5 and 7 (sampling ratio r, the max step's grouper and score band,
# the refined score, lambda, number of groups G, G_psi variant) as `invdiff bench` runs sharing one bench directory: each reuses the
# base model, the classifier and every cell it does not change (an r sweep trains nothing: it
# re-evaluates the trained cells), and writes its own table bench_<tags>.md;
# `python3 bench/knob_table.py OUT` collects them into one table. r, maxstep, refine and lambda run over
# SEEDS seeds; G and variant over KNOB_SEEDS (each of their cells trains a G_psi).
#   bench/knobs.sh [r] [maxstep] [refine] [lambda] [groups] [variant] [-- extra bench flags, e.g. --threads 1]
#   (no sweep named: all; env: BASE=runs/quick/base OUT=runs/bench SEEDS=3 KNOB_SEEDS=1 INVDIFF=build/invdiff)
set -euo pipefail
cd "$(dirname "$0")/.."
SWEEPS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do SWEEPS+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#SWEEPS[@]} -eq 0 ] && SWEEPS=(r maxstep refine lambda groups variant)
BENCH=("${INVDIFF:-build/invdiff}" "$@" bench -m "${BASE:-runs/quick/base}" -o "${OUT:-runs/bench}")
SEEDS=${SEEDS:-3}
KNOB_SEEDS=${KNOB_SEEDS:-1}
for s in "${SWEEPS[@]}"; do
  case $s in
    r) for r in 1.5 2; do "${BENCH[@]}" --seeds "$SEEDS" --rows erm,invdiff,oracle --guidance-ratio "$r"; done ;;
    maxstep)  # session 3's max step (Otsu on the full-resolution score), then the band alone
      "${BENCH[@]}" --seeds "$SEEDS" --rows invdiff --grouper otsu --residual-pool 0
      "${BENCH[@]}" --seeds "$SEEDS" --rows invdiff --grouper otsu ;;
    refine)  # the one-draw score (session 2's default), at r = 1, 1.5 and 2
      "${BENCH[@]}" --seeds "$SEEDS" --rows invdiff --refine-draws 0
      for r in 1.5 2; do "${BENCH[@]}" --seeds "$SEEDS" --rows invdiff --refine-draws 0 --guidance-ratio "$r"; done ;;
    lambda) "${BENCH[@]}" --seeds "$SEEDS" --rows invdiff,oracle --lambda 100 ;;
    groups) for G in 2 8; do "${BENCH[@]}" --seeds "$KNOB_SEEDS" --rows invdiff -G "$G"; done ;;
    variant) for v in lora copy; do "${BENCH[@]}" --seeds "$KNOB_SEEDS" --rows invdiff --variant "$v"; done ;;
    *) echo "knobs.sh: unknown sweep '$s' (r, maxstep, refine, lambda, groups, variant)" >&2; exit 2 ;;
  esac
done
