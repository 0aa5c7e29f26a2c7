//! Markov-chain models that explain simulator output analytically.
//!
//! Two tools live here:
//!
//! 1. [`AbsorbingChain`]: a message's lifecycle (queued → in flight →
//!    retry … → acked / dead-lettered / expired) as a discrete-time absorbing
//!    chain estimated from transition counts.  With the transient block `Q`
//!    and the transient→absorbing block `R` of the canonical form
//!    `P = [[Q, R], [0, I]]`, the fundamental matrix `N = (I - Q)^-1` gives
//!    expected visits and `B = N R` the absorption probabilities
//!    (Kemeny & Snell, *Finite Markov Chains*, 1960, Thms. 3.2.4 and 3.3.7;
//!    Grinstead & Snell, *Introduction to Probability*, §11.2).
//!
//! 2. The retry-orbit CTMC ([`solve_orbit`]): the two-dimensional chain
//!    `(q, o)` = (requests in the queue incl. in service, requests waiting to
//!    retry) used to explain *metastable failures* — a server that is fine at
//!    load `rho < 1` can be pushed by a burst into a state where timed-out
//!    requests are retried, the retries add load, more requests time out,
//!    and the system stays overloaded long after the trigger is gone
//!    (Bronson et al., "Metastable Failures in Distributed Systems",
//!    HotOS 2021; Huang et al., "Metastable Failures in the Wild",
//!    OSDI 2022, whose retry-orbit model is the "reference" cited below).
//!    Retrial-queue background: Falin & Templeton, *Retrial Queues* (1997).
//!
//! Numerical methods (all deterministic, no panics on bad input):
//! * dense Gauss–Jordan with partial pivoting for the small absorbing chain;
//! * the GTH algorithm (Grassmann, Taksar & Heyman, *Operations Research*
//!   33(5), 1985) for the stationary vector, run on a *banded* generator:
//!   state reduction is subtraction-free, hence accurate to machine
//!   precision even for nearly decomposable (metastable) chains, where the
//!   uniformisation/power or Gauss–Seidel iterations converge at the very
//!   slow mixing rate we are trying to measure.  Fill-in stays inside the
//!   band, so the cost is `O(n b^2)` with `b` the bandwidth (`b ~
//!   min(queue_bound, orbit_bound) + 2` for the orbit chain);
//! * shift-and-invert subspace iteration for the second eigenvalue
//!   (see [`second_eigenvalue`]).

// ---------------------------------------------------------------------------
// Dense linear algebra (small systems).
// ---------------------------------------------------------------------------

/// Solve `A X = B` (A square, B with any number of columns) by Gauss–Jordan
/// elimination with partial pivoting.  `None` if the shapes are inconsistent,
/// an input is non-finite or a pivot is below `1e-13 * max|A|` (singular).
fn solve_dense(mut a: Vec<Vec<f64>>, mut b: Vec<Vec<f64>>) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    if b.len() != n || a.iter().any(|r| r.len() != n) {
        return None;
    }
    let m = b.first().map_or(0, Vec::len);
    if b.iter().any(|r| r.len() != m) {
        return None;
    }
    let scale = a
        .iter()
        .flatten()
        .chain(b.iter().flatten())
        .try_fold(0.0_f64, |acc, x| x.is_finite().then(|| acc.max(x.abs())))?;
    let tol = 1e-13 * scale.max(f64::MIN_POSITIVE);
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        let pv = a[piv][col].abs();
        if pv.is_nan() || pv <= tol {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        let d = a[col][col];
        for x in a[col].iter_mut() {
            *x /= d;
        }
        for x in b[col].iter_mut() {
            *x /= d;
        }
        let arow = a[col].clone();
        let brow = b[col].clone();
        for r in 0..n {
            if r == col {
                continue;
            }
            let f = a[r][col];
            if f == 0.0 {
                continue;
            }
            for (x, y) in a[r].iter_mut().zip(&arow) {
                *x -= f * y;
            }
            for (x, y) in b[r].iter_mut().zip(&brow) {
                *x -= f * y;
            }
        }
    }
    b.iter().flatten().all(|x| x.is_finite()).then_some(b)
}

// ---------------------------------------------------------------------------
// (a) Absorbing chain of a message's lifecycle.
// ---------------------------------------------------------------------------

/// Discrete-time absorbing Markov chain in canonical order: states
/// `0..transient` are transient, `transient..` absorbing.  `p` is the full
/// row-stochastic matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct AbsorbingChain {
    pub states: Vec<String>,
    pub transient: usize,
    pub p: Vec<Vec<f64>>,
}

impl AbsorbingChain {
    /// Maximum-likelihood estimate `p_ij = n_ij / sum_j n_ij` from observed
    /// transition counts (`counts[i][j]`, missing rows/columns count as 0,
    /// extra entries are ignored; `transient` is clamped to `states.len()`).
    ///
    /// * Absorbing rows are the identity, whatever was counted.
    /// * A transient row with no observations carries no information about
    ///   where a message goes next; typically the state is unreachable or
    ///   only seen at the end of a (censored) run.  Making it a self-loop
    ///   would make `I - Q` singular and poison every other answer, so the
    ///   row is instead spread uniformly over the absorbing states (a neutral
    ///   "we do not know the outcome" prior that absorbs in one step and
    ///   leaves the rows of other states untouched).  If the chain has no
    ///   absorbing state at all the row is a self-loop (and the fundamental
    ///   matrix is then, correctly, undefined).
    pub fn from_counts(
        states: Vec<String>,
        transient: usize,
        counts: &[Vec<u64>],
    ) -> AbsorbingChain {
        let n = states.len();
        let t = transient.min(n);
        let mut p = vec![vec![0.0; n]; n];
        for (i, row) in p.iter_mut().enumerate() {
            if i >= t {
                row[i] = 1.0;
                continue;
            }
            let obs: Vec<f64> = (0..n)
                .map(|j| {
                    counts
                        .get(i)
                        .and_then(|r| r.get(j))
                        .map_or(0.0, |&c| c as f64)
                })
                .collect();
            let total: f64 = obs.iter().sum();
            if total > 0.0 {
                for (x, o) in row.iter_mut().zip(&obs) {
                    *x = o / total;
                }
            } else if n > t {
                let share = 1.0 / (n - t) as f64;
                for x in row.iter_mut().skip(t) {
                    *x = share;
                }
            } else {
                row[i] = 1.0;
            }
        }
        AbsorbingChain {
            states,
            transient: t,
            p,
        }
    }

    fn shape_ok(&self) -> bool {
        let n = self.p.len();
        self.transient <= n
            && self
                .p
                .iter()
                .all(|r| r.len() == n && r.iter().all(|x| x.is_finite()))
    }

    /// Fundamental matrix `N = (I - Q)^-1` (transient × transient);
    /// `N[i][j]` is the expected number of visits to `j` starting from `i`
    /// (counting the start).  `None` if `I - Q` is singular (some transient
    /// class never absorbs) or the matrix is malformed.
    pub fn fundamental(&self) -> Option<Vec<Vec<f64>>> {
        if !self.shape_ok() {
            return None;
        }
        let t = self.transient;
        let a: Vec<Vec<f64>> = (0..t)
            .map(|i| {
                (0..t)
                    .map(|j| f64::from(u8::from(i == j)) - self.p[i][j])
                    .collect()
            })
            .collect();
        let id: Vec<Vec<f64>> = (0..t)
            .map(|i| (0..t).map(|j| f64::from(u8::from(i == j))).collect())
            .collect();
        solve_dense(a, id)
    }

