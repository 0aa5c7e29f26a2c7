//! `mqsim schema`: the JSON Schema of the scenario format, generated from
//! the same types the loader uses, so that editors can complete and check
//! scenario files (for TOML, e.g. with Taplo or the Even Better TOML
//! extension).

use super::Scenario;

pub fn schema() -> serde_json::Value {
    let mut s =
        serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or(serde_json::Value::Null);
    if let Some(o) = s.as_object_mut() {
        o.insert("title".into(), "mqsim scenario".into());
    }
    s
}

pub fn schema_json() -> String {
    serde_json::to_string_pretty(&schema()).unwrap_or_default()
}

/// Every key path the schema accepts (`consumer.retry.backoff`), for the
/// README check and for `--set` suggestions.
pub fn key_paths() -> Vec<String> {
    let s = schema();
    let defs = s.get("$defs").cloned().unwrap_or_default();
    let mut out = Vec::new();
    walk(&s, &defs, "", &mut out, 0);
    out.sort();
    out.dedup();
    out
}

fn resolve<'a>(v: &'a serde_json::Value, defs: &'a serde_json::Value) -> &'a serde_json::Value {
    if let Some(r) = v.get("$ref").and_then(|r| r.as_str()) {
        let name = r.trim_start_matches("#/$defs/");
        if let Some(d) = defs.get(name) {
            return d;
        }
    }
    v
}

fn walk(
    v: &serde_json::Value,
    defs: &serde_json::Value,
    prefix: &str,
    out: &mut Vec<String>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    let v = resolve(v, defs);
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(arr) = v.get(key).and_then(|a| a.as_array()) {
            for x in arr {
                walk(x, defs, prefix, out, depth + 1);
            }
        }
    }
    if let Some(items) = v.get("items") {
        walk(items, defs, prefix, out, depth + 1);
    }
    if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
        for (k, sub) in props {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.push(path.clone());
            walk(sub, defs, &path, out, depth + 1);
        }
    }
}
