//! One retry policy, used wherever a retry happens (consumer redelivery,
//! producer resend, client call).
//!
//! A scenario writes it as an inline table; the key names are a public
//! interface:
//!
//! ```toml
//! retry = { backoff = "exponential", base = "100ms", multiplier = 2.0, cap = "30s", jitter = "full", max_attempts = 5, max_elapsed = "10m" }
//! ```
//!
//! # Retry numbering
//!
//! [`RetryPolicy::delay_ns`] takes `retry`, which is 1 for the first retry
//! (the second attempt). The formulas below use `n = retry - 1`, so
//! **n = 0 for the first retry**: an exponential policy waits `base` before
//! its first retry, `base * multiplier` before its second, and so on. This is
//! gRPC's convention (gRFC A6: attempt n waits
//! `min(initialBackoff * multiplier^(n-1), maxBackoff)` with n = 1 for the
//! first retry) and Sidekiq's (`retry_count` is 0 on the first retry). The
//! AWS analysis (retries-and-metastability.md) writes `min(c, b * 2^n)` with
//! n = 1 for the first retry: that is this policy with `base = 2b`.
//!
//! # The backoff: the delay `d` before retry n
//!
//! | `backoff`     | keys                                      | `d` (n = 0 for the first retry)              | source |
//! |---------------|-------------------------------------------|----------------------------------------------|--------|
//! | `none`        | —                                         | 0 (retry at once)                            | RabbitMQ requeue, Pub/Sub default, NATS `Nak` |
//! | `fixed`       | `delay`                                   | `delay`                                      | Spring `FixedBackOff`, `@RetryableTopic` 1 s |
//! | `linear`      | `base`, `step` (default `base`), `cap`    | `min(cap, base + n * step)`                  | design documents' `t0 + n*d`; RabbitMQ 4.3 `min(min_delay * delivery_count, max_delay)` |
//! | `exponential` | `base` (> 0), `multiplier` (default 2.0), `cap` | `min(cap, base * multiplier^n)`        | AWS 2015, gRPC A6, Celery `retry_backoff`, Pub/Sub |
//! | `list`        | `delays` (non-empty)                      | `delays[min(n, len - 1)]`: the last repeats  | NATS JetStream `BackOff` |
//! | `sidekiq`     | `cap`                                     | `min(cap, n^4 + 15 + rand(10 * (n + 1)))` s  | Sidekiq 8.0 and later |
//! | `sidekiq-7`   | `cap`                                     | `min(cap, n^4 + 15 + rand(10) * (n + 1))` s  | Sidekiq 6.0 to 7.3 |
//! | `sidekiq-5`   | `cap`                                     | `min(cap, n^4 + 15 + rand(30) * (n + 1))` s  | Sidekiq 5.x |
//!
//! `cap` is optional where allowed; without it the only ceiling is
//! [`MAX_DURATION_NS`] (100 years), which every delay saturates at.
//!
//! Sidekiq: Ruby's `rand(k)` for an integer `k` is a whole number in
//! `[0, k)`. Sidekiq 8.0 draws `rand(10 * (count + 1))`, a whole number of
//! seconds in `[n^4 + 15, n^4 + 15 + 10(n + 1))`; 6.0 to 7.3 drew
//! `rand(10) * (count + 1)`, the same range's every (n + 1)-th value; 5.x
//! drew `rand(30) * (count + 1)`, three times the spread
//! (broker-semantics.md). Each draws one number.
//!
//! # The jitter: what is slept, given `d`
//!
//! | `jitter`       | delay                                   | allowed with | source |
//! |----------------|-----------------------------------------|--------------|--------|
//! | `none`         | `d`                                     | any          | |
//! | `full`         | `U(0, d)`                               | all but `none` | AWS 2015 "full jitter", gRPC A6, Celery `retry_jitter` |
//! | `equal`        | `d/2 + U(0, d/2)`                       | all but `none` | AWS 2015 "equal jitter" |
//! | `decorrelated` | `min(cap, U(base, 3 * prev))`           | `exponential`, `cap` required | AWS 2015 "decorrelated jitter" |
//! | `random`       | `min(cap, base + n * step * U(0, 1))`   | `linear`     | the design documents' random form `t0 + n*d*U(0,1)` |
//!
//! `decorrelated` ignores `d` and `n`: `prev` is the previous delay of the
//! same message (`prev_delay_ns`), raised to `base` when smaller (AWS: "sleep
//! starting at base"), so the first retry draws from `U(base, 3 * base)`.
//! `random` ignores `d` too: it is the jittered form of `linear` (only the
//! growth `n * step` is scaled by the draw), which is why it is only
//! accepted with `linear`.
//!
//! # Limits
//!
//! `max_attempts` counts the first attempt (as gRPC's `maxAttempts` and
//! Spring's attempts do); absent means unlimited. `max_elapsed` is a time
//! budget measured from the start of the first attempt (Sidekiq's
//! `retry_for`, Kafka's `delivery.timeout.ms`): a retry that would start
//! after it is not made. See [`RetryPolicy::allows`].
//!
//! # Validation
//!
//! [`RetryPolicy::validate`] rejects every key that the chosen `backoff` and
//! `jitter` do not read (a silently ignored key is a configuration bug), as
//! well as missing required keys, non-finite or out-of-range numbers and
//! `cap < base`. Errors name the key inside the `retry` table.
//!
//! # Randomness
//!
//! Draws use only [`unit`](fn@crate::rng::unit) on the stream the caller passes (in the simulator,
//! the per-message, per-retry `Backoff` stream), so results are stable across
//! crate versions. The number of draws depends only on the configuration:
//! each `sidekiq` formula draws one value for its `rand`, then each jitter other than
//! `none` draws one more; nothing else draws.
//!
//! Every computation saturates: no configuration, validated or not, makes
//! [`RetryPolicy::delay_ns`] panic or return more than [`MAX_DURATION_NS`].

