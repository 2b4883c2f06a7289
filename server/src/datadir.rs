//! The daemon's data directory (ARCHITECTURE.md, "Data directory"):
//!
//! ```text
//! daemon.json        token, ports, registry of pacts, current alias (0600, atomic writes)
//! openpact.sock      control plane (0600)
//! pid, logs/
//! pacts/<alias>/     config.json, member.key, ledger.redb, ledger.journal{,2}, ...
//! ```
//!
//! Every file is written 0600 and atomically (see `file`), every directory created 0700.
//! `daemon.json` is shared by the daemon and CLI verbs that run without it, so its changes go
//! through [`DataDir::update`], a read-modify-write under an exclusive lock; readers never lock,
//! since a rename shows them either the old file or the new one. A file this code cannot parse is
//! an error and is never overwritten: a person decides what to do with it.
//!
//! Everything here is blocking std I/O on small files; async callers use `spawn_blocking` or call
//! it briefly inline.

mod alias;
mod file;
mod pid;
mod registry;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use alias::{MAX_ALIAS_LEN, slug_alias, validate_alias};
pub use pid::{DirLock, lock_dir, process_alive, read_pid, remove_pid, write_pid};
pub use registry::{DaemonFile, PactConfig, PactEntry, PactList, PactRow, now_rfc3339_millis};

use crate::{ApiError, Result};

/// The environment variable naming the data dir when `--data-dir` is not given.
pub const DATA_DIR_ENV: &str = "OPENPACT_DATA_DIR";

const DAEMON_FILE: &str = "daemon.json";
const DAEMON_FILE_LOCK: &str = "daemon.json.lock";
const DIR_LOCK_FILE: &str = "daemon.lock";
const CONFIG_FILE: &str = "config.json";
const MEMBER_KEY_FILE: &str = "member.key";
/// The daemon's host key (its identity on the peer network), in the data dir's root.
const HOST_KEY_FILE: &str = "host.key";
/// The key of a seed node run on the data dir.
const SEED_KEY_FILE: &str = "seed.key";

