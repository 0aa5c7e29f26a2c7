//! What stops a report from being written. The kind decides the exit code,
//! so that a command cannot report a full disk as bad input or a refused
//! `--out` as a failed write.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportError {
    /// A destination refused before any work: a folder that is a file, a
    /// folder that cannot be created or written, a lock another command
    /// holds, the scenario itself as the output (bad input, exit 2).
    Destination(String),
    /// Results computed but not written: a disk full, a folder removed or
    /// made read-only meanwhile (exit 3).
    Write(String),
    /// A file that could not be rendered: a chart whose drawing failed, a
    /// table that could not be serialised (exit 3: the results exist, the
    /// file does not).
    Render(String),
}

impl ReportError {
    /// The process exit code of this kind of failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            ReportError::Destination(_) => super::files::BAD_INPUT,
            ReportError::Write(_) | ReportError::Render(_) => super::files::WRITE_FAILED,
        }
    }

    /// A rendering failure, from any error that prints.
    pub fn render(why: impl fmt::Display) -> ReportError {
        ReportError::Render(why.to_string())
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Destination(m) | ReportError::Write(m) | ReportError::Render(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for ReportError {}
