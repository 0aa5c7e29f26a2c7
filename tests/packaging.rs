//! The crate as `cargo package` makes it: its metadata, and exactly the
//! files it should hold (the code, tests, scenarios, examples, font, man
//! page, README and licences; no build output, results, benchmark harness
//! or Python package).

#[test]
fn the_manifest_has_the_registry_metadata() {
    let manifest: toml::Table = std::fs::read_to_string("Cargo.toml")
        .unwrap()
        .parse()
        .unwrap();
    let package = manifest["package"].as_table().unwrap();
    for key in ["description", "license", "readme"] {
        assert!(
            package
                .get(key)
                .and_then(|v| v.as_str())
                .is_some_and(|v| !v.is_empty()),
            "package.{key}"
        );
    }
    let keywords = package["keywords"].as_array().unwrap();
    assert!(
        (1..=5).contains(&keywords.len()),
        "crates.io takes at most 5 keywords"
    );
    assert!(!package["categories"].as_array().unwrap().is_empty());
    for licence in ["LICENSE-MIT", "LICENSE-APACHE"] {
        assert!(
            std::path::Path::new(licence).is_file(),
            "{licence} (the licence says MIT OR Apache-2.0)"
        );
    }
}

#[test]
fn the_package_holds_the_sources_and_no_stray_files() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["package", "--list", "--allow-dirty", "--offline"])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "src/main.rs",
        "src/lib.rs",
        "assets/DejaVuSans.ttf",
        "scenarios/quickstart.toml",
        "docs/mqsim.1",
        "tests/common/mod.rs",
        "examples/lindley.rs",
        ".ci/run",
    ] {
        assert!(
            files.iter().any(|f| f == needed),
            "the package lacks {needed}"
        );
    }
    let stray: Vec<&String> = files
        .iter()
        .filter(|f| {
            ["target/", "output/", "python/", "benches/", "fuzz/"]
                .iter()
                .any(|d| f.starts_with(d))
                || f.ends_with(".tmp")
                || f.contains("__pycache__")
                || *f == ".gitignore"
        })
        .collect();
    assert!(
        stray.is_empty(),
        "files that do not belong in the crate: {stray:?}"
    );
}