/// A data directory, named by its root. Nothing is touched until a method needs the disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data dir to use: `flag` (from `--data-dir`), else `$OPENPACT_DATA_DIR`, else
    /// `$HOME/.openpact`; made absolute against the current directory (it need not exist).
    pub fn resolve(flag: Option<PathBuf>) -> Result<DataDir> {
        let root = choose_root(
            flag,
            std::env::var_os(DATA_DIR_ENV),
            std::env::var_os("HOME"),
        )?;
        let root = std::path::absolute(&root).map_err(|e| {
            ApiError::bad_request(format!(
                "Cannot make the data dir {} absolute ({e}). Pass an absolute path with --data-dir.",
                root.display()
            ))
        })?;
        Ok(DataDir { root })
    }

    /// The data dir at `root`, taken as given (not made absolute).
    pub fn at(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The control-plane socket, `<root>/openpact.sock`.
    pub fn socket_path(&self) -> PathBuf {
        self.root.join("openpact.sock")
    }

    /// The pid file, `<root>/pid`.
    pub fn pid_path(&self) -> PathBuf {
        self.root.join("pid")
    }

    /// The log directory, `<root>/logs`.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// The daemon's log file, `<root>/logs/daemon.log`.
    pub fn log_path(&self) -> PathBuf {
        self.logs_dir().join("daemon.log")
    }

    /// The registry and token file, `<root>/daemon.json`.
    pub fn daemon_json_path(&self) -> PathBuf {
        self.root.join(DAEMON_FILE)
    }

    /// The directory of all pacts, `<root>/pacts`.
    pub fn pacts_dir(&self) -> PathBuf {
        self.root.join("pacts")
    }

    /// The directory of one pact, `<root>/pacts/<alias>`. `alias` is not checked here; methods
    /// that read or write in it check it with [`validate_alias`] first.
    pub fn pact_dir(&self, alias: &str) -> PathBuf {
        self.pacts_dir().join(alias)
    }

    /// The pact's config, `<root>/pacts/<alias>/config.json`.
    pub fn config_path(&self, alias: &str) -> PathBuf {
        self.pact_dir(alias).join(CONFIG_FILE)
    }

    /// The pact's member signing key seed, `<root>/pacts/<alias>/member.key`.
    pub fn member_key_path(&self, alias: &str) -> PathBuf {
        self.pact_dir(alias).join(MEMBER_KEY_FILE)
    }

    /// Creates the root (0700), `pacts/` and `logs/` if missing, and checks that this process can
    /// write in each. Existing directories keep their modes.
    pub fn ensure(&self) -> Result<()> {
        file::create_dir(&self.root)?;
        file::check_writable(&self.root)?;
        for dir in [self.pacts_dir(), self.logs_dir()] {
            file::create_dir(&dir)?;
            file::check_writable(&dir)?;
        }
        Ok(())
    }

    /// The content of `daemon.json`; a missing file is the default (no token, no pacts).
    pub fn load(&self) -> Result<DaemonFile> {
        let path = self.daemon_json_path();
        match file::read_optional(&path)? {
            None => Ok(DaemonFile::default()),
            Some(bytes) => file::parse_json(&path, &bytes),
        }
    }

    /// Changes `daemon.json` through `f`, under an exclusive lock on `<root>/daemon.json.lock`
    /// so concurrent updates (threads or processes) apply one after the other. The root is
    /// created if missing. The file is rewritten atomically, and only if `f` changed it; if `f`
    /// fails, nothing is written. A file that cannot be parsed fails the update and is kept.
    pub fn update<T>(&self, f: impl FnOnce(&mut DaemonFile) -> Result<T>) -> Result<T> {
        file::create_dir(&self.root)?;
        let lock_path = self.root.join(DAEMON_FILE_LOCK);
        let lock = file::open_lock_file(&lock_path)?;
        lock.lock()
            .map_err(|e| file::io_error("lock", &lock_path, &e))?;
        let before = self.load()?;
        let mut after = before.clone();
        let out = f(&mut after)?;
        if after != before {
            let path = self.daemon_json_path();
            file::write_atomic(&path, &file::to_json(&path, &after)?)?;
        }
        drop(lock);
        Ok(out)
    }

    /// The REST bearer token (64 lowercase hex of 32 random bytes). A missing or malformed token
    /// is replaced by a fresh one, saved in `daemon.json`; the file's mode is kept at 0600.
    pub fn ensure_token(&self) -> Result<String> {
        if let Some(token) = self.load()?.api_token.filter(|t| is_lower_hex64(t)) {
            file::restrict_mode(&self.daemon_json_path())?;
            return Ok(token);
        }
        self.update(|f| match f.api_token.as_deref() {
            // Another process minted one while we waited for the lock.
            Some(t) if is_lower_hex64(t) => Ok(t.to_owned()),
            _ => {
                let token = hex::encode(random_bytes::<32>("the API token")?);
                f.api_token = Some(token.clone());
                Ok(token)
            }
        })
    }

    /// The registry row that `pact` (an alias, else a pact id) names; see [`DaemonFile::find`],
    /// which this calls.
    pub fn find<'a>(file: &'a DaemonFile, pact: &str) -> Option<&'a PactEntry> {
        file.find(pact)
    }

    /// The pacts as `GET /v1/pacts` and `openpact list --json` show them, read from disk now.
    pub fn list(&self) -> Result<PactList> {
        Ok(PactList::build(self, &self.load()?))
    }

    /// The config of the pact `alias`.
    pub fn read_config(&self, alias: &str) -> Result<PactConfig> {
        validate_alias(alias)?;
        let path = self.config_path(alias);
        match file::read_optional(&path)? {
            Some(bytes) => file::parse_json(&path, &bytes),
            None => Err(ApiError::internal(format!(
                "The pact config {} is missing. Remove the pact with `openpact remove {alias}` and create or join it again.",
                path.display()
            ))),
        }
    }

    /// Writes the config of the pact `alias` (atomic, 0600), creating its directory if missing.
    pub fn write_config(&self, alias: &str, config: &PactConfig) -> Result<()> {
        validate_alias(alias)?;
        file::create_dir(&self.pact_dir(alias))?;
        let path = self.config_path(alias);
        file::write_atomic(&path, &file::to_json(&path, config)?)
    }

    /// The member signing key seed of the pact `alias`, from `member.key` (64 hex characters).
    pub fn read_member_seed(&self, alias: &str) -> Result<[u8; 32]> {
        validate_alias(alias)?;
        let path = self.member_key_path(alias);
        let Some(bytes) = file::read_optional(&path)? else {
            return Err(ApiError::internal(format!(
                "The member key {} is missing; without it this host cannot write to the pact. Restore it from a backup, or remove the pact with `openpact remove {alias}` and join again.",
                path.display()
            )));
        };
        seed_of(&path, &bytes)
    }

    /// Where the host key lives: the daemon's transport identity on the peer network.
    pub fn host_key_path(&self) -> PathBuf {
        self.root.join(HOST_KEY_FILE)
    }

    /// The host key's seed from `host.key` (64 hex characters, mode 0600), made on first use.
    pub fn host_seed(&self) -> Result<[u8; 32]> {
        self.key_seed(&self.host_key_path())
    }

    /// The key of `openpact seed` run on this data dir (`seed.key`), made on first use: a seed
    /// node keeps its identity across restarts.
    pub fn seed_node_seed(&self) -> Result<[u8; 32]> {
        self.ensure()?;
        self.key_seed(&self.root.join(SEED_KEY_FILE))
    }

    fn key_seed(&self, path: &Path) -> Result<[u8; 32]> {
        if let Some(bytes) = file::read_optional(path)? {
            return seed_of(path, &bytes);
        }
        let seed = random_bytes::<32>("a host key")?;
        match file::write_new_atomic(path, hex::encode(seed).as_bytes()) {
            Ok(()) => Ok(seed),
            // Made by another process in between: that one holds.
            Err(file::NewFileError::Exists) => self.key_seed(path),
            Err(file::NewFileError::Other(e)) => Err(e),
        }
    }

    /// Writes a fresh random member seed for the pact `alias` (0600, atomic), creating its
    /// directory if missing. Fails if the pact already has one: a member key is never replaced.
    pub fn create_member_seed(&self, alias: &str) -> Result<[u8; 32]> {
        validate_alias(alias)?;
        file::create_dir(&self.pact_dir(alias))?;
        let path = self.member_key_path(alias);
        let seed = random_bytes::<32>("a member key")?;
        match file::write_new_atomic(&path, hex::encode(seed).as_bytes()) {
            Ok(()) => Ok(seed),
            Err(file::NewFileError::Exists) => Err(ApiError::internal(format!(
                "The member key {} already exists and is never replaced. Move it away first if you mean to start over as a new member.",
                path.display()
            ))),
            Err(file::NewFileError::Other(e)) => Err(e),
        }
    }
}