use crate::rng::{unit, Stream};
use crate::time::{Duration, Nanos, MAX_DURATION_NS, NS_PER_S};
use serde::{Deserialize, Serialize};

mod validate;

crate::words::keywords! {
    /// The shape of the delay sequence (see the module table).
    #[derive(Default)]
    pub enum BackoffKind {
        /// Retry immediately.
        #[default]
        None = "none",
        /// `delay` every time.
        Fixed = "fixed",
        /// `base + n * step`, capped.
        Linear = "linear",
        /// `base * multiplier^n`, capped.
        Exponential = "exponential",
        /// `delays[n]`, the last repeating.
        List = "list",
        /// `n^4 + 15 + rand(10 (n + 1))` seconds (Sidekiq 8.0 and later).
        Sidekiq = "sidekiq",
        /// `n^4 + 15 + rand(10) (n + 1)` seconds (Sidekiq 6.0 to 7.3).
        Sidekiq7 = "sidekiq-7",
        /// `n^4 + 15 + rand(30) (n + 1)` seconds (Sidekiq 5.x).
        Sidekiq5 = "sidekiq-5",
    }
}

crate::words::keywords! {
    /// How the backoff's delay is randomised (see the module table).
    #[derive(Default)]
    pub enum Jitter {
        /// The delay as computed.
        #[default]
        None = "none",
        /// `U(0, d)`.
        Full = "full",
        /// `d/2 + U(0, d/2)`.
        Equal = "equal",
        /// `min(cap, U(base, 3 * prev))`.
        Decorrelated = "decorrelated",
        /// `base + n * step * U(0, 1)`.
        Random = "random",
    }
}

impl BackoffKind {
    /// One of the Sidekiq formulas (every version's).
    pub fn is_sidekiq(self) -> bool {
        matches!(
            self,
            BackoffKind::Sidekiq | BackoffKind::Sidekiq7 | BackoffKind::Sidekiq5
        )
    }
}

/// A retry policy: the backoff, its jitter and the limits.
///
/// The default is "retry immediately, without limit" (`backoff = "none"`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, Default, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    pub backoff: BackoffKind,
    /// `linear`, `exponential` (and their jitters): the first retry's delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<Duration>,
    /// `fixed`: the delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// `linear`: the growth per retry (default `base`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Duration>,
    /// `exponential`: the growth factor per retry (default 2.0, >= 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<f64>,
    /// `linear`, `exponential`, `sidekiq`: the longest delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<Duration>,
    /// `list`: the delays, the last repeating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delays: Option<Vec<Duration>>,
    pub jitter: Jitter,
    /// Attempts in all, the first included; absent = unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Time budget from the start of the first attempt; absent = unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_elapsed: Option<Duration>,
}

/// The default `multiplier` of `exponential`, as in the AWS analysis, gRPC
/// examples and Celery.
pub const DEFAULT_MULTIPLIER: f64 = 2.0;

/// Rounds a non-negative count of nanoseconds given as a float, saturating
/// at [`MAX_DURATION_NS`]; NaN and negatives become 0.
fn f64_to_ns(ns: f64) -> Nanos {
    if ns.is_nan() || ns <= 0.0 {
        0
    } else if ns >= MAX_DURATION_NS as f64 {
        MAX_DURATION_NS
    } else {
        // In range and finite: the cast is exact after rounding.
        ns.round() as Nanos
    }
}

