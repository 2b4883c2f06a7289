//! One open pact: its ledger writer, its identity on this daemon, its local config, and the
//! operations of the control plane's `Pact` service on it.

pub(crate) mod admin;
pub mod invites;
pub mod lists;
pub mod skills;
pub mod tasks;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use openpact_ledger::{
    AppendResult, Clock, Code, EntryHash, Event, Ledger, MemberKey, PactId, Signer, ViewReader,
    Writer, WriterConfig, wire,
};
use openpact_proto::v1;
use tokio::sync::{mpsc, watch};

use crate::convert;
use crate::datadir::{DataDir, PactConfig, PactEntry};
use crate::error::{ApiError, Result};
use crate::events::EventBus;

/// The ledger file inside a pact's directory.
pub const LEDGER_FILE: &str = "ledger.redb";
/// The ledger's journal, two files beside it used in turn: batches are durable once their
/// record is flushed there (see `openpact_ledger::journal`).
pub const JOURNAL_FILES: [&str; 2] = ["ledger.journal", "ledger.journal2"];
/// The most memory redb may hold for an open pact's ledger (its page cache and the pages its
/// commits have not written yet). redb's default, 1 GiB, would let every large pact take that
/// much of the daemon's memory; the OS page cache still serves what this one drops.
const LEDGER_CACHE_BYTES: usize = 64 << 20;
/// The config key of the peer addresses a daemon knows for a pact.
const PEERS_KEY: &str = "peers";
/// The config key of the seed hints a pact was joined with.
const SEEDS_KEY: &str = "seeds";
/// The config key of the pact's discovery secret.
pub(crate) const SECRET_KEY: &str = "discoverySecret";
/// Most peer addresses kept per pact.
const MAX_KNOWN_PEERS: usize = 32;

/// A pact this daemon has open.
pub struct OpenPact {
    /// The pact id.
    pub id: PactId,
    alias: RwLock<String>,
    /// When it was added to this host (RFC 3339).
    pub added_at: String,
    /// `None` only while the writer is being reopened after a storage failure.
    writer: RwLock<Option<Writer>>,
    /// What reopening needs.
    reopen: Reopen,
    /// This daemon's member key in the pact.
    pub me: MemberKey,
    config: Mutex<PactConfig>,
    dir: DataDir,
    commits: watch::Receiver<u64>,
    bus: Arc<EventBus>,
    clock: Arc<dyn Clock>,
    /// Members with a live session to this daemon, and how many sessions each.
    online: Mutex<HashMap<MemberKey, u32>>,
}

impl std::fmt::Debug for OpenPact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenPact({}, {})", self.alias(), self.id)
    }
}

/// What it takes to start the pact's writer again.
struct Reopen {
    signer: Signer,
    writer_config: WriterConfig,
    commit_tx: Arc<watch::Sender<u64>>,
    event_tx: mpsc::UnboundedSender<Vec<Event>>,
    bus: Arc<EventBus>,
}

impl Reopen {
    /// Runs on the writer thread after each commit, before the callers hear back.
    fn sink(&self) -> openpact_ledger::EventSink {
        let (commit_tx, event_tx, bus) = (
            self.commit_tx.clone(),
            self.event_tx.clone(),
            self.bus.clone(),
        );
        Box::new(move |events: &[Event]| {
            bus.bump_generation();
            commit_tx.send_modify(|n| *n += 1);
            if !events.is_empty() {
                let _ = event_tx.send(events.to_vec());
            }
        })
    }
}

/// A claim TTL a pact accepts (at least [`openpact_ledger::entry::MIN_CLAIM_TTL_MS`]), else
/// `BAD_REQUEST` before anything is written.
pub(crate) fn check_claim_ttl(ttl: Option<u64>) -> Result<()> {
    match ttl {
        Some(t) if t < openpact_ledger::entry::MIN_CLAIM_TTL_MS => {
            Err(ApiError::bad_request(format!(
                "claim_ttl_ms must be at least {} (1 s); got {t}",
                openpact_ledger::entry::MIN_CLAIM_TTL_MS
            )))
        }
        _ => Ok(()),
    }
}

