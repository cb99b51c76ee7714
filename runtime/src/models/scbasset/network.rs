//! The scBasset network (`make_model`, `make_model_bc` in calico/scBasset `scbasset/utils.py`): a convolutional tower
//! that maps a one-hot DNA sequence to a `bottleneck`-wide sequence embedding `z`, and a final cell layer whose kernel
//! columns are the cell embeddings.
//!
//! ```text
//! (B,4,L) ─ stem ConvBlock ─ tower ConvBlock × repeat ─ 1×1 ConvBlock ─ DenseBlock ─ GELU ─ z (B,bottleneck)
//! logits = z·W1 + b1                      W1 = cell_embedding (bottleneck × n_cells), b1 = cell_bias (n_cells)
//!        [+ (z·W2 + b2)[:, batch(c)]]     scBasset-BC: W2 = batch_embedding (bottleneck × n_batches), b2 = batch_bias
//! ```
//!
//! Variable names under the model's path (tch joins with `.`): `stem.…`, `tower{i}.…` (i from 0), `conv1x1.…`, `bottleneck.…`,
//! `cell_embedding`, `cell_bias`, and for the BC head `batch_embedding`, `batch_bias`.

use tch::{nn, Device, Kind, Tensor};

use super::config::ScBassetConfig;
use super::layers::{gelu, glorot_uniform, he_normal, ConvBlock, DenseBlock, Precision};
use crate::adapters::{Adaptable, AdaptableLayer};
use crate::heads::{BatchHead, CellHead, CellLayer};
use crate::models::error::{ModelError, Result};
use crate::models::{GroupKind, ModelFamily, ParameterGroup, SequenceModel};

/// An scBasset model whose variables live under an [`nn::Path`].
#[derive(Debug)]
pub struct ScBasset {
    config: ScBassetConfig,
    stem: ConvBlock,
    tower: Vec<ConvBlock>,
    conv1x1: ConvBlock,
    dense: DenseBlock,
    cells: CellLayer,
    batch_head: Option<BatchHead>,
    precision: Precision,
    device: Device,
}

impl ScBasset {
    /// Builds the plain model (no batch head), initialised as Keras: he_normal kernels (truncated normal, fan-in),
    /// the cell kernel he_normal with fan-in `bottleneck`, zero cell bias, BN gamma 1 and beta 0. Seed with
    /// `tch::manual_seed` beforehand for reproducible weights.
    pub fn new(path: &nn::Path, config: &ScBassetConfig) -> Result<Self> {
        config.validate()?;
        if config.n_batches.is_some() {
            return Err(ModelError::invalid(
                "n_batches",
                "the batch-correction head needs each cell's batch: build it with ScBasset::with_batches",
            ));
        }
        let cell_embedding = he_normal(&Self::cell_dims(config), config.bottleneck, path.device());
        Ok(Self::build(path, config, cell_embedding, None))
    }

    /// Builds scBasset-BC (`make_model_bc`) for `config.n_batches = Some(k)`; `cell_batch[c] < k` is the batch of cell
    /// `c`. Both cell-level dense layers use Keras' defaults, glorot_uniform kernels and zero biases.
    pub fn with_batches(path: &nn::Path, config: &ScBassetConfig, cell_batch: &[usize]) -> Result<Self> {
        config.validate()?;
        let Some(k) = config.n_batches else {
            return Err(ModelError::invalid("n_batches", "must be set to build the batch-correction head"));
        };
        if cell_batch.len() != config.n_cells {
            return Err(ModelError::invalid(
                "cell_batch",
                format!("has {} entries, expected one per cell (n_cells = {})", cell_batch.len(), config.n_cells),
            ));
        }
        if let Some((c, &b)) = cell_batch.iter().enumerate().find(|&(_, &b)| b >= k) {
            return Err(ModelError::invalid("cell_batch", format!("cell {c} has batch {b}, but n_batches = {k}")));
        }
        let (d, n) = (config.bottleneck, config.n_cells);
        let cell_embedding = glorot_uniform(&Self::cell_dims(config), d, n, path.device());
        let batch_head = BatchHead::new(path, d, k, cell_batch);
        Ok(Self::build(path, config, cell_embedding, Some(batch_head)))
    }

    fn cell_dims(config: &ScBassetConfig) -> [i64; 2] {
        [config.bottleneck as i64, config.n_cells as i64]
    }

