//! RabbitMQ over AMQP 0-9-1 (lapin): one durable queue per scenario queue,
//! classic or quorum (`x-queue-type`), with its limits as queue arguments
//! (`x-delivery-limit`, `x-message-ttl`, `x-max-length` + `x-overflow`);
//! persistent publishes with publisher confirms (a nack is a refused
//! publish); one channel per consumer instance with `basic.qos` as its
//! prefetch. Every message the broker removes unprocessed (delivery limit,
//! TTL, the head of a full drop-head queue) is dead-lettered through the
//! default exchange into the queue's own `.dead` queue, whose reason
//! (`x-first-death-reason`) says how to count it: so each removal is
//! observed, not inferred.

use super::measure::{Ledger, PublishOutcome, Removal};
use super::plan::{LivePlan, QueuePlan};
use super::{Broker, Delivery, Next, Receiver};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A connection to a RabbitMQ broker and the queues of the plan.
pub struct Rabbit {
    connection: Connection,
    publisher: Channel,
    plan: LivePlan,
    version: String,
    /// Per consumer instance, (queue, id) of the deliveries it holds
    /// unacknowledged: the broker still holds them too.
    unacked: Mutex<Vec<Held>>,
    /// A handle on every consumer instance's channel: lapin closes a
    /// channel when its last handle goes, and a closed channel's
    /// deliveries are requeued; these keep them open (and held) until the
    /// queues are deleted, whenever the workers stop.
    consumer_channels: Mutex<Vec<Channel>>,
    /// (queue, id) of every message the queues still held when the
    /// consumers had stopped; `None` before.
    inventory: Mutex<Option<HashSet<(usize, u64)>>>,
}

/// What one consumer instance holds unacknowledged.
type Held = Arc<Mutex<HashSet<(usize, u64)>>>;

/// The dead-letter queue of a queue: the default exchange routes to it.
fn dead_queue(q: &QueuePlan) -> String {
    format!("{}.dead", q.broker_name)
}

/// The header counting the attempts a message made before its copy went
/// through a delay queue: a republished copy's own delivery count starts
/// again from nothing.
const ATTEMPTS_HEADER: &str = "mqsim-attempts";

/// The delay queue of queue `q` for a retry `wall` later: its TTL
/// dead-letters each copy back to `q` through the default exchange.
fn delay_queue(q: &QueuePlan, wall: Duration) -> String {
    format!("{}.delay-{}ms", q.broker_name, delay_ms(wall))
}

/// A delay in whole milliseconds (RabbitMQ's TTL unit), at least 1.
fn delay_ms(wall: Duration) -> u64 {
    ((wall.as_nanos() as f64 / 1e6).round() as u64).max(1)
}

/// Every delay (wall time) a delayed retry of a consumer group of queue
/// `queue` may wait, one per retry the attempts allow: the plan refuses a
/// policy whose delays are drawn (jitter, Sidekiq) or unbounded in count,
/// so they are known before the run.
fn retry_delays(plan: &LivePlan, queue: usize) -> Vec<Duration> {
    let mut delays: Vec<Duration> = Vec::new();
    let mut no_draws = <crate::rng::Stream as rand::SeedableRng>::seed_from_u64(0);
    for g in plan.groups.iter().filter(|g| g.queue == queue) {
        let (Some(policy), Some(limit)) = (&g.retry_delay, g.max_deliveries) else {
            continue;
        };
        for retry in 1..limit {
            let ns = policy.delay_ns(retry, 0, &mut no_draws);
            let wall = Duration::from_nanos(super::plan::LivePlan::wall_ns(plan.speed, ns));
            if !delays.iter().any(|d| delay_ms(*d) == delay_ms(wall)) {
                delays.push(wall);
            }
        }
    }
    delays
}

/// The queues of queue `q` beside it: its dead-letter queue and its delay
/// queues.
fn side_queues(plan: &LivePlan, queue: usize) -> Vec<String> {
    let q = &plan.queues[queue];
    let mut names = vec![dead_queue(q)];
    names.extend(
        retry_delays(plan, queue)
            .into_iter()
            .map(|d| delay_queue(q, d)),
    );
    names
}

