//! Retry budgets: a limit on retries shared by all the calls of one client,
//! so that retries cannot multiply load when a dependency fails (the
//! sustaining effect of metastable failures; see
//! retries-and-metastability.md).
//!
//! Two kinds, chosen by `kind` in the scenario:
//!
//! ```toml
//! retry_budget = { kind = "token-bucket", max_tokens = 10, token_ratio = 0.1 }
//! retry_budget = { kind = "percent", percent = 0.2, min_retries_per_sec = 10, ttl = "10s" }
//! ```
//!
//! # `token-bucket`: gRPC retry throttling (gRFC A6)
//!
//! One `token_count`, starting at `max_tokens` and kept in `[0, max_tokens]`.
//! Every failed attempt takes 1 token ([`RetryBudget::on_failure`]), every
//! successful one adds `token_ratio` ([`RetryBudget::on_success`]). A retry
//! is allowed only while `token_count > max_tokens / 2`; the original
//! attempt is always sent, so [`RetryBudget::on_request`] does nothing.
//! [`RetryBudget::try_retry`] withdraws nothing: in A6 the cost of a retry
//! is paid by its failure, if it fails.
//!
//! A6 supports `tokenRatio` to three decimal places and implementations keep
//! tokens as integers scaled by 1000 (grpc-java does); so do we: tokens are
//! whole milli-tokens and `token_ratio` is rounded to 0.001, which makes ten
//! successes at 0.1 worth exactly one failure, with no float drift over a
//! long run. Validation follows the reference: `0 < max_tokens <= 1000`,
//! `token_ratio >= 0.001`.
//!
//! # `percent`: Finagle's `RetryBudget`
//!
//! Ported from Finagle's `RetryBudget.apply(ttl, minRetriesPerSec,
//! percentCanRetry)` over util's `TokenBucket.newLeakyBucket` and
//! `WindowedAdder`, in the same integer units:
//!
//! - every request deposits 1000 units (`ScaleFactor`); a retry costs
//!   `trunc(1000 / percent)` units, so each request pays for `percent`
//!   retries (`percent` may exceed 1: 2.0 allows two retries per request);
//! - deposits *and* withdrawals are added to a windowed sum that forgets
//!   entries after about `ttl`: the ttl is cut into 10 slices (the current
//!   one and 9 past ones), so memory is a fixed 10 counters however many
//!   requests there are;
//! - a constant reserve of `min_retries_per_sec * ttl * cost` units is added
//!   to the sum; since withdrawals expire too, this gives
//!   `min_retries_per_sec` retries per second even with no requests (a
//!   client that has just started, or has little traffic);
//! - a retry is allowed, and withdrawn, when `sum + reserve >= cost`.
//!
//! Over a long stream with more failures than the budget covers, the retries
//! allowed come to about `percent * requests + min_retries_per_sec *
//! seconds`. With `percent = 0` requests deposit nothing and a retry costs 1
//! unit (only the reserve counts), as in Finagle; with both 0 no retry is
//! ever allowed (Finagle's `RetryBudget.Empty`).
//!
//! Like Finagle's `WindowedAdder`, a slice advances when an operation finds
//! that at least `ttl / 10` has passed since the last advance, and the
//! advance time becomes the operation's time (slices are not aligned to a
//! grid). The clock starts at the first call. Finagle takes
//! `ttl.inSeconds` (whole seconds) for the reserve and an integer
//! `minRetriesPerSec`; here both may be fractional and the reserve is
//! rounded once. Validation follows Finagle: `ttl` in `[1 s, 60 s]`,
//! `0 <= percent <= 1000`, `min_retries_per_sec >= 0`.

use crate::time::{Duration, Nanos, NS_PER_S};
use serde::{Deserialize, Serialize};

fn default_min_retries_per_sec() -> f64 {
    10.0
}

fn default_ttl() -> Duration {
    Duration::from_secs(10)
}

