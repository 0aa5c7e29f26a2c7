//! Data files a scenario names: measured durations for an `empirical` law
//! (`file`, `column`, `unit`), recorded arrival times for
//! `process = "trace"`, a rate over time for `process = "profile"`.
//!
//! They are read once, when the scenario is loaded, relative to the
//! scenario's folder. A path that leaves that folder (`../`, an absolute
//! path, a symbolic link pointing out) is refused unless the user passes
//! `--allow-outside`: a scenario from someone else's repository must not
//! read the user's files by surprise. Every bad row is reported with its
//! file, row and column.
//!
//! Numbers are read exactly: `1733400000.123456789` seconds is that many
//! nanoseconds, not the nearest double (which at today's epoch is 240 ns
//! away), so that a replayed trace publishes at the recorded instants.

use super::dist::EMPIRICAL_VALUES_MAX;
use super::validate::{Invalid, P};
use super::{ArrivalCfg, DistCfg, RatePiece, Scenario};
use crate::names::printable;
use crate::time::{Duration, Nanos, MAX_DURATION_NS};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Largest data file read.
pub const DATA_FILE_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// Most rows of a replayed arrival trace (8 bytes of memory each).
pub const TRACE_ROWS_MAX: usize = 10_000_000;
/// Most rows of a rate profile.
pub const PROFILE_ROWS_MAX: usize = 100_000;
/// Units of the numbers in a data file.
pub const UNITS: [&str; 6] = ["ns", "us", "ms", "s", "m", "h"];

/// Nanoseconds in one `unit`.
pub fn unit_ns(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Where a scenario may read data files from.
#[derive(Clone, Debug)]
pub struct Access {
    /// The scenario's folder: relative paths start here.
    pub base: PathBuf,
    /// `--allow-outside`: paths may leave `base`.
    pub allow_outside: bool,
    /// Files already read, by (resolved path, columns, unit): a sweep or an
    /// optimisation builds the scenario once per point, and should not read
    /// a million-row trace each time.
    cache: Arc<Mutex<BTreeMap<String, Arc<Table>>>>,
}

impl Access {
    /// Files named by the scenario file `scenario` (or, for a scenario given
    /// as text, by the working directory).
    pub fn beside(scenario: &str) -> Access {
        let base = Path::new(scenario)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Access {
            base,
            allow_outside: false,
            cache: Arc::default(),
        }
    }

    /// The file's path, checked to lie inside the scenario's folder unless
    /// outside paths are allowed: first as written (so that whether a file
    /// outside exists is not told), then as resolved (symbolic links).
    pub fn resolve(&self, file: &str) -> Result<PathBuf, String> {
        let shown = printable(file);
        if file.is_empty() {
            return Err("`file` is empty: name a CSV file beside the scenario".into());
        }
        let base = self
            .base
            .canonicalize()
            .map_err(|e| format!("cannot read the scenario's folder: {e}"))?;
        let outside = || {
            format!(
                "{shown} is outside the scenario's folder ({}): copy it beside the scenario, or pass --allow-outside to read it where it is",
                printable(&base.display().to_string())
            )
        };
        if !self.allow_outside && !lexically(&base.join(file)).starts_with(&base) {
            return Err(outside());
        }
        let target = base
            .join(file)
            .canonicalize()
            .map_err(|e| format!("cannot read {shown}: {e}"))?;
        if !self.allow_outside && !target.starts_with(&base) {
            return Err(outside());
        }
        if !target.is_file() {
            return Err(format!("{shown} is not a file"));
        }
        Ok(target)
    }

    /// The named columns of `file` (`None`: the first column), read once.
    pub fn table(
        &self,
        file: &str,
        columns: &[Option<&str>],
        rows_max: usize,
    ) -> Result<Arc<Table>, String> {
        let path = self.resolve(file)?;
        let key = format!("{}\u{0}{columns:?}\u{0}{rows_max}", path.display());
        if let Some(t) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(t);
        }
        let table = Arc::new(read_table(&path, &printable(file), columns, rows_max)?);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, table.clone());
        }
        Ok(table)
    }
}

