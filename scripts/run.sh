#!/usr/bin/env bash
# Fresh machine -> the main job: installs packages, builds, runs `invdiff run` on the embedded
# benchmark. Extra arguments are passed to `invdiff run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/invdiff run "$@"
