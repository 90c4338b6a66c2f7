#!/usr/bin/env bash
# Lists every include in src/ that points from a lower layer to a higher one, and fails if there
# is any. The layer order (docs/architecture.md): a directory may include its own layer and the
# ones below it, never one above.
set -euo pipefail
cd "$(dirname "$0")/.."

# rank of each src/ directory; equal ranks may include each other
declare -A RANK=(
  [core]=0
  [data]=1 [model]=1
  [diffusion]=2
  [train]=3
  [invdiff]=4
  [sampling]=5
  [eval]=6
  [experiment]=7
  [cli]=8
)

bad=0
for dir in src/*/; do
  layer=$(basename "$dir")
  if [ -z "${RANK[$layer]+x}" ]; then
    echo "check_layers: src/$layer has no layer: add it to scripts/check_layers.sh and docs/architecture.md"
    bad=1
    continue
  fi
  while IFS=: read -r file line inc; do
    target=$(sed -E 's/.*#include "([^/"]+)\/.*/\1/' <<<"$inc")
    [ "$target" = "$inc" ] && continue  # an include without a directory
    if [ -z "${RANK[$target]+x}" ]; then
      echo "$file:$line: includes unknown layer '$target'"
      bad=1
    elif [ "${RANK[$target]}" -gt "${RANK[$layer]}" ]; then
      echo "$file:$line: $layer (layer ${RANK[$layer]}) includes $target (layer ${RANK[$target]}): upward"
      bad=1
    fi
  done < <(grep -rn '^#include "' "$dir" || true)
done

if [ "$bad" -ne 0 ]; then
  echo "check_layers: upward includes found"
  exit 1
fi
echo "check_layers: no upward include"
