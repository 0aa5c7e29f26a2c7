//! Theory beside simulation: which textbook model a queue matches (and if
//! none, which assumption fails), its numbers, the queue-length
//! distribution against the stationary one, the message lifecycle as an
//! absorbing Markov chain, the retry-orbit chain, and availability.

use super::collect::{LIFECYCLE_STATES, ORBIT_O_MAX, ORBIT_Q_MAX, TRANSIENT_STATES};
use super::markov::{self, AbsorbingChain, OrbitParams};
use super::summary::num;
use super::theory::{self, Theory};
use crate::experiment::Outcome;
use crate::model::{FaultKind, FaultTiming, Model, Overflow, RetryMode};
use serde_json::{json, Map, Value};

/// The model a queue matches, or the assumptions that fail.
pub fn matching_model(m: &Model, qi: usize) -> Result<(Theory, Option<Vec<f64>>), Vec<String>> {
    let mut why = Vec::new();
    let q = &m.queues[qi];
    let groups: Vec<_> = m.groups.iter().filter(|g| g.queue == qi).collect();
    let producers: Vec<_> = m.producers.iter().filter(|p| p.queue == qi).collect();
    if groups.is_empty() {
        why.push("no consumer reads this queue".to_string());
    }
    if m.groups.iter().any(|g| g.publish_to == Some(qi)) {
        why.push("arrivals come from an upstream stage (publish_to), not straight from Poisson producers".into());
    }
    if producers.is_empty() {
        why.push("no producer publishes to it".into());
    }
    if producers.iter().any(|p| !p.arrival.is_poisson()) {
        why.push("non-Poisson arrivals".into());
    }
    if producers
        .iter()
        .any(|p| p.retry.is_some() || p.timeout_ns.is_some())
    {
        why.push("producer retries".into());
    }
    if groups.iter().any(|g| g.failure > 0.0 || g.poison > 0.0) {
        why.push("failed attempts are retried".into());
    }
    if groups.iter().any(|g| g.prefetch > g.concurrency) {
        why.push("prefetch buffers at the consumers (prefetch > concurrency)".into());
    }
    if groups.iter().any(|g| g.ack_on_receive) && groups.iter().any(|g| g.failure > 0.0) {
        why.push("auto-ack with failures".into());
    }
    if q.ttl_ns.is_some() || producers.iter().any(|p| p.ttl_ns.is_some()) {
        why.push("messages expire (ttl)".into());
    }
    // A lease the consumer extends while it works lasts up to its `max`.
    let lease_ns = groups.first().and_then(|g| match g.extend_lease {
        Some(l) => l.max_ns,
        None => q.ack_timeout_ns,
    });
    if let (Some(t), Some(g)) = (lease_ns, groups.first()) {
        if (t as f64) < 20.0 * g.service.mean() * 1e9 {
            why.push("the ack timeout is short enough to redeliver".into());
        }
    }
    if m.network.is_some() {
        why.push("network latency or loss".into());
    }
    if !m.faults.is_empty() {
        why.push("faults".into());
    }
    if groups.len() > 1
        && groups
            .windows(2)
            .any(|w| format!("{:?}", w[0].service) != format!("{:?}", w[1].service))
    {
        why.push("consumer groups with different service times".into());
    }
    if q.capacity.is_some() && q.overflow != Overflow::RejectPublish {
        why.push("a full queue drops or dead-letters instead of rejecting".into());
    }
    if !why.is_empty() {
        return Err(why);
    }
    let lambda: f64 = producers
        .iter()
        .map(|p| p.arrival.mean_rate(m.duration_ns))
        .sum();
    let service = &groups[0].service;
    let mean = service.mean();
    let mu = 1.0 / mean;
    let c: u32 = groups.iter().map(|g| g.count * g.concurrency).sum();
    let k = q.capacity.map(|cap| cap + c as u64);
    let rho = lambda / (c as f64 * mu);
    let n_max = 400usize;
    if service.is_exponential() {
        let t = match k {
            Some(k) => theory::mmck(lambda, mu, c, k),
            None if rho >= 1.0 => None,
            None if c == 1 => theory::mm1(lambda, mu),
            None => theory::mmc(lambda, mu, c),
        };
        return match t {
            Some(t) => Ok((t, theory::stationary_length(lambda, mu, c, k, n_max))),
            None => Err(vec![format!(
                "rho = {rho:.3} >= 1: the queue grows without bound, there is no steady state"
            )]),
        };
    }
    if c == 1 && k.is_none() {
        let t = if service.is_constant() {
            theory::md1(lambda, mean)
        } else {
            theory::mg1(lambda, mean, service.variance())
        };
        return match t {
            Some(t) => Ok((t, None)),
            None => Err(vec![format!(
                "rho = {rho:.3} >= 1: the queue grows without bound, there is no steady state"
            )]),
        };
    }
    Err(vec![format!(
        "general service times with {c} servers or a capacity (M/G/c has no closed form)"
    )])
}

