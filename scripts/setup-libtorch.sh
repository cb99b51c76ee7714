#!/usr/bin/env bash
# Installs libtorch (from the PyPI torch wheel) and the CUDA runtime libraries it links against into a per-user cache
# keyed by version, then points this checkout at it (.deps/libtorch -> cache). Idempotent: a second run only re-links.
#
#   scripts/setup-libtorch.sh          CPU build: torch (no deps) + cuda-toolkit[cudart,cupti] + cmake
#   scripts/setup-libtorch.sh --cuda   also torch's full dependency set (cuDNN, cuBLAS, NCCL, ...) for GPU machines
set -euo pipefail

TORCH_VERSION=2.13.0
CUDA_TOOLKIT_VERSION=13.0.3
PY_TAG=311   # the libtorch inside the wheel is the same for every CPython tag; we pin one so any python3 can fetch it
PLATFORMS="$(for v in $(seq 17 28); do printf "manylinux_2_%s_x86_64 " "$v"; done)manylinux2014_x86_64"

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${GSCRIPT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gscript}
prefix="$cache/libtorch-$TORCH_VERSION-cu$CUDA_TOOLKIT_VERSION"
want_cuda=0
[ "${1:-}" = "--cuda" ] && want_cuda=1

pip_fetch() { # target, then pip arguments
  local target=$1; shift
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-warn-script-location \
    --only-binary=:all: --python-version 3.11 --implementation cp --abi "cp$PY_TAG" $(printf -- "--platform %s " $PLATFORMS) \
    --target "$target" "$@"
}

if [ ! -f "$prefix/.complete" ]; then
  echo "setup: installing torch==$TORCH_VERSION and cuda-toolkit[cudart,cupti]==$CUDA_TOOLKIT_VERSION into $prefix" >&2
  tmp="$prefix.partial.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  pip_fetch "$tmp" --no-deps "torch==$TORCH_VERSION"
  pip_fetch "$tmp" "cuda-toolkit[cudart,cupti]==$CUDA_TOOLKIT_VERSION"
  rm -rf "$prefix"
  mv "$tmp" "$prefix"
  touch "$prefix/.complete"
fi

if [ "$want_cuda" = 1 ] && [ ! -f "$prefix/.complete-cuda" ]; then
  echo "setup: installing torch's CUDA dependency set into $prefix" >&2
  # torch's own requirements (nvidia-* wheels); torch itself is already there.
  deps=$(python3 - "$prefix" <<'PY'
import sys, pathlib, re
meta = next(pathlib.Path(sys.argv[1]).glob("torch-*.dist-info/METADATA")).read_text()
for line in meta.splitlines():
    if line.startswith("Requires-Dist:") and "extra ==" not in line:
        req = line.split(":", 1)[1].split(";")[0].strip()
        # the CUDA libraries only: triton and cuda-bindings are Python packages libtorch does not load
        if re.match(r"(nvidia-|cuda-toolkit)", req, re.I):
            print(req.replace(" ", ""))
PY
)
  # With dependencies (the cuda-toolkit extras are separate wheels); --upgrade lets pip merge into the prefix.
  # shellcheck disable=SC2086
  pip_fetch "$prefix" --upgrade $deps
  touch "$prefix/.complete-cuda"
fi

# cmake for the static HDF5 build (only when the system has none). The PyPI wheel's entry script needs its package on
# the Python path, so we link the real binary inside the wheel instead.
CMAKE_VERSION=3.31.6
cmake_dir="$cache/cmake-$CMAKE_VERSION"
if ! command -v cmake >/dev/null 2>&1 && [ ! -x "$cmake_dir/bin/cmake" ]; then
  echo "setup: installing cmake $CMAKE_VERSION into $cmake_dir" >&2
  rm -rf "$cmake_dir.partial"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-warn-script-location --only-binary=:all: \
    --target "$cmake_dir.partial/py" "cmake==$CMAKE_VERSION"
  mkdir -p "$cmake_dir.partial/bin"
  ln -sf "$cmake_dir/py/cmake/data/bin/cmake" "$cmake_dir.partial/bin/cmake"
  rm -rf "$cmake_dir"
  mv "$cmake_dir.partial" "$cmake_dir"
  "$cmake_dir/bin/cmake" --version >/dev/null
fi

mkdir -p "$root/.deps"
ln -sfn "$prefix" "$root/.deps/libtorch-root"
if [ -x "$cmake_dir/bin/cmake" ]; then ln -sfn "$cmake_dir" "$root/.deps/cmake"; fi
echo "setup: libtorch $TORCH_VERSION ready at $prefix/torch" >&2
