//! A study: the grid of (parameter value x variant x replication) jobs of a
//! `compare` or `sweep`. Jobs are numbered in that order; `--shard i/n`
//! runs the jobs whose number is i-1 modulo n and writes a part file;
//! `mqsim merge` puts the parts together. Every report is assembled from the
//! per-replication results alone, so merged shards give byte for byte what
//! one machine gives.

use crate::cli::Failure;
use crate::experiment::{choose_warmup, pool, replicate, Outcome, Plan, Replication};
use crate::model::Model;
use crate::report::{ReportError, VariantResult};
use crate::scenario::load::{parse_value, Override, RawScenario};
use crate::time::Nanos;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Version 2 added the study and results digests.
pub const PART_FORMAT: &str = "mqsim-part-2";

/// What a study runs: enough to rebuild every model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StudySpec {
    pub kind: String,
    pub file: String,
    pub scenario_text: String,
    pub sets: Vec<String>,
    /// (variant name, its overrides as KEY=VALUE).
    pub variants: Vec<(String, Vec<String>)>,
    /// The swept key, and its values as written.
    pub param: Option<String>,
    pub values: Vec<String>,
    /// Further swept keys with their values: the grid is every
    /// combination, the first parameter outermost.
    #[serde(default)]
    pub grid: Vec<(String, Vec<String>)>,
    /// `sweep --metric`: the summary paths reported (empty: the defaults).
    #[serde(default)]
    pub metrics: Vec<String>,
    pub replications: u32,
    pub seed: u64,
    /// `--allow-outside`: the scenario's data files may lie outside its folder.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_outside: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobResult {
    pub job: usize,
    pub warmup_ns: Nanos,
    pub warmup_auto: bool,
    pub replication: Replication,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Part {
    pub format: String,
    pub spec: StudySpec,
    /// [`digest`] of `spec` as JSON: parts of one study carry the same.
    pub study_digest: String,
    pub shard: usize,
    pub of: usize,
    pub results: Vec<JobResult>,
    /// [`digest`] of `results` as JSON: an edited result is detected.
    pub results_digest: String,
}

/// `part-I-of-N.json`: one shard's results, compact (`mqsim merge` reads
/// it, people do not).
pub struct PartJson;

impl crate::report::Exporter<Part> for PartJson {
    fn file_name(&self) -> &'static str {
        "part.json"
    }
    fn render(&self, part: &Part) -> Result<Vec<u8>, ReportError> {
        serde_json::to_vec(part).map_err(ReportError::render)
    }
}

impl Part {
    /// A part with its digests.
    pub fn new(spec: StudySpec, shard: usize, of: usize, results: Vec<JobResult>) -> Part {
        let study_digest = digest_json(&spec);
        let results_digest = digest_json(&results);
        Part {
            format: PART_FORMAT.into(),
            spec,
            study_digest,
            shard,
            of,
            results,
            results_digest,
        }
    }
}

/// A 128-bit digest of some JSON, as 32 hex digits. It detects corruption
/// and edits of a part file, not a forger who recomputes it (it is not a
/// signature).
pub fn digest_json<T: Serialize>(value: &T) -> String {
    let text = serde_json::to_vec(value).unwrap_or_default();
    digest(&text)
}

/// Two independent 64-bit lanes of [`crate::rng::combine`] over the bytes
/// (8 at a time), finished with the length.
pub fn digest(bytes: &[u8]) -> String {
    use crate::rng::combine;
    let (mut a, mut b) = (0x6d71_7369_6d2d_6131_u64, 0x7061_7274_2d64_6967_u64);
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        a = combine(a, w);
        b = combine(b, w ^ 0x9e37_79b9_7f4a_7c15);
    }
    a = combine(a, bytes.len() as u64);
    b = combine(b, !(bytes.len() as u64));
    format!("{a:016x}{b:016x}")
}

/// One cell of the grid: a model for a (values, variant).
pub struct Cell {
    /// The first parameter's value.
    pub value: Option<String>,
    /// Every parameter's value, in the order of the parameters.
    pub values: Vec<String>,
    pub variant: String,
    pub model: Model,
}

impl StudySpec {
    fn raw(&self) -> Result<RawScenario, Failure> {
        let stem = std::path::Path::new(&self.file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into());
        let mut raw = RawScenario::parse(&self.scenario_text, &self.file, &stem)?;
        raw.access.allow_outside = self.allow_outside;
        Ok(raw)
    }

    /// The models of every (value, variant), in job order.
    pub fn cells(&self) -> Result<Vec<Cell>, Failure> {
        let raw = self.raw()?;
        let mut base: Vec<Override> = Vec::new();
        for s in &self.sets {
            base.push(Override::parse(s).map_err(Failure::input)?);
        }
        let mut params: Vec<(&String, &Vec<String>)> = Vec::new();
        if let Some(p) = &self.param {
            params.push((p, &self.values));
            params.extend(self.grid.iter().map(|(k, v)| (k, v)));
        }
        let mut cells = Vec::new();
        for point in grid_points(&params) {
            for (name, sets) in &self.variants {
                let mut ov = base.clone();
                for s in sets {
                    let mut o = Override::parse(s).map_err(Failure::input)?;
                    o.origin = format!("variant `{name}`: {s}");
                    ov.push(o);
                }
                for ((p, _), v) in params.iter().zip(&point) {
                    ov.push(Override {
                        path: (*p).clone(),
                        value: parse_value(v),
                        origin: format!("--param {p} = {v}"),
                    });
                }
                let scenario = raw.build(&ov)?;
                let model = crate::cli::compile(&scenario)?;
                cells.push(Cell {
                    value: point.first().cloned(),
                    values: point.clone(),
                    variant: name.clone(),
                    model,
                });
            }
        }
        Ok(cells)
    }

