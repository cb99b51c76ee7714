//! Training-time augmentation of scBasset (`StochasticReverseComplement`, `StochasticShift(3)` in calico/scBasset
//! `scbasset/basenji_utils.py`, applied by `make_model`): a reverse complement with probability 1/2 and a shift drawn
//! uniformly from `{−max_shift, …, max_shift}`, both drawn **once per minibatch** and applied to the whole batch.
//! Vacated positions are filled with [`SHIFT_PAD_VALUE`] on all four channels.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

/// Value written into every channel of the positions a shift vacates.
pub const SHIFT_PAD_VALUE: f64 = 0.25;

/// One minibatch's augmentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Augmentation {
    /// Reverse complement: channels A,C,G,T → T,G,C,A and positions reversed. Applied before the shift.
    pub reverse_complement: bool,
    /// `out[i] = in[i − shift]`: positive shifts move the sequence right (padding at the start), negative ones left
    /// (padding at the end).
    pub shift: i64,
}

impl Augmentation {
    /// No change.
    pub const IDENTITY: Augmentation = Augmentation { reverse_complement: false, shift: 0 };

    /// Applies the augmentation to a `(B, 4, L)` one-hot in A,C,G,T channel order, on the tensor's device.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let x = if self.reverse_complement { x.flip([1, 2]) } else { x.shallow_clone() };
        shift_sequence(&x, self.shift)
    }
}

/// `out[..., i] = x[..., i − shift]` along the last axis, [`SHIFT_PAD_VALUE`] where `i − shift` is out of range.
pub fn shift_sequence(x: &Tensor, shift: i64) -> Tensor {
    if shift == 0 {
        return x.shallow_clone();
    }
    let mut size = x.size();
    let len = *size.last().expect("shift_sequence needs at least one dimension");
    let s = shift.abs().min(len);
    *size.last_mut().unwrap() = s;
    let pad = Tensor::full(size.as_slice(), SHIFT_PAD_VALUE, (x.kind(), x.device()));
    if shift > 0 {
        Tensor::cat(&[pad, x.narrow(-1, 0, len - s)], -1)
    } else {
        Tensor::cat(&[x.narrow(-1, s, len - s), pad], -1)
    }
}

/// Draws [`Augmentation`]s from a seeded ChaCha8 generator.
#[derive(Clone, Debug)]
pub struct Augmenter {
    rng: ChaCha8Rng,
    reverse_complement: bool,
    max_shift: i64,
}

impl Augmenter {
    /// scBasset's augmentation: reverse complement with p = 1/2, shift in {−3, …, 3}.
    pub fn new(seed: u64) -> Self {
        Self::with_options(seed, true, 3)
    }

    /// Custom augmentation: `reverse_complement` enables the flip, shifts are drawn from `{−max_shift, …, max_shift}`.
    pub fn with_options(seed: u64, reverse_complement: bool, max_shift: u32) -> Self {
        Augmenter { rng: ChaCha8Rng::seed_from_u64(seed), reverse_complement, max_shift: max_shift as i64 }
    }

    /// The next minibatch's augmentation: first the reverse-complement coin, then the shift.
    pub fn draw(&mut self) -> Augmentation {
        let reverse_complement = self.reverse_complement && self.rng.random_bool(0.5);
        let shift = if self.max_shift > 0 { self.rng.random_range(-self.max_shift..=self.max_shift) } else { 0 };
        Augmentation { reverse_complement, shift }
    }

