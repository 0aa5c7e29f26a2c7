//! Writing results. Every file mqsim writes (summary, CSVs, charts, traces,
//! JUnit, Markdown, shard parts, `init`) goes through [`AtomicFile`]: a new
//! file is created exclusively (`O_EXCL`), never through a symbolic link
//! (`O_NOFOLLOW`), under an unpredictable name in the target folder, then
//! synced and renamed over the final name. A link planted at the final name
//! is replaced, not followed; one planted at a guessed temporary name makes
//! the creation fail rather than write through it; and a full disk leaves
//! the old file (or none) under the final name, never a truncated one.
//!
//! [`FolderLock`] keeps two commands from mixing their results in one
//! output folder.

pub use super::error::ReportError;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Name of the lock file each command holds in its output folder.
pub const LOCK_FILE_NAME: &str = ".mqsim.lock";

/// A file being written under a temporary name; [`AtomicFile::commit`]
/// renames it into place, and dropping it uncommitted removes it.
pub struct AtomicFile {
    final_path: PathBuf,
    temp_path: PathBuf,
    writer: Option<BufWriter<File>>,
}

/// Opens a new file for writing: fails if anything (a file, a link) is
/// there already, and never follows a link.
fn open_exclusive(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(0o644);
    }
    options.open(path)
}

/// The folder a path is written into (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

