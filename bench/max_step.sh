#!/usr/bin/env bash
# Issue 15's max-step ablation over the benchmark suite, without the min step: per variant, score
# once with the recipe's estimator keeping both feature kinds (pooled residual and bottleneck),
# then regroup from that scores.csv with each feature choice and cluster count (seconds each).
# The group report measures, with the labels it alone reads, what each grouping would give the
# min step: the attribute's Bias once the groups are balanced (0 = the oracle groups' target).
#   bench/max_step.sh [VARIANT ...] [-- extra global flags, e.g. --threads 1]
#   env: SUITE=runs/suite (bases at SUITE/<variant>/base, data at SUITE/data/<variant>)
#        OUT=runs/max_step INVDIFF=build/invdiff SEED=0 CONFIGS="residual:2 hidden:2 both:2 residual:0 hidden:0 both:0"
#        HIDDEN_T=f (bottleneck features at t = f T, `groups --hidden-t`; unset: at the score's timesteps)
#        a config "feats:k:R" also whitens robustly (--robust-whiten); "feats:0::split" or
#        "feats:0:R:split" chooses k by splitting (--choose-k split; default with k = 0: BIC)
# Table: python3 bench/max_step_table.py OUT
set -euo pipefail
cd "$(dirname "$0")/.."
VARIANTS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do VARIANTS+=("$1"); shift; done
[ $# -gt 0 ] && shift
SUITE=${SUITE:-runs/suite}
OUT=${OUT:-runs/max_step}
INVDIFF=${INVDIFF:-build/invdiff}
SEED=${SEED:-0}
CONFIGS=${CONFIGS:-"residual:2 hidden:2 both:2 residual:0 hidden:0 both:0"}
if [ ${#VARIANTS[@]} -eq 0 ]; then
  for d in "$SUITE"/*/base/checkpoint.pt; do v=$(basename "$(dirname "$(dirname "$d")")"); VARIANTS+=("$v"); done
fi
for v in "${VARIANTS[@]}"; do
  base="$SUITE/$v/base" data="$SUITE/data/$v" out="$OUT/seed$SEED/$v/h${HIDDEN_T:-score}"
  hid=()
  [ -n "${HIDDEN_T:-}" ] && hid=(--hidden-t "$HIDDEN_T")
  [ -f "$base/checkpoint.pt" ] || { echo "max_step.sh: no trained base for '$v' at $base" >&2; continue; }
  # The recipe's score (experiment/recipes.cpp: invdiff_recipe, quick preset), both feature kinds kept.
  if [ ! -f "$out/scores/scores.csv" ]; then
    "$INVDIFF" "$@" -q groups -m "$base" --data "$data" -o "$out/scores" --seed "$SEED" -M 4 --select-timestep \
      --refine-draws 4 --residual-pool 4 --grouper cluster --cluster-features both "${hid[@]}" --no-images >/dev/null
  fi
  for c in $CONFIGS; do
    IFS=: read -r feats k robust rule <<<"$c"
    extra=() tag=""
    [ "$k" = 0 ] && extra=(--max-clusters "${MAX_CLUSTERS:-4}")
    [ -n "$robust" ] && extra+=(--robust-whiten) tag=R
    [ -n "$rule" ] && extra+=(--choose-k "$rule") tag="${tag}_$rule"
    "$INVDIFF" "$@" -q groups --scores "$out/scores/scores.csv" --data "$data" -o "$out/${feats}${tag}_k$k" \
      --grouper cluster --cluster-features "$feats" --clusters "$k" "${extra[@]}" --no-images >/dev/null
  done
  echo "== $v done"
done
