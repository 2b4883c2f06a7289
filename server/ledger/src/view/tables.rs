//! The redb layout: log tables, order tables and view tables, with their key encodings and rows.
//!
//! Log and per-peer tables use typed redb keys. Every replicated table (the order, API ids and
//! the view proper) is a byte table written only through [`super::txn::ViewTxn`], which records
//! before-images for rollback and keeps the view digest. Keys put big-endian positions last so a
//! range scan of one prefix walks it in ledger order; variable-length parts are length-prefixed
//! so no prefix is ever a prefix of another.
//!
//! Every write of a commit costs a page (4 KiB written and flushed), so tables are keyed to keep
//! one commit's rows together: the log by `(author, seq)`, the order by position, API ids by
//! `(author, seq)`. Only [`HASHES`] is keyed by entry hash, and it is written a slice at a time
//! ([`crate::hashes`]); the entry an order row names is found by its author and seq, and an
//! entry's position by hash goes hash → slot → API id row → position.

use std::cell::OnceCell;

use redb::{ReadableTable, Table, TableDefinition, TableHandle, WriteTransaction};

use crate::error::{Error, Result};
use crate::keys::{EntryHash, MemberKey};

// ---- log and per-peer tables (not in the view digest) ----

/// `(author, seq) → entry hash ‖ SignedEntry bytes` of the first entry seen at each slot (the
/// branch heights follow). Keyed by slot, so an author's consecutive entries share pages.
pub(crate) const ENTRIES: TableDefinition<([u8; 32], u64), &[u8]> =
    TableDefinition::new("log.entries");
/// `entry hash → (author, seq)` of stored entries: the lookup by hash, with the hashes still in
/// memory ([`crate::hashes`]).
pub(crate) const HASHES: TableDefinition<[u8; 32], ([u8; 32], u64)> =
    TableDefinition::new("log.hashes");
/// `entry hash → SignedEntry bytes` of every entry at a slot that already held one (fork
/// branches; rare).
pub(crate) const BRANCHES: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("log.branches");
/// `(author, seq) → hash` of a second, conflicting entry at that seq (a fork).
pub(crate) const FORKS: TableDefinition<([u8; 32], u64), [u8; 32]> =
    TableDefinition::new("log.forks");
/// `entry hash → lamport` of the DAG's current tips (entries no other entry depends on).
pub(crate) const HEADS: TableDefinition<[u8; 32], u64> = TableDefinition::new("log.heads");
/// `arrival seq → entry hash`, assigned at an entry's first apply (the changes feed).
pub(crate) const ARRIVAL: TableDefinition<u64, [u8; 32]> = TableDefinition::new("peer.arrival");
/// `(position, counter) → undo record` for tail positions.
pub(crate) const UNDO: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("peer.undo");
/// Named scalar state: see the `STATE_*` keys.
pub(crate) const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("peer.state");

/// State key: the pact id (32 bytes).
pub(crate) const STATE_PACT_ID: &str = "pact_id";
/// State key: the engine's persisted counters ([`super::super::order::Persisted`]).
pub(crate) const STATE_ENGINE: &str = "engine";
/// State key: the journal generation whose records are not in the durable state yet (u64 LE;
/// absent: 0). See [`crate::journal`].
pub(crate) const STATE_JOURNAL_GEN: &str = "journal_gen";
/// State key: the layout version (u32 LE).
pub(crate) const STATE_LAYOUT: &str = "layout";
/// The layout version this code writes and reads. 3: new hashes queue in `log.hash_queue` and
/// are swept into `log.hashes` ([`crate::hashes`]). 2: entries keyed by `(author, seq)` with a
/// hash index, outcome and API id in the order row, binary API id keys (1 kept entries by hash
/// and a `view.results` table).
pub(crate) const LAYOUT_VERSION: u32 = 3;

/// A table of a write transaction opened when first used: opening is a lookup in redb's table
/// of tables, and most batches never touch the rarer tables.
pub(crate) struct LazyTable<'t, K: redb::Key + 'static, V: redb::Value + 'static> {
    txn: &'t WriteTransaction,
    def: TableDefinition<'static, K, V>,
    cell: OnceCell<Table<'t, K, V>>,
}

impl<'t, K: redb::Key + 'static, V: redb::Value + 'static> LazyTable<'t, K, V> {
    /// The table `def` of `txn`, not opened yet.
    pub(crate) fn new(txn: &'t WriteTransaction, def: TableDefinition<'static, K, V>) -> Self {
        LazyTable {
            txn,
            def,
            cell: OnceCell::new(),
        }
    }

