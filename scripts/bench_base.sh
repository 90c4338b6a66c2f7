#!/usr/bin/env bash
# Issue-2 benchmark: the default base model on cfmnist, from scratch, timed. Run on an otherwise
# idle machine (other processes on 2 cores halve the figures). Writes runs/bench_base/ and copies
# the sample grid and report to docs/img/ and docs/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
OUT=${OUT:-runs/bench_base}
rm -rf "$OUT"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
build/invdiff info
start=$(date +%s)
build/invdiff run --preset quick -o "$OUT" "$@"
end=$(date +%s)
echo "wall time of invdiff run (data present or built, base training, sampling): $((end - start)) s"
mkdir -p docs/img docs/results
cp "$OUT/samples.png" docs/img/base_samples.png
{ cat "$OUT/report.md"; echo; echo "Whole \`invdiff run --preset quick\`: $((end - start)) s wall time, $(nproc) cores."; } > docs/results/base.md
