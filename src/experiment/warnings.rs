//! Warnings from the results: what a user would want pointed out about a
//! run's figures, each with a code, a short reason and the figure behind
//! it (`warnings[]` of the summary, the "Warnings" block of the text).
//! Computed here, from the summary and the time series, never inside the
//! simulator.

use super::Replication;
use crate::model::Model;
use serde_json::{json, Map, Value};

/// One warning.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
    /// The figure behind it, where there is one.
    pub figure: Option<f64>,
}

impl Warning {
    pub fn new(code: &'static str, message: impl Into<String>) -> Warning {
        Warning {
            code,
            message: message.into(),
            figure: None,
        }
    }

    /// The warning with its figure (left out when not finite).
    pub fn with(mut self, figure: f64) -> Warning {
        self.figure = figure.is_finite().then_some(figure);
        self
    }

    pub fn json(&self) -> Value {
        let mut o = json!({ "code": self.code, "message": self.message });
        if let Some(f) = self.figure {
            o["figure"] = json!(f);
        }
        o
    }
}

/// Fraction of the traffic above which discards and dead-letters are
/// pointed out.
const SHARE: f64 = 0.01;
/// The backlog grows when its mean over the last quarter of the window is
/// more than this many times its mean over the second quarter (plus
/// [`GROWTH_SLACK`] messages): a stable queue gives about 1, one that
/// grows linearly from empty 7/3.
const GROWTH: f64 = 1.5;
const GROWTH_SLACK: f64 = 10.0;

fn at(o: &Map<String, Value>, path: &str) -> f64 {
    crate::json::at_path(o, path).unwrap_or(0.0)
}

/// Every warning the results call for.
pub fn from_results(m: &Model, o: &Map<String, Value>, reps: &[Replication]) -> Vec<Warning> {
    let mut out = Vec::new();
    let published = at(o, "messages.published");
    backlog(m, o, reps, published, &mut out);
    let shed = at(o, "retries.refused") + at(o, "retries.breaker_rejected");
    if published > 0.0 && shed / published > SHARE {
        out.push(Warning::new("protection-shed", format!(
            "retry budgets and circuit breakers turned away {:.1}% of the published messages' traffic ({shed:.0} retries refused or calls rejected): the protection is shedding load; see lost_by_cause and dead_lettered_by_reason",
            100.0 * shed / published
        )).with(shed / published));
    }
    for (qi, q) in m.queues.iter().enumerate() {
        let Some(timeout) = q.ack_timeout_ns.map(|t| t as f64 / 1e9) else {
            continue;
        };
        for g in m.groups.iter().filter(|g| g.queue == qi && g.log.is_none()) {
            let p99 = crate::model::lint::service_p99_s(&g.service);
            if p99 > timeout && g.extend_lease.is_none() && !g.ack_on_receive {
                let rate = at(o, "messages.duplicate_rate");
                out.push(Warning::new("ack-timeout-below-p99", format!(
                    "queue `{}`: ack_timeout {timeout} s is below consumer `{}`'s p99 processing time {p99:.3} s: deliveries that outlast it are redelivered while still being processed, duplicates by design (duplicate rate {:.3}%)",
                    q.name, g.name, 100.0 * rate
                )).with(p99));
            }
        }
    }
    transient_dead_letters(m, o, published, &mut out);
    out
}

/// Mean backlog (ready + in flight + waiting to retry) of queue `queue`
/// (all when None) over the second and the last quarter of each
/// replication's samples, averaged over replications.
fn quarters(reps: &[Replication], queue: Option<usize>) -> Option<(f64, f64)> {
    let mut second = Vec::new();
    let mut last = Vec::new();
    for r in reps {
        // The backlog at each sampling time (samples come in time order,
        // one per queue).
        let mut series: Vec<(f64, f64)> = Vec::new();
        for s in r
            .samples
            .iter()
            .filter(|s| queue.is_none_or(|q| s.queue == q))
        {
            let backlog = (s.ready + s.in_flight + s.waiting_retry) as f64;
            match series.last_mut() {
                Some((t, b)) if *t == s.time_s => *b += backlog,
                _ => series.push((s.time_s, backlog)),
            }
        }
        if series.len() < 8 {
            continue;
        }
        let (start, end) = (series[0].0, series[series.len() - 1].0);
        let quarter = (end - start) / 4.0;
        let mean = |from: f64, to: f64| {
            let picked: Vec<f64> = series
                .iter()
                .filter(|(t, _)| *t >= from && *t < to)
                .map(|(_, b)| *b)
                .collect();
            picked.iter().sum::<f64>() / picked.len().max(1) as f64
        };
        second.push(mean(start + quarter, start + 2.0 * quarter));
        last.push(mean(start + 3.0 * quarter, end + 1.0));
    }
    let n = second.len() as f64;
    (n > 0.0).then(|| (second.iter().sum::<f64>() / n, last.iter().sum::<f64>() / n))
}

