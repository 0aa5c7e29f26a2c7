//! Theory beside simulation: which textbook model a queue matches (and if
//! none, which assumption fails), its numbers, the queue-length
//! distribution against the stationary one, the message lifecycle as an
//! absorbing Markov chain, the retry-orbit chain, and availability.

use crate::experiment::Outcome;
use crate::model::{FaultKind, FaultTiming, Model, Overflow, RetryMode};
use crate::sim::collect::{
    LIFECYCLE_STATES, ORBIT_O_MAX, ORBIT_Q_MAX, SAGA_STATES, SAGA_TRANSIENT_STATES,
    TRANSIENT_STATES,
};
use crate::stats::markov::{self, AbsorbingChain, OrbitParams};
use crate::stats::summary::num;
use crate::stats::theory::{self, Theory};
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
    if groups.iter().any(|g| g.autoscale.is_some()) {
        why.push("the consumers autoscale: the number of servers changes".into());
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
            .map(|g| (g.most_instances() * g.concurrency) as f64 / g.service.mean())
            .sum();
        if qm.capacity.is_none() && lambda > 0.0 && lambda >= cap {
            warnings.push(
                super::warnings::Warning::new(
                    "unstable",
                    format!(
                        "queue `{}`: offered load {:.3}/s is at or above its capacity {:.3}/s (rho >= 1): the queue grows without bound and has no steady state",
                        qm.name, lambda, cap
                    ),
                )
                .with(lambda / cap)
                .json(),
            );
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
    warnings.extend(
        budget_warnings(m)
            .iter()
            .map(super::warnings::Warning::json),
    );
    if !warnings.is_empty() {
        o.insert("warnings".into(), Value::Array(warnings));
    }
}

/// Replications should be at least this many relaxation times long.
pub const RELAXATION_TIMES: f64 = 100.0;

/// The relaxation time (s) of queue `qi` where a queueing model applies
/// and the queue is unbounded and stable: how long the queue takes to
/// forget its start. Exponential service: 1 / (c mu (1 - sqrt rho)^2)
/// (Abate & Whitt, "Transient behavior of the M/M/1 queue: starting at the
/// origin", Queueing Systems 2, 1987; c mu for c servers). Otherwise the
/// reflected Brownian motion's 2 rho (1 + c_s^2) / (c mu (1 - rho)^2)
/// (Abate & Whitt, "Transient behavior of regulated Brownian motion",
/// Adv. Appl. Prob. 19, 1987), which agrees with the first near rho = 1.
pub fn relaxation_time_s(m: &Model, qi: usize) -> Option<f64> {
    matching_model(m, qi).ok()?;
    if m.queues[qi].capacity.is_some() {
        return None;
    }
    let group = m.groups.iter().find(|g| g.queue == qi)?;
    let servers: f64 = m
        .groups
        .iter()
        .filter(|g| g.queue == qi)
        .map(|g| (g.count * g.concurrency) as f64)
        .sum();
    let lambda: f64 = m
        .producers
        .iter()
        .filter(|p| p.queue == qi)
        .map(|p| p.arrival.mean_rate(m.duration_ns))
        .sum();
    let mean = group.service.mean();
    let capacity = servers / mean;
    let rho = lambda / capacity;
    if !(rho > 0.0 && rho < 1.0) {
        return None;
    }
    let scv = group.service.variance() / (mean * mean);
    let tau = if (scv - 1.0).abs() < 1e-9 {
        1.0 / (capacity * (1.0 - rho.sqrt()).powi(2))
    } else {
        2.0 * rho * (1.0 + scv) / (capacity * (1.0 - rho).powi(2))
    };
    tau.is_finite().then_some(tau)
}

/// Warnings for queues whose replications (the statistics window, of
/// `window_s` seconds) are shorter than [`RELAXATION_TIMES`] relaxation
/// times: the start's bias and the run's autocorrelation are then large
/// beside the interval (mean latency at rho 0.9 with 2,000 messages a
/// replication covered 87% at -r 10 and 81.5% at -r 30, issue 30).
pub fn short_run_warnings(m: &Model, window_s: f64) -> Vec<super::warnings::Warning> {
    let mut out = Vec::new();
    for (qi, q) in m.queues.iter().enumerate() {
        let Some(tau) = relaxation_time_s(m, qi) else {
            continue;
        };
        if window_s < RELAXATION_TIMES * tau {
            let text = format!(
                "queue `{}`: a replication's statistics window ({window_s:.0} s) is {:.1} relaxation times ({tau:.1} s by theory); intervals may not cover: make each replication at least {:.0} s ({RELAXATION_TIMES} relaxation times), e.g. with simulation.duration",
                q.name,
                window_s / tau,
                RELAXATION_TIMES * tau
            );
            out.push(super::warnings::Warning::new("short-window", text).with(window_s / tau));
        }
    }
    out
}

/// A percent budget's `percent` is retries per request (Finagle's
/// `percentCanRetry`), not a percentage: 10 allows ten retries per request.
/// From 2 up, it no longer limits a retry storm, which is seldom meant.
/// The figure is `percent`.
fn budget_warnings(m: &Model) -> Vec<super::warnings::Warning> {
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
            Some(RetryBudgetConfig::Percent { percent, .. }) if *percent >= 2.0 => Some(super::warnings::Warning::new("budget-percent", format!(
                "{who}: retry_budget.percent = {percent} allows {percent} retries per request (percent is retries per request: 0.1 means 10%)"
            )).with(*percent)),
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

    if !m.sagas.is_empty() {
        let sagas: Map<String, Value> = m
            .sagas
            .iter()
            .enumerate()
            .map(|(k, saga)| (saga.name.clone(), saga_chain(&out.saga_transitions(k))))
            .collect();
        lifecycle.insert("sagas".into(), Value::Object(sagas));
    }

    let mut mk = Map::new();
    mk.insert("lifecycle".into(), Value::Object(lifecycle));
    mk.insert("orbit".into(), orbit(m, out));
    mk.insert("availability".into(), availability(m, o));
    Value::Object(mk)
}

/// One saga's lifecycle chain (running, compensating -> completed,
/// compensated, stuck) from its pooled transition counts: the estimated
/// transition probabilities, the absorption probabilities from `running`,
/// and beside them the simulated fractions of the transactions that ended.
/// The two agree exactly when no transaction was left compensating at the
/// end of the run; transactions still open are in neither.
fn saga_chain(counts: &[Vec<u64>]) -> Value {
    let states: Vec<String> = SAGA_STATES.iter().map(|s| s.to_string()).collect();
    let chain = AbsorbingChain::from_counts(states.clone(), SAGA_TRANSIENT_STATES, counts);
    let absorbing = &SAGA_STATES[SAGA_TRANSIENT_STATES..];
    let named = |values: Vec<f64>, names: &[&str]| -> Value {
        Value::Object(
            names
                .iter()
                .zip(values)
                .map(|(s, x)| (s.to_string(), num(x)))
                .collect(),
        )
    };
    let ended: Vec<u64> = (SAGA_TRANSIENT_STATES..SAGA_STATES.len())
        .map(|j| counts.iter().map(|row| row[j]).sum())
        .collect();
    let total: u64 = ended.iter().sum();
    let observed = total > 0;
    let simulated = ended.iter().map(|&n| n as f64 / total as f64).collect();
    json!({
        "states": states,
        "transition_counts": counts,
        "transitions": chain.p,
        "absorption": chain
            .absorption(0)
            .filter(|_| observed)
            .map_or(Value::Null, |a| named(a, absorbing)),
        "expected_visits": chain
            .expected_visits(0)
            .filter(|_| observed)
            .map_or(Value::Null, |v| named(v, &SAGA_STATES[..SAGA_TRANSIENT_STATES])),
        "simulated": if observed { named(simulated, absorbing) } else { Value::Null },
    })
}

/// Parameters of the retry-orbit chain for queue `qi`, when it applies
/// (bounds to be sized by [`markov::solve_orbit_auto`] unless the queue
/// has a capacity or the scenario fixes `orbit_bound`).
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
    let q = &m.queues[qi];
    let mut modelling = markov::Modelling::mqsim();
    if q.overflow != Overflow::RejectPublish {
        // A full queue that drops or dead-letters: the request is gone.
        modelling.full_queue = markov::FullQueue::Dropped;
    }
    Ok(OrbitParams {
        lambda,
        mu,
        threads,
        timeout_s: p.timeout_ns.unwrap_or(0) as f64 / 1e9,
        max_retries: max_attempts.saturating_sub(1),
        queue_bound: q
            .capacity
            .map_or(64, |c| (c as usize).saturating_add(threads as usize)),
        orbit_bound: q.orbit_bound.map_or(64, |b| b as usize),
        queue_is_capacity: q.capacity.is_some(),
        modelling,
    })
}

