//! `topics.<topic>.groups.<group>.transactions`: the price of exactly-once
//! on the log (issue 26 §2). A transactional group's records become
//! visible to `read_committed` readers only when their transaction
//! commits, so the commit interval adds to their latency (about half of
//! it on average, under steady load); a crash aborts the open transaction,
//! whose records are produced again; and each commit is a round of
//! requests to the transaction coordinator, counted per second.

use crate::model::{CommitMode, LogGroupModel};
use crate::sim::collect::TransactionStats;
use serde_json::{json, Value};

/// Adds the transaction figures to a topic group's entry: `transactions`
/// for a transactional group, `aborted_skipped` for a `read_committed`
/// one. Other groups' entries are left as they were.
pub fn insert(lg: &LogGroupModel, t: &TransactionStats, window_s: f64, group: &mut Value) {
    let Some(o) = group.as_object_mut() else {
        return;
    };
    if lg.commit == CommitMode::Transactional {
        let per = |n: f64, d: u64| if d == 0 { 0.0 } else { n / d as f64 };
        o.insert(
            "transactions".into(),
            json!({
                "committed": t.committed,
                "aborted": t.aborted,
                "records_committed": t.records_committed,
                "records_aborted": t.records_aborted,
                "records_aborted_per_abort": per(t.records_aborted as f64, t.aborted),
                "per_second": if window_s > 0.0 { t.committed as f64 / window_s } else { 0.0 },
                "commit_wait_mean": per(t.commit_wait_ns as f64 / 1e9, t.records_committed),
                "interval": lg.transaction_ns as f64 / 1e9,
            }),
        );
    }
    if lg.read_committed {
        o.insert("aborted_skipped".into(), json!(t.aborted_skipped));
    }
}
