#!/usr/bin/env python3
"""Training/inference speed of scvi-tools' scBasset (ScBassetModule) on random data, for comparison with
`gscript bench model` at the same sizes, batch size and thread count on the same CPU.

Not run in CI. Peers (tested with Python 3.11):

    python -m venv venv-scvi
    venv-scvi/bin/pip install torch==2.13.0 scvi-tools==1.4.2      # pulls lightning, torchmetrics, anndata, scipy
    venv-scvi/bin/python bench/scvi_scbasset.py --cells 2000 --peaks 20000 --threads 2

Run it with the Python of such a venv; with any other Python it stops with an error naming the missing package.

What is timed. Not scvi's Lightning training loop (its per-epoch bookkeeping, logging and the data splitter are
awkward to time per step) but the module's own training step in a plain loop, which is what one Lightning
`training_step` does: densify the minibatch's rows of the sparse peaks × cells target (as scvi's AnnDataLoader
does), `module.forward` (one-hot, stochastic reverse complement and shift, the conv tower, the cell layer and
`module.loss`, which is BCE-with-logits over the dense target **plus a torchmetrics auROC over all B × n_cells
entries**), backward, and `torch.optim.Adam(lr=0.01, betas=(0.95, 0.9995))` — the optimiser settings scvi uses for
SCBASSET. `--no-auroc` replaces `module.loss` by the mean BCE alone (our trainer's per-cell histograms are much
cheaper than an exact auROC, so this isolates the network). `--precision bf16` wraps forward and loss in
`torch.autocast("cpu", torch.bfloat16)`, as Lightning's `precision="bf16-mixed"` does.

The first `--warmup` steps are not timed. Inference: eval-mode `inference` + `generative` under `no_grad`.
Peak RSS is the process's `ru_maxrss`. FLOPs use the same analytic count as `gscript bench model`
(conv and dense MACs × 2, × 3 for a training step) with scvi's tower widths.
"""

import argparse
import json
import math
import resource
import sys
import time

try:
    import numpy as np
    import scipy.sparse as sp
    import torch
