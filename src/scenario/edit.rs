//! Writing a value into a scenario file at a `--set` key path, keeping the
//! file's comments and layout (`mqsim optimize --write`).
//!
//! The key paths mean what they mean to `--set` (see `load::apply_override`):
//! in a `[[section]]` the second part may name an entry (`queue.orders.x`) or
//! index it (`consumer.0.x`), and otherwise the key is set on every entry.
//! Keeping the two in step is checked by the caller, which loads the edited
//! text and compares it with the original loaded under the same `--set`.

use toml_edit::{DocumentMut, InlineTable, Item, Table, Value};

/// The sections written as `[[section]]` lists.
const ARRAY_SECTIONS: [&str; 5] = ["producer", "queue", "topic", "consumer", "fault"];

/// Sets `path` to `value` (TOML text, e.g. `"6.9s"` or `3`) in `doc`. A
/// value written into a table (not inside an inline table) carries the
/// comment `# note`.
pub fn set_key(doc: &mut DocumentMut, path: &str, value: &str, note: &str) -> Result<(), String> {
    let parts: Vec<&str> = path.split('.').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("`{path}` has an empty part"));
    }
    let value: Value = value
        .parse()
        .map_err(|e| format!("`{value}` is not a TOML value: {e}"))?;
    let section = parts[0];
    if !ARRAY_SECTIONS.contains(&section) {
        return set_in_table(doc.as_table_mut(), &parts, value, note);
    }
    let entries = doc
        .get_mut(section)
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| format!("the scenario has no [[{section}]] to set `{path}` on"))?;
    let count = entries.len();
    let rest = &parts[1..];
    let chosen = rest.first().and_then(|first| {
        first.parse::<usize>().ok().or_else(|| {
            (0..count).find(|&i| {
                // An entry without `name` is called as the reports call it:
                // `consumer` when alone, else `consumer-2`...
                let default = if count == 1 {
                    section.to_string()
                } else {
                    format!("{section}-{}", i + 1)
                };
                entries
                    .get(i)
                    .and_then(|t| t.get("name"))
                    .and_then(Item::as_str)
                    .map_or(default.as_str() == *first, |n| n == *first)
            })
        })
    });
    let (targets, rest): (Vec<usize>, &[&str]) = match chosen {
        Some(i) if i >= count => {
            return Err(format!(
                "there are {count} [[{section}]] tables; index {i} is out of range"
            ))
        }
        Some(i) => (vec![i], &rest[1..]),
        None => ((0..count).collect(), rest),
    };
    if rest.is_empty() {
        return Err(format!("`{path}` names a whole [[{section}]]"));
    }
    for i in targets {
        let table = entries
            .get_mut(i)
            .ok_or_else(|| format!("no [[{section}]] number {i}"))?;
        set_in_table(table, rest, value.clone(), note)?;
    }
    Ok(())
}

/// Sets `parts` under a standard table, creating missing tables inline.
fn set_in_table(table: &mut Table, parts: &[&str], value: Value, note: &str) -> Result<(), String> {
    let (last, inner) = parts.split_last().ok_or("an empty key path")?;
    let Some((first, deeper)) = inner.split_first() else {
        let mut value = value;
        value.decor_mut().set_prefix(" ");
        value.decor_mut().set_suffix(format!(" # {note}"));
        table.insert(last, Item::Value(value));
        return Ok(());
    };
    if !table.contains_key(first) {
        table.insert(first, Item::Value(Value::InlineTable(InlineTable::new())));
    }
    match table.get_mut(first) {
        Some(Item::Table(t)) => set_in_table(t, &parts[1..], value, note),
        Some(Item::Value(Value::InlineTable(t))) => {
            set_in_inline(t, &[deeper, &[*last]].concat(), value)
        }
        _ => Err(format!(
            "`{first}` holds a value, not a table, so it has no `.` keys"
        )),
    }
}

/// Sets `parts` under an inline table (no comments can go there).
fn set_in_inline(table: &mut InlineTable, parts: &[&str], value: Value) -> Result<(), String> {
    let (last, inner) = parts.split_last().ok_or("an empty key path")?;
    let Some(first) = inner.first() else {
        let mut value = value;
        value.decor_mut().set_prefix(" ");
        value.decor_mut().set_suffix(" ");
        table.insert(*last, value);
        return Ok(());
    };
    if !table.contains_key(first) {
        table.insert(*first, Value::InlineTable(InlineTable::new()));
    }
    match table.get_mut(first) {
        Some(Value::InlineTable(t)) => set_in_inline(t, &parts[1..], value),
        _ => Err(format!(
            "`{first}` holds a value, not a table, so it has no `.` keys"
        )),
    }
}
