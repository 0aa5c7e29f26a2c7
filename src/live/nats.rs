//! NATS JetStream: one stream per queue (work-queue retention, file
//! storage), one durable pull consumer per consumer group with explicit
//! acks, and the MAX_DELIVERIES advisory as the dead-letter record. Also
//! the private `nats-server -js` that `--spawn nats` starts and always
//! stops.

use super::measure::{Ledger, PublishOutcome};
use super::plan::LivePlan;
use super::{Broker, Delivery, Next, Receiver};
use async_nats::connection::State;
use async_nats::jetstream::{self, consumer, stream, AckKind};
use futures_util::StreamExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Header holding the message id the producer gave it.
pub const ID_HEADER: &str = "Mqsim-Id";
/// Header holding the publish time, wall nanoseconds since the run began.
pub const SENT_HEADER: &str = "Mqsim-Sent-Ns";

/// A `nats-server` this process started, with its data folder: dropping
/// it kills the server, waits for it and removes the folder, on success,
/// on error and on Ctrl-C alike.
pub struct SpawnedServer {
    child: Option<Child>,
    data_dir: PathBuf,
    port: u16,
    pub url: String,
}

impl SpawnedServer {
    /// Starts `nats-server -js` on a free loopback port with a fresh data
    /// folder and waits until it accepts connections.
    pub fn start() -> Result<SpawnedServer, String> {
        let port = free_port()?;
        let data_dir =
            std::env::temp_dir().join(format!("mqsim-live-nats-{}-{}", std::process::id(), port));
        std::fs::create_dir_all(&data_dir).map_err(|e| {
            format!(
                "cannot create the broker's data folder {}: {e}",
                data_dir.display()
            )
        })?;
        let mut server = SpawnedServer {
            child: None,
            data_dir,
            port,
            url: format!("nats://127.0.0.1:{port}"),
        };
        server.launch()?;
        Ok(server)
    }

    /// Starts the server process on this server's port and data folder
    /// and waits until it accepts connections.
    fn launch(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "a second nats-server on one port");
        let port = self.port;
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A process group of its own: a terminal's Ctrl-C reaches
            // mqsim alone, which stops the server after the run's end.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start nats-server (is it on PATH? Debian: apt-get install nats-server): {e}"))?;
        self.child = Some(child);
        self.wait_ready(port)
    }

    /// A process crash: SIGKILL, then the process is reaped. What the
    /// server wrote stays in its data folder (the page cache keeps what
    /// was not fsynced), as after a real `kill -9`.
    pub fn crash(&mut self) {
        let mut child = self
            .child
            .take()
            .expect("the crashed nats-server was running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the crashed server again on its port and data folder (a
    /// server still running is left as it is).
    pub fn restart(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Ok(());
        }
        self.launch()
    }

    fn wait_ready(&mut self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!(
                        "nats-server exited at start ({status}); port {port}"
                    ));
                }
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "nats-server did not accept connections on 127.0.0.1:{port} within 10 s"
        ))
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A free loopback port: bind port 0 and read what the system chose.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| format!("cannot find a free local port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free local port: {e}"))
}

/// A connection to a JetStream server and the names the plan declared.
pub struct Nats {
    client: async_nats::Client,
    context: jetstream::Context,
    plan: LivePlan,
}

impl Nats {
    /// Connects to `url`; a broker that does not answer within 5 s is an
    /// error naming it.
    pub async fn connect(url: &str, plan: &LivePlan) -> Result<Nats, String> {
        // Reconnecting every 2 ms (not the client's growing backoff): a
        // restarted broker is reached again at once, as the simulation
        // has it, rather than seconds after it came back. Each client
        // (the producer, every worker) comes back at its own point of that
        // cycle, and a message published before its consumer is back
        // waits for it: at 20 ms this added up to 20 ms of wall time to a
        // delivery after the restart (40 ms of scenario time at --speed 2).
        let options = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .reconnect_delay_callback(|_| Duration::from_millis(2));
        let connecting = options.connect(url);
        let client = match tokio::time::timeout(Duration::from_secs(5), connecting).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(format!("cannot reach the NATS broker at {url}: {e}")),
            Err(_) => {
                return Err(format!(
                    "cannot reach the NATS broker at {url}: no answer within 5 s"
                ))
            }
        };
        let context = jetstream::new(client.clone());
        Ok(Nats {
            client,
            context,
            plan: plan.clone(),
        })
    }

    fn subject(&self, queue: usize) -> String {
        format!("{}.messages", self.plan.queues[queue].broker_name)
    }

    async fn stream(&self, queue: usize) -> Result<stream::Stream, String> {
        let name = &self.plan.queues[queue].broker_name;
        self.context
            .get_stream(name)
            .await
            .map_err(|e| format!("stream {name}: {e}"))
    }
}

