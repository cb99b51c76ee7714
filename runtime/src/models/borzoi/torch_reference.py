"""Reference Borzoi / Flashzoi forward passes from borzoi-pytorch 0.5.1, for the Rust test `torch_reference_tests`.

Usage: python torch_reference.py CASE OUT_DIR

CASE is one of
  reduced  Borzoi with a small transformer (dim 384, depth 2, 4 heads, key 32, value 96, 256 bins returned) on
           16,384 bp; the convolution tower and the 1,920-wide head keep their published sizes (~39.7 M parameters)
  flash    Flashzoi (flashed=True: grouped-query attention with rotary embeddings) with dim 768, 4 heads (so 2 KV
           heads and head_dim 192, as in the published model, with RoPE on the first 128 of 192 dims), depth 2,
           256 bins, human and mouse heads, on 16,384 bp
  full     the published size (BorzoiConfig() defaults: dim 1536, depth 8, 6,144 bins; 185,892,699 parameters) on
           524,288 bp (a 40-80 s forward on 2 cores, plus a shorter calibration pass; writes ~1 GB)

Writes to OUT_DIR:
  model/          `Borzoi.save_pretrained`: config.json and one model.safetensors (the state dict by name,
                  BatchNorm running statistics included)
  io.safetensors  "onehot" (1, 4, L): a random one-hot sequence with a few all-zero (N) positions and the last 64
                  positions 0.25 in every channel (padding); "tracks" (1, 7611, bins): the human head's softplus
                  output; "embedding" (1, 1920, bins): the output of `final_joined_convs` (what
                  `forward(..., return_embeddings=True)` returns); for `flash` also "tracks_mouse" (1, 2608, bins)
                  from `forward(x, is_human=False)`. All float32, from an fp32 eval-mode forward under no_grad.
and prints one JSON line to stdout: {"case", "params", "seq_len", "bins", "seconds"} (seconds: the human forward).
Statistics of the outputs and (for reduced and flash) the state-dict keys go to stderr.

Weights. The package's own initialisation (xavier, unit norms, zero biases, zero attention output projections) would
make a weak test, so after construction every parameter and every BatchNorm running statistic is overwritten with
seeded random values that keep the activations well scaled: weights normal with std gain/sqrt(fan_in); biases and
BatchNorm/LayerNorm shifts small normal; BatchNorm/LayerNorm scales uniform in [0.5, 1.5]; relative-position biases
normal × 0.1; BatchNorm running statistics measured on a separate random calibration sequence and perturbed
(mean + N(0, 0.1²)·std, variance × U(0.5, 2); see calibrate_batchnorm). The head's weights and biases are chosen so
that the tracks' spread is comparable to their mean.

Flashzoi's attention is `flash_attn.modules.mha.MHA`, which needs CUDA and the flash-attn build. Before the model is
built, the `flash` case puts a plain-PyTorch stand-in for that class into sys.modules. It computes what
flash_attn's MHA computes for the arguments borzoi-pytorch's FlashAttention passes (self-attention, no KV cache, no
cross-attention, fp32): `Wqkv` (embed_dim → (num_heads + 2 num_heads_kv) head_dim, laid out [q | k | v]); rotary
embeddings of Su et al. as flash_attn's RotaryEmbedding applies them (GPT-NeoX rotate-half, not interleaved, on the
first rotary_emb_dim dims of every q and k head, inv_freq = 1 / base^(2i / rotary_dim), positions 0..n-1, in fp32;
no XPos since rotary_emb_scale_base is None); grouped-query attention (query head h reads KV head
h // (num_heads / num_heads_kv)); softmax_scale; non-causal; attention dropout (inactive in eval); `out_proj`. Its
parameters are named as flash_attn's (`mha.Wqkv.{weight,bias}`, `mha.out_proj.{weight,bias}`; the rotary inv_freq
is a non-persistent buffer there and is not a module buffer here), so the keys match the published Flashzoi
checkpoints.
"""
import importlib.machinery
import json
import math
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20240611
N_POSITIONS = 12  # all-zero (N) positions in the sequence
PAD = 64  # trailing positions of 0.25 in every channel