    fn build(path: &nn::Path, config: &ScBassetConfig, cell_embedding: Tensor, batch_head: Option<BatchHead>) -> Self {
        let device = path.device();
        let stem = ConvBlock::new(
            &path.sub("stem"),
            4,
            config.stem_filters,
            config.stem_kernel,
            config.stem_pool,
            config.stem_pool_padding(),
        );
        let mut c_in = config.stem_filters;
        let mut tower = Vec::with_capacity(config.tower_repeat);
        for (i, width) in config.tower_widths().into_iter().enumerate() {
            let p = path.sub(format!("tower{i}"));
            tower.push(ConvBlock::new(&p, c_in, width, config.tower_kernel, config.tower_pool, 0));
            c_in = width;
        }
        let conv1x1 = ConvBlock::new(&path.sub("conv1x1"), c_in, config.conv1x1_filters, 1, 1, 0);
        let dense = DenseBlock::new(&path.sub("bottleneck"), config.flatten_dim(), config.bottleneck, config.dropout);
        let cells = CellLayer::new(path, cell_embedding);
        ScBasset {
            config: config.clone(),
            stem,
            tower,
            conv1x1,
            dense,
            cells,
            batch_head,
            precision: Precision::F32,
            device,
        }
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &ScBassetConfig {
        &self.config
    }

    /// The device holding the variables.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Precision of the convolution and bottleneck matrix products (fp32 by default).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Switches the compute precision; the stored weights stay fp32 either way.
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// `(B, L)` base codes (A=0, C=1, G=2, T=3; UInt8, Int8, Int32 or Int64) → `(B, 4, L)` fp32 one-hot on the
    /// codes' device.
    pub fn one_hot(codes: &Tensor) -> Result<Tensor> {
        crate::models::one_hot(codes)
    }

    /// Logits `(B, n_cells)` from base codes `(B, seq_len)`: [`one_hot`](Self::one_hot) then
    /// [`forward_onehot`](Self::forward_onehot).
    ///
    /// # Panics
    /// If `codes` is not a `(B, seq_len)` integer tensor with values in 0..4; [`try_forward_codes`](Self::try_forward_codes)
    /// returns these as errors.
    pub fn forward_codes(&self, codes: &Tensor, train: bool) -> Tensor {
        self.try_forward_codes(codes, train).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`forward_codes`](Self::forward_codes) with input problems reported as errors.
    pub fn try_forward_codes(&self, codes: &Tensor, train: bool) -> Result<Tensor> {
        let x = Self::one_hot(codes)?;
        self.check_onehot(&x)?;
        Ok(self.forward_onehot(&x, train))
    }

    /// Checks that `x` is a `(B, 4, seq_len)` fp32 tensor.
    pub fn check_onehot(&self, x: &Tensor) -> Result<()> {
        let size = x.size();
        if size.len() != 3 || size[1] != 4 || size[2] != self.config.seq_len as i64 {
            return Err(ModelError::shape(
                "one-hot input",
                format!("expected (batch, 4, {}), got {size:?}", self.config.seq_len),
            ));
        }
        if x.kind() != Kind::Float {
            return Err(ModelError::shape("one-hot input", format!("expected Float, got {:?}", x.kind())));
        }
        Ok(())
    }

    /// Logits `(B, n_cells)` from a `(B, 4, seq_len)` fp32 one-hot (possibly augmented, with 0.25 padding).
    /// `train` selects batch statistics (and updates the BN moving averages) and enables dropout.
    pub fn forward_onehot(&self, x: &Tensor, train: bool) -> Tensor {
        self.logits_from_embedding(&self.embed(x, train))
    }

    /// The sequence embedding `z` `(B, bottleneck)`: the output of the GELU after the bottleneck block.
    pub fn embed(&self, x: &Tensor, train: bool) -> Tensor {
        let p = self.precision;
        let mut h = self.stem.forward_t(x, train, p);
        for block in &self.tower {
            h = block.forward_t(&h, train, p);
        }
        h = self.conv1x1.forward_t(&h, train, p);
        gelu(&self.dense.forward_t(&h, train, p))
    }

    /// Full logits from `z`: the cell path plus, for scBasset-BC, the batch path.
    pub fn logits_from_embedding(&self, z: &Tensor) -> Tensor {
        let logits = self.cell_logits(z);
        match &self.batch_head {
            None => logits,
            Some(head) => logits + head.logits(z),
        }
    }

    /// The cell path alone, `z·W1 + b1` (what Keras' `imputation_Y(bc_model=True)` returns before the sigmoid).
    pub fn cell_logits(&self, z: &Tensor) -> Tensor {
        self.cells.logits(z, false)
    }

    /// Cell embeddings `(n_cells, bottleneck)`: the final kernel transposed (`get_cell_embedding`), detached.
    pub fn cell_embeddings(&self) -> Tensor {
        self.cells.embeddings()
    }

    /// Per-cell intercepts `(n_cells)` (`get_intercept`), detached.
    pub fn intercept(&self) -> Tensor {
        self.cells.bias.detach()
    }

    /// The batch-correction head, when built with [`with_batches`](Self::with_batches).
    pub fn batch_head(&self) -> Option<&BatchHead> {
        self.batch_head.as_ref()
    }

    /// Keras' L2 regularisation of scBasset-BC: `l2_cells·ΣW1² + l2_batches·ΣW2²` (sums, not means), a scalar to
    /// add to the mean BCE. Without a batch head only the first term is present.
    pub fn l2_penalty(&self, l2_cells: f64, l2_batches: f64) -> Tensor {
        let mut penalty = self.cells.kernel.square().sum(Kind::Float) * l2_cells;
        if let Some(head) = &self.batch_head {
            penalty += head.embedding.square().sum(Kind::Float) * l2_batches;
        }
        penalty
    }

    /// The convolution blocks in order: stem, tower blocks, 1×1 block.
    pub fn conv_blocks(&self) -> impl Iterator<Item = &ConvBlock> {
        std::iter::once(&self.stem).chain(self.tower.iter()).chain(std::iter::once(&self.conv1x1))
    }

    /// The bottleneck dense block.
    pub fn dense_block(&self) -> &DenseBlock {
        &self.dense
    }

    /// Layer names in order, as used for LoRA targets: `stem`, `tower0` …, `conv1x1`, `bottleneck`.
    pub fn layer_names(&self) -> Vec<String> {
        let mut names = vec!["stem".to_string()];
        names.extend((0..self.tower.len()).map(|i| format!("tower{i}")));
        names.push("conv1x1".into());
        names.push("bottleneck".into());
        names
    }

    /// Mutable convolution blocks with their names (stem, tower blocks, 1×1 block).
    pub fn conv_blocks_mut(&mut self) -> Vec<(String, &mut ConvBlock)> {
        let names = self.layer_names();
        std::iter::once(&mut self.stem)
            .chain(self.tower.iter_mut())
            .chain(std::iter::once(&mut self.conv1x1))
            .enumerate()
            .map(|(i, b)| (names[i].clone(), b))
            .collect()
    }

    /// The bottleneck dense block, mutable.
    pub fn dense_block_mut(&mut self) -> &mut DenseBlock {
        &mut self.dense
    }

    /// Replaces the per-cell layer (e.g. by weights a cell-state decoder produced): `embedding` `(bottleneck,
    /// n_cells)` and `bias` `(n_cells)` are copied into the model's variables.
    pub fn set_cell_layer(&mut self, embedding: &Tensor, bias: &Tensor) -> Result<()> {
        let (kernel, own_bias) = (&mut self.cells.kernel, &mut self.cells.bias);
        if embedding.size() != kernel.size() || bias.size() != own_bias.size() {
            return Err(ModelError::shape(
                "cell layer",
                format!(
                    "expected {:?} and {:?}, got {:?} and {:?}",
                    kernel.size(),
                    own_bias.size(),
                    embedding.size(),
                    bias.size()
                ),
            ));
        }
        tch::no_grad(|| {
            kernel.copy_(&embedding.to_device(self.device).to_kind(Kind::Float));
            own_bias.copy_(&bias.to_device(self.device).to_kind(Kind::Float));
        });
        Ok(())
    }

    /// The trunk's tensors (everything but the cell and batch layers): kernels, BN parameters and statistics.
    pub fn trunk_tensors(&self) -> Vec<Tensor> {
        let mut v = Vec::new();
        for b in
            self.conv_blocks().map(|b| (&b.weight, &b.bn)).chain(std::iter::once((&self.dense.weight, &self.dense.bn)))
        {
            v.push(b.0.shallow_clone());
            v.extend(b.1.ws.iter().chain(b.1.bs.iter()).map(Tensor::shallow_clone));
            v.push(b.1.running_mean.shallow_clone());
            v.push(b.1.running_var.shallow_clone());
        }
        v
    }

    /// The cell layer's tensors: kernel `(bottleneck, n_cells)` and bias.
    pub fn cell_layer(&self) -> (Tensor, Tensor) {
        (self.cells.kernel.shallow_clone(), self.cells.bias.shallow_clone())
    }

    /// Every trainable tensor (kernels, BN gamma/beta, cell and batch layers), sharing storage with the model.
    pub fn trainable_parameters(&self) -> Vec<Tensor> {
        let mut params: Vec<Tensor> = self.conv_blocks().flat_map(ConvBlock::trainable).collect();
        params.extend(self.dense.trainable());
        params.extend(self.head_parameters().into_iter().map(|(_, t)| t));
        params
    }

    /// Number of trainable scalars: 4,513,960 + 33·n_cells for the published Keras model.
    pub fn trainable_parameter_count(&self) -> usize {
        self.trainable_parameters().iter().map(|t| t.numel()).sum()
    }

    /// The per-cell layer.
    pub fn cell_head(&self) -> &CellLayer {
        &self.cells
    }

    fn head_parameters(&self) -> Vec<(String, Tensor)> {
        let mut params = self.cells.parameters();
        if let Some(head) = &self.batch_head {
            params.extend(head.parameters());
        }
        params
    }

    /// The trunk's trainable tensors by variable name (`stem.conv.weight`, `stem.bn.weight`, …).
    fn trunk_parameters(&self) -> Vec<(String, Tensor)> {
        self.trunk_state()
            .into_iter()
            .filter(|(n, _)| !n.ends_with("running_mean") && !n.ends_with("running_var"))
            .collect()
    }

    /// The trunk's tensors by variable name, batch-norm statistics included.
    fn trunk_state(&self) -> Vec<(String, Tensor)> {
        let names = self.layer_names();
        let blocks = self.conv_blocks().map(|b| (&b.weight, &b.bn, "conv")).chain(std::iter::once((
            &self.dense.weight,
            &self.dense.bn,
            "linear",
        )));
        let mut out = Vec::new();
        for (name, (weight, bn, kind)) in names.iter().zip(blocks) {
            out.push((format!("{name}.{kind}.weight"), weight.shallow_clone()));
            for (suffix, t) in [("weight", bn.ws.as_ref()), ("bias", bn.bs.as_ref())] {
                if let Some(t) = t {
                    out.push((format!("{name}.bn.{suffix}"), t.shallow_clone()));
                }
            }
            out.push((format!("{name}.bn.running_mean"), bn.running_mean.shallow_clone()));
            out.push((format!("{name}.bn.running_var"), bn.running_var.shallow_clone()));
        }
        out
    }

    /// The adapters by name (`lora.<layer>.lora_a`, `lora.<layer>.lora_b`).
    fn adapter_parameters(&self) -> Vec<(String, Tensor)> {
        let names = self.layer_names();
        let slots = self.conv_blocks().map(|b| b.lora.as_ref()).chain(std::iter::once(self.dense.lora.as_ref()));
        let mut out = Vec::new();
        for (name, lora) in names.iter().zip(slots) {
            if let Some(l) = lora {
                out.push((format!("lora.{name}.lora_a"), l.a.shallow_clone()));
                out.push((format!("lora.{name}.lora_b"), l.b.shallow_clone()));
            }
        }
        out
    }
}

impl SequenceModel for ScBasset {
    fn family(&self) -> ModelFamily {
        ModelFamily::ScBasset
    }

