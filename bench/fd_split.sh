#!/usr/bin/env bash
# FD of a model's images against a real set of the same class x colour composition, for all its
# images and for its majority-colour and other-colour images apart (bench/fd_split.py says why).
# Usage: bench/fd_split.sh MODEL DATA CLASSIFIER OUT [N_PER_PROMPT] [-- invdiff global flags]
# e.g. bench/fd_split.sh runs/suite/colour3/seed0/oracle/guided runs/suite/data/colour3 runs/suite/colour3/classifier runs/fd_split/colour3_oracle 200 -- --threads 2
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,5p "$0"; exit 2; }
MODEL=$1 DATA=$2 CLS=$3 OUT=$4; shift 4
N=200; if [ $# -gt 0 ] && [ "$1" != -- ]; then N=$1; shift; fi
[ "${1:-}" = -- ] && shift
INVDIFF=${INVDIFF:-build/invdiff}
mkdir -p "$OUT"
"$INVDIFF" "$@" sample -m "$MODEL" -p all -n "$N" --seed 7 -o "$OUT/samples.png" --per-image "$OUT/images" -q
# Each image's colour and prompt, as eval's colour oracle judges them (per_image.csv).
"$INVDIFF" "$@" eval --data "$DATA" --images "$OUT/images" -o "$OUT/eval/judged" --classifier "$CLS" -q > /dev/null
python3 "$(dirname "$0")/fd_split.py" "$DATA" "$OUT/images" "$OUT/eval/judged/per_image.csv" "$OUT/sets" > "$OUT/composition.tsv"
{
  echo "| images | n | FD generated | FD real, same composition | faithfulness generated / real |"
  echo "|---|---|---|---|---|"
  for part in all majority minority; do
    for kind in generated real; do
      "$INVDIFF" "$@" eval --data "$DATA" --images "$OUT/sets/${part}_$kind" --images-csv "$OUT/sets/${part}_$kind.csv" \
        -o "$OUT/eval/${part}_$kind" --classifier "$CLS" -q > /dev/null
    done
    python3 - "$OUT/eval/${part}_generated/metrics.json" "$OUT/eval/${part}_real/metrics.json" "$part" <<'PY'
import json, sys
g, r = (json.load(open(p)) for p in sys.argv[1:3])
print(f"| {sys.argv[3]} | {g['n_images']} | {g['fd']:.3f} | {r['fd']:.3f} | {g['faithfulness']:.3f} / {r['faithfulness']:.3f} |")
PY
  done
} | tee "$OUT/fd_split.md"