/// `path` with `.` and `..` taken out, without asking the file system.
pub fn lexically(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Cells of some columns of a CSV file, each row with its number in the
/// file (from 1, the header being row 1 when there is one).
#[derive(Debug)]
pub struct Table {
    /// The file as the scenario names it, for errors.
    pub shown: String,
    /// The 1-based column number of each column read, for errors.
    pub column_numbers: Vec<usize>,
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    /// `file.csv: row 7, column 2: message`.
    pub fn error_at(&self, row: usize, column: usize, message: &str) -> String {
        format!(
            "{}: row {row}, column {}: {message}",
            self.shown, self.column_numbers[column]
        )
    }
}

/// Whether a cell reads as a value (a number, a duration, a timestamp)
/// rather than a column name: a first row of values is data, not a header.
fn is_value(cell: &str) -> bool {
    let cell = cell.trim();
    cell.parse::<f64>().is_ok()
        || crate::time::Duration::parse(cell).is_ok()
        || rfc3339_ns(cell).is_some()
}

/// The text of a file the user names: a regular file (a FIFO or a device
/// would block or never end) of at most `bytes_max`, in UTF-8. Errors say
/// why without the file's name, which the caller puts before them.
pub fn read_text(path: &Path, bytes_max: u64) -> Result<String, String> {
    let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    let too_large = || format!("larger than {} MiB, the most mqsim reads", bytes_max >> 20);
    if metadata.len() > bytes_max {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(bytes_max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > bytes_max {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let row = 1 + e.as_bytes()[..valid]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        format!("line {row}: not UTF-8 text (byte {})", valid + 1)
    })
}

/// The named columns (`None`: the first) of a CSV file, its header found
/// by its first row not reading as values. Rows with no cell at all are
/// skipped; a row with some cells but not one of those read is refused.
pub fn read_table(
    path: &Path,
    shown: &str,
    columns: &[Option<&str>],
    rows_max: usize,
) -> Result<Table, String> {
    let text = read_text(path, DATA_FILE_BYTES_MAX).map_err(|e| format!("{shown}: {e}"))?;
    let first = text.lines().next().unwrap_or("");
    if !first.contains(',') && first.split(';').filter(|c| !c.trim().is_empty()).count() > 1 {
        return Err(format!(
            "{shown}: row 1 separates its cells with `;`; mqsim reads comma-separated values (save the file with `,` between cells)"
        ));
    }
    let headed = first.split(',').any(|cell| !is_value(cell));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(headed)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = if headed {
        let h = reader
            .headers()
            .map_err(|e| format!("{shown}: row 1: {e}"))?;
        h.iter().map(str::to_string).collect()
    } else {
        Vec::new()
    };
    let mut indices = Vec::new();
    for column in columns {
        indices.push(match (column, headed) {
            (None, _) => 0,
            (Some(name), true) => headers.iter().position(|h| h == name).ok_or_else(|| {
                format!(
                    "{shown}: no column `{}` (columns: {})",
                    printable(name),
                    printable(&headers.join(", "))
                )
            })?,
            (Some(name), false) => {
                return Err(format!(
                    "{shown}: the file has no header row, so it has no column `{}`: add a header, or leave out `column` to read the first column",
                    printable(name)
                ))
            }
        });
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1 + usize::from(headed);
        let record = record.map_err(|e| format!("{shown}: row {row}: {e}"))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cells: Vec<String> = indices
            .iter()
            .map(|&c| record.get(c).unwrap_or("").to_string())
            .collect();
        if let Some(at) = cells.iter().position(String::is_empty) {
            return Err(format!(
                "{shown}: row {row}, column {}: no value (a row is skipped only when it is empty)",
                indices[at] + 1
            ));
        }
        if rows.len() == rows_max {
            return Err(format!(
                "{shown}: more than {rows_max} rows, the most mqsim reads from such a file"
            ));
        }
        rows.push((row, cells));
    }
    if rows.is_empty() {
        return Err(format!("{shown}: no values"));
    }
    Ok(Table {
        shown: shown.to_string(),
        column_numbers: indices.iter().map(|c| c + 1).collect(),
        rows,
    })
}

/// A duration: a plain number of `unit` (read exactly), or a duration with
/// its own unit (`12ms`). Nanoseconds, rounded half away from zero.
pub fn duration_ns(cell: &str, unit_ns: u64) -> Result<i128, String> {
    if let Some(ns) = decimal_ns(cell, unit_ns) {
        return Ok(ns);
    }
    crate::time::Duration::parse(cell)
        .map(|d| d.ns() as i128)
        .map_err(|_| {
            if out_of_range(cell) {
                return format!("`{}` is out of range", printable(cell));
            }
            format!(
                "`{}` is not a duration (a number, or a number with a unit such as 12ms)",
                printable(cell)
            )
        })
}

/// A number, but too large (or too precise) to be read in nanoseconds.
fn out_of_range(cell: &str) -> bool {
    cell.parse::<f64>().is_ok_and(f64::is_finite)
}

/// An instant: a plain number of `unit` since any origin (read exactly), or
/// an RFC 3339 timestamp (`2026-12-04T10:00:00.123Z`). Nanoseconds.
pub fn instant_ns(cell: &str, unit_ns: u64) -> Result<i128, String> {
    decimal_ns(cell, unit_ns).or_else(|| rfc3339_ns(cell)).ok_or_else(|| {
        if out_of_range(cell) {
            return format!("`{}` is out of range", printable(cell));
        }
        format!(
            "`{}` is not a time (a number, or an RFC 3339 timestamp such as 2026-12-04T10:00:00.123Z)",
            printable(cell)
        )
    })
}

/// `[-+]digits[.digits][e[-+]digits]` times `unit_ns`, exactly, rounded to
/// the nanosecond; `None` when it is not such a number or out of range.
fn decimal_ns(cell: &str, unit_ns: u64) -> Option<i128> {
    let (mantissa, exponent) = match cell.find(['e', 'E']) {
        Some(i) => (&cell[..i], cell[i + 1..].parse::<i32>().ok()?),
        None => (cell, 0),
    };
    let (negative, unsigned) = match mantissa.as_bytes().first()? {
        b'-' => (true, &mantissa[1..]),
        b'+' => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 36 {
        return None;
    }
    let mut value: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    value = value.checked_mul(unit_ns as i128)?;
    let scale = exponent.checked_sub(i32::try_from(fraction.len()).ok()?)?;
    if scale >= 0 {
        value = value.checked_mul(10i128.checked_pow(scale as u32)?)?;
    } else if scale < -38 {
        value = 0;
    } else {
        let divisor = 10i128.pow((-scale) as u32);
        value = (value + divisor / 2) / divisor;
    }
    Some(if negative { -value } else { value })
}

/// An RFC 3339 timestamp (`T` or a space between date and time, `Z` or an
/// offset) as nanoseconds since 1970-01-01T00:00:00Z.
fn rfc3339_ns(cell: &str) -> Option<i128> {
    let b = cell.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<i64> {
        let s = cell.get(from..to)?;
        digits(s).then(|| s.parse().ok())?
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &cell[19..];
    let mut fraction_ns: i128 = 0;
    if let Some(after) = rest.strip_prefix('.') {
        let n = after.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let kept = &after[..n.min(9)];
        fraction_ns = kept.parse::<i128>().ok()? * 10i128.pow(9 - kept.len() as u32);
        rest = &after[n..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let r = rest.as_bytes();
            if r.len() != 6 || r[3] != b':' || !matches!(r[0], b'+' | b'-') {
                return None;
            }
            let (h, m) = (number_in(rest, 1, 3)?, number_in(rest, 4, 6)?);
            let sign = if r[0] == b'-' { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Some(seconds as i128 * 1_000_000_000 + fraction_ns)
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn number_in(s: &str, from: usize, to: usize) -> Option<i64> {
    let part = s.get(from..to)?;
    digits(part).then(|| part.parse().ok())?
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// What an arrival process read from its file.
#[derive(Clone, Debug, PartialEq)]
pub enum Loaded {
    /// trace: publish times relative to the first, sorted, at speed 1.
    Times(Arc<[Nanos]>),
    /// profile: the rate from each time on.
    Schedule(Arc<[RatePiece]>),
    /// empirical: measured interarrival times.
    Durations(Arc<[Duration]>),
}

/// Reads every data file the scenario names into its `loaded` fields.
/// Runs before `validate`, which then checks the data as if written inline.
pub fn load_files(s: &mut Scenario, access: &Access) -> Result<(), Invalid> {
    for (i, c) in s.consumers.iter_mut().enumerate() {
        if let Some(d) = &mut c.service {
            load_dist(&P::at("consumer", i).key("service"), d, access)?;
        }
    }
    for (i, f) in s.faults.iter_mut().enumerate() {
        if let Some(d) = &mut f.mttr {
            load_dist(&P::at("fault", i).key("mttr"), d, access)?;
        }
    }
    if let Some(d) = s.network.as_mut().and_then(|n| n.latency.as_mut()) {
        load_dist(&P::root("network").key("latency"), d, access)?;
    }
    for (i, pr) in s.producers.iter_mut().enumerate() {
        load_arrival(
            &P::at("producer", i).key("arrival"),
            &mut pr.arrival,
            access,
        )?;
    }
    Ok(())
}

/// The unit of a file's plain numbers (default seconds).
fn unit_of(p: &P, unit: Option<&str>) -> Result<u64, Invalid> {
    let unit = unit.unwrap_or("s");
    unit_ns(unit).map_or_else(
        || {
            p.key("unit").err(format!(
                "unknown unit `{}`: write {}",
                printable(unit),
                UNITS.join(", ")
            ))
        },
        Ok,
    )
}

/// `column` and `unit` say how to read `file`; alone they mean nothing.
fn file_keys_need_file(
    p: &P,
    file: &Option<String>,
    column: &Option<String>,
    unit: &Option<String>,
) -> Result<(), Invalid> {
    if file.is_none() {
        for (key, given) in [("column", column.is_some()), ("unit", unit.is_some())] {
            if given {
                return p.key(key).err(format!(
                    "`{key}` says how to read `file`, and there is no `file`"
                ));
            }
        }
    }
    Ok(())
}

fn load_dist(p: &P, d: &mut DistCfg, access: &Access) -> Result<(), Invalid> {
    file_keys_need_file(p, &d.file, &d.column, &d.unit)?;
    let Some(file) = &d.file else { return Ok(()) };
    if d.dist != "empirical" {
        // `Dist::compile` names the keys this law takes.
        return Ok(());
    }
    if d.values.is_some() {
        return p
            .key("file")
            .err("give the measurements as `values` or in `file`, not both");
    }
    d.loaded = Some(read_durations(
        p,
        file,
        d.column.as_deref(),
        d.unit.as_deref(),
        access,
    )?);
    Ok(())
}

fn read_durations(
    p: &P,
    file: &str,
    column: Option<&str>,
    unit: Option<&str>,
    access: &Access,
) -> Result<Arc<[Duration]>, Invalid> {
    let unit_ns = unit_of(p, unit)?;
    let table = access
        .table(file, &[column], EMPIRICAL_VALUES_MAX)
        .or_else(|m| p.key("file").err(m))?;
    let mut values = Vec::with_capacity(table.rows.len());
    for (row, cells) in &table.rows {
        let ns = duration_ns(&cells[0], unit_ns)
            .and_then(|ns| match u64::try_from(ns) {
                Ok(ns) if ns <= MAX_DURATION_NS => Ok(ns),
                _ if ns < 0 => Err("a duration cannot be negative".to_string()),
                _ => Err("longer than 100 years".to_string()),
            })
            .or_else(|m| p.key("file").err(table.error_at(*row, 0, &m)))?;
        values.push(Duration(ns));
    }
    Ok(values.into())
}

fn load_arrival(p: &P, a: &mut ArrivalCfg, access: &Access) -> Result<(), Invalid> {
    file_keys_need_file(p, &a.file, &a.column, &a.unit)?;
    let needs_file = matches!(a.process.as_str(), "trace" | "profile");
    let Some(file) = a.file.clone() else {
        if needs_file {
            return p.key("file").err(format!(
                "a {} process reads `file`: {}",
                a.process,
                if a.process == "trace" {
                    "a CSV of publish times, e.g. `{ process = \"trace\", file = \"arrivals.csv\", column = \"ts\" }`"
                } else {
                    "a CSV with columns `at` and `rate`, e.g. `{ process = \"profile\", file = \"rate.csv\" }`"
                }
            ));
        }
        return Ok(());
    };
    a.loaded = match a.process.as_str() {
        "trace" => Some(Loaded::Times(read_times(
            p,
            &file,
            a.column.as_deref(),
            a.unit.as_deref(),
            access,
        )?)),
        "profile" => {
            if a.column.is_some() {
                return p
                    .key("column")
                    .err("a profile reads the columns `at` and `rate`; `column` does not apply");
            }
            Some(Loaded::Schedule(read_profile(
                p,
                &file,
                a.unit.as_deref(),
                access,
            )?))
        }
        "empirical" if a.values.is_some() => {
            return p
                .key("file")
                .err("give the measurements as `values` or in `file`, not both")
        }
        "empirical" => Some(Loaded::Durations(read_durations(
            p,
            &file,
            a.column.as_deref(),
            a.unit.as_deref(),
            access,
        )?)),
        // The validation says which keys the process takes.
        _ => None,
    };
    Ok(())
}

/// Publish times: sorted, relative to the first, in nanoseconds.
fn read_times(
    p: &P,
    file: &str,
    column: Option<&str>,
    unit: Option<&str>,
    access: &Access,
) -> Result<Arc<[Nanos]>, Invalid> {
    let unit_ns = unit_of(p, unit)?;
    let table = access
        .table(file, &[column], TRACE_ROWS_MAX)
        .or_else(|m| p.key("file").err(m))?;
    let mut instants = Vec::with_capacity(table.rows.len());
    for (row, cells) in &table.rows {
        let t = instant_ns(&cells[0], unit_ns)
            .or_else(|m| p.key("file").err(table.error_at(*row, 0, &m)))?;
        instants.push((t, *row));
    }
    instants.sort_unstable();
    let first = instants[0].0;
    let mut times = Vec::with_capacity(instants.len());
    for (t, row) in instants {
        match u64::try_from(t - first) {
            Ok(ns) if ns <= MAX_DURATION_NS => times.push(ns),
            _ => {
                return p.key("file").err(table.error_at(
                    row,
                    0,
                    "more than 100 years after the first publish time",
                ))
            }
        }
    }
    Ok(times.into())
}

/// A rate profile: columns `at` (relative to the first row) and `rate`
/// (messages per second from then on), `at` increasing.
fn read_profile(
    p: &P,
    file: &str,
    unit: Option<&str>,
    access: &Access,
) -> Result<Arc<[RatePiece]>, Invalid> {
    let unit_ns = unit_of(p, unit)?;
    let table = access
        .table(file, &[Some("at"), Some("rate")], PROFILE_ROWS_MAX)
        .or_else(|m| p.key("file").err(m))?;
    let mut pieces: Vec<RatePiece> = Vec::with_capacity(table.rows.len());
    let mut first = None;
    for (row, cells) in &table.rows {
        let fail = |column: usize, m: &str| p.key("file").err(table.error_at(*row, column, m));
        let at = match instant_ns(&cells[0], unit_ns).or_else(|_| duration_ns(&cells[0], unit_ns)) {
            Ok(t) => t,
            Err(m) => return fail(0, &m),
        };
        let start = *first.get_or_insert(at);
        let at = match u64::try_from(at - start) {
            Ok(ns) if ns <= MAX_DURATION_NS => ns,
            _ => {
                return fail(
                    0,
                    "`at` must not go back before the first row, nor beyond 100 years after it",
                )
            }
        };
        if pieces.last().is_some_and(|last| at <= last.at.ns()) {
            return fail(0, "`at` must increase from row to row");
        }
        let rate: f64 = match cells[1].parse() {
            Ok(r) if (0.0..=1e9).contains(&r) => r,
            _ => {
                return fail(
                    1,
                    &format!(
                        "`{}` is not a rate from 0 to 1e9 messages per second",
                        printable(&cells[1])
                    ),
                )
            }
        };
        pieces.push(RatePiece {
            at: Duration(at),
            rate,
        });
    }
    Ok(pieces.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_read_exactly() {
        let s = 1_000_000_000;
        assert_eq!(
            decimal_ns("1733400000.123456789", s),
            Some(1_733_400_000_123_456_789)
        );
        assert_eq!(decimal_ns("0.5", 1_000_000), Some(500_000));
        assert_eq!(decimal_ns("1.5e3", 1_000_000), Some(1_500_000_000));
        assert_eq!(decimal_ns("-2", s), Some(-2_000_000_000));
        assert_eq!(
            decimal_ns("0.0000000005", s),
            Some(1),
            "halves round away from zero"
        );
        assert_eq!(decimal_ns("0.0000000004", s), Some(0));
        assert_eq!(decimal_ns(".25", s), Some(250_000_000));
        for bad in [
            "",
            ".",
            "1.2.3",
            "1e",
            "abc",
            "1e999999",
            "12ms",
            "9".repeat(40).as_str(),
        ] {
            assert_eq!(decimal_ns(bad, s), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_timestamps_are_read_to_the_nanosecond() {
        assert_eq!(rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_ns("2000-03-01T00:00:00Z"),
            Some(951_868_800 * 1_000_000_000)
        );
        assert_eq!(
            rfc3339_ns("2026-12-04T10:00:00.123456789+01:00"),
            Some((1_796_378_400 - 3600) * 1_000_000_000 + 123_456_789)
        );
        assert_eq!(
            rfc3339_ns("2026-12-04 10:00:00.5Z"),
            Some(1_796_378_400 * 1_000_000_000 + 500_000_000)
        );
        for bad in [
            "2026-13-04T10:00:00Z",
            "2026-12-04T10:00:00",
            "2026-12-04T10:00:00.Z",
            "tomorrow at ten",
        ] {
            assert_eq!(rfc3339_ns(bad), None, "{bad}");
        }
    }
}
