//! Special functions needed by the metrics: log-gamma, the regularised
//! incomplete gamma functions, the chi-square survival function, `erfc`,
//! and an accurate log-probability of the hypergeometric distribution.
//!
//! All functions take and return `f64` and never panic; invalid arguments
//! give `NaN`.

use std::f64::consts::PI;

/// `0.5 * ln(2π)`.
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// Shift below which `ln_gamma` uses the recurrence before the Stirling series.
const STIRLING_MIN: f64 = 15.0;

/// Stirling-series correction `ln Γ(z) - [(z - 1/2) ln z - z + ln √(2π)]`
/// for `z >= 15`, from the Bernoulli-number expansion
/// `Σ B_{2k} / (2k (2k-1) z^{2k-1})` truncated after seven terms (the
/// first omitted term is below 1e-18 at z = 15).
fn stirling_correction(z: f64) -> f64 {
    let z2 = z * z;
    // Coefficients B_{2k} / (2k (2k - 1)) for k = 1..7.
    const C: [f64; 7] =
        [1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0, 1.0 / 1188.0, -691.0 / 360_360.0, 1.0 / 156.0];
    let mut s = C[6];
    for k in (0..6).rev() {
        s = C[k] + s / z2;
    }
    s / z
}

/// Natural logarithm of the gamma function for `x > 0`.
///
/// Uses the Stirling series for `x >= 15` and the recurrence
/// `ln Γ(x) = ln Γ(x + n) - ln(x (x+1) ... (x+n-1))` below; the absolute
/// error is a few units of `1e-15 * max(1, |ln Γ(x)|)`.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    let mut z = x;
    let mut prod = 1.0f64;
    let mut log_shift = 0.0f64;
    while z < STIRLING_MIN {
        prod *= z;
        z += 1.0;
        // Keep the product in range for tiny x.
        if !(1e-250..=1e250).contains(&prod) {
            log_shift += prod.ln();
            prod = 1.0;
        }
    }
    (z - 0.5) * z.ln() - z + HALF_LN_2PI + stirling_correction(z) - prod.ln() - log_shift
}

/// Regularised lower incomplete gamma function `P(a, x)` for `a > 0`, `x >= 0`.
pub fn gamma_p(a: f64, x: f64) -> f64 {
    if a.is_nan() || x.is_nan() || a <= 0.0 || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return 0.0;
    }
    if x.is_infinite() {
        return 1.0;
    }
    if x < a + 1.0 {
        gamma_p_series(a, x)
    } else {
        1.0 - gamma_q_continued_fraction(a, x)
    }
}

/// Regularised upper incomplete gamma function `Q(a, x) = 1 - P(a, x)` for
/// `a > 0`, `x >= 0`, accurate in the far tail (it is not computed as
/// `1 - P` there).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if a.is_nan() || x.is_nan() || a <= 0.0 || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    if x < a + 1.0 {
        1.0 - gamma_p_series(a, x)
    } else {
        gamma_q_continued_fraction(a, x)
    }
}

/// `exp(a ln x - x - ln Γ(a))`, the common prefactor of both expansions.
fn gamma_prefactor(a: f64, x: f64) -> f64 {
    (a * x.ln() - x - ln_gamma(a)).exp()
}

