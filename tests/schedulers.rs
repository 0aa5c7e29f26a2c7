//! The scheduler examples do what they say: `examples/slurm/sweep.sbatch`
//! and `examples/kubernetes/indexed-job.yaml` are run here as their
//! scheduler would run them (every task with the variables the scheduler
//! sets, all at once, into one shared folder), their parts are merged by
//! their own merge step, and the result is compared byte for byte with the
//! same sweep run on one machine without `--shard`.

mod common;
use common::{mqsim, TempDir};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const MQSIM: &str = env!("CARGO_BIN_EXE_mqsim");

/// Replications per grid cell in these runs (the examples say 10): the
/// merge is exact for any number, and 2 keeps the test short.
const REPLICATIONS: &str = "2";

/// Every file of a result folder (not the lock), by name.
fn result_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with('.') && path.is_file() {
            files.insert(name, std::fs::read(&path).expect("readable"));
        }
    }
    files
}

fn assert_same_results(merged: &Path, reference: &Path) {
    let (merged, reference) = (result_files(merged), result_files(reference));
    assert!(reference.contains_key("sweep.csv") && reference.contains_key("summary.json"));
    assert_eq!(
        merged.keys().collect::<Vec<_>>(),
        reference.keys().collect::<Vec<_>>(),
        "the merge writes the files of the unsharded run"
    );
    for (name, bytes) in &reference {
        assert!(
            merged[name] == *bytes,
            "{name} differs from the unsharded run's"
        );
    }
}

/// The lines of the script's `case` branch `name)`, up to its `;;`, with
/// the continuation lines joined.
fn script_branch(script: &str, name: &str) -> String {
    let start = script
        .find(&format!("\n  {name})\n"))
        .unwrap_or_else(|| panic!("no `{name})` branch"));
    let body = &script[start + name.len() + 5..];
    body[..body.find(";;").expect("the branch ends")]
        .replace("\\\n", " ")
        .trim()
        .to_string()
}

