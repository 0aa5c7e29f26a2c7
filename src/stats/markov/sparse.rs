//! Sparse generators, the banded GTH stationary solver (with a sparse LU
//! where the band does not fit) and the spectral gap.

/// Generator of a finite CTMC stored as per-row lists of off-diagonal rates
/// (the diagonal is implied: `q_ii = -sum_j q_ij`).  States should be
/// numbered so that transitions are local (small `|i - j|`): the solvers are
/// banded and cost `O(n b^2)` with `b = max |i - j|`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseGenerator {
    pub(super) rows: Vec<Vec<(usize, f64)>>,
}

impl SparseGenerator {
    pub fn new(n: usize) -> SparseGenerator {
        SparseGenerator {
            rows: vec![Vec::new(); n],
        }
    }

    /// Add rate `rate` from `from` to `to` (accumulates).  Self-loops,
    /// out-of-range states and rates that are not finite and positive are
    /// ignored.
    pub fn add(&mut self, from: usize, to: usize, rate: f64) {
        let n = self.rows.len();
        if from == to || from >= n || to >= n || !pos_finite(rate) {
            return;
        }
        self.rows[from].push((to, rate));
    }

    pub fn n(&self) -> usize {
        self.rows.len()
    }

    /// Total exit rate `-q_ii` of state `i` (0 if out of range).
    pub fn exit_rate(&self, i: usize) -> f64 {
        self.rows
            .get(i)
            .map_or(0.0, |r| r.iter().map(|&(_, x)| x).sum())
    }

    /// Half-bandwidth `max |i - j|` over the non-zero rates.
    pub fn bandwidth(&self) -> usize {
        self.rows
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.iter().map(move |&(j, _)| i.abs_diff(j)))
            .max()
            .unwrap_or(0)
    }

    /// `max_j |(pi Q)_j| / max_i(-q_ii)`: relative residual of a candidate
    /// stationary vector.
    pub fn residual(&self, pi: &[f64]) -> f64 {
        let n = self.n();
        if pi.len() != n {
            return f64::INFINITY;
        }
        let mut r = vec![0.0; n];
        let mut lam = 0.0_f64;
        for (i, row) in self.rows.iter().enumerate() {
            let out = self.exit_rate(i);
            lam = lam.max(out);
            r[i] -= pi[i] * out;
            for &(j, x) in row {
                r[j] += pi[i] * x;
            }
        }
        let m = r.iter().fold(0.0_f64, |a, x| a.max(x.abs()));
        if lam > 0.0 {
            m / lam
        } else {
            m
        }
    }

    /// Stationary distribution `pi Q = 0`, `sum pi = 1`, by the GTH state
    /// reduction algorithm (Grassmann, Taksar & Heyman 1985) on the band:
    /// states are censored out from the last to the first, `q_ij += q_ik
    /// q_kj / S_k` with `S_k = sum_{j<k} q_kj`, then `pi_k = sum_{i<k} pi_i
    /// q_ik / S_k`.  Only additions, multiplications and divisions of
    /// non-negative numbers occur, so the result has small *relative* error
    /// in every component.  Requires that every state can reach a lower
    /// numbered state (true for an irreducible chain, and for one recurrent
    /// class containing state 0); otherwise `None`.
    pub fn stationary(&self) -> Option<Vec<f64>> {
        let n = self.n();
        if n == 0 {
            return None;
        }
        let b = self.bandwidth();
        let mut a = Band::new(n, b)?;
        for (i, row) in self.rows.iter().enumerate() {
            for &(j, x) in row {
                a.add(i, j, x);
            }
        }
        let mut s = vec![0.0_f64; n];
        let mut akj = vec![0.0_f64; b];
        for k in (1..n).rev() {
            let lo = k.saturating_sub(b);
            let len = k - lo;
            let start = a.idx(k, lo);
            akj[..len].copy_from_slice(&a.data[start..start + len]);
            let sk: f64 = akj[..len].iter().sum();
            if !pos_finite(sk) {
                return None;
            }
            s[k] = sk;
            for i in lo..k {
                let aik = a.get(i, k);
                if aik == 0.0 {
                    continue;
                }
                let f = aik / sk;
                // Row i, columns lo..k (contiguous).  This also updates the
                // diagonal entry (i, i), a self-loop that GTH never reads.
                let st = a.idx(i, lo);
                for (dst, &x) in a.data[st..st + len].iter_mut().zip(&akj[..len]) {
                    *dst += f * x;
                }
            }
        }
        let mut pi = vec![0.0_f64; n];
        pi[0] = 1.0;
        let mut total = 1.0;
        for k in 1..n {
            let lo = k.saturating_sub(b);
            let v: f64 = (lo..k).map(|i| pi[i] * a.get(i, k)).sum::<f64>() / s[k];
            pi[k] = v;
            total += v;
        }
        if !pos_finite(total) {
            return None;
        }
        for x in pi.iter_mut() {
            *x /= total;
        }
        Some(pi)
    }
}