/// Series `P(a, x) = x^a e^{-x} / Γ(a + 1) Σ_n x^n / ((a+1)...(a+n))`,
/// used for `x < a + 1` where all terms are positive and decay quickly.
fn gamma_p_series(a: f64, x: f64) -> f64 {
    let mut term = 1.0 / a;
    let mut sum = term;
    let mut denom = a;
    for _ in 0..10_000 {
        denom += 1.0;
        term *= x / denom;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    (sum * gamma_prefactor(a, x)).min(1.0)
}

/// Continued fraction for `Q(a, x)` evaluated with the modified Lentz
/// method, used for `x >= a + 1`:
/// `Q = prefactor / (x + 1 - a - 1(1-a) / (x + 3 - a - 2(2-a) / (x + 5 - a - ...)))`.
fn gamma_q_continued_fraction(a: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..10_000 {
        let fi = i as f64;
        let an = -fi * (fi - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (gamma_prefactor(a, x) * h).clamp(0.0, 1.0)
}

/// Survival function `P(X > x)` of the chi-square distribution with `df`
/// degrees of freedom, `Q(df / 2, x / 2)`. Returns 1 for `x <= 0`.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    if x.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    gamma_q(0.5 * df, 0.5 * x)
}

/// Complementary error function `erfc(z) = 1 - erf(z)`, computed without
/// the incomplete gamma function: for `|z| < 1` from the all-positive series
/// `erf(z) = 2/√π e^{-z²} Σ_n 2^n z^{2n+1} / (1·3···(2n+1))`, for `z >= 1`
/// from the Laplace continued fraction
/// `erfc(z) = e^{-z²}/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...))))`,
/// and `erfc(-z) = 2 - erfc(z)`. Relative accuracy is about 1e-15.
pub fn erfc(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z < 0.0 {
        return 2.0 - erfc(-z);
    }
    if z < 1.0 {
        return 1.0 - erf_series(z);
    }
    if z > 27.3 {
        return 0.0; // below the smallest subnormal
    }
    // Modified Lentz for b0 + a1/(b1 + a2/(b2 + ...)) with b_n = z, a_n = n/2.
    const TINY: f64 = 1e-300;
    let mut f = z;
    let mut c = z;
    let mut d = 0.0f64;
    for n in 1..5_000 {
        let an = n as f64 * 0.5;
        d = z + an * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = z + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-z * z).exp() / (PI.sqrt() * f)
}

/// `erf(z)` for `0 <= z < 1` from the all-positive series.
fn erf_series(z: f64) -> f64 {
    let z2 = z * z;
    let mut term = z;
    let mut sum = z;
    let mut n = 0.0f64;
    loop {
        n += 1.0;
        term *= 2.0 * z2 / (2.0 * n + 1.0);
        sum += term;
        if term < sum * 1e-17 || n > 200.0 {
            break;
        }
    }
    2.0 / PI.sqrt() * (-z2).exp() * sum
}

/// `ln(n!)` for integers `0..=15`, summed directly; used by `stirlerr`.
fn ln_factorial_small(n: u64) -> f64 {
    (2..=n).map(|k| (k as f64).ln()).sum()
}

/// Stirling-formula error `ln(n!) - [(n + 1/2) ln n - n + ln √(2π)]` for an
/// integer `n >= 1` (Loader's `δ(n)`), small and accurate to ~1e-16
/// absolute.
pub(crate) fn stirlerr(n: f64) -> f64 {
    if n <= 15.0 {
        let k = n as u64;
        ln_factorial_small(k) - ((n + 0.5) * n.ln() - n + HALF_LN_2PI)
    } else {
        stirling_correction(n)
    }
}

/// Deviance term `bd0(x, m) = x ln(x / m) + m - x`, computed with a series
/// when `x` is close to `m` to avoid cancellation (Loader 2000).
pub(crate) fn bd0(x: f64, m: f64) -> f64 {
    if (x - m).abs() < 0.1 * (x + m) {
        // With v = (x - m) / (x + m): x/m = (1 + v)/(1 - v), ln(x/m) = 2 atanh v,
        // so bd0 = (x - m) v + 2x (v³/3 + v⁵/5 + ...).
        let v = (x - m) / (x + m);
        let v2 = v * v;
        let mut s = (x - m) * v;
        let mut ej = 2.0 * x * v;
        let mut j = 1.0f64;
        loop {
            ej *= v2;
            j += 2.0;
            let s1 = s + ej / j;
            if s1 == s {
                return s1;
            }
            s = s1;
            if j > 1000.0 {
                return s;
            }
        }
    }
    x * (x / m).ln() + m - x
}

/// Natural log of the binomial probability `C(n, x) p^x (1-p)^(n-x)` for
/// integer-valued `0 <= x <= n` and `0 < p < 1`, using Loader's saddle-point
/// form so the result has small absolute error even for `n ~ 1e6`.
pub(crate) fn ln_dbinom(x: f64, n: f64, p: f64) -> f64 {
    let q = 1.0 - p;
    if x == 0.0 {
        return if n == 0.0 { 0.0 } else { n * (-p).ln_1p() };
    }
    if x == n {
        return n * p.ln();
    }
    stirlerr(n) - stirlerr(x) - stirlerr(n - x) - bd0(x, n * p) - bd0(n - x, n * q)
        + 0.5 * (n / (2.0 * PI * x * (n - x))).ln()
}

/// Natural log of the hypergeometric probability of `k` successes when
/// drawing `n_draws` items without replacement from a population of
/// `n_total` items of which `n_success` are successes.
///
/// Computed as `ln[b(k; K, p) b(n-k; N-K, p) / b(n; N, p)]` with binomial
/// probabilities `b` at `p = n/N` (the `p` factors cancel exactly), each from
/// Loader's saddle-point expansion, so no large log-factorials are
/// subtracted. Returns `-inf` outside the support.
pub fn ln_hypergeom_pmf(k: u64, n_total: u64, n_success: u64, n_draws: u64) -> f64 {
    if n_success > n_total || n_draws > n_total {
        return f64::NAN;
    }
    let lo = (n_success + n_draws).saturating_sub(n_total);
    let hi = n_success.min(n_draws);
    if k < lo || k > hi {
        return f64::NEG_INFINITY;
    }
    if n_draws == 0 || n_draws == n_total || n_success == 0 || n_success == n_total {
        // Degenerate: the support is a single point.
        return 0.0;
    }
    let (kf, nf, kk, nd) = (k as f64, n_total as f64, n_success as f64, n_draws as f64);
    let p = nd / nf;
    ln_dbinom(kf, kk, p) + ln_dbinom(nd - kf, nf - kk, p) - ln_dbinom(nd, nf, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(1e-300)
    }

    #[test]
    fn ln_gamma_matches_factorials_and_reference() {
        // Integers: ln((n-1)!) by direct summation.
        for n in 1..60u64 {
            let direct: f64 = (1..n).map(|k| (k as f64).ln()).sum();
            assert!((ln_gamma(n as f64) - direct).abs() < 1e-13 * direct.max(1.0), "n={n}");
        }
        // Γ(1/2) = √π.
        assert!((ln_gamma(0.5) - 0.5 * PI.ln()).abs() < 1e-15);
        // Γ(x+1) = x Γ(x) at non-integers.
        for &x in &[0.01, 0.3, 2.7, 14.2, 15.0, 33.3, 1e4] {
            let lhs = ln_gamma(x + 1.0);
            let rhs = ln_gamma(x) + f64::ln(x);
            assert!((lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0), "x={x}");
        }
        // Values from Python's math.lgamma.
        for &(x, v) in &[(3.7, 1.428_072_326_665_388_3), (25.5, 56.389_167_643_719_944), (100.0, 359.134_205_369_575_4)]
        {
            assert!(rel(ln_gamma(x), v) < 1e-14, "x={x}");
        }
        assert!(ln_gamma(0.0).is_nan() && ln_gamma(-1.0).is_nan());
        assert!((ln_gamma(1e-300) - 690.775_527_898_213_7).abs() < 1e-9);
    }

    #[test]
    fn erfc_matches_reference_values() {
        // Reference values from Python's math.erfc.
        let cases = [
            (0.0, 1.0),
            (0.1, 0.887_537_083_981_715_2),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (1.5, 0.033_894_853_524_689_274),
            (2.0, 0.004_677_734_981_047_265),
            (3.0, 2.209_049_699_858_543_8e-5),
            (5.0, 1.537_459_794_428_035_1e-12),
            (10.0, 2.088_487_583_762_545e-45),
            (-0.7, 1.677_801_193_837_418_4),
            (-2.0, 1.995_322_265_018_952_8),
        ];
        for (z, v) in cases {
            assert!(rel(erfc(z), v) < 3e-15, "erfc({z}) = {} vs {v}", erfc(z));
        }
        assert!(erfc(f64::NAN).is_nan());
        assert_eq!(erfc(40.0), 0.0);
        assert_eq!(erfc(-40.0), 2.0);
    }

    #[test]
    fn chi2_sf_closed_forms() {
        for i in 0..200 {
            let x = 0.01 + i as f64 * 0.37;
            // df = 2: exp(-x/2).
            assert!(rel(chi2_sf(x, 2.0), (-x / 2.0).exp()) < 1e-13, "df2 x={x}");
            // df = 1: erfc(sqrt(x/2)).
            assert!(rel(chi2_sf(x, 1.0), erfc((x / 2.0).sqrt())) < 1e-12, "df1 x={x}");
            // df = 4: exp(-x/2)(1 + x/2).
            assert!(rel(chi2_sf(x, 4.0), (-x / 2.0).exp() * (1.0 + x / 2.0)) < 1e-13, "df4 x={x}");
            // df = 3: erfc(sqrt(x/2)) + sqrt(2x/π) exp(-x/2).
            let df3 = erfc((x / 2.0).sqrt()) + (2.0 * x / PI).sqrt() * (-x / 2.0).exp();
            assert!(rel(chi2_sf(x, 3.0), df3) < 1e-12, "df3 x={x}");
        }
        assert_eq!(chi2_sf(0.0, 3.0), 1.0);
        assert_eq!(chi2_sf(-1.0, 3.0), 1.0);
        assert!(chi2_sf(1.0, 0.0).is_nan());
    }

    #[test]
    fn chi2_sf_matches_scipy() {
        // Reference values from scipy.stats.chi2.sf(x, df).
        let cases = [
            (3.0, 2.5, 0.475_291_083_343_020_5),
            (5.0, 11.07, 0.050_009_618_622_405_425),
            (10.0, 3.0, 0.981_424_063_777_859_3),
            (1.0, 0.001, 0.974_772_879_369_960_4),
            (7.0, 30.0, 9.495_972_508_134_177e-5),
            (20.0, 15.0, 0.776_407_613_019_714_6),
            (1.0, 40.0, 2.539_628_589_470_863_4e-10),
            (99.0, 123.4, 0.048_902_311_511_807_336),
        ];
        for (df, x, v) in cases {
            assert!(rel(chi2_sf(x, df), v) < 1e-12, "df={df} x={x}: {} vs {v}", chi2_sf(x, df));
        }
    }

    #[test]
    fn incomplete_gamma_p_plus_q_is_one() {
        for &a in &[0.1, 0.5, 1.0, 3.3, 10.0, 47.5] {
            for &x in &[0.05, 0.9, 2.0, 5.0, 11.0, 30.0, 80.0] {
                let s = gamma_p(a, x) + gamma_q(a, x);
                assert!((s - 1.0).abs() < 1e-14, "a={a} x={x}");
            }
        }
        assert_eq!(gamma_p(2.0, 0.0), 0.0);
        assert_eq!(gamma_q(2.0, f64::INFINITY), 0.0);
        assert!(gamma_p(-1.0, 1.0).is_nan());
    }

    #[test]
    fn stirlerr_matches_definition() {
        for n in 1..40u64 {
            let lnfact: f64 = (2..=n).map(|k| (k as f64).ln()).sum();
            let nf = n as f64;
            let direct = lnfact - ((nf + 0.5) * nf.ln() - nf + HALF_LN_2PI);
            assert!((stirlerr(nf) - direct).abs() < 1e-13, "n={n}");
        }
    }

    #[test]
    fn bd0_series_and_direct_agree() {
        for &(x, m) in &[(10.0, 10.5), (100.0, 95.0), (3.0, 3.2), (1000.0, 1000.001)] {
            let direct = x * f64::ln(x / m) + m - x;
            assert!((bd0(x, m) - direct).abs() < 1e-12 * (1.0 + x), "x={x} m={m}");
        }
        assert_eq!(bd0(7.0, 7.0), 0.0);
    }

    #[test]
    fn hypergeom_pmf_small_exact() {
        // N = 20, K = 7, n = 9: compare with exact binomial coefficients.
        fn choose(n: u64, k: u64) -> f64 {
            (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
        }
        let (nn, kk, n) = (20u64, 7u64, 9u64);
        let mut total = 0.0;
        for k in 0..=7u64 {
            let exact = choose(kk, k) * choose(nn - kk, n - k) / choose(nn, n);
            let p = ln_hypergeom_pmf(k, nn, kk, n).exp();
            assert!((p - exact).abs() < 1e-14, "k={k}: {p} vs {exact}");
            total += p;
        }
        assert!((total - 1.0).abs() < 1e-14);
        assert_eq!(ln_hypergeom_pmf(8, nn, kk, n), f64::NEG_INFINITY);
        assert_eq!(ln_hypergeom_pmf(3, 10, 3, 10), 0.0);
        assert_eq!(ln_hypergeom_pmf(2, 10, 3, 10), f64::NEG_INFINITY);
        assert!(ln_hypergeom_pmf(0, 5, 6, 1).is_nan());
    }

    #[test]
    fn hypergeom_pmf_large_moments() {
        // N = 100000, K = 30000, n = 50000: the pmf must sum to one and have
        // mean nK/N and variance nK(N-K)(N-n)/(N²(N-1)) to high accuracy.
        let (nn, kk, n) = (100_000u64, 30_000u64, 50_000u64);
        let (nf, kf, df) = (nn as f64, kk as f64, n as f64);
        let mean = df * kf / nf;
        let var = df * kf * (nf - kf) * (nf - df) / (nf * nf * (nf - 1.0));
        let (mut s0, mut s1, mut s2) = (0.0f64, 0.0f64, 0.0f64);
        for k in 13_000..17_000u64 {
            let p = ln_hypergeom_pmf(k, nn, kk, n).exp();
            let c = k as f64 - mean;
            s0 += p;
            s1 += p * c;
            s2 += p * c * c;
        }
        assert!((s0 - 1.0).abs() < 1e-12, "sum {s0}");
        assert!(s1.abs() < 1e-9 * mean, "mean offset {s1}");
        assert!(rel(s2, var) < 1e-11, "var {s2} vs {var}");
    }
}