    /// Row `start` of `B = N R`: the probability of ending in each absorbing
    /// state (in the order `states[transient..]`).  `None` if `start` is not
    /// transient or `N` does not exist.
    pub fn absorption(&self, start: usize) -> Option<Vec<f64>> {
        if start >= self.transient {
            return None;
        }
        let nrow = self.expected_visits(start)?;
        let t = self.transient;
        let n = self.p.len();
        Some(
            (t..n)
                .map(|j| nrow.iter().enumerate().map(|(k, v)| v * self.p[k][j]).sum())
                .collect(),
        )
    }

    /// Row `start` of `N`: expected visits to each transient state before
    /// absorption.  Its sum is the expected number of steps to absorption.
    pub fn expected_visits(&self, start: usize) -> Option<Vec<f64>> {
        if start >= self.transient {
            return None;
        }
        let n = self.fundamental()?;
        n.get(start).cloned()
    }
}

// ---------------------------------------------------------------------------
// Sparse generators, banded GTH and the spectral gap.
// ---------------------------------------------------------------------------

/// Generator of a finite CTMC stored as per-row lists of off-diagonal rates
/// (the diagonal is implied: `q_ii = -sum_j q_ij`).  States should be
/// numbered so that transitions are local (small `|i - j|`): the solvers are
/// banded and cost `O(n b^2)` with `b = max |i - j|`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseGenerator {
    rows: Vec<Vec<(usize, f64)>>,
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
struct Band {
    b: usize,
    w: usize,
    data: Vec<f64>,
}

/// Refuse band matrices larger than this many entries (~400 MB).
const MAX_BAND_ENTRIES: usize = 50_000_000;
/// Band eliminations cost `n b^2`; above this many operations the sparse
/// factorisation (whose fill-reducing ordering does better on wide bands)
/// takes over.
const MAX_BAND_WORK: f64 = 4e8;

/// Whether the dense band of an `n`-state matrix with half-bandwidth `b`
/// fits in memory and time.
fn band_fits(n: usize, b: usize) -> bool {
    let w = b.saturating_mul(2).saturating_add(1);
    n.saturating_mul(w) <= MAX_BAND_ENTRIES && (n as f64) * (b as f64) * (b as f64) <= MAX_BAND_WORK
}

impl Band {
    fn new(n: usize, b: usize) -> Option<Band> {
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
    fn idx(&self, i: usize, j: usize) -> usize {
        i * self.w + j + self.b - i
    }
    #[inline]
    fn get(&self, i: usize, j: usize) -> f64 {
        self.data[self.idx(i, j)]
    }
    #[inline]
    fn add(&mut self, i: usize, j: usize, x: f64) {
        let k = self.idx(i, j);
        self.data[k] += x;
    }
    #[inline]
    fn set(&mut self, i: usize, j: usize, x: f64) {
        let k = self.idx(i, j);
        self.data[k] = x;
    }
}

/// A square sparse matrix stored by rows, diagonal included: the systems
/// the chain's analyses solve (`(sigma I - Q)^T` for the stationary vector
/// and the spectral gap, `-Q` restricted to a set of states for hitting
/// times).
struct RowMatrix {
    rows: Vec<Vec<(usize, f64)>>,
}

impl RowMatrix {
    fn n(&self) -> usize {
        self.rows.len()
    }

    fn bandwidth(&self) -> usize {
        self.rows
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.iter().map(move |&(j, _)| i.abs_diff(j)))
            .max()
            .unwrap_or(0)
    }

