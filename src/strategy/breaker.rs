//! A circuit breaker with resilience4j's semantics.
//!
//! ```toml
//! breaker = { failure_rate_threshold = 0.5, minimum_calls = 100, window = 100, open_wait = "60s", half_open_calls = 10 }
//! ```
//!
//! Every key is optional; the defaults are resilience4j's
//! (retries-and-metastability.md): failure-rate threshold 50 %, a
//! count-based sliding window of 100 calls, at least 100 calls before
//! judging, 60 s in OPEN, 10 permitted calls in HALF_OPEN. resilience4j
//! writes the threshold as a percentage (50); here it is a fraction (0.5).
//!
//! # States (resilience4j `CircuitBreakerStateMachine`)
//!
//! - **Closed**: every call is permitted. Each outcome goes into the sliding
//!   window; once the window holds at least `minimum_calls` outcomes, a
//!   failure rate `failures / calls >= failure_rate_threshold` opens the
//!   breaker. For a count-based window resilience4j lowers `minimum_calls`
//!   to `window` when it is larger (`CircuitBreakerMetrics`), and so do we.
//! - **Open**: calls are rejected ([`CircuitBreaker::rejected`] counts them)
//!   until `open_wait` has passed. There is no timer: as in resilience4j
//!   (without `automaticTransitionFromOpenToHalfOpenEnabled`), the first
//!   call *after* the wait (`now > opened + open_wait`, resilience4j's
//!   `isAfter`) moves the breaker to half-open and is itself the first
//!   trial. Time spent open therefore runs until that call.
//! - **HalfOpen**: `half_open_calls` calls are permitted, the rest rejected.
//!   Their outcomes go into a fresh count window of `half_open_calls`
//!   slots, judged once it holds `min(minimum_calls, half_open_calls)`
//!   outcomes (resilience4j's `forHalfOpen` metrics): a failure rate at or
//!   above the threshold opens again (a new wait), below it closes (with an
//!   empty window).
//!
//! Outcomes reported while Open are ignored (resilience4j records them in
//! the open state's metrics, which decide nothing). Outcomes of calls
//! permitted earlier that arrive in HalfOpen count there, as in
//! resilience4j, which does not tell calls apart.
//!
//! # Windows
//!
//! `window_kind = "count"` (default): the last `window` outcomes, a ring
//! allocated once (resilience4j `FixedSizeSlidingWindowMetrics`).
//! `window_kind = "time"` with `window_duration` (whole seconds): outcomes
//! of the last `window_duration` seconds of simulated time, in one bucket
//! per second, allocated once (resilience4j `SlidingTimeWindowMetrics`);
//! `window` is not used then, and `minimum_calls` is not lowered.
//! Nothing is allocated per call.
//!
//! Not modelled: resilience4j's slow-call rate (its default threshold,
//! 100 % of calls slower than 60 s, rarely fires), ignored exceptions,
//! `maxWaitDurationInHalfOpenState`, forced and disabled states.

use crate::time::{Duration, Nanos, MAX_DURATION_NS, NS_PER_S};
use serde::{Deserialize, Serialize};

/// The largest `window` and `half_open_calls`: the rings are allocated up
/// front, so the size is bounded.
pub const MAX_WINDOW_CALLS: u32 = 1_000_000;
/// The longest time-based window: one bucket per second, a day of them.
pub const MAX_WINDOW_SECS: u64 = 86_400;

fn default_threshold() -> f64 {
    0.5
}
fn default_minimum_calls() -> u32 {
    100
}
fn default_window() -> u32 {
    100
}
fn default_open_wait() -> Duration {
    Duration::from_secs(60)
}
fn default_half_open_calls() -> u32 {
    10
}

/// How the closed state's sliding window is measured.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum WindowKind {
    /// The last `window` calls.
    #[default]
    Count,
    /// The calls of the last `window_duration`.
    Time,
}

