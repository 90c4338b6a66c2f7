#!/usr/bin/env bash
# Where the time of one workload goes, C++ and PyTorch side by side: each runs ITERS timed
# iterations under the libtorch profiler; bench/profile_ops.py sums self time per op into
# bench/PROFILE_<workload>.md. Run after bench/compare.sh (same set-up), on an idle machine.
#   bench/profile.sh [WORKLOAD=guided] [ITERS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-guided}
ITERS=${2:-5}
THREADS=${THREADS:-$(nproc)}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
build/invdiff_perf --workload "$W" --threads "$THREADS" --iters "$ITERS" --profile "$TMP/cpp.json" >"$TMP/cpp.out"
/usr/bin/python3 bench/torch_ref.py --workload "$W" --threads "$THREADS" --iters "$ITERS" --profile "$TMP/py.json" >"$TMP/py.out"
{
  echo "# Profile of the \`$W\` workload ($(date -u +%F))"
  echo
  echo "\`bench/profile.sh $W $ITERS\`: $ITERS timed iterations each, $THREADS threads, batch 64, under the"
  echo "profiler (which itself adds overhead: use bench/RESULTS.md for speed). The C++ trace comes from"
  echo "libtorch's legacy profiler (RecordProfile), which costs ~10 us per recorded op, the Python one"
  echo "from the Kineto-based profiler: the same 7.7 k selects per 5 iterations take 81 ms in the first and"
  echo "0.4 ms in the second. Compare the convolution rows; small ops are inflated on the C++ side."
  echo
  echo "## C++ (libtorch)"
  echo
  python3 bench/profile_ops.py "$TMP/cpp.json"
  echo
  echo "## PyTorch-Python"
  echo
  python3 bench/profile_ops.py "$TMP/py.json"
} | tee "bench/PROFILE_$W.md"
