//! Scenario values with a form of their own on the wire: a limit that may
//! be "unlimited", an fsync interval that may be "always", a lease that is
//! extended or not, and the lease settings.

use crate::time::Duration;
use serde::{Deserialize, Serialize};

/// A limit that can be removed: a count, or "unlimited" (which also
/// overrides a preset's limit, as RabbitMQ's `delivery-limit = -1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Count(u32),
    Unlimited,
}

impl Limit {
    /// The count, `None` when unlimited.
    pub fn count(self) -> Option<u32> {
        match self {
            Limit::Count(n) => Some(n),
            Limit::Unlimited => None,
        }
    }
}

impl schemars::JsonSchema for Limit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Limit".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a count, or \"unlimited\"",
            "anyOf": [{ "type": "integer", "minimum": 0 }, { "const": "unlimited" }]
        })
    }
}

impl Serialize for Limit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Limit::Count(n) => s.serialize_u32(*n),
            Limit::Unlimited => s.serialize_str("unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number, or \"unlimited\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Limit, E> {
                u32::try_from(v).map(Limit::Count).map_err(|_| {
                    E::custom(format!(
                        "{v} is not a limit: give a whole number from 0 to {}, or \"unlimited\"",
                        u32::MAX
                    ))
                })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Limit, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Limit, E> {
                if v == "unlimited" {
                    Ok(Limit::Unlimited)
                } else {
                    Err(E::custom(format!(
                        "`{v}` is not a limit: give a whole number, or \"unlimited\""
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// How often the broker fsyncs: an interval, or "always" (before it
/// acknowledges: NATS `sync_interval: always`; the same as 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncInterval {
    Always,
    Every(Duration),
}

impl SyncInterval {
    /// The interval; 0 for "always".
    pub fn interval(self) -> Duration {
        match self {
            SyncInterval::Always => Duration::ZERO,
            SyncInterval::Every(d) => d,
        }
    }
}

impl schemars::JsonSchema for SyncInterval {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SyncInterval".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a duration, or \"always\" (fsync before acknowledging)",
            "anyOf": [g.subschema_for::<Duration>(), { "const": "always" }]
        })
    }
}

impl Serialize for SyncInterval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SyncInterval::Always => s.serialize_str("always"),
            SyncInterval::Every(d) => d.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for SyncInterval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Secs(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) if t == "always" => Ok(SyncInterval::Always),
            Raw::Text(t) => Duration::parse(&t)
                .map(SyncInterval::Every)
                .map_err(|e| serde::de::Error::custom(format!("{e}, or \"always\""))),
            Raw::Secs(s) => Duration::parse(&s.to_string())
                .map(SyncInterval::Every)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// A consumer's lease extension (SQS `ChangeMessageVisibility` heartbeats,
/// Pub/Sub `modifyAckDeadline`, JetStream in-progress acks): while it holds
/// a delivery, every `every` it asks the broker to set the delivery's
/// deadline `by` from when the request arrives, up to `max` after it
/// received the delivery.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseCfg {
    /// Time between extensions, from the receipt of the delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<Duration>,
    /// The new deadline, from the extension's arrival. Default: the queue's ack timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<Duration>,
    /// No extension reaches past this long after the receipt. Default: none
    /// (SQS: 12h, its longest visibility).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<Duration>,
}

impl LeaseCfg {
    /// These keys over `base` (a preset's), key by key.
    pub fn over(&self, base: &LeaseCfg) -> LeaseCfg {
        LeaseCfg {
            every: self.every.or(base.every),
            by: self.by.or(base.by),
            max: self.max.or(base.max),
        }
    }
}

/// `extend_lease = { ... }`, or `extend_lease = false` (no extension, even
/// where the preset's client extends leases).
#[derive(Clone, Debug, PartialEq)]
pub enum ExtendLease {
    Off,
    On(LeaseCfg),
}

impl schemars::JsonSchema for ExtendLease {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ExtendLease".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "{ every, by, max }, or false to turn a preset's lease extension off",
            "anyOf": [g.subschema_for::<LeaseCfg>(), { "const": false }]
        })
    }
}

impl Serialize for ExtendLease {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ExtendLease::Off => s.serialize_bool(false),
            ExtendLease::On(l) => l.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ExtendLease {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Table(toml::Table),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "give { every = \"20s\", by = \"60s\", max = \"12h\" }, or false for no extension",
            )
        })? {
            Raw::Flag(false) => Ok(ExtendLease::Off),
            Raw::Flag(true) => Err(serde::de::Error::custom(
                "say how: { every = \"20s\", by = \"60s\", max = \"12h\" } (true alone does not say how often)",
            )),
            Raw::Table(t) => toml::Value::Table(t)
                .try_into::<LeaseCfg>()
                .map(ExtendLease::On)
                .map_err(|e| serde::de::Error::custom(e.message().trim().to_string())),
        }
    }
}