    /// `(sigma I - Q)^T` of a generator.
    fn shifted_transpose(g: &SparseGenerator, sigma: f64) -> RowMatrix {
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
struct BandLu {
    n: usize,
    m: Band,
}

impl BandLu {
    fn new(a: &RowMatrix) -> Option<BandLu> {
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
    fn solve(&self, v: &mut [f64]) {
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
enum Factored {
    Band(BandLu),
    Sparse(Box<faer::sparse::linalg::solvers::Lu<usize, f64>>),
}

impl Factored {
    fn new(a: &RowMatrix) -> Option<Factored> {
        let n = a.n();
        if band_fits(n, a.bandwidth()) {
            return BandLu::new(a).map(Factored::Band);
        }
        if n > MAX_SPARSE_STATES {
            return None;
        }
        Self::sparse(a).map(|lu| Factored::Sparse(Box::new(lu)))
    }

    fn sparse(a: &RowMatrix) -> Option<faer::sparse::linalg::solvers::Lu<usize, f64>> {
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
    fn solve(&self, v: &mut [f64]) {
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
fn pos_finite(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Remove the `pi` component of a row vector: the left eigenvectors of the
/// non-zero eigenvalues all sum to zero, so `x - (x . 1) pi` is the exact
/// oblique projection onto their span.
fn deflate(x: &mut [f64], pi: &[f64]) {
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
const MAX_GAP_STEPS: usize = 1000;

/// Spectral gap `|Re lambda_2|` of the generator (see [`second_eigenvalue`]).
pub fn spectral_gap(g: &SparseGenerator, pi: &[f64]) -> Option<f64> {
    second_eigenvalue(g, pi).map(f64::abs)
}

// ---------------------------------------------------------------------------
// Sojourn-time tails.
// ---------------------------------------------------------------------------

fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// `ln P(Poisson(x) = j)` for `j = 0..=m` (x > 0).
fn poisson_ln_pmf(x: f64, m: usize) -> Vec<f64> {
    let lx = x.ln();
    let mut v = Vec::with_capacity(m + 1);
    let mut cur = -x;
    v.push(cur);
    for j in 1..=m {
        cur += lx - (j as f64).ln();
        v.push(cur);
    }
    v
}

/// `ln P(Poisson(x) <= m)` for `m = 0..=mmax`: running log-sum of positive
/// terms, accurate in relative terms even when tiny.
fn poisson_ln_cdf(x: f64, mmax: usize) -> Vec<f64> {
    let pmf = poisson_ln_pmf(x, mmax);
    let mut acc = f64::NEG_INFINITY;
    pmf.iter()
        .map(|&l| {
            acc = log_add(acc, l);
            acc.min(0.0)
        })
        .collect()
}

/// `ln P(Poisson(x) >= k)` for `k = 0..=kmax`.  For `k <= x` the survival
/// function is `>= ~0.4`, so `ln(1 - cdf(k-1))` is accurate; for `k > x` it is
/// summed as a log-sum of the (decreasing) upper terms, so it stays accurate
/// when it is astronomically small.
fn poisson_ln_sf(x: f64, kmax: usize) -> Vec<f64> {
    let pmf = poisson_ln_pmf(x, kmax);
    let cdf = poisson_ln_cdf(x, kmax);
    let mut sf = vec![0.0_f64; kmax + 1];
    let mut first_upper = kmax + 1;
    for k in 1..=kmax {
        if (k as f64) <= x {
            sf[k] = (-cdf[k - 1].exp_m1()).ln();
        } else {
            first_upper = k;
            break;
        }
    }
    if first_upper <= kmax {
        // Terms beyond kmax (j > x, so decreasing).
        let lx = x.ln();
        let mut lp = pmf[kmax] + lx - ((kmax + 1) as f64).ln();
        let mut tail = f64::NEG_INFINITY;
        let mut j = kmax + 1;
        for _ in 0..10_000_000 {
            tail = log_add(tail, lp);
            j += 1;
            lp += lx - (j as f64).ln();
            if lp < tail - 40.0 {
                break;
            }
        }
        let mut acc = tail;
        for k in (first_upper..=kmax).rev() {
            acc = log_add(acc, pmf[k]);
            sf[k] = acc.min(0.0);
        }
    }
    sf
}

/// `tail[q] = P(sojourn > tau)` for a FCFS request that joins an M/M/c
/// station behind `q` others (`q = 0..=q_max`), `threads = c` servers of
/// rate `mu` each.
///
/// * `q < c`: it starts at once; sojourn = one `Exp(mu)` service, tail
///   `e^{-mu tau}`.
/// * `q >= c`: it waits for `k = q - c + 1` departures, each at rate
///   `c mu`, i.e. `W ~ Erlang(k, c mu)`, then `S ~ Exp(mu)`.
///   - `c = 1`: `W + S ~ Erlang(q + 1, mu)`, tail `P(Poisson(mu tau) <= q)`.
///   - `c >= 2` (hypoexponential; condition on `W` and integrate):
///     `P(W + S > tau) = P(Poisson(c mu tau) <= k - 1)
///        + e^{-mu tau} (c/(c-1))^k P(Poisson((c-1) mu tau) >= k)`.
///
/// All terms are sums of positive Poisson probabilities evaluated in the log
/// domain (no cancellation, no overflow of `(c/(c-1))^k`).  `None` for
/// invalid parameters.
pub fn sojourn_tail_table(q_max: usize, threads: u32, mu: f64, tau: f64) -> Option<Vec<f64>> {
    if threads == 0 || !pos_finite(mu) || !pos_finite(tau) {
        return None;
    }
    let x = mu * tau;
    if !pos_finite(x) {
        return None;
    }
    let c = threads as usize;
    let mut out = vec![(-x).exp(); q_max + 1];
    if q_max < c {
        return Some(out);
    }
    if c == 1 {
        let cdf = poisson_ln_cdf(x, q_max);
        for (o, l) in out.iter_mut().zip(&cdf) {
            *o = l.exp().clamp(0.0, 1.0);
        }
    } else {
        let cf = f64::from(threads);
        let kmax = q_max - c + 1;
        let cdf1 = poisson_ln_cdf(cf * x, kmax);
        let sf2 = poisson_ln_sf((cf - 1.0) * x, kmax);
        let ln_ratio = (cf / (cf - 1.0)).ln();
        for (q, o) in out.iter_mut().enumerate().skip(c) {
            let k = q - c + 1;
            let t = cdf1[k - 1].exp() + (-x + k as f64 * ln_ratio + sf2[k]).exp();
            *o = if t.is_finite() {
                t.clamp(0.0, 1.0)
            } else {
                1.0
            };
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// (b) Retry-orbit CTMC.
// ---------------------------------------------------------------------------

/// How the chain computes `tail(q)`, the probability that a request that
/// joins the queue behind `q` others is not done within the timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TailModel {
    /// The exact sojourn tail of a FCFS M/M/c station ([`sojourn_tail_table`]).
    Exact,
    /// Metafor's bound: Chebyshev's inequality on the sum of `q` service
    /// times, `(sd / (tau - mean))^2` when `tau - mean > sd`, else 1, and 0
    /// for an empty queue.  It over-estimates the tail.
    Chebyshev,
}

/// What a full queue does with the requests it turns away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FullQueue {
    /// The client notices at its timeout and retries, as mqsim's clients do
    /// against `overflow = "reject-publish"`: a new request joins the orbit
    /// (with probability alpha), a retry stays in it (its attempt is spent).
    ClientRetries,
    /// Metafor: new requests are lost and retries leave the orbit.
    Dropped,
}

/// The modelling choices where retry-orbit chains in the literature differ.
#[derive(Clone, Debug, PartialEq)]
pub struct Modelling {
    /// Fraction of the requests that will time out that enter the orbit
    /// (the others count as failed at once).
    pub alpha: f64,
    pub tail: TailModel,
    pub full_queue: FullQueue,
    /// Metafor's generator sends every new arrival to `(q+1, o)` and, besides,
    /// `alpha lambda tail(q)` to `(q+1, o+1)`: a request that will time out
    /// arrives twice (the offered load is `lambda (1 + alpha tail)`).
    pub doomed_arrivals_twice: bool,
}

impl Modelling {
    /// mqsim's chain: every request that will time out joins the orbit,
    /// exact tails, a full queue turns requests back to their clients, and
    /// new arrivals total exactly `lambda`.
    pub fn mqsim() -> Modelling {
        Modelling {
            alpha: 1.0,
            tail: TailModel::Exact,
            full_queue: FullQueue::ClientRetries,
            doomed_arrivals_twice: false,
        }
    }

    /// Metafor's single-server chain (`ctmc_model/single_server/ctmc.py`
    /// with its defaults: alpha 0.25, `retry_when_full = False`).  Its queue
    /// and orbit sizes count states: `qsize` 100 is `queue_bound` 99.
    pub fn metafor() -> Modelling {
        Modelling {
            alpha: 0.25,
            tail: TailModel::Chebyshev,
            full_queue: FullQueue::Dropped,
            doomed_arrivals_twice: true,
        }
    }
}

impl Default for Modelling {
    fn default() -> Modelling {
        Modelling::mqsim()
    }
}

/// Parameters of the retry-orbit chain.  Rates per second, times in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct OrbitParams {
    /// Arrival rate of *new* requests.
    pub lambda: f64,
    /// Service rate per thread.
    pub mu: f64,
    pub threads: u32,
    /// Client timeout `tau`.
    pub timeout_s: f64,
    /// `R`: retries per request (mean number of retries in the orbit).
    pub max_retries: u32,
    /// Largest queue length kept (`q = 0..=queue_bound`).
    pub queue_bound: usize,
    /// Largest orbit size kept (`o = 0..=orbit_bound`).
    pub orbit_bound: usize,
    /// The queue bound is the queue's own capacity (a full queue turns
    /// requests away), not a truncation of an unbounded queue: probability
    /// on it is part of the model, not a truncation error.
    pub queue_is_capacity: bool,
    pub modelling: Modelling,
}

/// Stationary summary of the retry-orbit chain.
#[derive(Clone, Debug, PartialEq)]
pub struct OrbitSolution {
    pub mean_queue: f64,
    /// Mean orbit: requests whose current attempt will time out or that
    /// wait to retry (a request joins the orbit when it joins the queue
    /// behind too many others).
    pub mean_orbit: f64,
    /// The orbit as the simulation counts it: requests whose client has
    /// timed out at least once and still waits.  Every orbit member's first
    /// holding period (mean `tau`, whatever the state) stands for the wait
    /// before its first timeout, so by Little's law this is `mean_orbit -
    /// tau x entry_rate`.
    pub mean_orbit_retried: f64,
    /// Requests per second that join the orbit as they arrive.
    pub entry_rate: f64,
    /// Goodput: completions per second that finish before their timeout.
    pub throughput: f64,
    /// Requests per second that finally fail (dropped from the orbit after
    /// their retries, timed out with no retry left, or turned away at a
    /// full queue).  With `doomed_arrivals_twice` off, `throughput +
    /// failure_rate = lambda` in steady state.
    pub failure_rate: f64,
    /// Stationary mass on a bound that truncates the state space (the
    /// orbit bound, and the queue bound unless it is the queue's
    /// capacity): the truncation error.
    pub mass_at_bounds: f64,
    /// Estimated `Re lambda_2` of the generator (negative; NaN when not
    /// computed).
    pub second_eigenvalue: f64,
    /// `1 / |Re lambda_2|`: time scale on which the chain forgets its start,
    /// e.g. how long a metastable overload persists.
    pub mixing_time_s: f64,
    /// `occupancy[q][o]` stationary probabilities.
    pub occupancy: Vec<Vec<f64>>,
}

/// Largest number of states accepted by [`solve_orbit`].
pub const MAX_ORBIT_STATES: usize = 2_000_000;

/// `tail[q]` for `q = 0..=queue_bound` under the chosen [`TailModel`].
pub fn tail_table(p: &OrbitParams) -> Option<Vec<f64>> {
    match p.modelling.tail {
        TailModel::Exact => sojourn_tail_table(p.queue_bound, p.threads, p.mu, p.timeout_s),
        TailModel::Chebyshev => {
            if p.threads == 0 || !pos_finite(p.mu) || !pos_finite(p.timeout_s) {
                return None;
            }
            let mut t = vec![0.0; p.queue_bound + 1];
            for (q, x) in t.iter_mut().enumerate().skip(1) {
                let rate = q.min(p.threads as usize) as f64 * p.mu;
                let mean = q as f64 / rate;
                let sd = (q as f64).sqrt() / rate;
                *x = if p.timeout_s - mean > sd {
                    (sd / (p.timeout_s - mean)).powi(2)
                } else {
                    1.0
                };
            }
            Some(t)
        }
    }
}

/// Orbit rates `(mu_retry, mu_drop, alpha)`: each orbit member leaves after
/// a mean `tau`; a fraction `R/(R+1)` of those exits are retries.
fn orbit_rates(p: &OrbitParams) -> (f64, f64, f64) {
    let r = f64::from(p.max_retries);
    let alpha = if p.max_retries > 0 {
        p.modelling.alpha
    } else {
        0.0
    };
    (
        r / ((r + 1.0) * p.timeout_s),
        1.0 / ((r + 1.0) * p.timeout_s),
        alpha,
    )
}

/// Build the generator; returns it with the state numbering `(q, o) -> index`.
pub(crate) fn orbit_generator(
    p: &OrbitParams,
    tail: &[f64],
) -> (SparseGenerator, impl Fn(usize, usize) -> usize) {
    let (nq, no) = (p.queue_bound + 1, p.orbit_bound + 1);
    // Number states with the smaller dimension innermost: bandwidth ~ it + 1.
    let q_major = no <= nq;
    let idx = move |q: usize, o: usize| if q_major { q * no + o } else { o * nq + q };
    let (mu_retry, mu_drop, alpha) = orbit_rates(p);
    let twice = p.modelling.doomed_arrivals_twice;
    let mut g = SparseGenerator::new(nq * no);
    for (q, &t) in tail.iter().enumerate().take(nq) {
        for o in 0..no {
            let s = idx(q, o);
            let of = o as f64;
            let room = o < p.orbit_bound;
            if q < p.queue_bound {
                let up = idx(q + 1, o);
                let doomed = p.lambda * alpha * t;
                if room {
                    g.add(s, idx(q + 1, o + 1), doomed);
                }
                // New arrivals total lambda (unless Metafor's double count).
                let fresh = if twice || !room {
                    p.lambda
                } else {
                    p.lambda - doomed
                };
                g.add(s, up, fresh);
                if o > 0 {
                    g.add(s, idx(q + 1, o - 1), of * mu_retry * (1.0 - t));
                    g.add(s, up, of * mu_retry * t);
                }
            } else {
                match p.modelling.full_queue {
                    // Turned away: the client will time out and retry; a
                    // retry turned away spends its attempt and stays.
                    FullQueue::ClientRetries if room => g.add(s, idx(q, o + 1), p.lambda * alpha),
                    FullQueue::ClientRetries => {}
                    FullQueue::Dropped if o > 0 => g.add(s, idx(q, o - 1), of * mu_retry),
                    FullQueue::Dropped => {}
                }
            }
            if o > 0 {
                g.add(s, idx(q, o - 1), of * mu_drop);
            }
            if q > 0 {
                let busy = q.min(p.threads as usize) as f64;
                g.add(s, idx(q - 1, o), busy * p.mu);
            }
        }
    }
    (g, idx)
}

/// Solve the retry-orbit CTMC for its stationary distribution and summary.
///
/// State `(q, o)`: `q` requests in the queue including those in service
/// (and the copies of requests that timed out, still waiting to be
/// processed), `o` requests in the orbit (their attempt will time out, or
/// they wait to retry).  With `R = max_retries`, `tau = timeout_s` and
/// `tail(q)` from [`tail_table`]:
///
/// | transition | rate |
/// |---|---|
/// | `(q,o) -> (q+1,o)`   | `lambda (1 - alpha tail(q)) + o mu_retry tail(q)` |
/// | `(q,o) -> (q+1,o+1)` | `alpha lambda tail(q)` |
/// | `(q,o) -> (q+1,o-1)` | `o mu_retry (1 - tail(q))` |
/// | `(q,o) -> (q,o-1)`   | `o mu_drop` |
/// | `(q,o) -> (q-1,o)`   | `min(q, threads) mu` |
///
/// with `mu_retry = R/((R+1) tau)` and `mu_drop = 1/((R+1) tau)` (each orbit
/// member leaves after ~`tau`; a fraction `R/(R+1)` of those exits are
/// retries, so the number of retries is geometric with mean `R`).
///
/// Modelling choices ([`Modelling`]; [`Modelling::metafor`] gives the
/// published chain's):
/// * **New arrivals total exactly `lambda`.**  A doomed new arrival joins
///   the queue *and* the orbit (it still occupies a server: the wasted work
///   that drives metastability); its retry comes after the orbit's
///   exponential holding time, which stands in for the fixed timeout.
/// * **`alpha = 1` when `R >= 1`, `alpha = 0` when `R = 0`.**  With no
///   retries the orbit stays empty and the queue is exactly M/M/c/K.
/// * A retry that will time out again re-joins the queue and stays in the
///   orbit (`(q+1,o)`); one that will succeed leaves it (`(q+1,o-1)`).
/// * `tail(q)` treats a request's fate as decided when it joins (FCFS,
///   exponential services, exact hypoexponential tail).
/// * **A full queue** (`q = queue_bound`) turns new requests and retries
///   away; the clients notice at their timeout and retry (new requests join
///   the orbit, retries stay in it).  At `o = orbit_bound` a new doomed
///   arrival still joins the queue but is not retried (a failure).
///
/// Stationary vector: banded GTH ([`SparseGenerator::stationary_any`]),
/// exact up to rounding, or inverse iteration on faer's sparse LU for
/// chains whose band does not fit; the relative residual `max|pi Q| / max
/// exit rate` must be `<= 1e-10`.  Second eigenvalue: [`second_eigenvalue`].
///
/// `None` for invalid parameters (non-finite, `mu <= 0`, `threads = 0`,
/// `timeout_s <= 0`, `queue_bound = 0`, more than [`MAX_ORBIT_STATES`]
/// states) or if a numerical step fails.
pub fn solve_orbit(p: &OrbitParams) -> Option<OrbitSolution> {
    solve_orbit_with(p, true)
}

/// [`solve_orbit`] without the second eigenvalue (NaN): the stationary
/// figures alone, much cheaper.
pub fn solve_orbit_with_pub(p: &OrbitParams, with_gap: bool) -> Option<OrbitSolution> {
    solve_orbit_with(p, with_gap)
}

/// [`solve_orbit`], with or without the second eigenvalue (NaN when left out).
fn solve_orbit_with(p: &OrbitParams, with_gap: bool) -> Option<OrbitSolution> {
    let finite_nonneg = |x: f64| x.is_finite() && x >= 0.0;
    if !finite_nonneg(p.lambda)
        || !pos_finite(p.mu)
        || p.threads == 0
        || !pos_finite(p.timeout_s)
        || p.queue_bound == 0
        || !(0.0..=1.0).contains(&p.modelling.alpha)
    {
        return None;
    }
    let nq = p.queue_bound.checked_add(1)?;
    let no = p.orbit_bound.checked_add(1)?;
    let n = nq.checked_mul(no)?;
    if n > MAX_ORBIT_STATES {
        return None;
    }
    let tail = tail_table(p)?;
    let (g, idx) = orbit_generator(p, &tail);
    let pi = g.stationary_any()?;
    let residual = g.residual(&pi);
    if residual.is_nan() || residual > 1e-10 {
        return None;
    }
    let lambda2 = if with_gap {
        second_eigenvalue(&g, &pi)?
    } else {
        f64::NAN
    };
    let (mu_retry, mu_drop, alpha) = orbit_rates(p);
    let mut occupancy = vec![vec![0.0; no]; nq];
    let (mut mq, mut mo, mut good, mut fail, mut bound, mut entry) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (q, row) in occupancy.iter_mut().enumerate() {
        let t = tail[q];
        for (o, cell) in row.iter_mut().enumerate() {
            let w = pi[idx(q, o)];
            *cell = w;
            let of = o as f64;
            let room = o < p.orbit_bound;
            mq += q as f64 * w;
            mo += of * w;
            fail += w * of * mu_drop;
            if q < p.queue_bound {
                good += w * (p.lambda + of * mu_retry) * (1.0 - t);
                let joins = if room { alpha } else { 0.0 };
                entry += w * p.lambda * joins * t;
                fail += w * p.lambda * (1.0 - joins) * t;
            } else {
                match p.modelling.full_queue {
                    FullQueue::ClientRetries => {
                        let joins = if room { alpha } else { 0.0 };
                        entry += w * p.lambda * joins;
                        fail += w * p.lambda * (1.0 - joins);
                    }
                    FullQueue::Dropped => fail += w * (p.lambda + of * mu_retry),
                }
            }
            let truncating = o == p.orbit_bound || (q == p.queue_bound && !p.queue_is_capacity);
            if truncating {
                bound += w;
            }
        }
    }
    let mixing = if lambda2 < 0.0 {
        1.0 / -lambda2
    } else if lambda2.is_nan() {
        f64::NAN
    } else {
        f64::INFINITY
    };
    Some(OrbitSolution {
        mean_queue: mq,
        mean_orbit: mo,
        mean_orbit_retried: (mo - p.timeout_s * entry).max(0.0),
        entry_rate: entry,
        throughput: good,
        failure_rate: fail,
        mass_at_bounds: bound.min(1.0),
        second_eigenvalue: lambda2,
        mixing_time_s: mixing,
        occupancy,
    })
}

/// The stationary mass at the truncating bounds above which
/// [`solve_orbit_auto`] grows them.
pub const TRUNCATION_TOLERANCE: f64 = 1e-7;

/// Whether the queue grows without bound once every attempt times out:
/// then new requests plus the orbit's retries (`lambda (1 + alpha R)`) reach
/// the service capacity.  An unbounded queue has then no stationary
/// distribution (a trigger can start a collapse that never ends).
pub fn high_mode_unbounded(p: &OrbitParams) -> bool {
    let (_, _, alpha) = orbit_rates(p);
    let extra = if p.modelling.doomed_arrivals_twice {
        alpha
    } else {
        0.0
    };
    let offered = p.lambda * (1.0 + extra + alpha * f64::from(p.max_retries));
    !p.queue_is_capacity && offered >= f64::from(p.threads) * p.mu
}

/// The bounds [`solve_orbit_auto`] starts from: the orbit at the `1 - 1e-9`
/// point of the Poisson law with the largest possible mean orbit
/// (`alpha lambda (R+1) tau`: every request in it for its whole life); an
/// unbounded queue at 64, or, when its high mode is unbounded, where every
/// attempt times out (`tail >= 1 - 1e-9`) and a quarter beyond.
pub fn initial_bounds(p: &OrbitParams, orbit_fixed: bool) -> OrbitParams {
    let mut out = p.clone();
    if !orbit_fixed {
        let (_, _, alpha) = orbit_rates(p);
        let m = alpha * p.lambda * f64::from(p.max_retries + 1) * p.timeout_s;
        out.orbit_bound = if m.is_finite() {
            (m + 6.0 * m.sqrt() + 10.0).ceil().min(1e6) as usize
        } else {
            8
        };
    }
    if !p.queue_is_capacity {
        out.queue_bound = 64;
        if high_mode_unbounded(p) {
            let probe = OrbitParams {
                queue_bound: 20_000,
                ..p.clone()
            };
            let full = tail_table(&probe)
                .and_then(|t| t.iter().position(|&x| x >= 1.0 - 1e-9))
                .unwrap_or(probe.queue_bound);
            out.queue_bound = (full + full / 4 + 16).max(64);
        }
    }
    out
}

/// [`solve_orbit`] with bounds sized until the stationary mass at the
/// truncating bounds is below [`TRUNCATION_TOLERANCE`]: from
/// [`initial_bounds`], each bound that holds too much is grown by half
/// (the orbit) or doubled (an unbounded queue) while the chain has at most
/// `max_states` states.  The queue bound is not grown when the high mode is
/// unbounded ([`high_mode_unbounded`]): no bound would do.  With
/// `orbit_fixed` the orbit bound of `p` is kept (for comparisons with
/// published models).  Returns the bounds used and the solution, whose
/// `mass_at_bounds` is the truncation error that remains.
pub fn solve_orbit_auto(
    p: &OrbitParams,
    orbit_fixed: bool,
    max_states: usize,
) -> Option<(OrbitParams, OrbitSolution)> {
    let mut cur = initial_bounds(p, orbit_fixed);
    let max_states = max_states.min(MAX_ORBIT_STATES);
    if (cur.queue_bound + 1).saturating_mul(cur.orbit_bound + 1) > max_states {
        // Too large to start with: keep the queue, cut the orbit to fit
        // (the truncation error says what that costs).
        let rows = cur.queue_bound.checked_add(1)?;
        cur.orbit_bound = (max_states / rows).checked_sub(1).filter(|&o| o >= 1)?;
    }
    let grow_queue = !p.queue_is_capacity && !high_mode_unbounded(p);
    loop {
        let s = solve_orbit_with(&cur, false)?;
        let (at_q, at_o) = bound_masses(&s);
        let mut next = cur.clone();
        if at_o > TRUNCATION_TOLERANCE && !orbit_fixed {
            next.orbit_bound = cur.orbit_bound + cur.orbit_bound / 2 + 8;
        }
        if at_q > TRUNCATION_TOLERANCE && grow_queue {
            next.queue_bound = cur.queue_bound * 2;
        }
        let states = (next.queue_bound + 1).saturating_mul(next.orbit_bound + 1);
        if next == cur || states > max_states {
            break;
        }
        cur = next;
    }
    let s = solve_orbit_with(&cur, true)?;
    Some((cur, s))
}

/// Stationary mass on the queue bound and on the orbit bound.
fn bound_masses(s: &OrbitSolution) -> (f64, f64) {
    let at_q = s.occupancy.last().map_or(0.0, |r| r.iter().sum());
    let at_o = s.occupancy.iter().filter_map(|r| r.last()).sum();
    (at_q, at_o)
}

/// A metastable failure is judged from the chain: how much stationary
/// mass sits where requests time out, and how long the chain takes to
/// leave that region, against the time the servers alone would need.
#[derive(Clone, Debug, PartialEq)]
pub struct Metastability {
    /// The first queue length at which a request that joins times out with
    /// probability at least 1/2; the high mode is `q >= split_queue`.
    pub split_queue: Option<usize>,
    /// Stationary probability of the high mode.
    pub high_mode_mass: f64,
    /// Mean queue length in the high mode.
    pub high_mode_mean_queue: Option<f64>,
    /// Expected time from the high mode (its stationary conditional law,
    /// or the full queue when the high mode has no stationary mass) to a
    /// queue below `split_queue`.
    pub escape_time_s: Option<f64>,
    /// What the servers alone need to bring that queue below
    /// `split_queue`: `(E[q | high] - split_queue + 1) / (c mu - lambda)`.
    pub drain_time_s: Option<f64>,
    /// `escape_time_s >= METASTABLE_RATIO x drain_time_s` (retries hold
    /// the system in the high mode far longer than its backlog explains),
    /// below the service capacity.
    pub metastable_risk: bool,
}

/// How many times longer than its own drain time the chain must take to
/// leave the high mode for [`Metastability::metastable_risk`].
pub const METASTABLE_RATIO: f64 = 10.0;

/// The metastability verdict of a solved chain.
pub fn metastability(p: &OrbitParams, s: &OrbitSolution) -> Option<Metastability> {
    let tail = tail_table(p)?;
    let capacity = f64::from(p.threads) * p.mu;
    let none = Metastability {
        split_queue: None,
        high_mode_mass: 0.0,
        high_mode_mean_queue: None,
        escape_time_s: None,
        drain_time_s: None,
        metastable_risk: false,
    };
    let Some(split) = tail.iter().position(|&t| t >= 0.5).filter(|&k| k > 0) else {
        return Some(none);
    };
    let marginal: Vec<f64> = s.occupancy.iter().map(|r| r.iter().sum()).collect();
    let mass: f64 = marginal[split..].iter().sum();
    let mean_high = if mass > 0.0 {
        marginal[split..]
            .iter()
            .enumerate()
            .map(|(k, w)| (split + k) as f64 * w)
            .sum::<f64>()
            / mass
    } else {
        p.queue_bound as f64
    };
    let (g, idx) = orbit_generator(p, &tail);
    let no = p.orbit_bound + 1;
    let mut target = vec![false; g.n()];
    for q in 0..split {
        for o in 0..no {
            target[idx(q, o)] = true;
        }
    }
    // A chain so metastable that the hitting-time system is numerically
    // singular leaves its high mode on the time scale of its slowest mode.
    let escape = g.hitting_times(&target).map(|h| {
        if mass > 0.0 {
            let mut sum = 0.0;
            for (q, row) in s.occupancy.iter().enumerate().skip(split) {
                for (o, w) in row.iter().enumerate() {
                    sum += w * h[idx(q, o)];
                }
            }
            sum / mass
        } else {
            h[idx(p.queue_bound, 0)]
        }
    });
    let escape = escape.or((s.mixing_time_s > 0.0).then_some(s.mixing_time_s));
    let drain =
        (p.lambda < capacity).then(|| (mean_high - split as f64 + 1.0) / (capacity - p.lambda));
    let risk = matches!((escape, drain), (Some(e), Some(d)) if e >= METASTABLE_RATIO * d);
    Some(Metastability {
        split_queue: Some(split),
        high_mode_mass: mass.min(1.0),
        high_mode_mean_queue: Some(mean_high),
        escape_time_s: escape,
        drain_time_s: drain,
        metastable_risk: risk,
    })
}

/// The chain's threshold load: the arrival rate at which the high mode
/// holds half of the stationary mass (bisection on `lambda` between 0 and
/// the service capacity, bounds sized as [`solve_orbit_auto`] unless
/// `orbit_fixed`).  `None` when the high mode never takes over below
/// capacity, or a solve fails.
pub fn threshold_lambda(p: &OrbitParams, orbit_fixed: bool, max_states: usize) -> Option<f64> {
    let capacity = f64::from(p.threads) * p.mu;
    let high = |lambda: f64| -> Option<f64> {
        let q = OrbitParams {
            lambda,
            ..p.clone()
        };
        let q = if orbit_fixed && p.queue_is_capacity {
            q
        } else {
            let (b, _) = solve_orbit_auto(&q, orbit_fixed, max_states)?;
            b
        };
        let s = solve_orbit_with(&q, false)?;
        Some(metastability(&q, &s)?.high_mode_mass)
    };
    let (mut lo, mut hi) = (1e-3 * capacity, capacity * (1.0 - 1e-9));
    if high(hi)? < 0.5 || high(lo)? >= 0.5 {
        return None;
    }
    for _ in 0..30 {
        let mid = 0.5 * (lo + hi);
        if high(mid)? >= 0.5 {
            hi = mid;
        } else {
            lo = mid;
        }
        if hi - lo <= 1e-4 * capacity {
            break;
        }
    }
    Some(0.5 * (lo + hi))
}

/// Expected time (s) for the chain to bring the queue below `below`
/// from state `(q, o)` (Metafor's recovery time).
pub fn recovery_time(p: &OrbitParams, q: usize, o: usize, below: usize) -> Option<f64> {
    let tail = tail_table(p)?;
    let (g, idx) = orbit_generator(p, &tail);
    if q > p.queue_bound || o > p.orbit_bound {
        return None;
    }
    let mut target = vec![false; g.n()];
    for qq in 0..below.min(p.queue_bound + 1) {
        for oo in 0..=p.orbit_bound {
            target[idx(qq, oo)] = true;
        }
    }
    g.hitting_times(&target).map(|h| h[idx(q, o)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{ContinuousCDF, Gamma};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    fn retry_chain(p: f64, k: usize) -> AbsorbingChain {
        // attempt_1..attempt_k transient, then "acked", "dead_letter".
        let mut states: Vec<String> = (1..=k).map(|i| format!("attempt_{i}")).collect();
        states.push("acked".into());
        states.push("dead_letter".into());
        let n = k + 2;
        let scale = 1_000_000.0;
        let fail = (p * scale).round() as u64;
        let ok = (scale as u64) - fail;
        let mut counts = vec![vec![0u64; n]; n];
        for (i, row) in counts.iter_mut().enumerate().take(k) {
            row[k] = ok;
            row[if i + 1 < k { i + 1 } else { k + 1 }] = fail;
        }
        AbsorbingChain::from_counts(states, k, &counts)
    }

    #[test]
    fn retry_chain_dead_letter() {
        for &(p, k) in &[(0.25, 3usize), (0.5, 5), (0.1, 1)] {
            let ch = retry_chain(p, k);
            let b = ch.absorption(0).expect("absorbing");
            let pk = p.powi(k as i32);
            assert!(close(b[1], pk, 1e-12), "dead {} vs {}", b[1], pk);
            assert!(close(b[0], 1.0 - pk, 1e-12));
            let visits: f64 = ch.expected_visits(0).expect("visits").iter().sum();
            assert!(close(visits, (1.0 - pk) / (1.0 - p), 1e-12));
        }
    }

    #[test]
    fn gamblers_ruin() {
        // States 1..4 transient, 0 and 5 absorbing; win prob p.
        for &pw in &[0.5, 0.6] {
            let n_top = 5usize;
            let names: Vec<String> = (1..n_top)
                .map(|i| format!("{i}"))
                .chain(["0".to_string(), "5".to_string()])
                .collect();
            let t = n_top - 1;
            let mut p = vec![vec![0.0; n_top + 1]; n_top + 1];
            for i in 1..n_top {
                let r = i - 1;
                let up = if i + 1 == n_top { t + 1 } else { r + 1 };
                let down = if i == 1 { t } else { r - 1 };
                p[r][up] = pw;
                p[r][down] = 1.0 - pw;
            }
            p[t][t] = 1.0;
            p[t + 1][t + 1] = 1.0;
            let ch = AbsorbingChain {
                states: names,
                transient: t,
                p,
            };
            for i in 1..n_top {
                let b = ch.absorption(i - 1).expect("abs");
                let win = if pw == 0.5 {
                    i as f64 / n_top as f64
                } else {
                    let r: f64 = (1.0 - pw) / pw;
                    (1.0 - r.powi(i as i32)) / (1.0 - r.powi(n_top as i32))
                };
                assert!(close(b[1], win, 1e-12), "i={i} {} vs {win}", b[1]);
                if pw == 0.5 {
                    let steps: f64 = ch.expected_visits(i - 1).expect("v").iter().sum();
                    assert!(close(steps, (i * (n_top - i)) as f64, 1e-12));
                }
            }
        }
    }

    #[test]
    fn absorbing_edge_cases() {
        let names = |k: usize| (0..k).map(|i| format!("s{i}")).collect::<Vec<_>>();
        // Unobserved transient row -> uniform over absorbing states.
        let ch = AbsorbingChain::from_counts(names(4), 2, &[vec![0, 0, 3, 1]]);
        assert_eq!(ch.p[1], vec![0.0, 0.0, 0.5, 0.5]);
        assert_eq!(ch.p[3], vec![0.0, 0.0, 0.0, 1.0]);
        assert!(close(ch.absorption(0).expect("a")[0], 0.75, 1e-15));
        // Transient trap -> singular.
        let trap = AbsorbingChain {
            states: names(2),
            transient: 1,
            p: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
        };
        assert!(trap.fundamental().is_none());
        assert!(trap.absorption(0).is_none());
        assert!(ch.absorption(2).is_none());
        let bad = AbsorbingChain {
            states: names(2),
            transient: 1,
            p: vec![vec![f64::NAN, 1.0]],
        };
        assert!(bad.fundamental().is_none());
        // No absorbing states at all.
        let none = AbsorbingChain::from_counts(names(2), 5, &[]);
        assert_eq!(none.transient, 2);
        assert!(none.fundamental().is_none());
    }

    fn birth_death(lambda: f64, mu: f64, k: usize) -> SparseGenerator {
        let mut g = SparseGenerator::new(k + 1);
        for i in 0..k {
            g.add(i, i + 1, lambda);
            g.add(i + 1, i, mu);
        }
        g
    }

    #[test]
    fn gth_and_gap_on_birth_death() {
        // M/M/1/K: lambda_1 = -(l+m) + 2 sqrt(l m) cos(pi/(K+1)).
        for &(l, m, k) in &[
            (0.5, 1.0, 10usize),
            (9.5, 10.0, 100),
            (3.0, 1.0, 40),
            (1.0, 1.0, 1),
        ] {
            let g = birth_death(l, m, k);
            let pi = g.stationary().expect("pi");
            let rho: f64 = l / m;
            let z: f64 = (0..=k).map(|n| rho.powi(n as i32)).sum();
            for (n, p) in pi.iter().enumerate() {
                assert!(close(*p, rho.powi(n as i32) / z, 1e-12));
            }
            assert!(g.residual(&pi) < 1e-14);
            let want =
                -(l + m) + 2.0 * (l * m).sqrt() * (std::f64::consts::PI / (k as f64 + 1.0)).cos();
            let got = second_eigenvalue(&g, &pi).expect("gap");
            assert!(close(got, want, 1e-9), "K={k}: {got} vs {want}");
            assert!(close(spectral_gap(&g, &pi).expect("gap"), -want, 1e-9));
        }
    }

    #[test]
    fn gap_complex_and_metastable() {
        // 3-cycle at rate 1: eigenvalues 0, -1.5 ± 0.866i.
        let mut g = SparseGenerator::new(3);
        g.add(0, 1, 1.0);
        g.add(1, 2, 1.0);
        g.add(2, 0, 1.0);
        let pi = g.stationary().expect("pi");
        assert!(pi.iter().all(|p| close(*p, 1.0 / 3.0, 1e-14)));
        let got = second_eigenvalue(&g, &pi).expect("gap");
        assert!(close(got, -1.5, 1e-9), "{got}");
        // Two wells joined by a weak link eps: lambda_2 = -(2+eps) + sqrt(4+eps^2)
        // for the symmetric 4-state chain 0-1 (1), 1-2 (eps), 2-3 (1).
        let eps = 1e-7;
        let mut g = SparseGenerator::new(4);
        for (a, b, r) in [(0, 1, 1.0), (1, 2, eps), (2, 3, 1.0)] {
            g.add(a, b, r);
            g.add(b, a, r);
        }
        let pi = g.stationary().expect("pi");
        // Eigenvalues of this symmetric chain: 0, -2, and the roots of
        // x^2 + (2 + 2 eps) x + 2 eps = 0 (slow mode ~ -eps).
        let want = -(1.0 + eps) + ((1.0 + eps) * (1.0 + eps) - 2.0 * eps).sqrt();
        let got = second_eigenvalue(&g, &pi).expect("gap");
        assert!((got - want).abs() < 1e-6 * want.abs(), "{got} vs {want}");
        assert!(second_eigenvalue(&SparseGenerator::new(1), &[1.0]).is_none());
        assert!(second_eigenvalue(&g, &[1.0]).is_none());
    }

    #[test]
    fn sojourn_tails() {
        let (mu, tau) = (2.0, 1.5);
        // c = 1: Erlang(q+1, mu) survival.
        let t = sojourn_tail_table(30, 1, mu, tau).expect("tails");
        for (q, v) in t.iter().enumerate() {
            let g = Gamma::new(q as f64 + 1.0, mu).expect("gamma");
            assert!(close(*v, g.sf(tau), 1e-12), "q={q}");
        }
        // c = 2, k = 1: W ~ Exp(2 mu), S ~ Exp(mu): tail = 2e^{-mu t} - e^{-2 mu t}.
        let t2 = sojourn_tail_table(40, 2, mu, tau).expect("tails");
        assert!(close(t2[0], (-mu * tau).exp(), 1e-15));
        assert!(close(t2[1], (-mu * tau).exp(), 1e-15));
        let want = 2.0 * (-mu * tau).exp() - (-2.0 * mu * tau).exp();
        assert!(close(t2[2], want, 1e-12));
        // Monotone in q, in [0, 1], tends to 1.
        for w in t2.windows(2) {
            assert!(w[1] >= w[0] - 1e-15);
        }
        assert!(t2[40] > 0.999_999);
        // c = 3 against numerical convolution of Erlang(k, 3mu) with Exp(mu).
        let t3 = sojourn_tail_table(8, 3, mu, tau).expect("tails");
        for (q, &val) in t3.iter().enumerate().skip(3) {
            let k = (q - 2) as f64;
            let erl = Gamma::new(k, 3.0 * mu).expect("gamma");
            let steps = 20_000;
            let h = tau / steps as f64;
            let integral: f64 = (0..steps)
                .map(|i| {
                    let w = (i as f64 + 0.5) * h;
                    use statrs::distribution::Continuous;
                    erl.pdf(w) * (-mu * (tau - w)).exp() * h
                })
                .sum();
            let want = erl.sf(tau) + integral;
            assert!(close(val, want, 1e-7), "q={q}: {val} vs {want}");
        }
        // Huge queue and mu*tau: no overflow.
        let big = sojourn_tail_table(5000, 4, 100.0, 30.0).expect("tails");
        assert!(big.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
        assert!(sojourn_tail_table(3, 0, 1.0, 1.0).is_none());
        assert!(sojourn_tail_table(3, 1, f64::NAN, 1.0).is_none());
    }

    fn check_solution(p: &OrbitParams, s: &OrbitSolution) {
        let total: f64 = s.occupancy.iter().flatten().sum();
        assert!(close(total, 1.0, 1e-12));
        assert!(close(s.throughput + s.failure_rate, p.lambda, 1e-9));
        assert!(s.second_eigenvalue < 0.0);
        assert!(close(s.mixing_time_s, -1.0 / s.second_eigenvalue, 1e-12));
    }

    #[test]
    fn orbit_without_retries_is_mmck() {
        for &(lambda, mu, c) in &[(9.5, 10.0, 1u32), (5.0, 2.0, 3)] {
            let p = OrbitParams {
                lambda,
                mu,
                threads: c,
                timeout_s: 3.0,
                max_retries: 0,
                queue_bound: 60,
                orbit_bound: 10,
                queue_is_capacity: true,
                modelling: Modelling::mqsim(),
            };
            let s = solve_orbit(&p).expect("solves");
            check_solution(&p, &s);
            let th = crate::stats::theory::mmck(lambda, mu, c, 60).expect("mmck");
            assert!(
                close(s.mean_queue, th.l, 1e-10),
                "{} vs {}",
                s.mean_queue,
                th.l
            );
            assert_eq!(s.mean_orbit, 0.0);
            // Queue marginal equals the M/M/c/K law.
            let dist =
                crate::stats::theory::stationary_length(lambda, mu, c, Some(60), 60).expect("d");
            let marg: Vec<f64> = s.occupancy.iter().map(|r| r.iter().sum()).collect();
            assert!(crate::stats::theory::total_variation(&marg, &dist) < 1e-12);
        }
        // Single server: slowest mode is the M/M/1/K one (1/tau is faster).
        let p = OrbitParams {
            lambda: 9.5,
            mu: 10.0,
            threads: 1,
            timeout_s: 3.0,
            max_retries: 0,
            queue_bound: 60,
            orbit_bound: 4,
            queue_is_capacity: true,
            modelling: Modelling::mqsim(),
        };
        let s = solve_orbit(&p).expect("solves");
        let want = -(19.5) + 2.0 * 95.0_f64.sqrt() * (std::f64::consts::PI / 61.0).cos();
        assert!(
            close(s.second_eigenvalue, want, 1e-8),
            "{} vs {want}",
            s.second_eigenvalue
        );
    }

    #[test]
    fn orbit_reference_setting() {
        let p = OrbitParams {
            lambda: 9.5,
            mu: 10.0,
            threads: 1,
            timeout_s: 3.0,
            max_retries: 4,
            queue_bound: 100,
            orbit_bound: 20,
            queue_is_capacity: true,
            modelling: Modelling::mqsim(),
        };
        let start = std::time::Instant::now();
        let s = solve_orbit(&p).expect("solves");
        let took = start.elapsed();
        check_solution(&p, &s);
        println!(
            "reference: mean_queue={:.6} mean_orbit={:.6} throughput={:.3e} failure_rate={:.6} \
             mass_at_bounds={:.6e} lambda2={:.6e} mixing_time_s={:.6} took={:?}",
            s.mean_queue,
            s.mean_orbit,
            s.throughput,
            s.failure_rate,
            s.mass_at_bounds,
            s.second_eigenvalue,
            s.mixing_time_s,
            took
        );
        let tail = sojourn_tail_table(100, 1, 10.0, 3.0).expect("tails");
        let (g, idx) = orbit_generator(&p, &tail);
        let mut pi = vec![0.0; g.n()];
        for (q, row) in s.occupancy.iter().enumerate() {
            for (o, v) in row.iter().enumerate() {
                pi[idx(q, o)] = *v;
            }
        }
        assert!(g.residual(&pi) <= 1e-12, "{}", g.residual(&pi));
        // The untruncated chain is unstable here: once the orbit is full the
        // offered load (9.5 + 20 * 4/15 per s) exceeds mu = 10, the queue
        // sits at its bound and every request times out.
        assert!(s.mass_at_bounds > 0.3 && s.throughput < 1e-6);
        assert_eq!(s.occupancy.len(), 101);
        assert_eq!(s.occupancy[0].len(), 21);
    }

    #[test]
    fn orbit_invalid_inputs() {
        let ok = OrbitParams {
            lambda: 1.0,
            mu: 2.0,
            threads: 2,
            timeout_s: 1.0,
            max_retries: 2,
            queue_bound: 10,
            orbit_bound: 30,
            queue_is_capacity: true,
            modelling: Modelling::mqsim(),
        };
        let s = solve_orbit(&ok).expect("solves");
        check_solution(&ok, &s);
        for bad in [
            OrbitParams {
                lambda: f64::NAN,
                ..ok.clone()
            },
            OrbitParams {
                mu: 0.0,
                ..ok.clone()
            },
            OrbitParams {
                threads: 0,
                ..ok.clone()
            },
            OrbitParams {
                timeout_s: 0.0,
                ..ok.clone()
            },
            OrbitParams {
                queue_bound: 0,
                ..ok.clone()
            },
            OrbitParams {
                queue_bound: usize::MAX,
                ..ok.clone()
            },
        ] {
            assert!(solve_orbit(&bad).is_none());
        }
        // lambda = 0: empty system.
        let s = solve_orbit(&OrbitParams { lambda: 0.0, ..ok }).expect("solves");
        assert!(close(s.occupancy[0][0], 1.0, 1e-15));
    }

    /// Metafor's configurations: mu 10/s, one server, queue 100; A: timeout
    /// 3 s, 4 retries; B: 9 s, 3 retries.
    fn config(tau: f64, retries: u32, lambda: f64) -> OrbitParams {
        OrbitParams {
            lambda,
            mu: 10.0,
            threads: 1,
            timeout_s: tau,
            max_retries: retries,
            queue_bound: 100,
            orbit_bound: 20,
            queue_is_capacity: true,
            modelling: Modelling::mqsim(),
        }
    }

    /// With bounds sized automatically the mass at the truncating bounds is
    /// below 1e-6 on both configurations, at low and high load; at the
    /// fixed orbit bound of 20 it was 40-60% at the examples' load.
    #[test]
    fn automatic_bounds_leave_no_truncation() {
        for (tau, r) in [(3.0, 4), (9.0, 3)] {
            for lambda in [2.0, 9.5] {
                let p = config(tau, r, lambda);
                let fixed = solve_orbit(&p).expect("solves");
                let (b, s) = solve_orbit_auto(&p, false, 400_000).expect("solves");
                assert!(
                    s.mass_at_bounds < 1e-6,
                    "tau {tau} lambda {lambda}: {}",
                    s.mass_at_bounds
                );
                assert!(b.orbit_bound > 20 || fixed.mass_at_bounds < 1e-6);
                if lambda > 9.0 {
                    assert!(fixed.mass_at_bounds > 0.05, "{}", fixed.mass_at_bounds);
                }
                let total: f64 = s.occupancy.iter().flatten().sum();
                assert!(close(total, 1.0, 1e-12));
                // Conservation: goodput + failures = arrivals.
                assert!(close(s.throughput + s.failure_rate, lambda, 1e-8));
            }
        }
    }

    /// `metastable_risk` separates: false well below the threshold, true
    /// well above it, on both configurations.
    #[test]
    fn metastable_risk_on_both_sides_of_the_threshold() {
        for (tau, r, low, high) in [(3.0, 4, 2.0, 9.0), (9.0, 3, 5.0, 9.5)] {
            for (lambda, want) in [(low, false), (high, true)] {
                let (b, s) =
                    solve_orbit_auto(&config(tau, r, lambda), false, 400_000).expect("solves");
                let m = metastability(&b, &s).expect("verdict");
                assert_eq!(m.metastable_risk, want, "tau {tau} lambda {lambda}: {m:?}");
                if want {
                    assert!(m.high_mode_mass > 0.5);
                } else {
                    assert!(m.high_mode_mass < 1e-6);
                }
            }
        }
    }

    /// Metafor's own chain, ported (alpha 0.25, Chebyshev tail, a full
    /// queue drops, doomed arrivals counted twice, 100 x 20 states), gives
    /// its published thresholds (6.37/s for A, 9.33/s for B, computed with
    /// its code) within 1%.
    #[test]
    fn metafor_port_reproduces_its_thresholds() {
        for (tau, r, published) in [(3.0, 4, 6.37), (9.0, 3, 9.33)] {
            let p = OrbitParams {
                queue_bound: 99,
                orbit_bound: 19,
                modelling: Modelling::metafor(),
                ..config(tau, r, 1.0)
            };
            let t = threshold_lambda(&p, true, 400_000).expect("a threshold");
            assert!(
                (t - published).abs() <= 0.01 * published,
                "tau {tau}: {t} vs {published}"
            );
        }
    }

    /// Hitting times on a birth-death chain: from n to 0 in M/M/1 takes
    /// n / (mu - lambda).
    #[test]
    fn hitting_times_of_a_birth_death_chain() {
        let g = birth_death(2.0, 10.0, 400);
        let mut target = vec![false; 401];
        target[0] = true;
        let h = g.hitting_times(&target).expect("solves");
        for n in [1usize, 10, 50] {
            assert!(close(h[n], n as f64 / 8.0, 1e-9), "{n}: {}", h[n]);
        }
    }
}