/// A breaker as written in a scenario (`breaker = { .. }`); every key is
/// optional, defaulting to resilience4j's value.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Failure fraction that opens the breaker, in (0, 1] (default 0.5).
    #[serde(default = "default_threshold")]
    pub failure_rate_threshold: f64,
    /// Outcomes needed in the window before it is judged (default 100).
    #[serde(default = "default_minimum_calls")]
    pub minimum_calls: u32,
    /// Size of the count-based window, in calls (default 100).
    #[serde(default = "default_window")]
    pub window: u32,
    /// Time in Open before a trial call is let through (default 60 s).
    #[serde(default = "default_open_wait")]
    pub open_wait: Duration,
    /// Calls permitted in HalfOpen (default 10).
    #[serde(default = "default_half_open_calls")]
    pub half_open_calls: u32,
    /// `count` (default) or `time`.
    #[serde(default)]
    pub window_kind: WindowKind,
    /// The time-based window's length, whole seconds; only with
    /// `window_kind = "time"`, where it is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_duration: Option<Duration>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_rate_threshold: default_threshold(),
            minimum_calls: default_minimum_calls(),
            window: default_window(),
            open_wait: default_open_wait(),
            half_open_calls: default_half_open_calls(),
            window_kind: WindowKind::Count,
            window_duration: None,
        }
    }
}

impl BreakerConfig {
    /// Checks the configuration; on error returns the key within the
    /// `breaker` table and what is wrong and allowed.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |key: &str, msg: String| Err((key.to_string(), msg));
        let t = self.failure_rate_threshold;
        if !(t.is_finite() && t > 0.0 && t <= 1.0) {
            return err(
                "failure_rate_threshold",
                format!("{t} is not allowed: must be a fraction in (0, 1], e.g. 0.5 for 50 %"),
            );
        }
        if self.minimum_calls == 0 {
            return err("minimum_calls", "must be at least 1".into());
        }
        if self.window == 0 || self.window > MAX_WINDOW_CALLS {
            return err(
                "window",
                format!(
                    "{} is not allowed: must be from 1 to {MAX_WINDOW_CALLS} calls",
                    self.window
                ),
            );
        }
        if self.open_wait.0 == 0 || self.open_wait.0 > MAX_DURATION_NS {
            return err(
                "open_wait",
                "must be greater than 0 and at most 100 years".into(),
            );
        }
        if self.half_open_calls == 0 || self.half_open_calls > MAX_WINDOW_CALLS {
            return err(
                "half_open_calls",
                format!(
                    "{} is not allowed: must be from 1 to {MAX_WINDOW_CALLS}",
                    self.half_open_calls
                ),
            );
        }
        match (self.window_kind, self.window_duration) {
            (WindowKind::Count, Some(_)) => {
                return err(
                    "window_duration",
                    "is only used with window_kind = \"time\"; the count window's size is `window`"
                        .into(),
                )
            }
            (WindowKind::Time, None) => return err(
                "window_duration",
                "window_kind = \"time\" needs `window_duration`, e.g. window_duration = \"60s\""
                    .into(),
            ),
            (WindowKind::Time, Some(d)) => {
                if d.0 == 0 || !d.0.is_multiple_of(NS_PER_S) || d.0 / NS_PER_S > MAX_WINDOW_SECS {
                    return err(
                        "window_duration",
                        format!("{d} is not allowed: must be a whole number of seconds from 1s to {MAX_WINDOW_SECS}s (one bucket per second, as in resilience4j)"),
                    );
                }
            }
            (WindowKind::Count, None) => {}
        }
        Ok(())
    }
}

/// The state of a breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// The last `size` outcomes in a ring (resilience4j
/// `FixedSizeSlidingWindowMetrics`).
#[derive(Clone, Debug)]
struct CountWindow {
    /// `true` = failure. Allocated once, never grown.
    slots: Vec<bool>,
    next: usize,
    len: usize,
    failures: usize,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        CountWindow {
            slots: vec![false; (size as usize).max(1)],
            next: 0,
            len: 0,
            failures: 0,
        }
    }

    fn reset(&mut self) {
        self.next = 0;
        self.len = 0;
        self.failures = 0;
    }

    fn record(&mut self, failure: bool) {
        let size = self.slots.len();
        if self.len == size {
            if self.slots[self.next] {
                self.failures -= 1;
            }
        } else {
            self.len += 1;
        }
        self.slots[self.next] = failure;
        if failure {
            self.failures += 1;
        }
        self.next = (self.next + 1) % size;
    }

    fn counts(&self) -> (u64, u64) {
        (self.len as u64, self.failures as u64)
    }
}

/// Outcomes of the last `buckets.len()` whole seconds (resilience4j
/// `SlidingTimeWindowMetrics`): bucket `s % len` holds second `s`.
#[derive(Clone, Debug)]
struct TimeWindow {
    /// (calls, failures) per second. Allocated once.
    buckets: Vec<(u64, u64)>,
    /// The latest second recorded; `None` when empty.
    head: Option<u64>,
    calls: u64,
    failures: u64,
}

