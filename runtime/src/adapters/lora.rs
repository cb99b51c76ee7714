//! LoRA (Hu et al. 2021) as scooby uses it through peft (gagneurlab/scooby: `peft.LoraConfig(r=8, lora_alpha=8)` on
//! the Borzoi convolutions and attention/MLP linears): adapters `y = W x + (α/r)·B(A x)`, A kaiming-uniform
//! (a = √5, i.e. U(±1/√fan_in)), B zero, so a freshly adapted model computes exactly what the base computes. Merging
//! adds `ΔW = (α/r)·Σ_r B[o,r]·A[r,i,t]` to `W`.
//!
//! Any network whose layers implement [`Adaptable`] can be adapted; the network's forward pass applies
//! [`Lora::apply_conv`] / [`Lora::apply_linear`] where a layer carries an unmerged adapter.

use tch::{nn, Device, Kind, Tensor};

use crate::error::{Result, RuntimeError};

/// A low-rank adapter on a convolution or linear layer (peft's parameterisation, as scooby uses it):
/// `y = W x + s·B(A x)` with `s = alpha / rank`. For a convolution `A` is a conv with the layer's kernel, stride and
/// padding into `rank` channels `(r, C_in, k)` and `B` a 1×1 conv `(C_out, r, 1)`; for a linear layer `A` is
/// `(r, in)` and `B` `(out, r)`. While `merged`, `ΔW = s·Σ_r B[o,r]·A[r,i,t]` has been added to `W` and the adapter
/// path is skipped.
#[derive(Debug)]
pub struct Lora {
    pub a: Tensor,
    pub b: Tensor,
    pub scaling: f64,
    pub merged: bool,
}

impl Lora {
    /// The adapter path of a convolution with the layer's `padding` (stride 1): `s·B(A x)`, in `kind`.
    pub fn apply_conv(&self, x: &Tensor, padding: i64, kind: Kind) -> Tensor {
        let low = x.conv1d::<Tensor>(&self.a.to_kind(kind), None, [1], [padding], [1], 1);
        low.conv1d::<Tensor>(&self.b.to_kind(kind), None, [1], [0], [1], 1) * self.scaling
    }

    /// The adapter path of a linear layer: `s·B(A x)`, in `kind`.
    pub fn apply_linear(&self, x: &Tensor, kind: Kind) -> Tensor {
        x.linear::<Tensor>(&self.a.to_kind(kind), None).linear::<Tensor>(&self.b.to_kind(kind), None) * self.scaling
    }

    /// `ΔW` in the layer's weight layout: `(C_out, C_in, k)` for a conv (`a` 3-D), `(out, in)` for a linear.
    pub fn delta(&self) -> Tensor {
        tch::no_grad(|| {
            if self.a.dim() == 3 {
                let (r, c_in, k) = (self.a.size()[0], self.a.size()[1], self.a.size()[2]);
                let b = self.b.reshape([-1, r]);
                b.matmul(&self.a.reshape([r, c_in * k])).reshape([-1, c_in, k]) * self.scaling
            } else {
                self.b.matmul(&self.a) * self.scaling
            }
        })
    }
}

/// A layer that can carry an adapter: its weight (`(C_out, C_in, k)` for a convolution, `(out, in)` for a linear
/// layer) and its adapter slot.
pub struct AdaptableLayer<'a> {
    /// Layer name, e.g. `tower0`.
    pub name: String,
    /// The layer's weight.
    pub weight: &'a mut Tensor,
    /// The adapter, if attached.
    pub lora: &'a mut Option<Lora>,
}

/// A network with named layers that LoRA can adapt.
pub trait Adaptable {
    /// The adaptable layers in order.
    fn adaptable_layers(&mut self) -> Vec<AdaptableLayer<'_>>;
}

