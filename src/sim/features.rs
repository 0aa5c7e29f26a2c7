//! Which optional parts of the model a build of the simulator contains.
//!
//! Most scenarios use a few of the simulator's parts: an M/M/c queue with
//! retries and a dead-letter limit has no network, no faults, no topics,
//! no keys, no breakers. Yet every message paid, at every step, for
//! asking whether they were there: a load of the configuration and a
//! branch at each of some forty places, and the code around them that the
//! compiler had to keep (callgrind, 200k messages: those tests were 16% of
//! the instructions of `scenarios/bench/mm1.toml`, 15% of `retry.toml`).
//!
//! So the simulator is generic over a [`Features`] set, and every test of
//! an optional part is written `F::PART && ...`: a constant. [`Full`] has
//! every part and is what the tests of each part exercise; [`Core`] leaves
//! out the parts below, and costs nothing for them. A run takes `Core`
//! when the model uses none of them ([`Uses::of`], checked again by an
//! assertion when the simulator is built), `Full` otherwise. Both builds
//! are the same code: `Core` is `Full` with some branches known to be
//! untaken, so they give the same results byte for byte, and
//! `tests/builds.rs` checks that they do on every bundled scenario `Core`
//! supports and on random ones.
//!
//! Left in `Core`, tested at run time as before: several producers,
//! queues and groups, pipelines (`publish_to`), prefetch and concurrency,
//! both ack modes, ack timeouts, bounded queues and every overflow policy,
//! every retry mode and backoff, delivery limits and dead-lettering,
//! redrives, the orbit statistics of producer retries.

use crate::model::{Confirm, Model};

/// A set of optional parts of the model, fixed when the simulator is
/// compiled. Each constant says whether the build contains the part; a
/// build without it must only run models that do not use it.
pub trait Features: 'static {
    /// `[network]`: latency, loss and duplication on the wire.
    const NETWORK: bool;
    /// `[[fault]]`: consumer, producer and broker crashes, dependency
    /// outages and slowdowns, partitions; and autoscaling
    /// (`consumer.autoscale`), which starts and stops instances with the
    /// same machinery.
    const FAULTS: bool;
    /// `--trace`: the lives of chosen messages.
    const TRACE: bool;
    /// `[[topic]]`: partitioned logs and the consumer groups on them.
    const TOPICS: bool;
    /// Message keys: FIFO by key, the order check, resequencing.
    const KEYS: bool;
    /// Retry budgets, circuit breakers, idempotent consumers.
    const STRATEGIES: bool;
    /// The publisher's side: confirms, confirm and client timeouts, the
    /// outbox, and the broker's publish deduplication.
    const PUBLISHER: bool;
    /// Message and queue TTLs.
    const EXPIRY: bool;
    /// Poison messages and non-retryable failures.
    const POISON: bool;
    /// Leases and the broker-specific rules of returns: lease extension
    /// (`extend_lease`), crash returns after a delay (Kafka's session
    /// timeout), expired deadlines through the retry backoff (Pub/Sub),
    /// RabbitMQ 4.3's uncounted nacks and 4.x's nacks to the back.
    const LEASES: bool;
    /// Transactions and rollback: consumers' side effects, sagas and
    /// their compensations, transactional commits on the log.
    const TRANSACTIONS: bool;

    /// Whether this build can run a model that uses `uses`.
    fn supports(uses: &Uses) -> bool {
        (Self::NETWORK || !uses.network)
            && (Self::FAULTS || !uses.faults)
            && (Self::TRACE || !uses.trace)
            && (Self::TOPICS || !uses.topics)
            && (Self::KEYS || !uses.keys)
            && (Self::STRATEGIES || !uses.strategies)
            && (Self::PUBLISHER || !uses.publisher)
            && (Self::EXPIRY || !uses.expiry)
            && (Self::POISON || !uses.poison)
            && (Self::LEASES || !uses.leases)
            && (Self::TRANSACTIONS || !uses.transactions)
    }
}

/// Every part: the reference build.
pub struct Full;

impl Features for Full {
    const NETWORK: bool = true;
    const FAULTS: bool = true;
    const TRACE: bool = true;
    const TOPICS: bool = true;
    const KEYS: bool = true;
    const STRATEGIES: bool = true;
    const PUBLISHER: bool = true;
    const EXPIRY: bool = true;
    const POISON: bool = true;
    const LEASES: bool = true;
    const TRANSACTIONS: bool = true;
}

/// Queues, consumers, acks, retries and dead-lettering, without the
/// optional parts.
pub struct Core;

impl Features for Core {
    const NETWORK: bool = false;
    const FAULTS: bool = false;
    const TRACE: bool = false;
    const TOPICS: bool = false;
    const KEYS: bool = false;
    const STRATEGIES: bool = false;
    const PUBLISHER: bool = false;
    const EXPIRY: bool = false;
    const POISON: bool = false;
    const LEASES: bool = false;
    const TRANSACTIONS: bool = false;
}