    /// The table, opened now if it was not.
    pub(crate) fn get(&self) -> Result<&Table<'t, K, V>> {
        if let Some(t) = self.cell.get() {
            return Ok(t);
        }
        let opened = self.txn.open_table(self.def)?;
        Ok(self.cell.get_or_init(|| opened))
    }

    /// The table for writing, opened now if it was not.
    pub(crate) fn get_mut(&mut self) -> Result<&mut Table<'t, K, V>> {
        self.get()?;
        self.cell
            .get_mut()
            .ok_or_else(|| Error::Corrupt(format!("table {} did not open", self.def.name())))
    }
}

// ---- replicated tables (in the view digest) ----

/// A replicated byte table, identified by a stable number that is part of the digest. Each is a
/// redb table of its own: keys mostly grow at the end of their table, which keeps pages full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ViewTable {
    /// `pos → OrderRow`: the applied order, with each entry's outcome and API id.
    Order = 1,
    /// `api id key → pos` ([`api_id_key`]).
    ApiIds = 2,
    /// `kind u8 ‖ pos → ()`: applied app entries by kind ([`Kind`]).
    ByKind = 3,
    /// `lp(topic) ‖ pos → ()`: applied knowledge by topic.
    Topic = 4,
    /// `task id → TaskRow`: the current state of each task, kept by apply.
    Tasks = 5,
    /// `status u8 ‖ pos of create → task id`: tasks by status ([`TaskStatus`]).
    TaskStatus = 6,
    /// `format u8 ‖ pos → ()`: applied skills by format ([`SkillFormat`]).
    SkillFormat = 7,
    /// `author ‖ pos → ()`: applied messages by author key.
    MessageAuthor = 8,
    /// `lp(recipient handle or "*") ‖ pos → ()`: applied messages by recipient.
    MessageRecipient = 9,
    /// `lp(target api id) ‖ pos → ()`: applied entries by the ids in their refs.
    Refs = 10,
    /// `member key → MemberRow`: everyone who is or was a member.
    Members = 11,
    /// `id kind u8 ‖ bytes → member key`: short ids (8-hex prefix, handle) taken by members.
    MemberIds = 12,
    /// `nonce hash → InviteRow`.
    Invites = 13,
    /// `pos → nonce hash`: invites in minting order.
    InviteOrder = 14,
    /// `"pact" → PactRow`.
    Pact = 15,
    /// `author → freeze pos (u64 BE)`: authors frozen by a fork proof.
    Frozen = 16,
}

impl ViewTable {
    /// Every replicated table.
    pub const ALL: [ViewTable; 16] = [
        ViewTable::Order,
        ViewTable::ApiIds,
        ViewTable::ByKind,
        ViewTable::Topic,
        ViewTable::Tasks,
        ViewTable::TaskStatus,
        ViewTable::SkillFormat,
        ViewTable::MessageAuthor,
        ViewTable::MessageRecipient,
        ViewTable::Refs,
        ViewTable::Members,
        ViewTable::MemberIds,
        ViewTable::Invites,
        ViewTable::InviteOrder,
        ViewTable::Pact,
        ViewTable::Frozen,
    ];

    /// The table with this number.
    pub fn from_id(id: u8) -> Option<ViewTable> {
        ViewTable::ALL.iter().copied().find(|t| *t as u8 == id)
    }

    /// The table's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            ViewTable::Order => "view.order",
            ViewTable::ApiIds => "view.api_ids",
            ViewTable::ByKind => "view.by_kind",
            ViewTable::Topic => "view.topic",
            ViewTable::Tasks => "view.tasks",
            ViewTable::TaskStatus => "view.task_status",
            ViewTable::SkillFormat => "view.skill_format",
            ViewTable::MessageAuthor => "view.message_author",
            ViewTable::MessageRecipient => "view.message_recipient",
            ViewTable::Refs => "view.refs",
            ViewTable::Members => "view.members",
            ViewTable::MemberIds => "view.member_ids",
            ViewTable::Invites => "view.invites",
            ViewTable::InviteOrder => "view.invite_order",
            ViewTable::Pact => "view.pact",
            ViewTable::Frozen => "view.frozen",
        }
    }

    /// The redb definition.
    pub fn def(self) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
        TableDefinition::new(self.name())
    }
}

/// The kind of an app entry, as indexed in [`ViewTable::ByKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Knowledge.
    Knowledge = 1,
    /// Task create and task state changes.
    Task = 2,
    /// Skill.
    Skill = 3,
    /// Message.
    Message = 4,
}

