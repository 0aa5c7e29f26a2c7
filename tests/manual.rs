//! The manual page and the shell completions: `docs/mqsim.1` is what
//! `mqsim man` prints, and the completion scripts complete the commands and
//! flags the command line accepts.

mod common;
use common::{mqsim, TempDir};

/// `docs/mqsim.1` is regenerated here and must be what is committed. The
/// page shows the `live` command, so it is the page of the default build.
#[cfg(feature = "live")]
#[test]
fn the_committed_man_page_is_the_generated_one() {
    let generated = mqsim::cli::manual::man_page();
    if std::env::var_os("MQSIM_BLESS").is_some() {
        std::fs::write("docs/mqsim.1", &generated).expect("docs/mqsim.1 writable");
    }
    let committed = std::fs::read_to_string("docs/mqsim.1").unwrap_or_default();
    assert!(
        committed == generated,
        "docs/mqsim.1 is out of date with the command line: update it with \
         `cargo run --release -- man > docs/mqsim.1` (or `MQSIM_BLESS=1 cargo test --release --test manual`) and commit it"
    );
    let (code, stdout, _) = mqsim(&["man"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, generated, "`mqsim man` prints the page");
}

/// Every command and every long flag of every command is in the page.
#[test]
fn the_man_page_documents_every_command_and_flag() {
    use clap::CommandFactory;
    let page = mqsim::cli::manual::man_page();
    let command = mqsim::cli::Cli::command();
    // Hidden commands (`live-worker`, started by `mqsim live`) are not for users.
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let heading = format!(".SH \"MQSIM {}\"", sub.get_name().to_uppercase());
        assert!(page.contains(&heading), "no section {heading}");
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long() {
                let flag = format!("\\-\\-{}", long.replace('-', "\\-"));
                assert!(
                    page.contains(&flag),
                    "mqsim {} --{long} missing",
                    sub.get_name()
                );
            }
        }
    }
    for section in ["EXIT STATUS", "ENVIRONMENT", "FILES"] {
        assert!(page.contains(section), "no {section} section");
    }
}

/// The page is valid roff: `man` formats it without a warning.
#[test]
fn man_formats_the_page_without_warnings() {
    let dir = TempDir::new("man");
    let page = dir.write("mqsim.1", &mqsim::cli::manual::man_page());
    let Ok(out) = std::process::Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&page)
        .env("MANWIDTH", "80")
        .env("MAN_KEEP_FORMATTING", "0")
        .output()
    else {
        eprintln!("note: `man` is not installed; the page's formatting is not checked");
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Without a terminal man still prints bold as "X\u{8}X": keep the last.
    let mut stdout = String::new();
    for c in String::from_utf8_lossy(&out.stdout).chars() {
        if c == '\u{8}' {
            stdout.pop();
        } else {
            stdout.push(c);
        }
    }
    assert!(out.status.success(), "man failed: {stderr}");
    assert!(stderr.trim().is_empty(), "man warns: {stderr}");
    assert!(stdout.contains("EXIT STATUS") && stdout.contains("MQSIM SWEEP"));
}

/// Every shell named in the README gets a script naming the commands.
#[test]
fn every_shell_gets_a_completion_script() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, stdout, stderr) = mqsim(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        // fish names a flag without its dashes (`-l replications`).
        for word in ["compare", "sweep", "replications", "shard"] {
            assert!(stdout.contains(word), "{shell} script lacks {word}");
        }
    }
    let (code, _, stderr) = mqsim(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("bash") && stderr.contains("elvish"),
        "{stderr}"
    );
}

/// The bash script, sourced into bash, completes a command and its flags
/// as a user's Tab would.
#[test]
fn bash_completes_commands_and_flags() {
    let dir = TempDir::new("completions");
    let (_, script, _) = mqsim(&["completions", "bash"]);
    let file = dir.write("mqsim.bash", &script);
    let complete = |line: &str| -> Vec<String> {
        let words: Vec<&str> = line.split(' ').collect();
        let program = format!(
            "source {file}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT={point}; _mqsim mqsim '{current}' '{previous}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file = file.display(),
            words = words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
            cword = words.len() - 1,
            point = line.len(),
            current = words[words.len() - 1],
            previous = words[words.len() - 2],
        );
        let out = std::process::Command::new("bash")
            .args(["--norc", "-c", &program])
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let commands = complete("mqsim co");
    assert!(
        commands.contains(&"compare".to_string()) && commands.contains(&"completions".to_string()),
        "{commands:?}"
    );
    assert!(!commands.contains(&"run".to_string()), "{commands:?}");
    let flags = complete("mqsim sweep --re");
    assert!(
        flags.contains(&"--replications".to_string())
            && flags.contains(&"--replication".to_string()),
        "{flags:?}"
    );
    let shells = complete("mqsim completions ");
    assert!(shells.contains(&"zsh".to_string()), "{shells:?}");
}