impl SparseGenerator {
    /// The stationary distribution: GTH on the band where it fits in
    /// memory, else inverse iteration on faer's sparse LU of `(sigma I -
    /// Q)^T` with a shift `sigma` far below every decay rate of interest,
    /// which amplifies the null vector `pi` by `1/sigma` at every step.
    /// GTH is exact to rounding; the iteration is checked by the caller's
    /// residual test.
    pub fn stationary_any(&self) -> Option<Vec<f64>> {
        let n = self.n();
        if band_fits(n, self.bandwidth()) {
            return self.stationary();
        }
        let max_exit = (0..n).map(|i| self.exit_rate(i)).fold(0.0_f64, f64::max);
        if !pos_finite(max_exit) {
            return None;
        }
        let lu = Factored::new(&RowMatrix::shifted_transpose(self, 1e-13 * max_exit))?;
        let mut x = vec![1.0 / n as f64; n];
        for _ in 0..4 {
            lu.solve(&mut x);
            let total: f64 = x.iter().sum();
            if !total.is_finite() || total == 0.0 {
                return None;
            }
            x.iter_mut().for_each(|v| *v /= total);
        }
        x.iter_mut().for_each(|v| *v = v.max(0.0));
        let total: f64 = x.iter().sum();
        x.iter_mut().for_each(|v| *v /= total);
        Some(x)
    }

    /// Expected time to reach `target` from every state (0 on the target):
    /// the solution of `-Q_NN h = 1` on the other states N (Norris,
    /// *Markov Chains*, Thm. 3.3.3).  `None` when some state cannot reach
    /// the target or a solve fails.
    pub fn hitting_times(&self, target: &[bool]) -> Option<Vec<f64>> {
        let n = self.n();
        if target.len() != n || !target.iter().any(|&t| t) {
            return None;
        }
        // Number the non-target states in their original order, so the
        // band stays as narrow as the generator's.
        let mut map = vec![usize::MAX; n];
        let mut k = 0;
        for (i, &t) in target.iter().enumerate() {
            if !t {
                map[i] = k;
                k += 1;
            }
        }
        let mut rows: Vec<Vec<(usize, f64)>> = vec![Vec::new(); k];
        for (i, row) in self.rows.iter().enumerate() {
            if target[i] {
                continue;
            }
            let r = &mut rows[map[i]];
            r.push((map[i], self.exit_rate(i)));
            for &(j, x) in row {
                if !target[j] {
                    r.push((map[j], -x));
                }
            }
        }
        let mut h = vec![1.0; k];
        if k > 0 {
            Factored::new(&RowMatrix { rows })?.solve(&mut h);
        }
        if h.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return None;
        }
        Some(
            (0..n)
                .map(|i| if target[i] { 0.0 } else { h[map[i]] })
                .collect(),
        )
    }
}

/// Dense band storage: entry `(i, j)` with `|i - j| <= b`.
pub(super) struct Band {
    pub(super) b: usize,
    pub(super) w: usize,
    pub(super) data: Vec<f64>,
}

/// Refuse band matrices larger than this many entries (~400 MB).
pub(super) const MAX_BAND_ENTRIES: usize = 50_000_000;
/// Band eliminations cost `n b^2`; above this many operations the sparse
/// factorisation (whose fill-reducing ordering does better on wide bands)
/// takes over.
pub(super) const MAX_BAND_WORK: f64 = 4e8;