/// Opens a pact's ledger file with its journal (replaying what a crash left there), leaving
/// both as they are on failure.
fn open_ledger(path: &std::path::Path) -> Result<Ledger> {
    let failed = |e: &dyn std::fmt::Display| {
        ApiError::internal(format!(
            "Cannot open the ledger {}: {e}. It was left as it is.",
            path.display()
        ))
    };
    // The file is written behind: a checkpoint's pages go to disk on a thread of their own,
    // and the journal keeps what they hold until they are there.
    let (backend, sync) = openpact_ledger::WriteBehind::open_file(path).map_err(|e| failed(&e))?;
    let db = redb::Database::builder()
        .set_cache_size(LEDGER_CACHE_BYTES)
        .create_with_backend(backend)
        .map_err(|e| failed(&e))?;
    let mut ledger = Ledger::open(db).map_err(|e| failed(&e))?;
    let [first, second] = JOURNAL_FILES.map(|name| path.with_file_name(name));
    let first = openpact_ledger::JournalFile::open(&first).map_err(|e| failed(&e))?;
    let second = openpact_ledger::JournalFile::open(&second).map_err(|e| failed(&e))?;
    let replayed = ledger
        .attach_journal(first, second, Some(sync))
        .map_err(|e| failed(&e))?;
    if replayed > 0 {
        tracing::info!(
            ledger = %path.display(),
            entries = replayed,
            "replayed the journal after an unclean stop"
        );
    }
    if let Some(why) = ledger.write_blocked() {
        tracing::warn!(ledger = %path.display(), "{why}; reads go on, writes wait for room");
    }
    Ok(ledger)
}

/// What a new pact is created with.
#[derive(Clone, Debug, Default)]
pub struct NewPact {
    /// Name, 1–64 characters.
    pub name: String,
    /// Purpose, up to 200 characters.
    pub purpose: Option<String>,
    /// This daemon's display name in it.
    pub display_name: Option<String>,
    /// Claim TTL in ms (0: the default).
    pub claim_ttl_ms: u64,
}

/// Creates a pact's files under `pacts/<alias>/` (member key, ledger with its genesis, config),
/// without touching the registry. Used by the daemon and by `openpact init` with no daemon.
pub fn create_files(
    dir: &DataDir,
    alias: &str,
    new: &NewPact,
    clock: &dyn Clock,
) -> Result<PactEntry> {
    in_new_pact_dir(dir, alias, || create_in(dir, alias, new, clock))
}

/// Makes the directory `pacts/<alias>/` (which must not exist yet) and fills it with `make`.
/// When `make` fails nothing of the half-made pact is kept; it was never in the registry.
fn in_new_pact_dir(
    dir: &DataDir,
    alias: &str,
    make: impl FnOnce() -> Result<PactEntry>,
) -> Result<PactEntry> {
    let pact_dir = dir.pact_dir(alias);
    if pact_dir.exists() {
        return Err(ApiError::new(
            Code::PactAliasExists,
            format!(
                "{} already exists. Pick another alias or remove it.",
                pact_dir.display()
            ),
        ));
    }
    std::fs::create_dir_all(&pact_dir).map_err(|e| io_error(&pact_dir, &e))?;
    let made = make();
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&pact_dir);
    }
    made
}

fn create_in(dir: &DataDir, alias: &str, new: &NewPact, clock: &dyn Clock) -> Result<PactEntry> {
    let seed = dir.create_member_seed(alias)?;
    let signer = Signer::from_seed(seed);
    let path = dir.pact_dir(alias).join(LEDGER_FILE);
    let db = redb::Database::create(&path).map_err(|e| io_error(&path, &e))?;
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce)
        .map_err(|e| ApiError::internal(format!("The OS random source failed: {e}")))?;
    let mut params = openpact_ledger::PactParams::named(new.name.clone());
    params.purpose = new.purpose.clone();
    params.claim_ttl_ms = new.claim_ttl_ms;
    let now = clock.now_ms();
    let mut ledger = Ledger::create(db, &signer, params, now, nonce)?;
    if let Some(name) = &new.display_name {
        let body = system_message(
            format!("{name} joined the pact."),
            "rename",
            serde_json::json!({"prev": null, "next": name}),
            Some(name.clone()),
        );
        ledger.batch(|b| b.append(&signer, body, now))?;
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)
        .map_err(|e| ApiError::internal(format!("The OS random source failed: {e}")))?;
    let created_at = rfc3339(now);
    let mut config = PactConfig {
        pact_id: ledger.pact_id().to_hex(),
        pact_name: Some(new.name.clone()),
        pact_purpose: new.purpose.clone(),
        display_name: new.display_name.clone(),
        role: Some("creator".to_string()),
        created_at: created_at.clone(),
        other: Default::default(),
    };
    config.other.insert(
        SECRET_KEY.to_string(),
        serde_json::Value::String(hex::encode(secret)),
    );
    dir.write_config(alias, &config)?;
    Ok(PactEntry {
        alias: alias.to_string(),
        pact_id: ledger.pact_id().to_hex(),
        added_at: created_at,
    })
}

