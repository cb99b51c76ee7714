//! Train / validation / test split over peaks (cells are never split), seeded.
//!
//! Follows the Keras original's `split_train_test_val` shape: a random `1 − train_fraction` share of peaks is held
//! out, of which half is validation and the rest test; train ids are sorted, the held-out sets keep draw order.
//! (The original draws with NumPy's `RandomState(10)`; we use a seeded ChaCha8 stream, so the same seed gives a
//! different — but equally random — partition than NumPy would.)

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, RuntimeError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
    pub seed: u64,
}

impl Split {
    /// `held_out = floor(n · (1 − train_fraction))`, `val = floor(held_out / 2)`, test = the rest.
    pub fn new(n_peaks: usize, train_fraction: f64, seed: u64) -> Result<Split> {
        if !(0.0..=1.0).contains(&train_fraction) || train_fraction.is_nan() {
            return Err(RuntimeError::invalid("train_fraction", format!("must be within 0..1, got {train_fraction}")));
        }
        // the small epsilon keeps 1000 × (1 − 0.9) = 99.999… at 100
        let held = ((n_peaks as f64) * (1.0 - train_fraction) + 1e-9).floor() as usize;
        let mut ids: Vec<usize> = (0..n_peaks).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        ids.shuffle(&mut rng);
        let held_out: Vec<usize> = ids[..held].to_vec();
        let mut train: Vec<usize> = ids[held..].to_vec();
        train.sort_unstable();
        let n_val = held / 2;
        Ok(Split { train, val: held_out[..n_val].to_vec(), test: held_out[n_val..].to_vec(), seed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_all_peaks_90_5_5() {
        let s = Split::new(1000, 0.9, 10).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (900, 50, 50));
        let mut all: Vec<usize> = s.train.iter().chain(&s.val).chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert!(s.train.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s, Split::new(1000, 0.9, 10).unwrap());
        assert_ne!(s.val, Split::new(1000, 0.9, 11).unwrap().val);
        assert!(Split::new(10, 1.5, 0).is_err());
    }
}
