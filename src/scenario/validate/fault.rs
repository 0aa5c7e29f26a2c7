//! `[[fault]]`: kinds, targets, instances, scheduled or random windows.

use super::*;

fn check_target(s: &Scenario, p: &P, t: &str) -> Result<(), Invalid> {
    let (kind, name) = t.split_once(':').unwrap_or((t, ""));
    let names: Vec<String> = match kind {
        "consumer" => (0..s.consumers.len())
            .map(|i| consumer_name(s, i))
            .collect(),
        "producer" => (0..s.producers.len())
            .map(|i| producer_name(s, i))
            .collect(),
        "broker" if name.is_empty() => return Ok(()),
        _ => {
            return p.err(format!(
                "`{t}` is not a target: write \"consumer:NAME\", \"producer:NAME\" or \"broker\""
            ))
        }
    };
    if !names.iter().any(|n| n == name) {
        return p.err(format!(
            "no {kind} is named `{name}` ({kind}s: {})",
            names.join(", ")
        ));
    }
    Ok(())
}

/// `instance = k` must name an instance of every group the fault hits
/// (instances count from 0).
fn check_instance(s: &Scenario, p: &P, f: &FaultCfg, k: u32) -> Result<(), Invalid> {
    let target = f
        .target
        .as_deref()
        .and_then(|t| t.strip_prefix("consumer:"));
    for (i, c) in s.consumers.iter().enumerate() {
        let name = consumer_name(s, i);
        if target.is_some_and(|t| t != name) {
            continue;
        }
        // An autoscaled group numbers every instance it may start.
        let count = c.autoscale.as_ref().map_or(c.count.unwrap_or(1), |a| a.max);
        if k >= count {
            return p.key("instance").err(format!(
                "consumer `{name}` has {count} instance{}, numbered from 0 to {}: there is no instance {k}",
                if count == 1 { "" } else { "s" },
                count - 1
            ));
        }
    }
    Ok(())
}

/// A window fault's timing: `start` and `duration`, or `mtbf` and `mttr`.
fn check_window(p: &P, f: &FaultCfg) -> Result<(), Invalid> {
    if (f.start.is_some() && f.duration.is_some()) || f.every.is_some() {
        return Ok(());
    }
    if f.mtbf.is_none() {
        return p.err(format!(
            "a {} needs `start` and `duration` (or `mtbf` and `mttr`)",
            f.kind
        ));
    }
    match &f.mttr {
        Some(d) => check_dist(&p.key("mttr"), d),
        None => p.key("mttr").err("random windows need `mttr`"),
    }
}

pub(super) fn check_fault(s: &Scenario, p: &P, f: &FaultCfg) -> Result<(), Invalid> {
    if f.scope.is_some() && f.kind != FaultKind::BrokerCrash {
        return p.key("scope").err(format!(
            "`scope` says what a broker crash takes down; a {} has none",
            f.kind
        ));
    }
    if let Some(t) = &f.target {
        check_target(s, &p.key("target"), t)?;
        let kind_of_target = t.split(':').next().unwrap_or("");
        let fits = match f.kind {
            FaultKind::ConsumerCrash | FaultKind::DependencyOutage | FaultKind::GcPause => {
                kind_of_target == "consumer"
            }
            FaultKind::ProducerCrash | FaultKind::LoadSpike => kind_of_target == "producer",
            FaultKind::RollingRestart => {
                kind_of_target == "consumer" || kind_of_target == "producer"
            }
            FaultKind::BrokerCrash | FaultKind::Partition => false,
        };
        if !fits {
            return p
                .key("target")
                .err(format!("a {} cannot target `{t}`", f.kind));
        }
    }
    if let Some(k) = f.instance {
        check_instance(s, p, f, k)?;
    }
    super::periodic::check_periodic_keys(s, p, f)?;
    match f.kind {
        FaultKind::ConsumerCrash | FaultKind::ProducerCrash | FaultKind::BrokerCrash => {
            check_crash(p, f)
        }
        FaultKind::LoadSpike => check_load_spike(p, f),
        FaultKind::DependencyOutage | FaultKind::Partition => check_window_fault(s, p, f),
        FaultKind::RollingRestart => super::periodic::check_rolling_restart(p, f),
        FaultKind::GcPause => super::periodic::check_gc_pause(p, f),
    }
}