/// A delay queue's arguments: its TTL, and the way back to `q`.
fn delay_arguments(q: &QueuePlan, wall: Duration) -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), text("classic"));
    arguments.insert(
        "x-message-ttl".into(),
        AMQPValue::LongLongInt(delay_ms(wall) as i64),
    );
    arguments.insert("x-dead-letter-exchange".into(), text(""));
    arguments.insert("x-dead-letter-routing-key".into(), text(&q.broker_name));
    arguments
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// The queue's arguments: its type, its dead-letter route and its limits.
/// The scenario's `max_deliveries` counts deliveries in all; RabbitMQ
/// dead-letters a message when its count of returns *exceeds*
/// `x-delivery-limit`, so k deliveries are a limit of k - 1 (found on
/// 3.10.8: limit 2 gives 3 deliveries, README "Checked against real
/// brokers").
fn queue_arguments(q: &QueuePlan) -> FieldTable {
    let mut arguments = FieldTable::default();
    let queue_type = if q.quorum { "quorum" } else { "classic" };
    arguments.insert("x-queue-type".into(), text(queue_type));
    arguments.insert("x-dead-letter-exchange".into(), text(""));
    arguments.insert("x-dead-letter-routing-key".into(), text(&dead_queue(q)));
    if let Some(k) = q.max_deliveries {
        let limit = i64::from(k.saturating_sub(1));
        arguments.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(limit));
    }
    if let Some(ttl_ns) = q.max_age_ns {
        let ttl_ms = (ttl_ns as f64 / 1e6).round().max(1.0) as i64;
        arguments.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl_ms));
    }
    if let Some(capacity) = q.capacity {
        arguments.insert(
            "x-max-length".into(),
            AMQPValue::LongLongInt(capacity as i64),
        );
        let overflow = if q.drop_oldest {
            "drop-head"
        } else {
            "reject-publish"
        };
        arguments.insert("x-overflow".into(), text(overflow));
    }
    arguments
}

/// The server's version from its `connection.start` properties (lapin
/// does not keep them): a second, bare connection reads the frame.
fn probe_version(url: &str) -> Option<String> {
    let uri: lapin::uri::AMQPUri = url.parse().ok()?;
    let address = format!("{}:{}", uri.authority.host, uri.authority.port);
    let socket_address = std::net::ToSocketAddrs::to_socket_addrs(&address)
        .ok()?
        .next()?;
    let timeout = Duration::from_secs(3);
    let mut stream = std::net::TcpStream::connect_timeout(&socket_address, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(b"AMQP\x00\x00\x09\x01").ok()?;
    let mut frame = Vec::new();
    let mut buffer = [0u8; 4096];
    while frame.len() < 65_536 {
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 {
            break;
        }
        frame.extend_from_slice(&buffer[..n]);
        if let Some(version) = version_in(&frame) {
            return Some(version);
        }
    }
    None
}

/// The `version` entry (a long string) of a server-properties table.
fn version_in(frame: &[u8]) -> Option<String> {
    let key = b"\x07versionS";
    let at = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let length = u32::from_be_bytes(frame.get(at..at + 4)?.try_into().ok()?) as usize;
    let value = frame.get(at + 4..at + 4 + length)?;
    Some(String::from_utf8_lossy(value).into_owned())
}

impl Rabbit {
    /// Connects to `url` (guest/guest unless the URL names a user); a
    /// broker that does not answer within 10 s, or refuses the login, is
    /// an error naming it.
    pub async fn connect(
        url: &str,
        plan: &LivePlan,
        known_version: &str,
    ) -> Result<Rabbit, String> {
        let connecting = Connection::connect(url, ConnectionProperties::default());
        let connection = match tokio::time::timeout(Duration::from_secs(10), connecting).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(format!("cannot reach the RabbitMQ broker at {url}: {e}")),
            Err(_) => {
                return Err(format!(
                    "cannot reach the RabbitMQ broker at {url}: no answer within 10 s"
                ))
            }
        };
        let publisher = connection
            .create_channel()
            .await
            .map_err(|e| format!("cannot open a channel on {url}: {e}"))?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| format!("cannot turn on publisher confirms on {url}: {e}"))?;
        let probe_url = url.to_string();
        let probed = tokio::task::spawn_blocking(move || probe_version(&probe_url))
            .await
            .ok()
            .flatten();
        Ok(Rabbit {
            connection,
            publisher,
            plan: plan.clone(),
            version: probed.unwrap_or_else(|| known_version.to_string()),
            unacked: Mutex::new(Vec::new()),
            consumer_channels: Mutex::new(Vec::new()),
            inventory: Mutex::new(None),
        })
    }

    async fn channel(&self) -> Result<Channel, String> {
        self.connection
            .create_channel()
            .await
            .map_err(|e| format!("cannot open a channel: {e}"))
    }

    /// Every message id queue `queue` holds, read with `basic.get` and
    /// left unacknowledged (the channel's close puts them back).
    /// A copy waiting in a delay queue counts as held by its queue.
    async fn holdings(&self, queue: usize) -> Result<Vec<u64>, String> {
        let channel = self.channel().await?;
        let q = &self.plan.queues[queue];
        let mut names = vec![q.broker_name.clone()];
        names.extend(
            retry_delays(&self.plan, queue)
                .into_iter()
                .map(|d| delay_queue(q, d)),
        );
        let mut ids = Vec::new();
        for name in names {
            while let Some(message) = channel
                .basic_get(name.as_str().into(), BasicGetOptions { no_ack: false })
                .await
                .map_err(|e| format!("basic.get on {name}: {e}"))?
            {
                if let Some(id) = message_id(&message.delivery.properties) {
                    ids.push(id);
                }
            }
        }
        let _ = channel.close(200, "inventory taken".into()).await;
        Ok(ids)
    }
}

