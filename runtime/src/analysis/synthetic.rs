//! Seeded synthetic data for tests, examples and benchmarks: Gaussian
//! mixtures and planted-partition graphs.

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::graph::Graph;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One standard-normal draw (Box–Muller).
pub fn standard_normal<R: Rng>(rng: &mut R) -> f64 {
    // u1 in (0, 1] so that ln(u1) is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `n` points in `d` dimensions from a mixture of `n_centers` unit-variance
/// Gaussians whose centres are drawn from `N(0, separation²)` in every
/// coordinate. Returns the row-major `n × d` data and each point's
/// component (uniformly random).
///
/// `n_centers == 0` is treated as 1.
pub fn gaussian_mixture(n: usize, d: usize, n_centers: usize, separation: f32, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n_centers = n_centers.max(1);
    let centers: Vec<f64> = (0..n_centers * d).map(|_| standard_normal(&mut rng) * separation as f64).collect();
    let mut data = Vec::with_capacity(n * d);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let c = rng.random_range(0..n_centers);
        labels.push(c as u32);
        for j in 0..d {
            data.push((centers[c * d + j] + standard_normal(&mut rng)) as f32);
        }
    }
    (data, labels)
}

/// Planted-partition random graph: `n_blocks` blocks of `block_size` nodes;
/// each pair of nodes is joined (weight 1) with probability `p_in` inside a
/// block and `p_out` across blocks. Returns the graph and the block of each
/// node (nodes `b * block_size ..` form block `b`).
pub fn planted_partition(
    n_blocks: usize,
    block_size: usize,
    p_in: f64,
    p_out: f64,
    seed: u64,
) -> Result<(Graph, Vec<u32>)> {
    for (name, p) in [("p_in", p_in), ("p_out", p_out)] {
        if !(0.0..=1.0).contains(&p) {
            return Err(AnalysisError::InvalidParameter { name, reason: format!("must be a probability, got {p}") });
        }
    }
    let n = n_blocks * block_size;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let block: Vec<u32> = (0..n).map(|i| (i / block_size.max(1)) as u32).collect();
    let mut edges = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            let p = if block[i] == block[j] { p_in } else { p_out };
            if rng.random::<f64>() < p {
                edges.push((i as u32, j as u32, 1.0f32));
            }
        }
    }
    Ok((Graph::from_edges(n, &edges)?, block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_draws_have_unit_moments() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x: Vec<f64> = (0..200_000).map(|_| standard_normal(&mut rng)).collect();
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / x.len() as f64;
        // Standard errors: 0.0022 for the mean, 0.0032 for the variance.
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }

    #[test]
    fn mixture_is_seeded_and_shaped() {
        let (a, la) = gaussian_mixture(100, 3, 4, 5.0, 7);
        let (b, lb) = gaussian_mixture(100, 3, 4, 5.0, 7);
        assert_eq!((a.len(), la.len()), (300, 100));
        assert_eq!((&a, &la), (&b, &lb));
        assert!(la.iter().all(|&l| l < 4));
        let (c, _) = gaussian_mixture(100, 3, 4, 5.0, 8);
        assert_ne!(a, c);
    }

    #[test]
    fn planted_partition_edge_density() {
        let (g, block) = planted_partition(4, 50, 0.3, 0.01, 2).unwrap();
        g.validate().unwrap();
        let (mut inside, mut across) = (0usize, 0usize);
        for (i, j, _) in g.edges() {
            if block[i as usize] == block[j as usize] {
                inside += 1;
            } else {
                across += 1;
            }
        }
        // Expected 4 * C(50, 2) * 0.3 = 1470 inside, 6 * 2500 * 0.01 = 150 across.
        assert!((1350..1590).contains(&inside), "{inside}");
        assert!((110..190).contains(&across), "{across}");
        assert!(planted_partition(2, 2, 1.5, 0.0, 0).is_err());
    }
}
