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

/// The shape of the delay sequence (see the module table).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum BackoffKind {
    /// Retry immediately.
    #[default]
    None,
    /// `delay` every time.
    Fixed,
    /// `base + n * step`, capped.
    Linear,
    /// `base * multiplier^n`, capped.
    Exponential,
    /// `delays[n]`, the last repeating.
    List,
    /// `n^4 + 15 + rand(10 (n + 1))` seconds (Sidekiq 8.0 and later).
    Sidekiq,
    /// `n^4 + 15 + rand(10) (n + 1)` seconds (Sidekiq 6.0 to 7.3).
    #[serde(rename = "sidekiq-7")]
    Sidekiq7,
    /// `n^4 + 15 + rand(30) (n + 1)` seconds (Sidekiq 5.x).
    #[serde(rename = "sidekiq-5")]
    Sidekiq5,
}

/// How the backoff's delay is randomised (see the module table).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Jitter {
    /// The delay as computed.
    #[default]
    None,
    /// `U(0, d)`.
    Full,
    /// `d/2 + U(0, d/2)`.
    Equal,
    /// `min(cap, U(base, 3 * prev))`.
    Decorrelated,
    /// `base + n * step * U(0, 1)`.
    Random,
}

impl BackoffKind {
    fn name(self) -> &'static str {
        match self {
            BackoffKind::None => "none",
            BackoffKind::Fixed => "fixed",
            BackoffKind::Linear => "linear",
            BackoffKind::Exponential => "exponential",
            BackoffKind::List => "list",
            BackoffKind::Sidekiq => "sidekiq",
            BackoffKind::Sidekiq7 => "sidekiq-7",
            BackoffKind::Sidekiq5 => "sidekiq-5",
        }
    }

    /// One of the Sidekiq formulas (every version's).
    pub fn is_sidekiq(self) -> bool {
        matches!(
            self,
            BackoffKind::Sidekiq | BackoffKind::Sidekiq7 | BackoffKind::Sidekiq5
        )
    }
}