fn grows((second, last): (f64, f64)) -> bool {
    last > GROWTH * second + GROWTH_SLACK
}

/// `not-drained` (the backlog grows to the end), `not-recovered` and
/// `ordering-starves` (a queue with key ordering whose consumers idle
/// while its backlog grows).
fn backlog(
    m: &Model,
    o: &Map<String, Value>,
    reps: &[Replication],
    published: f64,
    out: &mut Vec<Warning>,
) {
    if let Some(q) = quarters(reps, None).filter(|q| grows(*q)) {
        let left = at(o, "messages.in_flight") / published.max(1.0);
        out.push(Warning::new("not-drained", format!(
            "the backlog grows to the end of the run (mean {:.0} messages in the last quarter against {:.0} in the second) and {:.1}% of the published messages are still in the system: the system is unstable or did not recover, so averages and Little's law describe a transient, not a steady state",
            q.1, q.0, 100.0 * left
        )).with(q.1));
    }
    if o.get("recovery").and_then(|r| r.get("recovered")) == Some(&Value::Bool(false)) {
        let fraction = at(o, "recovery.fraction_recovered");
        out.push(Warning::new("not-recovered", format!(
            "{:.0}% of the replications recovered after the last fault: the figures mix the failure with normal running",
            100.0 * fraction
        )).with(fraction));
    }
    for (qi, q) in m.queues.iter().enumerate() {
        let ordered = q.fifo_by_key
            || m.groups
                .iter()
                .any(|g| g.queue == qi && g.resequence.is_some());
        let utilisation = crate::json::at_path(o, &format!("queues.{}.utilisation", q.name));
        let (Some(utilisation), true) = (utilisation, ordered) else {
            continue;
        };
        if utilisation < 0.9 && quarters(reps, Some(qi)).is_some_and(grows) {
            out.push(Warning::new("ordering-starves", format!(
                "queue `{}`: its backlog grows while its consumers are busy only {:.0}% of the time: key ordering (fifo_by_key or a resequencer) holds messages back and cuts throughput",
                q.name, 100.0 * utilisation
            )).with(utilisation));
        }
    }
}

/// `transient-dead-lettered`: more than 1% of the published messages
/// dead-lettered by the delivery or attempt limit beyond what poison
/// explains, while failures were transient.
fn transient_dead_letters(
    m: &Model,
    o: &Map<String, Value>,
    published: f64,
    out: &mut Vec<Warning>,
) {
    let transient = m.groups.iter().any(|g| g.failure > 0.0 && g.failure < 1.0);
    if !transient || published <= 0.0 {
        return;
    }
    let by_limit = [
        "max-deliveries",
        "retries-exhausted",
        "max-deliveries-parked",
    ]
    .iter()
    .map(|r| at(o, &format!("messages.dead_lettered_by_reason.{r}")))
    .sum::<f64>()
        / published;
    let poison = m.groups.iter().map(|g| g.poison).fold(0.0, f64::max);
    if by_limit - poison > SHARE {
        out.push(Warning::new("transient-dead-lettered", format!(
            "{:.2}% of the published messages were dead-lettered by the delivery or attempt limit, beyond the {:.2}% poison: messages whose failures were transient ran out of attempts; raise max_deliveries / max_attempts or space the retries out",
            100.0 * by_limit,
            100.0 * poison
        )).with(by_limit));
    }
}