/// The id the producer wrote into the message (`message-id`).
fn message_id(properties: &BasicProperties) -> Option<u64> {
    properties.message_id().as_ref()?.as_str().parse().ok()
}

fn header<'a>(properties: &'a BasicProperties, key: &str) -> Option<&'a AMQPValue> {
    properties.headers().as_ref()?.inner().get(key)
}

fn as_count(value: &AMQPValue) -> Option<u64> {
    match value {
        AMQPValue::LongLongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(u64::from(*n)),
        AMQPValue::ShortInt(n) => u64::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u64::from(*n)),
        AMQPValue::ShortShortInt(n) => u64::try_from(*n).ok(),
        AMQPValue::ShortShortUInt(n) => Some(u64::from(*n)),
        _ => None,
    }
}

fn as_text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// Why a dead-lettered message left its queue: the first `x-death`
/// entry's reason (the latest death: a retry's copy died once already,
/// expiring in its delay queue), else `x-first-death-reason`.
fn death_reason(properties: &BasicProperties) -> Option<String> {
    let latest = match header(properties, "x-death") {
        Some(AMQPValue::FieldArray(deaths)) => match deaths.as_slice().first() {
            Some(AMQPValue::FieldTable(entry)) => entry.inner().get("reason").and_then(as_text),
            _ => None,
        },
        _ => None,
    };
    latest.or_else(|| header(properties, "x-first-death-reason").and_then(as_text))
}

/// How a dead-letter reason counts, as the model counts it: RabbitMQ
/// dead-letters whatever the queue removes (past the TTL, dropped from a
/// full drop-head queue's head, over the delivery limit, rejected) where
/// the queue has a dead-letter exchange, and drops it where it has none;
/// the run's own dead-letter route observes both.
pub fn removal_of(reason: &str, q: &QueuePlan) -> Option<Removal> {
    let dead_lettered = match reason {
        "expired" if !q.expired_dead_lettered => return Some(Removal::Expired),
        "expired" => true,
        "maxlen" => q.dropped_head_dead_lettered,
        "delivery_limit" | "rejected" => q.dead_letter,
        _ => return None,
    };
    Some(if dead_lettered {
        Removal::DeadLettered
    } else {
        Removal::Dropped
    })
}

