//! `mqsim lint`: advice from a scenario's configuration alone, before any
//! run. Each rule has an id and the README section that explains the
//! behaviour it points at; a finding names the component, the figure
//! behind it and what to change.

use super::Model;
use crate::scenario::RetryMode;
use crate::strategy::backoff::{BackoffKind, Jitter, RetryPolicy};
use crate::strategy::budget::RetryBudgetConfig;

/// One piece of advice.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Finding {
    /// The rule's id (`retry-without-jitter`, ...).
    pub rule: &'static str,
    /// What it is about: `consumer \`worker\``, `queue \`orders\``.
    pub subject: String,
    pub message: String,
    /// The figure behind it (seconds, a count), where there is one.
    pub figure: Option<f64>,
    /// The README section that explains it.
    pub source: &'static str,
}

/// A rule: its id, its README section, and what it says.
pub struct Rule {
    pub id: &'static str,
    pub source: &'static str,
    pub summary: &'static str,
}

/// Every rule, in the order they are checked.
pub const RULES: [Rule; 9] = [
    Rule {
        id: "retry-without-jitter",
        source: "Retry policy",
        summary: "several clients (a consumer's instances, or the clients a producer stands for) retry without jitter: their retries fall in step on the shared dependency (retry storms)",
    },
    Rule {
        id: "retry-backoff-unused",
        source: "[[consumer]]",
        summary: "a consumer has a retry backoff, but its retry_mode (often its preset's `requeue`) returns a failed message at once: the backoff is never waited",
    },
    Rule {
        id: "unlimited-deliveries",
        source: "[[queue]]",
        summary: "a queue whose consumers can fail has no delivery limit: a poison message is redelivered forever and never dead-lettered",
    },
    Rule {
        id: "ack-timeout-below-service",
        source: "[[queue]]",
        summary: "the ack (visibility) timeout is shorter than the consumers' p99 processing time: duplicates by design",
    },
    Rule {
        id: "lease-lapses-between-extensions",
        source: "[[consumer]]",
        summary: "extend_lease.every is not shorter than extend_lease.by: the lease runs out before the next extension arrives, and a delivery still in processing is redelivered",
    },
    Rule {
        id: "poll-interval-below-batch",
        source: "Consumer groups on a topic",
        summary: "a poll's records take longer to process than max.poll.interval.ms: the member is evicted and its records re-read",
    },
    Rule {
        id: "client-timeout-retries-unbounded",
        source: "Retry budgets and circuit breaker",
        summary: "a producer retries on a client timeout without an attempt limit or a retry budget: the metastable retry storm",
    },
    Rule {
        id: "celery-countdown-over-visibility-timeout",
        source: "Presets",
        summary: "a `celery` retry waits longer than the transport's visibility timeout (ack_timeout): Celery holds a countdown task unacked in the worker, so Redis or SQS hands it to another worker every visibility timeout and it runs several times (the model waits the delay at the broker and does not reproduce these duplicates)",
    },
    Rule {
        id: "budget-percent-above-one",
        source: "Retry budgets and circuit breaker",
        summary: "retry_budget.percent is retries per request: 2 or more does not limit a retry storm",
    },
];

fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).unwrap_or(&RULES[0])
}

fn finding(id: &'static str, subject: String, message: String, figure: Option<f64>) -> Finding {
    Finding {
        rule: id,
        subject,
        message,
        figure,
        source: rule(id).source,
    }
}

/// The p99 of a service-time law, in seconds, from 20,000 draws on a fixed
/// stream (deterministic; within about 1% for the laws in use).
pub fn service_p99_s(service: &crate::scenario::dist::Dist) -> f64 {
    let mut stream = crate::rng::stream(0x11_4e7, crate::rng::Domain::Component, 0, 0);
    let mut draws: Vec<f64> = (0..20_000)
        .map(|_| service.sample_secs(&mut stream))
        .collect();
    draws.sort_by(f64::total_cmp);
    draws[(0.99 * draws.len() as f64) as usize]
}

/// Whether a policy retries in lockstep: it retries, without jitter.
fn lockstep(policy: &RetryPolicy) -> bool {
    policy.jitter == Jitter::None && policy.max_attempts != Some(1)
}

/// Whether a consumer's retry mode waits the policy's backoff: `requeue`
/// and `reject-requeue` return the message at once, `none` gives it up,
/// `ack-timeout` waits the queue's timeout; only their limits apply.
fn waits_backoff(mode: RetryMode) -> bool {
    matches!(
        mode,
        RetryMode::Delay | RetryMode::RetryQueues | RetryMode::InHandler
    )
}