    /// Draws an augmentation and applies it to the `(B, 4, L)` one-hot `x`.
    pub fn augment(&mut self, x: &Tensor) -> (Tensor, Augmentation) {
        let a = self.draw();
        (a.apply(x), a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    /// `(B, 4, L)` one-hot of a code matrix, for tests and small examples.
    fn one_hot_rows(rows: &[&[i64]]) -> Tensor {
        let l = rows[0].len() as i64;
        let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_slice(&flat).view([rows.len() as i64, l]).one_hot(4).permute([0, 2, 1]).to_kind(Kind::Float)
    }

    /// Reads back `(B,4,L)` as per-sequence rows of per-position `[A,C,G,T]` values.
    fn positions(x: &Tensor) -> Vec<Vec<[f32; 4]>> {
        let x = x.permute([0, 2, 1]).contiguous();
        let (b, l) = (x.size()[0], x.size()[1]);
        let v: Vec<f32> = Vec::try_from(x.flatten(0, -1)).unwrap();
        (0..b as usize)
            .map(|i| (0..l as usize).map(|p| v[(i * l as usize + p) * 4..][..4].try_into().unwrap()).collect())
            .collect()
    }

    const A: [f32; 4] = [1., 0., 0., 0.];
    const C: [f32; 4] = [0., 1., 0., 0.];
    const G: [f32; 4] = [0., 0., 1., 0.];
    const T: [f32; 4] = [0., 0., 0., 1.];
    const PAD: [f32; 4] = [0.25; 4];

    #[test]
    fn reverse_complement_flips_channels_and_positions() {
        // AACG → reverse complement CGTT; second row TGCA is its own reverse complement
        let x = one_hot_rows(&[&[0, 0, 1, 2], &[3, 2, 1, 0]]);
        let y = Augmentation { reverse_complement: true, shift: 0 }.apply(&x);
        assert_eq!(positions(&y), vec![vec![C, G, T, T], vec![T, G, C, A]]);
    }

    #[test]
    fn shifts_pad_with_quarter() {
        let x = one_hot_rows(&[&[0, 1, 2, 3, 0]]); // ACGTA
        let right = Augmentation { reverse_complement: false, shift: 2 }.apply(&x);
        assert_eq!(positions(&right), vec![vec![PAD, PAD, A, C, G]]);
        let left = Augmentation { reverse_complement: false, shift: -3 }.apply(&x);
        assert_eq!(positions(&left), vec![vec![T, A, PAD, PAD, PAD]]);
        let all = shift_sequence(&x, 9);
        assert_eq!(positions(&all), vec![vec![PAD; 5]]);
        assert!(Augmentation::IDENTITY.apply(&x).equal(&x));
    }

    #[test]
    fn reverse_complement_happens_before_shift() {
        let x = one_hot_rows(&[&[0, 0, 1, 2]]); // AACG → CGTT → shift 1 → PAD C G T
        let y = Augmentation { reverse_complement: true, shift: 1 }.apply(&x);
        assert_eq!(positions(&y), vec![vec![PAD, C, G, T]]);
    }

    #[test]
    fn draws_are_seeded_and_cover_the_range() {
        let draws = |seed| {
            let mut a = Augmenter::new(seed);
            (0..2000).map(|_| a.draw()).collect::<Vec<_>>()
        };
        let d = draws(5);
        assert_eq!(d, draws(5));
        assert_ne!(d, draws(6));
        for s in -3..=3 {
            let n = d.iter().filter(|a| a.shift == s).count();
            assert!((200..380).contains(&n), "shift {s} drawn {n} times of 2000");
        }
        let rc = d.iter().filter(|a| a.reverse_complement).count();
        assert!((900..1100).contains(&rc), "{rc} reverse complements of 2000");
        assert!(d.iter().all(|a| (-3..=3).contains(&a.shift)));
        let mut off = Augmenter::with_options(1, false, 0);
        assert!((0..50).all(|_| off.draw() == Augmentation::IDENTITY));
    }

    #[test]
    fn augment_applies_the_drawn_augmentation() {
        let x = one_hot_rows(&[&[0, 1, 2, 3, 3, 1, 0, 2]]);
        let mut aug = Augmenter::new(42);
        for _ in 0..20 {
            let (y, a) = aug.augment(&x);
            assert!(y.equal(&a.apply(&x)));
            assert_eq!(y.size(), x.size());
        }
    }
}
