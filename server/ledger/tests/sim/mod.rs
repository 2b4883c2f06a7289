//! A deterministic simulator of one pact replicated on several peers.
//!
//! Everything is driven by one seeded RNG, in the TigerBeetle/FoundationDB style: which peer acts,
//! what it writes, which in-flight messages it receives and in what order, duplicates, delays,
//! lost messages, restarts, crashes at a random I/O call (see [`crash`]), equivocation, forged
//! entries, membership changes. Each peer is a real [`Ledger`] on a simulated disk; the clock is a
//! plain number of ms moved forward by the RNG. A failure message names the seed, the parameters
//! and the last actions, and `Sim::new(params)` with the same parameters replays it exactly.
//!
//! While it runs, the simulator checks after every batch what must hold at every instant
//! (confirmed positions never move and agree across peers, confirmed outcomes never change, no
//! valid entry is reported invalid). After the run, [`Sim::finish`] plays anti-entropy (every
//! entry to every peer, then a last anchor by the creator, delivered everywhere) and
//! [`Sim::check_final`] checks convergence and the other properties of spec/ledger.md section 8.

#![allow(dead_code)]

/// Returns a failure (with the seed and the last actions) from the enclosing function unless
/// `cond` holds.
macro_rules! ensure {
    ($sim:expr, $cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err($sim.failure(format!($($fmt)*)));
        }
    };
}

pub mod batch;
pub mod checks;
pub mod crash;
pub mod faults;
pub mod forge;
pub mod inspect;
pub mod net;
pub mod oracle;
pub mod steps;

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use openpact_ledger::{
    AppendResult, Code, EntryHash, Event, Ingested, Ledger, MemberKey, Outcome, PactId, PactParams,
    Signer, wire,
};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};

use crash::Disk;
use inspect::Decoded;

/// The creator's peer index.
pub const CREATOR: usize = 0;

/// Whether signature checks are slow here: a debug build whose dependencies are not optimised
/// (ed25519 is then about 100 times slower, and it dominates the simulator's cost). The tests
/// then run smaller schedules, never fewer, so a debug `cargo test` takes minutes, not an hour.
/// `[profile.dev.package."*"] opt-level = 2` in the workspace makes debug builds fast and the
/// schedules full-size.
pub fn slow_crypto() -> bool {
    static SLOW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SLOW.get_or_init(|| {
        let signer = Signer::from_seed([7; 32]);
        let e = openpact_ledger::entry::sign(
            &signer,
            openpact_ledger::entry::Draft {
                pact: PactId([1; 32]),
                seq: 0,
                prev: None,
                deps: Vec::new(),
                lamport: 1,
                epoch: 0,
                time_ms: 0,
                body: forge::knowledge("calibration", "x"),
            },
        );
        let started = std::time::Instant::now();
        for _ in 0..4 {
            let v = openpact_ledger::entry::verify(&e.bytes, &PactId([1; 32]), 64);
            assert!(v.is_ok(), "calibration entry verifies");
        }
        started.elapsed() > std::time::Duration::from_millis(4)
    })
}

/// What a property run stresses: the relative weights of the actions, and a few switches.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    /// Name, printed with failures.
    pub name: &'static str,
    /// A peer receives some in-flight messages.
    pub deliver: u32,
    /// A peer receives some messages and writes one or two app entries, in one batch.
    pub write: u32,
    /// The creator writes an anchor (a null entry), maybe with deliveries.
    pub anchor: u32,
    /// Several peers claim one task before hearing from each other.
    pub claim_race: u32,
    /// An entry is sent again to a peer.
    pub duplicate: u32,
    /// A peer restarts cleanly.
    pub restart: u32,
    /// A peer crashes at a random I/O call of a batch and recovers from its disk.
    pub crash: u32,
    /// The creator removes or re-admits a member.
    pub membership: u32,
    /// A member equivocates: two entries at one seq, sent to different peers.
    pub fork: u32,
    /// A forged entry is offered to a peer.
    pub forge: u32,
    /// A stored entry is offered again to a peer.
    pub idempotence: u32,
    /// A peer is compared with a fresh ledger that ingests all its entries in one batch.
    pub oracle: u32,
    /// A peer and a byte copy of it take the same batch.
    pub twin: u32,
    /// Some messages are lost (anti-entropy brings them back at the end).
    pub lose_messages: bool,
    /// The pact's claim TTL (0: the default, 24 h).
    pub claim_ttl_ms: u64,
    /// Largest clock step, in ms.
    pub max_tick_ms: u64,
}