/// Creates the files of a pact joined from elsewhere under `pacts/<alias>/`: a fresh member
/// key, an empty ledger that waits for the pact's entries (genesis first) from its peers, and
/// `config`.
pub fn join_files(
    dir: &DataDir,
    alias: &str,
    pact: PactId,
    config: &PactConfig,
) -> Result<PactEntry> {
    in_new_pact_dir(dir, alias, || {
        dir.create_member_seed(alias)?;
        let path = dir.pact_dir(alias).join(LEDGER_FILE);
        let db = redb::Database::create(&path).map_err(|e| io_error(&path, &e))?;
        Ledger::join(db, pact)?;
        dir.write_config(alias, config)?;
        Ok(PactEntry {
            alias: alias.to_string(),
            pact_id: pact.to_hex(),
            added_at: config.created_at.clone(),
        })
    })
}

/// Batches at least this large are verified on two threads.
const SPLIT_VERIFY: usize = 32;

/// Starts `work` on a blocking thread once one of the verification slots (one per core) is
/// free; the slots are handed out first come, first served. A catch-up keeps dozens of batches
/// in flight: verified in the order they arrived, the oldest is ready for the writer first,
/// and the writer's thread is not crowded out by as many verifying threads.
async fn verifying<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<tokio::task::JoinHandle<T>> {
    static SLOTS: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        std::sync::Arc::new(tokio::sync::Semaphore::new(cores))
    });
    let permit = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal("verification stopped"))?;
    Ok(tokio::task::spawn_blocking(move || {
        let _slot = permit;
        work()
    }))
}

/// Verifies every entry of a peer's batch for `pact` (all or nothing), spread over two
/// blocking threads, and checks the chain between consecutive entries of one author.
async fn verify_batch(
    pact: PactId,
    mut entries: Vec<Vec<u8>>,
) -> Result<Vec<openpact_ledger::entry::VerifiedEntry>> {
    fn verify_all(
        pact: PactId,
        entries: Vec<Vec<u8>>,
    ) -> Result<Vec<openpact_ledger::entry::VerifiedEntry>> {
        let mut verifier = openpact_ledger::entry::Verifier::default();
        entries
            .iter()
            .map(|b| {
                // The pact's deps cap is checked again when the writer orders the entry.
                verifier.verify(b, &pact, u32::MAX).map_err(|reason| {
                    ApiError::bad_request(format!("an entry does not verify: {reason:?}"))
                })
            })
            .collect()
    }
    let join = |e: tokio::task::JoinError| ApiError::internal(format!("verification failed: {e}"));
    let verified = if entries.len() >= SPLIT_VERIFY {
        let back = entries.split_off(entries.len() / 2);
        let first = verifying(move || verify_all(pact, entries)).await?;
        let second = verifying(move || verify_all(pact, back)).await?;
        let (first, second) = (first.await.map_err(join)??, second.await.map_err(join)??);
        let mut all = first;
        all.extend(second);
        all
    } else {
        verifying(move || verify_all(pact, entries))
            .await?
            .await
            .map_err(join)??
    };
    for pair in verified.windows(2) {
        let (a, b) = (&pair[0].header, &pair[1].header);
        if a.author == b.author && (b.seq != a.seq + 1 || b.prev != Some(pair[0].hash)) {
            return Err(ApiError::bad_request(format!(
                "entries {}-{} and {}-{} do not chain",
                a.author.short(),
                a.seq,
                b.author.short(),
                b.seq
            )));
        }
    }
    Ok(verified)
}

/// A system message body (`kind` rename, pact-update or leave).
pub(crate) fn system_message(
    content: String,
    kind: &str,
    fields: serde_json::Value,
    display_name: Option<String>,
) -> wire::Body {
    wire::Body {
        ops: vec![wire::Op {
            op: Some(wire::op::Op::Message(wire::Message {
                content,
                priority: None,
                to: None,
                reply_to: None,
                kind: Some(kind.to_string()),
                system_json: fields.to_string(),
            })),
        }],
        display_name,
    }
}

/// RFC 3339 with milliseconds, UTC (the API's one time format).
pub use openpact_gateway::json::time as rfc3339;

pub(crate) fn io_error(path: &std::path::Path, e: &dyn std::fmt::Display) -> ApiError {
    ApiError::internal(format!("Cannot use {}: {e}", path.display()))
}