/// `b^e` by squaring: IEEE multiplications only, which are correctly
/// rounded everywhere, unlike libm's `pow`, so a run gives the same delays
/// on every platform. At most 64 multiplications.
fn powu(mut b: f64, mut e: u32) -> f64 {
    let mut acc = 1.0;
    while e > 0 {
        if e & 1 == 1 {
            acc *= b;
        }
        e >>= 1;
        if e > 0 {
            b *= b;
        }
    }
    acc
}

/// `E[min(cap, lo + span * U)]` for `U ~ U(0, 1)`, `span >= 0`.
fn mean_capped_uniform(lo: f64, span: f64, cap: f64) -> f64 {
    if cap <= lo {
        cap
    } else if span <= 0.0 || cap >= lo + span {
        lo + span / 2.0
    } else {
        // The part below cap has mean (lo + cap) / 2 and weight
        // (cap - lo) / span; the rest sits at cap.
        let w = (cap - lo) / span;
        w * (lo + cap) / 2.0 + (1.0 - w) * cap
    }
}

/// Whether `backoff` with `jitter` reads the retry key `key` (the keys of
/// the curve: `base`, `delay`, `step`, `multiplier`, `cap`, `delays`; every
/// other key is read by all). A preset's keys that a user's new backoff
/// does not read are left out when the two are merged.
pub fn reads(backoff: BackoffKind, jitter: Jitter, key: &str) -> bool {
    use BackoffKind as B;
    match key {
        "base" => matches!(backoff, B::Linear | B::Exponential),
        "delay" => backoff == B::Fixed,
        "step" => backoff == B::Linear,
        "multiplier" => backoff == B::Exponential && jitter != Jitter::Decorrelated,
        "cap" => matches!(backoff, B::Linear | B::Exponential) || backoff.is_sidekiq(),
        "delays" => backoff == B::List,
        _ => true,
    }
}

/// Whether `jitter` applies to `backoff`.
pub fn jitter_fits(backoff: BackoffKind, jitter: Jitter) -> bool {
    match jitter {
        Jitter::None => true,
        Jitter::Full | Jitter::Equal => backoff != BackoffKind::None,
        Jitter::Decorrelated => backoff == BackoffKind::Exponential,
        Jitter::Random => backoff == BackoffKind::Linear,
    }
}

impl RetryPolicy {
    /// The ceiling of every delay: `cap` if given, never above
    /// [`MAX_DURATION_NS`].
    fn cap_ns(&self) -> Nanos {
        self.cap
            .map_or(MAX_DURATION_NS, |c| c.0.min(MAX_DURATION_NS))
    }

    fn base_ns(&self) -> Nanos {
        self.base.map_or(0, |b| b.0.min(MAX_DURATION_NS))
    }

    fn step_ns(&self) -> Nanos {
        self.step
            .map_or_else(|| self.base_ns(), |s| s.0.min(MAX_DURATION_NS))
    }

    /// The backoff's delay `d` for `n` (0 for the first retry) for the
    /// deterministic kinds, capped. `sidekiq` returns its fixed part
    /// `n^4 + 15` seconds (uncapped; the caller adds the draw, then caps).
    fn deterministic_ns(&self, n: u32) -> Nanos {
        let cap = self.cap_ns();
        match self.backoff {
            BackoffKind::None => 0,
            BackoffKind::Fixed => self.delay.map_or(0, |d| d.0).min(MAX_DURATION_NS),
            BackoffKind::Linear => self
                .step_ns()
                .saturating_mul(u64::from(n))
                .saturating_add(self.base_ns())
                .min(cap),
            BackoffKind::Exponential => {
                let m = self.multiplier.unwrap_or(DEFAULT_MULTIPLIER);
                // m^n overflows to +inf, which f64_to_ns saturates; a NaN
                // (unvalidated multiplier) becomes 0.
                let d = self.base_ns() as f64 * powu(m, n);
                f64_to_ns(d).min(cap)
            }
            BackoffKind::List => {
                let delays = self.delays.as_deref().unwrap_or(&[]);
                let i = (n as usize).min(delays.len().saturating_sub(1));
                delays.get(i).map_or(0, |d| d.0).min(cap)
            }
            BackoffKind::Sidekiq | BackoffKind::Sidekiq7 | BackoffKind::Sidekiq5 => {
                let n = u128::from(n);
                let secs = n.saturating_mul(n).saturating_mul(n).saturating_mul(n) + 15;
                let ns = secs.saturating_mul(u128::from(NS_PER_S));
                ns.min(u128::from(MAX_DURATION_NS)) as Nanos
            }
        }
    }

