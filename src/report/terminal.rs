//! The readable summary printed by `mqsim run` and `mqsim compare`: every
//! figure with its 95% half-width when there are replications.

use super::Report;
use crate::time::human_secs;
use serde_json::{Map, Value};
use std::fmt::Write;

fn f(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// A metric's label, from the registry.
fn label(path: &str) -> &'static str {
    crate::stats::summary::metric(path).map_or("?", |m| m.label)
}

fn path<'a>(m: &'a Map<String, Value>, p: &str) -> Option<&'a Value> {
    crate::json::value_at(m, p)
}

/// `value ± half-width` for a count or rate.
fn pm(s: &Map<String, Value>, p: &str, reps: u64) -> String {
    let v = f(path(s, p));
    let h = f(path(s, &format!("ci95.{p}")));
    if !v.is_finite() {
        return "-".into();
    }
    let digits = if v.fract() == 0.0 && reps == 1 { 0 } else { 2 };
    if reps > 1 && h.is_finite() {
        format!("{v:.digits$} ± {h:.2}")
    } else {
        format!("{v:.digits$}")
    }
}

/// `12.3 ms ± 0.4 ms` for a time in seconds.
fn pm_time(s: &Map<String, Value>, p: &str, reps: u64) -> String {
    let v = f(path(s, p));
    let h = f(path(s, &format!("ci95.{p}")));
    if !v.is_finite() {
        return "-".into();
    }
    if reps > 1 && h.is_finite() {
        format!("{} ± {}", human_secs(v), human_secs(h))
    } else {
        human_secs(v)
    }
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.3}%", 100.0 * x)
    } else {
        "-".into()
    }
}

/// The summary of one variant.
pub fn variant(out: &mut String, name: Option<&str>, s: &Map<String, Value>) {
    let reps = s.get("replications").and_then(Value::as_u64).unwrap_or(1);
    let published = f(path(s, "messages.published"));
    if let Some(n) = name {
        let _ = writeln!(out, "\n== {n} ==");
    }
    messages_table(out, s, reps, published);
    message_notes(out, s, reps);
    latency_and_ordering(out, s, reps);
    topics(out, s);
    sagas(out, s, reps);
    queues(out, s);
    faults_and_recovery(out, s, reps);
}

/// The rows of the message table, by summary path (labels from the
/// registry).
const MESSAGE_ROWS: [&str; 8] = [
    "messages.published",
    "messages.acked",
    "messages.duplicates",
    "messages.lost",
    "messages.dead_lettered",
    "messages.expired",
    "messages.rejected",
    "messages.in_flight",
];

/// The message counts, each with its share of the published ones.
fn messages_table(out: &mut String, s: &Map<String, Value>, reps: u64, published: f64) {
    let _ = writeln!(out, "Messages (published in the statistics window)");
    for key in MESSAGE_ROWS {
        let label = label(key);
        let v = f(path(s, key));
        let share = if key != "messages.published" && published > 0.0 {
            format!("  ({})", pct(v / published))
        } else {
            String::new()
        };
        let _ = writeln!(out, "  {label:<18}{:>22}{share}", pm(s, key, reps));
    }
    let _ = writeln!(
        out,
        "  {:<18}{:>22}   deliveries {}, failed attempts {}",
        label("messages.attempts"),
        pm(s, "messages.attempts", reps),
        pm(s, "messages.delivered", reps),
        pm(s, "messages.failed_attempts", reps)
    );
    for (label, key) in [
        ("lost by cause", "lost_by_cause"),
        ("duplicates by cause", "duplicates_by_cause"),
        ("dead-lettered by reason", "dead_lettered_by_reason"),
        ("dead-lettered by origin", "dead_lettered_by_origin"),
    ] {
        if let Some(Value::Object(m)) = path(s, &format!("messages.{key}")) {
            if m.values().any(|v| f(Some(v)) != 0.0) {
                let parts: Vec<String> = m
                    .iter()
                    .filter(|(_, v)| f(Some(v)) != 0.0)
                    .map(|(k, v)| format!("{k} {}", fmt_num(f(Some(v)))))
                    .collect();
                let _ = writeln!(out, "  {label}: {}", parts.join(", "));
            }
        }
    }
}