/// Adds theory beside every queue's queueing statistics, and the length
/// distribution comparison.
pub fn attach(m: &Model, o: &mut Map<String, Value>) {
    let mut warnings: Vec<Value> = Vec::new();
    let Some(Value::Object(queues)) = o.get_mut("queues") else {
        return;
    };
    for (qi, qm) in m.queues.iter().enumerate() {
        let Some(Value::Object(q)) = queues.get_mut(&qm.name) else {
            continue;
        };
        // Unbounded growth: warn whatever the model.
        let lambda: f64 = m
            .producers
            .iter()
            .filter(|p| p.queue == qi)
            .map(|p| p.arrival.mean_rate(m.duration_ns))
            .sum();
        let cap: f64 = m
            .groups
            .iter()
            .filter(|g| g.queue == qi)
            .map(|g| (g.count * g.concurrency) as f64 / g.service.mean())
            .sum();
        if qm.capacity.is_none() && lambda > 0.0 && lambda >= cap {
            warnings.push(json!(format!(
                "queue `{}`: offered load {:.3}/s is at or above its capacity {:.3}/s (rho >= 1): the queue grows without bound and has no steady state",
                qm.name, lambda, cap
            )));
        }
        let simulated = q.get("length_distribution").cloned().unwrap_or(json!([]));
        let sim_p: Vec<f64> = simulated
            .as_array()
            .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(0.0)).collect())
            .unwrap_or_default();
        let mut ld = Map::new();
        ld.insert("simulated".into(), simulated);
        match matching_model(m, qi) {
            Ok((t, dist)) => {
                if let Some(Value::Object(qq)) = q.get_mut("queueing") {
                    qq.insert(
                        "theory".into(),
                        serde_json::to_value(&t).unwrap_or(Value::Null),
                    );
                }
                if let Some(d) = dist {
                    ld.insert(
                        "total_variation".into(),
                        num(theory::total_variation(&sim_p, &d)),
                    );
                    ld.insert("theory".into(), json!(d));
                    ld.insert("model".into(), json!(t.model));
                }
            }
            Err(why) => {
                if let Some(Value::Object(qq)) = q.get_mut("queueing") {
                    qq.insert("theory".into(), Value::Null);
                    qq.insert(
                        "theory_note".into(),
                        json!(format!("no queueing model applies: {}", why.join("; "))),
                    );
                }
            }
        }
        q.insert("length_distribution".into(), Value::Object(ld));
    }
    warnings.extend(budget_warnings(m).into_iter().map(Value::String));
    if !warnings.is_empty() {
        o.insert("warnings".into(), Value::Array(warnings));
    }
}

/// A percent budget's `percent` is retries per request (Finagle's
/// `percentCanRetry`), not a percentage: 10 allows ten retries per request.
/// From 2 up, it no longer limits a retry storm, which is seldom meant.
fn budget_warnings(m: &Model) -> Vec<String> {
    use crate::strategy::budget::RetryBudgetConfig;
    let producers = m
        .producers
        .iter()
        .map(|p| (format!("producer `{}`", p.name), &p.budget));
    let groups = m
        .groups
        .iter()
        .map(|g| (format!("consumer `{}`", g.name), &g.budget));
    producers
        .chain(groups)
        .filter_map(|(who, b)| match b {
            Some(RetryBudgetConfig::Percent { percent, .. }) if *percent >= 2.0 => Some(format!(
                "{who}: retry_budget.percent = {percent} allows {percent} retries per request (percent is retries per request: 0.1 means 10%)"
            )),
            _ => None,
        })
        .collect()
}

