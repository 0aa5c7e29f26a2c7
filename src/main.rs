//! `mqsim`: parse the command line, run, report. The work is in the library.

fn main() {
    std::process::exit(mqsim::cli::main());
}
