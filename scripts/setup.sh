#!/usr/bin/env bash
# Installs every Debian package invdiff needs. Idempotent: packages already present are skipped,
# so a second run costs a dpkg query and nothing else. Run as root (or with sudo available).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libtorch-dev            # tensors, autograd, optimisers (CPU build)
  libopenblas0-openmp     # optimised BLAS: takes over libblas.so.3 (reference BLAS is ~20x slower)
  libcli11-dev nlohmann-json3-dev libstb-dev libspdlog-dev libfmt-dev zlib1g-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  dataset-fashion-mnist   # the real images behind the embedded benchmark
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# libopenblas0-openmp registers itself as the libblas.so.3 alternative with a higher priority;
# say which one is active so a slow reference BLAS is visible at once.
if command -v update-alternatives >/dev/null; then
  blas=$(update-alternatives --query libblas.so.3-$(uname -m)-linux-gnu 2>/dev/null | awk '/^Value:/{print $2}')
  echo "setup: libblas.so.3 -> ${blas:-unknown}"
fi