/// `retry-backoff-unused`: a consumer's policy has a backoff its retry
/// mode never waits (a preset's `requeue` comes before the default
/// `delay` that a retry policy gives without one).
fn unused_backoffs(m: &Model, out: &mut Vec<Finding>) {
    for g in &m.groups {
        let Some(p) = &g.retry else { continue };
        if p.backoff == BackoffKind::None || waits_backoff(g.retry_mode) {
            continue;
        }
        out.push(finding("retry-backoff-unused", format!("consumer `{}`", g.name), format!(
            "consumer `{}` has retry backoff `{}`, but retry_mode = \"{}\" returns a failed message at once: only the policy's limits apply; set retry_mode = \"delay\" to wait the backoff",
            g.name,
            backoff_name(p.backoff),
            g.retry_mode.word()
        ), None));
    }
}

/// Every finding for `m`, rule by rule.
pub fn lint(m: &Model) -> Vec<Finding> {
    let mut out = Vec::new();
    unused_backoffs(m, &mut out);
    retries_without_jitter(m, &mut out);
    for (qi, q) in m.queues.iter().enumerate() {
        let groups = m.groups.iter().filter(|g| g.queue == qi && g.log.is_none());
        for g in groups {
            let fails = g.failure > 0.0 || g.poison > 0.0;
            // A retry policy stops redeliveries only when it bounds the
            // attempts: one with a backoff alone retries forever too.
            let bounded = g.retry.as_ref().is_some_and(|r| r.max_attempts.is_some());
            if fails && q.max_deliveries.is_none() && !bounded && !g.ack_on_receive {
                out.push(finding("unlimited-deliveries", format!("queue `{}`", q.name), format!(
                    "consumer `{}` fails (failure {}, poison {}) and the queue has no max_deliveries: a poison message is redelivered forever; set max_deliveries (with a dead-letter queue) or a retry policy with max_attempts",
                    g.name, g.failure, g.poison
                ), None));
            }
            let p99 = service_p99_s(&g.service);
            if let Some(timeout) = q.ack_timeout_ns.map(|t| t as f64 / 1e9) {
                if p99 > timeout && g.extend_lease.is_none() && !g.ack_on_receive {
                    out.push(finding("ack-timeout-below-service", format!("queue `{}`", q.name), format!(
                        "ack_timeout {timeout} s is below consumer `{}`'s p99 processing time {p99:.3} s: more than 1% of deliveries outlast it and are redelivered while still being processed; raise ack_timeout above the p99 (or extend_lease)",
                        g.name
                    ), Some(p99)));
                }
            }
        }
    }
    for g in m.groups.iter() {
        let Some(log) = &g.log else { continue };
        let batch_s = log.max_poll_records as f64 * g.service.mean() / g.concurrency.max(1) as f64;
        let interval_s = log.max_poll_interval_ns as f64 / 1e9;
        if batch_s > interval_s {
            out.push(finding("poll-interval-below-batch", format!("consumer `{}`", g.name), format!(
                "max_poll_records {} x mean processing {:.3} s = {batch_s:.1} s per poll exceeds max_poll_interval {interval_s} s: the member is evicted mid-batch and its records are re-read; lower max_poll_records or raise max_poll_interval",
                log.max_poll_records,
                g.service.mean()
            ), Some(batch_s)));
        }
    }
    lapsing_leases(m, &mut out);
    celery_countdowns(m, &mut out);
    client_timeouts(m, &mut out);
    out
}

/// `celery-countdown-over-visibility-timeout`: Celery keeps a task retried
/// with a countdown (an ETA) in the worker, unacked, until it is due; on
/// the Redis and SQS transports the broker restores an unacked message
/// after `visibility_timeout`, so a countdown longer than it gives the task
/// to another worker too (Celery user guide, Redis caveats: "the task will
/// be redelivered to another worker and executed"). The model waits a
/// delayed retry at the broker, so it shows none of these duplicates: the
/// finding says so, with the longest mean retry delay.
fn celery_countdowns(m: &Model, out: &mut Vec<Finding>) {
    for g in m.groups.iter().filter(|g| g.log.is_none()) {
        let Some(q) = m.queues.get(g.queue) else {
            continue;
        };
        let celery = q.preset.as_deref().is_some_and(|p| p.starts_with("celery"));
        let (Some(policy), Some(timeout_ns)) = (&g.retry, q.ack_timeout_ns) else {
            continue;
        };
        if !celery || g.retry_mode != RetryMode::Delay {
            continue;
        }
        let retries = policy
            .max_attempts
            .map_or(30, |a| a.saturating_sub(1).min(30));
        let longest = (1..=retries)
            .filter_map(|r| policy.mean_delay_ns(r))
            .fold(0.0, f64::max);
        let timeout = timeout_ns as f64;
        if longest > timeout {
            out.push(finding("celery-countdown-over-visibility-timeout", format!("consumer `{}`", g.name), format!(
                "consumer `{}` retries after up to {:.0} s, longer than queue `{}`'s visibility timeout (ack_timeout {} s): Celery holds the countdown task unacked in the worker, so Redis or SQS gives it to another worker every {} s and it runs about {} times; the simulation waits the delay at the broker and shows none of these duplicates; keep countdowns below visibility_timeout (or raise it)",
                g.name,
                longest / 1e9,
                q.name,
                timeout / 1e9,
                timeout / 1e9,
                1 + ((longest - 1.0) / timeout).floor() as u64
            ), Some(longest / 1e9)));
        }
    }
}