impl Jitter {
    fn name(self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
            Jitter::Decorrelated => "decorrelated",
            Jitter::Random => "random",
        }
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

type Invalid = (String, String);

fn invalid(key: &str, msg: impl Into<String>) -> Result<(), Invalid> {
    Err((key.to_string(), msg.into()))
}

fn check_duration(key: &str, d: Option<Duration>) -> Result<(), Invalid> {
    match d {
        Some(d) if d.0 > MAX_DURATION_NS => invalid(
            key,
            format!("{} is longer than the 100-year limit of a duration", d.0),
        ),
        _ => Ok(()),
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
    /// Checks the policy. On error returns the key within the `retry` table
    /// and what is wrong with it and what is allowed.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let kind = self.backoff.name();
        // Required keys of the backoff.
        match self.backoff {
            BackoffKind::Fixed if self.delay.is_none() => {
                return invalid(
                    "delay",
                    "backoff = \"fixed\" needs `delay`, e.g. delay = \"1s\"",
                )
            }
            BackoffKind::Linear if self.base.is_none() => {
                return invalid(
                    "base",
                    "backoff = \"linear\" needs `base` (the first retry's delay), e.g. base = \"1s\"",
                )
            }
            BackoffKind::Exponential => match self.base {
                None => {
                    return invalid(
                        "base",
                        "backoff = \"exponential\" needs `base` (the first retry's delay), e.g. base = \"100ms\"",
                    )
                }
                Some(b) if b.0 == 0 => {
                    return invalid(
                        "base",
                        "must be greater than 0 for backoff = \"exponential\" (0 times anything is 0; use backoff = \"none\" to retry at once)",
                    )
                }
                _ => {}
            },
            BackoffKind::List => match &self.delays {
                None => {
                    return invalid(
                        "delays",
                        "backoff = \"list\" needs `delays`, e.g. delays = [\"1s\", \"5s\", \"30s\"]",
                    )
                }
                Some(v) if v.is_empty() => {
                    return invalid(
                        "delays",
                        "must list at least one delay, e.g. delays = [\"1s\", \"5s\", \"30s\"] (the last repeats)",
                    )
                }
                _ => {}
            },
            _ => {}
        }

        // Jitter compatibility.
        if !jitter_fits(self.backoff, self.jitter) {
            let allowed = match self.jitter {
                Jitter::Decorrelated => "jitter = \"decorrelated\" replaces the exponential curve (AWS: min(cap, U(base, 3 * previous))); use it with backoff = \"exponential\"",
                Jitter::Random => "jitter = \"random\" is the jittered linear form base + n * step * U(0,1); use it with backoff = \"linear\"",
                _ => "backoff = \"none\" has no delay to jitter; use jitter = \"none\" or choose a backoff",
            };
            return invalid(
                "jitter",
                format!(
                    "jitter = \"{}\" does not apply to backoff = \"{kind}\": {allowed}",
                    self.jitter.name()
                ),
            );
        }
        if self.jitter == Jitter::Decorrelated && self.cap.is_none() {
            return invalid(
                "cap",
                "jitter = \"decorrelated\" needs `cap`: without it each sleep may triple without bound",
            );
        }

        // Keys the chosen backoff and jitter do not read.
        let uses = |key: &str| reads(self.backoff, self.jitter, key);
        let given = [
            ("base", self.base.is_some()),
            ("delay", self.delay.is_some()),
            ("step", self.step.is_some()),
            ("multiplier", self.multiplier.is_some()),
            ("cap", self.cap.is_some()),
            ("delays", self.delays.is_some()),
        ];
        for (key, present) in given {
            if present && !uses(key) {
                let by = if key == "multiplier" && self.backoff == BackoffKind::Exponential {
                    "jitter = \"decorrelated\" (its sleeps grow by U(base, 3 * previous))"
                        .to_string()
                } else {
                    format!("backoff = \"{kind}\"")
                };
                return invalid(
                    key,
                    format!(
                        "`{key}` is not used by {by}; remove it (keys per backoff: fixed: delay; linear: base, step, cap; exponential: base, multiplier, cap; list: delays; sidekiq, sidekiq-7, sidekiq-5: cap)"
                    ),
                );
            }
        }

        // Ranges.
        check_duration("base", self.base)?;
        check_duration("delay", self.delay)?;
        check_duration("step", self.step)?;
        check_duration("cap", self.cap)?;
        check_duration("max_elapsed", self.max_elapsed)?;
        if let Some(delays) = &self.delays {
            for (i, d) in delays.iter().enumerate() {
                if d.0 > MAX_DURATION_NS {
                    return invalid(
                        "delays",
                        format!("delays[{i}] is longer than the 100-year limit of a duration"),
                    );
                }
            }
        }
        if let Some(m) = self.multiplier {
            if !m.is_finite() || m < 1.0 {
                return invalid(
                    "multiplier",
                    format!("{m} is not allowed: the multiplier must be a finite number >= 1 (1 keeps the delay at base, 2 doubles it)"),
                );
            }
        }
        if let Some(cap) = self.cap {
            if cap.0 == 0 {
                return invalid("cap", "must be greater than 0");
            }
            if let Some(base) = self.base {
                if cap < base {
                    return invalid("cap", format!("cap ({cap}) must be at least base ({base})"));
                }
            }
        }
        if self.max_attempts == Some(0) {
            return invalid(
                "max_attempts",
                "must be at least 1 (it counts the first attempt; 1 means never retry)",
            );
        }
        Ok(())
    }

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
mod tests {
    use super::*;
    use crate::rng::{stream, Domain};
    use crate::time::{NS_PER_MS, NS_PER_S};
    use rand::RngCore;

    const S: u64 = NS_PER_S;
    const MS: u64 = NS_PER_MS;

    fn rng() -> Stream {
        stream(42, Domain::Backoff, 1, 2)
    }

    fn d(text: &str) -> Duration {
        match Duration::parse(text) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    fn exp(base: &str, mult: Option<f64>, cap: Option<&str>, jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            backoff: BackoffKind::Exponential,
            base: Some(d(base)),
            multiplier: mult,
            cap: cap.map(d),
            jitter,
            ..RetryPolicy::default()
        }
    }

    fn linear(base: &str, step: Option<&str>, jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            backoff: BackoffKind::Linear,
            base: Some(d(base)),
            step: step.map(d),
            jitter,
            ..RetryPolicy::default()
        }
    }

    fn fixed(delay: &str, jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            backoff: BackoffKind::Fixed,
            delay: Some(d(delay)),
            jitter,
            ..RetryPolicy::default()
        }
    }

