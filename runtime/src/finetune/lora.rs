//! LoRA on scBasset (scooby's use of peft: `get_lora` in gagneurlab/scooby `scooby/utils/utils.py`): adapters on the
//! convolution blocks and the bottleneck dense layer, `y = W x + (α/r)·B(A x)`, A kaiming-uniform (a = √5, i.e.
//! U(±1/√fan_in)), B zero, so a freshly adapted model computes exactly what the base computes. Merging adds
//! `ΔW = (α/r)·Σ_r B[o,r]·A[r,i,t]` to `W`.

use tch::{nn, Device, Kind, Tensor};

use crate::error::{Result, RuntimeError};
use crate::model::layers::Lora;
use crate::model::ScBasset;

/// Adapter settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    /// Layer-name patterns (`*` matches any run of characters), e.g. `["tower*", "bottleneck"]`; layers are
    /// `stem`, `tower0` …, `conv1x1`, `bottleneck`.
    pub targets: Vec<String>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig { rank: 8, alpha: 8.0, targets: vec!["*".into()] }
    }
}

/// Whether `name` matches a glob `pattern` with `*` wildcards.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(k) => rest = &rest[k + part.len()..],
                None => return false,
            }
        }
    }
    true
}

fn kaiming_uniform(dims: &[i64], fan_in: i64, device: Device) -> Tensor {
    let bound = 1.0 / (fan_in as f64).sqrt();
    tch::no_grad(|| Tensor::zeros(dims, (Kind::Float, device)).uniform_(-bound, bound))
}

/// Adds adapters to the layers matching `config.targets`, their variables under `path` (`<layer>.lora_a`,
/// `<layer>.lora_b`). Returns the adapted layer names. Seed with `tch::manual_seed` for reproducible A.
pub fn attach_lora(model: &mut ScBasset, path: &nn::Path, config: &LoraConfig) -> Result<Vec<String>> {
    if config.rank == 0 {
        return Err(RuntimeError::invalid("rank", "must be at least 1"));
    }
    if !(config.alpha.is_finite() && config.alpha > 0.0) {
        return Err(RuntimeError::invalid("alpha", "must be a positive number"));
    }
    let names = model.layer_names();
    for t in &config.targets {
        if !names.iter().any(|n| glob_match(t, n)) {
            return Err(RuntimeError::invalid("targets", format!("`{t}` matches no layer; the layers are {}", names.join(", "))));
        }
    }
    let wanted = |n: &str| config.targets.iter().any(|t| glob_match(t, n));
    let r = config.rank as i64;
    let scaling = config.alpha / config.rank as f64;
    let device = path.device();
    let mut adapted = Vec::new();
    for (name, block) in model.conv_blocks_mut() {
        if !wanted(&name) {
            continue;
        }
        if block.lora.is_some() {
            return Err(RuntimeError::invalid("targets", format!("layer {name} already has an adapter")));
        }
        let s = block.weight.size();
        let (c_out, c_in, k) = (s[0], s[1], s[2]);
        let p = path.sub(name.as_str());
        let a = p.add("lora_a", kaiming_uniform(&[r, c_in, k], c_in * k, device), true);
        let b = p.add("lora_b", Tensor::zeros([c_out, r, 1], (Kind::Float, device)), true);
        block.lora = Some(Lora { a, b, scaling, merged: false });
        adapted.push(name);
    }
    if wanted("bottleneck") {
        let dense = model.dense_block_mut();
        let s = dense.weight.size();
        let p = path.sub("bottleneck");
        let a = p.add("lora_a", kaiming_uniform(&[r, s[1]], s[1], device), true);
        let b = p.add("lora_b", Tensor::zeros([s[0], r], (Kind::Float, device)), true);
        dense.lora = Some(Lora { a, b, scaling, merged: false });
        adapted.push("bottleneck".into());
    }
    Ok(adapted)
}

fn for_each_adapter(model: &mut ScBasset, mut f: impl FnMut(&mut Tensor, &mut Lora)) {
    for (_, block) in model.conv_blocks_mut() {
        if let Some(l) = block.lora.as_mut() {
            f(&mut block.weight, l);
        }
    }
    let dense = model.dense_block_mut();
    if let Some(l) = dense.lora.as_mut() {
        f(&mut dense.weight, l);
    }
}

/// Folds every adapter into its layer's weight (`W += ΔW`); the adapters stay attached, marked merged.
pub fn merge_lora(model: &mut ScBasset) -> usize {
    let mut n = 0;
    for_each_adapter(model, |w, l| {
        if !l.merged {
            tch::no_grad(|| {
                let _ = w.f_add_(&l.delta());
            });
            l.merged = true;
            n += 1;
        }
    });
    n
}

