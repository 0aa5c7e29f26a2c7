//! One run's outcomes split by cause (issue 22, section 5; counted by
//! `sim::outcomes`): `messages.dead_lettered_by_origin`,
//! `latency_affected` / `latency_unaffected` and
//! `messages.crash_redelivery_delay`.

use super::quantile::{quantile_ns, QUANTILES};
use super::summary::num;
use crate::model::{FaultKind, Model};
use crate::sim::collect::{latency_bucket_mid, Collector};
use crate::sim::outcomes::DEAD_LETTER_ORIGINS;
use crate::time::ns_to_secs;
use serde_json::{json, Map, Value};

/// Adds the split outcomes to one run's `messages` and top-level tree.
pub fn insert(
    m: &Model,
    c: &Collector,
    messages: &mut Map<String, Value>,
    o: &mut Map<String, Value>,
) {
    let mut origins = Map::new();
    for key in DEAD_LETTER_ORIGINS {
        let count = c.dead_lettered_by_origin.get(key).copied().unwrap_or(0);
        origins.insert(key.into(), json!(count));
    }
    messages.insert("dead_lettered_by_origin".into(), Value::Object(origins));
    if crashes_consumers(m) {
        messages.insert("crash_redelivery_delay".into(), crash_delays(c));
    }
    if c.track_affected {
        let affected = c.affected_buckets();
        let unaffected = subtract(c.latency_buckets(), &affected);
        let total_count: u64 = c.latency_buckets().iter().map(|b| b.1).sum();
        let affected_count: u64 = affected.iter().map(|b| b.1).sum();
        // The largest latency is the affected one's when it is theirs;
        // otherwise it is an unaffected message's.
        let unaffected_max_ns = if c.affected_max_ns >= c.latency_max_ns {
            unaffected
                .last()
                .map(|b| latency_bucket_mid(b.0).min(c.latency_max_ns))
        } else {
            Some(c.latency_max_ns)
        };
        o.insert(
            "latency_affected".into(),
            group(&affected, c.affected_sum_s, Some(c.affected_max_ns)),
        );
        o.insert(
            "latency_unaffected".into(),
            group(
                &unaffected,
                c.latency_sum_s - c.affected_sum_s,
                unaffected_max_ns,
            ),
        );
        debug_assert_eq!(
            total_count,
            affected_count + unaffected.iter().map(|b| b.1).sum::<u64>()
        );
    }
}

/// `all` minus `part`, bucket by bucket (both ascending; `part` within
/// `all`).
pub fn subtract(all: &[(u64, u64)], part: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(all.len());
    let mut rest = part.iter().peekable();
    for &(low, count) in all {
        let mut left = count;
        while let Some(&&(p_low, p_count)) = rest.peek() {
            if p_low > low {
                break;
            }
            if p_low == low {
                left = left.saturating_sub(p_count);
            }
            rest.next();
        }
        if left > 0 {
            out.push((low, left));
        }
    }
    out
}

/// `{ count, mean, p50, p90, p99, p999, max }` of a histogram of
/// latencies (null figures when empty).
fn group(buckets: &[(u64, u64)], sum_s: f64, max_ns: Option<u64>) -> Value {
    let count: u64 = buckets.iter().map(|b| b.1).sum();
    let mut g = Map::new();
    g.insert("count".into(), json!(count));
    let mean = if count > 0 {
        sum_s / count as f64
    } else {
        f64::NAN
    };
    g.insert("mean".into(), num(mean));
    let max_ns = max_ns.filter(|_| count > 0);
    for (key, q) in QUANTILES {
        let value =
            quantile_ns(buckets, q).map(|ns| ns_to_secs(ns.min(max_ns.unwrap_or(u64::MAX))));
        g.insert(key.into(), value.map_or(Value::Null, num));
    }
    g.insert(
        "max".into(),
        max_ns.map_or(Value::Null, |ns| num(ns_to_secs(ns))),
    );
    Value::Object(g)
}

/// Whether a consumer instance can crash holding deliveries: a
/// `consumer-crash` fault, a hard rolling restart of consumers
/// (`graceful = false`), or an autoscaler that removes instances as
/// crashes (`drain = false`). All three go through the same crash, which
/// records what the instance held.
pub fn crashes_consumers(m: &Model) -> bool {
    let faults = m.faults.iter().any(|f| match f.kind {
        FaultKind::ConsumerCrash => true,
        FaultKind::RollingRestart => !f.graceful && !f.targets_producers(),
        _ => false,
    });
    faults
        || m.groups
            .iter()
            .any(|g| g.autoscale.as_ref().is_some_and(|a| !a.drain))
}

/// `{ count, mean, p99, max }` of the crash-to-redelivery delays (s).
fn crash_delays(c: &Collector) -> Value {
    let mut delays = c.crash_redelivery_ns.clone();
    delays.sort_unstable();
    let n = delays.len();
    if n == 0 {
        return json!({ "count": 0, "mean": null, "p99": null, "max": null });
    }
    let sum: u128 = delays.iter().map(|d| *d as u128).sum();
    let rank = ((0.99 * n as f64).ceil() as usize).clamp(1, n);
    json!({
        "count": n,
        "mean": num(sum as f64 / n as f64 / 1e9),
        "p99": num(ns_to_secs(delays[rank - 1])),
        "max": num(ns_to_secs(delays[n - 1])),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracting_histograms() {
        let all = [(1, 3), (5, 2), (9, 4)];
        let part = [(5, 2), (9, 1)];
        assert_eq!(subtract(&all, &part), vec![(1, 3), (9, 3)]);
        assert_eq!(subtract(&all, &[]), all.to_vec());
    }
}
