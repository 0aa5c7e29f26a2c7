//! Closed-form queueing theory used to validate the simulator.
//!
//! Every function here returns the steady-state performance measures of a
//! classical single-station queue so that simulation output can be checked
//! against theory (and so the report can show "theory vs. simulated" side by
//! side).  Conventions: rates are per second, times are in seconds,
//! `rho` is the per-server utilisation `lambda / (c * mu)`.
//!
//! Sources for the formulas (all standard):
//! * Gross, Shortle, Thompson & Harris, *Fundamentals of Queueing Theory*,
//!   4th ed. (2008), §2.2 (M/M/1), §2.3 (M/M/c, Erlang C), §2.4–2.5
//!   (M/M/1/K, M/M/c/K), §5.1 (M/G/1, Pollaczek–Khinchine).
//! * Kleinrock, *Queueing Systems Vol. 1* (1975), §3.2–3.7 and §5.6.
//! * The Erlang B recursion `B(n) = a B(n-1) / (n + a B(n-1))` is the
//!   standard numerically stable way to evaluate Erlang B for large `c`
//!   (e.g. Jagerman 1974; also Gross et al. §2.6): every intermediate value
//!   lies in `[0, 1]`, so nothing overflows even for `c` in the thousands.
//!
//! Little's law `L = lambda_eff * W`, `Lq = lambda_eff * Wq` ties the four
//! means together; for loss systems the *effective* (accepted) arrival rate
//! `lambda_eff = lambda (1 - p_block)` is the one that enters Little's law.
//!
//! No function panics: invalid or unstable parameters give `None`.

use serde::Serialize;

/// Steady-state measures of one queueing model.
///
/// `l`/`lq` are time-average numbers in system / in queue, `w`/`wq` are mean
/// sojourn / waiting times of *accepted* customers, `p_wait` is the
/// probability that an accepted arrival has to wait before service starts and
/// `p_block` the probability that an arrival is rejected (0 for infinite
/// buffers).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Theory {
    pub model: String,
    #[serde(rename = "L")]
    pub l: f64,
    #[serde(rename = "Lq")]
    pub lq: f64,
    #[serde(rename = "W")]
    pub w: f64,
    #[serde(rename = "Wq")]
    pub wq: f64,
    pub p_wait: f64,
    pub p_block: f64,
}

