//! `mqsim lint SCENARIO`: advice from the configuration alone, before any
//! run (the rules are in `model::lint`). Exit 0 without findings, 1 with
//! findings (so that CI can stop on them, as `check` does on a failed
//! expectation), 2 when the scenario does not load.

use super::{Failure, Format};
use crate::model::lint::{lint, RULES};
use crate::report::files::printable;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct LintArgs {
    pub file: PathBuf,
    /// Override a scenario key before linting (as run takes it).
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output on stdout: readable text or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn command(a: &LintArgs) -> Result<i32, Failure> {
    let (_, _, scenario) = super::load(&a.file, &a.set)?;
    let model = super::compile(&scenario)?;
    let findings = lint(&model);
    let shown = printable(&a.file.display().to_string());
    match a.format {
        Format::Json => {
            let o = serde_json::json!({
                "scenario": shown,
                "findings": findings,
                "rules": RULES.iter().map(|r| serde_json::json!({ "id": r.id, "source": r.source, "summary": r.summary })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&o).unwrap_or_default());
        }
        Format::Text => {
            if findings.is_empty() {
                println!("{shown}: no findings ({} rules checked)", RULES.len());
            }
            for f in &findings {
                println!(
                    "{shown}: [{}] {}: {} (README: {})",
                    f.rule,
                    printable(&f.subject),
                    printable(&f.message),
                    f.source
                );
            }
        }
    }
    Ok(if findings.is_empty() { 0 } else { 1 })
}