impl Broker for Rabbit {
    type Delivery = RabbitDelivery;
    type Receiver = RabbitReceiver;

    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    fn version(&self) -> String {
        self.version.clone()
    }

    async fn declare(&self) -> Result<(), String> {
        let channel = self.channel().await?;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        // A run starts from empty queues: those of an earlier run on the
        // same broker are replaced (deleting a missing queue is not an
        // error in AMQP 0-9-1).
        for (queue, q) in self.plan.queues.iter().enumerate() {
            let mut names = vec![q.broker_name.clone()];
            names.extend(side_queues(&self.plan, queue));
            for name in names {
                channel
                    .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                    .await
                    .map_err(|e| format!("cannot delete queue {name}: {e}"))?;
            }
            for wall in retry_delays(&self.plan, queue) {
                let name = delay_queue(q, wall);
                channel
                    .queue_declare(name.as_str().into(), durable, delay_arguments(q, wall))
                    .await
                    .map_err(|e| format!("cannot declare queue {name}: {e}"))?;
            }
            let dead = dead_queue(q);
            channel
                .queue_declare(dead.as_str().into(), durable, FieldTable::default())
                .await
                .map_err(|e| format!("cannot declare queue {dead}: {e}"))?;
            channel
                .queue_declare(q.broker_name.as_str().into(), durable, queue_arguments(q))
                .await
                .map_err(|e| format!("cannot declare queue {}: {e}", q.broker_name))?;
        }
        let _ = channel.close(200, "declared".into()).await;
        Ok(())
    }

    async fn publish(
        &self,
        queue: usize,
        id: u64,
        _sent_wall_ns: u64,
    ) -> Result<PublishOutcome, String> {
        let name = &self.plan.queues[queue].broker_name;
        // Persistent (delivery mode 2): confirmed once written.
        let properties = BasicProperties::default()
            .with_message_id(id.to_string().into())
            .with_delivery_mode(2);
        let confirm = self
            .publisher
            .basic_publish(
                "".into(),
                name.as_str().into(),
                BasicPublishOptions::default(),
                &id.to_be_bytes(),
                properties,
            )
            .await
            .map_err(|e| format!("publish to {name}: {e}"))?
            .await
            .map_err(|e| format!("publish to {name}: {e}"))?;
        // reject-publish on a full queue nacks the publish.
        if confirm.is_nack() {
            Ok(PublishOutcome::Rejected)
        } else {
            // The id stands for the broker's sequence: RabbitMQ has none.
            Ok(PublishOutcome::Accepted(id))
        }
    }

    async fn receiver(&self, group: usize) -> Result<RabbitReceiver, String> {
        let g = &self.plan.groups[group];
        let q = &self.plan.queues[g.queue];
        let channel = self.channel().await?;
        if !g.ack_on_receive {
            // Per consumer (global = false): the scenario's prefetch is per instance.
            let prefetch = g.prefetch.min(u32::from(u16::MAX)) as u16;
            channel
                .basic_qos(prefetch, BasicQosOptions { global: false })
                .await
                .map_err(|e| format!("basic.qos on {}: {e}", q.broker_name))?;
        }
        let options = BasicConsumeOptions {
            no_ack: g.ack_on_receive,
            ..Default::default()
        };
        let consumer = channel
            .basic_consume(
                q.broker_name.as_str().into(),
                "".into(),
                options,
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("basic.consume on {}: {e}", q.broker_name))?;
        if let Ok(mut channels) = self.consumer_channels.lock() {
            channels.push(channel.clone());
        }
        let unacked = Held::default();
        if let Ok(mut all) = self.unacked.lock() {
            all.push(unacked.clone());
        }
        Ok(RabbitReceiver {
            consumer,
            channel: channel.clone(),
            queue_plan: q.clone(),
            queue: g.queue,
            auto_ack: g.ack_on_receive,
            reject: g.reject,
            unacked,
        })
    }