impl Mix {
    /// A bit of everything.
    pub const GENERAL: Mix = Mix {
        name: "general",
        deliver: 30,
        write: 26,
        anchor: 12,
        claim_race: 6,
        duplicate: 4,
        restart: 2,
        crash: 2,
        membership: 3,
        fork: 1,
        forge: 2,
        idempotence: 2,
        oracle: 1,
        twin: 1,
        lose_messages: true,
        claim_ttl_ms: 0,
        max_tick_ms: 400,
    };

    /// Only deliveries, writes, anchors and claim races: the plain replication path.
    pub const QUIET: Mix = Mix {
        name: "quiet",
        deliver: 35,
        write: 30,
        anchor: 12,
        claim_race: 8,
        duplicate: 5,
        restart: 0,
        crash: 0,
        membership: 0,
        fork: 0,
        forge: 0,
        idempotence: 0,
        oracle: 0,
        twin: 0,
        lose_messages: false,
        claim_ttl_ms: 0,
        max_tick_ms: 400,
    };
}

/// One schedule: a seed and a few sizes.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// The seed of everything.
    pub seed: u64,
    /// Members besides the creator.
    pub members: usize,
    /// Whether one more peer holds a key that is never admitted and writes anyway.
    pub outsider: bool,
    /// Number of random actions.
    pub steps: usize,
    /// What the actions are.
    pub mix: Mix,
}

/// What a peer is in the pact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The creator, the single indexer.
    Creator,
    /// Admitted by the creator at the start.
    Member,
    /// Never admitted.
    Outsider,
}

/// One peer: a key, a disk, a ledger on it, and what the simulator saw it do.
pub struct Peer {
    /// Role.
    pub role: Role,
    /// Signing key.
    pub signer: Signer,
    /// Its disk.
    pub disk: Disk,
    /// Its ledger (taken out while restarting).
    pub ledger: Option<Ledger>,
    /// The confirmed order, as announced by `Confirmed` events (checked against the database).
    pub confirmed: Vec<EntryHash>,
    /// Confirmed outcomes, as announced.
    pub finals: HashMap<EntryHash, Outcome>,
    /// Entries whose appending batch committed: they must never be lost.
    pub acked: Vec<EntryHash>,
    /// Forks this peer detected: `(author, first, second)`.
    pub forks_seen: Vec<(MemberKey, EntryHash, EntryHash)>,
    /// Authors this peer reported.
    pub reported: HashSet<MemberKey>,
    /// Whether the simulator removed it (it may still write, by hand).
    pub removed: bool,
    /// Every event of its committed batches, in order.
    pub log: Vec<Event>,
}

impl Peer {
    /// Its member key.
    pub fn key(&self) -> MemberKey {
        self.signer.public()
    }

    /// Its ledger.
    pub fn ledger(&self) -> &Ledger {
        self.ledger.as_ref().expect("the peer is up")
    }
}

/// A message in flight: one entry addressed to one peer.
#[derive(Clone, Debug)]
struct Msg {
    to: usize,
    hash: EntryHash,
    ready_at: u64,
}