impl OpenPact {
    /// Opens a registered pact and starts its writer and event pump. Must run inside a tokio
    /// runtime.
    pub fn open(
        dir: &DataDir,
        entry: &PactEntry,
        clock: Arc<dyn Clock>,
        bus: Arc<EventBus>,
        writer_config: WriterConfig,
    ) -> Result<Arc<OpenPact>> {
        let config = dir.read_config(&entry.alias)?;
        let seed = dir.read_member_seed(&entry.alias)?;
        let signer = Signer::from_seed(seed);
        let path = dir.pact_dir(&entry.alias).join(LEDGER_FILE);
        let ledger = open_ledger(&path)?;
        let id = ledger.pact_id();
        if id.to_hex() != entry.pact_id {
            return Err(ApiError::internal(format!(
                "{} holds pact {id}, but the registry says {}. Nothing was changed.",
                path.display(),
                entry.pact_id
            )));
        }
        let (commit_tx, commits) = watch::channel(0u64);
        let (event_tx, event_rx) = mpsc::unbounded_channel::<Vec<Event>>();
        let reopen = Reopen {
            signer: signer.clone(),
            writer_config: writer_config.clone(),
            commit_tx: Arc::new(commit_tx),
            event_tx,
            bus: bus.clone(),
        };
        let me = signer.public();
        let writer = Writer::spawn(ledger, signer, clock.clone(), writer_config, reopen.sink())?;
        let pact = Arc::new(OpenPact {
            id,
            alias: RwLock::new(entry.alias.clone()),
            added_at: entry.added_at.clone(),
            writer: RwLock::new(Some(writer)),
            reopen,
            me,
            config: Mutex::new(config),
            dir: dir.clone(),
            commits,
            bus,
            clock,
            online: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&pact);
        tokio::spawn(pump(weak, event_rx));
        Ok(pact)
    }

    /// The pact's alias on this host.
    pub fn alias(&self) -> String {
        self.alias.read().map(|a| a.clone()).unwrap_or_default()
    }

    /// Changes the alias (after the directory was moved).
    pub fn set_alias(&self, alias: &str) {
        if let Ok(mut a) = self.alias.write() {
            *a = alias.to_string();
        }
    }

    /// The pact's directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.pact_dir(&self.alias())
    }

    /// The local config (name, purpose, display name, role).
    pub fn config(&self) -> PactConfig {
        self.with_config(PactConfig::clone)
    }

    /// What `f` reads of the pact's config, without copying the rest (appends read the
    /// display name; the config also holds peers and seeds).
    fn with_config<T>(&self, f: impl FnOnce(&PactConfig) -> T) -> T {
        match self.config.lock() {
            Ok(c) => f(&c),
            Err(p) => f(&p.into_inner()),
        }
    }

    /// This daemon's display name in the pact.
    fn display_name(&self) -> Option<String> {
        self.with_config(|c| c.display_name.clone())
    }

    fn update_config(&self, f: impl FnOnce(&mut PactConfig)) -> Result<PactConfig> {
        let mut guard = self
            .config
            .lock()
            .map_err(|_| ApiError::internal("The pact config lock was poisoned."))?;
        let mut next = guard.clone();
        f(&mut next);
        self.dir.write_config(&self.alias(), &next)?;
        *guard = next.clone();
        Ok(next)
    }

    /// The running writer; started again first if a storage failure stopped it.
    fn writer(&self) -> Result<Writer> {
        if let Some(w) = self.writer.read().ok().and_then(|w| w.clone()) {
            return Ok(w);
        }
        self.start_writer()
    }

    /// Opens the ledger file and starts a writer, unless one runs.
    fn start_writer(&self) -> Result<Writer> {
        let mut slot = self
            .writer
            .write()
            .map_err(|_| ApiError::internal("The pact's writer lock was poisoned."))?;
        if let Some(w) = slot.as_ref() {
            return Ok(w.clone());
        }
        let path = self.dir().join(LEDGER_FILE);
        let ledger = open_ledger(&path)?;
        let w = Writer::spawn(
            ledger,
            self.reopen.signer.clone(),
            self.clock.clone(),
            self.reopen.writer_config.clone(),
            self.reopen.sink(),
        )?;
        tracing::warn!(pact = %self.id, "ledger reopened after a storage failure");
        *slot = Some(w.clone());
        Ok(w)
    }

    /// Stops the writer after what it already took.
    pub fn shutdown(&self) {
        if let Ok(w) = self.writer.read()
            && let Some(w) = w.as_ref()
        {
            w.shutdown();
        }
    }

    /// After a storage failure (disk full, I/O error) redb wants the file closed and opened
    /// again: stop the writer and reopen the ledger (it recovers as after a crash). While a
    /// request still holds the old file open, the reopen fails and the next request tries again.
    fn reopen_after_failure(&self) {
        let old = self.writer.write().ok().and_then(|mut slot| slot.take());
        if let Some(old) = old {
            old.shutdown();
        }
        if let Err(e) = self.start_writer() {
            tracing::error!(pact = %self.id, error = %e, "cannot reopen the ledger yet");
        }
    }

    /// A snapshot of the view.
    pub fn reader(&self) -> Result<ViewReader> {
        self.writer()?.reader().map_err(|e| self.ledger_error(e))
    }