/// A retry budget as written in a scenario (`retry_budget = { kind = .. }`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RetryBudgetConfig {
    /// gRPC retry throttling (gRFC A6).
    TokenBucket {
        /// Tokens at the start and at most; `0 < max_tokens <= 1000`.
        max_tokens: f64,
        /// Tokens each success adds; at least 0.001 (3 decimal places).
        token_ratio: f64,
    },
    /// Finagle's `RetryBudget`.
    Percent {
        /// Retries allowed per request (Finagle's `percentCanRetry`): 0.2
        /// allows one retry for every five requests. `0 <= percent <= 1000`.
        percent: f64,
        /// Retries per second always allowed (default 10).
        #[serde(default = "default_min_retries_per_sec")]
        min_retries_per_sec: f64,
        /// How long a deposit counts (default 10 s); 1 s to 60 s.
        #[serde(default = "default_ttl")]
        ttl: Duration,
    },
}

/// Finagle's `ScaleFactor`: a request deposits this many units.
const SCALE: i64 = 1000;
/// gRPC tokens are counted in thousandths.
const MILLI: f64 = 1000.0;
/// One gRPC token, in milli-tokens.
const ONE_TOKEN: i64 = 1000;
/// Finagle's `WindowedAdder(ttl, 10, now)`: 10 slices, 9 of them past.
const PAST_SLICES: usize = 9;

impl RetryBudgetConfig {
    /// Checks the configuration; on error returns the key within the
    /// `retry_budget` table and what is wrong and allowed.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |key: &str, msg: String| Err((key.to_string(), msg));
        match *self {
            RetryBudgetConfig::TokenBucket {
                max_tokens,
                token_ratio,
            } => {
                if !(max_tokens.is_finite() && max_tokens > 0.0 && max_tokens <= 1000.0) {
                    return err(
                        "max_tokens",
                        format!("{max_tokens} is not allowed: must be greater than 0 and at most 1000 (gRFC A6), e.g. 10"),
                    );
                }
                if !(token_ratio.is_finite() && (token_ratio * MILLI).round() >= 1.0) {
                    return err(
                        "token_ratio",
                        format!("{token_ratio} is not allowed: must be a finite number of at least 0.001 (gRFC A6 keeps 3 decimal places), e.g. 0.1"),
                    );
                }
            }
            RetryBudgetConfig::Percent {
                percent,
                min_retries_per_sec,
                ttl,
            } => {
                if !(percent.is_finite() && (0.0..=1000.0).contains(&percent)) {
                    return err(
                        "percent",
                        format!("{percent} is not allowed: must be between 0 and 1000 (retries per request; 0.2 = one retry per five requests)"),
                    );
                }
                if !(min_retries_per_sec.is_finite() && min_retries_per_sec >= 0.0) {
                    return err(
                        "min_retries_per_sec",
                        format!(
                            "{min_retries_per_sec} is not allowed: must be a finite number >= 0"
                        ),
                    );
                }
                if ttl.0 < NS_PER_S || ttl.0 > 60 * NS_PER_S {
                    return err(
                        "ttl",
                        format!("{ttl} is not allowed: must be between 1s and 60s (as in Finagle)"),
                    );
                }
                if min_retries_per_sec * ttl.secs() > 1e9 {
                    return err(
                        "min_retries_per_sec",
                        format!("{min_retries_per_sec} per second over the ttl is more than 10^9 retries: use an unlimited policy instead"),
                    );
                }
            }
        }
        Ok(())
    }

    /// A budget in its initial state: a full bucket, or no deposits and the
    /// whole reserve.
    pub fn build(&self) -> RetryBudget {
        let inner = match *self {
            RetryBudgetConfig::TokenBucket {
                max_tokens,
                token_ratio,
            } => {
                // Float-to-int casts saturate and map NaN to 0: no panic on an
                // unvalidated configuration.
                let max = ((max_tokens * MILLI).round() as i64).max(0);
                Inner::TokenBucket {
                    max,
                    ratio: ((token_ratio * MILLI).round() as i64).max(0),
                    tokens: max,
                }
            }
            RetryBudgetConfig::Percent {
                percent,
                min_retries_per_sec,
                ttl,
            } => {
                let (deposit, cost) = if percent > 0.0 {
                    // Finagle: `(ScaleFactor / percentCanRetry).toInt`.
                    (SCALE, ((SCALE as f64 / percent) as i64).max(1))
                } else {
                    (0, 1)
                };
                let reserve = (min_retries_per_sec * ttl.secs() * cost as f64).round() as i64;
                Inner::Percent {
                    deposit,
                    cost,
                    reserve: reserve.max(0),
                    window: WindowedSum::new(ttl.0 / 10),
                }
            }
        };
        RetryBudget { inner }
    }
}