/// Largest chain a run's report solves (the bounds stop growing there).
const ORBIT_REPORT_STATES: usize = 100_000;

fn orbit(m: &Model, out: &Outcome) -> Value {
    let mut res = Map::new();
    for (qi, qm) in m.queues.iter().enumerate() {
        let Ok(asked) = orbit_params(m, qi) else {
            continue;
        };
        let fixed = qm.orbit_bound.is_some();
        let mut e = Map::new();
        e.insert(
            "assumes".into(),
            json!("Poisson arrivals, exponential service, a client timeout; a timed-out request retries at rate R/((R+1) timeout) and leaves at 1/((R+1) timeout), which approximates the configured backoff"),
        );
        if markov::high_mode_unbounded(&asked) {
            e.insert("params".into(), orbit_params_json(&asked, fixed));
            e.insert("theory".into(), unbounded_theory_json(&asked));
            res.insert(qm.name.clone(), Value::Object(e));
            continue;
        }
        let Some((params, sol)) = markov::solve_orbit_auto(&asked, fixed, ORBIT_REPORT_STATES)
        else {
            e.insert("params".into(), orbit_params_json(&asked, fixed));
            e.insert("theory".into(), Value::Null);
            res.insert(qm.name.clone(), Value::Object(e));
            continue;
        };
        e.insert("params".into(), orbit_params_json(&params, fixed));
        e.insert("theory".into(), orbit_theory_json(&params, &sol));
        if let Some(sim) = orbit_simulated(out, qi, &sol) {
            e.insert("simulated".into(), sim);
        }
        res.insert(qm.name.clone(), Value::Object(e));
    }
    Value::Object(res)
}