impl Broker for Nats {
    type Delivery = NatsDelivery;
    type Receiver = NatsReceiver;

    fn name(&self) -> &'static str {
        "nats"
    }

    fn version(&self) -> String {
        self.client.server_info().version
    }

    async fn declare(&self) -> Result<(), String> {
        for (qi, q) in self.plan.queues.iter().enumerate() {
            // A run starts from an empty queue: a stream left by an earlier
            // run on the same broker is replaced.
            let _ = self.context.delete_stream(&q.broker_name).await;
            let config = stream::Config {
                name: q.broker_name.clone(),
                subjects: vec![self.subject(qi)],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                max_messages: q.capacity.map_or(-1, |c| c as i64),
                discard: if q.drop_oldest {
                    stream::DiscardPolicy::Old
                } else {
                    stream::DiscardPolicy::New
                },
                max_age: q.max_age_ns.map_or(Duration::ZERO, Duration::from_nanos),
                ..Default::default()
            };
            self.context
                .create_stream(config)
                .await
                .map_err(|e| format!("cannot create stream {}: {e}", q.broker_name))?;
        }
        for g in &self.plan.groups {
            let q = &self.plan.queues[g.queue];
            let config = consumer::pull::Config {
                durable_name: Some(g.broker_name.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_nanos(q.ack_wait_ns),
                max_deliver: g.max_deliveries.map_or(-1, |k| k as i64),
                // MaxAckPending bounds the consumer's unacked deliveries;
                // the scenario's prefetch is per instance.
                max_ack_pending: (g.prefetch as i64) * (g.count as i64),
                ..Default::default()
            };
            let stream = self.stream(g.queue).await?;
            stream.create_consumer(config).await.map_err(|e| {
                format!(
                    "cannot create consumer {} on {}: {e}",
                    g.broker_name, q.broker_name
                )
            })?;
        }
        Ok(())
    }

    async fn publish(
        &self,
        queue: usize,
        id: u64,
        sent_wall_ns: u64,
    ) -> Result<PublishOutcome, String> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(ID_HEADER, id.to_string().as_str());
        headers.insert(SENT_HEADER, sent_wall_ns.to_string().as_str());
        let crashes = !self.plan.broker_crashes.is_empty();
        if crashes && self.client.connection_state() != State::Connected {
            // The client would keep the publish in its reconnect buffer
            // and send it after the restart; mqsim's producers publish as
            // a client without one (nats.go's ReconnectBufSize = -1):
            // refused while the broker is down, as the simulation has it.
            return Ok(PublishOutcome::Refused);
        }
        let subject = self.subject(queue);
        let answer = match self
            .context
            .publish_with_headers(subject, headers, "".into())
            .await
        {
            Ok(pending) => pending.await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(ack) => Ok(PublishOutcome::Accepted(ack.sequence)),
            // DiscardNew on a full stream: "maximum messages exceeded".
            Err(e) if e.to_string().contains("maximum messages") => Ok(PublishOutcome::Rejected),
            // The broker went down while the publish was on its way.
            Err(_) if crashes => Ok(PublishOutcome::Refused),
            Err(e) => Err(format!(
                "publish to {}: {e}",
                self.plan.queues[queue].broker_name
            )),
        }
    }

    async fn receiver(&self, group: usize) -> Result<NatsReceiver, String> {
        let g = &self.plan.groups[group];
        let stream = self.stream(g.queue).await?;
        let consumer: consumer::PullConsumer = stream
            .get_consumer(&g.broker_name)
            .await
            .map_err(|e| format!("consumer {}: {e}", g.broker_name))?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(g.prefetch as usize)
            .heartbeat(Duration::from_secs(1))
            .expires(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| format!("consumer {}: {e}", g.broker_name))?;
        Ok(NatsReceiver {
            messages,
            crashes: !self.plan.broker_crashes.is_empty(),
        })
    }

    async fn watch_dead_letters(&self, ledger: Arc<Mutex<Ledger>>) -> Result<(), String> {
        for g in &self.plan.groups {
            let q = &self.plan.queues[g.queue];
            let subject = format!(
                "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.{}",
                q.broker_name, g.broker_name
            );
            let mut advisories = self
                .client
                .subscribe(subject.clone())
                .await
                .map_err(|e| format!("subscribe {subject}: {e}"))?;
            let ledger = ledger.clone();
            let queue = g.queue;
            tokio::spawn(async move {
                while let Some(message) = advisories.next().await {
                    let parsed: Result<serde_json::Value, _> =
                        serde_json::from_slice(&message.payload);
                    if let Some(sequence) = parsed.ok().and_then(|v| v["stream_seq"].as_u64()) {
                        if let Ok(mut l) = ledger.lock() {
                            l.dead_lettered(queue, sequence);
                        }
                    }
                }
            });
        }
        // The subscriptions are live at the server before anything publishes.
        self.client.flush().await.map_err(|e| format!("flush: {e}"))
    }

    async fn stored(&self, queue: usize, sequence: u64) -> Result<bool, String> {
        let stream = self.stream(queue).await?;
        Ok(stream.get_raw_message(sequence).await.is_ok())
    }

    async fn remove(&self) -> Result<(), String> {
        for q in &self.plan.queues {
            let _ = self.context.delete_stream(&q.broker_name).await;
        }
        Ok(())
    }
}

