"""Independent checks of gscript's layouts and neighbour graph (numpy + scikit-learn only).

Usage: check_layouts.py DIR

DIR holds, written by runtime/tests/layouts.rs:
  meta.json         {"n": rows, "d": columns, "k": trustworthiness neighbours, "n_neighbors": graph neighbours (self included)}
  data.bin          float32 little-endian, n x d row-major
  umap.bin, tsne.bin  float32 little-endian, n x 2 layouts computed by gscript
  conn_rows.bin, conn_cols.bin (uint32), conn_vals.bin (float32)  gscript's UMAP connectivities (every stored entry)

Prints one JSON object:
  trust_umap, trust_tsne      sklearn.manifold.trustworthiness of gscript's layouts
  trust_sklearn_tsne, kl_sklearn_tsne  the same for sklearn's own TSNE on the same data (random_state=0)
  conn_max_abs_diff, conn_nnz  gscript's connectivities against the fuzzy simplicial set computed below from the
                               definition (sklearn exact neighbours, the point itself first; bisection for sigma)
"""

import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.manifold import TSNE, trustworthiness
from sklearn.neighbors import NearestNeighbors


def fuzzy_union_graph(x, n_neighbors):
    """UMAP connectivities from the definition, vectorised over points."""
    n = x.shape[0]
    dist, idx = NearestNeighbors(n_neighbors=n_neighbors, algorithm="brute").fit(x).kneighbors(x)
    # Put each point first (distance 0) as the neighbour lists of scanpy do.
    others = [row[row != i][: n_neighbors - 1] for i, row in enumerate(idx)]
    idx = np.column_stack([np.arange(n), np.array(others)])
    dist = np.linalg.norm(x[idx] - x[:, None, :], axis=2)
    d = dist[:, 1:].astype(np.float64)
    positive = np.where(d > 0, d, np.inf)
    rho = positive.min(axis=1)
    rho[~np.isfinite(rho)] = 0.0
    target = np.log2(n_neighbors)
    lo, hi, sigma = np.zeros(n), np.full(n, np.inf), np.ones(n)
    done = np.zeros(n, dtype=bool)
    for _ in range(64):
        excess = np.maximum(d - rho[:, None], 0.0)
        psum = np.exp(-excess / sigma[:, None]).sum(axis=1)
        done |= np.abs(psum - target) < 1e-5
        active = ~done
        too_big = active & (psum > target)
        too_small = active & ~(psum > target)
        hi[too_big] = sigma[too_big]
        lo[too_small] = sigma[too_small]
        doubling = too_small & np.isinf(hi)
        sigma = np.where(too_big | (too_small & ~doubling), (lo + hi) / 2.0, sigma)
        sigma = np.where(doubling, sigma * 2.0, sigma)
    mean_all = dist.mean()
    floor = np.where(rho > 0, 1e-3 * dist.mean(axis=1), 1e-3 * mean_all)
    sigma = np.maximum(sigma, floor)
    w = np.where(d - rho[:, None] <= 0, 1.0, np.exp(-(d - rho[:, None]) / sigma[:, None]))
    a = sp.csr_matrix((w.ravel(), (np.repeat(np.arange(n), n_neighbors - 1), idx[:, 1:].ravel())), shape=(n, n))
    g = a + a.T - a.multiply(a.T)
    g.eliminate_zeros()
    return g.tocsr()


def main():
    out = Path(sys.argv[1])
    meta = json.loads((out / "meta.json").read_text())
    n, dim, k = meta["n"], meta["d"], meta["k"]
    x = np.fromfile(out / "data.bin", dtype="<f4").reshape(n, dim)
    umap_y = np.fromfile(out / "umap.bin", dtype="<f4").reshape(n, 2)
    tsne_y = np.fromfile(out / "tsne.bin", dtype="<f4").reshape(n, 2)
    res = {
        "trust_umap": float(trustworthiness(x, umap_y, n_neighbors=k)),
        "trust_tsne": float(trustworthiness(x, tsne_y, n_neighbors=k)),
    }
    tsne = TSNE(random_state=0)
    ref = tsne.fit_transform(x.astype(np.float64))
    res["trust_sklearn_tsne"] = float(trustworthiness(x, ref, n_neighbors=k))
    res["kl_sklearn_tsne"] = float(tsne.kl_divergence_)
    rows = np.fromfile(out / "conn_rows.bin", dtype="<u4").astype(np.int64)
    cols = np.fromfile(out / "conn_cols.bin", dtype="<u4").astype(np.int64)
    vals = np.fromfile(out / "conn_vals.bin", dtype="<f4")
    ours = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    ref_graph = fuzzy_union_graph(x.astype(np.float64), meta["n_neighbors"])
    res["conn_max_abs_diff"] = float(abs(ours - ref_graph).max())
    res["conn_nnz"] = [int(ours.nnz), int(ref_graph.nnz)]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
