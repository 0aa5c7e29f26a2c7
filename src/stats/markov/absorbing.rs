//! The absorbing chain of a message's lifecycle, estimated from transition
//! counts: expected visits and absorption probabilities.

use super::*;

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

    pub(super) fn shape_ok(&self) -> bool {
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
