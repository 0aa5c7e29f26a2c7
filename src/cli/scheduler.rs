//! `--shard auto/N` and `--shard auto`: the shard a task runs, taken from
//! the variables its scheduler sets, so that one command line serves every
//! task of a Slurm job array or a Kubernetes Indexed Job.
//!
//! - `MQSIM_SHARD_INDEX` (from 0), with `MQSIM_SHARD_COUNT` for `auto`:
//!   set by hand or by any other scheduler; it comes first, so that it can
//!   override a scheduler's variables.
//! - Slurm job arrays: `SLURM_ARRAY_TASK_ID` counted from
//!   `SLURM_ARRAY_TASK_MIN` in steps of `SLURM_ARRAY_TASK_STEP` (so
//!   `--array=1-8` and `--array=0-14:2` both give shards 1 to 8), the count
//!   from `SLURM_ARRAY_TASK_COUNT`, or else from `_MIN`, `_MAX` and `_STEP`.
//! - Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX` (from 0); Kubernetes
//!   does not tell the pod the job's `completions`, so it needs `auto/N`.

use super::Failure;

/// Every variable `--shard auto` reads, for the error that names them.
pub const VARIABLES: &str = "MQSIM_SHARD_INDEX (with MQSIM_SHARD_COUNT), SLURM_ARRAY_TASK_ID (with SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_MAX, SLURM_ARRAY_TASK_STEP or SLURM_ARRAY_TASK_COUNT) or JOB_COMPLETION_INDEX";

/// A shard of a study: `index` of `count`, from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
    /// Where `auto` found the shard, e.g. `SLURM_ARRAY_TASK_ID=4`; None
    /// for an explicit `i/n`.
    pub source: Option<String>,
}

/// What the scheduler said: the task's index from 0, and the count of
/// tasks when it says.
struct Task {
    index: u64,
    count: Option<u64>,
    source: String,
}

/// Parses `--shard`: `i/n`, `auto/n` or `auto`, reading the scheduler's
/// variables through `variable` (the process environment in the command
/// line; a table in the tests).
pub fn resolve(text: &str, variable: &dyn Fn(&str) -> Option<String>) -> Result<Shard, Failure> {
    let bad = || {
        Failure::input(format!(
            "--shard {text}: write i/n with 1 <= i <= n (e.g. --shard 2/8), auto/n (the index from the scheduler) or auto (index and count from the scheduler)"
        ))
    };
    let (first, count) = match text.split_once('/') {
        Some((first, count)) => (
            first.trim(),
            Some(count.trim().parse::<usize>().map_err(|_| bad())?),
        ),
        None => (text.trim(), None),
    };
    if count == Some(0) {
        return Err(bad());
    }
    if first != "auto" {
        let index: usize = first.parse().map_err(|_| bad())?;
        let count = count.ok_or_else(bad)?;
        if index == 0 || index > count {
            return Err(bad());
        }
        return Ok(Shard {
            index,
            count,
            source: None,
        });
    }
    let task = scheduler_task(variable)?.ok_or_else(|| {
        Failure::input(format!(
            "--shard {text}: no scheduler variable is set: auto takes the shard from {VARIABLES}; outside a scheduler give the shard as i/n"
        ))
    })?;
    let count = match (count, task.count) {
        (Some(n), Some(said)) if n as u64 != said => {
            return Err(Failure::input(format!(
                "--shard {text}: {} says there are {said} tasks, not {n}: make the job's task count and --shard agree",
                task.source
            )))
        }
        (Some(n), _) => n,
        (None, Some(said)) => usize::try_from(said).map_err(|_| bad())?,
        (None, None) => {
            return Err(Failure::input(format!(
                "--shard auto: {} gives the index but not the count of tasks: write --shard auto/N with N the job's task count (for a Kubernetes Indexed Job, its `completions`)",
                task.source
            )))
        }
    };
    if count == 0 || task.index >= count as u64 {
        return Err(Failure::input(format!(
            "--shard {text}: {} is task {} (from 0), but there are {count} shards (0 to {})",
            task.source,
            task.index,
            count.saturating_sub(1)
        )));
    }
    Ok(Shard {
        index: task.index as usize + 1,
        count,
        source: Some(task.source),
    })
}

/// The first scheduler whose variables are set, in the order of the module
/// documentation; a variable that is set but is not a whole number is an
/// error naming it.
fn scheduler_task(variable: &dyn Fn(&str) -> Option<String>) -> Result<Option<Task>, Failure> {
    let number = |name: &str| -> Result<Option<u64>, Failure> {
        match variable(name) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                Failure::input(format!(
                    "--shard auto: {name}={v} is not a whole number from 0"
                ))
            }),
        }
    };
    if let Some(index) = number("MQSIM_SHARD_INDEX")? {
        return Ok(Some(Task {
            index,
            count: number("MQSIM_SHARD_COUNT")?,
            source: format!("MQSIM_SHARD_INDEX={index}"),
        }));
    }
    if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        return slurm_task(id, &number).map(Some);
    }
    if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        return Ok(Some(Task {
            index,
            count: None,
            source: format!("JOB_COMPLETION_INDEX={index}"),
        }));
    }
    Ok(None)
}