/// A running retry budget (see the module documentation). Fixed size: no
/// allocation, whatever the traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryBudget {
    inner: Inner,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Inner {
    /// All in milli-tokens.
    TokenBucket { max: i64, ratio: i64, tokens: i64 },
    /// All in Finagle's units (a request deposits 1000).
    Percent {
        deposit: i64,
        cost: i64,
        reserve: i64,
        window: WindowedSum,
    },
}

/// Finagle's `WindowedAdder` in simulated nanoseconds: a sum that forgets
/// what was added more than about 10 slices ago.
#[derive(Clone, Debug, PartialEq, Eq)]
struct WindowedSum {
    /// Width of a slice (`ttl / 10`), at least 1 ns.
    slice_ns: Nanos,
    /// The current slice.
    writer: i64,
    /// Past slices, a ring; `i` is where the current one goes when it ends.
    past: [i64; PAST_SLICES],
    i: usize,
    /// When the current slice began; `None` before the first call.
    old: Option<Nanos>,
}

impl WindowedSum {
    fn new(slice_ns: Nanos) -> Self {
        WindowedSum {
            slice_ns: slice_ns.max(1),
            writer: 0,
            past: [0; PAST_SLICES],
            i: 0,
            old: None,
        }
    }

    /// Ends the current slice if it is at least a slice old, clearing the
    /// past slices skipped since (`WindowedAdder.expired`).
    fn advance(&mut self, now: Nanos) {
        let Some(old) = self.old else {
            self.old = Some(now);
            return;
        };
        let elapsed = now.saturating_sub(old);
        if elapsed < self.slice_ns {
            return;
        }
        self.past[self.i] = self.writer;
        self.writer = 0;
        self.i = (self.i + 1) % PAST_SLICES;
        let skip = (elapsed / self.slice_ns - 1).min(PAST_SLICES as u64) as usize;
        for k in 0..skip {
            self.past[(self.i + k) % PAST_SLICES] = 0;
        }
        self.i = (self.i + skip) % PAST_SLICES;
        self.old = Some(now);
    }

    fn add(&mut self, now: Nanos, x: i64) {
        self.advance(now);
        self.writer = self.writer.saturating_add(x);
    }

    fn sum(&mut self, now: Nanos) -> i64 {
        self.advance(now);
        self.past
            .iter()
            .fold(self.writer, |acc, &x| acc.saturating_add(x))
    }
}

impl RetryBudget {
    /// An original (first) attempt is made. `percent` deposits; the token
    /// bucket ignores it (A6 always sends the original attempt).
    pub fn on_request(&mut self, now: Nanos) {
        if let Inner::Percent {
            deposit, window, ..
        } = &mut self.inner
        {
            window.add(now, *deposit);
        }
    }

    /// An attempt (original or retry) succeeded: the token bucket gains
    /// `token_ratio`, up to `max_tokens`. `percent` ignores outcomes.
    pub fn on_success(&mut self, _now: Nanos) {
        if let Inner::TokenBucket { max, ratio, tokens } = &mut self.inner {
            *tokens = tokens.saturating_add(*ratio).min(*max);
        }
    }

    /// An attempt (original or retry) failed in a way that counts against
    /// the server (A6: a retryable status or pushback): the token bucket
    /// loses 1 token, not below 0. `percent` ignores outcomes.
    pub fn on_failure(&mut self, _now: Nanos) {
        if let Inner::TokenBucket { tokens, .. } = &mut self.inner {
            *tokens = tokens.saturating_sub(ONE_TOKEN).max(0);
        }
    }