/// `lease-lapses-between-extensions`: each extension sets the deadline
/// `by` after it arrives and the next arrives `every` later, so with
/// `every >= by` the deadline passes first (by the network's jitter, or
/// exactly at the next arrival): the broker redelivers what the consumer
/// is still working on, the duplicates the heartbeat was meant to end.
fn lapsing_leases(m: &Model, out: &mut Vec<Finding>) {
    for g in &m.groups {
        let Some(l) = g.extend_lease.filter(|l| l.every_ns >= l.by_ns) else {
            continue;
        };
        let (every_s, by_s) = (l.every_ns as f64 / 1e9, l.by_ns as f64 / 1e9);
        out.push(finding("lease-lapses-between-extensions", format!("consumer `{}`", g.name), format!(
            "consumer `{}` extends its lease every {every_s} s by {by_s} s: the lease runs out before the next extension arrives, and a delivery still in processing is redelivered; extend more often than `by` (every = by / 2 or less leaves room for a late or lost request)",
            g.name
        ), Some(every_s)));
    }
}

/// `retry-without-jitter`: more than one client (instances x concurrency
/// of a consumer, or any producer: it stands for its clients) retrying
/// without jitter.
fn retries_without_jitter(m: &Model, out: &mut Vec<Finding>) {
    for g in &m.groups {
        let clients = g.count * g.concurrency;
        let waited = waits_backoff(g.retry_mode);
        if let Some(p) = g.retry.as_ref().filter(|p| waited && lockstep(p)) {
            if clients > 1 && (g.failure > 0.0 || g.poison > 0.0) {
                out.push(finding("retry-without-jitter", format!("consumer `{}`", g.name), format!(
                    "{clients} consumers retry with backoff `{}` and no jitter: after a shared dependency fails they retry together; add jitter = \"full\"",
                    backoff_name(p.backoff)
                ), Some(clients as f64)));
            }
        }
    }
    // One `[[producer]]` stands for all its clients: a lockstep policy on
    // one producer is already many clients retrying in step, whenever a
    // client timeout, a refused publish or a confirm timeout hits them
    // all at once (the shared broker or dependency slowed down).
    for p in m.producers.iter() {
        let Some(policy) = p.retry.as_ref().filter(|r| lockstep(r)) else {
            continue;
        };
        out.push(finding("retry-without-jitter", format!("producer `{}`", p.name), format!(
            "producer `{}` stands for many clients that publish again with backoff `{}` and no jitter: when the shared broker or dependency slows down (a client timeout, a refused publish) they time out together and retry together; use a backoff with jitter = \"full\"",
            p.name,
            backoff_name(policy.backoff)
        ), None));
    }
}

fn backoff_name(b: BackoffKind) -> String {
    serde_json::to_value(b)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// `client-timeout-retries-unbounded` and `budget-percent-above-one`.
fn client_timeouts(m: &Model, out: &mut Vec<Finding>) {
    for p in &m.producers {
        let unbounded = p.retry.as_ref().is_some_and(|r| r.max_attempts.is_none());
        if p.timeout_ns.is_some() && unbounded && p.budget.is_none() {
            out.push(finding("client-timeout-retries-unbounded", format!("producer `{}`", p.name), format!(
                "producer `{}` publishes again on a client timeout with no max_attempts and no retry_budget: once the queue slows past the timeout, retries add load that keeps it slow (a metastable failure); set retry.max_attempts or a retry_budget",
                p.name
            ), None));
        }
    }
    let budgets = m
        .producers
        .iter()
        .map(|p| (format!("producer `{}`", p.name), &p.budget))
        .chain(
            m.groups
                .iter()
                .map(|g| (format!("consumer `{}`", g.name), &g.budget)),
        );
    for (who, b) in budgets {
        if let Some(RetryBudgetConfig::Percent { percent, .. }) = b {
            if *percent >= 2.0 {
                out.push(finding("budget-percent-above-one", who.clone(), format!(
                    "{who}: retry_budget.percent = {percent} allows {percent} retries per request (percent is retries per request: 0.1 means 10%)"
                ), Some(*percent)));
            }
        }
    }
}