    /// The values a Sidekiq formula's draw can add before retry n: how many
    /// (`rand`'s range) and the seconds between them. 8.0:
    /// `rand(10 * (n + 1))`, 10(n + 1) values 1 s apart; 6.0 to 7.3:
    /// `rand(10) * (n + 1)`, 10 values n + 1 s apart; 5.x: `rand(30) * (n + 1)`.
    fn sidekiq_lattice(&self, n: u32) -> (u64, u64) {
        let n1 = u64::from(n) + 1;
        match self.backoff {
            BackoffKind::Sidekiq7 => (10, n1),
            BackoffKind::Sidekiq5 => (30, n1),
            _ => (10 * n1, 1),
        }
    }

    /// The delay before retry `retry` (1 for the first retry; 0 is treated
    /// as 1). `prev_delay_ns` is the delay before the previous retry of the
    /// same message, 0 if none: only `decorrelated` reads it.
    ///
    /// Saturating: never overflows, never above [`MAX_DURATION_NS`].
    pub fn delay_ns(&self, retry: u32, prev_delay_ns: Nanos, rng: &mut Stream) -> Nanos {
        let n = retry.saturating_sub(1);
        let cap = self.cap_ns();
        match self.jitter {
            Jitter::Decorrelated => {
                let base = self.base_ns();
                let prev = prev_delay_ns.max(base) as f64;
                let lo = base as f64;
                let u = unit(rng);
                f64_to_ns(lo + u * (3.0 * prev - lo)).min(cap)
            }
            Jitter::Random => {
                let u = unit(rng);
                let span = self.step_ns() as f64 * f64::from(n);
                f64_to_ns(self.base_ns() as f64 + span * u).min(cap)
            }
            Jitter::None | Jitter::Full | Jitter::Equal => {
                let mut d = self.deterministic_ns(n);
                if self.backoff.is_sidekiq() {
                    let (span, step_s) = self.sidekiq_lattice(n);
                    // floor(u * span) is a whole number in [0, span).
                    let k = ((unit(rng) * span as f64) as u64).min(span - 1);
                    d = d
                        .saturating_add(k.saturating_mul(step_s).saturating_mul(NS_PER_S))
                        .min(MAX_DURATION_NS);
                    d = d.min(cap);
                }
                match self.jitter {
                    Jitter::Full => f64_to_ns(unit(rng) * d as f64),
                    Jitter::Equal => {
                        let half = d as f64 / 2.0;
                        f64_to_ns(half + unit(rng) * half).min(d)
                    }
                    _ => d,
                }
            }
        }
    }

    /// Whether another attempt may be made: `attempts_done` attempts have
    /// been made (the first included), `elapsed_ns` have passed since the
    /// first attempt started, and the next would start `next_delay_ns` from
    /// now. False when `attempts_done >= max_attempts`, or when
    /// `elapsed_ns + next_delay_ns > max_elapsed` (a retry starting exactly
    /// at the budget is allowed).
    pub fn allows(&self, attempts_done: u32, elapsed_ns: Nanos, next_delay_ns: Nanos) -> bool {
        if let Some(max) = self.max_attempts {
            if attempts_done >= max {
                return false;
            }
        }
        if let Some(budget) = self.max_elapsed {
            if elapsed_ns.saturating_add(next_delay_ns) > budget.0 {
                return false;
            }
        }
        true
    }

    /// The mean delay before retry `retry` (1 for the first), in
    /// nanoseconds, where it has a closed form: every backoff with `none`,
    /// `full` or `equal` jitter, and `random`. `None` for `decorrelated`,
    /// whose mean depends on the previous delay. Caps are accounted for.
    pub fn mean_delay_ns(&self, retry: u32) -> Option<f64> {
        let n = retry.saturating_sub(1);
        let cap = self.cap_ns() as f64;
        let factor = match self.jitter {
            Jitter::None => 1.0,
            Jitter::Full => 0.5,
            Jitter::Equal => 0.75,
            Jitter::Decorrelated => return None,
            Jitter::Random => {
                let span = self.step_ns() as f64 * f64::from(n);
                return Some(mean_capped_uniform(self.base_ns() as f64, span, cap));
            }
        };
        let d = if self.backoff.is_sidekiq() {
            // d = min(cap, a + K s), K uniform on {0, .., m - 1}.
            let a = self.deterministic_ns(n) as f64;
            let (m, step_s) = self.sidekiq_lattice(n);
            let m = m as f64;
            let s = (step_s as f64) * NS_PER_S as f64;
            if cap <= a {
                cap
            } else if cap >= a + (m - 1.0) * s {
                a + (m - 1.0) * s / 2.0
            } else {
                // j values a, a + s, .., a + (j - 1) s lie below cap.
                let j = ((cap - a) / s).floor() + 1.0;
                (j * a + s * j * (j - 1.0) / 2.0 + (m - j) * cap) / m
            }
        } else {
            self.deterministic_ns(n) as f64
        };
        Some(d * factor)
    }
}

#[cfg(test)]
mod tests;