    fn device(&self) -> Device {
        self.device
    }

    fn seq_len(&self) -> usize {
        self.config.seq_len
    }

    fn embedding_dim(&self) -> usize {
        self.config.bottleneck
    }

    fn embed(&self, onehot: &Tensor, train: bool) -> Tensor {
        ScBasset::embed(self, onehot, train)
    }

    fn parameter_groups(&self) -> Vec<ParameterGroup> {
        let mut groups = vec![ParameterGroup { kind: GroupKind::Trunk, tensors: self.trunk_parameters() }];
        let adapters = self.adapter_parameters();
        if !adapters.is_empty() {
            groups.push(ParameterGroup { kind: GroupKind::Adapters, tensors: adapters });
        }
        groups.push(ParameterGroup { kind: GroupKind::Head, tensors: self.head_parameters() });
        groups
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut state = self.trunk_state();
        state.extend(self.adapter_parameters());
        state.extend(self.head_parameters());
        state
    }

    fn summary(&self) -> String {
        super::summary::render_text(&super::summary::layer_table(self))
    }
}

/// The full scBasset head: the cell layer plus, for scBasset-BC, the batch path.
impl CellHead for ScBasset {
    fn n_cells(&self) -> usize {
        self.config.n_cells
    }

    fn logits(&self, z: &Tensor, _train: bool) -> Tensor {
        self.logits_from_embedding(z)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        self.head_parameters()
    }
}

impl Adaptable for ScBasset {
    fn adaptable_layers(&mut self) -> Vec<AdaptableLayer<'_>> {
        let names = self.layer_names();
        let convs =
            std::iter::once(&mut self.stem).chain(self.tower.iter_mut()).chain(std::iter::once(&mut self.conv1x1));
        let mut out: Vec<AdaptableLayer<'_>> = convs
            .zip(&names)
            .map(|(b, name)| AdaptableLayer { name: name.clone(), weight: &mut b.weight, lora: &mut b.lora })
            .collect();
        out.push(AdaptableLayer {
            name: "bottleneck".into(),
            weight: &mut self.dense.weight,
            lora: &mut self.dense.lora,
        });
        out
    }
}
