#!/usr/bin/env bash
# Fresh machine -> every test: installs packages, builds, runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/check_layers.sh
scripts/build.sh
cd build && ctest --output-on-failure -j"${JOBS:-$(nproc)}"