/// The lines a run has only when something happened: knowing losses, late acks, idempotency, retries refused, goodput.
fn message_notes(out: &mut String, s: &Map<String, Value>, reps: u64) {
    let detected = f(path(s, "messages.lost_detected"));
    if detected > 0.0 {
        let _ = writeln!(
            out,
            "  lost knowingly (the producer gave up) {}, silently {}",
            fmt_num(detected),
            fmt_num(f(path(s, "messages.lost")) - detected)
        );
    }
    let late = f(path(s, "messages.processed_then_dead_lettered"));
    if late > 0.0 {
        let _ = writeln!(
            out,
            "  processed, then dead-lettered (every ack too late; counted as acked) {}",
            fmt_num(late)
        );
    }
    let prevented = f(path(s, "messages.duplicates_prevented"));
    if prevented > 0.0 {
        let _ = writeln!(
            out,
            "  duplicates prevented by idempotency/dedup {}, slipped through {}",
            fmt_num(prevented),
            fmt_num(f(path(s, "messages.duplicates_slipped")))
        );
    }
    if path(s, "messages.side_effects_lost").is_some() {
        let _ = writeln!(
            out,
            "  side effects lost {}, duplicated {}",
            pm(s, "messages.side_effects_lost", reps),
            pm(s, "messages.side_effects_duplicated", reps)
        );
    }
    let refused = f(path(s, "retries.refused"));
    let breaker = f(path(s, "retries.breaker_rejected"));
    let retries = f(path(s, "retries.retries")) + f(path(s, "retries.producer_retries"));
    if retries > 0.0 || refused > 0.0 || breaker > 0.0 {
        let _ = writeln!(
            out,
            "  retries {}, refused by budget {}, rejected by breaker {}",
            fmt_num(retries),
            fmt_num(refused),
            fmt_num(breaker)
        );
    }
    let late = f(path(s, "messages.processed_after_timeout"));
    let has_orbit = path(s, "markov.orbit")
        .and_then(Value::as_object)
        .is_some_and(|o| !o.is_empty());
    if late > 0.0 || has_orbit {
        let _ = writeln!(
            out,
            "  goodput {}/s of throughput {}/s; processed after the client stopped waiting {}",
            pm(s, "messages.goodput", reps),
            pm(s, "messages.throughput", reps),
            pm(s, "messages.processed_after_timeout", reps),
        );
    }
}

/// Latency percentiles, and ordering where keys are used.
fn latency_and_ordering(out: &mut String, s: &Map<String, Value>, reps: u64) {
    let _ = writeln!(out, "Latency (publish to first successful processing)");
    let _ = writeln!(
        out,
        "  mean {}   p50 {}   p90 {}   p99 {}   p99.9 {}   max {}",
        pm_time(s, "latency.mean", reps),
        pm_time(s, "latency.p50", reps),
        pm_time(s, "latency.p90", reps),
        pm_time(s, "latency.p99", reps),
        pm_time(s, "latency.p999", reps),
        pm_time(s, "latency.max", reps),
    );
    let ooo = f(path(s, "ordering.out_of_order"));
    let blocked = f(path(s, "ordering.key_blocked_seconds"));
    let held = f(path(s, "ordering.resequenced"));
    if ooo > 0.0 || blocked > 0.0 || held > 0.0 {
        let _ = writeln!(
            out,
            "Ordering (within each key)\n  out of order {}, max displacement {}, keys blocked {}",
            fmt_num(ooo),
            fmt_num(f(path(s, "ordering.max_displacement"))),
            human_secs(blocked)
        );
        if held > 0.0 {
            let _ = writeln!(
                out,
                "  resequenced {} (mean hold {}), given up {}",
                fmt_num(held),
                human_secs(f(path(s, "ordering.resequence_wait_mean"))),
                fmt_num(f(path(s, "ordering.resequence_gave_up")))
            );
        }
    }
}

/// Each topic's consumer groups.
fn topics(out: &mut String, s: &Map<String, Value>) {
    if let Some(Value::Object(ts)) = s.get("topics") {
        let _ = writeln!(out, "Topics (consumer groups)");
        for (topic, t) in ts {
            let Some(Value::Object(gs)) = t.get("groups") else {
                continue;
            };
            for (group, g) in gs {
                let k = |x: &str| fmt_num(f(g.get(x)));
                let _ = writeln!(
                    out,
                    "  {topic} / {group}: lag mean {} max {}, rebalances {}, re-read {} (uncommitted at crash/eviction {}), lost to early commit {}, to retention {}, skipped by offset reset {}, poll timeouts {}, failed commits {}",
                    k("lag_mean"),
                    k("lag_max"),
                    k("rebalances"),
                    k("reread"),
                    k("uncommitted_at_loss"),
                    k("lost_to_early_commit"),
                    k("lost_to_retention"),
                    k("skipped_by_reset"),
                    k("poll_timeouts"),
                    k("commits_failed"),
                );
                transaction_line(out, g);
            }
        }
    }
}

