"""Reference scooby forward pass in PyTorch, for the Rust test `torch_reference_tests` of models::scooby.

Usage: python scooby_reference.py OUT_DIR

Builds borzoi-pytorch 0.5.1's Borzoi at a reduced size (dim 384, depth 2, 4 heads, key 32, value 96, 256 bins on
16,384 bp; the convolution tower keeps its published widths), with seeded random weights and BatchNorm statistics
(`randomize` and `calibrate_batchnorm` of ../borzoi/torch_reference.py), then turns it into scooby as
gagneurlab/scooby `scooby/modeling/scooby.py` does:
  - LoRA on the modules whose names match scooby's regex with re.fullmatch,
    `(?!separable\\d+).*conv_layer|.*to_q|.*to_v|transformer\\.\\d+\\.1\\.fn\\.1|transformer\\.\\d+\\.1\\.fn\\.4`, written
    here in peft's form (the fork scooby pins, `lora.Linear` / `lora.Conv1d`): y = base(x) + (alpha/r)·B(A(x)), for a
    Conv1d A = Conv1d(in, r, same kernel, stride and padding, no bias) and B = Conv1d(r, out, 1, no bias); for a Linear
    A = Linear(in, r), B = Linear(r, out), no biases; r 8, alpha 8. A and B are random (B non-zero).
  - `transform_borzoi_emb` = Conv1d(1920, 4096, 1) GELU Conv1d(4096, 1920, 1) GELU (width 256 here to stay small)
  - `cell_state_to_conv` = Linear(E,128) GELU Linear(128,256) GELU Dropout Linear(256,1024) GELU Dropout
    Linear(1024, 1921·T), E 6, T 3
  - the forward of `forward_sequence_w_convs` after `forward_cell_embs_only` (einops rearrange, vmap'd conv1d, softplus,
    permute), all in eval mode, fp32.

Writes OUT_DIR/model.safetensors with peft's unmerged keys (`base_model.model.<module>.base_layer.weight`,
`.lora_A.default.weight`, `.lora_B.default.weight`, the rest `base_model.model.<name>`), OUT_DIR/config.json (the
Borzoi config), OUT_DIR/io.safetensors: "onehot" (1,4,L), "cells" (1,5,E), "embedding" (1,1920,bins) after the
transform, "out" (1,bins,5·T); "merged_out": the same forward after folding the adapters into the weights
(W += s·B@A, conv: ΔW[o,i,t] = s·Σ_r B[o,r]A[r,i,t]). Prints one JSON line.
"""
import json
import re
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "borzoi"))
import torch_reference as tr  # noqa: E402

SEED = 20241205
E, T, N_CELLS, R, ALPHA, TRANSFORM = 6, 3, 5, 8, 8, 256
CONFIG = dict(dim=384, depth=2, heads=4, attn_dim_key=32, attn_dim_value=96, bins_to_return=256)
SEQ_LEN = 16384
TARGETS = r"(?!separable\d+).*conv_layer|.*to_q|.*to_v|transformer\.\d+\.1\.fn\.1|transformer\.\d+\.1\.fn\.4"


class LoraLinear(nn.Module):
    def __init__(self, base):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.ModuleDict({"default": nn.Linear(base.in_features, R, bias=False)})
        self.lora_B = nn.ModuleDict({"default": nn.Linear(R, base.out_features, bias=False)})
        self.scaling = ALPHA / R

    @property
    def weight(self):  # peft's layers expose the base layer's attributes (borzoi-pytorch reads to_v.weight.device)
        return self.base_layer.weight

    def forward(self, x):
        return self.base_layer(x) + self.lora_B["default"](self.lora_A["default"](x)) * self.scaling

    def merge(self):
        with torch.no_grad():
            self.base_layer.weight += self.scaling * self.lora_B["default"].weight @ self.lora_A["default"].weight


