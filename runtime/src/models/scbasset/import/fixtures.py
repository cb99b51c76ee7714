"""Test fixtures for the weight importers, written independently of the Rust code (numpy + h5py only).

    python fixtures.py keras IN.npz OUT.h5 [--weights-only] [--bytes-attrs] [--no-bc-matrix] [--mutate M]
    python fixtures.py scvi IN.npz OUT.safetensors [--no-batch-ids]
    python fixtures.py other-keras OUT.h5

IN.npz holds the variables of a gscript model under gscript's names (`stem.conv.weight`, `tower0.bn.running_var`,
`cell_embedding`, ...) and, for batch-corrected models, `meta.cell_batch`. `keras` writes the file a tf.keras 2.x
`model.save` (or `save_weights`) of calico/scBasset produces: `layer_names` / `weight_names` attributes, weights under
`<layer>/<layer>/<var>:0`, auto-increment layer names, a `model_config` JSON with the pools, input shape and, for
scBasset-BC, the batch matrix as the constant argument of `tf.linalg.matmul`. Layouts: Conv1D kernels
(k, C_in, C_out); the bottleneck kernel has rows position-major (p * C + c). `scvi` writes an scvi-tools SCBASSET state
dict as safetensors (by hand: an 8-byte header length, a JSON header, raw little-endian data); scvi has no per-batch
bias, so the Keras-style batch bias is folded into `cell_bias`.
"""
import json
import sys

import h5py
import numpy as np

BN = [("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"), ("running_var", "moving_variance")]


def load(npz):
    d = np.load(npz)
    return {k: d[k] for k in d.files}


def n_tower(v):
    n = 0
    while f"tower{n}.conv.weight" in v:
        n += 1
    return n


class Names:
    """Auto-increment names as Keras hands them out, starting from arbitrary counters (conv1d_9, conv1d_10, ... so
    that alphabetical order differs from model order)."""

    def __init__(self):
        self.next = {"conv1d": 9, "batch_normalization": 7, "dense": 3, "max_pooling1d": 5, "gelu": 20, "dropout": 1,
                     "reshape": 2, "activation": 4, "flatten": 1, "stochastic_shift": 1, "stochastic_reverse_complement": 1,
                     "switch_reverse": 1, "tf.linalg.matmul": 0, "tf.math.add": 0}

    def __call__(self, base):
        i = self.next[base]
        self.next[base] += 1
        return base if i == 0 else f"{base}_{i}"


def keras(npz, out, weights_only, bytes_attrs, bc_matrix, mutate):
    v = load(npz)
    names = Names()
    layers = []  # (name, class_name, config, inbound, [(var, array)])
    prev = "sequence"

    def add(base, cls, cfg, weights, inbound=None):
        nonlocal prev
        name = names(base)
        node = inbound if inbound is not None else [[[prev, 0, 0, {}]]]
        layers.append((name, cls, dict(cfg, name=name), node, weights))
        prev = name
        return name

    seq_len = int(v["meta.seq_len"])
    stem_pool, tower_pool = int(v["meta.stem_pool"]), int(v["meta.tower_pool"])
    layers.append(("sequence", "InputLayer", {"batch_input_shape": [None, seq_len, 4], "name": "sequence"}, [], []))
    add("stochastic_reverse_complement", "StochasticReverseComplement", {}, [])
    add("stochastic_shift", "StochasticShift", {"shift_max": 3}, [])
    blocks = ["stem"] + [f"tower{i}" for i in range(n_tower(v))] + ["conv1x1"]
    for b in blocks:
        add("gelu", "GELU", {}, [])
        kernel = np.transpose(v[f"{b}.conv.weight"], (2, 1, 0))  # (C_out, C_in, k) -> (k, C_in, C_out)
        if mutate == "wrong_kernel" and b == "tower1":
            kernel = kernel[:, 1:, :]
        add("conv1d", "Conv1D", {"filters": kernel.shape[2], "kernel_size": [kernel.shape[0]], "use_bias": False}, [("kernel", kernel)])
        add("batch_normalization", "BatchNormalization", {"momentum": 0.9, "epsilon": 0.001},
            [(k, v[f"{b}.bn.{o}"]) for o, k in BN])
        pool = stem_pool if b == "stem" else (tower_pool if b != "conv1x1" else 1)
        if pool > 1:
            add("max_pooling1d", "MaxPooling1D", {"pool_size": [pool], "strides": [pool], "padding": "same"}, [])
    add("gelu", "GELU", {}, [])
    w = v["bottleneck.linear.weight"]  # (U, C*P), column c*P + p
    units, flat = w.shape
    channels = v["conv1x1.conv.weight"].shape[0]
    positions = flat // channels
    k = np.empty((positions * channels, units), dtype=np.float32)
    for p in range(positions):
        for c in range(channels):
            k[p * channels + c, :] = w[:, c * positions + p]
    add("reshape", "Reshape", {"target_shape": [1, flat]}, [])
    add("dense", "Dense", {"units": units, "use_bias": False}, [("kernel", k)])
    if mutate != "drop_bn":
        add("batch_normalization", "BatchNormalization", {}, [(kk, v[f"bottleneck.bn.{o}"]) for o, kk in BN])
    add("dropout", "Dropout", {"rate": 0.2}, [])
    z = add("gelu", "GELU", {}, [])
    n_cells = v["cell_embedding"].shape[1]
    if "batch_embedding" in v:
        cb = v["meta.cell_batch"]
        n_b = v["batch_embedding"].shape[1]
        batch = add("dense", "Dense", {"units": n_b}, [("kernel", v["batch_embedding"]), ("bias", v["batch_bias"])])
        cell = add("dense", "Dense", {"units": n_cells}, [("kernel", v["cell_embedding"]), ("bias", v["cell_bias"])],
                   inbound=[[[z, 0, 0, {}]]])
        b_matrix = np.eye(n_b)[cb].T  # batches x cells, one-hot columns
        kwargs = {"b": b_matrix.tolist()} if bc_matrix else {}
        mm = add("tf.linalg.matmul", "TFOpLambda", {"function": "linalg.matmul"}, [], inbound=[[batch, 0, 0, kwargs]])
        add("tf.math.add", "TFOpLambda", {"function": "math.add"}, [], inbound=[[cell, 0, 0, {"y": [mm, 0, 0]}]])
        add("activation", "Activation", {"activation": "sigmoid"}, [])
    elif mutate != "no_final":
        add("dense", "Dense", {"units": n_cells, "activation": "sigmoid"}, [("kernel", v["cell_embedding"]), ("bias", v["cell_bias"])])
    add("switch_reverse", "SwitchReverse", {}, [])
    add("flatten", "Flatten", {}, [])
    config = {"class_name": "Functional", "config": {"name": "model_1", "layers": [
        {"class_name": cls, "config": cfg, "name": name, "inbound_nodes": node} for name, cls, cfg, node, _ in layers],
        "input_layers": [["sequence", 0, 0]], "output_layers": [[prev, 0, 0]]}}
    write_keras(out, layers, config, weights_only, bytes_attrs, mutate)


