//! `consumer.autoscale`: the bounds, the metric and its target, the
//! autoscaler's timers, and the faults an autoscaled group can take.

use super::*;

/// Most instances an autoscaled group may reach: the simulator keeps one
/// record per possible instance from the start.
pub const MAX_AUTOSCALE_INSTANCES: u32 = 10_000;

/// `autoscale` of consumer `i`: `min <= count <= max`, a known metric with
/// a positive target, positive timers; and no rolling restart of the group
/// (which instances it restarts changes as the group scales).
pub(super) fn check_autoscale(
    s: &Scenario,
    p: &P,
    i: usize,
    c: &ConsumerCfg,
) -> Result<(), Invalid> {
    let Some(a) = &c.autoscale else {
        return Ok(());
    };
    let pa = p.key("autoscale");
    let min = a.min.unwrap_or(1);
    if min == 0 {
        return pa
            .key("min")
            .err("`min` must be at least 1 (scaling to zero is not modelled)");
    }
    if a.max < min || a.max > MAX_AUTOSCALE_INSTANCES {
        return pa.key("max").err(format!(
            "`max` must be from `min` ({min}) to {MAX_AUTOSCALE_INSTANCES}"
        ));
    }
    let count = c.count.unwrap_or(1);
    if count < min || count > a.max {
        return p.key("count").err(format!(
            "`count` is the starting instance count of an autoscaled group: it must lie in min..max ({min}..{})",
            a.max
        ));
    }
    let utilisation = a.metric == ScaleMetric::Utilisation;
    if !(a.target.is_finite() && a.target > 0.0) || (utilisation && a.target > 100.0) {
        let range = if utilisation {
            "above 0 and at most 100 (percent busy)"
        } else {
            "above 0"
        };
        return pa.key("target").err(format!(
            "{} is not a target: give the metric's value per instance, {range}",
            short_number(a.target)
        ));
    }
    positive(&pa.key("poll"), a.poll, "the polling interval")?;
    if a.step == Some(0) {
        return pa
            .key("step")
            .err("`step` must be at least 1 (instances changed per poll)");
    }
    check_faults_on(s, p, i)
}

/// A rolling restart walks a fixed list of instances: an autoscaled
/// group's list changes as it scales, so the two do not combine.
fn check_faults_on(s: &Scenario, p: &P, i: usize) -> Result<(), Invalid> {
    let name = consumer_name(s, i);
    let rolled = s.faults.iter().any(|f| {
        f.kind == FaultKind::RollingRestart
            && f.target
                .as_deref()
                .and_then(|t| t.strip_prefix("consumer:"))
                == Some(&name)
    });
    if rolled {
        return p.key("autoscale").err(format!(
            "consumer `{name}` has a rolling-restart fault: a rolling restart of an autoscaled group is not modelled"
        ));
    }
    Ok(())
}
