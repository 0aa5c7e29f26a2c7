//! `mqsim completions SHELL` and `mqsim man`: the shell completion scripts
//! and the manual page, both generated from the clap declarations so that
//! they cannot drift from the flags the command line accepts.
//! `docs/mqsim.1` is the page as generated; `tests/manual.rs` regenerates
//! it and fails when it is out of date.

use super::{Cli, Failure};
use clap::CommandFactory;
use std::io::Write;

/// The shells `mqsim completions` writes a script for.
pub use clap_complete::Shell;

/// Writes the completion script for `shell` on stdout.
pub fn completions_command(shell: Shell) -> Result<i32, Failure> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "mqsim", &mut script);
    write_stdout(&script)?;
    Ok(0)
}

/// Writes the manual page (roff) on stdout.
pub fn man_command() -> Result<i32, Failure> {
    write_stdout(man_page().as_bytes())?;
    Ok(0)
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        // As every command: a reader that left ends quietly.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure {
            code: super::BROKEN_PIPE,
            message: String::new(),
        }),
        Err(e) => Err(Failure::output(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}

/// The whole manual page: the overview of the commands, then one section
/// per command with its synopsis and every option, then the exit status,
/// the environment variables mqsim reads and the files it writes.
pub fn man_page() -> String {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let man = clap_mangen::Man::new(command.clone()).manual("mqsim manual");
    let mut page = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = man.render_title(&mut page);
    let _ = man.render_name_section(&mut page);
    let _ = man.render_synopsis_section(&mut page);
    let _ = man.render_description_section(&mut page);
    page.extend_from_slice(OVERVIEW.as_bytes());
    page.extend_from_slice(commands_list(&command).as_bytes());
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        page.extend_from_slice(command_section(sub).as_bytes());
    }
    page.extend_from_slice(TRAILER.as_bytes());
    let _ = man.render_version_section(&mut page);
    String::from_utf8_lossy(&page).into_owned()
}

/// The list of commands, each pointing at its section of this page.
fn commands_list(command: &clap::Command) -> String {
    let mut list = String::from(".SH COMMANDS\n");
    // Hidden commands (`live-worker`, which `mqsim live` starts) are not
    // for users.
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        list.push_str(&format!(
            ".TP\n\\fBmqsim {}\\fR\n{} (see \\fBMQSIM {}\\fR below)\n",
            sub.get_name(),
            roff_text(&about),
            sub.get_name().to_uppercase()
        ));
    }
    list
}

/// Text escaped for roff: backslashes, and a leading dot or quote that
/// would read as a request.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// One command's section: its description, synopsis and options, under a
/// heading of its own (`.SH "MQSIM RUN"`) with the parts as subsections.
fn command_section(sub: &clap::Command) -> String {
    let man = clap_mangen::Man::new(sub.clone());
    let mut parts = Vec::new();
    let _ = man.render_synopsis_section(&mut parts);
    let _ = man.render_description_section(&mut parts);
    if sub.get_arguments().any(|a| !a.is_hide_set()) {
        let _ = man.render_options_section(&mut parts);
    }
    let body = String::from_utf8_lossy(&parts).into_owned();
    let heading = format!("mqsim {}", sub.get_name()).to_uppercase();
    let mut section = format!(".SH \"{heading}\"\n");
    for line in body.lines() {
        match line.strip_prefix(".SH ") {
            Some(title) => section.push_str(&format!(".SS {title}\n")),
            None => {
                section.push_str(line);
                section.push('\n');
            }
        }
    }
    section
}

/// Between the description and the list of commands.
const OVERVIEW: &str = r#".PP
A scenario file (TOML) describes producers, queues, consumers, the network,
crashes, outages and retry strategies; \fBmqsim run\fR simulates it and says
what happened to every message (lost, processed twice, dead\-lettered, how
long it took), with 95% confidence intervals. The same scenario and seed give
byte\-identical results for any number of threads.
.PP
The README of the source distribution is the full reference of the scenario
keys, the output files and the statistics.
"#;

/// After the commands' sections.
const TRAILER: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
success
.TP
\fB1\fR
a \fBcheck\fR expectation failed or was inconclusive
.TP
\fB2\fR
bad input (nothing is written): a scenario, a flag, a data file, or a
destination refused before any work (a folder that cannot be written, an
output folder in use)
.TP
\fB3\fR
the work was done but its results could not be written (a disk full, a
folder removed or made read\-only meanwhile, standard output on a full disk)
.TP
\fB130\fR
interrupted by Ctrl\-C (the partial results are written, marked partial)
.TP
\fB141\fR
standard output's reader went away (\fBmqsim schema | head\fR): ends quietly
.SH ENVIRONMENT
.TP
\fBMQSIM_SHARD_INDEX\fR, \fBMQSIM_SHARD_COUNT\fR
\fB\-\-shard auto/N\fR and \fB\-\-shard auto\fR take the shard from these first
(the index counts from 0)
.TP
\fBSLURM_ARRAY_TASK_ID\fR, \fBSLURM_ARRAY_TASK_MIN\fR, \fBSLURM_ARRAY_TASK_MAX\fR, \fBSLURM_ARRAY_TASK_STEP\fR, \fBSLURM_ARRAY_TASK_COUNT\fR
then from a Slurm job array (the index counted from the array's first id)
.TP
\fBJOB_COMPLETION_INDEX\fR
then from a Kubernetes Indexed Job (which gives no count: \fB\-\-shard auto/N\fR)
.TP
\fBMQSIM_MEMORY_CEILING\fR
the memory ceiling in bytes at which a run stops with partial results
.SH FILES
.TP
\fBoutput/\fIscenario\fB/\fR
the default output folder: \fBsummary.json\fR, \fBmetrics.csv\fR,
\fBtimeseries.csv\fR, charts with \fB\-\-charts\fR, \fBreport.html\fR with
\fB\-\-html\fR,
\fBpart\-\fIi\fB\-of\-\fIn\fB.json\fR with \fB\-\-shard\fR
"#;