#[test]
fn the_slurm_example_merges_to_the_unsharded_sweep() {
    let dir = TempDir::new("slurm");
    let script_path = "examples/slurm/sweep.sbatch";
    let script = std::fs::read_to_string(script_path).expect("the example");
    let run = |args: &[&str], variables: &[(&str, String)]| {
        let mut command = Command::new("bash");
        command
            .arg(script_path)
            .args(args)
            .env("MQSIM", MQSIM)
            .env("PARTS", dir.path("parts"))
            .env("RESULT", dir.path("result"))
            .env("REPLICATIONS", REPLICATIONS)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    dir.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            );
        for (name, value) in variables {
            command.env(name, value);
        }
        command.spawn().expect("bash runs")
    };
    // The submission: the array job, then the merge job depending on it
    // (a stand-in `sbatch` records its arguments and answers a job id).
    let log = dir.path("sbatch.log");
    dir.write(
        "sbatch",
        &format!("#!/bin/sh\necho \"$@\" >> {}\necho 4242\n", log.display()),
    );
    make_executable(&dir.path("sbatch"));
    assert!(run(&["submit"], &[]).wait().unwrap().success());
    let submitted = std::fs::read_to_string(&log).expect("sbatch was called");
    let calls: Vec<&str> = submitted.lines().collect();
    assert_eq!(calls.len(), 2, "{submitted}");
    assert!(
        calls[0].contains("--array=1-4") && calls[0].ends_with(script_path),
        "{submitted}"
    );
    assert!(
        calls[1].contains("--dependency=afterok:4242")
            && calls[1].ends_with(&format!("{script_path} merge")),
        "{submitted}"
    );
    // The array's four tasks at once, as Slurm numbers them for --array=1-4.
    let tasks: Vec<_> = (1..=4)
        .map(|id| {
            let variables = [
                ("SLURM_ARRAY_TASK_ID", id.to_string()),
                ("SLURM_ARRAY_TASK_MIN", "1".to_string()),
                ("SLURM_ARRAY_TASK_MAX", "4".to_string()),
                ("SLURM_ARRAY_TASK_COUNT", "4".to_string()),
                ("SLURM_CPUS_PER_TASK", "1".to_string()),
            ];
            run(&[], &variables)
        })
        .collect();
    for mut task in tasks {
        assert!(task.wait().unwrap().success(), "an array task failed");
    }
    for shard in 1..=4 {
        assert!(dir.path(&format!("parts/part-{shard}-of-4.json")).is_file());
    }
    assert!(run(&["merge"], &[]).wait().unwrap().success());
    // The same command on one machine: the shard branch without --shard.
    let unsharded = script_branch(&script, "shard")
        .replace("--shard auto", "")
        .replace("\"$PARTS\"", "\"$REFERENCE\"");
    assert!(!unsharded.contains("--shard"), "{unsharded}");
    let status = Command::new("bash")
        .args(["-c", &unsharded])
        .env("MQSIM", MQSIM)
        .env("REPLICATIONS", REPLICATIONS)
        .env("REFERENCE", dir.path("reference"))
        .status()
        .expect("bash runs");
    assert!(status.success());
    assert_same_results(&dir.path("result"), &dir.path("reference"));
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The `command: [...]` arrays of the manifest, in order (written as JSON
/// arrays, which YAML reads as flow sequences).
fn manifest_commands(manifest: &str) -> Vec<Vec<String>> {
    manifest
        .lines()
        .filter_map(|line| line.trim().strip_prefix("command: "))
        .map(|array| serde_json::from_str(array).unwrap_or_else(|e| panic!("{array}: {e}")))
        .collect()
}

/// A container path mapped to this test's folders: the ConfigMap holding
/// the scenario to `scenarios/`, the shared volume to `results`.
fn on_this_machine(argument: &str, results: &Path) -> String {
    argument
        .replace("/scenarios/", "scenarios/")
        .replace("/results", &results.display().to_string())
}

#[test]
fn the_kubernetes_example_merges_to_the_unsharded_sweep() {
    let dir = TempDir::new("kubernetes");
    let manifest = std::fs::read_to_string("examples/kubernetes/indexed-job.yaml").unwrap();
    assert!(manifest.contains("completionMode: Indexed"));
    let completions: usize = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("completions: "))
        .and_then(|n| n.parse().ok())
        .expect("completions");
    let commands = manifest_commands(&manifest);
    let [shard, wait, merge] = &commands[..] else {
        panic!("expected the shard, wait and merge commands: {commands:?}");
    };
    let local = |command: &[String]| -> Vec<String> {
        let mut args: Vec<String> = command.iter().map(|a| on_this_machine(a, &dir)).collect();
        if let Some(r) = args.iter().position(|a| a == "-r") {
            args[r + 1] = REPLICATIONS.into();
        }
        args
    };
    let shard = local(shard);
    assert_eq!(shard[0], "mqsim");
    assert!(shard.contains(&format!("auto/{completions}")), "{shard:?}");
    // Every pod of the Indexed Job at once, each with its index.
    let pods: Vec<_> = (0..completions)
        .map(|index| {
            Command::new(MQSIM)
                .args(&shard[1..])
                .env("JOB_COMPLETION_INDEX", index.to_string())
                .spawn()
                .expect("runs")
        })
        .collect();
    for mut pod in pods {
        assert!(pod.wait().unwrap().success(), "a pod failed");
    }
    // The merge Job's wait for the parts ends now that they are all there.
    let wait = local(wait);
    assert_eq!(wait[0], "sh");
    let status = Command::new("timeout")
        .args(["20"])
        .args(&wait)
        .status()
        .expect("sh runs");
    assert!(status.success(), "the merge Job's wait did not end");
    let merge = local(merge);
    assert_eq!(merge[..2], ["mqsim".to_string(), "merge".to_string()]);
    let (code, _, stderr) = mqsim(&merge[1..].iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{stderr}");
    // The same sweep on one machine.
    let mut unsharded = shard.clone();
    let at = unsharded.iter().position(|a| a == "--shard").unwrap();
    unsharded.drain(at..at + 2);
    let out = unsharded.iter().position(|a| a == "--out").unwrap();
    unsharded[out + 1] = dir.path("reference").display().to_string();
    let (code, _, stderr) = mqsim(
        &unsharded[1..]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(code, 0, "{stderr}");
    let result = merge[merge.iter().position(|a| a == "--out").unwrap() + 1].clone();
    assert_same_results(Path::new(&result), &dir.path("reference"));
}

/// Outside a scheduler, `--shard auto` is an error naming the variables it
/// reads (exit 2), and nothing is written.
#[test]
fn shard_auto_without_a_scheduler_names_the_variables() {
    let dir = TempDir::new("no-scheduler");
    let out = dir.path("parts");
    let output = Command::new(MQSIM)
        .args([
            "run",
            "scenarios/mm1.toml",
            "-r",
            "2",
            "--shard",
            "auto/2",
            "--out",
        ])
        .arg(&out)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("MQSIM_SHARD_INDEX")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for name in [
        "SLURM_ARRAY_TASK_ID",
        "JOB_COMPLETION_INDEX",
        "MQSIM_SHARD_INDEX",
    ] {
        assert!(stderr.contains(name), "{stderr}");
    }
    assert!(!out.exists(), "nothing is written");
}
