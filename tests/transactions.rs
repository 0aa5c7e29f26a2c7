//! Transactions and rollback (issue 26): side effects and the ack, sagas
//! with compensations, exactly-once on the log.

mod common;
use common::*;

/// One message a second, a constant 50 ms on every hop and a constant
/// 100 ms of work: message k is published at k s, delivered at k + 0.1 s,
/// processed by k + 0.2 s; its ack reaches the broker at k + 0.25 s, and an
/// `after-ack` write (made once the broker has the ack: one more hop) at
/// k + 0.3 s. A crash at k + `offset` s, for 100 ms, hits one message.
fn side_effect_scenario(mode: &str, offset_ms: u64, extra: &str) -> String {
    let crashes: String = [3u64, 7, 11]
        .iter()
        .map(|k| {
            format!(
                "[[fault]]\nkind = \"consumer-crash\"\nat = \"{}ms\"\ndowntime = \"100ms\"\n",
                k * 1000 + offset_ms
            )
        })
        .collect();
    format!(
        r#"
[simulation]
duration = "15s"
drain = "10s"
[[producer]]
arrival = {{ process = "constant", rate = 1.0 }}
[[queue]]
[[consumer]]
service = {{ dist = "constant", mean = "100ms" }}
side_effect = "{mode}"
{extra}
[network]
latency = {{ dist = "constant", mean = "50ms" }}
{crashes}"#
    )
}

#[test]
fn a_crash_between_write_and_ack_duplicates_a_before_ack_side_effect() {
    // The crash at k + 0.22 s kills the ack on the wire: the message comes
    // back and is processed (and written) again.
    let s = summary(
        &scenario(&side_effect_scenario("before-ack", 220, "")),
        1,
        1,
    );
    assert_conserved(&s);
    assert_eq!(get(&s, "messages.side_effects_duplicated"), 3.0);
    assert_eq!(get(&s, "messages.side_effects_lost"), 0.0);
    assert_eq!(get(&s, "messages.duplicates"), 3.0);
    // A crash after the ack reached the broker changes nothing.
    let late = summary(
        &scenario(&side_effect_scenario("before-ack", 270, "")),
        1,
        1,
    );
    assert_eq!(get(&late, "messages.side_effects_duplicated"), 0.0);
    assert_eq!(get(&late, "messages.side_effects_lost"), 0.0);
}

#[test]
fn a_crash_between_ack_and_write_loses_an_after_ack_side_effect() {
    // The broker has the ack at k + 0.25 s; the crash at k + 0.27 s comes
    // before the write: the message is done, its side effect never happens.
    let s = summary(&scenario(&side_effect_scenario("after-ack", 270, "")), 1, 1);
    assert_conserved(&s);
    assert_eq!(get(&s, "messages.side_effects_lost"), 3.0);
    assert_eq!(get(&s, "messages.side_effects_duplicated"), 0.0);
    assert_eq!(get(&s, "messages.duplicates"), 0.0);
    assert_eq!(get(&s, "messages.acked"), get(&s, "messages.published"));
    // A crash that kills the ack on the wire: the handler never wrote, the
    // message comes back and is written then (processed twice, written once).
    let early = summary(&scenario(&side_effect_scenario("after-ack", 220, "")), 1, 1);
    assert_eq!(get(&early, "messages.side_effects_lost"), 0.0);
    assert_eq!(get(&early, "messages.side_effects_duplicated"), 0.0);
    assert_eq!(get(&early, "messages.duplicates"), 3.0);
}

/// Redeliveries at a short ack timeout while the first delivery is still
/// being processed: the idempotency store cannot stop the second
/// processing (ids are recorded when processing ends), but an idempotent
/// write, checked against the store when it is made, happens once.
#[test]
fn idempotent_side_effects_are_written_once_though_processed_twice() {
    let text = |mode: &str| {
        format!(
            r#"
[simulation]
duration = "10m"
[[producer]]
arrival = {{ process = "poisson", rate = 4.0 }}
[[queue]]
ack_timeout = "150ms"
[[consumer]]
count = 4
service = {{ dist = "exponential", mean = "100ms" }}
side_effect = "{mode}"
idempotency = {{ window = "10m" }}
"#
        )
    };
    let plain = summary(&scenario(&text("before-ack")), 1, 1);
    let duplicates = get(&plain, "messages.duplicates");
    assert!(duplicates > 10.0, "{duplicates}");
    assert_eq!(get(&plain, "messages.side_effects_duplicated"), duplicates);
    let idem = summary(&scenario(&text("idempotent")), 1, 1);
    assert!(get(&idem, "messages.duplicates") > 10.0);
    assert_eq!(get(&idem, "messages.side_effects_duplicated"), 0.0);
    assert_eq!(get(&idem, "messages.side_effects_lost"), 0.0);
}

#[test]
fn side_effect_settings_are_checked() {
    let base =
        "[[producer]]\narrival = { process = \"poisson\", rate = 1.0 }\n[[queue]]\n[[consumer]]\n";
    let load = |extra: &str| {
        mqsim::scenario::load_str(&format!("{base}{extra}"), "t.toml", &Default::default())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let e = load("side_effect = \"sometimes\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("side_effect"), "{e}");
    let e = load("side_effect = \"idempotent\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("idempotency"), "{e}");
    let e = load("side_effect = \"after-ack\"\nack = \"on-receive\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("after-processing"), "{e}");
    assert!(load("side_effect = \"after-ack\"\n").is_ok());
}
