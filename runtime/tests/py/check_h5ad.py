"""Opens an .h5ad written by gscript with Python anndata (any warning is an error) and compares it with the JSON
description gscript wrote next to it. Usage: python check_h5ad.py FILE.h5ad EXPECTED.json; prints OK."""
import json
import sys
import warnings

warnings.simplefilter("error")
import anndata as ad  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

a = ad.read_h5ad(sys.argv[1])
e = json.load(open(sys.argv[2]))
assert a.shape == (len(e["barcodes"]), len(e["peak_names"])), a.shape
assert list(a.obs_names) == e["barcodes"]
assert list(a.var_names) == e["peak_names"]
X = a.X.toarray() if hasattr(a.X, "toarray") else np.asarray(a.X)
np.testing.assert_allclose(X, np.array(e["dense_cells_by_peaks"], dtype=np.float32))
assert list(a.var["chr"].astype(str)) == e["chroms"]
assert list(a.var["start"]) == e["starts"] and list(a.var["end"]) == e["ends"]
for name, col in e["obs"].items():
    s = a.obs[name]
    if col["kind"] == "categorical":
        assert isinstance(s.dtype, pd.CategoricalDtype), (name, s.dtype)
        assert list(s.astype(object).where(s.notna(), "NA")) == col["values"], name
    elif col["kind"] == "float":
        np.testing.assert_allclose(s.to_numpy(dtype=float), col["values"])
    else:
        assert list(s) == col["values"], (name, list(s)[:5])
for key, arr in e["obsm"].items():
    np.testing.assert_allclose(a.obsm[key], np.array(arr, dtype=np.float32), rtol=1e-6)
for key, arr in e["layers"].items():
    np.testing.assert_allclose(np.asarray(a.layers[key]), np.array(arr, dtype=np.float32), rtol=1e-6)
# the file must also survive a round trip through anndata's own writer
a.write_h5ad(sys.argv[1] + ".copy.h5ad")
print("OK")
