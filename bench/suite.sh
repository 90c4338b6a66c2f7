#!/usr/bin/env bash
# Issue 15's benchmark suite: the same real garments and protocol with biases of different
# kinds (docs/evaluation.md, "The benchmark suite"). Per variant: `invdiff data cfmnist` builds
# the data, `invdiff bench` trains the variant's own base and runs the rows with one set of
# defaults; `python3 bench/suite_table.py OUT` prints the one table (every variant, its rows).
#   bench/suite.sh [VARIANT ...] [-- extra bench flags]
#   env: OUT=runs/suite SEEDS=1 N=200 ROWS=base,erm,invdiff,oracle INVDIFF=build/invdiff PRESET=quick
#   BENCH_ARGS="--set KEY=VALUE ..." (a recipe change for every variant's invdiff row, e.g. a grouping)
#   BASE_<variant>=DIR reuses a trained base for that variant (e.g. BASE_colour2=runs/quick/base).
# Variants (no name: all): colour2 colour3 colour4 brightness scale position background blur
# stroke colour_scale (two attributes at once) unbiased (colour at rho 1/2: nothing to fix).
set -euo pipefail
cd "$(dirname "$0")/.."
VARIANTS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do VARIANTS+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#VARIANTS[@]} -eq 0 ] && VARIANTS=(colour2 colour3 colour4 brightness scale position background blur stroke colour_scale unbiased)
INVDIFF=${INVDIFF:-build/invdiff}
OUT=${OUT:-runs/suite}
for v in "${VARIANTS[@]}"; do
  case $v in
    colour2) flags=(--attributes colour -K 2) ;;
    colour3) flags=(--attributes colour -K 3) ;;
    colour4) flags=(--attributes colour -K 4) ;;
    brightness|scale|position|background|blur|stroke) flags=(--attributes "$v" -K 2) ;;
    colour_scale) flags=(--attributes colour,scale -K 2) ;;
    unbiased) flags=(--attributes colour -K 2 --rho 0.5) ;;
    *) echo "suite.sh: unknown variant '$v'" >&2; exit 2 ;;
  esac
  data="$OUT/data/$v"
  [ -f "$data/manifest.json" ] || "$INVDIFF" -q data cfmnist "${flags[@]}" -o "$data"
  base_var="BASE_$v"
  base=()
  [ -n "${!base_var:-}" ] && base=(-m "${!base_var}")
  echo "== $v: ${flags[*]}"
  "$INVDIFF" "$@" bench "${base[@]}" --data "$data" -o "$OUT/$v" --preset "${PRESET:-quick}" \
    --rows "${ROWS:-base,erm,invdiff,oracle}" --seeds "${SEEDS:-1}" -n "${N:-200}" -q ${BENCH_ARGS:-}
done
