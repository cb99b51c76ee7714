//! Barnes–Hut quadtree over 2-D points for the repulsive t-SNE forces, with
//! scikit-learn's conventions: a cell summarises its points at their centre
//! of mass when it is a leaf or when `width² / d² < θ²`; coinciding points
//! (within 1e-6 per coordinate) share a leaf, and a point's own leaf is
//! skipped.

/// Coordinates closer than this are treated as the same position.
const EPSILON: f64 = 1e-6;
/// Depth beyond which points are merged into one leaf (guards against
/// near-coincident points splitting forever).
const MAX_DEPTH: usize = 60;
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Cell {
    center: [f64; 2],
    half: f64,
    size: f64,
    sum: [f64; 2],
    children: [u32; 4],
    leaf: bool,
    /// Position of the point(s) stored in a leaf (valid when `size > 0`).
    pos: [f64; 2],
}

impl Cell {
    fn empty(center: [f64; 2], half: f64) -> Cell {
        Cell { center, half, size: 0.0, sum: [0.0; 2], children: [NONE; 4], leaf: true, pos: [0.0; 2] }
    }
}

/// Quadtree of a 2-D point set.
pub(crate) struct QuadTree {
    cells: Vec<Cell>,
}

impl QuadTree {
    /// Builds the tree of the row-major `n × 2` coordinates.
    pub(crate) fn new(y: &[f64]) -> QuadTree {
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in y.chunks(2) {
            for d in 0..2 {
                lo[d] = lo[d].min(p[d]);
                hi[d] = hi[d].max(p[d]);
            }
        }
        let center = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        let half = ((hi[0] - lo[0]).max(hi[1] - lo[1]) / 2.0) * (1.0 + 1e-6) + 1e-6;
        let mut tree = QuadTree { cells: vec![Cell::empty(center, half)] };
        for p in y.chunks(2) {
            tree.insert([p[0], p[1]]);
        }
        for c in &mut tree.cells {
            if c.size > 0.0 {
                c.sum = [c.sum[0] / c.size, c.sum[1] / c.size];
            }
        }
        tree
    }

    fn quadrant(cell: &Cell, p: [f64; 2]) -> usize {
        usize::from(p[0] > cell.center[0]) + 2 * usize::from(p[1] > cell.center[1])
    }

    fn child(&mut self, node: usize, q: usize) -> usize {
        let existing = self.cells[node].children[q];
        if existing != NONE {
            return existing as usize;
        }
        let parent = &self.cells[node];
        let h = parent.half / 2.0;
        let center =
            [parent.center[0] + if q & 1 == 1 { h } else { -h }, parent.center[1] + if q & 2 == 2 { h } else { -h }];
        self.cells.push(Cell::empty(center, h));
        let id = self.cells.len() - 1;
        self.cells[node].children[q] = id as u32;
        id
    }

    fn insert(&mut self, p: [f64; 2]) {
        let mut node = 0;
        let mut depth = 0;
        loop {
            let cell = &mut self.cells[node];
            cell.size += 1.0;
            cell.sum[0] += p[0];
            cell.sum[1] += p[1];
            if cell.leaf {
                if cell.size == 1.0 {
                    cell.pos = p;
                    return;
                }
                let same = (cell.pos[0] - p[0]).abs() <= EPSILON && (cell.pos[1] - p[1]).abs() <= EPSILON;
                if same || depth >= MAX_DEPTH {
                    return;
                }
                // Push the stored point(s) down one level, then continue with p.
                let (old_pos, old_n) = (cell.pos, cell.size - 1.0);
                cell.leaf = false;
                let q = Self::quadrant(cell, old_pos);
                let c = self.child(node, q);
                let child = &mut self.cells[c];
                child.size = old_n;
                child.sum = [old_pos[0] * old_n, old_pos[1] * old_n];
                child.pos = old_pos;
            }
            let q = Self::quadrant(&self.cells[node], p);
            node = self.child(node, q);
            depth += 1;
        }
    }

    /// Repulsive force numerator `Σ_cells size·q²·(p − com)` and
    /// `Σ_cells size·q` with `q = 1/(1 + d²)`, for a point at `p` that is
    /// itself in the tree.
    pub(crate) fn repulsion(&self, p: [f64; 2], theta2: f64, stack: &mut Vec<u32>) -> ([f64; 2], f64) {
        let mut force = [0.0; 2];
        let mut sum_q = 0.0;
        stack.clear();
        stack.push(0);
        while let Some(c) = stack.pop() {
            let cell = &self.cells[c as usize];
            if cell.size == 0.0 {
                continue;
            }
            let (dx, dy) = (p[0] - cell.sum[0], p[1] - cell.sum[1]);
            let d2 = dx * dx + dy * dy;
            if cell.leaf && dx.abs() <= EPSILON && dy.abs() <= EPSILON {
                continue;
            }
            let width = 2.0 * cell.half;
            if cell.leaf || width * width / d2 < theta2 {
                let q = 1.0 / (1.0 + d2);
                sum_q += cell.size * q;
                let m = cell.size * q * q;
                force[0] += m * dx;
                force[1] += m * dy;
            } else {
                stack.extend(cell.children.iter().rev().copied().filter(|&ch| ch != NONE));
            }
        }
        (force, sum_q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theta_zero_is_exact() {
        let y: Vec<f64> = (0..40).map(|i| ((i * 37 % 17) as f64 * 0.3).sin() * (i as f64)).collect();
        let tree = QuadTree::new(&y);
        let mut stack = Vec::new();
        for i in 0..20 {
            let p = [y[2 * i], y[2 * i + 1]];
            let (f, s) = tree.repulsion(p, 0.0, &mut stack);
            let (mut fe, mut se) = ([0.0; 2], 0.0);
            for j in (0..20).filter(|&j| j != i) {
                let (dx, dy) = (p[0] - y[2 * j], p[1] - y[2 * j + 1]);
                let q = 1.0 / (1.0 + dx * dx + dy * dy);
                se += q;
                fe[0] += q * q * dx;
                fe[1] += q * q * dy;
            }
            assert!((s - se).abs() < 1e-12 && (f[0] - fe[0]).abs() < 1e-12 && (f[1] - fe[1]).abs() < 1e-12);
        }
    }

    #[test]
    fn duplicates_share_a_leaf() {
        let y = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0];
        let tree = QuadTree::new(&y);
        let (_, s) = tree.repulsion([1.0, 1.0], 0.0, &mut Vec::new());
        assert!((s - 2.0 / 3.0).abs() < 1e-12);
        // The duplicates skip their own leaf, so each sees only (1, 1).
        let (_, s0) = tree.repulsion([0.0, 0.0], 0.0, &mut Vec::new());
        assert!((s0 - 1.0 / 3.0).abs() < 1e-12);
    }
}
