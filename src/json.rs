//! Values read out of a summary's JSON by dotted paths: the one path
//! helper that every report, `--metric`, `optimize`, `check` and the sweep
//! charts share.

use serde_json::{Map, Value};

/// The value at a dotted JSON path (`recovery.fraction_recovered`,
/// `queues.orders.length_distribution.3`).
pub fn value_at<'a>(root: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = root.get(parts.next()?)?;
    for p in parts {
        cur = match cur {
            Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => cur.get(p)?,
        };
    }
    Some(cur)
}

/// The number at a dotted JSON path; booleans count as 1 and 0.
pub fn at_path(root: &Map<String, Value>, path: &str) -> Option<f64> {
    let cur = value_at(root, path)?;
    cur.as_f64()
        .or_else(|| cur.as_bool().map(|b| f64::from(u8::from(b))))
}
