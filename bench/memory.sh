#!/usr/bin/env bash
# Peak resident memory (VmHWM) and images/s of train, groups scoring and debias on a generated
# set of N images at R x R (issue 18's acceptance: 200 k x 64 px under 4 GB in each stage).
#   bench/memory.sh [N=200000] [R=64] [STEPS=50] [WORK=/tmp/invdiff_memory]
# The set is generated once into WORK/data_N_R (about 4 KB of PNG per 64 px image) and reused;
# each stage runs in its own process (build/invdiff_memory, see bench/memory_main.cpp) so each
# peak is that stage's alone. Prints a markdown table and writes it to WORK/memory_N_R.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
R=${2:-64}
STEPS=${3:-50}
WORK=${4:-/tmp/invdiff_memory}
BIN=build/invdiff_memory
DATA="$WORK/data_${N}_${R}"
OUT="$WORK/run_${N}_${R}"
[ -x "$BIN" ] || { echo "build first: scripts/build.sh (target invdiff_memory)" >&2; exit 1; }
if [ ! -f "$DATA/metadata.csv" ]; then
  echo "generating $N images of ${R}x${R} in $DATA" >&2
  start=$(date +%s)
  "$BIN" make "$DATA" "$N" "$R"
  echo "generated in $(( $(date +%s) - start )) s" >&2
fi
rm -rf "$OUT"
TABLE="$WORK/memory_${N}_${R}.md"
{
  echo "| stage | images | uint8 set MB | load s | load images/s | stage images/s | VmHWM after load MB | VmHWM MB |"
  echo "|---|---|---|---|---|---|---|---|"
  for stage in train groups debias; do
    args=("$stage" "$DATA" "$OUT")
    [ "$stage" = groups ] || args+=("$STEPS")
    line=$("$BIN" "${args[@]}")
    # "<stage> images N data_mb X load_s X load_img_per_s X img_per_s X hwm_after_load_mb X hwm_mb X"
    read -r s _ n _ mb _ ls _ lips _ ips _ hl _ h <<< "$line"
    echo "| $s | $n | $mb | $ls | $lips | $ips | $hl | $h |"
  done
} | tee "$TABLE"
echo "(steps: $STEPS at batch 64 for train and debias; groups scores every image once; $(nproc) cores, torch threads = ${MEMORY_THREADS:-cores}, allocator tuned as in invdiff; load average $(cut -d" " -f1-3 /proc/loadavg))" | tee -a "$TABLE"
