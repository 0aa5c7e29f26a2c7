//! The README documents every key the loader accepts, and its set-up
//! commands are the ones CI runs.

#[test]
fn every_scenario_key_is_in_the_readme() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let missing: Vec<String> = mqsim::scenario::schema::key_paths()
        .into_iter()
        .filter(|k| {
            !readme.contains(&format!("`{k}`"))
                && !readme.contains(&format!("`{k} "))
                && !readme.contains(&format!("`{k}="))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "keys the loader accepts but the README does not document: {missing:?}"
    );
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let ci = std::fs::read_to_string(".ci/run").unwrap();
    let first_block = readme
        .split("```sh")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    assert!(first_block.contains("cargo run --release -- run scenarios/quickstart.toml"));
    assert!(first_block.contains("cargo test --release"));
    assert!(ci.contains("\ncargo test --release\n"));
}

#[test]
fn every_command_line_flag_is_in_the_readme() {
    use clap::CommandFactory;
    let readme = std::fs::read_to_string("README.md").unwrap();
    let cli = mqsim::cli::Cli::command();
    let mut missing = Vec::new();
    for sub in cli.get_subcommands() {
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long() {
                let flag = format!("--{long}");
                let shown = ["`", " ", "["]
                    .iter()
                    .any(|before| readme.contains(&format!("{before}{flag}")));
                if !shown {
                    missing.push(format!("mqsim {} {flag}", sub.get_name()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "flags the command line accepts but the README does not document: {missing:?}"
    );
}

/// The README stands alone: every file it links to is in the repository.
#[test]
fn the_readme_links_only_to_files_in_the_repository() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let mut outside = Vec::new();
    for (i, _) in readme.match_indices("](") {
        let target: String = readme[i + 2..].chars().take_while(|&c| c != ')').collect();
        if target.starts_with("http") || target.starts_with('#') {
            continue;
        }
        if target.contains("..") || !std::path::Path::new(&target).exists() {
            outside.push(target);
        }
    }
    assert!(
        !readme.contains("../shared"),
        "the README names a path outside the repository"
    );
    assert!(
        outside.is_empty(),
        "links outside the repository: {outside:?}"
    );
}