/// One thing done in a batch.
#[derive(Clone, Debug)]
pub enum Act {
    /// Ingest a known entry.
    Deliver(EntryHash),
    /// Ingest these bytes (a forgery, or an entry built by hand).
    Raw(Vec<u8>),
    /// Append an entry with this body, as the peer's own key.
    Append(wire::Body),
}

/// What a committed batch did.
#[derive(Clone, Debug, Default)]
pub struct Done {
    /// Results of the ingests, in order.
    pub ingested: Vec<Ingested>,
    /// Per `Append` act, in order: the entry, or `None` if the append was refused.
    pub appends: Vec<Option<EntryHash>>,
    /// Results of the appends that were not refused.
    pub appended: Vec<AppendResult>,
    /// Codes of refused appends.
    pub refused: Vec<Code>,
    /// The batch's events.
    pub events: Vec<Event>,
}

/// Counters of what a run exercised.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Committed batches.
    pub batches: u64,
    /// Tail rollbacks.
    pub rollbacks: u64,
    /// Outcomes that changed on re-apply.
    pub outcome_changes: u64,
    /// Entries parked for missing deps.
    pub parked: u64,
    /// Duplicate ingests.
    pub duplicates: u64,
    /// Crashes whose batch was lost.
    pub crashes_lost: u64,
    /// Crashes whose batch had landed although it failed.
    pub crashes_landed: u64,
    /// Crashes after a committed batch.
    pub crashes_after_commit: u64,
    /// Entries a reopen after a crash replayed from the peer's journal.
    pub journal_replays: u64,
    /// Restarts.
    pub restarts: u64,
    /// Forged entries rejected.
    pub forgeries: u64,
    /// Forks made.
    pub forks: u64,
    /// Entries dropped for their author.
    pub dropped: u64,
    /// `TASK_ALREADY_CLAIMED` outcomes.
    pub lost_claims: u64,
    /// Refused local appends.
    pub refused: u64,
    /// Oracle and twin comparisons made.
    pub comparisons: u64,
}

/// A membership change written by the creator, for the membership property.
#[derive(Clone, Debug)]
pub struct MembershipChange {
    /// When it was written.
    pub tick: u64,
    /// Whose membership.
    pub key: MemberKey,
    /// Add (true) or remove.
    pub add: bool,
    /// The entry.
    pub hash: EntryHash,
}

/// The simulated pact.
pub struct Sim {
    /// The schedule.
    pub params: Params,
    /// The one source of randomness.
    pub rng: StdRng,
    /// The clock, in ms.
    pub now: u64,
    /// Counts batches (a logical time for "created before/after").
    pub tick: u64,
    /// The pact.
    pub pact: PactId,
    /// The peers; the creator first.
    pub peers: Vec<Peer>,
    net: Vec<Msg>,
    /// Every entry made, in the order made.
    pub all: Vec<EntryHash>,
    /// Their bytes.
    pub bytes: HashMap<EntryHash, Rc<[u8]>>,
    /// The tick each entry was made at (unknown for entries found on a crashed disk later).
    pub created: HashMap<EntryHash, u64>,
    /// Task ids created so far.
    pub tasks: Vec<String>,
    /// The longest confirmed order any peer announced.
    pub global_confirmed: Vec<EntryHash>,
    /// Confirmed outcomes, as first announced by any peer.
    pub global_finals: HashMap<EntryHash, Outcome>,
    /// Forks made: `(author, a, b)`.
    pub forks: Vec<(MemberKey, EntryHash, EntryHash)>,
    /// Membership changes written by the creator.
    pub membership: Vec<MembershipChange>,
    /// The last actions, for failure messages.
    pub trace: Vec<String>,
    /// What the run exercised.
    pub stats: Stats,
}