impl AtomicFile {
    /// Starts writing `path`: creates its folder, then a fresh temporary
    /// file beside it.
    pub fn create(path: &Path) -> Result<AtomicFile, ReportError> {
        let dir = folder_of(path);
        std::fs::create_dir_all(dir).map_err(|e| {
            ReportError::Write(format!(
                "cannot write {}: cannot create the folder {}: {e}",
                path.display(),
                dir.display()
            ))
        })?;
        if path.is_dir() {
            return Err(ReportError::Write(format!(
                "cannot write {}: it is a folder",
                printable(&path.display().to_string())
            )));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let mut last_error = None;
        // A name taken by chance (or planted) is skipped: try fresh ones.
        for _ in 0..16 {
            let temp_path = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
            match open_exclusive(&temp_path) {
                Ok(f) => {
                    return Ok(AtomicFile {
                        final_path: path.to_path_buf(),
                        temp_path,
                        writer: Some(BufWriter::with_capacity(1 << 16, f)),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => {
                    return Err(ReportError::Write(format!(
                        "cannot write {}: {e}",
                        path.display()
                    )))
                }
            }
        }
        Err(ReportError::Write(format!(
            "cannot write {}: no free temporary name ({})",
            path.display(),
            last_error.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<(), ReportError> {
        let writer = self
            .writer
            .take()
            .expect("an uncommitted file has its writer");
        let result = (|| {
            let file = writer.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&self.temp_path, &self.final_path)
        })();
        result.map_err(|e| {
            let _ = std::fs::remove_file(&self.temp_path);
            ReportError::Write(format!("cannot write {}: {e}", self.final_path.display()))
        })
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer
            .as_mut()
            .expect("an uncommitted file has its writer")
            .write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer
            .as_mut()
            .expect("an uncommitted file has its writer")
            .flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temp_path);
        }
    }
}

/// Exit code of bad input: a scenario, a flag, a file read, or a
/// destination refused before any work.
pub const BAD_INPUT: i32 = 2;

/// Exit code of results that could not be written after the work was
/// done (a disk full, a folder removed or made read-only meanwhile).
pub const WRITE_FAILED: i32 = 3;

/// Writes `bytes` to `path` atomically (see [`AtomicFile`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)
        .map_err(|e| ReportError::Write(format!("cannot write {}: {e}", path.display())))?;
    f.commit()
}

/// Checks, before any work, that a file can be written at `path`: it is not
/// a folder, not one of `inputs` (the scenario files), and its folder is a
/// folder that can be created and written. Creates that folder.
pub fn check_file_destination(
    path: &Path,
    flag: &str,
    inputs: &[&Path],
) -> Result<(), ReportError> {
    let shown = printable(&path.display().to_string());
    if path.is_dir() {
        return Err(ReportError::Destination(format!(
            "{flag} {shown}: this is a folder; give a file name"
        )));
    }
    if let Ok(target) = path.canonicalize() {
        for input in inputs {
            if input.canonicalize().is_ok_and(|i| i == target) {
                return Err(ReportError::Destination(format!(
                    "{flag} {shown}: this is the scenario file itself; give another file name"
                )));
            }
        }
    }
    check_folder(folder_of(path), flag)
}

/// Checks that `dir` is (or can be made) a folder mqsim can write into, by
/// creating and removing a probe file in it.
pub fn check_folder(dir: &Path, flag: &str) -> Result<(), ReportError> {
    let shown = printable(&dir.display().to_string());
    if dir.exists() && !dir.is_dir() {
        return Err(ReportError::Destination(format!(
            "{flag} {shown}: this is a file, not a folder"
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        ReportError::Destination(format!("{flag} {shown}: cannot create the folder: {e}"))
    })?;
    let probe = AtomicFile::create(&dir.join(".mqsim-probe")).map_err(|e| {
        ReportError::Destination(format!("{flag} {shown}: the folder is not writable: {e}"))
    })?;
    drop(probe);
    Ok(())
}

/// An exclusive lock on an output folder, held for the length of a command
/// (released when dropped, or when the process ends however it ends).
pub struct FolderLock {
    _file: File,
}

/// Takes the lock of `dir` (creating the folder), or says which process
/// holds it.
pub fn lock_folder(dir: &Path) -> Result<FolderLock, ReportError> {
    let shown = printable(&dir.display().to_string());
    if dir.exists() && !dir.is_dir() {
        return Err(ReportError::Destination(format!(
            "the output folder {shown} is a file"
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        ReportError::Destination(format!("cannot create the output folder {shown}: {e}"))
    })?;
    let path = dir.join(LOCK_FILE_NAME);
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(0o644);
    }
    let mut file = options.open(&path).map_err(|e| {
        ReportError::Destination(format!("cannot lock the output folder {shown}: {e}"))
    })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            let holder = if holder.chars().all(|c| c.is_ascii_digit()) && !holder.is_empty() {
                format!("pid {holder}")
            } else {
                "another process".into()
            };
            return Err(ReportError::Destination(format!(
                "the output folder {shown} is in use by another mqsim command ({holder}); wait for it to finish or choose another --out"
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(ReportError::Destination(format!(
                "cannot lock the output folder {shown}: {e}"
            )))
        }
    }
    let _ = file.set_len(0);
    let _ = writeln!(file, "{}", std::process::id());
    Ok(FolderLock { _file: file })
}

pub use crate::names::{printable, printable_lines, safe_name};

#[cfg(test)]
mod tests {
    use super::*;

    /// The kind of a failure decides its exit code: a destination refused
    /// before the work is bad input (2), a file not written after it is 3.
    #[test]
    fn a_refused_destination_is_bad_input_and_a_failed_write_is_not() {
        let dir = std::env::temp_dir().join(format!("mqsim-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("plain-file");
        std::fs::write(&file, b"x").unwrap();

        let refused = check_folder(&file, "--out").unwrap_err();
        assert!(
            matches!(refused, ReportError::Destination(_)),
            "{refused:?}"
        );
        assert_eq!(refused.exit_code(), BAD_INPUT);
        let Err(locked) = lock_folder(&file) else {
            panic!("a file locked as a folder")
        };
        assert_eq!(locked.exit_code(), BAD_INPUT, "{locked}");

        let failed = write_atomic(&file.join("summary.json"), b"{}").unwrap_err();
        assert!(matches!(failed, ReportError::Write(_)), "{failed:?}");
        assert_eq!(failed.exit_code(), WRITE_FAILED);
        assert!(failed.to_string().contains("summary.json"), "{failed}");

        std::fs::remove_dir_all(&dir).unwrap();
    }
}
