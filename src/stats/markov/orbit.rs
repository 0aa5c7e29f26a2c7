//! The retry-orbit CTMC: its rates, automatic bounds, metastability and
//! the threshold arrival rate, and recovery times.

use super::*;

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
pub(super) fn orbit_rates(p: &OrbitParams) -> (f64, f64, f64) {
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
pub(super) fn solve_orbit_with(p: &OrbitParams, with_gap: bool) -> Option<OrbitSolution> {
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
pub(super) fn bound_masses(s: &OrbitSolution) -> (f64, f64) {
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