fn orbit_params_json(p: &OrbitParams, orbit_fixed: bool) -> Value {
    json!({ "lambda": p.lambda, "mu": p.mu, "threads": p.threads, "timeout_s": p.timeout_s,
            "max_retries": p.max_retries, "queue_bound": p.queue_bound, "orbit_bound": p.orbit_bound,
            "bounds": if orbit_fixed { "orbit_bound fixed by the scenario" } else { "sized automatically" },
            "queue_bound_is_capacity": p.queue_is_capacity })
}

/// An unbounded queue whose high mode grows without bound: no stationary
/// distribution to report, and a metastable failure is possible whenever
/// the servers could carry the load without retries.
fn unbounded_theory_json(p: &OrbitParams) -> Value {
    let capacity = f64::from(p.threads) * p.mu;
    let offered = p.lambda * (1.0 + f64::from(p.max_retries));
    json!({
        "stationary": false,
        "metastable_risk": p.lambda < capacity,
        "metastable_rule": "the queue is unbounded and, once every attempt times out, new requests and retries exceed the service capacity: a trigger that pushes the queue past the timeout starts a collapse that never ends by itself",
        "note": format!(
            "once every attempt times out, new requests and retries ({offered:.3}/s) exceed the service capacity ({capacity:.3}/s): the queue then grows without bound, so the chain has no stationary distribution (give the queue a capacity to solve it)"),
    })
}

