"""Python twin of `gscript bench coverage`'s window-target section: scooby's target loader, timed.

The procedure follows gagneurlab/scooby `scooby/data/scdata.py` (`onTheFlyMultiomeDataset._process_rna`,
`_process_atac`, `_sparse_to_coverage_rna`, `_sparse_to_coverage_atac`) as its training loop runs it: the AnnData files
opened backed (h5py + anndata's sparse_dataset, as scooby's `read_backed`), for each window and each sampled cell the
cell's rows sliced from the cells × genome CSR matrices over the window ± 100 bp, per-base coverage built (RNA: 1/90 per
covered base, read by read), 32-bp sums, the RNA transform (power 0.75, soft clip, ±768) and ATAC × 0.05.

usage: python coverage_targets_python.py DIR WINDOWS_JSON
  DIR holds atac.h5ad, rna_plus.h5ad, rna_minus.h5ad (SnapATAC2-scooby layout); WINDOWS_JSON is
  {"windows": [[chrom, start, end], ...], "cells": [[i, ...], ...], "clip_soft": 5}. Prints one JSON line:
  {"windows": n, "seconds": s, "checksum": sum of all targets}.
"""

import json
import sys
import time

import anndata
import h5py
import numpy as np
import torch


def open_backed(path):
    f = h5py.File(path, "r")
    obsm = f["obsm"]
    key = "insertion" if "insertion" in obsm else "fragment_single"
    refs = f["uns"]["reference_sequences"]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in anndata.io.read_elem(refs["reference_seq_name"])]
    lengths = np.asarray(anndata.io.read_elem(refs["reference_seq_length"]), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return anndata.io.sparse_dataset(obsm[key]), dict(zip(names, zip(offsets, lengths)))


def rna_coverage(m, lo, hi, s, e, chrom_len, strand):
    m = m[:, lo:hi]
    dense = np.zeros(m.shape[1], dtype=np.single)
    for row in range(m.shape[0]):
        cols = m.indices[m.indptr[row] : m.indptr[row + 1]]
        vals = m.data[m.indptr[row] : m.indptr[row + 1]]
        for c, v in zip(cols, vals):
            if strand == "plus":
                dense[c : c + v] += 1 / 90
            else:
                dense[c + v + 1 : c + 1] += 1 / 90
    return torch.from_numpy(dense[min(100, s) : max(-100, e - chrom_len)]).unsqueeze(0)


def atac_coverage(m, lo, hi, s, e, chrom_len):
    dense = m[:, lo:hi].sum(0).astype(np.single).A[0]
    return torch.from_numpy(dense[min(100, s) : max(-100, e - chrom_len)]).unsqueeze(0)


def squash(x, clip_soft):
    x = torch.nn.functional.avg_pool1d(x, kernel_size=32, stride=32) * 32
    x = -1 + (1 + x) ** 0.75
    mask = x > clip_soft
    if mask.any():
        x[mask] = clip_soft - 1 + torch.sqrt(x[mask] - clip_soft + 1)
    return torch.clip(x, -768, 768)


def main():
    root, spec_path = sys.argv[1], sys.argv[2]
    spec = json.load(open(spec_path))
    plus, refs = open_backed(f"{root}/rna_plus.h5ad")
    minus, _ = open_backed(f"{root}/rna_minus.h5ad")
    atac, _ = open_backed(f"{root}/atac.h5ad")
    clip_soft = spec.get("clip_soft", 5)
    total = 0.0
    t0 = time.perf_counter()
    for (chrom, s, e), cells in zip(spec["windows"], spec["cells"]):
        offset, chrom_len = refs[chrom]
        lo = max(0, s - 100) + offset
        hi = min(e + 100, chrom_len) + offset
        targets = []
        for cell in cells:
            rows = [cell]
            targets.append(squash(rna_coverage(plus[rows], lo, hi, s, e, chrom_len, "plus"), clip_soft))
            targets.append(squash(rna_coverage(minus[rows], lo, hi, s, e, chrom_len, "minus"), clip_soft))
            a = torch.nn.functional.avg_pool1d(atac_coverage(atac[rows], lo, hi, s, e, chrom_len), 32, 32) * 32
            targets.append(a * 0.05)
        y = torch.vstack(targets).permute(1, 0)
        total += float(y.sum())
    seconds = time.perf_counter() - t0
    print(json.dumps({"windows": len(spec["windows"]), "seconds": seconds, "checksum": total}))


if __name__ == "__main__":
    main()