    async fn watch_dead_letters(&self, ledger: Arc<Mutex<Ledger>>) -> Result<(), String> {
        for q in &self.plan.queues {
            let channel = self.channel().await?;
            let dead = dead_queue(q);
            let options = BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            };
            let mut consumer = channel
                .basic_consume(
                    dead.as_str().into(),
                    "".into(),
                    options,
                    FieldTable::default(),
                )
                .await
                .map_err(|e| format!("basic.consume on {dead}: {e}"))?;
            let ledger = ledger.clone();
            let queue = q.clone();
            tokio::spawn(async move {
                // The channel lives as long as the watch.
                let _channel = channel;
                while let Some(Ok(delivery)) = consumer.next().await {
                    let id = message_id(&delivery.properties);
                    let reason = death_reason(&delivery.properties);
                    let removal = reason.as_deref().and_then(|r| removal_of(r, &queue));
                    if let (Some(id), Some(removal)) = (id, removal) {
                        if let Ok(mut l) = ledger.lock() {
                            l.removed(id, removal);
                        }
                    }
                }
            });
        }
        Ok(())
    }

    async fn stored(&self, queue: usize, sequence: u64) -> Result<bool, String> {
        // Before the inventory, a message the broker has not reported
        // removed is still held (every removal is dead-lettered to us).
        let inventory = self
            .inventory
            .lock()
            .map_err(|_| "the inventory was poisoned".to_string())?;
        Ok(inventory
            .as_ref()
            .is_none_or(|held| held.contains(&(queue, sequence))))
    }

    /// The inventory: the ready messages (read with `basic.get`, not
    /// acked) and the deliveries the stopped consumers held unacked. The
    /// consumers' channels stay open until the queues are deleted: closing
    /// them would requeue their deliveries, and on a full drop-head queue
    /// the broker would drop the head for them.
    async fn consumers_stopped(&self) -> Result<(), String> {
        let mut held = HashSet::new();
        let instances = self
            .unacked
            .lock()
            .map(|all| all.clone())
            .map_err(|_| "the unacked sets were poisoned".to_string())?;
        for instance in instances {
            if let Ok(set) = instance.lock() {
                held.extend(set.iter().copied());
            }
        }
        for queue in 0..self.plan.queues.len() {
            for id in self.holdings(queue).await? {
                held.insert((queue, id));
            }
        }
        if let Ok(mut inventory) = self.inventory.lock() {
            *inventory = Some(held);
        }
        Ok(())
    }

    fn held(&self) -> Vec<(usize, u64)> {
        let mut held: Vec<(usize, u64)> = self
            .unacked
            .lock()
            .map(|all| {
                all.iter()
                    .filter_map(|set| {
                        set.lock()
                            .ok()
                            .map(|s| s.iter().copied().collect::<Vec<_>>())
                    })
                    .flatten()
                    .collect()
            })
            .unwrap_or_default();
        held.sort_unstable();
        held
    }

    fn adopt_held(&self, held: Vec<(usize, u64)>) {
        let set: Held = Arc::new(Mutex::new(held.into_iter().collect()));
        if let Ok(mut all) = self.unacked.lock() {
            all.push(set);
        }
    }

    async fn remove(&self) -> Result<(), String> {
        let channel = self.channel().await?;
        for (queue, q) in self.plan.queues.iter().enumerate() {
            let mut names = vec![q.broker_name.clone()];
            names.extend(side_queues(&self.plan, queue));
            for name in names {
                let _ = channel
                    .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
        }
        let _ = self.connection.close(200, "run over".into()).await;
        Ok(())
    }
}

/// One consumer instance's deliveries, on a channel of its own.
pub struct RabbitReceiver {
    consumer: lapin::Consumer,
    /// The instance's channel: a delayed retry's copy is published on it.
    channel: Channel,
    queue_plan: QueuePlan,
    queue: usize,
    auto_ack: bool,
    reject: bool,
    unacked: Held,
}