    /// A ledger error as an answer; failures of the machine (disk full, read-only, I/O) name the
    /// ledger file, refusals keep their wire code.
    fn ledger_error(&self, e: openpact_ledger::Error) -> ApiError {
        match e {
            openpact_ledger::Error::Refused { .. } | openpact_ledger::Error::Invalid(_) => e.into(),
            other => ApiError::internal(format!(
                "{}: {other}. This write was not made; acknowledged entries are safe. If the disk is \
                 full, make room: writes resume by themselves.",
                self.dir().join(LEDGER_FILE).display()
            )),
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Appends `ops` as one entry, signed with this daemon's display name, and waits until it is
    /// durable and applied.
    pub(crate) async fn append(&self, ops: Vec<wire::op::Op>) -> Result<AppendResult> {
        self.append_body(self.body_of(ops)).await
    }

    /// An entry body of `ops`, with this daemon's display name.
    fn body_of(&self, ops: Vec<wire::op::Op>) -> wire::Body {
        wire::Body {
            ops: ops
                .into_iter()
                .map(|op| wire::Op { op: Some(op) })
                .collect(),
            display_name: self.display_name(),
        }
    }

    /// Appends one app op and answers the entry as the API shows it: built from what the
    /// append answered and the body appended, as a read would show it (the ledger's
    /// `tests/appended.rs` holds the two equal), so the answer needs no read of the view.
    pub(crate) async fn append_entry(&self, op: wire::op::Op) -> Result<v1::Entry> {
        let body = self.body_of(vec![op]);
        let done = self.append_body(body.clone()).await?;
        let view = openpact_ledger::view::read::EntryView::appended(&done, self.me, body);
        convert::entry_with(&view, |id| {
            Ok(self.reader()?.task_title(id)?.unwrap_or_default())
        })
    }

    pub(crate) async fn append_body(&self, body: wire::Body) -> Result<AppendResult> {
        let done = self
            .writer()?
            .append_async(body)
            .await
            .map_err(|_| ApiError::internal("The pact's writer stopped."))?;
        match done {
            Ok(d) => Ok(d),
            Err(e) => {
                let failed = matches!(
                    e,
                    openpact_ledger::Error::Storage(_) | openpact_ledger::Error::Io(_)
                );
                let answer = self.ledger_error(e);
                if failed {
                    self.reopen_after_failure();
                }
                Err(answer)
            }
        }
    }

    /// The seq this daemon's next entry in the pact will have (0 before its first).
    pub fn next_seq(&self) -> Result<u64> {
        Ok(self
            .reader()?
            .frontier()?
            .into_iter()
            .find(|(k, _, _)| *k == self.me)
            .map_or(0, |(_, seq, _)| seq + 1))
    }

    /// The seed of this daemon's member key, for membership proofs on the peer network.
    pub fn member_seed(&self) -> [u8; 32] {
        self.reopen.signer.seed()
    }

    /// Changes after every commit: local appends and entries ingested from peers.
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.commits.clone()
    }

    /// Verifies and stores a batch of entries a peer sent, and waits until they are durable and
    /// applied. The batch is verified first, on threads of its own (signatures, shape, pact,
    /// and the chain within the batch): when any entry fails, none is stored and the error says
    /// which (`BAD_REQUEST`).
    pub async fn ingest(&self, entries: Vec<Vec<u8>>) -> Result<Vec<openpact_ledger::Ingested>> {
        let verified = verify_batch(self.id, entries).await?;
        self.writer()?
            .ingest_verified_async(verified)
            .await
            .map_err(|_| ApiError::internal("The pact's writer stopped."))?
            .map_err(|e| self.ledger_error(e))
    }

    /// Peer addresses this daemon knows for the pact (`peers` in its config).
    pub fn known_peers(&self) -> Vec<String> {
        self.config_strings(PEERS_KEY)
    }

    /// A list of strings kept in the pact's config under `key` (none when absent).
    fn config_strings(&self, key: &str) -> Vec<String> {
        self.with_config(|c| {
            c.other
                .get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Remembers a peer address for the pact (kept across restarts); whether it was new.
    pub fn remember_peer(&self, addr: &str) -> Result<bool> {
        if self.known_peers().iter().any(|a| a == addr) {
            return Ok(false);
        }
        self.update_config(|c| {
            let list = c
                .other
                .entry(PEERS_KEY.to_string())
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let Some(a) = list.as_array_mut() {
                a.push(serde_json::Value::String(addr.to_string()));
                // The newest few are enough to find the pact again.
                let excess = a.len().saturating_sub(MAX_KNOWN_PEERS);
                a.drain(..excess);
            }
        })?;
        Ok(true)
    }

    /// Keeps the pact's discovery secret (from an invite), unless one is kept already.
    pub fn set_discovery_secret(&self, secret: &str) -> Result<()> {
        if self.discovery_secret().is_some() || secret.is_empty() {
            return Ok(());
        }
        self.set_config_value(SECRET_KEY, serde_json::Value::from(secret))
    }

    /// Sets `key` in the pact's config (kept across restarts).
    fn set_config_value(&self, key: &str, value: serde_json::Value) -> Result<()> {
        self.update_config(|c| {
            c.other.insert(key.to_string(), value);
        })
        .map(drop)
    }

    /// Waits until this daemon is an active member of the pact (its admission arrived by
    /// sync), up to `timeout`.
    pub async fn wait_member(&self, timeout: Duration) -> Result<()> {
        let mut commits = self.commits();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            commits.borrow_and_update();
            if self.role(&self.reader()?)?.is_some() {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, commits.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(ApiError::internal("The pact's writer stopped.")),
                Err(_) => {
                    return Err(ApiError::new(
                        Code::NotConfirmedYet,
                        format!(
                            "The invite was redeemed, but the entry that admits this daemon did not arrive within {} ms. It keeps syncing; check `openpact status` in a moment.",
                            timeout.as_millis()
                        ),
                    ));
                }
            }
        }
    }

    /// The seed hints this daemon joined the pact with (`seeds` in its config).
    pub fn seeds(&self) -> Vec<String> {
        self.config_strings(SEEDS_KEY)
    }

    /// Keeps an invite's seed hints, for discovery across restarts.
    pub fn set_seeds(&self, seeds: &[String]) -> Result<()> {
        if seeds.is_empty() || self.seeds() == seeds {
            return Ok(());
        }
        self.set_config_value(SEEDS_KEY, serde_json::Value::from(seeds.to_vec()))
    }

    /// The pact's discovery secret (64 hex), known to members and invite holders.
    pub fn discovery_secret(&self) -> Option<String> {
        self.with_config(|c| {
            c.other
                .get(SECRET_KEY)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
    }

    /// Waits until the entry `hash` is confirmed, up to `timeout`; its final outcome.
    pub(crate) async fn wait_confirmed(
        &self,
        hash: &EntryHash,
        timeout: Duration,
    ) -> Result<openpact_ledger::Outcome> {
        let hex = hash.to_hex();
        let mut rx = self.bus.subscribe();
        if let Some((_, outcome, true)) = self.reader()?.outcome(hash)? {
            return Ok(outcome);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, rx.recv()).await;
            match next {
                Err(_) => {
                    return Err(ApiError::new(
                        Code::NotConfirmedYet,
                        format!(
                            "The indexers did not confirm the entry within {} ms. Its outcome may still change.",
                            timeout.as_millis()
                        ),
                    ));
                }
                Ok(Ok(ev)) => {
                    if let Some(v1::event::Detail::Confirmed(c)) = &ev.detail
                        && c.hash == hex
                    {
                        break;
                    }
                }
                Ok(Err(_)) => {
                    // Lagged or closed: look at the ledger itself.
                    if let Some((_, _, true)) = self.reader()?.outcome(hash)? {
                        break;
                    }
                }
            }
        }
        match self.reader()?.outcome(hash)? {
            Some((_, outcome, _)) => Ok(outcome),
            None => Err(ApiError::internal("a confirmed entry has no outcome")),
        }
    }

    /// How many batches the writer has committed since the pact was opened.
    pub(crate) fn commit_count(&self) -> u64 {
        *self.commits.borrow()
    }

    /// Waits until a batch commits after `seen` (a [`OpenPact::commit_count`]), up to `timeout`.
    pub(crate) async fn wait_commit(&self, seen: u64, timeout: Duration) {
        let mut rx = self.commits.clone();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|n| *n > seen)).await;
    }

    /// This daemon's role: creator, indexer, member, or none.
    pub fn role(&self, reader: &ViewReader) -> Result<Option<&'static str>> {
        let Some(p) = reader.pact()? else {
            return Ok(None);
        };
        let me = reader.members()?.into_iter().find(|m| m.key == self.me);
        Ok(match me {
            Some(m) if m.active && p.creator == self.me => Some("creator"),
            Some(m) if m.active && m.indexer => Some("indexer"),
            Some(m) if m.active => Some("member"),
            _ => None,
        })
    }

    /// The pact's status.
    pub fn status(&self, current: bool) -> Result<v1::PactStatus> {
        let r = self.reader()?;
        let s = r.status()?;
        let p = r.pact()?;
        let role = self.role(&r)?;
        let config = self.config();
        let is_member = role.is_some();
        Ok(v1::PactStatus {
            pact_id: self.id.to_hex(),
            alias: self.alias(),
            pact_name: p.as_ref().map(|p| p.name.clone()).or(config.pact_name),
            pact_purpose: p
                .as_ref()
                .map_or(config.pact_purpose, |p| p.purpose.clone()),
            peer_handle: self.me.handle(),
            display_name: config.display_name,
            role: role.map(str::to_string),
            public_key: self.me.to_hex(),
            agents: u32::from(is_member) + self.online_count(),
            entries: s.applied_len,
            is_member,
            is_indexer: p.as_ref().is_some_and(|p| p.indexers.contains(&self.me)),
            synced: s.applied_len > 0,
            claim_ttl_ms: p.map_or(openpact_ledger::entry::DEFAULT_CLAIM_TTL_MS, |p| {
                p.claim_ttl_ms
            }),
            confirmed: s.confirmed_len,
            tail: s.tail_len,
            ledger_time_ms: s.ledger_time,
            stored: s.entries_stored,
            is_current: current,
            data_dir: self.dir().display().to_string(),
            view_digest: hex::encode(s.view_digest.0),
            order_digest: hex::encode(s.order_digest),
            peers: Vec::new(),
            sync_pulled_total: 0,
            sync_served_total: 0,
            sync_bytes_in_total: 0,
            sync_bytes_out_total: 0,
        })
    }

    /// Counts a session with `member` as up; whether the member just came online (its first
    /// session). Publishes `member-online` then.
    pub fn peer_up(&self, member: MemberKey) -> bool {
        let first = self.online.lock().is_ok_and(|mut o| {
            let n = o.entry(member).or_insert(0);
            *n += 1;
            *n == 1
        });
        if first {
            self.presence(member, v1::EventKind::MemberOnline);
        }
        first
    }

    /// Counts a session with `member` as down; whether it went offline (its last session).
    /// Publishes `member-offline` then.
    pub fn peer_down(&self, member: MemberKey) -> bool {
        let last = self
            .online
            .lock()
            .is_ok_and(|mut o| match o.get_mut(&member) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    o.remove(&member);
                    true
                }
                None => false,
            });
        if last {
            self.presence(member, v1::EventKind::MemberOffline);
        }
        last
    }

    fn online_count(&self) -> u32 {
        self.online.lock().map_or(0, |o| o.len() as u32)
    }

    fn is_online(&self, member: &MemberKey) -> bool {
        self.online.lock().is_ok_and(|o| o.contains_key(member))
    }

    fn presence(&self, member: MemberKey, kind: v1::EventKind) {
        // Cached answers (agents, status) change with presence.
        self.bus.bump_generation();
        self.bus.publish(v1::Event {
            kind: kind as i32,
            pact_id: self.id.to_hex(),
            alias: self.alias(),
            detail: Some(v1::event::Detail::Member(v1::MemberPresence {
                member_key: member.to_hex(),
            })),
            ..Default::default()
        });
    }

    /// The pact's agents: this daemon first (when a member), then every other member.
    pub fn agents(&self, online: Option<bool>) -> Result<Vec<v1::Agent>> {
        let r = self.reader()?;
        let role = self.role(&r)?;
        let mut out = Vec::new();
        if let Some(role) = role {
            out.push(v1::Agent {
                id: self.me.handle(),
                remote_key: self.me.to_hex(),
                role: role.to_string(),
                display_name: self.display_name(),
                online: true,
                is_self: true,
            });
        }
        for m in r.members()? {
            if m.key == self.me || !m.active {
                continue;
            }
            out.push(v1::Agent {
                id: m.handle,
                remote_key: m.key.to_hex(),
                role: if m.indexer { "indexer" } else { "member" }.to_string(),
                display_name: m.display_name,
                online: self.is_online(&m.key),
                is_self: false,
            });
        }
        if let Some(want) = online {
            out.retain(|a| a.online == want && (want || !a.is_self));
        }
        Ok(out)
    }

    /// The entry with API id `id` (app entries only).
    pub fn get_entry(&self, id: &str) -> Result<v1::Entry> {
        let r = self.reader()?;
        match r.entry_by_api_id(id)? {
            Some(e) if e.kind.is_some() => convert::entry(&e, &r),
            _ => Err(ApiError::not_found(format!("entry {id} not found"))),
        }
    }

    /// Entries whose refs name `id`.
    pub fn referenced_by(&self, id: &str) -> Result<Vec<v1::Entry>> {
        let r = self.reader()?;
        r.referenced_by(id)?
            .iter()
            .map(|e| convert::entry(e, &r))
            .collect()
    }

    fn require_member(&self, r: &ViewReader) -> Result<&'static str> {
        self.role(r)?.ok_or_else(|| {
            ApiError::new(
                Code::NotAMember,
                "This daemon is not a member of the pact yet. Redeem an invite first.",
            )
        })
    }
}

