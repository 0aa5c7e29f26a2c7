//! `mqsim import`: a scenario from a broker's own configuration.

use super::Failure;
use crate::report::files::printable;
use crate::scenario::import;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// The configurations `mqsim import` reads.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportKind {
    /// `aws sqs get-queue-attributes --attribute-names All` output (JSON).
    Sqs,
    /// A RabbitMQ definitions export (JSON).
    Rabbitmq,
    /// A Kafka consumer's `consumer.properties`.
    Kafka,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[arg(value_enum)]
    pub kind: ImportKind,
    pub file: PathBuf,
    /// Write the scenario here instead of to standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// kafka: partitions of the topic (the properties do not say).
    #[arg(long, default_value_t = 1)]
    pub partitions: u32,
}

/// Largest configuration file read (definitions of large clusters run to
/// a few megabytes).
const MAX_BYTES: u64 = 16 * 1024 * 1024;

fn read(path: &std::path::Path) -> Result<String, Failure> {
    let shown = printable(&path.display().to_string());
    crate::scenario::data::read_text(path, MAX_BYTES)
        .map_err(|e| Failure::input(format!("{shown}: {e}")))
}

pub fn command(a: &ImportArgs) -> Result<i32, Failure> {
    if a.partitions == 0 || a.partitions > 10_000 {
        return Err(Failure::input("--partitions must be between 1 and 10000"));
    }
    if let Some(out) = &a.out {
        if out.exists() && !a.force {
            return Err(Failure::input(format!(
                "--out {}: the file exists; pass --force to overwrite it",
                printable(&out.display().to_string())
            )));
        }
        crate::report::files::check_file_destination(out, "--out", &[a.file.as_path()])
            .map_err(Failure::from)?;
    }
    let text = read(&a.file)?;
    let shown = printable(&a.file.display().to_string());
    let scenario = match a.kind {
        ImportKind::Sqs => import::sqs(&text),
        ImportKind::Rabbitmq => import::rabbitmq(&text),
        ImportKind::Kafka => import::kafka(&text, a.partitions),
    }
    .map_err(|e| Failure::input(format!("{shown}: {}", printable(&e.to_string()))))?;
    // What is written must load: a failure here is mqsim's, said as such.
    let loaded = crate::scenario::load_str(&scenario, "imported.toml", &Default::default())
        .map_err(|e| {
            Failure::input(format!(
                "{shown}: the imported scenario does not load ({e}); please report this"
            ))
        })?;
    super::compile(&loaded)?;
    match &a.out {
        Some(out) => {
            crate::report::files::write_atomic(out, scenario.as_bytes()).map_err(Failure::from)?;
            eprintln!("wrote {}", printable(&out.display().to_string()));
        }
        None => print!("{scenario}"),
    }
    Ok(0)
}
