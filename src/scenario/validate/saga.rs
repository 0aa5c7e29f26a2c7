//! Transactions and rollback: the consumers' side effects, sagas and
//! their compensations, transactional commits on the log.

use super::*;

/// When a handler's external write happens relative to its ack.
pub const SIDE_EFFECTS: [&str; 3] = ["before-ack", "after-ack", "idempotent"];

/// `side_effect`: one of [`SIDE_EFFECTS`], on a queue consumer that acks
/// after processing (an auto-acked message is gone before the handler
/// writes: its crash loses the message itself, counted in `lost`);
/// `idempotent` needs the idempotency store that deduplicates the write.
pub(super) fn check_side_effect(p: &P, c: &ConsumerCfg) -> Result<(), Invalid> {
    let Some(mode) = &c.side_effect else {
        return Ok(());
    };
    let pk = p.key("side_effect");
    one_of(&pk, mode, &SIDE_EFFECTS)?;
    if c.topic.is_some() {
        return pk.err("`side_effect` applies to queue consumers (a topic consumer's writes follow its `commit`)");
    }
    if c.ack.as_deref() == Some("on-receive") {
        return pk.err("an auto-acked message is settled before the handler writes: `side_effect` needs `ack = \"after-processing\"`");
    }
    if mode == "idempotent" && c.idempotency.is_none() {
        return pk.err("an idempotent write is deduplicated by the consumer's idempotency store: set `idempotency = { window = \"10m\" }`");
    }
    Ok(())
}