/// A Slurm array task: its place among the array's ids.
fn slurm_task(
    id: u64,
    number: &dyn Fn(&str) -> Result<Option<u64>, Failure>,
) -> Result<Task, Failure> {
    let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
    let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
    let max = number("SLURM_ARRAY_TASK_MAX")?;
    let mut source = format!("SLURM_ARRAY_TASK_ID={id}");
    if min != 0 {
        source.push_str(&format!(" (SLURM_ARRAY_TASK_MIN={min})"));
    }
    if id < min || !(id - min).is_multiple_of(step) {
        return Err(Failure::input(format!(
            "--shard auto: {source} is not an id of the array from SLURM_ARRAY_TASK_MIN={min} in steps of {step}"
        )));
    }
    let count = match number("SLURM_ARRAY_TASK_COUNT")? {
        Some(count) => Some(count),
        None => max
            .filter(|&max| max >= min)
            .map(|max| (max - min) / step + 1),
    };
    Ok(Task {
        index: (id - min) / step,
        count,
        source,
    })
}

/// `--shard` read against the process environment.
pub fn resolve_from_environment(text: &str) -> Result<Shard, Failure> {
    resolve(text, &|name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(variables: &[(&str, &str)], text: &str) -> Result<Shard, String> {
        let table: Vec<(String, String)> = variables
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(text, &|name| {
            table
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
        .map_err(|f| {
            assert_eq!(f.code, 2);
            f.message
        })
    }

    fn index_of(variables: &[(&str, &str)], text: &str) -> (usize, usize) {
        let shard = with(variables, text).unwrap();
        (shard.index, shard.count)
    }

    #[test]
    fn explicit_shards_ignore_the_environment() {
        assert_eq!(index_of(&[("SLURM_ARRAY_TASK_ID", "3")], "2/8"), (2, 8));
        for bad in ["0/8", "9/8", "2/0", "2", "x/8", "auto/x", "auto/0"] {
            assert!(with(&[], bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slurm_arrays_count_from_their_first_id_in_their_steps() {
        let array = [("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_MAX", "8")];
        for id in 1..=8 {
            let id_text = id.to_string();
            let mut variables = array.to_vec();
            variables.push(("SLURM_ARRAY_TASK_ID", &id_text));
            assert_eq!(index_of(&variables, "auto"), (id, 8));
            assert_eq!(index_of(&variables, "auto/8"), (id, 8));
        }
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "6"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "14"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
        ];
        assert_eq!(index_of(&stepped, "auto"), (4, 8));
        let counted = [
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "5"),
        ];
        assert_eq!(index_of(&counted, "auto"), (1, 5));
        let error = with(&counted, "auto/4").unwrap_err();
        assert!(error.contains("5 tasks, not 4"), "{error}");
    }

    #[test]
    fn kubernetes_gives_the_index_and_the_command_the_count() {
        let pod = [("JOB_COMPLETION_INDEX", "3")];
        assert_eq!(index_of(&pod, "auto/4"), (4, 4));
        let error = with(&pod, "auto").unwrap_err();
        assert!(
            error.contains("auto/N") && error.contains("completions"),
            "{error}"
        );
        let error = with(&pod, "auto/3").unwrap_err();
        assert!(error.contains("there are 3 shards"), "{error}");
    }

    #[test]
    fn the_mqsim_variable_overrides_the_schedulers() {
        let variables = [
            ("MQSIM_SHARD_INDEX", "1"),
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("JOB_COMPLETION_INDEX", "0"),
        ];
        assert_eq!(index_of(&variables, "auto/3"), (2, 3));
        let counted = [("MQSIM_SHARD_INDEX", "0"), ("MQSIM_SHARD_COUNT", "2")];
        assert_eq!(index_of(&counted, "auto"), (1, 2));
    }

    #[test]
    fn without_a_scheduler_the_error_names_every_variable() {
        for text in ["auto", "auto/4"] {
            let error = with(&[], text).unwrap_err();
            for name in [
                "MQSIM_SHARD_INDEX",
                "SLURM_ARRAY_TASK_ID",
                "SLURM_ARRAY_TASK_COUNT",
                "JOB_COMPLETION_INDEX",
            ] {
                assert!(error.contains(name), "{error} lacks {name}");
            }
        }
        let error = with(&[("JOB_COMPLETION_INDEX", "-1")], "auto/4").unwrap_err();
        assert!(error.contains("JOB_COMPLETION_INDEX=-1"), "{error}");
        let error = with(
            &[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "4")],
            "auto/4",
        )
        .unwrap_err();
        assert!(error.contains("not an id of the array"), "{error}");
    }
}
