//! `mqsim merge`: combines the part files of `--shard i/n` runs into the
//! report one machine would have written.

use super::study::read_parts;
use crate::cli::{Common, Failure, MergeArgs};

pub fn merge_command(a: &MergeArgs) -> Result<i32, Failure> {
    let parts = read_parts(&a.parts)?;
    let spec = parts[0].spec.clone();
    let cells = spec.cells()?;
    let results = parts.into_iter().flat_map(|p| p.results).collect();
    let name = cells
        .first()
        .map(|c| c.model.name.clone())
        .unwrap_or_default();
    let common = Common {
        set: spec.sets.clone(),
        replications: Some(spec.replications),
        jobs: 0,
        seed: Some(spec.seed),
        precision: None,
        max_replications: spec.replications,
        format: a.format,
        out: Some(a.out.clone()),
        no_files: false,
        charts: false,
        quiet: a.quiet,
        max_events: None,
        max_wall: None,
        force: true,
        shard: None,
        build: Default::default(),
    };
    super::compare::finish(&spec, &cells, results, &common, &name)
}