/// An indexer that sees a fork appends its proof (both signed headers), which freezes the
/// author from that position on, on every peer: the evidence travels with the ledger.
async fn report_fork(pact: Arc<OpenPact>, first: EntryHash, second: EntryHash) {
    let proof = (|| {
        let r = pact.reader()?;
        let is_indexer = r.pact()?.is_some_and(|p| p.indexers.contains(&pact.me));
        if !is_indexer {
            return Ok(None);
        }
        let signed = |h: &EntryHash| -> Result<Option<wire::SignedEntry>> {
            Ok(r.raw_entry(h)?
                .and_then(|b| <wire::SignedEntry as prost::Message>::decode(b.as_slice()).ok()))
        };
        Ok::<_, ApiError>(match (signed(&first)?, signed(&second)?) {
            (Some(a), Some(b)) => Some(wire::ReportFork {
                header_a: a.header,
                signature_a: a.signature,
                header_b: b.header,
                signature_b: b.signature,
            }),
            _ => None,
        })
    })();
    match proof {
        Ok(Some(f)) => match pact.append(vec![wire::op::Op::ReportFork(f)]).await {
            Ok(done) => {
                tracing::warn!(pact = %pact.id, entry = %done.api_id, "a fork was seen: its proof is in the ledger")
            }
            Err(e) => tracing::warn!(pact = %pact.id, error = %e, "cannot record a fork proof"),
        },
        Ok(None) => {}
        Err(e) => tracing::warn!(pact = %pact.id, error = %e, "cannot read a fork's entries"),
    }
}