/// The data dir root from the flag, the environment variable and `$HOME`, in that order.
fn choose_root(
    flag: Option<PathBuf>,
    env: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf> {
    if let Some(flag) = flag {
        if flag.as_os_str().is_empty() {
            return Err(ApiError::bad_request(
                "The --data-dir path is empty. Pass a directory, or leave the flag out to use ~/.openpact.",
            ));
        }
        return Ok(flag);
    }
    if let Some(env) = env.filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(env));
    }
    match home.filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".openpact")),
        None => Err(ApiError::bad_request(format!(
            "Cannot find the home directory (HOME is not set). Pass --data-dir or set {DATA_DIR_ENV}."
        ))),
    }
}

fn is_lower_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A key seed stored as 64 hex characters.
fn seed_of(path: &Path, bytes: &[u8]) -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    let text = std::str::from_utf8(bytes).map(str::trim).unwrap_or("");
    match hex::decode_to_slice(text, &mut seed) {
        Ok(()) => Ok(seed),
        Err(_) => Err(ApiError::internal(format!(
            "The key {} does not hold 64 hex characters. Restore it from a backup; it was left as it is.",
            path.display()
        ))),
    }
}

fn random_bytes<const N: usize>(what: &str) -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| {
        ApiError::internal(format!(
            "Cannot get random bytes from the OS for {what} ({e})."
        ))
    })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests;