impl Receiver for RabbitReceiver {
    type Delivery = RabbitDelivery;
    async fn next(&mut self) -> Option<Result<RabbitDelivery, String>> {
        match self.consumer.next().await? {
            Ok(delivery) => {
                let id = message_id(&delivery.properties);
                if let (Some(id), false) = (id, self.auto_ack) {
                    if let Ok(mut unacked) = self.unacked.lock() {
                        unacked.insert((self.queue, id));
                    }
                }
                Some(Ok(RabbitDelivery {
                    delivery,
                    channel: self.channel.clone(),
                    queue_plan: self.queue_plan.clone(),
                    queue: self.queue,
                    auto_ack: self.auto_ack,
                    reject: self.reject,
                    unacked: self.unacked.clone(),
                }))
            }
            Err(e) => Some(Err(e.to_string())),
        }
    }
}

pub struct RabbitDelivery {
    delivery: lapin::message::Delivery,
    channel: Channel,
    queue_plan: QueuePlan,
    queue: usize,
    auto_ack: bool,
    reject: bool,
    unacked: Held,
}

impl RabbitDelivery {
    /// The consumer no longer holds it (acked, or returned to the queue).
    fn settled(&self) {
        if let (Some(id), Ok(mut unacked)) = (self.id(), self.unacked.lock()) {
            unacked.remove(&(self.queue, id));
        }
    }

    /// `basic.reject`: back to the queue, or (without requeue) out through
    /// the queue's dead-letter route.
    async fn reject(&self, requeue: bool) -> Result<(), String> {
        self.settled();
        self.delivery
            .acker
            .reject(BasicRejectOptions { requeue })
            .await
            .map(|_| ())
            .map_err(|e| format!("basic.reject: {e}"))
    }
}

impl Delivery for RabbitDelivery {
    fn id(&self) -> Option<u64> {
        message_id(&self.delivery.properties)
    }

    /// A quorum queue writes the returns so far into `x-delivery-count`;
    /// a classic queue only marks a redelivery. A copy that came back
    /// through a delay queue adds the attempts made before it.
    fn delivery_count(&self) -> u64 {
        let properties = &self.delivery.properties;
        let before = header(properties, ATTEMPTS_HEADER)
            .and_then(as_count)
            .unwrap_or(0);
        let this_copy = match header(properties, "x-delivery-count").and_then(as_count) {
            Some(returns) => returns + 1,
            None if self.delivery.redelivered => 2,
            None => 1,
        };
        before + this_copy
    }

    async fn ack(&self) -> Result<(), String> {
        if self.auto_ack {
            // basic.consume with no_ack: the broker forgot it at delivery.
            return Ok(());
        }
        self.settled();
        self.delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .map_err(|e| format!("basic.ack: {e}"))
    }

    async fn nack(&self) -> Result<(), String> {
        if self.reject {
            return self.reject(true).await;
        }
        self.settled();
        let options = BasicNackOptions {
            multiple: false,
            requeue: true,
        };
        self.delivery
            .acker
            .nack(options)
            .await
            .map(|_| ())
            .map_err(|e| format!("basic.nack: {e}"))
    }

    /// A delayed retry: a copy, with the attempts so far in its headers,
    /// goes to the delay queue of that TTL, which dead-letters it back to
    /// the tail of the queue when it expires; then the delivery is acked
    /// (on the same channel, so the broker has routed the copy first).
    /// The last attempt is rejected without requeue: the queue's
    /// dead-letter route reports it (reason `rejected`).
    async fn retry(&self, next: Next) -> Result<(), String> {
        let Next::After(wall) = next else {
            return self.reject(false).await;
        };
        let name = delay_queue(&self.queue_plan, wall);
        let mut headers = self
            .delivery
            .properties
            .headers()
            .clone()
            .unwrap_or_default();
        headers.insert(
            ATTEMPTS_HEADER.into(),
            AMQPValue::LongLongInt(self.delivery_count() as i64),
        );
        let properties = self.delivery.properties.clone().with_headers(headers);
        self.channel
            .basic_publish(
                "".into(),
                name.as_str().into(),
                BasicPublishOptions::default(),
                &self.delivery.data,
                properties,
            )
            .await
            .map_err(|e| format!("publish to {name}: {e}"))?;
        self.ack().await
    }
}