impl Sim {
    /// Creates the pact on the creator's peer, joins the others, and has the creator admit the
    /// members. The admissions and genesis are in flight, not yet delivered.
    pub fn new(params: Params) -> Sim {
        let mut rng = StdRng::seed_from_u64(params.seed);
        let now = 1_700_000_000_000 + rng.random_range(0..1_000_000u64);
        let mut peers = Vec::new();
        let n = 1 + params.members + usize::from(params.outsider);
        for i in 0..n {
            let role = match i {
                CREATOR => Role::Creator,
                i if i <= params.members => Role::Member,
                _ => Role::Outsider,
            };
            // Most peers run with a journal, as the daemon does, with a limit that makes some
            // checkpoint at every batch and others rarely; some commit every batch to redb.
            let journal_limit = match rng.random_range(0..4u32) {
                0 => None,
                1 => Some(0),
                2 => Some(2 << 10),
                _ => Some(64 << 10),
            };
            // Half of those have the ledger's file written behind, as the daemon does.
            let disk = match rng.random_bool(0.5) {
                true => Disk::new(journal_limit).behind(),
                false => Disk::new(journal_limit),
            };
            peers.push(Peer {
                role,
                signer: Signer::from_seed(rng.random()),
                disk,
                ledger: None,
                confirmed: Vec::new(),
                finals: HashMap::new(),
                acked: Vec::new(),
                forks_seen: Vec::new(),
                reported: HashSet::new(),
                removed: false,
                log: Vec::new(),
            });
        }
        let pact_params = PactParams {
            name: "sim".into(),
            purpose: None,
            claim_ttl_ms: params.mix.claim_ttl_ms,
            deps_cap: 0,
        };
        let mut creator = Ledger::create(
            peers[CREATOR].disk.database(),
            &peers[CREATOR].signer,
            pact_params,
            now,
            rng.random(),
        )
        .expect("create the pact");
        peers[CREATOR]
            .disk
            .attach(&mut creator)
            .expect("attach the journal");
        let pact = creator.pact_id();
        let genesis = EntryHash(pact.0);
        let genesis_bytes: Rc<[u8]> = inspect::entry_bytes(&creator, &genesis)
            .expect("genesis stored")
            .into();
        peers[CREATOR].confirmed = vec![genesis];
        peers[CREATOR].finals.insert(genesis, Outcome::Applied);
        peers[CREATOR].ledger = Some(creator);
        for p in peers.iter_mut().skip(1) {
            p.ledger = Some(p.disk.join(pact).expect("join the pact"));
        }
        let mut sim = Sim {
            params,
            rng,
            now,
            tick: 0,
            pact,
            peers,
            net: Vec::new(),
            all: vec![genesis],
            bytes: HashMap::from([(genesis, genesis_bytes)]),
            created: HashMap::from([(genesis, 0)]),
            tasks: Vec::new(),
            global_confirmed: vec![genesis],
            global_finals: HashMap::from([(genesis, Outcome::Applied)]),
            forks: Vec::new(),
            membership: Vec::new(),
            trace: Vec::new(),
            stats: Stats::default(),
        };
        for to in 1..sim.peers.len() {
            sim.send_now(to, genesis);
        }
        let admissions: Vec<Act> = (1..=params.members)
            .map(|i| Act::Append(forge::add_member(&sim.peers[i].key(), 0)))
            .collect();
        let done = sim.exec(CREATOR, admissions).expect("admit the members");
        let done = done.unwrap_or_else(|e| panic!("admitting the members failed: {e}"));
        for (i, a) in done.appended.iter().enumerate() {
            let key = sim.peers[i + 1].key();
            sim.membership.push(MembershipChange {
                tick: sim.tick,
                key,
                add: true,
                hash: a.hash,
            });
        }
        sim
    }

