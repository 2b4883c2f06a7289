//! Who runs on a data dir. The pid file (`<root>/pid`) tells the CLI which process to signal and
//! whether a daemon looks alive; it can go stale. The dir lock (an flock on `<root>/daemon.lock`,
//! held for the daemon's life and dropped by the kernel when it dies) is what keeps two daemons
//! off one data dir.

use std::fs::{self, File, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{DataDir, file};
use crate::{ApiError, Result};

/// The pid in the pid file. `None` when there is none, or when it does not hold a pid (a
/// half-written or foreign file is treated as stale).
pub fn read_pid(dir: &DataDir) -> Result<Option<u32>> {
    let path = dir.pid_path();
    let Some(bytes) = file::read_optional(&path)? else {
        return Ok(None);
    };
    let pid = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|&pid| pid != 0);
    Ok(pid)
}

/// Writes `pid` to the pid file, atomically.
pub fn write_pid(dir: &DataDir, pid: u32) -> Result<()> {
    file::write_atomic(&dir.pid_path(), format!("{pid}\n").as_bytes())
}

/// Removes the pid file. A missing one is fine.
pub fn remove_pid(dir: &DataDir) -> Result<()> {
    let path = dir.pid_path();
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(file::io_error("remove", &path, &e)),
    }
}

/// Whether a process with `pid` exists. A process we may not signal (`EPERM`) exists.
pub fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// Exclusive ownership of a data dir by this process, until dropped.
#[derive(Debug)]
pub struct DirLock {
    // Closing the file releases the lock.
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// The lock file, `<root>/daemon.lock`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the data dir for this process: an exclusive flock on `<root>/daemon.lock`, created (with
/// the root) if missing. Fails without waiting if another daemon holds it.
///
/// The lock belongs to the open file, not the process: a second `lock_dir` in the same process
/// fails too while the first [`DirLock`] lives.
pub fn lock_dir(dir: &DataDir) -> Result<DirLock> {
    file::create_dir(dir.root())?;
    let path = dir.root().join(super::DIR_LOCK_FILE);
    let lock_file = file::open_lock_file(&path)?;
    match lock_file.try_lock() {
        Ok(()) => Ok(DirLock {
            _file: lock_file,
            path,
        }),
        Err(TryLockError::WouldBlock) => {
            let root = dir.root().display();
            let pid = match read_pid(dir) {
                Ok(Some(pid)) => format!(" (pid {pid})"),
                _ => String::new(),
            };
            Err(ApiError::internal(format!(
                "Another daemon owns {root}{pid}. Stop it with `openpact --data-dir {root} stop`."
            )))
        }
        Err(TryLockError::Error(e)) => Err(file::io_error("lock", &path, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> (tempfile::TempDir, DataDir) {
        let t = tempfile::tempdir().unwrap();
        let dir = DataDir::at(t.path());
        (t, dir)
    }

    #[test]
    fn pid_file_round_trips_and_removal_is_idempotent() {
        let (_t, dir) = temp_dir();
        assert_eq!(read_pid(&dir).unwrap(), None);
        write_pid(&dir, 4242).unwrap();
        assert_eq!(fs::read_to_string(dir.pid_path()).unwrap(), "4242\n");
        assert_eq!(read_pid(&dir).unwrap(), Some(4242));
        write_pid(&dir, 7).unwrap();
        assert_eq!(read_pid(&dir).unwrap(), Some(7));
        remove_pid(&dir).unwrap();
        assert_eq!(read_pid(&dir).unwrap(), None);
        remove_pid(&dir).unwrap();
    }

    #[test]
    fn garbage_in_the_pid_file_reads_as_no_pid() {
        let (_t, dir) = temp_dir();
        for garbage in [
            &b""[..],
            b"abc",
            b"0",
            b"-5",
            b"12 34",
            b"99999999999",
            b"\xff\xfe",
        ] {
            fs::write(dir.pid_path(), garbage).unwrap();
            assert_eq!(read_pid(&dir).unwrap(), None, "{garbage:?}");
        }
        fs::write(dir.pid_path(), b"  123\r\n").unwrap();
        assert_eq!(read_pid(&dir).unwrap(), Some(123));
    }

    #[test]
    fn process_alive_is_true_for_this_process() {
        assert!(process_alive(std::process::id()));
    }

    #[test]
    fn process_alive_is_false_for_pids_no_process_can_have() {
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
        // Above the kernel's largest pid_max (2^22).
        assert!(!process_alive(i32::MAX as u32));
    }

    #[test]
    fn process_alive_is_false_for_a_reaped_child() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        // Pids are handed out in a cycle, so this one is not reused this soon.
        assert!(!process_alive(pid));
    }

    #[test]
    fn second_lock_on_a_dir_is_refused_even_in_the_same_process() {
        let (_t, dir) = temp_dir();
        let first = lock_dir(&dir).unwrap();
        assert_eq!(first.path(), dir.root().join("daemon.lock"));
        let err = lock_dir(&dir).unwrap_err();
        let root = dir.root().display().to_string();
        assert_eq!(
            err.message,
            format!("Another daemon owns {root}. Stop it with `openpact --data-dir {root} stop`.")
        );
        write_pid(&dir, 4242).unwrap();
        let err = lock_dir(&dir).unwrap_err();
        assert!(
            err.message
                .starts_with(&format!("Another daemon owns {root} (pid 4242). Stop it"))
        );
        drop(first);
        let again = lock_dir(&dir).unwrap();
        drop(again);
    }

    #[test]
    fn lock_dir_creates_a_missing_root() {
        let t = tempfile::tempdir().unwrap();
        let dir = DataDir::at(t.path().join("new"));
        let _lock = lock_dir(&dir).unwrap();
        assert!(dir.root().is_dir());
    }
}