    /// Asks to send a retry. `true`: it may go, and for `percent` its cost
    /// is withdrawn; `false`: refused, and nothing changes.
    pub fn try_retry(&mut self, now: Nanos) -> bool {
        match &mut self.inner {
            // token_count > max_tokens / 2, in exact integers.
            Inner::TokenBucket { max, tokens, .. } => tokens.saturating_mul(2) > *max,
            Inner::Percent {
                cost,
                reserve,
                window,
                ..
            } => {
                let ok = window.sum(now).saturating_add(*reserve) >= *cost;
                if ok {
                    window.add(now, -*cost);
                }
                ok
            }
        }
    }

    /// The budget's level now, for reports: the token count for
    /// `token-bucket`; the number of retries that could be made at once
    /// for `percent` (Finagle's `balance`, may be fractional here).
    pub fn balance(&mut self, now: Nanos) -> f64 {
        match &mut self.inner {
            Inner::TokenBucket { tokens, .. } => *tokens as f64 / MILLI,
            Inner::Percent {
                cost,
                reserve,
                window,
                ..
            } => (window.sum(now).saturating_add(*reserve)).max(0) as f64 / *cost as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NS_PER_MS;

    const S: u64 = NS_PER_S;

    fn bucket(max_tokens: f64, token_ratio: f64) -> RetryBudget {
        let c = RetryBudgetConfig::TokenBucket {
            max_tokens,
            token_ratio,
        };
        assert_eq!(c.validate(), Ok(()));
        c.build()
    }

    fn percent(p: f64, min: f64, ttl_s: u64) -> RetryBudget {
        let c = RetryBudgetConfig::Percent {
            percent: p,
            min_retries_per_sec: min,
            ttl: Duration::from_secs(ttl_s),
        };
        assert_eq!(c.validate(), Ok(()));
        c.build()
    }

    #[test]
    fn grpc_example_five_failures_stop_retries() {
        let mut b = bucket(10.0, 0.1);
        assert!(b.try_retry(0));
        for k in 1..=4 {
            b.on_failure(k);
            assert!(b.try_retry(k), "after {k} failures");
        }
        b.on_failure(5);
        // 5 tokens <= 10 / 2: throttled; asking does not change that.
        assert!(!b.try_retry(5));
        assert!(!b.try_retry(6));
        assert_eq!(b.balance(6), 5.0);
        // One success: 5.1 > 5.
        b.on_success(7);
        assert!(b.try_retry(7));
        assert_eq!(b.balance(7), 5.1);
    }

    #[test]
    fn grpc_tokens_stay_in_range_and_successes_restore() {
        let mut b = bucket(10.0, 0.1);
        for t in 0..100 {
            b.on_failure(t);
        }
        assert_eq!(b.balance(0), 0.0);
        // From 0 it takes 51 successes to pass 5 tokens: exact, no drift.
        for t in 0..50 {
            b.on_success(t);
        }
        assert_eq!(b.balance(0), 5.0);
        assert!(!b.try_retry(0));
        b.on_success(0);
        assert!(b.try_retry(0));
        for t in 0..1_000 {
            b.on_success(t);
        }
        assert_eq!(b.balance(0), 10.0);
        // on_request does nothing to a token bucket.
        b.on_request(0);
        assert_eq!(b.balance(0), 10.0);
    }

    /// Each request fails; a retry is asked for `demand` of them.
    /// Returns (requests, retries allowed).
    fn steady(b: &mut RetryBudget, rate_per_s: u64, secs: u64, demand_every: u64) -> (u64, u64) {
        let gap = S / rate_per_s;
        let (mut requests, mut allowed) = (0, 0);
        for k in 0..rate_per_s * secs {
            let now = k * gap;
            b.on_request(now);
            requests += 1;
            if k % demand_every == demand_every - 1 && b.try_retry(now + 1) {
                allowed += 1;
            }
        }
        (requests, allowed)
    }

    #[test]
    fn percent_allows_percent_of_requests_plus_reserve() {
        // Finagle's defaults: 20 % of requests plus 10 retries per second.
        let mut b = percent(0.2, 10.0, 10);
        let (requests, allowed) = steady(&mut b, 100, 1_000, 1);
        let want = 0.2 * requests as f64 + 10.0 * 1_000.0;
        let got = allowed as f64;
        assert!((got - want).abs() < 0.02 * want, "{got} vs {want}");
        // Without the reserve: about 20 %.
        let mut b = percent(0.2, 0.0, 10);
        let (requests, allowed) = steady(&mut b, 100, 1_000, 1);
        let want = 0.2 * requests as f64;
        assert!(
            ((allowed as f64) - want).abs() < 0.02 * want,
            "{allowed} vs {want}"
        );
        // Demand under the budget is all allowed.
        let mut b = percent(0.2, 0.0, 10);
        let (requests, allowed) = steady(&mut b, 100, 100, 10);
        assert_eq!(allowed, requests / 10);
    }

    #[test]
    fn percent_reserve_is_there_at_start_and_comes_back() {
        let mut b = percent(0.2, 10.0, 10);
        // 10 per second over 10 s, with no requests at all.
        let mut n = 0;
        while b.try_retry(0) {
            n += 1;
            assert!(n <= 1_000, "the reserve does not end");
        }
        assert_eq!(n, 100);
        assert!(!b.try_retry(5 * S));
        // The withdrawals expire after about ttl.
        let mut n = 0;
        while b.try_retry(11 * S) {
            n += 1;
            assert!(n <= 1_000);
        }
        assert_eq!(n, 100);
    }

    #[test]
    fn percent_deposits_expire_after_ttl() {
        let mut b = percent(0.5, 0.0, 10);
        for _ in 0..100 {
            b.on_request(0);
        }
        assert_eq!(b.balance(0), 50.0);
        // Still there within the ttl ...
        assert_eq!(b.balance(9 * S + 500 * NS_PER_MS), 50.0);
        // ... gone after it. (As in Finagle, a slice ends when an operation
        // finds it at least ttl/10 old, so expiry is exact only to a slice.)
        assert_eq!(b.balance(11 * S), 0.0);
        assert!(!b.try_retry(11 * S));
        // Cost is withdrawn only when allowed.
        b.on_request(20 * S);
        b.on_request(20 * S);
        assert!(b.try_retry(20 * S));
        assert!(!b.try_retry(20 * S));
        assert_eq!(b.balance(20 * S), 0.0);
    }

    #[test]
    fn percent_above_one_and_zero() {
        // 2.0: every request pays for two retries.
        let mut b = percent(2.0, 0.0, 10);
        b.on_request(0);
        assert!(b.try_retry(0));
        assert!(b.try_retry(0));
        assert!(!b.try_retry(0));
        // percent 0 with a reserve: only the reserve.
        let mut b = percent(0.0, 1.0, 10);
        for _ in 0..1000 {
            b.on_request(0);
        }
        let mut n = 0;
        while b.try_retry(0) && n < 100 {
            n += 1;
        }
        assert_eq!(n, 10);
        // Both 0: never.
        let mut b = percent(0.0, 0.0, 10);
        b.on_request(0);
        assert!(!b.try_retry(0));
    }

    #[test]
    fn memory_is_bounded() {
        // A fixed-size value: no per-request storage.
        assert!(std::mem::size_of::<RetryBudget>() <= 160);
        let mut b = percent(0.2, 10.0, 10);
        let before = b.clone();
        for k in 0..1_000_000u64 {
            b.on_request(k * 1_000);
        }
        assert_eq!(std::mem::size_of_val(&b), std::mem::size_of_val(&before));
    }

    fn key(c: &RetryBudgetConfig) -> String {
        match c.validate() {
            Ok(()) => "ok".into(),
            Err((k, msg)) => {
                assert!(!msg.is_empty());
                k
            }
        }
    }

    #[test]
    fn validate_names_the_bad_key() {
        let tb = |max_tokens, token_ratio| RetryBudgetConfig::TokenBucket {
            max_tokens,
            token_ratio,
        };
        assert_eq!(key(&tb(10.0, 0.1)), "ok");
        for bad in [0.0, -1.0, 1000.5, f64::NAN, f64::INFINITY] {
            assert_eq!(key(&tb(bad, 0.1)), "max_tokens", "{bad}");
        }
        for bad in [0.0, 0.0004, -0.1, f64::NAN, f64::INFINITY] {
            assert_eq!(key(&tb(10.0, bad)), "token_ratio", "{bad}");
        }
        let pc = |percent, min_retries_per_sec, ttl| RetryBudgetConfig::Percent {
            percent,
            min_retries_per_sec,
            ttl,
        };
        let ten = Duration::from_secs(10);
        assert_eq!(key(&pc(0.2, 10.0, ten)), "ok");
        assert_eq!(key(&pc(0.0, 0.0, ten)), "ok");
        for bad in [-0.1, 1000.1, f64::NAN, f64::INFINITY] {
            assert_eq!(key(&pc(bad, 10.0, ten)), "percent", "{bad}");
        }
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e12] {
            assert_eq!(key(&pc(0.2, bad, ten)), "min_retries_per_sec", "{bad}");
        }
        for bad in [
            Duration::ZERO,
            Duration::from_millis(999),
            Duration::from_secs(61),
        ] {
            assert_eq!(key(&pc(0.2, 10.0, bad)), "ttl");
        }
    }

    #[derive(Debug, Deserialize)]
    struct Scenario {
        retry_budget: RetryBudgetConfig,
    }

    fn parse(text: &str) -> Result<RetryBudgetConfig, String> {
        toml::from_str::<Scenario>(text)
            .map(|s| s.retry_budget)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_the_scenario_syntax() {
        assert_eq!(
            parse(
                r#"retry_budget = { kind = "token-bucket", max_tokens = 10, token_ratio = 0.1 }"#
            ),
            Ok(RetryBudgetConfig::TokenBucket {
                max_tokens: 10.0,
                token_ratio: 0.1
            })
        );
        let want = RetryBudgetConfig::Percent {
            percent: 0.2,
            min_retries_per_sec: 10.0,
            ttl: Duration::from_secs(10),
        };
        assert_eq!(
            parse(
                r#"retry_budget = { kind = "percent", percent = 0.2, min_retries_per_sec = 10, ttl = "10s" }"#
            ),
            Ok(want.clone())
        );
        // Defaults: Finagle's 10 per second and 10 s.
        assert_eq!(
            parse(r#"retry_budget = { kind = "percent", percent = 0.2 }"#),
            Ok(want.clone())
        );
        // Round trip.
        let text = toml::to_string(&want).unwrap_or_default();
        assert_eq!(
            toml::from_str::<RetryBudgetConfig>(&text).map_err(|e| e.to_string()),
            Ok(want)
        );
        assert!(parse(r#"retry_budget = { kind = "percent", percent = 0.2, ttl_s = 5 }"#).is_err());
        assert!(parse(r#"retry_budget = { kind = "tokens", max_tokens = 10 }"#).is_err());
        assert!(parse(r#"retry_budget = { kind = "token-bucket", max_tokens = 10 }"#).is_err());
    }

    #[test]
    fn unvalidated_configurations_do_not_panic() {
        for c in [
            RetryBudgetConfig::TokenBucket {
                max_tokens: f64::NAN,
                token_ratio: f64::INFINITY,
            },
            RetryBudgetConfig::Percent {
                percent: 1e-300,
                min_retries_per_sec: f64::INFINITY,
                ttl: Duration::ZERO,
            },
            RetryBudgetConfig::Percent {
                percent: -1.0,
                min_retries_per_sec: f64::NAN,
                ttl: Duration(u64::MAX),
            },
        ] {
            let mut b = c.build();
            for t in [0, 1, u64::MAX / 2, u64::MAX, 3] {
                b.on_request(t);
                b.on_success(t);
                b.on_failure(t);
                let _ = b.try_retry(t);
                let _ = b.balance(t);
            }
        }
    }
}