/// A crash is scheduled (`at`, `downtime`) or random (`mtbf`, `mttr`).
fn check_crash(p: &P, f: &FaultCfg) -> Result<(), Invalid> {
    if f.every.is_some() {
        return check_only_crash_keys(p, f); // `check_periodic_keys` checked the timing
    }
    let scheduled = f.at.is_some();
    let random = f.mtbf.is_some();
    if scheduled == random {
        return p.err(format!(
            "a {} is either scheduled (`at` and `downtime`) or random (`mtbf` and `mttr`)",
            f.kind
        ));
    }
    if scheduled && f.downtime.is_none() {
        return p.key("downtime").err("a scheduled crash needs `downtime`");
    }
    if random {
        positive(&p.key("mtbf"), f.mtbf, "the mtbf")?;
        match &f.mttr {
            Some(d) => check_dist(&p.key("mttr"), d)?,
            None => {
                return p.key("mttr").err(
                    "a random crash needs `mttr`, e.g. { dist = \"exponential\", mean = \"30s\" }",
                )
            }
        }
    }
    check_only_crash_keys(p, f)
}

fn check_only_crash_keys(p: &P, f: &FaultCfg) -> Result<(), Invalid> {
    if f.failure.is_some() || f.slowdown.is_some() || f.between.is_some() || f.factor.is_some() {
        return p.err(format!(
            "a {} takes target, instance, at, downtime, mtbf or every, mttr (and, for a broker crash, scope)",
            f.kind
        ));
    }
    Ok(())
}

fn check_load_spike(p: &P, f: &FaultCfg) -> Result<(), Invalid> {
    check_window(p, f)?;
    match f.factor {
        Some(x) if x.is_finite() && x > 0.0 && x <= 1e6 => {}
        Some(_) => {
            return p
                .key("factor")
                .err("the factor must be above 0 and at most 1e6 (10 = ten times the arrival rate)")
        }
        None => {
            return p
                .key("factor")
                .err("a load spike needs `factor`, the multiple of the arrival rate while it lasts, e.g. factor = 10")
        }
    }
    if f.failure.is_some() || f.slowdown.is_some() || f.between.is_some() || f.instance.is_some() {
        return p.err("a load-spike takes target, start, duration (or mtbf, mttr) and factor");
    }
    Ok(())
}

/// A dependency outage or partition: a window of failures or slowdown.
fn check_window_fault(s: &Scenario, p: &P, f: &FaultCfg) -> Result<(), Invalid> {
    if f.factor.is_some() {
        return p.key("factor").err(format!(
            "`factor` belongs to a load-spike, not a {}",
            f.kind
        ));
    }
    if (f.start.is_none() || f.duration.is_none()) && f.every.is_none() {
        if f.mtbf.is_none() {
            return p.err(format!(
                "a {} needs `start` and `duration` (or `mtbf` and `mttr`)",
                f.kind
            ));
        }
        if let Some(d) = &f.mttr {
            check_dist(&p.key("mttr"), d)?;
        } else {
            return p.key("mttr").err("random windows need `mttr`");
        }
    }
    probability(&p.key("failure"), f.failure)?;
    if let Some(x) = f.slowdown {
        if !(x.is_finite() && x > 0.0 && x <= 1e6) {
            return p
                .key("slowdown")
                .err("the slowdown must be a factor above 0 and at most 1e6");
        }
    }
    if f.kind == FaultKind::Partition {
        let Some(b) = &f.between else {
            return p
                .key("between")
                .err("a partition needs `between = [\"consumer:NAME\", \"broker\"]`");
        };
        if b.len() != 2 || !b.iter().any(|x| x == "broker") {
            return p.key("between").err("a partition is between one component and the broker: [\"consumer:NAME\", \"broker\"]");
        }
        let other = b
            .iter()
            .find(|x| *x != "broker")
            .cloned()
            .unwrap_or_default();
        check_target(s, &p.key("between"), &other)?;
        if let Some(("consumer", n)) = other.split_once(':') {
            let topic_reader = (0..s.consumers.len())
                .any(|i| consumer_name(s, i) == n && s.consumers[i].topic.is_some());
            if topic_reader {
                return p.key("between").err("partitions cut queue consumers off the broker; for a consumer group use a consumer-crash (the group rebalances)");
            }
        }
    }
    Ok(())
}