    fn list(delays: &[&str], jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            backoff: BackoffKind::List,
            delays: Some(delays.iter().map(|t| d(t)).collect()),
            jitter,
            ..RetryPolicy::default()
        }
    }

    fn sidekiq(jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            backoff: BackoffKind::Sidekiq,
            jitter,
            ..RetryPolicy::default()
        }
    }

    fn seq(p: &RetryPolicy, retries: u32) -> Vec<Nanos> {
        assert_eq!(p.validate(), Ok(()));
        let mut r = rng();
        let mut prev = 0;
        (1..=retries)
            .map(|k| {
                prev = p.delay_ns(k, prev, &mut r);
                prev
            })
            .collect()
    }

    #[test]
    fn none_retries_at_once() {
        let p = RetryPolicy::default();
        assert_eq!(seq(&p, 4), vec![0, 0, 0, 0]);
        assert_eq!(p.mean_delay_ns(3), Some(0.0));
    }

    #[test]
    fn fixed_is_constant() {
        assert_eq!(seq(&fixed("1s", Jitter::None), 3), vec![S, S, S]);
    }

    #[test]
    fn linear_grows_by_step_from_base() {
        let p = linear("1s", Some("2s"), Jitter::None);
        assert_eq!(seq(&p, 4), vec![S, 3 * S, 5 * S, 7 * S]);
        // step defaults to base: RabbitMQ 4.3's min_delay * delivery_count.
        let p = linear("500ms", None, Jitter::None);
        assert_eq!(seq(&p, 3), vec![500 * MS, 1000 * MS, 1500 * MS]);
        let mut p = linear("1s", Some("2s"), Jitter::None);
        p.cap = Some(d("4s"));
        assert_eq!(seq(&p, 4), vec![S, 3 * S, 4 * S, 4 * S]);
    }

    #[test]
    fn exponential_waits_base_first_and_saturates_at_cap() {
        let p = exp("100ms", None, Some("1s"), Jitter::None);
        assert_eq!(
            seq(&p, 6),
            vec![100 * MS, 200 * MS, 400 * MS, 800 * MS, S, S]
        );
        let p = exp("100ms", Some(1.5), None, Jitter::None);
        assert_eq!(seq(&p, 3), vec![100 * MS, 150 * MS, 225 * MS]);
        // Without a cap the 100-year ceiling holds, even at u32::MAX.
        assert_eq!(p.delay_ns(u32::MAX, 0, &mut rng()), MAX_DURATION_NS);
        assert_eq!(p.delay_ns(200, 0, &mut rng()), MAX_DURATION_NS);
        // retry 0 is treated as the first retry.
        assert_eq!(p.delay_ns(0, 0, &mut rng()), 100 * MS);
    }

    #[test]
    fn list_repeats_its_last_delay() {
        let p = list(&["1s", "5s", "30s"], Jitter::None);
        assert_eq!(seq(&p, 5), vec![S, 5 * S, 30 * S, 30 * S, 30 * S]);
        assert_eq!(p.delay_ns(u32::MAX, 0, &mut rng()), 30 * S);
    }

    #[test]
    fn sidekiq_range_and_whole_seconds() {
        let p = sidekiq(Jitter::None);
        assert_eq!(p.validate(), Ok(()));
        let mut r = rng();
        for retry in 1..=25u32 {
            let n = u64::from(retry - 1);
            let lo = (n.pow(4) + 15) * S;
            let hi = lo + 10 * (n + 1) * S;
            let (mut seen_lo, mut seen_top) = (false, false);
            for _ in 0..20 * 10 * (n + 1) {
                let x = p.delay_ns(retry, 0, &mut r);
                assert!(x >= lo && x < hi, "retry {retry}: {x} not in [{lo}, {hi})");
                assert_eq!(x % S, 0);
                seen_lo |= x == lo;
                seen_top |= x == hi - S;
            }
            assert!(seen_lo && seen_top, "retry {retry}: ends not reached");
        }
        // Huge retry counts saturate instead of overflowing.
        assert_eq!(p.delay_ns(u32::MAX, 0, &mut r), MAX_DURATION_NS);
        let mut capped = sidekiq(Jitter::None);
        capped.cap = Some(d("1h"));
        assert_eq!(capped.delay_ns(30, 0, &mut r), 3600 * S);
    }

    /// Each Sidekiq version's delays fall in its range, on its lattice, and
    /// reach both ends: 8.0 `rand(10 (n + 1))` (every whole second), 6.0 to
    /// 7.3 `rand(10) (n + 1)` and 5.x `rand(30) (n + 1)` (every (n + 1)-th).
    #[test]
    fn sidekiq_versions_draw_in_their_ranges() {
        for (kind, values, spaced) in [
            (BackoffKind::Sidekiq, 10u64, false),
            (BackoffKind::Sidekiq7, 10, true),
            (BackoffKind::Sidekiq5, 30, true),
        ] {
            let p = RetryPolicy {
                backoff: kind,
                ..RetryPolicy::default()
            };
            assert_eq!(p.validate(), Ok(()));
            let mut r = rng();
            for retry in [1u32, 2, 3, 10, 25] {
                let n = u64::from(retry - 1);
                let lo = (n.pow(4) + 15) * S;
                // The number of values and the step between them.
                let (m, step) = if spaced {
                    (values, (n + 1) * S)
                } else {
                    (values * (n + 1), S)
                };
                let hi = lo + (m - 1) * step;
                let mut seen = std::collections::BTreeSet::new();
                for _ in 0..40 * m {
                    let x = p.delay_ns(retry, 0, &mut r);
                    assert!(
                        x >= lo && x <= hi,
                        "{kind:?} retry {retry}: {x} not in [{lo}, {hi}]"
                    );
                    assert_eq!(
                        (x - lo) % step,
                        0,
                        "{kind:?} retry {retry}: {x} off the lattice"
                    );
                    seen.insert(x);
                }
                assert_eq!(
                    seen.len() as u64,
                    m,
                    "{kind:?} retry {retry}: every value is reached"
                );
                // The closed-form mean is the lattice's middle.
                assert_eq!(
                    p.mean_delay_ns(retry),
                    Some(lo as f64 + (m - 1) as f64 * step as f64 / 2.0)
                );
            }
        }
    }

    /// Checks that `draw` stays in `[lo, hi]` and that its sample mean over
    /// 100k draws is within 5 standard errors of `mean`, where `sd` is the
    /// standard deviation of one draw.
    fn check_stats(
        mut draw: impl FnMut(&mut Stream) -> Nanos,
        lo: u64,
        hi: u64,
        mean: f64,
        sd: f64,
    ) {
        let n = 100_000;
        let mut r = stream(9, Domain::Backoff, 3, 4);
        let mut sum = 0.0;
        for _ in 0..n {
            let x = draw(&mut r);
            assert!(x >= lo && x <= hi, "{x} not in [{lo}, {hi}]");
            sum += x as f64;
        }
        let se = sd / (n as f64).sqrt();
        let got = sum / n as f64;
        assert!(
            (got - mean).abs() < 5.0 * se,
            "sample mean {got} vs {mean} (se {se})"
        );
    }

    /// The standard deviation of U(0, width).
    fn sd_uniform(width: f64) -> f64 {
        width * (1.0f64 / 12.0).sqrt()
    }

    #[test]
    fn full_jitter_is_uniform_below_d() {
        for (p, retry, dd) in [
            (exp("100ms", None, Some("30s"), Jitter::Full), 4, 800 * MS),
            (fixed("2s", Jitter::Full), 1, 2 * S),
            (linear("1s", Some("1s"), Jitter::Full), 3, 3 * S),
            (list(&["1s", "5s"], Jitter::Full), 7, 5 * S),
        ] {
            assert_eq!(p.validate(), Ok(()));
            let mean = p.mean_delay_ns(retry);
            assert_eq!(mean, Some(dd as f64 / 2.0));
            check_stats(
                |r| p.delay_ns(retry, 0, r),
                0,
                dd,
                dd as f64 / 2.0,
                sd_uniform(dd as f64),
            );
        }
    }

    #[test]
    fn equal_jitter_is_uniform_in_upper_half() {
        for (p, retry, dd) in [
            (exp("100ms", None, Some("30s"), Jitter::Equal), 3, 400 * MS),
            (exp("1s", Some(3.0), Some("10s"), Jitter::Equal), 5, 10 * S),
            (fixed("2s", Jitter::Equal), 2, 2 * S),
        ] {
            assert_eq!(p.validate(), Ok(()));
            assert_eq!(p.mean_delay_ns(retry), Some(0.75 * dd as f64));
            check_stats(
                |r| p.delay_ns(retry, 0, r),
                dd / 2,
                dd,
                0.75 * dd as f64,
                sd_uniform(dd as f64 / 2.0),
            );
        }
    }

    #[test]
    fn random_jitter_scales_the_linear_growth() {
        let p = linear("1s", Some("500ms"), Jitter::Random);
        assert_eq!(p.validate(), Ok(()));
        // First retry: exactly base, no growth to scale.
        assert_eq!(p.delay_ns(1, 0, &mut rng()), S);
        let retry = 5; // n = 4: base + 4 * 0.5 s * U
        let span = 2.0 * S as f64;
        let mean = S as f64 + span / 2.0;
        assert_eq!(p.mean_delay_ns(retry), Some(mean));
        check_stats(
            |r| p.delay_ns(retry, 0, r),
            S,
            3 * S,
            mean,
            sd_uniform(span),
        );
        // step defaults to base.
        let p = linear("1s", None, Jitter::Random);
        assert_eq!(p.mean_delay_ns(3), Some(2.0 * S as f64));
        // A cap clips the draw and the mean accounts for it.
        let mut p = linear("1s", Some("1s"), Jitter::Random);
        p.cap = Some(d("2s"));
        assert_eq!(p.validate(), Ok(()));
        // n = 2: 1 s + 2 s * U, capped at 2 s: mean = 0.5 * 1.5 s + 0.5 * 2 s.
        let m = p.mean_delay_ns(3).unwrap_or(f64::NAN);
        assert!((m - 1.75 * S as f64).abs() < 1.0);
        let mut r = rng();
        let mut sum = 0.0;
        for _ in 0..100_000 {
            let x = p.delay_ns(3, 0, &mut r);
            assert!((S..=2 * S).contains(&x));
            sum += x as f64;
        }
        // sd of a half-clipped uniform is below that of U(0, 2 s).
        let se = sd_uniform(2.0 * S as f64) / (100_000f64).sqrt();
        assert!((sum / 100_000.0 - m).abs() < 5.0 * se);
    }

    #[test]
    fn sidekiq_mean_matches_the_discrete_uniform() {
        for retry in [1u32, 2, 5] {
            let p = sidekiq(Jitter::None);
            let n = u64::from(retry - 1);
            let lo = (n.pow(4) + 15) * S;
            let m = 10 * (n + 1);
            let mean = lo as f64 + (m - 1) as f64 * S as f64 / 2.0;
            assert_eq!(p.mean_delay_ns(retry), Some(mean));
            // Discrete uniform on m values spaced 1 s: var = (m^2 - 1) / 12 s^2.
            let sd = ((m * m - 1) as f64 / 12.0).sqrt() * S as f64;
            check_stats(|r| p.delay_ns(retry, 0, r), lo, lo + (m - 1) * S, mean, sd);
        }
        // With a cap in the middle of the range the closed form still holds.
        let mut p = sidekiq(Jitter::None);
        p.cap = Some(d("20s"));
        // retry 1: 15..24 s, capped at 20: (15+16+..+20 + 4 * 20) / 10 = 18.5 s.
        assert_eq!(p.mean_delay_ns(1), Some(18.5 * S as f64));
        // Full jitter on sidekiq halves the mean.
        let q = sidekiq(Jitter::Full);
        assert_eq!(q.mean_delay_ns(1), Some(19.5 * S as f64 / 2.0));
    }

    #[test]
    fn decorrelated_stays_in_base_cap() {
        let p = exp("5ms", None, Some("2s"), Jitter::Decorrelated);
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(p.mean_delay_ns(1), None);
        let mut r = rng();
        for _chain in 0..1_000 {
            let mut prev = 0;
            for k in 1..=30 {
                let x = p.delay_ns(k, prev, &mut r);
                assert!((5 * MS..=2 * S).contains(&x), "{x}");
                prev = x;
            }
            // After 30 draws the chain has reached the cap region.
        }
        // Given prev = 100 ms (3 * prev < cap), a draw is U(5 ms, 300 ms).
        let (lo, hi) = (5.0 * MS as f64, 300.0 * MS as f64);
        check_stats(
            |r| p.delay_ns(1, 100 * MS, r),
            5 * MS,
            300 * MS,
            (lo + hi) / 2.0,
            sd_uniform(hi - lo),
        );
        // prev = 0 starts at base: U(base, 3 base).
        check_stats(
            |r| p.delay_ns(1, 0, r),
            5 * MS,
            15 * MS,
            10.0 * MS as f64,
            sd_uniform(10.0 * MS as f64),
        );
    }

    #[test]
    fn draws_depend_only_on_the_configuration() {
        // No jitter draws nothing; each other jitter draws once.
        let mut a = rng();
        let mut b = rng();
        exp("1s", None, None, Jitter::None).delay_ns(3, 0, &mut a);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut a = rng();
        let mut b = rng();
        exp("1s", None, None, Jitter::Full).delay_ns(3, 0, &mut a);
        b.next_u64();
        assert_eq!(a.next_u64(), b.next_u64());
        let mut a = rng();
        let mut b = rng();
        sidekiq(Jitter::Equal).delay_ns(3, 0, &mut a);
        b.next_u64();
        b.next_u64();
        assert_eq!(a.next_u64(), b.next_u64());
        // Same stream, same delays.
        let p = exp("100ms", None, Some("30s"), Jitter::Full);
        assert_eq!(seq(&p, 10), seq(&p, 10));
    }

    #[test]
    fn mean_delay_pins() {
        let p = exp("100ms", None, Some("1s"), Jitter::None);
        assert_eq!(p.mean_delay_ns(1), Some(1e8));
        assert_eq!(p.mean_delay_ns(10), Some(1e9));
        let p = list(&["1s", "5s"], Jitter::Equal);
        assert_eq!(p.mean_delay_ns(9), Some(3.75e9));
        let p = linear("1s", Some("2s"), Jitter::None);
        assert_eq!(p.mean_delay_ns(3), Some(5e9));
    }

    #[test]
    fn allows_counts_attempts_and_elapsed_time() {
        let p = RetryPolicy {
            max_attempts: Some(3),
            max_elapsed: Some(d("10s")),
            ..exp("1s", None, None, Jitter::None)
        };
        assert!(p.allows(1, 0, S));
        assert!(p.allows(2, 0, S));
        assert!(!p.allows(3, 0, S));
        assert!(p.allows(1, 9 * S, S)); // starts exactly at the budget
        assert!(!p.allows(1, 9 * S, S + 1));
        assert!(!p.allows(1, u64::MAX, u64::MAX)); // saturates, no overflow
        let unlimited = RetryPolicy::default();
        assert!(unlimited.allows(u32::MAX, u64::MAX, u64::MAX));
        let once = RetryPolicy {
            max_attempts: Some(1),
            ..RetryPolicy::default()
        };
        assert!(!once.allows(1, 0, 0));
    }

    fn err_key(p: &RetryPolicy) -> String {
        match p.validate() {
            Ok(()) => "ok".into(),
            Err((key, msg)) => {
                assert!(!msg.is_empty());
                key
            }
        }
    }

    #[test]
    fn validate_names_the_bad_key() {
        let mut p = exp("100ms", None, Some("30s"), Jitter::Full);
        assert_eq!(err_key(&p), "ok");
        p.base = None;
        assert_eq!(err_key(&p), "base");
        p.base = Some(Duration::ZERO);
        assert_eq!(err_key(&p), "base");
        for bad in [0.5, 0.0, -2.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let p = exp("100ms", Some(bad), None, Jitter::None);
            assert_eq!(err_key(&p), "multiplier", "{bad}");
        }
        assert_eq!(
            err_key(&exp("1s", None, Some("500ms"), Jitter::None)),
            "cap"
        );
        assert_eq!(err_key(&exp("1s", None, Some("0s"), Jitter::None)), "cap");
        assert_eq!(err_key(&list(&[], Jitter::None)), "delays");
        let no_list = RetryPolicy {
            backoff: BackoffKind::List,
            ..RetryPolicy::default()
        };
        assert_eq!(err_key(&no_list), "delays");
        let no_delay = RetryPolicy {
            backoff: BackoffKind::Fixed,
            ..RetryPolicy::default()
        };
        assert_eq!(err_key(&no_delay), "delay");
        let no_base = RetryPolicy {
            backoff: BackoffKind::Linear,
            ..RetryPolicy::default()
        };
        assert_eq!(err_key(&no_base), "base");
        let zero_attempts = RetryPolicy {
            max_attempts: Some(0),
            ..RetryPolicy::default()
        };
        assert_eq!(err_key(&zero_attempts), "max_attempts");
        // Keys the policy would ignore.
        let mut p = exp("1s", None, None, Jitter::None);
        p.delays = Some(vec![d("1s")]);
        assert_eq!(err_key(&p), "delays");
        let mut p = fixed("1s", Jitter::None);
        p.multiplier = Some(2.0);
        assert_eq!(err_key(&p), "multiplier");
        let mut p = exp("1s", Some(2.0), Some("10s"), Jitter::Decorrelated);
        assert_eq!(err_key(&p), "multiplier");
        p.multiplier = None;
        assert_eq!(err_key(&p), "ok");
        p.cap = None;
        assert_eq!(err_key(&p), "cap");
        // Jitters that do not apply.
        assert_eq!(err_key(&fixed("1s", Jitter::Decorrelated)), "jitter");
        assert_eq!(err_key(&exp("1s", None, None, Jitter::Random)), "jitter");
        let jittered_none = RetryPolicy {
            jitter: Jitter::Full,
            ..RetryPolicy::default()
        };
        assert_eq!(err_key(&jittered_none), "jitter");
        // Durations past the 100-year limit (only constructible in code).
        let mut p = fixed("1s", Jitter::None);
        p.delay = Some(Duration(u64::MAX));
        assert_eq!(err_key(&p), "delay");
        let mut p = list(&["1s"], Jitter::None);
        p.delays = Some(vec![Duration(1), Duration(u64::MAX)]);
        assert_eq!(err_key(&p), "delays");
        let p = RetryPolicy {
            max_elapsed: Some(Duration(u64::MAX)),
            ..RetryPolicy::default()
        };
        assert_eq!(err_key(&p), "max_elapsed");
    }

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Scenario {
        retry: RetryPolicy,
    }

    fn parse(text: &str) -> Result<RetryPolicy, String> {
        toml::from_str::<Scenario>(text)
            .map(|s| s.retry)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_the_scenario_syntax() {
        let p = parse(
            r#"retry = { backoff = "exponential", base = "100ms", multiplier = 2.0, cap = "30s", jitter = "full", max_attempts = 5, max_elapsed = "10m" }"#,
        );
        let want = RetryPolicy {
            max_attempts: Some(5),
            max_elapsed: Some(d("10m")),
            ..exp("100ms", Some(2.0), Some("30s"), Jitter::Full)
        };
        assert_eq!(p, Ok(want.clone()));
        assert_eq!(want.validate(), Ok(()));
        // Round trip through serialisation.
        let text = toml::to_string(&Scenario {
            retry: want.clone(),
        })
        .unwrap_or_default();
        assert_eq!(parse(&text), Ok(want));

        let p = parse(r#"retry = { backoff = "list", delays = ["1s", "5s", "30s"] }"#);
        assert_eq!(p, Ok(list(&["1s", "5s", "30s"], Jitter::None)));
        let p = parse(r#"retry = { backoff = "sidekiq", max_attempts = 26 }"#);
        assert_eq!(p.map(|p| p.backoff), Ok(BackoffKind::Sidekiq));
        let p = parse(r#"retry = { max_attempts = 3 }"#);
        assert_eq!(
            p.map(|p| (p.backoff, p.jitter)),
            Ok((BackoffKind::None, Jitter::None))
        );
        let p =
            parse(r#"retry = { backoff = "linear", base = "1s", step = "1s", jitter = "random" }"#);
        assert_eq!(p.map(|p| p.jitter), Ok(Jitter::Random));
        // Unknown keys and names are errors.
        assert!(parse(r#"retry = { backoff = "exponential", bsae = "1s" }"#).is_err());
        assert!(parse(r#"retry = { backoff = "exponentail" }"#).is_err());
        assert!(parse(r#"retry = { jitter = "decorelated" }"#).is_err());
        // A NaN multiplier parses and is then rejected by validate.
        let p = parse(r#"retry = { backoff = "exponential", base = "1s", multiplier = nan }"#);
        assert_eq!(p.map(|p| err_key(&p)), Ok("multiplier".to_string()));
    }

    /// Random configurations: every one that validates gives delays within
    /// [0, cap] and [0, MAX_DURATION_NS] without panicking, for any retry.
    #[test]
    fn no_panics_on_valid_configurations() {
        let mut g = stream(1, Domain::Component, 0, 0);
        let mut pick = |k: u64| g.next_u64() % k;
        let durations = [0, 1, MS, S, 3600 * S, MAX_DURATION_NS];
        let kinds = [
            BackoffKind::None,
            BackoffKind::Fixed,
            BackoffKind::Linear,
            BackoffKind::Exponential,
            BackoffKind::List,
            BackoffKind::Sidekiq,
            BackoffKind::Sidekiq7,
            BackoffKind::Sidekiq5,
        ];
        let jitters = [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
            Jitter::Random,
        ];
        let mults = [1.0, 1.5, 2.0, 10.0, 1e300, f64::MAX];
        let mut valid = 0;
        let mut r = rng();
        for _ in 0..100_000 {
            let dur = |p: &mut dyn FnMut(u64) -> u64| {
                if p(3) == 0 {
                    None
                } else {
                    Some(Duration(durations[p(durations.len() as u64) as usize]))
                }
            };
            let p = RetryPolicy {
                backoff: kinds[pick(kinds.len() as u64) as usize],
                base: dur(&mut pick),
                delay: dur(&mut pick),
                step: dur(&mut pick),
                multiplier: if pick(2) == 0 {
                    None
                } else {
                    Some(mults[pick(6) as usize])
                },
                cap: dur(&mut pick),
                delays: if pick(2) == 0 {
                    None
                } else {
                    Some(
                        (0..pick(3))
                            .map(|_| Duration(durations[pick(6) as usize]))
                            .collect(),
                    )
                },
                jitter: jitters[pick(5) as usize],
                max_attempts: None,
                max_elapsed: None,
            };
            if p.validate().is_err() {
                continue;
            }
            valid += 1;
            let cap = p.cap.map_or(MAX_DURATION_NS, |c| c.0);
            let mut prev = 0;
            for retry in [0, 1, 2, 3, 40, 1_000, u32::MAX - 1, u32::MAX] {
                let x = p.delay_ns(retry, prev, &mut r);
                assert!(x <= MAX_DURATION_NS && x <= cap, "{p:?} retry {retry}: {x}");
                if let Some(m) = p.mean_delay_ns(retry) {
                    assert!(m.is_finite() && m >= 0.0 && m <= MAX_DURATION_NS as f64);
                }
                prev = x;
            }
            let _ = p.delay_ns(3, u64::MAX, &mut r);
        }
        assert!(valid > 500, "only {valid} valid configurations drawn");
    }
}
