#!/usr/bin/env bash
# Issue 16's sweep of the min step: one `invdiff bench` per change, each a --set on invdiff's
# recipe (experiment/recipes.cpp), sharing one bench directory (base, classifier, max-step
# groups) and writing its own table bench_<tags>.md; `python3 bench/knob_table.py OUT` collects them.
#   bench/min_step.sh [CHANGE ...] [-- extra bench flags]
#   env: BASE=runs/quick/base OUT=runs/min_step ROWS=oracle SEEDS=1 N=200 INVDIFF=build/invdiff
# A CHANGE is a name below or a literal "KEY=VALUE[,KEY=VALUE...]" list of --set's.
set -euo pipefail
cd "$(dirname "$0")/.."
CHANGES=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do CHANGES+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#CHANGES[@]} -eq 0 ] && CHANGES=(default balanced trange copy lr steps lora)
BENCH=("${INVDIFF:-build/invdiff}" "$@" bench -m "${BASE:-runs/quick/base}" -o "${OUT:-runs/min_step}"
       --rows "${ROWS:-oracle}" --seeds "${SEEDS:-1}" -n "${N:-200}" -q)
for c in "${CHANGES[@]}"; do
  case $c in
    default) sets="" ;;
    balanced) sets="debias.balance_batches=true" ;;
    trange) sets="debias.t_lo=0,debias.t_hi=1000" ;;
    copy) sets="guidance.variant=copy" ;;
    lora) sets="guidance.variant=lora" ;;
    lr) sets="debias.lr=3e-3" ;;
    steps) sets="debias.steps=6000" ;;
    *=*) sets="$c" ;;
    *) echo "min_step.sh: unknown change '$c'" >&2; exit 2 ;;
  esac
  args=()
  IFS=',' read -ra kv <<<"$sets"
  for s in "${kv[@]}"; do args+=(--set "$s"); done
  echo "== $c: ${args[*]:-(recipe defaults)}"
  "${BENCH[@]}" "${args[@]}"
done