impl TimeWindow {
    fn new(secs: u64) -> Self {
        TimeWindow {
            buckets: vec![(0, 0); secs.clamp(1, MAX_WINDOW_SECS) as usize],
            head: None,
            calls: 0,
            failures: 0,
        }
    }

    fn reset(&mut self) {
        self.buckets.iter_mut().for_each(|b| *b = (0, 0));
        self.head = None;
        self.calls = 0;
        self.failures = 0;
    }

    /// Moves the window so that it ends at second `sec`, dropping the
    /// seconds that fall out (at most one pass over the buckets).
    fn advance(&mut self, sec: u64) {
        let len = self.buckets.len() as u64;
        let Some(head) = self.head else {
            self.head = Some(sec);
            return;
        };
        if sec <= head {
            return; // same second (or a clock that went back): keep adding
        }
        for s in head + 1..=head.saturating_add((sec - head).min(len)) {
            let b = &mut self.buckets[(s % len) as usize];
            self.calls -= b.0;
            self.failures -= b.1;
            *b = (0, 0);
        }
        self.head = Some(sec);
    }

    fn record(&mut self, now: Nanos, failure: bool) {
        self.advance(now / NS_PER_S);
        let len = self.buckets.len() as u64;
        let head = self.head.unwrap_or(0);
        let b = &mut self.buckets[(head % len) as usize];
        b.0 += 1;
        self.calls += 1;
        if failure {
            b.1 += 1;
            self.failures += 1;
        }
    }

    fn counts(&self) -> (u64, u64) {
        (self.calls, self.failures)
    }
}

#[derive(Clone, Debug)]
enum ClosedWindow {
    Count(CountWindow),
    Time(TimeWindow),
}

impl ClosedWindow {
    fn reset(&mut self) {
        match self {
            ClosedWindow::Count(w) => w.reset(),
            ClosedWindow::Time(w) => w.reset(),
        }
    }
}

/// A running circuit breaker (see the module documentation).
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    threshold: f64,
    /// Outcomes needed before the closed window is judged.
    closed_minimum: u64,
    /// Outcomes needed before the half-open window is judged.
    half_open_minimum: u64,
    open_wait_ns: Nanos,
    half_open_calls: u32,

    state: BreakerState,
    closed: ClosedWindow,
    half_open: CountWindow,
    /// Half-open calls still to permit.
    permits: u32,
    /// When the breaker last opened.
    opened_at: Nanos,
    /// Time spent open in finished open periods.
    open_total: Nanos,
    rejected: u64,
    transitions: u64,
}

impl CircuitBreaker {
    /// A closed breaker with empty windows. Sizes are clamped into the
    /// validated ranges, so even an unvalidated configuration cannot make
    /// it panic or allocate without bound.
    pub fn new(cfg: &BreakerConfig) -> Self {
        let window = cfg.window.clamp(1, MAX_WINDOW_CALLS);
        let half_open_calls = cfg.half_open_calls.clamp(1, MAX_WINDOW_CALLS);
        let minimum = u64::from(cfg.minimum_calls.max(1));
        let (closed, closed_minimum) = match cfg.window_kind {
            WindowKind::Count => (
                ClosedWindow::Count(CountWindow::new(window)),
                minimum.min(u64::from(window)),
            ),
            WindowKind::Time => {
                let secs = cfg.window_duration.map_or(1, |d| d.0 / NS_PER_S);
                (ClosedWindow::Time(TimeWindow::new(secs)), minimum)
            }
        };
        CircuitBreaker {
            threshold: cfg.failure_rate_threshold,
            closed_minimum,
            half_open_minimum: minimum.min(u64::from(half_open_calls)),
            open_wait_ns: cfg.open_wait.0,
            half_open_calls,
            state: BreakerState::Closed,
            closed,
            half_open: CountWindow::new(half_open_calls),
            permits: 0,
            opened_at: 0,
            open_total: 0,
            rejected: 0,
            transitions: 0,
        }
    }

    /// Asks to make a call now. Closed: yes. Open: no, until `open_wait`
    /// has passed; then the breaker goes half-open and this call is its
    /// first trial. HalfOpen: yes for the first `half_open_calls` calls.
    /// Every refusal counts in [`rejected`](Self::rejected).
    pub fn try_acquire(&mut self, now: Nanos) -> bool {
        if self.state == BreakerState::Open {
            if now > self.opened_at.saturating_add(self.open_wait_ns) {
                self.open_total = self
                    .open_total
                    .saturating_add(now.saturating_sub(self.opened_at));
                self.state = BreakerState::HalfOpen;
                self.half_open.reset();
                self.permits = self.half_open_calls;
                self.transitions += 1;
            } else {
                self.rejected += 1;
                return false;
            }
        }
        match self.state {
            BreakerState::Closed => true,
            BreakerState::HalfOpen if self.permits > 0 => {
                self.permits -= 1;
                true
            }
            _ => {
                self.rejected += 1;
                false
            }
        }
    }

