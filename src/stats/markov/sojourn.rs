//! Sojourn-time tails of the queue a retried request waits in.

use super::*;

pub(super) fn log_add(a: f64, b: f64) -> f64 {
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
pub(super) fn poisson_ln_pmf(x: f64, m: usize) -> Vec<f64> {
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
pub(super) fn poisson_ln_cdf(x: f64, mmax: usize) -> Vec<f64> {
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
pub(super) fn poisson_ln_sf(x: f64, kmax: usize) -> Vec<f64> {
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