/// Which optional parts a model (and a run of it) uses: one flag per
/// constant of [`Features`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uses {
    pub network: bool,
    pub faults: bool,
    pub trace: bool,
    pub topics: bool,
    pub keys: bool,
    pub strategies: bool,
    pub publisher: bool,
    pub expiry: bool,
    pub poison: bool,
    pub leases: bool,
    pub transactions: bool,
}

impl Uses {
    /// What model `m` uses, traced or not. Each flag is true when any
    /// setting that the part's code reads differs from its inert value.
    pub fn of(m: &Model, traced: bool) -> Uses {
        Uses {
            network: m.network.is_some(),
            faults: !m.faults.is_empty() || m.groups.iter().any(|g| g.autoscale.is_some()),
            trace: traced,
            topics: !m.topics.is_empty()
                || m.producers.iter().any(|p| p.topic.is_some())
                || m.groups.iter().any(|g| g.log.is_some()),
            keys: m.key_space > 0
                || m.producers.iter().any(|p| p.keys.is_some())
                || m.queues.iter().any(|q| q.fifo_by_key)
                || m.groups.iter().any(|g| g.resequence.is_some()),
            strategies: m.producers.iter().any(|p| p.budget.is_some())
                || m.groups
                    .iter()
                    .any(|g| g.budget.is_some() || g.breaker.is_some())
                || m.groups.iter().any(|g| g.idempotency_ns.is_some()),
            publisher: m.producers.iter().any(|p| {
                p.confirm != Confirm::None
                    || p.confirm_timeout_ns.is_some()
                    || p.timeout_ns.is_some()
                    || p.outbox
            }) || m.queues.iter().any(|q| q.dedup_window_ns.is_some()),
            expiry: m.producers.iter().any(|p| p.ttl_ns.is_some())
                || m.queues.iter().any(|q| q.ttl_ns.is_some()),
            poison: m
                .groups
                .iter()
                .any(|g| g.poison > 0.0 || g.non_retryable > 0.0),
            leases: m.groups.iter().any(|g| {
                g.extend_lease.is_some()
                    || (g.retry_mode == crate::model::RetryMode::Delay
                        && g.log.is_none()
                        && (m.queues[g.queue].delay_keeps_slot
                            || m.queues[g.queue].retry_due_first))
            }) || m.queues.iter().any(|q| {
                q.crash_requeue_after_ns.is_some()
                    || q.nacks_uncounted
                    || q.nack_to_back
                    || q.expiry_backoff
            }),
            transactions: m.uses_transactions(),
        }
    }
}

impl Uses {
    /// The optional parts used, by the names the README gives them.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.network, "network"),
            (self.faults, "faults"),
            (self.trace, "trace"),
            (self.topics, "topics"),
            (self.keys, "message keys"),
            (self.strategies, "retry budgets, breakers, idempotency"),
            (
                self.publisher,
                "publisher confirms, timeouts, outbox, dedup",
            ),
            (self.expiry, "TTLs"),
            (self.poison, "poison, non-retryable failures"),
            (self.leases, "leases and broker return rules"),
            (self.transactions, "side effects, sagas, transactions"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// Which build runs a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Build {
    /// The leanest build that supports the model: `Core` when it can.
    #[default]
    Auto,
    /// [`Full`], whatever the model uses: the reference that the lean
    /// build is tested against.
    Full,
}

impl Build {
    /// Whether a run of a model that uses `uses` takes the [`Core`] build.
    pub fn takes_core(self, uses: &Uses) -> bool {
        self == Build::Auto && Core::supports(uses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_supports_everything_and_core_nothing_optional() {
        let all = Uses {
            network: true,
            faults: true,
            trace: true,
            topics: true,
            keys: true,
            strategies: true,
            publisher: true,
            expiry: true,
            poison: true,
            leases: true,
            transactions: true,
        };
        assert!(Full::supports(&all));
        assert!(Core::supports(&Uses::default()));
        // Each part alone sends a model to the full build.
        let one_each = [
            Uses {
                network: true,
                ..Uses::default()
            },
            Uses {
                faults: true,
                ..Uses::default()
            },
            Uses {
                trace: true,
                ..Uses::default()
            },
            Uses {
                topics: true,
                ..Uses::default()
            },
            Uses {
                keys: true,
                ..Uses::default()
            },
            Uses {
                strategies: true,
                ..Uses::default()
            },
            Uses {
                publisher: true,
                ..Uses::default()
            },
            Uses {
                expiry: true,
                ..Uses::default()
            },
            Uses {
                poison: true,
                ..Uses::default()
            },
            Uses {
                leases: true,
                ..Uses::default()
            },
            Uses {
                transactions: true,
                ..Uses::default()
            },
        ];
        for u in one_each {
            assert!(!Core::supports(&u), "{u:?}");
            assert!(!Build::Auto.takes_core(&u), "{u:?}");
        }
        assert!(!Build::Full.takes_core(&Uses::default()));
    }
}