/// Per `[[saga]]`: how its transactions ended, how long they stayed
/// partially applied, and what undoing them cost; with their lifecycle
/// chain's absorption probabilities (`markov.lifecycle.sagas`).
fn sagas(out: &mut String, s: &Map<String, Value>, reps: u64) {
    let Some(Value::Object(list)) = s.get("sagas") else {
        return;
    };
    let _ = writeln!(out, "Sagas (transactions started in the statistics window)");
    for name in list.keys() {
        let at = |k: &str| format!("sagas.{name}.{k}");
        let _ = writeln!(
            out,
            "  {name}: started {}, completed {}, compensated {}, stuck {}, running at the end {}",
            pm(s, &at("started"), reps),
            pm(s, &at("completed"), reps),
            pm(s, &at("compensated"), reps),
            pm(s, &at("stuck"), reps),
            pm(s, &at("running"), reps),
        );
        let spread = |k: &str| {
            let q = |x: &str| human_secs(f(path(s, &at(&format!("{k}.{x}")))));
            format!("mean {}, p99 {}, max {}", q("mean"), q("p99"), q("max"))
        };
        let _ = writeln!(
            out,
            "    inconsistency {}; compensation latency {}; undo share {}",
            spread("inconsistency_seconds"),
            spread("compensation_latency"),
            pct(f(path(s, &at("undo_share"))))
        );
        let chain = format!("markov.lifecycle.sagas.{name}.absorption");
        if let Some(Value::Object(a)) = path(s, &chain) {
            let parts: Vec<String> = a
                .iter()
                .map(|(k, v)| format!("{k} {:.4}", f(Some(v))))
                .collect();
            let _ = writeln!(out, "    chain absorption: {}", parts.join(", "));
        }
    }
}

/// Each queue's statistics beside its theory.
fn queues(out: &mut String, s: &Map<String, Value>) {
    if let Some(Value::Object(qs)) = s
        .get("queues")
        .filter(|q| q.as_object().is_some_and(|m| !m.is_empty()))
    {
        let _ = writeln!(out, "Queues");
        for (name, q) in qs {
            let Some(q) = q.as_object() else { continue };
            let qq = |k: &str| f(q.get("queueing").and_then(|x| x.get(k)));
            let _ = writeln!(
                out,
                "  {name}: mean length {:.3}, utilisation {:.1}%, L {:.3} in the system, W {} per visit",
                f(q.get("mean_length")),
                100.0 * f(q.get("utilisation")),
                qq("L"),
                human_secs(qq("W")),
            );
            let little = match q
                .get("queueing")
                .and_then(|x| x.get("littles_law_note"))
                .and_then(Value::as_str)
            {
                Some(note) => format!(
                    "error {} (not expected to hold: {note})",
                    pct(qq("littles_law_error"))
                ),
                None => format!("error {}", pct(qq("littles_law_error"))),
            };
            let _ = writeln!(
                out,
                "    arrivals (lambda) {:.4}/s, visits with retries and redeliveries (lambda_eff) {:.4}/s, mu {:.4}/s per server, rho = lambda_eff / ({} mu) {:.3}; Little's law L = lambda_eff W: {little}",
                qq("lambda"),
                qq("lambda_eff"),
                qq("mu"),
                fmt_num(qq("servers")),
                qq("rho"),
            );
            match q.get("queueing").and_then(|x| x.get("theory")) {
                Some(t) if !t.is_null() => {
                    let half = s
                        .get("ci95")
                        .and_then(|c| c.get("queues"))
                        .and_then(|c| c.get(name.as_str()))
                        .and_then(|c| c.get("queueing"));
                    theory_table(out, q.get("queueing"), half, t)
                }
                _ => {
                    if let Some(note) = q
                        .get("queueing")
                        .and_then(|x| x.get("theory_note"))
                        .and_then(Value::as_str)
                    {
                        let _ = writeln!(out, "    theory: {note}");
                    }
                }
            }
        }
    }
}