/// Adapter settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    /// Layer-name patterns (`*` matches any run of characters), e.g. `["tower*", "bottleneck"]`; for scBasset the
    /// layers are `stem`, `tower0` …, `conv1x1`, `bottleneck`.
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
pub fn attach_lora(model: &mut dyn Adaptable, path: &nn::Path, config: &LoraConfig) -> Result<Vec<String>> {
    if config.rank == 0 {
        return Err(RuntimeError::invalid("rank", "must be at least 1"));
    }
    if !(config.alpha.is_finite() && config.alpha > 0.0) {
        return Err(RuntimeError::invalid("alpha", "must be a positive number"));
    }
    let mut layers = model.adaptable_layers();
    let names: Vec<String> = layers.iter().map(|l| l.name.clone()).collect();
    for t in &config.targets {
        if !names.iter().any(|n| glob_match(t, n)) {
            return Err(RuntimeError::invalid(
                "targets",
                format!("`{t}` matches no layer; the layers are {}", names.join(", ")),
            ));
        }
    }
    let r = config.rank as i64;
    let scaling = config.alpha / config.rank as f64;
    let device = path.device();
    let mut adapted = Vec::new();
    for layer in layers.iter_mut().filter(|l| config.targets.iter().any(|t| glob_match(t, &l.name))) {
        if layer.lora.is_some() {
            return Err(RuntimeError::invalid("targets", format!("layer {} already has an adapter", layer.name)));
        }
        let s = layer.weight.size();
        // dotted module names (`res_tower.0.conv_layer`) become nested paths: variables `<layer>.lora_a`
        let p = layer.name.split('.').fold(path.clone(), |p, part| p.sub(part));
        let (a, b) = if s.len() == 3 {
            let (c_out, c_in, k) = (s[0], s[1], s[2]);
            (kaiming_uniform(&[r, c_in, k], c_in * k, device), Tensor::zeros([c_out, r, 1], (Kind::Float, device)))
        } else {
            (kaiming_uniform(&[r, s[1]], s[1], device), Tensor::zeros([s[0], r], (Kind::Float, device)))
        };
        let a = p.add("lora_a", a, true);
        let b = p.add("lora_b", b, true);
        *layer.lora = Some(Lora { a, b, scaling, merged: false });
        adapted.push(layer.name.clone());
    }
    Ok(adapted)
}

fn for_each_adapter(model: &mut dyn Adaptable, mut f: impl FnMut(&mut Tensor, &mut Lora)) {
    for layer in model.adaptable_layers() {
        if let Some(l) = layer.lora.as_mut() {
            f(layer.weight, l);
        }
    }
}

/// Folds every adapter into its layer's weight (`W += ΔW`); the adapters stay attached, marked merged.
pub fn merge_lora(model: &mut dyn Adaptable) -> usize {
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
pub fn unmerge_lora(model: &mut dyn Adaptable) -> usize {
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

/// Adapter tensors by variable name (`<layer>.lora_a`, `<layer>.lora_b`), sharing storage with the model.
pub fn adapter_tensors(model: &mut dyn Adaptable) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for layer in model.adaptable_layers() {
        if let Some(l) = layer.lora.as_ref() {
            out.push((format!("{}.lora_a", layer.name), l.a.shallow_clone()));
            out.push((format!("{}.lora_b", layer.name), l.b.shallow_clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::scbasset::{ScBasset, ScBassetConfig};

    fn model() -> (nn::VarStore, ScBasset) {
        let _rng = crate::testing::torch_rng_lock();
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
        assert!(
            glob_match("tower*", "tower3")
                && glob_match("*", "stem")
                && glob_match("*1x1", "conv1x1")
                && glob_match("t*r*", "tower0")
        );
        assert!(!glob_match("tower*", "stem") && !glob_match("tower", "tower0"));
    }

    #[test]
    fn zero_b_starts_at_the_base_and_merge_matches_unmerged() {
        let (_vs, mut net) = model();
        let x = codes();
        let base = net.forward_codes(&x, false);
        let lvs = nn::VarStore::new(Device::Cpu);
        let names =
            attach_lora(&mut net, &lvs.root(), &LoraConfig { rank: 3, alpha: 6.0, targets: vec!["*".into()] }).unwrap();
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
        let e =
            attach_lora(&mut net, &lvs.root(), &LoraConfig { targets: vec!["nope*".into()], ..LoraConfig::default() })
                .unwrap_err();
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
