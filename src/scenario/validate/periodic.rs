//! `[[fault]]` keys of periodic and rolling faults: `every`, `jitter`,
//! `interval`, `graceful`, and the two kinds that use them most,
//! `rolling-restart` and `gc-pause`.

use super::*;

/// How many units a rolling restart goes through one after another: the
/// instances of its consumer group, or one producer.
fn rolling_units(s: &Scenario, f: &FaultCfg) -> u64 {
    let Some(("consumer", name)) = f.target.as_deref().and_then(|t| t.split_once(':')) else {
        return 1;
    };
    (0..s.consumers.len())
        .find(|&i| consumer_name(s, i) == name)
        .map_or(1, |i| s.consumers[i].count.unwrap_or(1) as u64)
}

/// `every` (with `jitter`), and the keys that belong to one kind only.
/// A periodic fault's occurrences must not overlap: each one (all its
/// instances, for a rolling restart) ends before the next can start.
pub(super) fn check_periodic_keys(s: &Scenario, p: &P, f: &FaultCfg) -> Result<(), Invalid> {
    let rolling = f.kind == FaultKind::RollingRestart;
    if f.interval.is_some() && !rolling {
        return p.key("interval").err(format!(
            "`interval` spaces the instances of a rolling-restart; a {} has none",
            f.kind
        ));
    }
    if f.graceful.is_some() && !rolling {
        return p.key("graceful").err(format!(
            "`graceful` says how a rolling-restart stops an instance; a {} has none",
            f.kind
        ));
    }
    if rolling && f.graceful.unwrap_or(true) {
        if let Some(("consumer", name)) = f.target.as_deref().and_then(|t| t.split_once(':')) {
            let reads_topic = (0..s.consumers.len())
                .any(|i| consumer_name(s, i) == name && s.consumers[i].topic.is_some());
            if reads_topic {
                return p.key("graceful").err(
                    "a consumer group on a topic restarts its members as crashes (they rejoin and the group rebalances): write graceful = false",
                );
            }
        }
    }
    let Some(every) = f.every else {
        if f.jitter.is_some() {
            return p
                .key("jitter")
                .err("`jitter` delays the occurrences of a periodic fault: give `every` too");
        }
        return Ok(());
    };
    positive(&p.key("every"), Some(every), "the period `every`")?;
    if f.mtbf.is_some() {
        return p.key("mtbf").err(
            "`every` repeats the fault on a fixed period and `mtbf` at random times: give one of them",
        );
    }
    let length = f.downtime.or(f.duration);
    if length.is_none() {
        match &f.mttr {
            Some(d) => check_dist(&p.key("mttr"), d)?,
            None => {
                return p.err(format!(
                    "a periodic {} needs how long each occurrence lasts: `downtime` (or `duration`), or `mttr`",
                    f.kind
                ))
            }
        }
    }
    let units = if rolling { rolling_units(s, f) } else { 1 };
    let interval = f.interval.or(length).map_or(0, |d| d.ns());
    let span = (units - 1)
        .saturating_mul(interval)
        .saturating_add(length.map_or(0, |d| d.ns()))
        .saturating_add(f.jitter.map_or(0, |d| d.ns()));
    if span >= every.ns() {
        return p.key("every").err(format!(
            "each occurrence ({}the length{}) must end before the next one starts: make `every` longer than {}",
            if units > 1 { "the instances one after another, " } else { "" },
            if f.jitter.is_some() { " and the jitter" } else { "" },
            crate::time::format_ns(span)
        ));
    }
    Ok(())
}

/// A rolling restart: of one consumer group's instances or one producer,
/// scheduled once (`at`) or periodically (`every`), each down `downtime`.
pub(super) fn check_rolling_restart(p: &P, f: &FaultCfg) -> Result<(), Invalid> {
    if f.target.is_none() {
        return p
            .key("target")
            .err("a rolling-restart needs a target: \"consumer:NAME\" (its instances restart one after another) or \"producer:NAME\"");
    }
    if f.at.is_none() && f.every.is_none() {
        return p.err("a rolling-restart happens `at` a time, or `every` period (a deploy every day: every = \"24h\")");
    }
    if f.mtbf.is_some() || f.mttr.is_some() || f.start.is_some() || f.duration.is_some() {
        return p.err(
            "a rolling-restart takes target, at or every (jitter), interval, downtime and graceful",
        );
    }
    if f.downtime.is_none() {
        return p
            .key("downtime")
            .err("a rolling-restart needs `downtime`, how long each instance is down");
    }
    if f.instance.is_some() {
        return p
            .key("instance")
            .err("a rolling-restart goes through every instance; to restart one, use a consumer-crash with `instance`");
    }
    only_timing_keys(p, f)
}

/// A stop-the-world pause of one instance (or all) of a consumer group.
pub(super) fn check_gc_pause(p: &P, f: &FaultCfg) -> Result<(), Invalid> {
    let length = f.duration.or(f.downtime);
    let timed = (f.at.or(f.start).is_some() && length.is_some()) || f.every.is_some();
    if !timed && (f.mtbf.is_none() || f.mttr.is_none()) {
        return p.err(
            "a gc-pause needs `at` and `duration`, `every` and `duration`, or `mtbf` and `mttr`",
        );
    }
    if let Some(d) = &f.mttr {
        check_dist(&p.key("mttr"), d)?;
    }
    positive(&p.key("duration"), length, "the pause")?;
    only_timing_keys(p, f)
}

fn only_timing_keys(p: &P, f: &FaultCfg) -> Result<(), Invalid> {
    let extra = [
        ("failure", f.failure.is_some()),
        ("slowdown", f.slowdown.is_some()),
        ("between", f.between.is_some()),
        ("scope", f.scope.is_some()),
        ("factor", f.factor.is_some()),
    ];
    match extra.iter().find(|(_, given)| *given) {
        Some((key, _)) => p
            .key(key)
            .err(format!("`{key}` does not apply to a {}", f.kind)),
        None => Ok(()),
    }
}
