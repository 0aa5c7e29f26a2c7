//! `[[queue]]`: limits, overflow, TTL, crash requeue, dead-letter redrive.

use super::*;

fn check_crash_requeue(p: &P, value: &str) -> Result<(), Invalid> {
    if CRASH_REQUEUES.contains(&value) {
        return Ok(());
    }
    match Duration::parse(value) {
        Ok(d) if d.ns() > 0 => Ok(()),
        Ok(_) => p.err("a crash requeue delay must be longer than zero (or \"immediate\")"),
        Err(_) => p.err(format!(
            "`{value}` is not allowed: give \"immediate\", \"ack-timeout\" or a duration after the crash (e.g. \"48s\": Kafka's session timeout and rebalance)"
        )),
    }
}

/// `dead_letter_expired = true` needs a dead-letter queue, and a broker
/// that dead-letters expired messages.
fn check_dead_letter_expired(p: &P, q: &QueueCfg) -> Result<(), Invalid> {
    if q.dead_letter_expired != Some(true) {
        return Ok(());
    }
    let preset = q
        .preset
        .as_deref()
        .and_then(crate::scenario::preset::preset)
        .unwrap_or_default();
    if let Some(reason) = preset.expiry_deletes {
        return p.key("dead_letter_expired").err(format!(
            "preset `{}` does not dead-letter expired messages: {reason}",
            preset.name
        ));
    }
    if !q.dead_letter.or(preset.dead_letter).unwrap_or(true) {
        return p.key("dead_letter_expired").err(
            "expired messages can go to the dead-letter queue only when there is one: set `dead_letter = true`, or leave `dead_letter_expired` out",
        );
    }
    Ok(())
}

pub(super) fn check_queues(s: &Scenario) -> Result<(), Invalid> {
    for (i, q) in s.queues.iter().enumerate() {
        let p = P::at("queue", i);
        if s.queues.len() > 1 && q.name.is_none() {
            return p.err("with several queues, each needs a `name`");
        }
        check_queue(&p, q)?;
    }
    Ok(())
}

fn check_queue(p: &P, q: &QueueCfg) -> Result<(), Invalid> {
    if let Some(pr) = &q.preset {
        crate::scenario::preset::check(pr).or_else(|m| p.key("preset").err(m))?;
    }
    if let Some(m) = &q.crash_requeue {
        check_crash_requeue(&p.key("crash_requeue"), m)?;
    }
    if q.max_deliveries == Some(Limit::Count(0)) {
        return p.key("max_deliveries").err(
            "max_deliveries must be at least 1 (\"unlimited\", or leaving it out, for no limit)",
        );
    }
    if q.sync_interval.is_some() && q.fsync_interval.is_some() {
        return p.key("sync_interval").err(
            "`sync_interval` (the NATS name) and `fsync_interval` are the same setting: give one",
        );
    }
    positive(&p.key("ack_timeout"), q.ack_timeout, "the ack timeout")?;
    positive(&p.key("ttl"), q.ttl, "the ttl")?;
    positive(&p.key("dedup_window"), q.dedup_window, "the dedup window")?;
    if let Some(b) = q.orbit_bound {
        if !(1..=100_000).contains(&b) {
            return p
                .key("orbit_bound")
                .err("the orbit bound must be from 1 to 100000 (omit it to size the chain automatically)");
        }
    }
    check_dead_letter_expired(p, q)?;
    if q.redrive.is_some() && q.dead_letter == Some(false) {
        return p.key("redrive").err("a redrive moves messages back from the dead-letter queue: it needs `dead_letter = true`");
    }
    if let Some(r) = &q.redrive {
        if !(r.rate > 0.0 && r.rate <= MAX_RATE) {
            return p
                .key("redrive")
                .key("rate")
                .err("the redrive rate must be above 0 and at most 1e9 per second");
        }
    }
    Ok(())
}