/// Faults, recovery, the retry orbit and availability.
fn faults_and_recovery(out: &mut String, s: &Map<String, Value>, reps: u64) {
    if let Some(Value::Array(faults)) = s.get("faults") {
        if !faults.is_empty() {
            let _ = writeln!(out, "Faults (replication 0)");
            for fl in faults.iter().take(20) {
                let _ = writeln!(
                    out,
                    "  {:<18} {:<28} {:>10.1} s to {:>10.1} s",
                    fl.get("kind").and_then(Value::as_str).unwrap_or(""),
                    fl.get("target").and_then(Value::as_str).unwrap_or(""),
                    f(fl.get("start")),
                    f(fl.get("end"))
                );
            }
            let total = s
                .get("faults_total")
                .and_then(Value::as_u64)
                .unwrap_or(faults.len() as u64)
                .max(faults.len() as u64);
            if total > 20 {
                let _ = writeln!(out, "  ... and {} more", total - 20);
            }
        }
    }
    crash_redelivery_text(out, s, reps);
    autoscaled_text(out, s, reps);
    if let Some(r) = s.get("recovery") {
        recovery_text(out, r);
    }
    if let Some(Value::Object(orbits)) = path(s, "markov.orbit") {
        for (q, o) in orbits {
            orbit_text(out, q, o);
        }
    }
    if let Some(Value::Object(av)) = s.get("availability") {
        let parts: Vec<String> = av
            .iter()
            .filter(|(_, v)| f(Some(v)) < 1.0)
            .map(|(k, v)| format!("{k} {:.3}%", 100.0 * f(Some(v))))
            .collect();
        if !parts.is_empty() {
            let _ = writeln!(out, "Consumer availability: {}", parts.join(", "));
        }
    }
    cost_text(out, s, reps);
    warnings_block(out, s.get("warnings"));
}

/// With consumer crashes whose deliveries came back: how long what a
/// crashed consumer held waited for its next delivery. This is the price
/// of a long fixed ack timeout that a lease with a heartbeat avoids, and
/// it is not in the message table.
fn crash_redelivery_text(out: &mut String, s: &Map<String, Value>, reps: u64) {
    let key = "messages.crash_redelivery_delay";
    // NaN (no figure) and 0 both say nothing.
    let count = f(path(s, &format!("{key}.count")));
    if count.is_nan() || count <= 0.0 {
        return;
    }
    let _ = writeln!(
        out,
        "Crash redeliveries {} (from the crash to the next delivery): mean {}   p99 {}   max {}",
        pm(s, &format!("{key}.count"), reps),
        pm_time(s, &format!("{key}.mean"), reps),
        pm_time(s, &format!("{key}.p99"), reps),
        pm_time(s, &format!("{key}.max"), reps),
    );
}

/// Autoscaled consumer groups: the instances they ran and the
/// instance-seconds that cost, beside the backlog they drained.
fn autoscaled_text(out: &mut String, s: &Map<String, Value>, reps: u64) {
    let Some(Value::Object(groups)) = s.get("consumers") else {
        return;
    };
    for name in groups.keys() {
        let at = |key: &str| format!("consumers.{name}.{key}");
        let _ = writeln!(
            out,
            "Autoscaled {name}: instances mean {}   max {}   instance-seconds {}",
            pm(s, &at("instances.mean"), reps),
            pm(s, &at("instances.max"), reps),
            pm(s, &at("instance_seconds"), reps),
        );
    }
}

/// `[cost]`: the money, and the counts it was computed from.
fn cost_text(out: &mut String, s: &Map<String, Value>, reps: u64) {
    if path(s, "cost").is_none() {
        return;
    }
    let usd = |key: &str| {
        let v = f(path(s, &format!("cost.{key}")));
        let h = f(path(s, &format!("ci95.cost.{key}")));
        match (reps > 1 && h.is_finite(), v.is_finite()) {
            (_, false) => "-".to_string(),
            (true, true) => {
                let (value, half) = money_pm(v, h);
                format!("${value} ± {half}")
            }
            (false, true) => format!("${}", money(v)),
        }
    };
    let _ = writeln!(
        out,
        "Cost (USD, for the messages and the span of the statistics window)"
    );
    let _ = writeln!(
        out,
        "  total {}   requests {}   compute {}   transfer {}",
        usd("total"),
        usd("requests"),
        usd("compute"),
        usd("transfer")
    );
    let kind = |k: &str| fmt_num(f(path(s, &format!("cost.requests_by_kind.{k}"))));
    let _ = writeln!(
        out,
        "  per million messages {}; {} requests (publish {}, receive {}, empty receive {}, ack/nack {}, extend {}), {} instance-hours",
        usd("per_million_messages"),
        pm(s, "cost.request_count", reps),
        kind("publish"),
        kind("receive"),
        kind("empty_receive"),
        kind("settle"),
        kind("extend"),
        pm(s, "cost.instance_hours", reps),
    );
}

