"""Writes peak-matrix fixtures the way real tools do (anndata, h5py as Cell Ranger writes them) plus expected.json
describing their contents, for gscript's reader tests. Usage: python make_fixtures.py OUT_DIR"""
import json
import sys
import warnings

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

out = sys.argv[1]
rng = np.random.default_rng(7)
n_cells, n_peaks = 13, 9
dense = (rng.random((n_cells, n_peaks)) < 0.35) * rng.integers(1, 5, (n_cells, n_peaks))
dense = dense.astype(np.float32)
barcodes = [f"AAACGAA{i:03d}-1" for i in range(n_cells)]
chroms = ["chr1"] * 4 + ["chr2"] * 3 + ["chrX", "chrM"]
starts = [100 + 1000 * i for i in range(n_peaks)]
ends = [s + 500 for s in starts]
regions = [f"{c}:{s}-{e}" for c, s, e in zip(chroms, starts, ends)]
cell_type = pd.Categorical(["B", "T", "NK", None, "T", "B", "B", "T", "NK", "T", "B", "T", "NK"], categories=["B", "NK", "T"])
obs = pd.DataFrame(
    {
        "cell_type": cell_type,
        "n_fragments": np.arange(n_cells, dtype=np.int64) * 100,
        "score": np.linspace(0, 1, n_cells),
        "is_doublet": np.arange(n_cells) % 5 == 0,
        "sample": [f"s{i % 2}" for i in range(n_cells)],
    },
    index=barcodes,
)
expected = {"dense_peaks_by_cells": dense.T.tolist(), "chroms": chroms, "starts": starts, "ends": ends, "barcodes": barcodes,
            "cell_type": [c if isinstance(c, str) else "NA" for c in cell_type.astype(object)], "n_fragments": obs.n_fragments.tolist(),
            "score": obs.score.tolist(), "is_doublet": obs.is_doublet.tolist(), "sample": obs["sample"].tolist()}

warnings.simplefilter("error")
# 1. cells × peaks CSR, region names, extra elements gscript must ignore
a = ad.AnnData(X=sp.csr_matrix(dense), obs=obs, var=pd.DataFrame(index=regions))
a.obsm["X_pca"] = rng.random((n_cells, 3))
a.uns["nested"] = {"a": 1, "b": {"c": "text"}}
a.layers["counts"] = sp.csr_matrix(dense)
a.write_h5ad(f"{out}/csr_regions.h5ad")
# 2. cells × peaks CSC, coordinates in columns, names not regions
var = pd.DataFrame({"chrom": chroms, "chromStart": starts, "chromEnd": ends}, index=[f"peak{i}" for i in range(n_peaks)])
ad.AnnData(X=sp.csc_matrix(dense), obs=obs, var=var).write_h5ad(f"{out}/csc_columns.h5ad")
# 3. peaks × cells (peaks as observations), dash-separated names; cell metadata in var
ad.AnnData(X=sp.csr_matrix(dense.T), obs=pd.DataFrame(index=[f"{c}-{s}-{e}" for c, s, e in zip(chroms, starts, ends)]), var=obs).write_h5ad(f"{out}/peaks_by_cells.h5ad")
# 4. dense X
ad.AnnData(X=dense, obs=obs, var=pd.DataFrame(index=regions)).write_h5ad(f"{out}/dense.h5ad")
# 5. no coordinates anywhere
ad.AnnData(X=sp.csr_matrix(dense), obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(n_peaks)])).write_h5ad(f"{out}/no_coords.h5ad")


def tenx(path, features, ftypes, matrix):
    """matrix: features × barcodes dense; written as Cell Ranger does (CSC, fixed-length ASCII strings)."""
    m = sp.csc_matrix(matrix.astype(np.int32))
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g.create_dataset("barcodes", data=np.array(barcodes, dtype="S"))
        g.create_dataset("data", data=m.data.astype(np.int32))
        g.create_dataset("indices", data=m.indices.astype(np.int64))
        g.create_dataset("indptr", data=m.indptr.astype(np.int64))
        g.create_dataset("shape", data=np.array(matrix.shape, dtype=np.int32))
        fg = g.create_group("features")
        fg.create_dataset("id", data=np.array(features, dtype="S"))
        fg.create_dataset("name", data=np.array(features, dtype="S"))
        fg.create_dataset("feature_type", data=np.array(ftypes, dtype="S"))
        fg.create_dataset("genome", data=np.array(["GRCh38"] * len(features), dtype="S"))
        fg.create_dataset("_all_tag_keys", data=np.array(["genome"], dtype="S"))


tenx(f"{out}/atac.h5", regions, ["Peaks"] * n_peaks, dense.T)
# multiome: 3 genes interleaved with the peaks; only Peaks are kept
genes = rng.integers(0, 3, (3, n_cells)).astype(np.float32)
feats = ["ENSG01"] + regions[:4] + ["ENSG02"] + regions[4:] + ["ENSG03"]
types = ["Gene Expression"] + ["Peaks"] * 4 + ["Gene Expression"] + ["Peaks"] * 5 + ["Gene Expression"]
mat = np.vstack([genes[0:1], dense.T[:4], genes[1:2], dense.T[4:], genes[2:3]])
tenx(f"{out}/arc.h5", feats, types, mat)
# ids without coordinates: needs peaks.bed
tenx(f"{out}/atac_noid.h5", [f"p{i}" for i in range(n_peaks)], ["Peaks"] * n_peaks, dense.T)
with open(f"{out}/peaks.bed", "w") as fh:
    for c, s, e in zip(chroms, starts, ends):
        fh.write(f"{c}\t{s}\t{e}\n")
with open(f"{out}/expected.json", "w") as fh:
    json.dump(expected, fh)
