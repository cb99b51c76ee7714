"""Reference forward pass of scBasset in PyTorch, for the Rust test `torch_reference_tests`.

Usage: python torch_reference.py DIR

DIR holds, written by the Rust test:
  config.json          {"config": ScBassetConfig, "cell_batch": [..] | null, "augment": {"reverse_complement", "shift"}}
  weights.safetensors  the model's variables by name; the bottleneck kernel only in Keras layout
                       ("bottleneck.keras_kernel", (positions*channels, units), rows position-major)
  input.safetensors    "codes": (B, L) int64 base codes
Writes DIR/out.safetensors: eval_z, eval_logits, then train_logits and every BN's running stats after one
training-mode step. The network is built here from the original's definition (calico/scBasset `make_model` and
`make_model_bc` in `scbasset/utils.py`, `conv_block`/`dense_block` in `scbasset/basenji_utils.py`; scvi-tools'
`ScBassetModule` in `scvi/external/scbasset/_module.py` for the scvi stem), independently of the Rust code: tower
widths from the config's rule, Keras position-major flatten, one-hot B matrix for the BC head.
"""
import json
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file


def gelu(x):
    return torch.sigmoid(1.702 * x) * x


def tower_widths(cfg):
    widths = []
    if cfg["arch"] == "keras":
        f = float(cfg["tower_filters_init"])
        for _ in range(cfg["tower_repeat"]):
            widths.append(int(round(f)))
            f *= cfg["tower_mult"]
    else:
        w = cfg["tower_filters_init"]
        for _ in range(cfg["tower_repeat"]):
            widths.append(w)
            w = int(round(w * cfg["tower_mult"]))
    return widths


class ConvBlock(torch.nn.Module):
    def __init__(self, c_in, c_out, k, pool, pool_padding):
        super().__init__()
        self.conv = torch.nn.Conv1d(c_in, c_out, k, padding="same", bias=False)
        self.bn = torch.nn.BatchNorm1d(c_out, eps=1e-3, momentum=0.1)
        self.pool = torch.nn.MaxPool1d(pool, padding=pool_padding) if pool > 1 else torch.nn.Identity()

    def forward(self, x):
        return self.pool(self.bn(self.conv(gelu(x))))


class Net(torch.nn.Module):
    def __init__(self, cfg, cell_batch):
        super().__init__()
        stem_pad = 0 if cfg["arch"] == "keras" else (cfg["stem_pool"] - 1) // 2
        blocks = [("stem", ConvBlock(4, cfg["stem_filters"], cfg["stem_kernel"], cfg["stem_pool"], stem_pad))]
        c = cfg["stem_filters"]
        for i, w in enumerate(tower_widths(cfg)):
            blocks.append((f"tower{i}", ConvBlock(c, w, cfg["tower_kernel"], cfg["tower_pool"], 0)))
            c = w
        blocks.append(("conv1x1", ConvBlock(c, cfg["conv1x1_filters"], 1, 1, 0)))
        self.names = [n for n, _ in blocks]
        self.blocks = torch.nn.ModuleList([b for _, b in blocks])
        positions = cfg["seq_len"] // cfg["stem_pool"] // cfg["tower_pool"] ** cfg["tower_repeat"]
        self.keras_kernel = torch.nn.Parameter(torch.zeros(positions * cfg["conv1x1_filters"], cfg["bottleneck"]))
        self.bottleneck_bn = torch.nn.BatchNorm1d(cfg["bottleneck"], eps=1e-3, momentum=0.1)
        self.dropout = torch.nn.Dropout(cfg["dropout"])
        self.w1 = torch.nn.Parameter(torch.zeros(cfg["bottleneck"], cfg["n_cells"]))
        self.b1 = torch.nn.Parameter(torch.zeros(cfg["n_cells"]))
        self.bc = cell_batch is not None
        if self.bc:
            k = cfg["n_batches"]
            self.w2 = torch.nn.Parameter(torch.zeros(cfg["bottleneck"], k))
            self.b2 = torch.nn.Parameter(torch.zeros(k))
            onehot = torch.zeros(k, cfg["n_cells"])
            onehot[torch.tensor(cell_batch), torch.arange(cfg["n_cells"])] = 1.0
            self.register_buffer("batch_matrix", onehot)

    def load(self, w):
        def put(dst, name):
            src = w.pop(name)
            assert dst.shape == src.shape, f"{name}: spec shape {tuple(dst.shape)}, exported {tuple(src.shape)}"
            dst.data.copy_(src)

        for name, block in zip(self.names, self.blocks):
            put(block.conv.weight, f"{name}.conv.weight")
            for attr in ["weight", "bias", "running_mean", "running_var"]:
                put(getattr(block.bn, attr), f"{name}.bn.{attr}")
        put(self.keras_kernel, "bottleneck.keras_kernel")
        for attr in ["weight", "bias", "running_mean", "running_var"]:
            put(getattr(self.bottleneck_bn, attr), f"bottleneck.bn.{attr}")
        put(self.w1, "cell_embedding")
        put(self.b1, "cell_bias")
        if self.bc:
            put(self.w2, "batch_embedding")
            put(self.b2, "batch_bias")
        assert not w, f"unused exported tensors: {sorted(w)}"

    def forward(self, x):
        h = x
        for block in self.blocks:
            h = block(h)
        # Keras Reshape of channels-last (P, C): position-major flatten
        flat = gelu(h).permute(0, 2, 1).reshape(h.shape[0], -1)
        z = gelu(self.dropout(self.bottleneck_bn(flat @ self.keras_kernel)))
        logits = z @ self.w1 + self.b1
        if self.bc:
            logits = logits + (z @ self.w2 + self.b2) @ self.batch_matrix
        return z, logits


def augment(x, reverse_complement, shift):
    if reverse_complement:
        x = x[:, [3, 2, 1, 0], :].flip(2)
    if shift != 0:
        length = x.shape[2]
        pad = torch.full((x.shape[0], 4, min(abs(shift), length)), 0.25)
        x = torch.cat([pad, x[:, :, : length - shift]], 2) if shift > 0 else torch.cat([x[:, :, -shift:], pad], 2)
    return x


def main():
    d = sys.argv[1]
    spec = json.load(open(f"{d}/config.json"))
    cfg = spec["config"]
    torch.set_grad_enabled(False)
    net = Net(cfg, spec["cell_batch"])
    net.load(load_file(f"{d}/weights.safetensors"))
    codes = load_file(f"{d}/input.safetensors")["codes"]
    x = F.one_hot(codes.long(), 4).permute(0, 2, 1).float()
    x = augment(x, spec["augment"]["reverse_complement"], spec["augment"]["shift"])
    net.eval()
    z, logits = net(x)
    out = {"eval_z": z, "eval_logits": logits}
    net.train()
    _, train_logits = net(x)
    out["train_logits"] = train_logits
    for name, block in zip(net.names, net.blocks):
        out[f"{name}.bn.running_mean"] = block.bn.running_mean
        out[f"{name}.bn.running_var"] = block.bn.running_var
    out["bottleneck.bn.running_mean"] = net.bottleneck_bn.running_mean
    out["bottleneck.bn.running_var"] = net.bottleneck_bn.running_var
    save_file({k: v.contiguous() for k, v in out.items()}, f"{d}/out.safetensors")
    print(f"torch {torch.__version__}: {len(out)} tensors written")


if __name__ == "__main__":
    main()
