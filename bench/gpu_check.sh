#!/usr/bin/env bash
# Device check on a CUDA machine with pip's PyTorch (libtorch 2.x) and no apt access: builds
# invdiff against that libtorch with the header-only deps and googletest carried in .deps/
# (copied from this project's Debian machine), runs the CPU test suite, then the label-free loop
# on cfmnist with --device cuda. Writes logs and the figures under $OUT (default ./gpu_out).
set -uo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
B=build-gpu
nvidia-smi -L
TP=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
python3 -c 'import torch;print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TP" -DINVDIFF_EXTRA_INCLUDE="$PWD/.deps/include" \
  -DINVDIFF_GTEST_SOURCE="$PWD/.deps/gtest/googletest" -DINVDIFF_BUILD_BENCH=OFF > "$OUT/cmake.log" 2>&1 \
  || { tail -40 "$OUT/cmake.log"; exit 1; }
cmake --build $B -j"$(nproc)" -- -k > "$OUT/build.log" 2>&1 || { grep -E 'error' -A4 "$OUT/build.log" | head -80; exit 1; }
echo "build ok"
$B/invdiff info
# The one test that reads the real Fashion-MNIST finds it in .deps/ here (no apt).
export INVDIFF_FASHION_MNIST="$PWD/.deps/fashion-mnist"
( cd $B && timeout 100 ./invdiff_tests --gtest_brief=1 2>&1 | tail -15 ) > "$OUT/tests.log"; tail -5 "$OUT/tests.log"
D=/tmp/cfm
$B/invdiff -q data cfmnist -o $D --source .deps/fashion-mnist
R=/tmp/gpurun
S=${STEPS:-3500}
DS=${DEBIAS_STEPS:-3000}
N=${N:-500}
t0=$(date +%s)
$B/invdiff -q --device cuda train --data $D -o $R/base --steps "$S" 2>&1 | tail -1
echo "base train: $(( $(date +%s) - t0 )) s"
$B/invdiff -q --device cuda groups -m $R/base --data $D -o $R/g_multi 2>&1 | tail -3
$B/invdiff -q --device cuda groups -m $R/base --data $D -o $R/g_oracle --oracle class_name,colour_name 2>&1 | tail -1
for row in "erm none" "multi $R/g_multi" "oracle $R/g_oracle"; do
  set -- $row
  $B/invdiff -q --device cuda debias -m $R/base --groups-dir "$2" --data $D -o $R/d_$1 --steps "$DS" --t-range 400,900 2>&1 | tail -1
done
for m in base d_erm d_multi d_oracle; do
  $B/invdiff -q --device cuda eval -m $R/$m --data $D -o $R/eval_$m -n "$N" --classifier $R/classifier 2>&1 | tail -1
  python3 -c "import json;d=json.load(open('$R/eval_$m/metrics.json'));print('$m', {k: round(d[k],4) for k in ['bias','purity','faithfulness','fd','kid','precision','recall']})" | tee -a "$OUT/table.txt"
done
cp -r $R/g_multi/summary.json "$OUT/g_multi_summary.json" 2>/dev/null
cp $R/g_multi/report.md "$OUT/g_multi_report.md" 2>/dev/null
echo "total $(( $(date +%s) - t0 )) s"