/// Dead-letter probability and expected attempts from the configured
/// probabilities, for a one-queue scenario without faults: poison messages
/// fail every attempt; the others fail each attempt with probability p; at
/// most k attempts.
fn lifecycle_theory(m: &Model) -> Option<Value> {
    if m.queues.len() != 1 || m.groups.len() != 1 || !m.faults.is_empty() || m.network.is_some() {
        return None;
    }
    let g = &m.groups[0];
    let q = &m.queues[0];
    if g.log.is_some() || m.producers.iter().any(|p| p.topic.is_some()) {
        return None;
    }
    if g.ack_on_receive
        || g.non_retryable > 0.0
        || q.ttl_ns.is_some()
        || g.budget.is_some()
        || g.breaker.is_some()
    {
        return None;
    }
    if g.retry_mode == RetryMode::AckTimeout || g.retry_mode == RetryMode::None {
        return None;
    }
    // RabbitMQ 4.3 does not count a nack toward the delivery limit.
    let uncounted = q.nacks_uncounted && g.retry_mode != RetryMode::RejectRequeue;
    let k_deliveries = q.max_deliveries.filter(|_| !uncounted).map(|k| k as f64);
    let k_policy = g
        .retry
        .as_ref()
        .and_then(|r| r.max_attempts)
        .map(|k| k as f64);
    let k = match (k_deliveries, k_policy) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => f64::INFINITY,
    };
    let p = g.failure;
    let poison = g.poison;
    let (p_dlq_ok, visits_ok) = if k.is_infinite() {
        (
            0.0,
            if p < 1.0 {
                1.0 / (1.0 - p)
            } else {
                f64::INFINITY
            },
        )
    } else if p < 1.0 {
        (p.powf(k), (1.0 - p.powf(k)) / (1.0 - p))
    } else {
        (1.0, k)
    };
    let (poison_dlq, poison_attempts) = if poison > 0.0 {
        (poison * if k.is_finite() { 1.0 } else { 0.0 }, poison * k)
    } else {
        (0.0, 0.0)
    };
    let p_dlq = poison_dlq + (1.0 - poison) * p_dlq_ok;
    let attempts = poison_attempts + (1.0 - poison) * visits_ok;
    Some(json!({
        "assumes": "one queue, independent failures with probability `failure`, poison messages failing every attempt, at most k attempts",
        "k": if k.is_finite() { json!(k) } else { Value::Null },
        "absorption": { "acked": num(1.0 - p_dlq), "dead_lettered": num(p_dlq) },
        "expected_attempts": num(attempts),
    }))
}

/// The Markov views: lifecycle chain, retry orbit, availability.
pub fn markov(m: &Model, out: &Outcome, o: &Map<String, Value>) -> Value {
    let states: Vec<String> = LIFECYCLE_STATES.iter().map(|s| s.to_string()).collect();
    let counts = out.transitions();
    let chain = AbsorbingChain::from_counts(states.clone(), TRANSIENT_STATES, &counts);
    let mut lifecycle = Map::new();
    lifecycle.insert("states".into(), json!(states));
    lifecycle.insert("transition_counts".into(), json!(counts));
    lifecycle.insert("transitions".into(), json!(chain.p));
    if let Some(a) = chain.absorption(0) {
        let named: Map<String, Value> = LIFECYCLE_STATES[TRANSIENT_STATES..]
            .iter()
            .zip(a)
            .map(|(s, x)| (s.to_string(), num(x)))
            .collect();
        lifecycle.insert("absorption".into(), Value::Object(named));
    }
    if let Some(v) = chain.expected_visits(0) {
        let named: Map<String, Value> = LIFECYCLE_STATES[..TRANSIENT_STATES]
            .iter()
            .zip(v)
            .map(|(s, x)| (s.to_string(), num(x)))
            .collect();
        lifecycle.insert("expected_visits".into(), Value::Object(named));
    }
    lifecycle.insert("theory".into(), lifecycle_theory(m).unwrap_or(Value::Null));
    if m.groups.iter().any(|g| g.log.is_some()) {
        // Topic consumers commit offsets: their records do not move
        // through these states (see `topics`).
        lifecycle.insert(
            "note".into(),
            json!("counts broker queues only; topic records are in `topics`"),
        );
    }

    let mut mk = Map::new();
    mk.insert("lifecycle".into(), Value::Object(lifecycle));
    mk.insert("orbit".into(), orbit(m, out));
    mk.insert("availability".into(), availability(m, o));
    Value::Object(mk)
}

/// Parameters of the retry-orbit chain for queue `qi`, when it applies.
pub fn orbit_params(m: &Model, qi: usize) -> Result<OrbitParams, String> {
    let producers: Vec<_> = m.producers.iter().filter(|p| p.queue == qi).collect();
    let groups: Vec<_> = m.groups.iter().filter(|g| g.queue == qi).collect();
    let Some(p) = producers.iter().find(|p| p.timeout_ns.is_some()) else {
        return Err("no producer of this queue has a client timeout".into());
    };
    if producers.iter().any(|p| !p.arrival.is_poisson()) {
        return Err("non-Poisson arrivals".into());
    }
    if groups.is_empty() || groups.iter().any(|g| !g.service.is_exponential()) {
        return Err("service times are not exponential".into());
    }
    let lambda: f64 = producers
        .iter()
        .map(|p| p.arrival.mean_rate(m.duration_ns))
        .sum();
    let mu = 1.0 / groups[0].service.mean();
    let threads: u32 = groups.iter().map(|g| g.count * g.concurrency).sum();
    let max_attempts = p.retry.as_ref().and_then(|r| r.max_attempts).unwrap_or(5);
    let queue_bound = m.queues[qi].capacity.map_or(ORBIT_Q_MAX, |c| {
        (c as usize + threads as usize).min(ORBIT_Q_MAX)
    });
    Ok(OrbitParams {
        lambda,
        mu,
        threads,
        timeout_s: p.timeout_ns.unwrap_or(0) as f64 / 1e9,
        max_retries: max_attempts.saturating_sub(1),
        queue_bound,
        orbit_bound: ORBIT_O_MAX,
    })
}