class LoraConv1d(nn.Module):
    def __init__(self, base):
        super().__init__()
        self.base_layer = base
        a = nn.Conv1d(base.in_channels, R, base.kernel_size, base.stride, base.padding, bias=False)
        self.lora_A = nn.ModuleDict({"default": a})
        self.lora_B = nn.ModuleDict({"default": nn.Conv1d(R, base.out_channels, 1, bias=False)})
        self.scaling = ALPHA / R

    @property
    def weight(self):  # peft's layers expose the base layer's attributes (borzoi-pytorch reads to_v.weight.device)
        return self.base_layer.weight

    def forward(self, x):
        return self.base_layer(x) + self.lora_B["default"](self.lora_A["default"](x)) * self.scaling

    def merge(self):
        with torch.no_grad():
            b = self.lora_B["default"].weight[:, :, 0]
            a = self.lora_A["default"].weight
            self.base_layer.weight += self.scaling * torch.einsum("or,rit->oit", b, a)


def add_lora(model):
    names = [n for n, _ in model.named_modules() if n and re.fullmatch(TARGETS, n)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        base = getattr(parent, child)
        wrapper = LoraConv1d(base) if isinstance(base, nn.Conv1d) else LoraLinear(base)
        setattr(parent, child, wrapper)
    return names


def forward(model, transform, decoder, x, cells):
    """scooby's forward_seq_to_emb + forward_cell_embs_only + forward_sequence_w_convs (eval)."""
    emb = model.get_embs_after_crop(x)
    emb = model.final_joined_convs(emb)
    emb = transform(emb)
    bs, n, _ = cells.shape
    w = decoder(cells.reshape(bs * n, -1))  # '(b n) (l d) -> b (n l) d'
    d1 = emb.shape[1] + 1
    w = w.reshape(bs, n, T, d1).reshape(bs, n * T, d1)
    bias = w[:, :, -1:].reshape(bs, n * T)
    w = w[:, :, :-1].reshape(bs, n * T, emb.shape[1], 1)
    out = torch.vmap(F.conv1d)(emb, w, bias)
    return emb, F.softplus(out).permute(0, 2, 1)


def main():
    out = Path(sys.argv[1])
    from borzoi_pytorch import Borzoi
    from borzoi_pytorch.config_borzoi import BorzoiConfig
    from safetensors.torch import save_file

    torch.manual_seed(SEED)
    model = Borzoi(BorzoiConfig(**CONFIG))
    tr.randomize(model, SEED + 1)
    tr.calibrate_batchnorm(model, SEQ_LEN, SEED + 3)
    del model.human_head
    names = add_lora(model)
    g = torch.Generator().manual_seed(SEED + 4)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".lora_A." in n:
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) / (p[0].numel() ** 0.5))
            elif ".lora_B." in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3 / (p.shape[1] ** 0.5))
    transform = nn.Sequential(nn.Conv1d(1920, TRANSFORM, 1), nn.GELU(), nn.Conv1d(TRANSFORM, 1920, 1), nn.GELU())
    decoder = nn.Sequential(
        nn.Linear(E, 128), nn.GELU(), nn.Linear(128, 256), nn.GELU(), nn.Dropout(0.2),
        nn.Linear(256, 1024), nn.GELU(), nn.Dropout(0.2), nn.Linear(1024, 1921 * T))
    with torch.no_grad():
        for m in list(transform) + list(decoder):
            if isinstance(m, (nn.Linear, nn.Conv1d)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / (m.weight[0].numel() ** 0.5))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    model.eval(), transform.eval(), decoder.eval()
    x = tr.random_sequence(SEQ_LEN, SEED + 2)
    cells = torch.randn(1, N_CELLS, E, generator=g)
    with torch.no_grad():
        emb, y = forward(model, transform, decoder, x, cells)
    state = {f"base_model.model.{k}": v for k, v in model.state_dict().items()}
    state.update({f"base_model.model.transform_borzoi_emb.{k}": v for k, v in transform.state_dict().items()})
    state.update({f"base_model.model.cell_state_to_conv.{k}": v for k, v in decoder.state_dict().items()})
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / "model.safetensors"))
    cfg = dict(CONFIG)
    (out / "config.json").write_text(json.dumps(cfg))
    for m in model.modules():
        if isinstance(m, (LoraLinear, LoraConv1d)):
            m.merge()
            m.lora_B["default"].weight.data.zero_()
    with torch.no_grad():
        _, merged = forward(model, transform, decoder, x, cells)
    tr.describe("out", y)
    save_file({"onehot": x, "cells": cells, "embedding": emb.contiguous(), "out": y.contiguous(),
               "merged_out": merged.contiguous()}, str(out / "io.safetensors"))
    print(json.dumps({"adapted": names, "params": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
