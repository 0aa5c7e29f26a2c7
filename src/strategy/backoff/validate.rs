//! What a retry policy must satisfy before it runs: the keys its backoff
//! needs, the ranges of every number, and the jitter that fits it; each
//! refusal names the key within the `retry` table.

use super::*;

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

impl RetryPolicy {
    /// Checks the policy. On error returns the key within the `retry` table
    /// and what is wrong with it and what is allowed.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let kind = self.backoff.word();
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
                    self.jitter.word()
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
}