except ImportError as e:
    sys.exit(f"scvi_scbasset.py: {e.name} is not installed for {sys.executable}; run this script with the Python of a "
             "venv holding torch==2.13.0 and scvi-tools==1.4.2 (see the commands at the top of this file)")


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def random_target(n_peaks, n_cells, density, rng):
    """peaks × cells CSR float32 of ones, each entry present with probability `density` (built row by row, O(nnz))."""
    counts = rng.binomial(n_cells, density, size=n_peaks)
    indptr = np.zeros(n_peaks + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(indptr[-1], dtype=np.int32)
    for p in range(n_peaks):
        indices[indptr[p]:indptr[p + 1]] = np.sort(rng.choice(n_cells, size=counts[p], replace=False))
    data = np.ones(len(indices), dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(n_peaks, n_cells))


def scvi_widths(init=288, mult=1.122, repeat=6):
    widths, w = [], init
    for i in range(repeat):
        if i > 0:
            w = int(round(w * mult))
        widths.append(w)
    return widths


def forward_macs(n_cells, seq_len=1344):
    """MACs of one sequence (scvi widths; same formula as gscript's ModelFlops)."""
    macs, length, c_in = seq_len * 288 * 4 * 17, seq_len // 3, 288
    for w in scvi_widths():
        macs += length * w * c_in * 5
        length //= 2
        c_in = w
    macs += length * 256 * c_in
    return macs + 1792 * 32 + 32 * n_cells


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=2000)
    ap.add_argument("--peaks", type=int, default=20000)
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps before timing")
    ap.add_argument("--infer-batches", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--precision", choices=["fp32", "bf16", "both"], default="fp32")
    ap.add_argument("--no-auroc", action="store_true", help="mean BCE only instead of module.loss (skips auROC)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.cells < 1 or args.peaks < 2 or not 0 < args.density < 1 or args.batch_size < 2 or args.steps < 1:
        ap.error("need --cells ≥ 1, --peaks ≥ 2, 0 < --density < 1, --batch-size ≥ 2, --steps ≥ 1")

    try:
        import scvi
        from scvi.external.scbasset._module import ScBassetModule
    except ImportError as e:
        sys.exit(f"scvi_scbasset.py: cannot import scvi-tools' ScBassetModule with {sys.executable} ({e}); run "
                 "this script with the Python of a venv holding scvi-tools==1.4.2 (see the commands at the top)")

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)  # scvi's augmentation draws from np.random
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    codes = rng.integers(0, 4, size=(args.peaks, 1344), dtype=np.uint8)
    target = random_target(args.peaks, args.cells, args.density, rng)
    data_seconds = time.perf_counter() - t0
    rss_data = peak_rss_mib()
    fwd_flops = 2.0 * forward_macs(args.cells)
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))
    log(f"data: {args.peaks} peaks × {args.cells} cells, {target.nnz:,} positives, {data_seconds:.1f} s")

    def batch(step):
        first = (step * args.batch_size) % args.peaks
        rows = slice(first, min(first + args.batch_size, args.peaks))
        x = torch.from_numpy(target[rows].toarray())
        dna = torch.from_numpy(codes[rows].astype(np.int64))
        return {"X": x, "dna_code": dna}

    results = []
    for precision in ["fp32", "bf16"] if args.precision == "both" else [args.precision]:
        torch.manual_seed(args.seed)
        module = ScBassetModule(n_cells=args.cells)
        n_params = sum(p.numel() for p in module.parameters() if p.requires_grad)
        opt = torch.optim.Adam(module.parameters(), lr=0.01, betas=(0.95, 0.9995))
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
        module.train()
        losses, step_times = [], []
        for step in range(args.warmup + args.steps):
            t = time.perf_counter()
            tensors = batch(step)
            with autocast:
                if args.no_auroc:
                    z = module.inference(tensors["dna_code"])["region_embedding"]
                    logits = module.generative(z)["reconstruction_logits"]
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), tensors["X"])
                else:
                    _, _, out = module(tensors)
                    loss = out.loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if step >= args.warmup:
                step_times.append(time.perf_counter() - t)
            log(f"  {precision} step {step + 1}/{args.warmup + args.steps}: {time.perf_counter() - t:.2f} s, loss {losses[-1]:.4f}")
        train_rate = args.batch_size * len(step_times) / sum(step_times)

        module.eval()
        infer_seqs, infer_time = 0, 0.0
        with torch.no_grad(), autocast:
            for step in range(1 + args.infer_batches):
                t = time.perf_counter()
                dna = batch(step)["dna_code"]
                module.generative(module.inference(dna)["region_embedding"])
                if step > 0:
                    infer_time += time.perf_counter() - t
                    infer_seqs += len(dna)
        infer_rate = infer_seqs / infer_time
        n_train = math.ceil(0.9 * args.peaks)
        results.append({
            "precision": precision,
            "trainable_parameters": n_params,
            "timed_steps": len(step_times),
            "train_seq_per_s": train_rate,
            "seconds_per_batch": sum(step_times) / len(step_times),
            "epoch_seconds_full": n_train / train_rate + (args.peaks - n_train) / infer_rate,
            "train_gflops": train_rate * 3 * fwd_flops / 1e9,
            "infer_seq_per_s": infer_rate,
            "infer_gflops": infer_rate * fwd_flops / 1e9,
            "last_loss": losses[-1],
        })
        del module, opt

    report = {
        "impl": f"scvi-tools {scvi.__version__} ScBassetModule, torch {torch.__version__}",
        "loss": "bce" if args.no_auroc else "module.loss (bce + auroc)",
        "n_cells": args.cells, "n_peaks": args.peaks, "density": args.density, "nnz": int(target.nnz),
        "batch_size": args.batch_size, "threads": torch.get_num_threads(),
        "forward_gflop_per_seq": fwd_flops / 1e9, "training_gflop_per_seq": 3 * fwd_flops / 1e9,
        "rss_after_data_mib": rss_data, "peak_rss_mib": peak_rss_mib(),
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['impl']}, {args.cells} cells × {args.peaks} peaks, density {args.density}, batch {args.batch_size}, "
          f"{report['threads']} threads, loss: {report['loss']}")
    print(f"{'prec':<5} {'train/s':>9} {'s/batch':>8} {'full epoch':>11} {'GFLOP/s':>8} {'infer/s':>9} {'GFLOP/s':>8} {'loss':>8}")
    for r in results:
        print(f"{r['precision']:<5} {r['train_seq_per_s']:>9.1f} {r['seconds_per_batch']:>8.3f} "
              f"{r['epoch_seconds_full'] / 60:>7.1f} min {r['train_gflops']:>8.1f} {r['infer_seq_per_s']:>9.1f} "
              f"{r['infer_gflops']:>8.1f} {r['last_loss']:>8.4f}")
    print(f"peak RSS {report['peak_rss_mib']:.0f} MiB (after generating the data: {rss_data:.0f} MiB)")


if __name__ == "__main__":
    main()