/// Whether the dense band of an `n`-state matrix with half-bandwidth `b`
/// fits in memory and time.
pub(super) fn band_fits(n: usize, b: usize) -> bool {
    let w = b.saturating_mul(2).saturating_add(1);
    n.saturating_mul(w) <= MAX_BAND_ENTRIES && (n as f64) * (b as f64) * (b as f64) <= MAX_BAND_WORK
}

impl Band {
    pub(super) fn new(n: usize, b: usize) -> Option<Band> {
        let w = b.checked_mul(2)?.checked_add(1)?;
        let len = n.checked_mul(w)?;
        if len > MAX_BAND_ENTRIES {
            return None;
        }
        Some(Band {
            b,
            w,
            data: vec![0.0; len],
        })
    }
    #[inline]
    pub(super) fn idx(&self, i: usize, j: usize) -> usize {
        i * self.w + j + self.b - i
    }
    #[inline]
    pub(super) fn get(&self, i: usize, j: usize) -> f64 {
        self.data[self.idx(i, j)]
    }
    #[inline]
    pub(super) fn add(&mut self, i: usize, j: usize, x: f64) {
        let k = self.idx(i, j);
        self.data[k] += x;
    }
    #[inline]
    pub(super) fn set(&mut self, i: usize, j: usize, x: f64) {
        let k = self.idx(i, j);
        self.data[k] = x;
    }
}

/// A square sparse matrix stored by rows, diagonal included: the systems
/// the chain's analyses solve (`(sigma I - Q)^T` for the stationary vector
/// and the spectral gap, `-Q` restricted to a set of states for hitting
/// times).
pub(super) struct RowMatrix {
    pub(super) rows: Vec<Vec<(usize, f64)>>,
}

impl RowMatrix {
    pub(super) fn n(&self) -> usize {
        self.rows.len()
    }

    pub(super) fn bandwidth(&self) -> usize {
        self.rows
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.iter().map(move |&(j, _)| i.abs_diff(j)))
            .max()
            .unwrap_or(0)
    }

    /// `(sigma I - Q)^T` of a generator.
    pub(super) fn shifted_transpose(g: &SparseGenerator, sigma: f64) -> RowMatrix {
        let mut rows: Vec<Vec<(usize, f64)>> = vec![Vec::new(); g.n()];
        for (i, row) in g.rows.iter().enumerate() {
            rows[i].push((i, sigma + g.exit_rate(i)));
            for &(j, x) in row {
                rows[j].push((i, -x));
            }
        }
        RowMatrix { rows }
    }
}

/// LU factors (no pivoting) of a banded matrix.  The matrices factorised
/// here are diagonally dominant (strictly by columns for `(sigma I - Q)^T`,
/// weakly by rows for a restricted `-Q`), so elimination without pivoting
/// is stable and keeps the band (Golub & Van Loan, *Matrix Computations*,
/// 4th ed., Thm. 3.4.3 and §4.3).
pub(super) struct BandLu {
    pub(super) n: usize,
    pub(super) m: Band,
}

impl BandLu {
    pub(super) fn new(a: &RowMatrix) -> Option<BandLu> {
        let n = a.n();
        let b = a.bandwidth();
        let mut m = Band::new(n, b)?;
        for (i, row) in a.rows.iter().enumerate() {
            for &(j, x) in row {
                m.add(i, j, x);
            }
        }
        for k in 0..n {
            let piv = m.get(k, k);
            if !pos_finite(piv) {
                return None;
            }
            let hi = (k + b).min(n - 1);
            let len = hi - k;
            let kst = m.idx(k, k + 1);
            for i in k + 1..=hi {
                let l = m.get(i, k) / piv;
                if l == 0.0 {
                    continue;
                }
                m.set(i, k, l);
                // Rows k and i, columns k+1..=hi: disjoint contiguous slices.
                let ist = m.idx(i, k + 1);
                let (head, tail) = m.data.split_at_mut(ist);
                for (dst, &u) in tail[..len].iter_mut().zip(&head[kst..kst + len]) {
                    *dst -= l * u;
                }
            }
        }
        Some(BandLu { n, m })
    }