/// One instance's stream of deliveries.
pub struct NatsReceiver {
    messages: consumer::pull::Stream,
    /// The plan crashes the broker: settlements are dropped while the
    /// connection is down.
    crashes: bool,
}

impl Receiver for NatsReceiver {
    type Delivery = NatsDelivery;
    async fn next(&mut self) -> Option<Result<NatsDelivery, String>> {
        match self.messages.next().await? {
            Ok(message) => Some(Ok(NatsDelivery {
                message,
                crashes: self.crashes,
            })),
            Err(e) => Some(Err(e.to_string())),
        }
    }
}

pub struct NatsDelivery {
    message: jetstream::Message,
    crashes: bool,
}

impl NatsDelivery {
    /// The broker is down (crashed, not yet reconnected): an ack, NAK or
    /// delayed NAK sent now is lost, as by a client without a reconnect
    /// buffer (the producers publish so too); async-nats would keep it and
    /// send it after the restart.
    fn broker_down(&self) -> bool {
        self.crashes && self.message.context.client().connection_state() != State::Connected
    }
}

impl Delivery for NatsDelivery {
    fn id(&self) -> Option<u64> {
        let headers = self.message.headers.as_ref()?;
        headers.get(ID_HEADER)?.as_str().parse().ok()
    }

    fn delivery_count(&self) -> u64 {
        self.message.info().map_or(1, |i| i.delivered.max(1) as u64)
    }

    async fn ack(&self) -> Result<(), String> {
        if self.broker_down() {
            return Ok(());
        }
        self.message.ack().await.map_err(|e| format!("ack: {e}"))
    }

    async fn nack(&self) -> Result<(), String> {
        if self.broker_down() {
            return Ok(());
        }
        self.message
            .ack_with(AckKind::Nak(None))
            .await
            .map_err(|e| format!("nak: {e}"))
    }

    /// A NAK at once for the last attempt: the consumer's MaxDeliver (the
    /// retry policy's attempts) turns the redelivery away and reports it.
    async fn retry(&self, next: Next) -> Result<(), String> {
        if self.broker_down() {
            return Ok(());
        }
        match next {
            Next::After(delay) if !delay.is_zero() => self
                .message
                .ack_with(AckKind::Nak(Some(delay)))
                .await
                .map_err(|e| format!("nak with delay: {e}")),
            _ => self.nack().await,
        }
    }
}