/// An amount of money with four significant digits (at least cents).
fn money(x: f64) -> String {
    let digits = money_digits(x);
    format!("{x:.digits$}")
}

/// The decimals of [`money`]: four significant digits, at least cents.
fn money_digits(x: f64) -> usize {
    let a = x.abs();
    if a >= 100.0 || a == 0.0 {
        2
    } else {
        (3 - a.log10().floor() as i32).clamp(2, 12) as usize
    }
}

/// An amount and its interval's half-width, both to the amount's
/// decimals: a half-width of rounding noise (1e-16 where every
/// replication cost the same per message) reads 0.000, not twelve zeros.
fn money_pm(value: f64, half: f64) -> (String, String) {
    let digits = money_digits(value);
    (format!("{value:.digits$}"), format!("{half:.digits$}"))
}

/// Theory beside the simulation, with the simulation's 95% interval and
/// whether the theory lies inside it (with one replication there is no
/// interval: "n/a").
fn theory_table(out: &mut String, sim: Option<&Value>, half: Option<&Value>, t: &Value) {
    let model = t.get("model").and_then(Value::as_str).unwrap_or("?");
    let _ = writeln!(
        out,
        "    theory ({model}) | simulated ± 95%          | relative error | theory inside"
    );
    for k in ["L", "Lq", "W", "Wq", "p_wait", "p_block"] {
        let th = f(t.get(k));
        let si = f(sim.and_then(|x| x.get(k)));
        if !th.is_finite() {
            continue;
        }
        let err = if th != 0.0 {
            format!("{:+.2}%", 100.0 * (si - th) / th)
        } else {
            "-".into()
        };
        let h = f(half.and_then(|x| x.get(k)));
        let (band, inside) = if h.is_finite() {
            (
                format!("{h:.5}"),
                if (si - th).abs() <= h { "yes" } else { "no" },
            )
        } else {
            ("n/a".to_string(), "n/a")
        };
        let _ = writeln!(
            out,
            "    {k:<7} {th:>12.5} | {si:>12.5} ± {band:<9} | {err:>14} | {inside}"
        );
    }
}

fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// The whole report for the terminal.
/// The retry-orbit chain's verdict beside the simulation.
fn orbit_text(out: &mut String, queue: &str, o: &Value) {
    let t = o.get("theory").unwrap_or(&Value::Null);
    let risk = match t.get("metastable_risk").and_then(Value::as_bool) {
        Some(true) => "yes",
        Some(false) => "no",
        None => "—",
    };
    let _ = writeln!(
        out,
        "Retry orbit `{queue}` (Markov chain): metastable risk {risk}"
    );
    if t.get("stationary") == Some(&Value::Bool(false)) {
        if let Some(n) = t.get("note").and_then(Value::as_str) {
            let _ = writeln!(out, "  {n}");
        }
        return;
    }
    let g = |v: &Value, k: &str| f(v.get(k));
    let sim = o.get("simulated").unwrap_or(&Value::Null);
    let _ = writeln!(
        out,
        "  mean queue {:.2} (simulated {:.2}), orbit {:.2} of which retried {:.2} (simulated {:.2}), goodput {:.4}/s, high-mode mass {:.3e}, escape {} vs drain {}, truncation error {:.1e}",
        g(t, "mean_queue"),
        g(sim, "mean_queue"),
        g(t, "mean_orbit"),
        g(t, "mean_orbit_retried"),
        g(sim, "mean_orbit"),
        g(t, "throughput"),
        g(t, "high_mode_mass"),
        human_secs(g(t, "escape_time_s")),
        human_secs(g(t, "drain_time_s")),
        g(t, "mass_at_bounds"),
    );
}

