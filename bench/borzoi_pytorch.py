#!/usr/bin/env python3
"""Inference speed of borzoi-pytorch's Borzoi on one random sequence, for comparison with gscript's Borzoi forward at
the same length, precision and thread count on the same machine.

Not run in CI. Peers (tested with Python 3.11):

    python -m venv venv-borzoi
    venv-borzoi/bin/pip install torch==2.13.0 borzoi-pytorch==0.5.1   # pulls transformers 4.57, einops, pandas,
                                                                      # intervaltree (built from its sdist)
    venv-borzoi/bin/python bench/borzoi_pytorch.py --threads 2

or the test venv, which holds the same pins: `$(scripts/setup-test-python.sh) bench/borzoi_pytorch.py`. Run it with
the Python of such a venv; with any other Python it stops with an error naming the missing package.

What is timed. `model(x)` of an eval-mode `Borzoi` under `torch.no_grad` on one random one-hot sequence `(1, 4,
length)`: the whole network up to the human head's softplus tracks `(1, 7611, bins)`. `--config full` is the published
size (`BorzoiConfig()`: dim 1536, 8 layers of 8 heads, 6,144 bins, 185.9 M parameters; default length 524,288 bp);
`--config reduced` the small transformer of gscript's reference test (dim 384, 2 layers of 4 heads, key 32, value 96,
256 bins; the conv tower and head keep their full size, 39.7 M parameters; default length 16,384 bp). Weights are the
package's own random initialisation (xavier; speed does not depend on the values) unless `--weights DIR` loads a
`save_pretrained` directory with `Borzoi.from_pretrained` (its config.json then decides the size, and a Flashzoi
checkpoint needs flash-attn, i.e. CUDA and bf16). `--precision bf16` wraps the forward in
`torch.autocast(device, torch.bfloat16)`; borzoi-pytorch turns autocast off around its heads only for CUDA, so on the
CPU the heads run in bf16 too.

The first `--warmup` forwards are not timed (the first also builds the attention's relative-position table); the
report gives the median of `--repeats` timed forwards. Peak RSS is the process's `ru_maxrss` (it includes building the
model); on CUDA `peak_gpu_mib` is `torch.cuda.max_memory_allocated` over the timed and warm-up forwards.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

# This file's name is the package's: drop its folder (sys.path[0] when run as a script) so that `import borzoi_pytorch`
# finds the installed package rather than this script.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

try:
    import torch
except ImportError as e:
    sys.exit(f"borzoi_pytorch.py: {e.name} is not installed for {sys.executable}; run this script with the Python of a "
             "venv holding torch==2.13.0 and borzoi-pytorch==0.5.1 (see the commands at the top of this file)")

CONFIGS = {
    "full": (dict(), 524288),
    "reduced": (dict(dim=384, depth=2, heads=4, attn_dim_key=32, attn_dim_value=96, bins_to_return=256), 16384),
}


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="full")
    ap.add_argument("--length", type=int, default=None, help="sequence length in bp (default: 524288 for full, "
                    "16384 for reduced)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--repeats", type=int, default=2, help="timed forwards (the median is reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed forwards before timing")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--weights", default=None, help="a save_pretrained directory to load instead of random weights")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    config, default_length = CONFIGS[args.config]
    length = args.length if args.length is not None else default_length
    if length < 1 or length % 128 != 0 or args.repeats < 1 or args.warmup < 0:
        ap.error("need --length a positive multiple of 128, --repeats ≥ 1, --warmup ≥ 0")

    try:
        from importlib.metadata import version
        from borzoi_pytorch import Borzoi
        from borzoi_pytorch.config_borzoi import BorzoiConfig
        peer = f"borzoi-pytorch {version('borzoi-pytorch')}"
    except ImportError as e:
        sys.exit(f"borzoi_pytorch.py: cannot import borzoi_pytorch with {sys.executable} ({e}); run this script with "
                 "the Python of a venv holding borzoi-pytorch==0.5.1 (see the commands at the top)")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("borzoi_pytorch.py: --device cuda but torch sees no CUDA device")

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.weights:
        model = Borzoi.from_pretrained(args.weights)
    else:
        model = Borzoi(BorzoiConfig(**config))
    model = model.to(args.device).eval()
    n_params = sum(p.numel() for p in model.parameters())
    bins = model.config.bins_to_return if model.config.return_center_bins_only else 16384 - 32
    if length // 32 < bins:
        sys.exit(f"borzoi_pytorch.py: {length:,} bp give {length // 32:,} bins, fewer than the {bins:,} the model crops to")
    codes = torch.randint(0, 4, (length,), generator=torch.Generator().manual_seed(args.seed))
    x = torch.nn.functional.one_hot(codes, 4).T.float()[None].contiguous().to(args.device)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)
    log(f"{peer}, torch {torch.__version__}: {args.config} config, {n_params:,} parameters, {length:,} bp, "
        f"{args.precision} on {args.device}, {torch.get_num_threads()} threads")

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    autocast = torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    times = []
    with torch.no_grad(), autocast:
        for i in range(args.warmup + args.repeats):
            sync()
            t = time.perf_counter()
            out = model(x)
            sync()
            dt = time.perf_counter() - t
            if i >= args.warmup:
                times.append(dt)
            log(f"  forward {i + 1}/{args.warmup + args.repeats}{' (warm-up)' if i < args.warmup else ''}: "
                f"{dt:.2f} s, tracks {tuple(out.shape)}")
            del out

    report = {
        "peer": peer,
        "config": args.config if not args.weights else args.weights,
        "device": args.device,
        "precision": args.precision,
        "threads": torch.get_num_threads(),
        "length": length,
        "params": n_params,
        "seconds_per_forward": statistics.median(times),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    if args.device == "cuda":
        report["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