    pub fn job_count(&self, cells: usize) -> usize {
        cells * self.replications as usize
    }
}

/// Every combination of the parameters' values, the first parameter
/// outermost; one empty point when there is no parameter.
fn grid_points(params: &[(&String, &Vec<String>)]) -> Vec<Vec<String>> {
    let mut points: Vec<Vec<String>> = vec![vec![]];
    for (_, values) in params {
        points = points
            .iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push(v.clone());
                    q
                })
            })
            .collect();
    }
    points
}

/// Runs the jobs of `shard` (all when None).
pub fn run_jobs(
    spec: &StudySpec,
    cells: &[Cell],
    plan: &Plan,
    shard: Option<(usize, usize)>,
) -> Vec<JobResult> {
    let reps = spec.replications as usize;
    let warmups = pool(plan.jobs).install(|| shared_warmups(spec, cells, plan));
    let jobs: Vec<usize> = (0..spec.job_count(cells.len()))
        .filter(|j| shard.is_none_or(|(i, n)| j % n == i - 1))
        .collect();
    pool(plan.jobs).install(|| {
        jobs.par_iter()
            .map(|&j| {
                let (cell, r) = (j / reps, j % reps);
                let (w, auto) = warmups[cell];
                JobResult {
                    job: j,
                    warmup_ns: w,
                    warmup_auto: auto,
                    replication: replicate(
                        &cells[cell].model,
                        spec.seed,
                        r as u32 + plan.first_replication,
                        w,
                        plan.limits,
                        plan.build,
                    ),
                }
            })
            .collect()
    })
}

/// The warm-up of each cell: one for all the variants of a grid point (the
/// longest they choose), so that variants that change nothing get the
/// same statistics window; a warm-up chosen per variant made identical
/// variants differ (`acked` marked significant in about half the
/// comparisons, issue 30).
fn shared_warmups(spec: &StudySpec, cells: &[Cell], plan: &Plan) -> Vec<(Nanos, bool)> {
    let chosen: Vec<(Nanos, bool)> = cells
        .iter()
        .map(|c| choose_warmup(&c.model, spec.seed, plan.limits, plan.build))
        .collect();
    let per_point = spec.variants.len().max(1);
    chosen
        .chunks(per_point)
        .flat_map(|point| {
            let longest = point.iter().filter(|w| w.1).map(|w| w.0).max();
            point
                .iter()
                .map(|&(w, auto)| {
                    if auto {
                        (longest.unwrap_or(w), true)
                    } else {
                        (w, false)
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Assembles per-variant results from complete job results.
pub fn assemble(
    spec: &StudySpec,
    cells: &[Cell],
    mut results: Vec<JobResult>,
) -> Result<Vec<(Vec<String>, VariantResult)>, Failure> {
    let reps = spec.replications as usize;
    let total = spec.job_count(cells.len());
    results.sort_by_key(|r| r.job);
    if let Some(w) = results.windows(2).find(|w| w[0].job == w[1].job) {
        return Err(Failure::input(format!(
            "job {} appears in two parts: give each shard's part once",
            w[0].job
        )));
    }
    if results.len() != total {
        let have: Vec<usize> = results.iter().map(|r| r.job).collect();
        let missing: Vec<String> = (0..total)
            .filter(|j| !have.contains(j))
            .take(10)
            .map(|j| j.to_string())
            .collect();
        return Err(Failure::input(format!(
            "the parts hold {} of {} jobs; missing jobs {} (did every shard run?)",
            results.len(),
            total,
            missing.join(", ")
        )));
    }
    let mut out = Vec::new();
    let mut it = results.into_iter();
    for cell in cells {
        let chunk: Vec<JobResult> = it.by_ref().take(reps).collect();
        let (warmup_ns, warmup_auto) = chunk
            .first()
            .map_or((0, false), |j| (j.warmup_ns, j.warmup_auto));
        let outcome = Outcome {
            model_name: cell.model.name.clone(),
            seed: spec.seed,
            warmup_ns,
            warmup_auto,
            reps: chunk.into_iter().map(|j| j.replication).collect(),
            precision: None,
        };
        let summary = outcome.summary(&cell.model);
        out.push((
            cell.values.clone(),
            VariantResult {
                name: cell.variant.clone(),
                outcome,
                summary,
            },
        ));
    }
    Ok(out)
}

/// Reads part files (or folders holding them), each with its file name.
pub fn read_parts(paths: &[std::path::PathBuf]) -> Result<Vec<(String, Part)>, Failure> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<_> = std::fs::read_dir(p)
                .map_err(|e| Failure::input(format!("cannot read {}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("part-"))
                        && f.extension().is_some_and(|e| e == "json")
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        return Err(Failure::input("no part files given: pass the part-*.json files (or their folders) that --shard runs wrote"));
    }
    let mut parts = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)
            .map_err(|e| Failure::input(format!("cannot read {}: {e}", f.display())))?;
        let part: Part = serde_json::from_str(&text).map_err(|e| {
            Failure::input(format!(
                "{} is not an mqsim part file (of format {PART_FORMAT}): {e}",
                f.display()
            ))
        })?;
        if part.format != PART_FORMAT {
            return Err(Failure::input(format!(
                "{}: unknown part format `{}`",
                f.display(),
                part.format
            )));
        }
        parts.push((
            crate::report::files::printable(&f.display().to_string()),
            part,
        ));
    }
    Ok(parts)
}
