"""Recomputes gscript's analysis results with scikit-learn, scipy and igraph/leidenalg and compares.

Usage: python check_analysis.py ANALYSIS.json   (written by runtime/tests/analysis_python.rs)
Prints one line per comparison and OK when every one is within its tolerance; exits 1 otherwise.
"""
import json
import sys

import igraph as ig
import leidenalg
import numpy as np
from scipy import sparse, stats
from sklearn import metrics
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.neighbors import NearestNeighbors

doc = json.load(open(sys.argv[1]))
inp, ours = doc["inputs"], doc["ours"]
failures = []


def check(name, got, ref, tol, relative=False):
    got, ref = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    diff = np.max(np.abs(got - ref) / (np.abs(ref) if relative else 1.0)) if got.size else 0.0
    ok = got.shape == ref.shape and diff <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {name:<34} max {'rel ' if relative else ''}diff {diff:.2e} (tol {tol:g})")
    if not ok:
        failures.append(name)


n, d = inp["n"], inp["d"]
x = np.array(inp["x"], dtype=np.float32).reshape(n, d)
truth, pred = np.array(inp["truth"]), np.array(inp["pred"])
check("ARI", ours["ari"], metrics.adjusted_rand_score(truth, pred), 1e-6)
check("AMI", ours["ami"], metrics.adjusted_mutual_info_score(truth, pred), 1e-6)
check("NMI", ours["nmi"], metrics.normalized_mutual_info_score(truth, pred), 1e-6)
h, c, v = metrics.homogeneity_completeness_v_measure(truth, pred)
check("homogeneity", ours["homogeneity"], h, 1e-6)
check("completeness", ours["completeness"], c, 1e-6)
check("V-measure", ours["v_measure"], v, 1e-6)
check("silhouette", ours["silhouette"], metrics.silhouette_score(x.astype(np.float64), truth), 1e-6)

k = inp["k"]
nn = NearestNeighbors(n_neighbors=k + 1).fit(x.astype(np.float64))
_, idx = nn.kneighbors(x.astype(np.float64))
ref_sets = [set(r[r != i][:k]) for i, r in enumerate(idx)]
our = np.array(ours["knn"]).reshape(n, k)
same = sum(set(our[i]) == ref_sets[i] for i in range(n))
check("kNN sets identical (share)", same / n, 1.0, 0.0)

p = PCA(n_components=5, svd_solver="full").fit(x.astype(np.float64))
emb = p.transform(x.astype(np.float64))
# components are defined up to sign: orient sklearn's like ours (largest loading positive) before comparing
signs = np.sign(p.components_[np.arange(5), np.argmax(np.abs(p.components_), axis=1)])
check("PCA embedding (exact)", np.array(ours["pca_embedding"]).reshape(n, 5), emb * signs, 1e-3)
check("PCA variance ratio", ours["pca_ratio"], p.explained_variance_ratio_, 1e-6)
check("PCA embedding (randomized)", np.array(ours["pca_randomized_embedding"]).reshape(n, 3), (emb * signs)[:, :3], 1e-3)

scores, positives = np.array(inp["scores"]), np.array(inp["positives"])
check("auROC", ours["auroc"], metrics.roc_auc_score(positives, scores), 1e-12)
check("average precision", ours["average_precision"], metrics.average_precision_score(positives, scores), 1e-12)
other = x[:, 1].astype(np.float64)
check("Pearson", ours["pearson"], stats.pearsonr(scores, other)[0], 1e-9)
check("Spearman", ours["spearman"], stats.spearmanr(scores, other)[0], 1e-9)

g = ig.Graph(n=n, edges=[tuple(e) for e in inp["edges"]])
best = max(
    leidenalg.find_partition(g, leidenalg.RBConfigurationVertexPartition, resolution_parameter=1.0, seed=s).quality() / (2 * g.ecount())
    for s in range(5)
)
ref_q = g.modularity(
    leidenalg.find_partition(g, leidenalg.RBConfigurationVertexPartition, resolution_parameter=1.0, seed=0).membership
)
print(f"     leiden modularity: ours {ours['leiden_modularity']:.5f}, leidenalg {ref_q:.5f} (best of 5 seeds {best:.5f})")
check("Leiden modularity (relative)", ours["leiden_modularity"], ref_q, 0.03, relative=True)

# TF-IDF (Signac method 1) and the LSI singular values, recomputed from the raw triplets
trip = np.array(inp["triplets"], dtype=float)
m = sparse.csr_matrix((trip[:, 2], (trip[:, 1].astype(int), trip[:, 0].astype(int))), shape=(inp["n_cells"], inp["n_peaks"]))
tf = sparse.diags(1.0 / np.asarray(m.sum(axis=1)).ravel()) @ m
idf = inp["n_cells"] / np.asarray((m > 0).sum(axis=0)).ravel()
t = (tf @ sparse.diags(idf)).tocsr()
t.data = np.log1p(t.data * 1e4)
row0 = t[0].toarray().ravel()
check("TF-IDF (first cell)", ours["tfidf_first_cell"], row0[row0 != 0], 1e-9)
svd = TruncatedSVD(n_components=8, algorithm="arpack").fit(t)
check("LSI singular values (relative)", ours["lsi_singular_values"], svd.singular_values_, 1e-6, relative=True)

if failures:
    print("FAILED:", ", ".join(failures))
    sys.exit(1)
print("OK")