    /// Solve `A y = v` in place.
    pub(super) fn solve(&self, v: &mut [f64]) {
        let n = self.n;
        let b = self.m.b;
        for i in 0..n {
            let lo = i.saturating_sub(b);
            let st = self.m.idx(i, lo);
            let s = dot(&self.m.data[st..st + (i - lo)], &v[lo..i]);
            v[i] -= s;
        }
        for i in (0..n).rev() {
            let hi = (i + b).min(n - 1);
            let st = self.m.idx(i, i + 1);
            let s = dot(&self.m.data[st..st + (hi - i)], &v[i + 1..=hi]);
            v[i] = (v[i] - s) / self.m.get(i, i);
        }
    }
}

/// Largest number of states the sparse (faer) factorisation is asked to
/// handle: its fill-in on a two-dimensional chain grows faster than the
/// number of states, and this keeps it within a few GiB.
pub const MAX_SPARSE_STATES: usize = 1_500_000;

/// A factorised matrix: banded LU where the band fits in memory
/// ([`MAX_BAND_ENTRIES`]), else faer's sparse LU with partial pivoting
/// and a fill-reducing ordering (faer, Sarah El Kazdadi; the dense band is
/// the faster of the two where it fits, and keeps the solvers' results
/// independent of the ordering heuristics there).
pub(super) enum Factored {
    Band(BandLu),
    Sparse(Box<faer::sparse::linalg::solvers::Lu<usize, f64>>),
}

impl Factored {
    pub(super) fn new(a: &RowMatrix) -> Option<Factored> {
        let n = a.n();
        if band_fits(n, a.bandwidth()) {
            return BandLu::new(a).map(Factored::Band);
        }
        if n > MAX_SPARSE_STATES {
            return None;
        }
        Self::sparse(a).map(|lu| Factored::Sparse(Box::new(lu)))
    }

    pub(super) fn sparse(a: &RowMatrix) -> Option<faer::sparse::linalg::solvers::Lu<usize, f64>> {
        use faer::sparse::{SparseColMat, Triplet};
        let n = a.n();
        let mut t = Vec::with_capacity(a.rows.iter().map(Vec::len).sum());
        for (i, row) in a.rows.iter().enumerate() {
            for &(j, x) in row {
                if !x.is_finite() {
                    return None;
                }
                t.push(Triplet::new(i, j, x));
            }
        }
        let m = SparseColMat::<usize, f64>::try_new_from_triplets(n, n, &t).ok()?;
        m.as_ref().sp_lu().ok()
    }

    /// Solve `A y = v` in place.
    pub(super) fn solve(&self, v: &mut [f64]) {
        match self {
            Factored::Band(lu) => lu.solve(v),
            Factored::Sparse(lu) => {
                use faer::linalg::solvers::Solve;
                let n = v.len();
                lu.solve_in_place(faer::MatMut::from_column_major_slice_mut(v, n, 1));
            }
        }
    }
}

