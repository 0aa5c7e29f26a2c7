//! Simulated time.
//!
//! Time is an integer count of nanoseconds (`Nanos`). Nothing in the event
//! loop is ordered by a float: floats appear only when a duration is drawn
//! from a distribution, and are rounded to whole nanoseconds at once.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A point in simulated time, or a span of it, in nanoseconds.
pub type Nanos = u64;

pub const NS_PER_US: u64 = 1_000;
pub const NS_PER_MS: u64 = 1_000_000;
pub const NS_PER_S: u64 = 1_000_000_000;
pub const NS_PER_MIN: u64 = 60 * NS_PER_S;
pub const NS_PER_H: u64 = 60 * NS_PER_MIN;
pub const NS_PER_D: u64 = 24 * NS_PER_H;

/// The longest duration a scenario may give: 100 years. `u64` nanoseconds
/// reach 584 years; keeping every configured span under 100 years leaves
/// room to add a few of them without overflow.
pub const MAX_DURATION_NS: u64 = 100 * 365 * NS_PER_D;

/// Converts seconds to nanoseconds, rounding to the nearest nanosecond and
/// saturating at [`MAX_DURATION_NS`]; negative and NaN become 0.
#[inline]
pub fn secs_to_ns(secs: f64) -> Nanos {
    if secs.is_nan() || secs <= 0.0 {
        return 0;
    }
    let ns = secs * NS_PER_S as f64;
    if ns >= MAX_DURATION_NS as f64 {
        MAX_DURATION_NS
    } else {
        round_positive(ns)
    }
}

/// `x.round() as u64` for `0 < x < 2^63`, without the libm call that
/// `f64::round` is on baseline x86-64. Exact: the truncation `t` is an
/// integer below 2^63, `x - t` is computed without rounding error, and
/// `round` rounds halves away from zero, i.e. up for positive `x`.
#[inline]
fn round_positive(x: f64) -> Nanos {
    debug_assert!(x > 0.0 && x < 9.2e18);
    // SAFETY: the one caller, `secs_to_ns`, passes a product of a positive,
    // non-NaN number of seconds that is below `MAX_DURATION_NS` (3.2e18):
    // finite and within `i64`'s range, where the unchecked conversion
    // truncates exactly as `as i64` does, without the range and NaN
    // fix-ups that `as` costs.
    let t: i64 = unsafe { x.to_int_unchecked() };
    let up = x - t as f64 >= 0.5;
    (t + up as i64) as Nanos
}

/// Nanoseconds to seconds. Spans below 2^63 ns (292 years: all of them
/// but the `Nanos::MAX` of "never") take the signed conversion, one
/// instruction where the unsigned one takes several on x86-64; both give
/// the same double there.
#[inline]
pub fn ns_to_secs(ns: Nanos) -> f64 {
    let x = if ns <= i64::MAX as u64 {
        ns as i64 as f64
    } else {
        ns as f64
    };
    x / NS_PER_S as f64
}

/// A duration written in a scenario file: a string with a unit
/// (`"250us"`, `"250ms"`, `"30s"`, `"5m"`, `"2h"`, `"7d"`) or a plain number
/// of seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub Nanos);

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub fn from_secs(secs: u64) -> Duration {
        Duration(secs * NS_PER_S)
    }

    pub fn from_millis(ms: u64) -> Duration {
        Duration(ms * NS_PER_MS)
    }

    pub fn ns(self) -> Nanos {
        self.0
    }

    pub fn secs(self) -> f64 {
        ns_to_secs(self.0)
    }

    /// Parses `"250ms"`, `"1.5s"`, `"2h"`, `"30"` (seconds), or a compound
    /// duration such as `"1h30m"` or `"9m50s"` (every part with its unit).
    pub fn parse(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        let not_a_duration = || {
            format!("`{text}` is not a duration: write a number with a unit, e.g. \"250ms\", \"30s\", \"5m\", \"1h30m\" (units: ns, us, ms, s, m, h, d)")
        };
        let mut rest = t;
        let mut total_ns = 0.0;
        let mut parts = 0;
        while !rest.is_empty() {
            let split = rest
                .find(|c: char| c.is_ascii_alphabetic() || c == 'µ')
                .unwrap_or(rest.len());
            let (num, after) = rest.split_at(split);
            let unit_len = after
                .find(|c: char| !(c.is_ascii_alphabetic() || c == 'µ'))
                .unwrap_or(after.len());
            let (unit, next) = after.split_at(unit_len);
            let num = num.trim();
            let value: f64 = num.parse().map_err(|_| not_a_duration())?;
            if parts > 0 && value < 0.0 {
                return Err(not_a_duration());
            }
            let unit_ns = match unit {
                "ns" => 1.0,
                "us" | "µs" => NS_PER_US as f64,
                "ms" => NS_PER_MS as f64,
                "" | "s" | "sec" => NS_PER_S as f64,
                "m" | "min" => NS_PER_MIN as f64,
                "h" => NS_PER_H as f64,
                "d" => NS_PER_D as f64,
                other => {
                    return Err(format!(
                        "`{text}`: unknown unit `{other}` (units: ns, us, ms, s, m, h, d; compound durations such as \"1h30m\" give every part a unit)"
                    ))
                }
            };
            // A bare number is seconds, but only on its own.
            if unit.is_empty() && parts > 0 {
                return Err(not_a_duration());
            }
            total_ns += value * unit_ns;
            parts += 1;
            rest = next.trim_start();
            if unit.is_empty() && !rest.is_empty() {
                return Err(not_a_duration());
            }
        }
        if parts == 0 {
            return Err(not_a_duration());
        }
        Self::from_f64_ns(total_ns, text)
    }

    fn from_f64_ns(ns: f64, shown: &str) -> Result<Duration, String> {
        if !ns.is_finite() {
            return Err(format!("`{shown}` is not a finite duration"));
        }
        if ns < 0.0 {
            return Err(format!("`{shown}`: a duration cannot be negative"));
        }
        if ns > MAX_DURATION_NS as f64 {
            return Err(format!(
                "`{shown}` is longer than the 100-year limit of a duration"
            ));
        }
        Ok(Duration(ns.round() as Nanos))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_ns(self.0))
    }
}

