//! Golden digests: the JSON that `run` and `compare` print for every
//! bundled scenario (two replications each), one trace, and the CSV files
//! of one run, reduced to 64-bit digests in `tests/golden/digests.txt`.
//!
//! A change that should not move a single output byte (a refactor, a
//! speed-up, a move between layers) must leave every digest alone; a
//! change that means to move numbers regenerates the file with
//! `MQSIM_BLESS=1 cargo test --release --test golden` and says why in its
//! commit. On a mismatch the test names each scenario and command that
//! changed.

mod common;
use common::*;
use std::collections::BTreeMap;

/// FNV-1a, 64 bits: stable across platforms and Rust versions (the
/// standard library's hasher is not).
fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn scenarios() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir("scenarios")
        .expect("scenarios/")
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "toml").then(|| p.to_string_lossy().into_owned())
        })
        .collect();
    files.sort();
    files
}

fn has_variants(file: &str) -> bool {
    std::fs::read_to_string(file)
        .expect("readable")
        .contains("[[variant]]")
}

/// Every output the digests cover, by name.
fn outputs(dir: &TempDir) -> BTreeMap<String, String> {
    let mut got = BTreeMap::new();
    let mut record = |name: String, args: &[&str]| {
        let (code, out, err) = mqsim(args);
        assert_eq!(code, 0, "mqsim {args:?}: {err}");
        got.insert(name, digest(out.as_bytes()));
    };
    for file in scenarios() {
        let common = ["--format", "json", "--no-files", "-q", "-r", "2"];
        let mut args = vec!["run", file.as_str()];
        args.extend(common);
        record(format!("run {file}"), &args);
        if has_variants(&file) {
            args[0] = "compare";
            record(format!("compare {file}"), &args);
        }
    }
    let trace = dir.path("trace.jsonl");
    let out = dir.path("out");
    let (code, _, err) = mqsim(&[
        "run",
        "scenarios/publisher-confirms.toml",
        "-q",
        "-r",
        "2",
        "--trace",
        trace.to_str().unwrap(),
        "--trace-first",
        "40",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut files = vec![trace.clone(), dir.path("trace.jsonl.chrome.json")];
    let mut written: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    written.sort();
    files.extend(written);
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&f).unwrap();
        got.insert(format!("file publisher-confirms {name}"), digest(&bytes));
    }
    got
}

#[test]
fn every_output_keeps_its_digest() {
    let dir = TempDir::new("golden");
    let got = outputs(&dir);
    let path = "tests/golden/digests.txt";
    let text: String = got.iter().map(|(k, v)| format!("{v} {k}\n")).collect();
    if std::env::var_os("MQSIM_BLESS").is_some() {
        std::fs::write(path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_default();
    let want: BTreeMap<String, String> = want
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(d, k)| (k.to_string(), d.to_string()))
        .collect();
    let changed: Vec<String> = got
        .keys()
        .chain(want.keys())
        .filter(|k| got.get(*k) != want.get(*k))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        changed.is_empty(),
        "outputs changed: {changed:?}\n(a change meant to move them: MQSIM_BLESS=1 cargo test --release --test golden, and say why in the commit)"
    );
}