/// Undoes [`merge_lora`] (`W −= ΔW`).
pub fn unmerge_lora(model: &mut ScBasset) -> usize {
    let mut n = 0;
    for_each_adapter(model, |w, l| {
        if l.merged {
            tch::no_grad(|| {
                let _ = w.f_sub_(&l.delta());
            });
            l.merged = false;
            n += 1;
        }
    });
    n
}

/// Stops gradients for the trunk (kernels, BN parameters) so that only adapters and the head train.
pub fn freeze_trunk(model: &ScBasset) {
    for t in model.trunk_tensors() {
        let _ = t.set_requires_grad(false);
    }
}

/// Adapter tensors by variable name (`<layer>.lora_a`, `<layer>.lora_b`), sharing storage with the model.
pub fn adapter_tensors(model: &mut ScBasset) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    let mut push = |name: &str, l: &Lora| {
        out.push((format!("{name}.lora_a"), l.a.shallow_clone()));
        out.push((format!("{name}.lora_b"), l.b.shallow_clone()));
    };
    for (name, block) in model.conv_blocks_mut() {
        if let Some(l) = &block.lora {
            push(&name, l);
        }
    }
    if let Some(l) = &model.dense_block_mut().lora {
        push("bottleneck", l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ScBassetConfig;

    fn model() -> (nn::VarStore, ScBasset) {
        let _rng = crate::model::torch_rng_lock();
        tch::manual_seed(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = ScBasset::new(&vs.root(), &ScBassetConfig::tiny(6)).unwrap();
        (vs, net)
    }

    fn codes() -> Tensor {
        Tensor::randint(4, [5, 336], (Kind::Int64, Device::Cpu))
    }

    #[test]
    fn globs() {
        assert!(glob_match("tower*", "tower3") && glob_match("*", "stem") && glob_match("*1x1", "conv1x1") && glob_match("t*r*", "tower0"));
        assert!(!glob_match("tower*", "stem") && !glob_match("tower", "tower0"));
    }

    #[test]
    fn zero_b_starts_at_the_base_and_merge_matches_unmerged() {
        let (_vs, mut net) = model();
        let x = codes();
        let base = net.forward_codes(&x, false);
        let lvs = nn::VarStore::new(Device::Cpu);
        let names = attach_lora(&mut net, &lvs.root(), &LoraConfig { rank: 3, alpha: 6.0, targets: vec!["*".into()] }).unwrap();
        assert_eq!(names, ["stem", "tower0", "tower1", "tower2", "tower3", "conv1x1", "bottleneck"]);
        assert!(net.forward_codes(&x, false).equal(&base), "B = 0: exactly the base outputs");
        // Random B: the adapted model differs; merged equals unmerged; unmerge restores the weights.
        tch::no_grad(|| {
            for (_, mut t) in lvs.variables() {
                t.copy_(&(Tensor::randn(t.size(), (Kind::Float, Device::Cpu)) * 0.05));
            }
        });
        let adapted = net.forward_codes(&x, false);
        assert!(f64::try_from((&adapted - &base).abs().max()).unwrap() > 1e-3);
        let w0 = net.conv_blocks().nth(1).unwrap().weight.copy();
        assert_eq!(merge_lora(&mut net), 7);
        let merged = net.forward_codes(&x, false);
        let err = f64::try_from((&merged - &adapted).abs().max()).unwrap();
        assert!(err < 1e-5, "merged vs unmerged {err}");
        assert_eq!(unmerge_lora(&mut net), 7);
        let back = f64::try_from((&net.conv_blocks().nth(1).unwrap().weight - &w0).abs().max()).unwrap();
        assert!(back < 1e-6, "{back}");
        assert_eq!(adapter_tensors(&mut net).len(), 14);
        let e = attach_lora(&mut net, &lvs.root(), &LoraConfig { targets: vec!["nope*".into()], ..LoraConfig::default() }).unwrap_err();
        assert!(e.to_string().contains("stem, tower0"), "{e}");
    }

    #[test]
    fn k_greater_than_one_delta_is_the_sum_over_rank() {
        let a = Tensor::randn([2, 3, 5], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([4, 2, 1], (Kind::Float, Device::Cpu));
        let l = Lora { a: a.shallow_clone(), b: b.shallow_clone(), scaling: 0.5, merged: false };
        let d = l.delta();
        let (o, i, t) = (3i64, 1i64, 4i64);
        let expect: f64 = (0..2).map(|r| b.double_value(&[o, r, 0]) * a.double_value(&[r, i, t])).sum::<f64>() * 0.5;
        assert!((d.double_value(&[o, i, t]) - expect).abs() < 1e-6);
    }
}