/// The chain's stationary figures and its metastability verdict.
fn orbit_theory_json(p: &OrbitParams, sol: &markov::OrbitSolution) -> Value {
    let meta = markov::metastability(p, sol);
    let mut t = json!({
        "mean_queue": num(sol.mean_queue), "mean_orbit": num(sol.mean_orbit),
        "mean_orbit_retried": num(sol.mean_orbit_retried),
        "throughput": num(sol.throughput), "failure_rate": num(sol.failure_rate),
        "mass_at_bounds": num(sol.mass_at_bounds),
        "truncated": sol.mass_at_bounds > 1e-6,
        "stationary": true,
        "second_eigenvalue": num(sol.second_eigenvalue), "mixing_time_s": num(sol.mixing_time_s),
    });
    if let (Some(x), Value::Object(o)) = (meta, &mut t) {
        o.insert("split_queue".into(), json!(x.split_queue));
        o.insert("high_mode_mass".into(), num(x.high_mode_mass));
        o.insert(
            "escape_time_s".into(),
            x.escape_time_s.map_or(Value::Null, num),
        );
        o.insert(
            "drain_time_s".into(),
            x.drain_time_s.map_or(Value::Null, num),
        );
        o.insert("metastable_risk".into(), json!(x.metastable_risk));
        o.insert(
            "metastable_rule".into(),
            json!(format!(
                "escape_time_s >= {} x drain_time_s: from where a joining request is more likely than not to time out (q >= split_queue), the chain takes that much longer to get back below it than the servers alone would need",
                markov::METASTABLE_RATIO
            )),
        );
    }
    t
}

/// The simulated occupancy of (number in system, orbit), pooled over the
/// replications, beside the chain's: means, and the total variation
/// distance of the joint law and of the queue-length law.
fn orbit_simulated(out: &Outcome, qi: usize, sol: &markov::OrbitSolution) -> Option<Value> {
    let mut rows = 0;
    let mut cols = 0;
    let mut grids = Vec::new();
    for r in &out.reps {
        let g = r.orbit_occupancy.get(qi).filter(|g| !g.is_empty())?;
        let c = r
            .orbit_columns
            .get(qi)
            .copied()
            .unwrap_or(ORBIT_O_MAX + 1)
            .max(1);
        rows = rows.max(g.len().div_ceil(c));
        cols = cols.max(c);
        grids.push((g, c));
    }
    if grids.is_empty() {
        return None;
    }
    let n = grids.len() as f64;
    let mut pooled = vec![0.0; rows * cols];
    for (g, c) in &grids {
        for (i, x) in g.iter().enumerate() {
            pooled[(i / c) * cols + i % c] += x / n;
        }
    }
    let (mut sim_q, mut sim_o) = (0.0, 0.0);
    for (i, x) in pooled.iter().enumerate() {
        sim_q += (i / cols) as f64 * x;
        sim_o += (i % cols) as f64 * x;
    }
    // The chain on the same grid: larger values share the last row/column
    // (the simulation's grid is cut at ORBIT_Q_MAX x ORBIT_O_MAX too).
    let (rows_all, cols_all) = (
        rows.max(sol.occupancy.len()).min(ORBIT_Q_MAX + 1),
        cols.max(sol.occupancy.first().map_or(0, Vec::len))
            .min(ORBIT_O_MAX + 1),
    );
    let mut sim = vec![0.0; rows_all * cols_all];
    for (i, x) in pooled.iter().enumerate() {
        sim[(i / cols).min(rows_all - 1) * cols_all + (i % cols).min(cols_all - 1)] += x;
    }
    let mut th = vec![0.0; rows_all * cols_all];
    for (q, row) in sol.occupancy.iter().enumerate() {
        for (o, p) in row.iter().enumerate() {
            th[q.min(rows_all - 1) * cols_all + o.min(cols_all - 1)] += p;
        }
    }
    let marginal = |v: &[f64]| -> Vec<f64> { v.chunks(cols_all).map(|r| r.iter().sum()).collect() };
    Some(json!({
        "mean_queue": num(sim_q), "mean_orbit": num(sim_o),
        "occupancy_total_variation": num(theory::total_variation(&sim, &th)),
        "queue_total_variation": num(theory::total_variation(&marginal(&sim), &marginal(&th))),
    }))
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
