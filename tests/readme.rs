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