/// The recovery over replications: how many recovered and how fast, or why
/// nothing was judged.
fn recovery_text(out: &mut String, r: &Value) {
    let verdict = r.get("verdict").and_then(Value::as_str).unwrap_or("");
    if verdict == "no fault" || verdict.is_empty() {
        return;
    }
    let time = |k: &str| match r.get(k).and_then(Value::as_f64) {
        Some(x) => human_secs(x),
        None => "—".into(),
    };
    let n = r.get("replications").and_then(Value::as_u64).unwrap_or(0);
    let k = r
        .get("replications_recovered")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if n == 0 {
        let _ = writeln!(out, "Recovery: not judged ({verdict})");
        return;
    }
    let what = match k {
        0 => "did not recover (the backlog stayed above its pre-fault level)".to_string(),
        _ if k == n && n == 1 => "recovered".to_string(),
        _ if k == n => format!("all {n} replications recovered"),
        _ => format!("{k} of {n} replications recovered"),
    };
    let _ = writeln!(
        out,
        "Recovery after the last fault: {what}; recovery time p50 {}, p90 {}, max {}",
        time("p50"),
        time("p90"),
        time("max")
    );
    let degraded = r
        .get("replications_degraded_before_fault")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if degraded > 0 {
        let _ = writeln!(
            out,
            "  {degraded} replication(s) already degraded before the fault (not judged)"
        );
    }
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let first = r.variants.first().map(|v| &v.summary);
    if let Some(s) = first {
        let reps = s.get("replications").and_then(Value::as_u64).unwrap_or(1);
        let warm = f(path(s, "warmup.seconds"));
        let which = match s.get("replication").and_then(Value::as_u64) {
            Some(k) => format!("replication {k}"),
            None => format!("{reps} replication{}", if reps == 1 { "" } else { "s" }),
        };
        let _ = writeln!(
            out,
            "mqsim: {} (seed {}, {which}, warm-up {})",
            r.scenario,
            s.get("seed").and_then(Value::as_u64).unwrap_or(0),
            human_secs(warm)
        );
        if s.get("partial") == Some(&Value::Bool(true)) {
            let why = match s.get("partial_reason").and_then(Value::as_str) {
                Some("max-events") => "--max-events was reached",
                Some("max-wall") => "--max-wall was reached",
                Some("interrupted") => "interrupted by Ctrl-C",
                Some("memory-ceiling") => {
                    "the memory ceiling was reached; the run would have exhausted memory"
                }
                _ => "a limit or Ctrl-C",
            };
            let _ = writeln!(
                out,
                "PARTIAL RESULT: the run was stopped before its end ({why})"
            );
        }
    }
    let many = r.variants.len() > 1;
    for v in &r.variants {
        variant(&mut out, many.then_some(v.name.as_str()), &v.summary);
    }
    if let Some(c) = &r.comparison {
        super::terminal_compare(&mut out, c);
    }
    out
}

/// The "Warnings" block: one line per warning of a summary, `[code]
/// message`.
pub fn warnings_block(out: &mut String, warnings: Option<&Value>) {
    let list: Vec<&Value> = warnings
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "Warnings:");
    for w in list {
        let _ = writeln!(out, "  {}", warning_line(w));
    }
}

/// One warning of a summary's `warnings` array as the reports show it:
/// `[code] message`. The terminal, the HTML page and the sweep's page all
/// print it so.
pub fn warning_line(warning: &Value) -> String {
    let code = warning
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("warning");
    let message = warning.get("message").and_then(Value::as_str).unwrap_or("");
    format!("[{code}] {message}")
}

/// A topic group's exactly-once figures: its transactions (a transactional
/// group) or the aborted records it passed over (a `read_committed` reader).
fn transaction_line(out: &mut String, g: &Value) {
    let f = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(0.0);
    if let Some(t) = g.get("transactions") {
        let k = |x: &str| fmt_num(f(t.get(x)));
        let _ = writeln!(
            out,
            "    transactions: committed {} ({} records), aborted {} ({} records, read again), mean wait for the commit {}",
            k("committed"),
            k("records_committed"),
            k("aborted"),
            k("records_aborted"),
            human_secs(f(t.get("commit_wait_mean")))
        );
    }
    if let Some(skipped) = g.get("aborted_skipped") {
        let _ = writeln!(
            out,
            "    read_committed: aborted records passed over {}",
            fmt_num(f(Some(skipped)))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_width_of_rounding_noise_reads_as_zero_at_the_amounts_decimals() {
        // Every replication cost the same per message: the half-width is
        // floating-point noise, shown at the amount's decimals.
        assert_eq!(money_pm(1.2, 2e-16), ("1.200".into(), "0.000".into()));
        assert_eq!(
            money_pm(0.0007807, 0.0000588),
            ("0.0007807".into(), "0.0000588".into())
        );
        assert_eq!(money_pm(250.0, 1.5), ("250.00".into(), "1.50".into()));
    }

    #[test]
    fn every_message_row_is_a_registered_metric() {
        for key in MESSAGE_ROWS.iter().chain(["messages.attempts"].iter()) {
            assert!(crate::stats::summary::metric(key).is_some(), "{key}");
        }
    }
}