impl Kind {
    /// The API type name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Knowledge => "knowledge",
            Kind::Task => "task",
            Kind::Skill => "skill",
            Kind::Message => "message",
        }
    }

    /// From the API type name.
    pub fn from_name(s: &str) -> Option<Kind> {
        Some(match s {
            "knowledge" => Kind::Knowledge,
            "task" => Kind::Task,
            "skill" => Kind::Skill,
            "message" => Kind::Message,
            _ => return None,
        })
    }
}

/// A task's status as kept by apply. (Reads also show an expired claim as open.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum TaskStatus {
    /// Open.
    Open = 1,
    /// Claimed.
    Claimed = 2,
    /// Complete.
    Complete = 3,
}

impl TaskStatus {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Claimed => "claimed",
            TaskStatus::Complete => "complete",
        }
    }

    /// From the stored number.
    pub fn from_u8(n: u8) -> Option<TaskStatus> {
        Some(match n {
            1 => TaskStatus::Open,
            2 => TaskStatus::Claimed,
            3 => TaskStatus::Complete,
            _ => return None,
        })
    }

    /// From the API name.
    pub fn from_name(s: &str) -> Option<TaskStatus> {
        Some(match s {
            "open" => TaskStatus::Open,
            "claimed" => TaskStatus::Claimed,
            "complete" => TaskStatus::Complete,
            _ => return None,
        })
    }
}

/// A skill format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum SkillFormat {
    /// openclaw (installs as .md).
    Openclaw = 1,
    /// langchain (installs as .py).
    Langchain = 2,
    /// generic (installs as .txt).
    Generic = 3,
}

impl SkillFormat {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            SkillFormat::Openclaw => "openclaw",
            SkillFormat::Langchain => "langchain",
            SkillFormat::Generic => "generic",
        }
    }

    /// From the API name.
    pub fn from_name(s: &str) -> Option<SkillFormat> {
        Some(match s {
            "openclaw" => SkillFormat::Openclaw,
            "langchain" => SkillFormat::Langchain,
            "generic" => SkillFormat::Generic,
            _ => return None,
        })
    }
}

/// Kinds of short ids in [`ViewTable::MemberIds`].
pub(crate) const MEMBER_ID_PREFIX: u8 = 1;
/// See [`MEMBER_ID_PREFIX`].
pub(crate) const MEMBER_ID_HANDLE: u8 = 2;
/// The one key of [`ViewTable::Pact`].
pub(crate) const PACT_KEY: &[u8] = b"pact";

// ---- key encoding ----

/// Big-endian position bytes.
pub(crate) fn pos_key(pos: u64) -> [u8; 8] {
    pos.to_be_bytes()
}

/// `prefix ‖ pos`.
pub(crate) fn prefixed_pos(prefix: &[u8], pos: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&pos.to_be_bytes());
    k
}

/// A length-prefixed string part: `u16 BE length ‖ bytes` (strings over 65535 bytes are cut;
/// no indexed string is that long, apply's schema limits them far below).
pub(crate) fn lp(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let n = b.len().min(u16::MAX as usize);
    let mut k = Vec::with_capacity(2 + n);
    k.extend_from_slice(&(n as u16).to_be_bytes());
    k.extend_from_slice(&b[..n]);
    k
}

/// The [`ViewTable::ApiIds`] key of an entry's API id: `author ‖ seq (u64 BE)`, followed by the
/// two suffix bytes for a `~xxxx` id. Keyed by the whole author key, so an author's ids are
/// adjacent and two authors whose keys share the 8 hex of an id never share a row.
pub(crate) fn api_id_key(author: &MemberKey, seq: u64, suffix: Option<[u8; 2]>) -> Vec<u8> {
    let mut k = Vec::with_capacity(42);
    k.extend_from_slice(&author.0);
    k.extend_from_slice(&seq.to_be_bytes());
    if let Some(s) = suffix {
        k.extend_from_slice(&s);
    }
    k
}

/// An API id string taken apart: the 4 key bytes of its 8 hex, the 0-based seq and the `~xxxx`
/// suffix bytes; `None` unless it is exactly as [`crate::keys::api_id`] (and the suffix) writes
/// it.
pub(crate) fn parse_api_id(id: &str) -> Option<([u8; 4], u64, Option<[u8; 2]>)> {
    let (short, rest) = id.split_once('-')?;
    let (num, suffix) = match rest.split_once('~') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let lower_hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !lower_hex(short, 8) || suffix.is_some_and(|s| !lower_hex(s, 4)) {
        return None;
    }
    if num.is_empty() || num.starts_with('0') || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq = num.parse::<u64>().ok()?.checked_sub(1)?;
    let prefix: [u8; 4] = hex::decode(short).ok()?.try_into().ok()?;
    let suffix = match suffix {
        Some(s) => Some(hex::decode(s).ok()?.try_into().ok()?),
        None => None,
    };
    Some((prefix, seq, suffix))
}