/// Turns each committed batch's ledger events into control-plane events on the bus.
async fn pump(pact: std::sync::Weak<OpenPact>, mut rx: mpsc::UnboundedReceiver<Vec<Event>>) {
    while let Some(events) = rx.recv().await {
        let Some(pact) = pact.upgrade() else {
            return;
        };
        let reader = match pact.reader() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(pact = %pact.id, error = %e, "cannot read the view for events");
                continue;
            }
        };
        let alias = pact.alias();
        let pact_id = pact.id.to_hex();
        let mk = |kind: v1::EventKind, detail: v1::event::Detail| v1::Event {
            id: String::new(),
            kind: kind as i32,
            pact_id: pact_id.clone(),
            alias: alias.clone(),
            detail: Some(detail),
        };
        use v1::event::Detail;
        for ev in events {
            // An applied entry is built from the body its event carries (`None` otherwise).
            let view = reader.applied_entry(&ev).ok().flatten();
            let out = match ev {
                Event::Applied {
                    hash,
                    api_id,
                    pos,
                    outcome,
                    arrival,
                    ..
                } => {
                    let entry = view
                        .as_ref()
                        .filter(|v| v.kind.is_some())
                        .and_then(|v| convert::entry(v, &reader).ok())
                        .map(|mut e| {
                            e.arrival = arrival;
                            e
                        });
                    mk(
                        v1::EventKind::EntryApplied,
                        Detail::Applied(v1::EntryApplied {
                            kind: if entry.is_some() { "entry" } else { "admin" }.to_string(),
                            entry,
                            hash: hash.to_hex(),
                            id: api_id,
                            position: pos,
                            outcome: convert::outcome(&outcome),
                            arrival,
                        }),
                    )
                }
                Event::InvalidEntry { hash, reason } => mk(
                    v1::EventKind::InvalidEntry,
                    Detail::Invalid(v1::InvalidEntry {
                        reason: reason.reason().to_string(),
                        hash: hash.map(|h| h.to_hex()),
                        message: reason.to_string(),
                    }),
                ),
                Event::TailRolledBack { from_pos, count } => mk(
                    v1::EventKind::TailRolledBack,
                    Detail::RolledBack(v1::TailRolledBack {
                        from_position: from_pos,
                        count,
                    }),
                ),
                Event::OutcomeChanged {
                    hash,
                    api_id,
                    pos,
                    before,
                    after,
                } => mk(
                    v1::EventKind::OutcomeChanged,
                    Detail::OutcomeChanged(v1::OutcomeChanged {
                        hash: hash.to_hex(),
                        id: api_id,
                        position: pos,
                        before: convert::outcome(&before),
                        after: convert::outcome(&after),
                    }),
                ),
                Event::Confirmed {
                    hash,
                    api_id,
                    pos,
                    outcome,
                } => mk(
                    v1::EventKind::EntryConfirmed,
                    Detail::Confirmed(v1::EntryConfirmed {
                        hash: hash.to_hex(),
                        id: api_id,
                        position: pos,
                        outcome: convert::outcome(&outcome),
                    }),
                ),
                Event::ForkDetected {
                    author,
                    seq,
                    first,
                    second,
                } => {
                    tokio::spawn(report_fork(pact.clone(), first, second));
                    mk(
                        v1::EventKind::ForkDetected,
                        Detail::Fork(v1::ForkDetected {
                            author: author.to_hex(),
                            seq,
                            first: first.to_hex(),
                            second: second.to_hex(),
                        }),
                    )
                }
            };
            pact.bus.publish(out);
        }
        pact.bus.publish(v1::Event {
            id: String::new(),
            kind: v1::EventKind::PactUpdated as i32,
            pact_id: pact_id.clone(),
            alias: alias.clone(),
            detail: None,
        });
    }
}