    /// A failure message: the seed and parameters, what went wrong, and the last actions.
    pub fn failure(&self, what: String) -> String {
        let from = self.trace.len().saturating_sub(25);
        format!(
            "seed {:#x} ({:?}): {what}\n  last actions (of {}):\n    {}\n  replay: OPENPACT_SIM_SEED={:#x} OPENPACT_SIM_MEMBERS={} OPENPACT_SIM_OUTSIDER={} OPENPACT_SIM_STEPS={} OPENPACT_SIM_MIX={} cargo test -p openpact-ledger --test properties replay_one_schedule -- --nocapture",
            self.params.seed,
            self.params,
            self.trace.len(),
            self.trace[from..].join("\n    "),
            self.params.seed,
            self.params.members,
            self.params.outsider,
            self.params.steps,
            self.params.mix.name,
        )
    }

    /// Notes an action for failure messages.
    pub fn note(&mut self, s: String) {
        self.trace
            .push(format!("[t{} {}ms] {s}", self.tick, self.now % 1_000_000));
    }

    /// Short name of an entry for traces.
    pub fn short(h: &EntryHash) -> String {
        h.to_hex()[..8].to_string()
    }

    // ---- choices ----

    /// Peers that may write as members (by the simulator's intent).
    pub fn writers(&self) -> Vec<usize> {
        (0..self.peers.len())
            .filter(|&i| self.peers[i].role != Role::Outsider && !self.peers[i].removed)
            .collect()
    }

    /// A random app-op body.
    pub fn random_app_body(&mut self) -> wire::Body {
        let n = self.tasks.len();
        let pick = self.rng.random_range(0..100u32);
        let task = |sim: &mut Sim| -> Option<String> {
            if n == 0 {
                None
            } else {
                // Recent tasks are claimed most.
                let i = n - 1 - sim.rng.random_range(0..n.min(4));
                Some(sim.tasks[i].clone())
            }
        };
        match pick {
            0..=29 => {
                let topic = ["ops", "design", "notes"][self.rng.random_range(0..3)];
                let c: u32 = self.rng.random();
                forge::knowledge(topic, &format!("fact {c}"))
            }
            30..=54 => {
                let c: u16 = self.rng.random();
                forge::task_create(&format!("task {c}"))
            }
            55..=79 => match task(self) {
                Some(t) => forge::claim(&t),
                None => forge::task_create("first"),
            },
            80..=89 => match task(self) {
                Some(t) => forge::complete(&t),
                None => forge::knowledge("ops", "idle"),
            },
            _ => match task(self) {
                Some(t) => forge::release(&t),
                None => forge::knowledge("ops", "idle"),
            },
        }
    }

    /// Moves the clock.
    pub fn advance(&mut self) {
        let max = self.params.mix.max_tick_ms.max(1);
        self.now += self.rng.random_range(0..max);
    }

    /// The peer index with this key.
    pub fn peer_of(&self, key: &MemberKey) -> Option<usize> {
        self.peers.iter().position(|p| p.key() == *key)
    }

    /// Decodes a known entry.
    pub fn decoded(&self, h: &EntryHash) -> Decoded {
        Decoded::new(&self.bytes[h])
    }
}

/// A short description of a body, for traces.
pub fn describe(b: &wire::Body) -> String {
    use wire::op::Op;
    let ops: Vec<String> = b
        .ops
        .iter()
        .map(|o| match &o.op {
            Some(Op::Knowledge(k)) => format!("knowledge({})", k.topic),
            Some(Op::TaskCreate(t)) => format!("task({})", t.title),
            Some(Op::TaskClaim(t)) => format!("claim({})", t.task_id),
            Some(Op::TaskComplete(t)) => format!("complete({})", t.task_id),
            Some(Op::TaskRelease(t)) => format!("release({})", t.task_id),
            Some(Op::AddMember(a)) => format!("add({})", hex::encode(&a.key[..4])),
            Some(Op::RemoveMember(r)) => format!("remove({})", hex::encode(&r.key[..4])),
            Some(Op::ReportFork(_)) => "report-fork".into(),
            Some(other) => format!("{other:?}").chars().take(20).collect(),
            None => "empty-op".into(),
        })
        .collect();
    if ops.is_empty() {
        "null".into()
    } else {
        ops.join("+")
    }
}