/// An [`ENTRIES`] value: `hash ‖ SignedEntry bytes`.
pub(crate) fn stored_value(hash: &EntryHash, bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + bytes.len());
    v.extend_from_slice(&hash.0);
    v.extend_from_slice(bytes);
    v
}

/// The hash and bytes of an [`ENTRIES`] value (`None` if it is shorter than a hash).
pub(crate) fn split_stored(v: &[u8]) -> Option<(EntryHash, &[u8])> {
    let (h, bytes) = v.split_at_checked(32)?;
    Some((EntryHash::from_slice(h)?, bytes))
}

/// The stored bytes of entry `hash` at slot `(author, seq)`: the slot's own entry, or a branch.
pub(crate) fn slot_bytes(
    entries: &impl ReadableTable<([u8; 32], u64), &'static [u8]>,
    branches: &impl ReadableTable<[u8; 32], &'static [u8]>,
    author: &MemberKey,
    seq: u64,
    hash: &EntryHash,
) -> Result<Option<Vec<u8>>> {
    if let Some(v) = entries.get((author.0, seq))? {
        let (h, bytes) = split_stored(v.value()).ok_or_else(corrupt_entry)?;
        if h == *hash {
            return Ok(Some(bytes.to_vec()));
        }
    }
    Ok(branches.get(hash.0)?.map(|v| v.value().to_vec()))
}

fn corrupt_entry() -> Error {
    Error::Corrupt(format!("bad row in {}", ENTRIES.name()))
}

/// The position at the end of a `… ‖ pos` key.
pub(crate) fn trailing_pos(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

// ---- rows (prost-encoded, so their bytes are deterministic) ----

/// One applied position: the entry there and what applying it did.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct OrderRow {
    /// The entry at this position.
    #[prost(bytes = "vec", tag = "1")]
    pub hash: Vec<u8>,
    /// The ledger time it was judged by: its segment's time once confirmed; 0 while it is
    /// unconfirmed and did not read the time (so the row is the same on every peer).
    #[prost(uint64, tag = "2")]
    pub ledger_time: u64,
    /// Whether its apply read the ledger time (so a new time means a new apply).
    #[prost(bool, tag = "3")]
    pub time_sensitive: bool,
    /// Whether it applied a change of the indexer set (finality switches epoch when it is
    /// confirmed).
    #[prost(bool, tag = "4")]
    pub changes_indexers: bool,
    /// [`crate::Outcome::to_u16`].
    #[prost(uint32, tag = "5")]
    pub outcome: u32,
    /// Its API id (with a `~xxxx` suffix if another entry took the plain id first); empty for
    /// the genesis entry.
    #[prost(string, tag = "6")]
    pub api_id: String,
    /// Its author (the key of its [`ENTRIES`] slot, with `seq`).
    #[prost(bytes = "vec", tag = "7")]
    pub author: Vec<u8>,
    /// Its 0-based seq in the author's log.
    #[prost(uint64, tag = "8")]
    pub seq: u64,
}

/// A task's state, kept by apply.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TaskRow {
    /// [`TaskStatus`] as u8.
    #[prost(uint32, tag = "1")]
    pub status: u32,
    /// Position of the create entry (the key of its [`ViewTable::TaskStatus`] row).
    #[prost(uint64, tag = "2")]
    pub created_pos: u64,
    /// Key of the active claimer, empty when none.
    #[prost(bytes = "vec", tag = "3")]
    pub claimed_by: Vec<u8>,
    /// Ledger time of the active claim.
    #[prost(uint64, tag = "4")]
    pub claimed_at: u64,
    /// Hash of the claim entry in force.
    #[prost(bytes = "vec", tag = "5")]
    pub claim_entry: Vec<u8>,
    /// Result given at completion.
    #[prost(string, optional, tag = "6")]
    pub result: Option<String>,
    /// Handle the task is assigned to.
    #[prost(string, optional, tag = "7")]
    pub assigned_to: Option<String>,
    /// Title.
    #[prost(string, tag = "8")]
    pub title: String,
    /// Hash of the last applied entry that changed this task.
    #[prost(bytes = "vec", tag = "9")]
    pub last_entry: Vec<u8>,
}