    /// Reports the outcome of a permitted call, finishing now.
    pub fn on_result(&mut self, now: Nanos, success: bool) {
        let failure = !success;
        match self.state {
            BreakerState::Closed => {
                let (calls, failures) = match &mut self.closed {
                    ClosedWindow::Count(w) => {
                        w.record(failure);
                        w.counts()
                    }
                    ClosedWindow::Time(w) => {
                        w.record(now, failure);
                        w.counts()
                    }
                };
                if self.exceeds(calls, failures, self.closed_minimum) == Some(true) {
                    self.open(now);
                }
            }
            BreakerState::HalfOpen => {
                self.half_open.record(failure);
                let (calls, failures) = self.half_open.counts();
                match self.exceeds(calls, failures, self.half_open_minimum) {
                    Some(true) => self.open(now),
                    Some(false) => {
                        self.state = BreakerState::Closed;
                        self.closed.reset();
                        self.transitions += 1;
                    }
                    None => {}
                }
            }
            BreakerState::Open => {}
        }
    }

    /// `None` below the minimum number of calls, else whether the failure
    /// rate is at or above the threshold.
    fn exceeds(&self, calls: u64, failures: u64, minimum: u64) -> Option<bool> {
        if calls == 0 || calls < minimum {
            return None;
        }
        Some(failures as f64 / calls as f64 >= self.threshold)
    }

    fn open(&mut self, now: Nanos) {
        self.state = BreakerState::Open;
        self.opened_at = now;
        self.transitions += 1;
    }

