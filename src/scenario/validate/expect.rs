//! `[expect]` and `[[variant]]`.

use super::*;

pub(super) fn check_expect(p: &P, e: &ExpectCfg) -> Result<(), Invalid> {
    for (k, v) in [
        ("lost_rate_max", e.lost_rate_max),
        ("duplicate_rate_max", e.duplicate_rate_max),
        ("dead_letter_rate_max", e.dead_letter_rate_max),
        ("duplicate_rate_min", e.duplicate_rate_min),
    ] {
        probability(&p.key(k), v)?;
    }
    for (k, v) in [
        ("cost_total_max", e.cost_total_max),
        (
            "cost_per_million_messages_max",
            e.cost_per_million_messages_max,
        ),
    ] {
        if v.is_some_and(|x| !(x >= 0.0 && x.is_finite())) {
            return p
                .key(k)
                .err("a bound on cost is US dollars: a number 0 or more");
        }
    }
    if let Some(c) = e.confidence {
        if !(c > 0.5 && c < 1.0) {
            return p.key("confidence").err(
                "confidence is the one-sided level each bound is judged at: above 0.5, below 1 (e.g. 0.95)",
            );
        }
    }
    if let Some(f) = e.recovers_in {
        if !(f > 0.0 && f <= 1.0) {
            return p
                .key("recovers_in")
                .err("recovers_in is the fraction of replications that must recover: above 0, at most 1 (e.g. 0.9)");
        }
        if e.recovers.is_none() && e.recovers_within.is_none() {
            return p.key("recovers_in").err(
                "recovers_in qualifies `recovers` or `recovers_within`: give one of them too",
            );
        }
    }
    Ok(())
}

/// Variant names become file names: unique, and unique once made safe.
pub(super) fn check_variants(s: &Scenario) -> Result<(), Invalid> {
    let mut seen: Vec<&str> = Vec::new();
    for (i, v) in s.variants.iter().enumerate() {
        let p = P::at("variant", i);
        check_variant_name(&v.name).or_else(|m| p.key("name").err(m))?;
        if seen.contains(&v.name.as_str()) {
            return p
                .key("name")
                .err(format!("two variants are named `{}`", v.name));
        }
        let file = crate::names::safe_name(&v.name);
        if let Some(other) = seen.iter().find(|o| crate::names::safe_name(o) == file) {
            return p.key("name").err(format!(
                "the variants `{other}` and `{}` would write the same files (`{file}`): give names that differ in letters, digits, `-`, `_` or `.`",
                v.name
            ));
        }
        seen.push(&v.name);
        if let Some(e) = &v.expect {
            check_expect(&p.key("expect"), e)?;
        }
    }
    Ok(())
}
