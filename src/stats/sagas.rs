//! Sagas in the summary: per `[[saga]]`, how its transactions ended, how
//! long they stayed partially applied, how long undoing took and what
//! share of the processing it cost; and the totals that `[expect]` judges.

use crate::model::Model;
use crate::sim::collect::{Collector, SpanStats};
use crate::stats::summary::num;
use crate::time::ns_to_secs;
use serde_json::{json, Map, Value};

/// `{ mean, p99, max }` of a distribution of durations, in seconds (null
/// where it is empty).
fn spread(s: &SpanStats) -> Value {
    let n = s.histogram.len();
    if n == 0 {
        return json!({ "mean": null, "p99": null, "max": null, "count": 0 });
    }
    let p99 = s.histogram.value_at_quantile(0.99).min(s.max_ns);
    json!({
        "mean": num(s.sum_ns as f64 / n as f64 / 1e9),
        "p99": num(ns_to_secs(p99)),
        "max": num(ns_to_secs(s.max_ns)),
        "count": n,
    })
}

/// `sagas.<name>` and `saga_totals`, added to a run's metrics when the
/// model has sagas.
pub fn insert(m: &Model, c: &Collector, o: &mut Map<String, Value>) {
    if m.sagas.is_empty() {
        return;
    }
    let all_work_ns: u128 = c.queues.iter().map(|q| q.service_time_ns).sum();
    let mut sagas = Map::new();
    let (mut stuck, mut compensated, mut started) = (0, 0, 0);
    let mut worst_p99: Option<f64> = None;
    for (s, sm) in m.sagas.iter().enumerate() {
        let st = &c.sagas[s];
        let undo_ns: u128 = sm
            .compensations
            .iter()
            .flatten()
            .map(|&q| c.queues[q].service_time_ns)
            .sum();
        let inconsistency = spread(&st.inconsistency);
        if let Some(p) = inconsistency.get("p99").and_then(Value::as_f64) {
            worst_p99 = Some(worst_p99.map_or(p, |w: f64| w.max(p)));
        }
        let ended = st.completed + st.compensated + st.stuck;
        sagas.insert(
            sm.name.clone(),
            json!({
                "started": st.started,
                "completed": st.completed,
                "compensated": st.compensated,
                "stuck": st.stuck,
                "running": st.started.saturating_sub(ended),
                "compensated_fraction": num(st.compensated as f64 / st.started as f64),
                "inconsistency_seconds": inconsistency,
                "compensation_latency": spread(&st.compensation),
                "undo_share": num(undo_ns as f64 / all_work_ns as f64),
            }),
        );
        stuck += st.stuck;
        compensated += st.compensated;
        started += st.started;
    }
    o.insert("sagas".into(), Value::Object(sagas));
    o.insert(
        "saga_totals".into(),
        json!({
            "started": started,
            "compensated": compensated,
            "stuck": stuck,
            "inconsistency_p99": worst_p99.map_or(Value::Null, num),
        }),
    );
}