fn orbit(m: &Model, out: &Outcome) -> Value {
    let mut res = Map::new();
    for (qi, qm) in m.queues.iter().enumerate() {
        let params = match orbit_params(m, qi) {
            Ok(p) => p,
            Err(_) => continue,
        };
        let mut e = Map::new();
        e.insert(
            "params".into(),
            json!({ "lambda": params.lambda, "mu": params.mu, "threads": params.threads, "timeout_s": params.timeout_s,
                    "max_retries": params.max_retries, "queue_bound": params.queue_bound, "orbit_bound": params.orbit_bound }),
        );
        e.insert(
            "assumes".into(),
            json!("Poisson arrivals, exponential service, a client timeout; a timed-out request retries at rate R/((R+1) timeout) and leaves at 1/((R+1) timeout), which approximates the configured backoff"),
        );
        if let Some(sol) = markov::solve_orbit(&params) {
            e.insert(
                "theory".into(),
                json!({
                    "mean_queue": num(sol.mean_queue), "mean_orbit": num(sol.mean_orbit),
                    "throughput": num(sol.throughput), "failure_rate": num(sol.failure_rate),
                    "mass_at_bounds": num(sol.mass_at_bounds),
                    "second_eigenvalue": num(sol.second_eigenvalue), "mixing_time_s": num(sol.mixing_time_s),
                    "truncated": sol.mass_at_bounds > 1e-3,
                    "metastable_risk": sol.mass_at_bounds > 0.01 || sol.mixing_time_s > 60.0,
                }),
            );
            // Simulated occupancy on the same grid, pooled over replications.
            let cols = ORBIT_O_MAX + 1;
            let mut pooled = vec![0.0; (ORBIT_Q_MAX + 1) * cols];
            let mut n = 0.0;
            for r in &out.reps {
                if let Some(g) = r.orbit_occupancy.get(qi).filter(|g| !g.is_empty()) {
                    for (a, b) in pooled.iter_mut().zip(g) {
                        *a += b;
                    }
                    n += 1.0;
                }
            }
            if n > 0.0 {
                let mut sim_q = 0.0;
                let mut sim_o = 0.0;
                let mut th = vec![0.0; pooled.len()];
                for (qq, row) in sol.occupancy.iter().enumerate() {
                    for (oo, p) in row.iter().enumerate() {
                        th[qq.min(ORBIT_Q_MAX) * cols + oo.min(ORBIT_O_MAX)] += p;
                    }
                }
                for (i, x) in pooled.iter_mut().enumerate() {
                    *x /= n;
                    sim_q += (i / cols) as f64 * *x;
                    sim_o += (i % cols) as f64 * *x;
                }
                e.insert(
                    "simulated".into(),
                    json!({ "mean_queue": num(sim_q), "mean_orbit": num(sim_o),
                            "occupancy_total_variation": num(theory::total_variation(&pooled, &th)) }),
                );
            }
        }
        res.insert(qm.name.clone(), Value::Object(e));
    }
    Value::Object(res)
}

fn availability(m: &Model, o: &Map<String, Value>) -> Value {
    let mut res = Map::new();
    for f in &m.faults {
        if f.kind != FaultKind::ConsumerCrash {
            continue;
        }
        let FaultTiming::Random { mtbf_ns, mttr } = &f.timing else {
            continue;
        };
        let mtbf = *mtbf_ns as f64 / 1e9;
        let mttr = mttr.mean();
        let groups: Vec<usize> = match f.target {
            Some(g) => vec![g],
            None => (0..m.groups.len()).collect(),
        };
        for g in groups {
            let name = &m.groups[g].name;
            let sim = o
                .get("availability")
                .and_then(|a| a.get(name))
                .cloned()
                .unwrap_or(Value::Null);
            res.insert(
                name.clone(),
                json!({ "theory": num(mtbf / (mtbf + mttr)), "simulated": sim, "mtbf_s": mtbf, "mttr_s": mttr }),
            );
        }
    }
    Value::Object(res)
}