CASES = {
    "reduced": dict(config=dict(dim=384, depth=2, heads=4, attn_dim_key=32, attn_dim_value=96, bins_to_return=256),
                    seq_len=16384),
    "flash": dict(config=dict(dim=768, depth=2, heads=4, bins_to_return=256, flashed=True, enable_mouse_head=True),
                  seq_len=16384),
    "full": dict(config=dict(), seq_len=524288),
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class ReferenceMHA(nn.Module):
    """What flash_attn.modules.mha.MHA computes for borzoi-pytorch's FlashAttention arguments, in plain PyTorch."""

    def __init__(self, embed_dim, num_heads, num_heads_kv=None, qkv_proj_bias=True, out_proj_bias=True, dropout=0.0,
                 softmax_scale=None, causal=False, rotary_emb_dim=0, rotary_emb_base=10000.0,
                 rotary_emb_scale_base=None, rotary_emb_interleaved=False, use_flash_attn=False, fused_bias_fc=False,
                 **unsupported):
        super().__init__()
        if unsupported:
            raise NotImplementedError(f"ReferenceMHA: unsupported MHA arguments {sorted(unsupported)}")
        if causal or rotary_emb_scale_base is not None or rotary_emb_interleaved or fused_bias_fc:
            raise NotImplementedError("ReferenceMHA: causal, XPos, interleaved rotary and fused_bias_fc are not needed")
        self.num_heads = num_heads
        self.num_heads_kv = num_heads_kv if num_heads_kv is not None else num_heads
        assert embed_dim % num_heads == 0 and num_heads % self.num_heads_kv == 0
        self.head_dim = embed_dim // num_heads
        self.softmax_scale = softmax_scale if softmax_scale is not None else self.head_dim ** -0.5
        self.rotary_dim = rotary_emb_dim
        self.rotary_base = float(rotary_emb_base)
        assert self.rotary_dim % 2 == 0 and self.rotary_dim <= self.head_dim
        self.dropout_p = dropout
        qkv_dim = self.head_dim * (self.num_heads + 2 * self.num_heads_kv)
        self.Wqkv = nn.Linear(embed_dim, qkv_dim, bias=qkv_proj_bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=out_proj_bias)

    def rotary(self, x):
        """x (b, n, heads, head_dim): rotate-half RoPE on the first rotary_dim dims, positions 0..n-1 (fp32 tables)."""
        if self.rotary_dim == 0:
            return x
        n, r = x.shape[1], self.rotary_dim
        inv_freq = 1.0 / self.rotary_base ** (torch.arange(0, r, 2, dtype=torch.float32, device=x.device) / r)
        angles = torch.outer(torch.arange(n, dtype=torch.float32, device=x.device), inv_freq)  # (n, r/2)
        cos = torch.cat([angles.cos(), angles.cos()], -1)[None, :, None, :].to(x.dtype)
        sin = torch.cat([angles.sin(), angles.sin()], -1)[None, :, None, :].to(x.dtype)
        xr, rest = x[..., :r], x[..., r:]
        x1, x2 = xr[..., : r // 2], xr[..., r // 2:]
        rotated = torch.cat([-x2, x1], -1)
        return torch.cat([xr * cos + rotated * sin, rest], -1)

    def forward(self, x):
        b, n, _ = x.shape
        h, hkv, d = self.num_heads, self.num_heads_kv, self.head_dim
        qkv = self.Wqkv(x)
        q = qkv[..., : h * d].reshape(b, n, h, d)
        k = qkv[..., h * d: (h + hkv) * d].reshape(b, n, hkv, d)
        v = qkv[..., (h + hkv) * d:].reshape(b, n, hkv, d)
        q, k = self.rotary(q), self.rotary(k)
        group = h // hkv
        k = k.repeat_interleave(group, dim=2)  # query head i reads KV head i // group
        v = v.repeat_interleave(group, dim=2)
        logits = torch.einsum("bihd,bjhd->bhij", q, k) * self.softmax_scale
        attn = logits.softmax(dim=-1)
        attn = F.dropout(attn, self.dropout_p if self.training else 0.0, self.training)
        out = torch.einsum("bhij,bjhd->bihd", attn, v).reshape(b, n, h * d)
        return self.out_proj(out)


def install_fake_flash_attn():
    """Makes `from flash_attn.modules.mha import MHA` (in FlashAttention.__init__) return ReferenceMHA. Called after
    borzoi_pytorch (and so transformers) is imported: transformers probes for an installed flash_attn at import."""
    def module(name):
        m = types.ModuleType(name)
        m.__spec__ = importlib.machinery.ModuleSpec(name, loader=None, is_package=not name.endswith(".mha"))
        return m

    flash_attn, modules, mha = module("flash_attn"), module("flash_attn.modules"), module("flash_attn.modules.mha")
    mha.MHA = ReferenceMHA
    flash_attn.modules = modules
    modules.mha = mha
    sys.modules.update({"flash_attn": flash_attn, "flash_attn.modules": modules, "flash_attn.modules.mha": mha})


# Gains (std × sqrt(fan_in)) of the random weights, tuned so that activations neither vanish nor explode.
GAIN_DNA = 1.0  # the one-hot stem: fan_in counted as the kernel width (one nonzero channel per position)
GAIN_CONV = 1.0  # convolutions after BatchNorm + GELU
GAIN_LINEAR = 1.0  # feed-forward, value and relative-position projections, separable convolutions
GAIN_QK = 1.5  # query/key projections (Flashzoi: the whole Wqkv): attention of entropy ~2.9 nats over 128 keys
GAIN_OUT = 1.0  # attention output projection (zeros in the package's init)
GAIN_HEAD = 2.5  # track heads: softplus inputs of std ~1 around HEAD_BIAS_MEAN
HEAD_BIAS_MEAN = -0.5


@torch.no_grad()
def randomize(model, seed):
    """Overwrites every parameter and BatchNorm running statistic with seeded, well-scaled random values."""
    from borzoi_pytorch.pytorch_borzoi_transformer import Attention

    g = torch.Generator().manual_seed(seed)

    def normal(t, std, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=g) * std + mean)

    def uniform(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)

    done = set()
    for name, m in model.named_modules():
        local = {}
        if isinstance(m, nn.Conv1d):
            fan_in = m.weight.shape[1] * m.weight.shape[2]
            gain = GAIN_CONV
            if name == "conv_dna.conv_layer":
                fan_in, gain = m.weight.shape[2], GAIN_DNA
            elif name in ("human_head", "mouse_head"):
                gain = GAIN_HEAD
            elif m.groups > 1 or name.endswith("conv_layer.1"):  # separable: depthwise, then pointwise (no norm)
                gain = GAIN_LINEAR
            normal(m.weight, gain / math.sqrt(fan_in))
            local["weight"] = m.weight
            if m.bias is not None:
                if name in ("human_head", "mouse_head"):
                    normal(m.bias, 0.3, HEAD_BIAS_MEAN)
                else:
                    normal(m.bias, 0.1)
                local["bias"] = m.bias
        elif isinstance(m, nn.Linear):
            gain = GAIN_LINEAR
            if name.endswith(("to_q", "to_k", "Wqkv")):
                gain = GAIN_QK
            elif name.endswith(("to_out", "out_proj")):
                gain = GAIN_OUT
            normal(m.weight, gain / math.sqrt(m.weight.shape[1]))
            local["weight"] = m.weight
            if m.bias is not None:
                normal(m.bias, 0.1)
                local["bias"] = m.bias
        elif isinstance(m, nn.BatchNorm1d):
            uniform(m.weight, 0.5, 1.5)
            normal(m.bias, 0.1)
            normal(m.running_mean, 0.1)
            uniform(m.running_var, 0.5, 2.0)  # placeholders until calibrate_batchnorm
            local.update(weight=m.weight, bias=m.bias, running_mean=m.running_mean, running_var=m.running_var)
        elif isinstance(m, nn.LayerNorm):
            uniform(m.weight, 0.5, 1.5)
            normal(m.bias, 0.1)
            local.update(weight=m.weight, bias=m.bias)
        elif isinstance(m, Attention):
            normal(m.rel_content_bias, 0.1)
            normal(m.rel_pos_bias, 0.1)
            local.update(rel_content_bias=m.rel_content_bias, rel_pos_bias=m.rel_pos_bias)
        done.update(f"{name}.{k}" if name else k for k in local)
    missing = [n for n, _ in model.named_parameters() if n not in done]
    missing += [n for n, b in model.named_buffers() if b.is_floating_point() and n not in done]
    if missing:
        raise RuntimeError(f"parameters or buffers left at their initial values: {missing}")


CALIBRATION_LEN = 131072  # at most this many bp in the calibration sequence (the full case's 524,288 would double its time)


@torch.no_grad()
def calibrate_batchnorm(model, seq_len, seed):
    """Sets every BatchNorm's running statistics from the activations of one calibration sequence (not the test
    sequence), each perturbed at random: running_mean = channel mean + N(0, 0.1²)·channel std, running_var = channel
    variance × U(0.5, 2). As in a trained network, the normalised activations are then roughly centred with unit
    scale, so the sequence-dependent part of the embedding dominates the per-channel offsets instead of drowning in
    them. One eval-mode forward suffices: a pre-hook fixes each BatchNorm's statistics just before it runs. The crop is
    switched off meanwhile (a short calibration sequence may have fewer bins than bins_to_return), and the attention
    layers' cached relative positions, which depend on the length, are dropped afterwards."""
    from borzoi_pytorch.pytorch_borzoi_transformer import Attention

    g = torch.Generator().manual_seed(seed)

    def set_stats(bn, inputs):
        x = inputs[0].double()
        mean, var = x.mean((0, 2)), x.var((0, 2))
        bn.running_mean.copy_(mean + torch.randn(mean.shape, generator=g, dtype=torch.float64) * 0.1 * var.sqrt())
        bn.running_var.copy_(var * (torch.rand(var.shape, generator=g, dtype=torch.float64) * 1.5 + 0.5))

    hooks = [m.register_forward_pre_hook(set_stats) for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    crop, model.crop.target_length = model.crop.target_length, -1
    model.eval()
    model(random_sequence(min(seq_len, CALIBRATION_LEN), seed))
    model.crop.target_length = crop
    for h in hooks:
        h.remove()
    for m in model.modules():
        if isinstance(m, Attention):
            m.positions = None


def random_sequence(seq_len, seed):
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (seq_len,), generator=g)
    x = F.one_hot(codes, 4).T.float().contiguous()
    x[:, torch.randperm(seq_len - PAD, generator=g)[:N_POSITIONS]] = 0.0
    x[:, -PAD:] = 0.25
    return x[None].contiguous()


def describe(name, t):
    """Logs the statistics of an output; stops on NaN/inf, and on tracks that are ~0 or without spread (a relative
    comparison of such tracks would say little)."""
    t = t.double()
    finite = bool(torch.isfinite(t).all())
    mean, std = t.mean().item(), t.std().item()
    log(f"{name}: shape {tuple(t.shape)} mean {mean:.4f} std {std:.4f} min {t.min():.4f} max {t.max():.4f} "
        f"finite {finite}")
    if not finite:
        raise RuntimeError(f"{name} has NaN or inf")
    if name.startswith("tracks") and not (mean > 0.05 and 0.3 * mean < std < 3 * mean):
        raise RuntimeError(f"{name}: mean {mean:.4g}, std {std:.4g}; retune the weight scales")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CASES:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(CASES)}}} OUT_DIR")
    case, out = sys.argv[1], Path(sys.argv[2])
    spec = CASES[case]
    from borzoi_pytorch import Borzoi
    from borzoi_pytorch.config_borzoi import BorzoiConfig
    from safetensors.torch import save_file

    if spec["config"].get("flashed"):
        install_fake_flash_attn()

    torch.manual_seed(SEED)
    model = Borzoi(BorzoiConfig(**spec["config"]))
    randomize(model, SEED + 1)
    calibrate_batchnorm(model, spec["seq_len"], SEED + 3)
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    log(f"{case}: {params:,} parameters")
    if case != "full":
        log("state-dict keys:")
        for k, v in model.state_dict().items():
            log(f"  {k} {tuple(v.shape)} {v.dtype}")

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out / "model", max_shard_size="1000GB", safe_serialization=True)
    files = sorted(p.name for p in (out / "model").iterdir())
    if files != ["config.json", "model.safetensors"]:
        raise RuntimeError(f"save_pretrained wrote {files}, expected config.json and model.safetensors")

    x = random_sequence(spec["seq_len"], SEED + 2)
    with torch.no_grad():
        t0 = time.perf_counter()
        tracks, emb = model(x, return_embeddings=True)
        seconds = time.perf_counter() - t0
        tensors = {"onehot": x, "tracks": tracks, "embedding": emb}
        if model.enable_mouse_head:
            tensors["tracks_mouse"] = model(x, is_human=False)
    for k, v in tensors.items():
        describe(k, v)
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, str(out / "io.safetensors"))
    print(json.dumps({"case": case, "params": params, "seq_len": spec["seq_len"], "bins": tracks.shape[-1],
                      "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
