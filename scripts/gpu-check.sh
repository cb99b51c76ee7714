#!/usr/bin/env bash
# GPU check of a built gscript: `gscript info`, the model, interpretation, Borzoi (inference; with borzoi-pytorch beside
# it when --torch-python has that package) and scooby (training step, tiny and full presets) benchmarks on CUDA (fp32
# and bf16) and the quickstart with --set device=cuda, then one summary line per step. Ready for any machine with an
# NVIDIA GPU.
#
#   scripts/gpu-check.sh [--binary PATH] [--torch-python PYTHON] [--out DIR]
#
# --binary        the gscript to check (default: target/release/gscript, else target/debug/gscript)
# --torch-python  run on the libtorch of this Python's torch package (its torch/lib and the nvidia-* libraries beside
#                 it go on LD_LIBRARY_PATH): for a machine with PyTorch but no libtorch of its own. The binary must be
#                 built against the same libtorch version.
# --out DIR       where logs and the quickstart's outputs go (default: a temporary directory)
#
# Exit status: 0 when every step passed, 1 otherwise. Each step has its own time limit.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="" py="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) bin=$2; shift 2 ;;
    --torch-python) py=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "gpu-check: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  for b in "$root/target/release/gscript" "$root/target/debug/gscript"; do [ -x "$b" ] && { bin=$b; break; }; done
fi
[ -x "$bin" ] || { echo "gpu-check: no gscript binary (build one, or pass --binary)" >&2; exit 2; }
out=${out:-$(mktemp -d)}
mkdir -p "$out"

if [ -n "$py" ]; then
  libs=$("$py" - <<'PY'
import glob, os, torch
lib = os.path.join(os.path.dirname(torch.__file__), "lib")
site = os.path.dirname(os.path.dirname(torch.__file__))
dirs = [lib] + sorted(d for d in glob.glob(os.path.join(site, "nvidia", "**", "lib"), recursive=True) if os.path.isdir(d))
print(":".join(dirs))
PY
) || { echo "gpu-check: $py cannot import torch" >&2; exit 2; }
  export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "gpu-check: libtorch from $py (torch $("$py" -c 'import torch; print(torch.__version__)'))"
fi

declare -a summary
failed=0
step() { # name, time limit in seconds, command...
  local name=$1 limit=$2; shift 2
  local log="$out/$name.log" t0=$SECONDS rc
  echo "== $name: $*"
  timeout "$limit" "$@" >"$log" 2>&1
  rc=$?
  tail -n 25 "$log"
  if [ $rc -eq 0 ]; then
    summary+=("ok      $name ($((SECONDS - t0)) s)")
  else
    failed=1
    summary+=("FAILED  $name (exit $rc after $((SECONDS - t0)) s; log $log)")
  fi
}

step info 120 "$bin" info
grep -Eq "^cuda [0-9]+ device" "$out/info.log" || { failed=1; summary+=("FAILED  info does not report a CUDA device"); }
step bench-model 600 "$bin" bench model --device cuda --precision both --cells 2000 --peaks 20000 --max-batches 20
step bench-interpret 600 "$bin" bench interpret --device cuda --precision both --motifs 64 --backgrounds 256
peer=()
if [ -n "$py" ] && "$py" -c 'import borzoi_pytorch' 2>/dev/null; then peer=(--peer "$py"); fi
step bench-borzoi 600 "$bin" bench borzoi --device cuda --precision both "${peer[@]}"
step bench-scooby 600 "$bin" bench scooby --device cuda --preset all --precision both
step quickstart 900 "$bin" run "$root/examples/quickstart.gscript" --set device=cuda --out "$out/quickstart"
grep -q "== headline ==" "$out/quickstart.log" || { failed=1; summary+=("FAILED  the quickstart printed no headline"); }

echo
echo "== gpu-check summary ($bin)"
grep -E "^(libtorch|cuda) " "$out/info.log" || true
for line in "${summary[@]}"; do echo "$line"; done
exit $failed
