#!/usr/bin/env python3
"""Writes broken HDF5 inputs (h5ad, 10x h5, scooby h5ad, Keras h5) with h5py, plus byte-level broken files for
every binary format, into tests/corpus/<format>/ with .expect sidecars (substrings the error must contain)."""
import os
import h5py, numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "corpus")

def out(fmt, name, expect):
    d = os.path.join(ROOT, fmt); os.makedirs(d, exist_ok=True)
    p = os.path.join(d, name)
    with open(p + ".expect", "w") as f:
        f.write("\n".join(expect) + "\n")
    return p

def raw(fmt, name, data, expect):
    with open(out(fmt, name, expect), "wb") as f:
        f.write(data)

FILE = {"h5ad": "x.h5ad", "tenx_h5": "x.h5", "scooby_h5ad": "s.h5ad", "keras": "k.h5", "safetensors": "m.safetensors", "bam": "x.bam"}
rng = np.random.default_rng(20)
for fmt, ext in [("h5ad", "h5ad"), ("tenx_h5", "h5"), ("scooby_h5ad", "h5ad"), ("keras", "h5"), ("safetensors", "safetensors")]:
    name = FILE[fmt]
    raw(fmt, f"empty.{ext}", b"", [name])
    raw(fmt, f"text.{ext}", b"chr1\t1\t2\n", [name])
    raw(fmt, f"random.{ext}", rng.bytes(2048), [name])
    raw(fmt, f"gzip.{ext}", b"\x1f\x8b\x08\x00" + rng.bytes(64), [name])
    raw(fmt, f"hdf5-magic-only.{ext}", b"\x89HDF\r\n\x1a\n" + bytes(56), [name])

def csr(g, data, indices, indptr):
    g.attrs["encoding-type"] = "csr_matrix"; g.attrs["encoding-version"] = "0.1.0"
    g.create_dataset("data", data=np.asarray(data, dtype=np.float32))
    g.create_dataset("indices", data=np.asarray(indices, dtype=np.int32))
    g.create_dataset("indptr", data=np.asarray(indptr, dtype=np.int64))

def frame(f, name, index):
    g = f.create_group(name)
    g.attrs["encoding-type"] = "dataframe"; g.attrs["encoding-version"] = "0.2.0"
    g.attrs["_index"] = "_index"; g.attrs["column-order"] = np.array([], dtype=h5py.string_dtype())
    g.create_dataset("_index", data=np.array(index, dtype=h5py.string_dtype()))

def h5ad(name, expect, x=None, obs=("c1", "c2"), var=("chr1:100-200", "chr1:300-400", "chr2:5-50"), shape=None):
    with h5py.File(out("h5ad", name, expect), "w") as f:
        f.attrs["encoding-type"] = "anndata"; f.attrs["encoding-version"] = "0.1.0"
        if obs is not None: frame(f, "obs", list(obs))
        if var is not None: frame(f, "var", list(var))
        if x == "none": return
        g = f.create_group("X")
        d, i, p = x if x else ([1, 2, 3], [0, 2, 1], [0, 2, 3])
        csr(g, d, i, p)
        g.attrs["shape"] = shape or (len(obs or ()), len(var or ()))

h5ad("no-x.h5ad", ["x.h5ad", "X"], x="none")
h5ad("no-obs.h5ad", ["x.h5ad", "obs"], obs=None)
h5ad("no-var.h5ad", ["x.h5ad", "var"], var=None)
h5ad("index-past-end.h5ad", ["x.h5ad"], x=([1, 2, 3], [0, 9, 1], [0, 2, 3]))
h5ad("indptr-decreasing.h5ad", ["x.h5ad"], x=([1, 2, 3], [0, 2, 1], [0, 3, 2]))
h5ad("indptr-short.h5ad", ["x.h5ad"], x=([1, 2, 3], [0, 2, 1], [0, 2]))
h5ad("shape-mismatch.h5ad", ["x.h5ad"], shape=(5, 3))
h5ad("no-peaks.h5ad", ["x.h5ad", "peak"], var=("a", "b", "c"))
h5ad("negative-index.h5ad", ["x.h5ad"], x=([1, 2, 3], [0, -1, 1], [0, 2, 3]))

def tenx(name, expect, drop=None, indices=(0, 2, 1), indptr=(0, 2, 3), shape=(3, 2), data=(1, 2, 3)):
    with h5py.File(out("tenx_h5", name, expect), "w") as f:
        m = f.create_group("matrix")
        parts = {
            "barcodes": np.array([b"AAAC-1", b"AAAG-1"]), "data": np.asarray(data, dtype=np.int32),
            "indices": np.asarray(indices, dtype=np.int64), "indptr": np.asarray(indptr, dtype=np.int64),
            "shape": np.asarray(shape, dtype=np.int32),
        }
        for k, v in parts.items():
            if k != drop: m.create_dataset(k, data=v)
        feat = m.create_group("features")
        feat.create_dataset("id", data=np.array([b"chr1:1-100", b"chr1:200-300", b"chr2:5-50"]))
        feat.create_dataset("name", data=np.array([b"chr1:1-100", b"chr1:200-300", b"chr2:5-50"]))
        feat.create_dataset("feature_type", data=np.array([b"Peaks"] * 3))
        feat.create_dataset("genome", data=np.array([b"sim"] * 3))

