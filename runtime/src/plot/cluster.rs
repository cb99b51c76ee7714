//! Average-linkage (UPGMA) hierarchical clustering for heatmap reordering.

/// Distance between two observation vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Metric {
    /// Euclidean distance over dimensions where both values are finite,
    /// rescaled to the full dimension count.
    #[default]
    Euclidean,
    /// `1 − Pearson correlation` over dimensions where both values are finite.
    Correlation,
}

/// Result of clustering `n` observations.
#[derive(Debug, Clone)]
pub(crate) struct Dendrogram {
    /// Leaf order from a left-to-right traversal of the tree.
    pub order: Vec<usize>,
    /// Merges in order: `(left, right, height)`, node ids `< n` are leaves and
    /// id `n + k` is the cluster created by merge `k`.
    pub merges: Vec<(usize, usize, f64)>,
}

pub(crate) fn distance(a: &[f64], b: &[f64], m: Metric) -> f64 {
    let pairs = a.iter().zip(b).filter(|(x, y)| x.is_finite() && y.is_finite());
    match m {
        Metric::Euclidean => {
            let (mut s, mut k) = (0.0, 0usize);
            for (x, y) in pairs {
                s += (x - y) * (x - y);
                k += 1;
            }
            if k == 0 {
                f64::NAN
            } else {
                (s * a.len() as f64 / k as f64).sqrt()
            }
        }
        Metric::Correlation => {
            let v: Vec<(f64, f64)> = pairs.map(|(x, y)| (*x, *y)).collect();
            if v.len() < 2 {
                return f64::NAN;
            }
            let n = v.len() as f64;
            let (mx, my) = (v.iter().map(|p| p.0).sum::<f64>() / n, v.iter().map(|p| p.1).sum::<f64>() / n);
            let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
            for (x, y) in v {
                sxy += (x - mx) * (y - my);
                sxx += (x - mx) * (x - mx);
                syy += (y - my) * (y - my);
            }
            if sxx == 0.0 || syy == 0.0 {
                1.0
            } else {
                1.0 - sxy / (sxx * syy).sqrt()
            }
        }
    }
}

/// Cluster the rows of `data` with average linkage. Pairs without a defined
/// distance (no shared finite values) get the largest observed distance.
pub(crate) fn average_linkage(data: &[Vec<f64>], metric: Metric) -> Dendrogram {
    let n = data.len();
    if n <= 1 {
        return Dendrogram { order: (0..n).collect(), merges: vec![] };
    }
    let mut d = vec![0.0f64; n * n];
    let mut maxd: f64 = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            let v = distance(&data[i], &data[j], metric);
            d[i * n + j] = v;
            d[j * n + i] = v;
            if v.is_finite() {
                maxd = maxd.max(v);
            }
        }
    }
    for v in d.iter_mut() {
        if !v.is_finite() {
            *v = maxd;
        }
    }
    let mut active = vec![true; n];
    let mut size = vec![1usize; n];
    let mut node: Vec<usize> = (0..n).collect();
    let nearest = |i: usize, d: &[f64], active: &[bool]| -> (usize, f64) {
        let mut best = (usize::MAX, f64::INFINITY);
        for j in 0..n {
            if j != i && active[j] && d[i * n + j] < best.1 {
                best = (j, d[i * n + j]);
            }
        }
        best
    };
    let mut nn: Vec<(usize, f64)> = (0..n).map(|i| nearest(i, &d, &active)).collect();
    let mut merges = Vec::with_capacity(n - 1);
    for step in 0..n - 1 {
        let (mut a, mut best) = (usize::MAX, f64::INFINITY);
        for i in 0..n {
            if active[i] && nn[i].1 < best {
                best = nn[i].1;
                a = i;
            }
        }
        if a == usize::MAX {
            break;
        }
        let b = nn[a].0;
        let (a, b) = (a.min(b), a.max(b));
        merges.push((node[a], node[b], best));
        let (sa, sb) = (size[a] as f64, size[b] as f64);
        for k in 0..n {
            if active[k] && k != a && k != b {
                let v = (sa * d[a * n + k] + sb * d[b * n + k]) / (sa + sb);
                d[a * n + k] = v;
                d[k * n + a] = v;
            }
        }
        active[b] = false;
        size[a] += size[b];
        node[a] = n + step;
        nn[a] = nearest(a, &d, &active);
        for k in 0..n {
            if !active[k] || k == a {
                continue;
            }
            if nn[k].0 == a || nn[k].0 == b {
                nn[k] = nearest(k, &d, &active);
            } else if d[k * n + a] < nn[k].1 {
                nn[k] = (a, d[k * n + a]);
            }
        }
    }
    // left-to-right leaf order
    let mut order = Vec::with_capacity(n);
    let mut stack = vec![n + merges.len() - 1];
    while let Some(id) = stack.pop() {
        if id < n {
            order.push(id);
        } else {
            let (l, r, _) = merges[id - n];
            stack.push(r);
            stack.push(l);
        }
    }
    Dendrogram { order, merges }
}