/// `x` is finite and strictly positive (false for NaN).
pub(super) fn pos_finite(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Remove the `pi` component of a row vector: the left eigenvectors of the
/// non-zero eigenvalues all sum to zero, so `x - (x . 1) pi` is the exact
/// oblique projection onto their span.
pub(super) fn deflate(x: &mut [f64], pi: &[f64]) {
    let s: f64 = x.iter().sum();
    for (xi, p) in x.iter_mut().zip(pi) {
        *xi -= s * p;
    }
}

/// Estimate `Re lambda_2`, the real part of the non-zero eigenvalue of the
/// generator closest to 0 (negative; the spectral gap is its absolute value
/// and `1/|Re lambda_2|` the relaxation / mixing time).
///
/// Method: shift-and-invert subspace iteration.  Row vectors are iterated
/// with `x <- x (sigma I - Q)^-1` (banded or sparse LU, `sigma = 1e-10 *
/// max exit rate`), deflated against `pi` every step.  The operator has eigenvalues
/// `1/(sigma - lambda_j)`, so the iteration converges to the eigenvalue
/// nearest to zero at rate `|sigma - lambda_2| / |sigma - lambda_3|` —
/// fast exactly when the chain is metastable (tiny gap), where a plain
/// power iteration on the uniformised chain `I + Q/Lambda` would need
/// `~Lambda/|lambda_3 - lambda_2|` steps.  At every step a 2-dimensional
/// Rayleigh–Ritz projection on the last two iterates is solved in closed
/// form, which also captures a complex-conjugate dominant pair (non-
/// reversible chains).  Stops when the estimate changes by less than `1e-12`
/// relative for 3 consecutive steps (at most [`MAX_GAP_STEPS`]).  "Closest to zero" is
/// measured in modulus, so for a complex pair whose modulus ordering differs
/// from the ordering of real parts the result is that pair's real part.
///
/// Exact (to ~1e-10) for reversible chains, e.g. birth–death chains, whose
/// eigenvalues are real.  `None` for fewer than 2 states, a mismatched or
/// invalid `pi`, or if the chain has no transitions.
pub fn second_eigenvalue(g: &SparseGenerator, pi: &[f64]) -> Option<f64> {
    let n = g.n();
    if n < 2 || pi.len() != n || pi.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let max_exit = (0..n).map(|i| g.exit_rate(i)).fold(0.0_f64, f64::max);
    if !pos_finite(max_exit) {
        return None;
    }
    let sigma = 1e-10 * max_exit;
    let lu = Factored::new(&RowMatrix::shifted_transpose(g, sigma))?;
    // Deterministic, generic start vector.
    let mut x0: Vec<f64> = (0..n)
        .map(|i| ((i as f64 + 1.0) * 0.618_033_988_749_894_9).fract() - 0.5 + 1e-3)
        .collect();
    deflate(&mut x0, pi);
    let nrm = dot(&x0, &x0).sqrt();
    if !pos_finite(nrm) {
        return None;
    }
    x0.iter_mut().for_each(|x| *x /= nrm);
    let step = |v: &[f64]| -> Vec<f64> {
        let mut w = v.to_vec();
        lu.solve(&mut w);
        deflate(&mut w, pi);
        w
    };
    let mut x1 = step(&x0);
    let mut est = f64::NAN;
    let mut stable = 0;
    for _ in 0..MAX_GAP_STEPS {
        let x2 = step(&x1);
        let (g00, g01, g11) = (dot(&x0, &x0), dot(&x0, &x1), dot(&x1, &x1));
        let (c00, c01, c10, c11) = (g01, dot(&x0, &x2), g11, dot(&x1, &x2));
        if !pos_finite(g11) {
            break;
        }
        let det_g = g00 * g11 - g01 * g01;
        // Dominant Ritz value theta = a + i b of x -> x (sigma I - Q)^-1.
        let (a, b) = if det_g > 1e-12 * g00 * g11 {
            // H = G^-1 C with V = [x0, x1], W = [x1, x2].
            let h00 = (g11 * c00 - g01 * c10) / det_g;
            let h01 = (g11 * c01 - g01 * c11) / det_g;
            let h10 = (g00 * c10 - g01 * c00) / det_g;
            let h11 = (g00 * c11 - g01 * c01) / det_g;
            let half_tr = 0.5 * (h00 + h11);
            let det_h = h00 * h11 - h01 * h10;
            let disc = half_tr * half_tr - det_h;
            if disc >= 0.0 {
                let r = disc.sqrt();
                let t1 = half_tr + r;
                let t2 = half_tr - r;
                (if t1.abs() >= t2.abs() { t1 } else { t2 }, 0.0)
            } else {
                (half_tr, (-disc).sqrt())
            }
        } else {
            // Iterates are collinear: real eigenvalue, Rayleigh quotient.
            (g01 / g00, 0.0)
        };
        let m2 = a * a + b * b;
        if !pos_finite(m2) {
            break;
        }
        // lambda = sigma - 1/theta.
        let new = sigma - a / m2;
        if (new - est).abs() <= 1e-12 * new.abs() {
            stable += 1;
        } else {
            stable = 0;
        }
        est = new;
        if stable >= 3 {
            break;
        }
        let s = g11.sqrt();
        x0 = x1.iter().map(|v| v / s).collect();
        x1 = x2.iter().map(|v| v / s).collect();
    }
    (est.is_finite()).then_some(est.min(0.0))
}

/// Most steps of the subspace iteration in [`second_eigenvalue`]: each
/// costs a solve; the metastable chains it is meant for converge in a few.
pub(super) const MAX_GAP_STEPS: usize = 1000;

/// Spectral gap `|Re lambda_2|` of the generator (see [`second_eigenvalue`]).
pub fn spectral_gap(g: &SparseGenerator, pi: &[f64]) -> Option<f64> {
    second_eigenvalue(g, pi).map(f64::abs)
}
