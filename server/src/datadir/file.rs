//! The data dir's small files: read whole, written atomically. A write goes to a temp file in the
//! same directory (mode 0600), is fsynced, renamed over the target, and the directory is fsynced,
//! so a crash leaves either the old content or the new one, never a mix. A failed write removes its
//! temp file and leaves the old file as it was.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ApiError, Result};

/// Mode of every file the data dir holds.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of every directory the data dir creates.
pub(crate) const DIR_MODE: u32 = 0o700;

/// The next step for an I/O error a person can do something about, with a leading space.
fn hint(e: &io::Error) -> &'static str {
    match e.kind() {
        ErrorKind::PermissionDenied => " Check its owner and permissions.",
        ErrorKind::ReadOnlyFilesystem => {
            " The file system is read-only; pick another data dir with --data-dir."
        }
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => " Free some disk space and retry.",
        _ => "",
    }
}

/// An `INTERNAL` error for a failed `verb` ("read", "create", ...) on `path`.
pub(crate) fn io_error(verb: &str, path: &Path, e: &io::Error) -> ApiError {
    ApiError::internal(format!(
        "Cannot {verb} {} ({e}).{}",
        path.display(),
        hint(e)
    ))
}

/// The content of `path`, or `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, &e)),
    }
}

/// `bytes` (the content of `path`) parsed as JSON. The error names the file and says it was kept.
pub(crate) fn parse_json<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "does not hold the expected fields",
            _ => "is not valid JSON",
        };
        ApiError::internal(format!(
            "{} {what} ({e}). Fix or move it; it was left as it is.",
            path.display()
        ))
    })
}

/// `value` as pretty JSON with a trailing newline, for `path`.
pub(crate) fn to_json<T: Serialize>(path: &Path, value: &T) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| {
        ApiError::internal(format!("Cannot encode {} as JSON ({e}).", path.display()))
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Creates `dir` and its missing parents with mode 0700. An existing directory is kept as it is.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| io_error("create the directory", dir, &e))
}

/// Fails with a clear error when this process cannot create files in `dir`.
pub(crate) fn check_writable(dir: &Path) -> Result<()> {
    use rustix::fs::{Access, access};
    access(dir, Access::WRITE_OK | Access::EXEC_OK).map_err(|e| {
        let e = io::Error::from(e);
        ApiError::internal(format!(
            "The directory {} is not writable ({e}). Make it writable, or pick another data dir with --data-dir.",
            dir.display()
        ))
    })
}

/// Sets the mode of `path` to 0600 when group or others have any access to it.
pub(crate) fn restrict_mode(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| io_error("read the metadata of", path, &e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE))
            .map_err(|e| io_error("restrict the permissions of", path, &e))?;
    }
    Ok(())
}

/// Opens (creating it, mode 0600) the lock file `path`. Locks are held through the returned file.
pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|e| io_error("open the lock file", path, &e))
}

/// Replaces `path` with `bytes` atomically (mode 0600).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = write_temp(path, bytes)?;
    if let Err(e) = fs::rename(&temp, path) {
        discard(&temp);
        return Err(write_error(path, &e));
    }
    sync_parent(path)
}

/// Writes `bytes` to `path` atomically (mode 0600), failing with `AlreadyExists` if `path` exists.
/// The error is returned raw so the caller can say what an existing file means.
pub(crate) fn write_new_atomic(path: &Path, bytes: &[u8]) -> Result<(), NewFileError> {
    let temp = write_temp(path, bytes).map_err(NewFileError::Other)?;
    // A hard link never replaces its target, unlike rename.
    let linked = fs::hard_link(&temp, path);
    discard(&temp);
    match linked {
        Ok(()) => sync_parent(path).map_err(NewFileError::Other),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(NewFileError::Exists),
        Err(e) => Err(NewFileError::Other(write_error(path, &e))),
    }
}

/// Why [`write_new_atomic`] failed.
#[derive(Debug)]
pub(crate) enum NewFileError {
    /// The file already exists; it was not touched.
    Exists,
    /// Any other failure, with its message.
    Other(ApiError),
}

fn write_error(path: &Path, e: &io::Error) -> ApiError {
    ApiError::internal(format!(
        "Cannot write {} ({e}); the old content, if any, was left as it was.{}",
        path.display(),
        hint(e)
    ))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A fresh temp file beside `path` holding `bytes`, fsynced, mode 0600. Removed again on failure.
fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| {
        ApiError::internal(format!(
            "Cannot get random bytes from the OS ({e}) to write {}.",
            path.display()
        ))
    })?;
    let temp = parent_of(path).join(format!(".{name}.{}.tmp", hex::encode(suffix)));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&temp)
        .map_err(|e| write_error(path, &e))?;
    let written = (|| {
        // The umask may have taken bits off the mode; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        drop(file);
        discard(&temp);
        return Err(write_error(path, &e));
    }
    Ok(temp)
}

/// Best-effort removal of a temp file; the write it belonged to already failed or finished.
fn discard(temp: &Path) {
    let _ = fs::remove_file(temp);
}

/// Fsyncs the directory of `path`, so the rename or link that put `path` there is durable.
fn sync_parent(path: &Path) -> Result<()> {
    let dir = parent_of(path);
    let synced = File::open(dir).and_then(|d| d.sync_all());
    match synced {
        Ok(()) => Ok(()),
        // Some file systems cannot fsync a directory; the rename is as durable as they allow.
        Err(e) if e.kind() == ErrorKind::InvalidInput || e.kind() == ErrorKind::Unsupported => {
            Ok(())
        }
        Err(e) => Err(ApiError::internal(format!(
            "Wrote {} but cannot flush its directory {} ({e}); the change may not survive a crash.",
            path.display(),
            dir.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn atomic_write_replaces_content_with_mode_0600_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(names(dir.path()), ["a.json"]);
    }

    #[test]
    fn failed_atomic_write_keeps_the_target_and_removes_its_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory at the target makes the rename fail, even for root.
        let path = dir.path().join("a.json");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"x").unwrap();
        let err = write_atomic(&path, b"new").unwrap_err();
        assert!(err.message.contains(&path.display().to_string()), "{err}");
        assert_eq!(names(dir.path()), ["a.json"]);
        assert_eq!(names(&path), ["inside"]);
    }

    #[test]
    fn atomic_write_into_a_missing_directory_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("a.json");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(err.message.contains(&path.display().to_string()), "{err}");
    }

    #[test]
    fn new_file_write_refuses_an_existing_file_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_new_atomic(&path, b"first").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert!(matches!(
            write_new_atomic(&path, b"second"),
            Err(NewFileError::Exists)
        ));
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(names(dir.path()), ["k"]);
    }

    #[test]
    fn syntax_and_shape_errors_name_the_file() {
        let path = Path::new("/x/daemon.json");
        let err = parse_json::<serde_json::Value>(path, b"{\"a\": ").unwrap_err();
        assert!(
            err.message
                .starts_with("/x/daemon.json is not valid JSON (")
        );
        assert!(
            err.message
                .ends_with("Fix or move it; it was left as it is.")
        );
        let err = parse_json::<Vec<u8>>(path, b"{}").unwrap_err();
        assert!(
            err.message
                .starts_with("/x/daemon.json does not hold the expected fields (")
        );
    }
}
