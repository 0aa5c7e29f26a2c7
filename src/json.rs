//! Numbers read out of a summary's JSON by dotted paths: the one path
//! helper that `--metric`, `optimize` and the sweep charts share.

use serde_json::{Map, Value};

/// The value at a dotted JSON path (`recovery.fraction_recovered`);
/// booleans count as 1 and 0.
pub fn at_path(root: &Map<String, Value>, path: &str) -> Option<f64> {
    let mut parts = path.split('.');
    let mut cur = root.get(parts.next()?)?;
    for p in parts {
        cur = match cur {
            Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => cur.get(p)?,
        };
    }
    cur.as_f64()
        .or_else(|| cur.as_bool().map(|b| f64::from(u8::from(b))))
}