tenx("no-indptr.h5", ["x.h5", "indptr"], drop="indptr")
tenx("no-data.h5", ["x.h5", "data"], drop="data")
tenx("no-barcodes.h5", ["x.h5", "barcodes"], drop="barcodes")
tenx("no-shape.h5", ["x.h5", "shape"], drop="shape")
tenx("index-past-end.h5", ["x.h5"], indices=(0, 7, 1))
tenx("indptr-decreasing.h5", ["x.h5"], indptr=(0, 3, 2))
tenx("shape-mismatch.h5", ["x.h5"], shape=(3, 9))
with h5py.File(out("tenx_h5", "no-matrix.h5", ["x.h5"]), "w") as f:
    f.create_group("other")

def keras(name, expect, config=None, weights=True):
    with h5py.File(out("keras", name, expect), "w") as f:
        if config is not None: f.attrs["model_config"] = config
        if weights: f.create_group("model_weights")

keras("no-config.h5", ["k.h5"])
keras("config-not-json.h5", ["k.h5"], config="{not json")
keras("config-empty-object.h5", ["k.h5"], config="{}")
keras("config-no-layers.h5", ["k.h5"], config='{"class_name": "Functional", "config": {}}')
keras("no-weights.h5", ["k.h5"], config='{"class_name": "Functional", "config": {"layers": []}}', weights=False)

def scooby(name, expect, obsm=None):
    with h5py.File(out("scooby_h5ad", name, expect), "w") as f:
        f.attrs["encoding-type"] = "anndata"; f.attrs["encoding-version"] = "0.1.0"
        frame(f, "obs", ["c1", "c2"])
        frame(f, "var", ["v"])
        if obsm is not None:
            g = f.create_group("obsm"); gg = g.create_group(obsm[0]); csr(gg, *obsm[1]); gg.attrs["shape"] = (2, 100)

scooby("no-obsm.h5ad", ["s.h5ad"])
scooby("wrong-key.h5ad", ["s.h5ad"], obsm=("other", ([1], [0], [0, 1, 1])))
scooby("no-reference.h5ad", ["s.h5ad"], obsm=("insertion", ([1], [0], [0, 1, 1])))
scooby("index-past-end.h5ad", ["s.h5ad"], obsm=("insertion", ([1], [500], [0, 1, 1])))
scooby("indptr-short.h5ad", ["s.h5ad"], obsm=("insertion", ([1], [0], [0, 1])))

import struct, json
def st(name, header, body, expect):
    h = json.dumps(header).encode()
    raw("safetensors", name, struct.pack("<Q", len(h)) + h + body, expect)
st("huge-header-length.safetensors", {}, b"", ["m.safetensors"])
raw("safetensors", "huge-length-field.safetensors", struct.pack("<Q", 1 << 60) + b"{}", ["m.safetensors"])
st("offsets-past-end.safetensors", {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, ["m.safetensors"])
st("shape-mismatch.safetensors", {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, b"\0" * 16, ["m.safetensors"])
st("no-meta.safetensors", {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16, ["m.safetensors", "meta/json"])
st("bad-dtype.safetensors", {"w": {"dtype": "Q7", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16, ["m.safetensors"])
meta = b'{"format": "something-else"}'
st("wrong-format.safetensors", {"meta/json": {"dtype": "U8", "shape": [len(meta)], "data_offsets": [0, len(meta)]}}, meta, ["m.safetensors", "metadata"])
meta = b'{not json'
st("meta-not-json.safetensors", {"meta/json": {"dtype": "U8", "shape": [len(meta)], "data_offsets": [0, len(meta)]}}, meta, ["m.safetensors", "metadata"])

for name, data in [("empty.bam", b""), ("text.bam", b"@HD\tVN:1.6\n"), ("bad-magic.bam", b"BAM\x02" + bytes(12)),
                   ("no-references.bam", b"BAM\x01" + struct.pack("<i", 0) + struct.pack("<i", 0)),
                   ("truncated-header.bam", b"BAM\x01" + struct.pack("<i", 100) + b"@HD"),
                   ("huge-text-length.bam", b"BAM\x01" + struct.pack("<i", 0x7fffffff)),
                   ("negative-text-length.bam", b"BAM\x01" + struct.pack("<i", -5)),
                   ("huge-ref-count.bam", b"BAM\x01" + struct.pack("<i", 0) + struct.pack("<i", 0x7fffffff)),
                   ("truncated-record.bam", b"BAM\x01" + struct.pack("<ii", 0, 1) + struct.pack("<i", 5) + b"chr1\0" + struct.pack("<i", 1000) + struct.pack("<i", 200) + b"\0" * 10)]:
    raw("bam", name, data, ["x.bam"])
print("binary corpus written")