/// Someone who is or was a member.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberRow {
    /// Active now.
    #[prost(bool, tag = "1")]
    pub active: bool,
    /// Position of the op that (re-)admitted it.
    #[prost(uint64, tag = "2")]
    pub added_pos: u64,
    /// On re-admission, its entries below this seq ordered after admission are dropped.
    #[prost(uint64, tag = "3")]
    pub from_seq: u64,
    /// Position of its removal, when removed.
    #[prost(uint64, optional, tag = "4")]
    pub removed_pos: Option<u64>,
    /// It wrote `AcceptIndexer` (consent to become an indexer).
    #[prost(bool, tag = "5")]
    pub accepted_indexer: bool,
    /// Latest non-empty display name seen on its applied entries.
    #[prost(string, optional, tag = "6")]
    pub display_name: Option<String>,
    /// Whether it is the creator.
    #[prost(bool, tag = "7")]
    pub creator: bool,
}

/// A minted invite.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct InviteRow {
    /// Expiry (ledger time).
    #[prost(uint64, tag = "1")]
    pub expires_at_ms: u64,
    /// Key of the indexer that minted it.
    #[prost(bytes = "vec", tag = "2")]
    pub issuer: Vec<u8>,
    /// Position of the mint.
    #[prost(uint64, tag = "3")]
    pub minted_pos: u64,
    /// Ledger time of the mint.
    #[prost(uint64, tag = "4")]
    pub minted_at: u64,
    /// Issuer's display name given at minting.
    #[prost(string, optional, tag = "5")]
    pub issuer_display: Option<String>,
    /// Revoked.
    #[prost(bool, tag = "6")]
    pub revoked: bool,
    /// Key of the member it admitted, when spent.
    #[prost(bytes = "vec", tag = "7")]
    pub spent_by: Vec<u8>,
    /// Ledger time of the spend.
    #[prost(uint64, optional, tag = "8")]
    pub spent_at: Option<u64>,
}

/// The pact's parameters and info.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PactRow {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Purpose.
    #[prost(string, optional, tag = "2")]
    pub purpose: Option<String>,
    /// Claim TTL (ms of ledger time).
    #[prost(uint64, tag = "3")]
    pub claim_ttl_ms: u64,
    /// Deps cap.
    #[prost(uint32, tag = "4")]
    pub deps_cap: u32,
    /// The creator's key.
    #[prost(bytes = "vec", tag = "5")]
    pub creator: Vec<u8>,
    /// Current indexer keys, sorted.
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub indexers: Vec<Vec<u8>>,
}

impl OrderRow {
    /// The entry hash.
    pub fn entry_hash(&self) -> Option<EntryHash> {
        EntryHash::from_slice(&self.hash)
    }
}

/// The engine's persisted counters, stored under [`STATE_ENGINE`] and rewritten by every commit.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct EngineRow {
    /// Positions below this are confirmed: they never move and their outcomes are final.
    #[prost(uint64, tag = "1")]
    pub confirmed_len: u64,
    /// Positions below this are applied to the view (`confirmed_len <= applied_len`).
    #[prost(uint64, tag = "2")]
    pub applied_len: u64,
    /// Running `D(i+1) = H(D(i) ‖ hash(i))` over the confirmed order.
    #[prost(bytes = "vec", tag = "3")]
    pub order_digest: Vec<u8>,
    /// The view digest ([`super::txn::Digest`]).
    #[prost(bytes = "vec", tag = "4")]
    pub view_digest: Vec<u8>,
    /// Ledger time of the last confirmed segment (monotone).
    #[prost(uint64, tag = "5")]
    pub ledger_time: u64,
    /// Current indexer epoch (changes when an indexer-set change is confirmed).
    #[prost(uint64, tag = "6")]
    pub epoch: u64,
    /// The indexer of the current epoch (single-indexer finality).
    #[prost(bytes = "vec", tag = "7")]
    pub indexer: Vec<u8>,
    /// The last committed anchor's hash.
    #[prost(bytes = "vec", tag = "8")]
    pub last_anchor: Vec<u8>,
    /// Next arrival sequence number to hand out (per peer).
    #[prost(uint64, tag = "9")]
    pub next_arrival: u64,
    /// Number of committed anchors (segments).
    #[prost(uint64, tag = "10")]
    pub anchors: u64,
    /// The anchor the current epoch starts at; empty for epoch 0 (which starts at genesis).
    #[prost(bytes = "vec", tag = "11")]
    pub epoch_start: Vec<u8>,
}
