//! The backoff curves against their formulas, jitter within its bounds,
//! the limits, and validation naming the key.

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
fn check_stats(mut draw: impl FnMut(&mut Stream) -> Nanos, lo: u64, hi: u64, mean: f64, sd: f64) {
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
    let p = parse(r#"retry = { backoff = "linear", base = "1s", step = "1s", jitter = "random" }"#);
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