/// Formats nanoseconds with the largest unit that shows them exactly
/// (`"250ms"`, `"5m"`), falling back to seconds with decimals.
pub fn format_ns(ns: Nanos) -> String {
    const UNITS: [(u64, &str); 7] = [
        (NS_PER_D, "d"),
        (NS_PER_H, "h"),
        (NS_PER_MIN, "m"),
        (NS_PER_S, "s"),
        (NS_PER_MS, "ms"),
        (NS_PER_US, "us"),
        (1, "ns"),
    ];
    if ns == 0 {
        return "0s".to_string();
    }
    for (unit, name) in UNITS {
        if ns.is_multiple_of(unit) {
            return format!("{}{}", ns / unit, name);
        }
    }
    unreachable!("every count of nanoseconds divides by 1")
}

/// Formats seconds for people: `1.23 s`, `45.6 ms`, `789 us`.
pub fn human_secs(secs: f64) -> String {
    if !secs.is_finite() {
        return "-".into();
    }
    let a = secs.abs();
    if a == 0.0 {
        "0 s".into()
    } else if a >= 1.0 {
        format!("{secs:.3} s")
    } else if a >= 1e-3 {
        format!("{:.3} ms", secs * 1e3)
    } else {
        format!("{:.3} us", secs * 1e6)
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a duration: a number with a unit (ns, us, ms, s, m, h, d), e.g. \"250ms\", or a number of seconds",
            "anyOf": [
                { "type": "string", "pattern": "^\\s*[0-9.eE+-]+\\s*(ns|us|µs|ms|s|sec|m|min|h|d)?\\s*$" },
                { "type": "number", "minimum": 0 }
            ]
        })
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_ns(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"250ms\", \"30s\", \"5m\" or a number of seconds")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                Duration::from_f64_ns(v as f64 * NS_PER_S as f64, &v.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Duration::from_f64_ns(v as f64 * NS_PER_S as f64, &v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Duration::from_f64_ns(v * NS_PER_S as f64, &v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(Duration::parse("9m50s").unwrap().ns(), 590 * NS_PER_S);
        assert_eq!(Duration::parse("1h30m").unwrap().ns(), 5400 * NS_PER_S);
        assert_eq!(
            Duration::parse("1d2h3m4s5ms").unwrap().ns(),
            NS_PER_D + 2 * NS_PER_H + 3 * NS_PER_MIN + 4 * NS_PER_S + 5 * NS_PER_MS
        );
        assert_eq!(Duration::parse("1.5m30s").unwrap().ns(), 120 * NS_PER_S);
        for bad in ["", "1h30", "1h-5m", "m", "1hh", "30 1s", "1h 30x"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(Duration::parse("250us").unwrap().0, 250_000);
        assert_eq!(Duration::parse("250ms").unwrap().0, 250 * NS_PER_MS);
        assert_eq!(Duration::parse("30s").unwrap().0, 30 * NS_PER_S);
        assert_eq!(Duration::parse("5m").unwrap().0, 5 * NS_PER_MIN);
        assert_eq!(Duration::parse("2h").unwrap().0, 2 * NS_PER_H);
        assert_eq!(Duration::parse("7d").unwrap().0, 7 * NS_PER_D);
        assert_eq!(Duration::parse("1.5").unwrap().0, 1_500_000_000);
        assert_eq!(Duration::parse("0.5ms").unwrap().0, 500_000);
    }

    #[test]
    fn rejects_bad_durations() {
        assert!(Duration::parse("-1s").is_err());
        assert!(Duration::parse("5 parsecs").is_err());
        assert!(Duration::parse("inf").is_err());
        assert!(Duration::parse("NaN s").is_err());
        assert!(Duration::parse("1000y").is_err());
        assert!(Duration::parse("200000d").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for text in ["250us", "250ms", "30s", "5m", "2h", "7d", "1500ms", "3ns"] {
            let d = Duration::parse(text).unwrap();
            assert_eq!(Duration::parse(&format_ns(d.0)).unwrap(), d);
        }
        assert_eq!(format_ns(90 * NS_PER_S), "90s");
    }
}
