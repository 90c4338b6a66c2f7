#!/usr/bin/env bash
# Minority-detection AUC of the per-sample score, multi-t vs single-t, on cfmnist defaults
# (std grouper with G groups), plus the multi-t scores through the Otsu split, with and without
# the label-free timestep choice (--select-timestep).
# Not a test: it scores every training image twice with a trained base model (about a minute
# or two each on CPU). Attribute columns are read only by the report, never by inference.
#
#   bench/group_auc.sh BASE_CHECKPOINT [DATA_DIR] [OUT_DIR]
#
# DATA_DIR (default data/cfmnist) is built with `invdiff data cfmnist` when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:?usage: bench/group_auc.sh BASE_CHECKPOINT [DATA_DIR] [OUT_DIR]}
DATA=${2:-data/cfmnist}
OUT=${3:-runs/bench_group_auc}
BIN=${INVDIFF:-build/invdiff}
G=${G:-8}
SEED=${SEED:-0}
DEVICE=${DEVICE:-cpu}   # e.g. DEVICE=cuda

[ -x "$BIN" ] || { echo "no $BIN: build first (scripts/build.sh)" >&2; exit 1; }
[ -f "$DATA/manifest.json" ] || "$BIN" data cfmnist -o "$DATA"
mkdir -p "$OUT"

declare -A secs
run() {  # name, extra args (-m BASE or --scores FILE among them)
  local name=$1; shift
  local t0=$SECONDS
  echo "scoring with $name ..." >&2
  if ! "$BIN" --device "$DEVICE" groups --data "$DATA" --seed "$SEED" -o "$OUT/$name" "$@" >"$OUT/$name.log" 2>&1; then
    echo "groups $name failed, see $OUT/$name.log" >&2
    tail -3 "$OUT/$name.log" >&2
    exit 1
  fi
  secs[$name]=$((SECONDS - t0))
}
# The stage commands default to run's recipe; these rows name the settings they compare: the
# mean over M = 8 timesteps of the full-resolution loss, or the official one-draw score.
run multi-t -m "$BASE" --score multi-t -M 8 --no-select-timestep --residual-pool 0 --grouper std -G "$G"
run single-t -m "$BASE" --score single-t --residual-pool 0 --grouper std -G "$G" --no-images
# The same multi-t scores through the Otsu per-condition split (no rescoring).
run multi-t-otsu --scores "$OUT/multi-t/scores.csv" --no-select-timestep --grouper otsu --no-images
# ... and the label-free timestep choice (the timestep whose scores split most cleanly), then Otsu.
run selected-t-otsu --scores "$OUT/multi-t/scores.csv" --select-timestep --refine-draws 0 --grouper otsu --no-images

auc() { jq -r '.minority.auc_score // "nan" | if type == "number" then (. * 1000 | round / 1000 | tostring) else . end' "$OUT/$1/report.json"; }
top_share() { jq -r '[.groups[].minority_share] | max | . * 1000 | round / 1000' "$OUT/$1/report.json"; }
purity() { jq -r '.attributes.colour_name.purity // "nan" | . * 1000 | round / 1000' "$OUT/$1/report.json"; }

printf '\nbase: %s\ndata: %s (%s training images)\n\n' "$BASE" "$DATA" "$(jq -r .num_samples "$OUT/multi-t/report.json")"
printf '| score (grouper) | AUC vs minority | best group minority share | colour purity of argmax groups | seconds |\n'
printf '|---|---|---|---|---|\n'
for n in multi-t single-t multi-t-otsu selected-t-otsu; do
  printf '| %s | %s | %s | %s | %s |\n' "$n" "$(auc $n)" "$(top_share $n)" "$(purity $n)" "${secs[$n]}"
done
printf '\nselected timestep: %s\n' "$(jq -c .score.selected_timestep "$OUT/selected-t-otsu/summary.json")"
printf '\nmulti-t AUC by timestep (standardised per condition):\n'
jq -r '.minority.auc_by_timestep[] | "  t = \(.t): \(.standardised * 1000 | round / 1000)"' "$OUT/multi-t/report.json"
printf '\nreports: %s/{multi-t,single-t}/report.md\n' "$OUT"