fn valid_rate(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

fn valid_pos(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn all_finite(t: &Theory) -> bool {
    [t.l, t.lq, t.w, t.wq, t.p_wait, t.p_block]
        .iter()
        .all(|x| x.is_finite())
}

/// M/M/1 (Gross et al. §2.2): `L = rho/(1-rho)`, `Lq = rho^2/(1-rho)`,
/// `W = 1/(mu-lambda)`, `Wq = rho/(mu-lambda)`, `P(wait) = rho`.
///
/// `None` when `rho >= 1` (no steady state) or parameters are invalid.
pub fn mm1(lambda: f64, mu: f64) -> Option<Theory> {
    if !valid_rate(lambda) || !valid_pos(mu) {
        return None;
    }
    let rho = lambda / mu;
    if rho.is_nan() || rho >= 1.0 {
        return None;
    }
    let t = Theory {
        model: "M/M/1".to_string(),
        l: rho / (1.0 - rho),
        lq: rho * rho / (1.0 - rho),
        w: 1.0 / (mu - lambda),
        wq: rho / (mu - lambda),
        p_wait: rho,
        p_block: 0.0,
    };
    all_finite(&t).then_some(t)
}

/// Erlang B blocking probability `B(c, a)` with offered load `a = lambda/mu`
/// via the stable recursion `B(0)=1`, `B(n) = a B(n-1) / (n + a B(n-1))`.
/// O(c) time, every iterate in `[0, 1]`.
pub fn erlang_b(c: u32, a: f64) -> Option<f64> {
    if !valid_rate(a) {
        return None;
    }
    let mut b = 1.0_f64;
    for n in 1..=c {
        let ab = a * b;
        b = ab / (f64::from(n) + ab);
    }
    b.is_finite().then_some(b)
}

/// Erlang C waiting probability `C(c, a) = B / (1 - rho (1 - B))`
/// (Gross et al. eq. 2.33 rewritten in terms of Erlang B); `None` if
/// `rho = a/c >= 1`.
pub fn erlang_c(c: u32, a: f64) -> Option<f64> {
    if c == 0 {
        return None;
    }
    let rho = a / f64::from(c);
    if rho.is_nan() || rho >= 1.0 {
        return None;
    }
    let b = erlang_b(c, a)?;
    let pc = b / (1.0 - rho * (1.0 - b));
    pc.is_finite().then_some(pc.clamp(0.0, 1.0))
}

/// M/M/c with Erlang C (Gross et al. §2.3):
/// `P(wait) = C(c, a)`, `Lq = C rho/(1-rho)`, `Wq = C/(c mu - lambda)`,
/// `W = Wq + 1/mu`, `L = Lq + a`.
///
/// `None` when `c == 0`, `rho >= 1` or parameters are invalid.
pub fn mmc(lambda: f64, mu: f64, c: u32) -> Option<Theory> {
    if !valid_rate(lambda) || !valid_pos(mu) || c == 0 {
        return None;
    }
    let a = lambda / mu;
    let cf = f64::from(c);
    let rho = a / cf;
    let pw = erlang_c(c, a)?;
    let lq = pw * rho / (1.0 - rho);
    let wq = pw / (cf * mu - lambda);
    let t = Theory {
        model: format!("M/M/{c}"),
        l: lq + a,
        lq,
        w: wq + 1.0 / mu,
        wq,
        p_wait: pw,
        p_block: 0.0,
    };
    all_finite(&t).then_some(t)
}

/// log(exp(a) + exp(b)) without overflow; handles `-inf`.
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

/// Sum `S0 = sum_{m=0}^{M} r^m` and mean `E = S1/S0` (with
/// `S1 = sum m r^m`) of a geometric sequence with ratio `r = exp(-u)`,
/// `u >= 0`, `M` possibly infinite (`None`).  Written with `expm1` and a
/// Bernoulli-series expansion for small `(M+1)u` so that there is no
/// catastrophic cancellation as `r -> 1`.
/// Returns `(ln S0, E)`.
fn geometric_sums(u: f64, m: Option<u64>) -> Option<(f64, f64)> {
    if !valid_rate(u) {
        return None;
    }
    match m {
        None => {
            if u == 0.0 {
                return None;
            }
            // S0 = 1/(1-r), E = r/(1-r) = 1/(e^u - 1)
            let ln_s0 = -(-(-u).exp_m1()).ln();
            let e = 1.0 / u.exp_m1();
            Some((ln_s0, e))
        }
        Some(m) => {
            let mf = m as f64;
            let n1 = mf + 1.0;
            let x = n1 * u;
            if u == 0.0 {
                return Some((n1.ln(), mf / 2.0));
            }
            // ln S0 = ln(1 - e^{-(M+1)u}) - ln(1 - e^{-u})
            let ln_s0 = (-(-x).exp_m1()).ln() - (-(-u).exp_m1()).ln();
            // E = 1/(e^u - 1) - (M+1)/(e^{(M+1)u} - 1)
            let e = if x < 1e-2 {
                // 1/(e^y-1) = 1/y - 1/2 + y/12 - y^3/720 + O(y^5)
                let n2 = n1 * n1;
                mf / 2.0 + u * (1.0 - n2) / 12.0 + u * u * u * (n2 * n2 - 1.0) / 720.0
            } else if x > 700.0 {
                1.0 / u.exp_m1()
            } else {
                1.0 / u.exp_m1() - n1 / x.exp_m1()
            };
            Some((ln_s0, e.clamp(0.0, mf)))
        }
    }
}

/// Log-domain description of the M/M/c(/K) birth–death stationary law,
/// `p_n ∝ a^n/n!` for `n <= c` and `p_n = p_c rho^(n-c)` for `n >= c`
/// (Gross et al. eqs. 2.30 and 2.48).
struct BirthDeath {
    /// ln of the unnormalised weight of state `c` (weight of state 0 is 1).
    ln_wc: f64,
    ln_a: f64,
    ln_rho: f64,
    c: u64,
    k: Option<u64>,
    /// ln of the normalising constant.
    ln_z: f64,
    /// Mean number in system.
    l: f64,
    /// Mean number waiting.
    lq: f64,
    /// Total probability of `n >= c`.
    p_tail: f64,
    lambda_zero: bool,
}

impl BirthDeath {
    fn new(lambda: f64, mu: f64, c: u32, k: Option<u64>) -> Option<BirthDeath> {
        if !valid_rate(lambda) || !valid_pos(mu) || c == 0 {
            return None;
        }
        let c64 = u64::from(c);
        if let Some(k) = k {
            if k < c64 {
                return None;
            }
        }
        let a = lambda / mu;
        if !a.is_finite() {
            return None;
        }
        if a == 0.0 {
            return Some(BirthDeath {
                ln_wc: f64::NEG_INFINITY,
                ln_a: f64::NEG_INFINITY,
                ln_rho: f64::NEG_INFINITY,
                c: c64,
                k,
                ln_z: 0.0,
                l: 0.0,
                lq: 0.0,
                p_tail: 0.0,
                lambda_zero: true,
            });
        }
        let ln_a = a.ln();
        let rho = a / f64::from(c);
        let ln_rho = rho.ln();
        if k.is_none() && (rho.is_nan() || rho >= 1.0) {
            return None;
        }
        // Head n = 0..c-1 streamed in the log domain: (max, sum w, sum n w).
        let mut ln_w = 0.0_f64; // ln w_0
        let mut hmax = 0.0_f64;
        let mut s0 = 0.0_f64;
        let mut s1 = 0.0_f64;
        for n in 0..c64 {
            if n > 0 {
                ln_w += ln_a - (n as f64).ln();
            }
            if ln_w > hmax {
                let f = (hmax - ln_w).exp();
                s0 *= f;
                s1 *= f;
                hmax = ln_w;
            }
            let w = (ln_w - hmax).exp();
            s0 += w;
            s1 += n as f64 * w;
        }
        let ln_wc = ln_w + ln_a - (c64 as f64).ln();
        let ln_head = hmax + s0.ln();
        // Tail n = c..=K (or infinite): geometric in rho.
        let (ln_tail, tail_mean) = match k {
            None => {
                let (ln_s0, e) = geometric_sums(-ln_rho, None)?;
                (ln_wc + ln_s0, c64 as f64 + e)
            }
            Some(k) => {
                let m = k - c64;
                if ln_rho <= 0.0 {
                    let (ln_s0, e) = geometric_sums(-ln_rho, Some(m))?;
                    (ln_wc + ln_s0, c64 as f64 + e)
                } else {
                    // Reverse the sum so the ratio is 1/rho < 1.
                    let (ln_s0, e) = geometric_sums(ln_rho, Some(m))?;
                    (ln_wc + m as f64 * ln_rho + ln_s0, k as f64 - e)
                }
            }
        };
        let ln_z = log_add(ln_head, ln_tail);
        let p_tail = (ln_tail - ln_z).exp();
        let head_l = (hmax - ln_z).exp() * s1;
        let l = head_l + p_tail * tail_mean;
        let lq = p_tail * (tail_mean - c64 as f64).max(0.0);
        let bd = BirthDeath {
            ln_wc,
            ln_a,
            ln_rho,
            c: c64,
            k,
            ln_z,
            l,
            lq,
            p_tail,
            lambda_zero: false,
        };
        (ln_z.is_finite() && l.is_finite() && lq.is_finite()).then_some(bd)
    }

    /// `P(N = n)`.
    fn p(&self, n: u64) -> f64 {
        if let Some(k) = self.k {
            if n > k {
                return 0.0;
            }
        }
        if self.lambda_zero {
            return if n == 0 { 1.0 } else { 0.0 };
        }
        let ln_w = if n >= self.c {
            self.ln_wc + (n - self.c) as f64 * self.ln_rho
        } else {
            // ln(a^n / n!)
            let nf = n as f64;
            nf * self.ln_a - statrs::function::gamma::ln_gamma(nf + 1.0)
        };
        (ln_w - self.ln_z).exp()
    }
}

/// M/M/c/K with `K >= c` the maximum number in system (Gross et al. §2.5).
/// Valid for any `rho`.  `p_block = P(N = K)` (PASTA), `lambda_eff =
/// lambda (1 - p_block)`, `W = L / lambda_eff`, `Wq = Lq / lambda_eff`,
/// `p_wait = P(c <= N < K) / (1 - P(N = K))` i.e. the probability that an
/// *accepted* arrival finds all servers busy.
///
/// Implementation: log-domain weights for `n < c` and closed-form geometric
/// sums (with `expm1`) for `n >= c`, so it is exact and overflow-free for
/// `c` in the thousands and arbitrarily large `K` (cost O(c)).
/// With `lambda = 0` the system is empty: `W = 1/mu`, everything else 0.
pub fn mmck(lambda: f64, mu: f64, c: u32, k: u64) -> Option<Theory> {
    let bd = BirthDeath::new(lambda, mu, c, Some(k))?;
    let model = format!("M/M/{c}/{k}");
    if bd.lambda_zero {
        return Some(Theory {
            model,
            l: 0.0,
            lq: 0.0,
            w: 1.0 / mu,
            wq: 0.0,
            p_wait: 0.0,
            p_block: 0.0,
        });
    }
    let p_block = bd.p(k).clamp(0.0, 1.0);
    let accept = 1.0 - p_block;
    let lambda_eff = lambda * accept;
    if !valid_pos(lambda_eff) {
        return None;
    }
    let p_wait = if k == u64::from(c) {
        0.0
    } else {
        ((bd.p_tail - p_block) / accept).clamp(0.0, 1.0)
    };
    let t = Theory {
        model,
        l: bd.l,
        lq: bd.lq,
        w: bd.l / lambda_eff,
        wq: bd.lq / lambda_eff,
        p_wait,
        p_block,
    };
    all_finite(&t).then_some(t)
}

/// M/M/1/K = [`mmck`] with one server; model name `"M/M/1/K"` with the
/// actual K.  Closed form (Gross et al. eq. 2.44): for `rho != 1`
/// `p_n = (1-rho) rho^n / (1 - rho^(K+1))`, for `rho = 1` `p_n = 1/(K+1)`.
pub fn mm1k(lambda: f64, mu: f64, k: u64) -> Option<Theory> {
    mmck(lambda, mu, 1, k)
}

/// M/G/1 by the Pollaczek–Khinchine mean-value formula (Gross et al.
/// eq. 5.13; Kleinrock eq. 5.72):
/// `Lq = lambda^2 E[S^2] / (2 (1 - rho))` with `E[S^2] = Var S + E[S]^2`,
/// `Wq = Lq / lambda`, `W = Wq + E[S]`, `L = Lq + rho`, `P(wait) = rho`.
///
/// `None` when `rho = lambda E[S] >= 1`, `E[S] <= 0` or `Var S < 0`.
pub fn mg1(lambda: f64, mean_s: f64, var_s: f64) -> Option<Theory> {
    mg1_named("M/G/1", lambda, mean_s, var_s)
}

fn mg1_named(name: &str, lambda: f64, mean_s: f64, var_s: f64) -> Option<Theory> {
    if !valid_rate(lambda) || !valid_pos(mean_s) || !valid_rate(var_s) {
        return None;
    }
    let rho = lambda * mean_s;
    if rho.is_nan() || rho >= 1.0 {
        return None;
    }
    let es2 = var_s + mean_s * mean_s;
    let wq = lambda * es2 / (2.0 * (1.0 - rho));
    let lq = lambda * wq;
    let t = Theory {
        model: name.to_string(),
        l: lq + rho,
        lq,
        w: wq + mean_s,
        wq,
        p_wait: rho,
        p_block: 0.0,
    };
    all_finite(&t).then_some(t)
}

/// M/D/1: P-K with zero service variance, giving the textbook
/// `Lq = rho^2 / (2 (1 - rho))` (Gross et al. §5.1.4), half the M/M/1 value.
pub fn md1(lambda: f64, d: f64) -> Option<Theory> {
    mg1_named("M/D/1", lambda, d, 0.0)
}

/// Stationary queue-length distribution `P(N = n)`, `n = 0..=n_max`, for
/// M/M/c (`k = None`, requires `rho < 1`) or M/M/c/K (`k = Some(K)`).
/// Entries beyond `K` are 0; the tail mass beyond `n_max` is simply not
/// reported (the vector then sums to less than 1).  Used to compare the
/// simulated queue-length histogram with theory via [`total_variation`].
pub fn stationary_length(
    lambda: f64,
    mu: f64,
    c: u32,
    k: Option<u64>,
    n_max: usize,
) -> Option<Vec<f64>> {
    let bd = BirthDeath::new(lambda, mu, c, k)?;
    let v: Vec<f64> = (0..=n_max as u64).map(|n| bd.p(n)).collect();
    v.iter().all(|x| x.is_finite()).then_some(v)
}

/// Total-variation distance `0.5 * sum_i |p_i - q_i|`, the shorter vector
/// padded with zeros.  Non-finite entries are treated as 0 so the result is
/// always finite.
pub fn total_variation(p: &[f64], q: &[f64]) -> f64 {
    let clean = |x: Option<&f64>| match x {
        Some(v) if v.is_finite() => *v,
        _ => 0.0,
    };
    let n = p.len().max(q.len());
    0.5 * (0..n)
        .map(|i| (clean(p.get(i)) - clean(q.get(i))).abs())
        .sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn mm1_textbook() {
        let t = mm1(0.8, 1.0).expect("stable");
        assert_eq!(t.model, "M/M/1");
        assert!(close(t.l, 4.0, 1e-12));
        assert!(close(t.lq, 3.2, 1e-12));
        assert!(close(t.w, 5.0, 1e-12));
        assert!(close(t.wq, 4.0, 1e-12));
        assert!(close(t.p_wait, 0.8, 1e-12));
        assert!(mm1(1.0, 1.0).is_none());
        assert!(mm1(f64::NAN, 1.0).is_none());
        assert!(mm1(0.5, 0.0).is_none());
    }

    #[test]
    fn mmc_erlang_c_table() {
        // Gross et al. / standard Erlang C tables: c=2, a=1.5.
        let t = mmc(1.5, 1.0, 2).expect("stable");
        assert_eq!(t.model, "M/M/2");
        assert!(close(t.p_wait, 0.642_857_142_857, 1e-10), "{}", t.p_wait);
        assert!(close(t.lq, 1.928_571_428_571, 1e-10), "{}", t.lq);
        assert!(close(t.l, 3.428_571_428_571, 1e-10));
        assert!(close(t.wq, 1.285_714_285_714, 1e-10));
        // c=1 reduces to M/M/1.
        let a = mmc(0.8, 1.0, 1).expect("stable");
        assert!(close(a.l, 4.0, 1e-12));
        // Erlang B table: B(10, 5) = 0.018384; Erlang C(10, 8) = 0.409 (approx).
        assert!(close(erlang_b(10, 5.0).expect("b"), 0.018_384, 1e-4));
        // Erlang C(5, 4): P0 and C from the closed form = 0.5541.
        assert!(close(erlang_c(5, 4.0).expect("c"), 0.554_113, 1e-5));
        // Large c stays finite (c = 1000, rho = 0.95).
        let big = mmc(950.0, 1.0, 1000).expect("stable");
        assert!(big.p_wait > 0.0 && big.p_wait < 1.0 && big.l.is_finite());
        assert!(mmc(2.0, 1.0, 2).is_none());
        assert!(mmc(1.0, 1.0, 0).is_none());
    }

    fn mm1k_closed(lambda: f64, mu: f64, k: u64) -> (f64, f64) {
        // (L, P_K) from Gross et al. eq. 2.44/2.45
        let rho = lambda / mu;
        let kf = k as f64;
        if (rho - 1.0).abs() < 1e-15 {
            (kf / 2.0, 1.0 / (kf + 1.0))
        } else {
            let l =
                rho / (1.0 - rho) - (kf + 1.0) * rho.powf(kf + 1.0) / (1.0 - rho.powf(kf + 1.0));
            let pk = (1.0 - rho) * rho.powf(kf) / (1.0 - rho.powf(kf + 1.0));
            (l, pk)
        }
    }

    #[test]
    fn mm1k_closed_forms() {
        for &(lambda, mu, k) in &[
            (0.5, 1.0, 5u64),
            (1.0, 1.0, 10),
            (2.0, 1.0, 4),
            (1.5, 1.0, 30),
        ] {
            let t = mm1k(lambda, mu, k).expect("valid");
            assert_eq!(t.model, format!("M/M/1/{k}"));
            let (l, pk) = mm1k_closed(lambda, mu, k);
            assert!(close(t.l, l, 1e-9), "L {} vs {}", t.l, l);
            assert!(close(t.p_block, pk, 1e-9), "PK {} vs {}", t.p_block, pk);
            let p0 = 1.0 - (t.l - t.lq); // P(busy) = L - Lq for one server
            let lambda_eff = lambda * (1.0 - pk);
            assert!(close(t.w, t.l / lambda_eff, 1e-12));
            // lambda_eff = mu (1 - p0): flow balance.
            assert!(close(lambda_eff, mu * (1.0 - p0), 1e-9));
        }
        // rho within 1e-6 of 1: the textbook closed form cancels badly there,
        // compare with direct summation (L ~ K/2 - u K (K+2)/12, u = -ln rho).
        let rho: f64 = 0.999_999;
        let w: Vec<f64> = (0..=20).map(|n| rho.powi(n)).collect();
        let z: f64 = w.iter().sum();
        let l: f64 = w.iter().enumerate().map(|(n, x)| n as f64 * x / z).sum();
        let t = mm1k(rho, 1.0, 20).expect("valid");
        assert!(close(t.l, l, 1e-12), "{} vs {}", t.l, l);
        assert!(close(t.p_block, w[20] / z, 1e-12));
        // rho = 1 exactly: uniform on 0..=K, L = K/2.
        let t = mm1k(3.0, 3.0, 10).expect("valid");
        assert!(close(t.l, 5.0, 1e-12));
        assert!(close(t.p_block, 1.0 / 11.0, 1e-12));
        // p_wait = P(1 <= N <= K-1) / (1 - P_K) = (9/11)/(10/11).
        assert!(close(t.p_wait, 0.9, 1e-12));
        assert!(mmck(1.0, 1.0, 3, 2).is_none());
    }

    #[test]
    fn mmck_textbook_example() {
        // M/M/3/13 with a = 2: cross-check against direct normalisation.
        let (lambda, mu, c, k) = (2.0, 1.0, 3u32, 13u64);
        let mut w = vec![1.0_f64];
        for n in 1..=k {
            let s = (n.min(u64::from(c))) as f64;
            let prev = w[w.len() - 1];
            w.push(prev * lambda / (s * mu));
        }
        let z: f64 = w.iter().sum();
        let p: Vec<f64> = w.iter().map(|x| x / z).collect();
        let l: f64 = p.iter().enumerate().map(|(n, x)| n as f64 * x).sum();
        let lq: f64 = p
            .iter()
            .enumerate()
            .map(|(n, x)| (n as f64 - 3.0).max(0.0) * x)
            .sum();
        let t = mmck(lambda, mu, c, k).expect("valid");
        assert_eq!(t.model, "M/M/3/13");
        assert!(close(t.l, l, 1e-12));
        assert!(close(t.lq, lq, 1e-12));
        assert!(close(t.p_block, p[13], 1e-12));
        let pw: f64 = p[3..13].iter().sum::<f64>() / (1.0 - p[13]);
        assert!(close(t.p_wait, pw, 1e-12));
        let dist = stationary_length(lambda, mu, c, Some(k), 20).expect("valid");
        assert!(total_variation(&dist, &p) < 1e-12);
        assert_eq!(dist[14], 0.0);
    }

    #[test]
    fn mmck_large_k_matches_mmc() {
        for &(lambda, mu, c) in &[(1.5, 1.0, 2u32), (0.8, 1.0, 1), (45.0, 1.0, 50)] {
            let a = mmc(lambda, mu, c).expect("stable");
            for k in [10_000u64, 1_000_000_000_000] {
                let b = mmck(lambda, mu, c, k).expect("valid");
                assert!(close(a.l, b.l, 1e-9), "{} vs {}", a.l, b.l);
                assert!(close(a.lq, b.lq, 1e-9));
                assert!(close(a.w, b.w, 1e-9));
                assert!(close(a.wq, b.wq, 1e-9));
                assert!(close(a.p_wait, b.p_wait, 1e-9));
                assert!(b.p_block < 1e-12);
            }
        }
        // Heavily overloaded, huge K and c: finite, mass piles at K.
        let t = mmck(2000.0, 1.0, 1000, 1_000_000).expect("valid");
        assert!(close(t.p_block, 0.5, 1e-9), "{}", t.p_block);
        assert!(t.l.is_finite() && t.l > 999_000.0);
    }

    #[test]
    fn md1_and_mg1() {
        let rho: f64 = 0.7;
        let t = md1(rho, 1.0).expect("stable");
        assert_eq!(t.model, "M/D/1");
        assert!(close(t.lq, rho * rho / (2.0 * (1.0 - rho)), 1e-12));
        assert!(close(t.l, t.lq + rho, 1e-12));
        // M/G/1 with exponential service (var = mean^2) equals M/M/1.
        let g = mg1(0.8, 1.0, 1.0).expect("stable");
        let m = mm1(0.8, 1.0).expect("stable");
        assert!(close(g.l, m.l, 1e-12) && close(g.w, m.w, 1e-12));
        assert!(mg1(1.0, 1.0, 0.0).is_none());
        assert!(mg1(0.5, 1.0, -1.0).is_none());
    }

    #[test]
    fn stationary_and_tv() {
        let p = stationary_length(0.5, 1.0, 1, None, 3).expect("stable");
        let want = [0.5, 0.25, 0.125, 0.0625];
        for (a, b) in p.iter().zip(want) {
            assert!(close(*a, b, 1e-12));
        }
        assert!(stationary_length(1.0, 1.0, 1, None, 3).is_none());
        assert_eq!(total_variation(&[1.0], &[0.0, 1.0]), 1.0);
        assert_eq!(total_variation(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
        assert_eq!(total_variation(&[f64::NAN], &[]), 0.0);
        let json = serde_json::to_string(&mm1(0.5, 1.0).expect("stable")).expect("json");
        assert!(json.contains("\"L\":") && json.contains("\"Wq\":"));
    }

    #[test]
    fn zero_arrivals() {
        let t = mmck(0.0, 2.0, 2, 5).expect("valid");
        assert_eq!((t.l, t.p_block, t.wq), (0.0, 0.0, 0.0));
        assert!(close(t.w, 0.5, 1e-15));
        let m = mmc(0.0, 2.0, 3).expect("valid");
        assert_eq!(m.l, 0.0);
    }
}
