#!/usr/bin/env bash
# Where a guided model changed the denoising loss, per group (class x attribute) and timestep,
# against its base: the same rows, timesteps and noise (the groups stage's scorer, seed 0) for
# both models, joined with the dataset's label columns offline (reported only; nothing trains).
#   bench/group_losses.sh BASE GUIDED DATA ATTRIBUTE_COLUMN [TIMESTEPS=200,450,650,850] [ROWS=6000]
# e.g. bench/group_losses.sh runs/suite/brightness/base runs/suite/brightness/seed0/oracle/guided \
#        runs/suite/data/brightness brightness_name
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=$1 GUIDED=$2 DATA=$3 ATTR=$4 TS=${5:-200,450,650,850} ROWS=${6:-6000}
INVDIFF=${INVDIFF:-build/invdiff}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for side in base guided; do
  model=$BASE
  [ "$side" = guided ] && model=$GUIDED
  "$INVDIFF" -q --threads "${THREADS:-1}" groups -m "$model" --data "$DATA" -o "$WORK/$side" --timesteps "$TS" \
    --no-select-timestep --residual-pool 0 --grouper otsu --no-images --limit "$ROWS" > /dev/null
done
python3 bench/group_losses.py "$DATA/metadata.csv" "$ATTR" "$WORK/base/scores.csv" "$WORK/guided/scores.csv"