    /// The current state. An Open breaker whose wait has passed still
    /// reports Open until a call is attempted (as resilience4j does).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Calls refused so far (resilience4j's not-permitted calls).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// State changes so far (Closed→Open, Open→HalfOpen, HalfOpen→Closed
    /// or HalfOpen→Open each count one).
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// Total time spent in the Open state up to `now`, including the
    /// current open period.
    pub fn open_time_ns(&self, now: Nanos) -> Nanos {
        let current = if self.state == BreakerState::Open {
            now.saturating_sub(self.opened_at)
        } else {
            0
        };
        self.open_total.saturating_add(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = NS_PER_S;

    fn cfg(threshold: f64, minimum: u32, window: u32, half: u32) -> BreakerConfig {
        let c = BreakerConfig {
            failure_rate_threshold: threshold,
            minimum_calls: minimum,
            window,
            open_wait: Duration::from_secs(60),
            half_open_calls: half,
            ..BreakerConfig::default()
        };
        assert_eq!(c.validate(), Ok(()));
        c
    }

    /// Makes one call at `now` with the given outcome; returns whether it
    /// was permitted.
    fn call(b: &mut CircuitBreaker, now: Nanos, success: bool) -> bool {
        let ok = b.try_acquire(now);
        if ok {
            b.on_result(now, success);
        }
        ok
    }

    #[test]
    fn not_judged_before_minimum_calls() {
        let mut b = CircuitBreaker::new(&cfg(0.5, 10, 20, 3));
        for t in 0..9 {
            assert!(call(&mut b, t, false));
        }
        // 9 failures out of 9: 100 %, but under the minimum of 10.
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(call(&mut b, 9, false));
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.transitions(), 1);
    }

    #[test]
    fn opens_at_the_threshold_not_below() {
        // 6 successes then 4 failures: 40 % < 50 %.
        let mut b = CircuitBreaker::new(&cfg(0.5, 10, 10, 3));
        for t in 0..10 {
            call(&mut b, t, t < 6);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        // The window slides: the oldest outcome (a success) drops out as a
        // success comes in, so still 4 in 10.
        call(&mut b, 10, true);
        assert_eq!(b.state(), BreakerState::Closed);
        // One more failure: 5 in 10 = exactly 50 %, which opens (>=).
        call(&mut b, 11, false);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn minimum_above_window_is_lowered_to_window() {
        // resilience4j: minimum_calls = min(minimum_calls, window).
        let mut b = CircuitBreaker::new(&cfg(0.5, 100, 5, 3));
        for t in 0..5 {
            call(&mut b, t, false);
        }
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn rejects_while_open_then_goes_half_open() {
        let mut b = CircuitBreaker::new(&cfg(0.5, 4, 4, 3));
        for _ in 0..4 {
            call(&mut b, 0, false);
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.try_acquire(S));
        assert!(!b.try_acquire(60 * S)); // exactly the wait: not yet
        assert_eq!(b.rejected(), 2);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.open_time_ns(30 * S), 30 * S);
        // Just after the wait the call is let through as a trial.
        assert!(b.try_acquire(60 * S + 1));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.transitions(), 2);
        assert_eq!(b.open_time_ns(100 * S), 60 * S + 1);
    }

    #[test]
    fn half_open_trial_closes_on_successes() {
        let mut b = CircuitBreaker::new(&cfg(0.5, 4, 4, 3));
        for _ in 0..4 {
            call(&mut b, 0, false);
        }
        let t = 61 * S;
        // Three permits, the fourth call is rejected.
        assert!(b.try_acquire(t));
        assert!(b.try_acquire(t));
        assert!(b.try_acquire(t));
        assert!(!b.try_acquire(t));
        assert_eq!(b.rejected(), 1);
        b.on_result(t, true);
        b.on_result(t, false);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // 1 failure in 3 < 50 %: closed, with an empty window.
        b.on_result(t, true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.transitions(), 3);
        for k in 0..3 {
            call(&mut b, t + k, false);
        }
        assert_eq!(b.state(), BreakerState::Closed, "old outcomes were kept");
        assert_eq!(b.open_time_ns(t + 100 * S), 61 * S);
    }

    #[test]
    fn half_open_trial_reopens_on_failures() {
        let mut b = CircuitBreaker::new(&cfg(0.5, 4, 4, 4));
        for _ in 0..4 {
            call(&mut b, 0, false);
        }
        let t = 61 * S;
        for ok in [true, true, false, false] {
            assert!(call(&mut b, t, ok));
        }
        // 2 of 4 = 50 %: open again, with a new wait from t.
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.transitions(), 3);
        assert!(!b.try_acquire(t + 60 * S));
        assert!(b.try_acquire(t + 60 * S + 1));
        assert_eq!(b.open_time_ns(t + 60 * S + 1), 61 * S + 60 * S + 1);
    }

    #[test]
    fn half_open_judges_after_min_of_minimum_and_permits() {
        // minimum 2 < 10 permits: judged after 2 outcomes, as resilience4j's
        // half-open metrics do.
        let mut b = CircuitBreaker::new(&cfg(0.5, 2, 2, 10));
        call(&mut b, 0, false);
        call(&mut b, 0, false);
        assert_eq!(b.state(), BreakerState::Open);
        call(&mut b, 61 * S, true);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        call(&mut b, 61 * S, true);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn outcomes_while_open_are_ignored() {
        let mut b = CircuitBreaker::new(&cfg(0.5, 2, 2, 2));
        assert!(b.try_acquire(0));
        assert!(b.try_acquire(0));
        assert!(b.try_acquire(0));
        b.on_result(1, false);
        b.on_result(1, false);
        assert_eq!(b.state(), BreakerState::Open);
        b.on_result(2, true); // the third call, late
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.transitions(), 1);
    }

    #[test]
    fn defaults_are_resilience4j() {
        let c = BreakerConfig::default();
        assert_eq!(c.failure_rate_threshold, 0.5);
        assert_eq!(c.minimum_calls, 100);
        assert_eq!(c.window, 100);
        assert_eq!(c.open_wait, Duration::from_secs(60));
        assert_eq!(c.half_open_calls, 10);
        assert_eq!(c.validate(), Ok(()));
        let mut b = CircuitBreaker::new(&c);
        for t in 0..99 {
            call(&mut b, t, false);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        call(&mut b, 99, false);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn time_window_forgets_old_seconds() {
        let c = BreakerConfig {
            minimum_calls: 4,
            window_kind: WindowKind::Time,
            window_duration: Some(Duration::from_secs(10)),
            ..BreakerConfig::default()
        };
        assert_eq!(c.validate(), Ok(()));
        let mut b = CircuitBreaker::new(&c);
        // 3 failures at t = 0..2 s, then 12 s later only successes: the
        // failures have left the window, so 1 failure in 4 later does not open.
        for k in 0..3 {
            call(&mut b, k * S, false);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        for k in 0..3 {
            call(&mut b, 14 * S + k, true);
        }
        call(&mut b, 15 * S, false);
        assert_eq!(b.state(), BreakerState::Closed);
        // Within the window, failures accumulate: two more make 3 of 6.
        for k in 0..3 {
            call(&mut b, 16 * S + k, false);
        }
        assert_eq!(b.state(), BreakerState::Open);
        // A fresh breaker: 3 failures are under the minimum of 4.
        let mut b = CircuitBreaker::new(&c);
        for k in 0..3 {
            call(&mut b, k, false);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        // A jump of many windows clears everything.
        call(&mut b, 1_000_000 * S, true);
        for k in 0..3 {
            call(&mut b, 1_000_000 * S + k, true);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    fn key(c: &BreakerConfig) -> String {
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
        let ok = BreakerConfig::default();
        for bad in [0.0, -0.5, 1.5, 50.0, f64::NAN, f64::INFINITY] {
            let c = BreakerConfig {
                failure_rate_threshold: bad,
                ..ok.clone()
            };
            assert_eq!(key(&c), "failure_rate_threshold", "{bad}");
        }
        let c = BreakerConfig {
            minimum_calls: 0,
            ..ok.clone()
        };
        assert_eq!(key(&c), "minimum_calls");
        for w in [0, MAX_WINDOW_CALLS + 1] {
            let c = BreakerConfig {
                window: w,
                ..ok.clone()
            };
            assert_eq!(key(&c), "window");
            let c = BreakerConfig {
                half_open_calls: w,
                ..ok.clone()
            };
            assert_eq!(key(&c), "half_open_calls");
        }
        let c = BreakerConfig {
            open_wait: Duration::ZERO,
            ..ok.clone()
        };
        assert_eq!(key(&c), "open_wait");
        let c = BreakerConfig {
            window_duration: Some(Duration::from_secs(5)),
            ..ok.clone()
        };
        assert_eq!(key(&c), "window_duration");
        let time = |d: Option<Duration>| BreakerConfig {
            window_kind: WindowKind::Time,
            window_duration: d,
            ..ok.clone()
        };
        assert_eq!(key(&time(None)), "window_duration");
        assert_eq!(
            key(&time(Some(Duration::from_millis(1500)))),
            "window_duration"
        );
        assert_eq!(key(&time(Some(Duration::ZERO))), "window_duration");
        assert_eq!(
            key(&time(Some(Duration::from_secs(86_401)))),
            "window_duration"
        );
        assert_eq!(key(&time(Some(Duration::from_secs(60)))), "ok");
    }

    #[derive(Debug, Deserialize)]
    struct Scenario {
        breaker: BreakerConfig,
    }

    fn parse(text: &str) -> Result<BreakerConfig, String> {
        toml::from_str::<Scenario>(text)
            .map(|s| s.breaker)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_the_scenario_syntax() {
        let c = parse(
            r#"breaker = { failure_rate_threshold = 0.5, minimum_calls = 100, window = 100, open_wait = "60s", half_open_calls = 10 }"#,
        );
        assert_eq!(c, Ok(BreakerConfig::default()));
        assert_eq!(parse("breaker = {}"), Ok(BreakerConfig::default()));
        let c = parse(
            r#"breaker = { window_kind = "time", window_duration = "30s", minimum_calls = 20 }"#,
        );
        assert_eq!(
            c,
            Ok(BreakerConfig {
                minimum_calls: 20,
                window_kind: WindowKind::Time,
                window_duration: Some(Duration::from_secs(30)),
                ..BreakerConfig::default()
            })
        );
        assert!(parse(r#"breaker = { threshold = 0.5 }"#).is_err());
        assert!(parse(r#"breaker = { window_kind = "sliding" }"#).is_err());
        // Round trip.
        let text = toml::to_string(&BreakerConfig::default()).unwrap_or_default();
        assert_eq!(
            toml::from_str::<BreakerConfig>(&text).map_err(|e| e.to_string()),
            Ok(BreakerConfig::default())
        );
    }

    #[test]
    fn unvalidated_configurations_do_not_panic() {
        let c = BreakerConfig {
            failure_rate_threshold: f64::NAN,
            minimum_calls: 0,
            window: 0,
            open_wait: Duration(u64::MAX),
            half_open_calls: 0,
            window_kind: WindowKind::Time,
            window_duration: Some(Duration::ZERO),
        };
        let mut b = CircuitBreaker::new(&c);
        for t in [0, 1, u64::MAX, 5, u64::MAX] {
            if b.try_acquire(t) {
                b.on_result(t, false);
            }
            let _ = b.open_time_ns(t);
        }
    }
}