def strings(items, as_bytes):
    if as_bytes:  # tf.keras 2.0-2.10 era: numpy fixed-length bytes
        return np.array([s.encode() for s in items]) if items else np.array([], dtype="S1")
    return items  # h5py 3: variable-length UTF-8


def write_keras(out, layers, config, weights_only, bytes_attrs, mutate):
    with h5py.File(out, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.4.0"
        if weights_only:
            g = f
        else:
            cfg = json.dumps(config)
            f.attrs["model_config"] = cfg.encode() if bytes_attrs else cfg
            g = f.create_group("model_weights")
            g.attrs["backend"] = "tensorflow"
            g.attrs["keras_version"] = "2.4.0"
        g.attrs["layer_names"] = strings([l[0] for l in layers], bytes_attrs)
        for name, _, _, _, weights in layers:
            lg = g.create_group(name)
            wnames = [f"{name}/{w}:0" for w, _ in weights]
            lg.attrs["weight_names"] = strings(wnames, bytes_attrs)
            for wn, (w, arr) in zip(wnames, weights):
                if mutate == "missing_weight" and w == "moving_variance":
                    continue
                lg.create_dataset(wn, data=np.asarray(arr, dtype=np.float32))


def other_keras(out):
    """A small Keras MLP (Dense 10->5 with bias, Dense 5->1), not scBasset."""
    rng = np.random.default_rng(0)
    layers = [("input_1", "InputLayer", {}, [], []),
              ("dense", "Dense", {}, [], [("kernel", rng.normal(size=(10, 5))), ("bias", np.zeros(5))]),
              ("dense_1", "Dense", {}, [], [("kernel", rng.normal(size=(5, 1))), ("bias", np.zeros(1))])]
    config = {"class_name": "Sequential", "config": {"name": "mlp", "layers": [
        {"class_name": cls, "config": dict(cfg, name=n)} for n, cls, cfg, _, _ in layers]}}
    write_keras(out, layers, config, False, False, None)


SCVI_BN = ["weight", "bias", "running_mean", "running_var"]


def scvi(npz, out, batch_ids):
    v = load(npz)
    sd = {}
    blocks = [("stem", "stem")] + [(f"tower{i}", f"tower.{i}") for i in range(n_tower(v))] + [("conv1x1", "pre_bottleneck")]
    for ours, theirs in blocks:
        sd[f"{theirs}.conv.weight"] = v[f"{ours}.conv.weight"]
        for s in SCVI_BN:
            sd[f"{theirs}.batch_norm.{s}"] = v[f"{ours}.bn.{s}"]
        sd[f"{theirs}.batch_norm.num_batches_tracked"] = np.array(17, dtype=np.int64)
    sd["bottleneck.dense.weight"] = v["bottleneck.linear.weight"]
    for s in SCVI_BN:
        sd[f"bottleneck.batch_norm.{s}"] = v[f"bottleneck.bn.{s}"]
    sd["bottleneck.batch_norm.num_batches_tracked"] = np.array(17, dtype=np.int64)
    sd["cell_embedding"] = v["cell_embedding"]
    bias = v["cell_bias"].copy()
    if "batch_embedding" in v:
        cb = v["meta.cell_batch"].astype(np.int64)
        sd["batch_emdedding.weight"] = v["batch_embedding"].T.copy()
        bias = bias + v["batch_bias"][cb]  # scvi has no per-batch bias: fold b2 into the cell bias
        if batch_ids:
            sd["batch_ids"] = cb.reshape(-1, 1)
    sd["cell_bias"] = bias
    write_safetensors(out, sd)


def write_safetensors(out, tensors):
    kinds = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        a = a.astype(np.float32) if a.dtype.kind == "f" else a
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": kinds[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(out, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    args = sys.argv[1:]
    flag = lambda f: f in args
    mutate = args[args.index("--mutate") + 1] if "--mutate" in args else None
    if args[0] == "keras":
        keras(args[1], args[2], flag("--weights-only"), flag("--bytes-attrs"), not flag("--no-bc-matrix"), mutate)
    elif args[0] == "scvi":
        scvi(args[1], args[2], not flag("--no-batch-ids"))
    elif args[0] == "other-keras":
        other_keras(args[1])
    else:
        sys.exit(f"unknown command {args[0]}")
