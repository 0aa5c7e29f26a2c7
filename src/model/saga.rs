//! Transactions and rollback in the model: consumers' side effects and sagas.

use super::*;

/// When a consumer's handler makes its external write (a database row, an
/// email, a call to another service) relative to its ack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SideEffect {
    /// No side effect is followed.
    #[default]
    None,
    /// Write, then ack: a crash before the ack lands redelivers the
    /// message, and its next processing writes again (a duplicate).
    BeforeAck,
    /// Ack, wait for the broker to take it, then write: a crash in between
    /// loses the write (the broker will not deliver the message again).
    AfterAck,
    /// Write before the ack, deduplicated by message id against the
    /// consumer's idempotency store (the id recorded with the write).
    Idempotent,
}

/// A saga: the queues of a pipeline (`steps`) and, per step, the queue
/// whose consumers undo it (`None`: nothing to undo).
#[derive(Clone, Debug)]
pub struct SagaModel {
    pub name: String,
    pub steps: Vec<usize>,
    pub compensations: Vec<Option<usize>>,
    /// Compensation starts when a step dead-letters the message (any reason).
    pub on_dead_letter: bool,
    /// Compensation starts on a non-retryable failure (dead-lettered or dropped).
    pub on_non_retryable: bool,
    /// All compensations at once (else one after the other, latest step first).
    pub parallel: bool,
}

/// The sagas, their queues resolved to indexes.
pub(super) fn compile_sagas(r: &Scenario) -> Result<Vec<SagaModel>, String> {
    let mut out = Vec::new();
    for saga in &r.sagas {
        let mut steps = Vec::new();
        for q in &saga.steps {
            steps.push(resolve_queue(r, &Some(q.clone()))?);
        }
        let mut compensations = Vec::new();
        for q in &saga.compensations {
            compensations.push(if q.is_empty() {
                None
            } else {
                Some(resolve_queue(r, &Some(q.clone()))?)
            });
        }
        let trigger = saga.trigger.unwrap_or(SagaTrigger::DeadLetter);
        out.push(SagaModel {
            name: saga.name.clone(),
            steps,
            compensations,
            on_dead_letter: matches!(trigger, SagaTrigger::DeadLetter | SagaTrigger::Both),
            on_non_retryable: matches!(trigger, SagaTrigger::NonRetryable | SagaTrigger::Both),
            parallel: saga.order == Some(SagaOrder::Parallel),
        });
    }
    Ok(out)
}

impl SideEffect {
    /// The mode a scenario names; none when unset.
    pub(super) fn named(mode: Option<SideEffectMode>) -> SideEffect {
        match mode {
            None => SideEffect::None,
            Some(SideEffectMode::BeforeAck) => SideEffect::BeforeAck,
            Some(SideEffectMode::AfterAck) => SideEffect::AfterAck,
            Some(SideEffectMode::Idempotent) => SideEffect::Idempotent,
        }
    }
}

impl Model {
    /// Whether any part of transactions and rollback is used: a consumer
    /// side effect, a saga, or a topic group that produces to a topic
    /// (a read-process-write pipeline, transactional or not).
    pub fn uses_transactions(&self) -> bool {
        self.groups
            .iter()
            .any(|g| g.side_effect != SideEffect::None)
            || !self.sagas.is_empty()
            || self
                .groups
                .iter()
                .any(|g| g.log.as_ref().is_some_and(|l| l.publish_to.is_some()))
    }
}
