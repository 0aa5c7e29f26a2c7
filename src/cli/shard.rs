//! `mqsim merge`: combines the part files of `--shard i/n` runs into the
//! report one machine would have written, after checking that every part is
//! what a shard of one study wrote: its digests, its shard number, the job
//! indices, seeds and replication numbers, and the conservation of messages
//! in every replication. A part that fails is named with the field at fault
//! (exit 2).

use super::study::{digest_json, read_parts, Part};
use crate::cli::{Common, Failure, MergeArgs};
use serde_json::Value;

pub fn merge_command(a: &MergeArgs) -> Result<i32, Failure> {
    let parts = read_parts(&a.parts)?;
    let (first_file, first) = &parts[0];
    let spec = first.spec.clone();
    for (file, part) in &parts {
        check_digests(file, part)?;
        if part.study_digest != first.study_digest || part.spec != spec {
            return Err(Failure::input(format!(
                "{file}: `spec` differs from {first_file}'s: the parts come from different studies (scenario, overrides, variants, values, replications or seed differ)"
            )));
        }
        if part.of != first.of {
            return Err(Failure::input(format!(
                "{file}: `of` is {} but {first_file} says {}: the parts come from different shardings",
                part.of, first.of
            )));
        }
    }
    for (k, (file, part)) in parts.iter().enumerate() {
        if let Some((other, _)) = parts[..k].iter().find(|(_, p)| p.shard == part.shard) {
            return Err(Failure::input(format!(
                "{file}: `shard` {} is also the shard of {other}: give each part once",
                part.shard
            )));
        }
    }
    let cells = spec.cells()?;
    let total = spec.job_count(cells.len());
    for (file, part) in &parts {
        check_jobs(file, part, total)?;
    }
    let results = parts.into_iter().flat_map(|(_, p)| p.results).collect();
    let name = cells
        .first()
        .map(|c| c.model.name.clone())
        .unwrap_or_default();
    let common = Common {
        set: spec.sets.clone(),
        replications: Some(spec.replications),
        jobs: 0,
        seed: Some(spec.seed),
        replication: None,
        precision: None,
        max_replications: spec.replications.max(1),
        format: a.format,
        out: Some(a.out.clone()),
        no_files: false,
        charts: false,
        html: a.html,
        quiet: a.quiet,
        max_events: None,
        max_wall: None,
        force: true,
        shard: None,
        build: Default::default(),
    };
    let _lock = crate::cli::claim_outputs(std::slice::from_ref(&a.out), &[], &[])?;
    super::compare::finish(&spec, &cells, results, &common, &name)
}

/// The digests a part carries must be those of its study and its results.
fn check_digests(file: &str, part: &Part) -> Result<(), Failure> {
    if part.study_digest != digest_json(&part.spec) {
        return Err(Failure::input(format!(
            "{file}: `study_digest` does not match `spec`: the study was edited after the shard ran"
        )));
    }
    if part.results_digest != digest_json(&part.results) {
        return Err(Failure::input(format!(
            "{file}: `results_digest` does not match `results`: the results were edited after the shard ran"
        )));
    }
    if part.of == 0 || part.shard == 0 || part.shard > part.of {
        return Err(Failure::input(format!(
            "{file}: `shard` {} of `of` {} is not a shard (1 <= shard <= of)",
            part.shard, part.of
        )));
    }
    Ok(())
}

/// Each result is a job of this part's shard, with the replication number
/// and seed of that job, and conserves its messages.
fn check_jobs(file: &str, part: &Part, total: usize) -> Result<(), Failure> {
    let replications = part.spec.replications.max(1) as usize;
    for (k, job) in part.results.iter().enumerate() {
        let at = |field: &str| format!("{file}: `results[{k}].{field}`");
        if job.job >= total || job.job % part.of != part.shard - 1 {
            return Err(Failure::input(format!(
                "{} = {} is not a job of shard {}/{} (the study has jobs 0 to {})",
                at("job"),
                job.job,
                part.shard,
                part.of,
                total.saturating_sub(1)
            )));
        }
        let r = &job.replication;
        let index = (job.job % replications) as u32;
        if r.index != index {
            return Err(Failure::input(format!(
                "{} = {} but job {} is replication {index}",
                at("replication.index"),
                r.index,
                job.job
            )));
        }
        let seed = crate::rng::replication_seed(part.spec.seed, index as u64);
        if r.seed != seed {
            return Err(Failure::input(format!(
                "{} = {} is not the seed of replication {index} of seed {} ({seed})",
                at("replication.seed"),
                r.seed,
                part.spec.seed
            )));
        }
        check_counts(&at("replication.metrics.messages"), &r.metrics)?;
    }
    Ok(())
}

/// Message counts are whole, non-negative, at most the messages the run
/// created, and conserved.
fn check_counts(at: &str, metrics: &serde_json::Map<String, Value>) -> Result<(), Failure> {
    let Some(messages) = metrics.get("messages").and_then(Value::as_object) else {
        return Err(Failure::input(format!("{at}: missing")));
    };
    let count = |key: &str| -> Result<u64, Failure> {
        let v = messages.get(key).and_then(Value::as_f64);
        match v {
            Some(x) if x >= 0.0 && x.fract() == 0.0 && x < 9.0e15 => Ok(x as u64),
            _ => Err(Failure::input(format!(
                "{at}.{key} = {} is not a count of messages",
                messages
                    .get(key)
                    .map_or("nothing".into(), |v| v.to_string())
            ))),
        }
    };
    let published = count("published")?;
    let mut accounted = 0u64;
    for key in [
        "rejected",
        "acked",
        "dead_lettered",
        "lost",
        "expired",
        "in_flight",
    ] {
        accounted += count(key)?;
    }
    if accounted != published {
        return Err(Failure::input(format!(
            "{at}: published {published} != rejected + acked + dead_lettered + lost + expired + in_flight = {accounted} (messages are not conserved)"
        )));
    }
    Ok(())
}
