//! The end of a run: anti-entropy, a last anchor, and the properties that hold once every peer
//! has every entry.

use std::collections::{BTreeSet, HashMap, HashSet};

use openpact_ledger::{Code, DropReason, EntryHash, MemberKey, Outcome, wire};
use rand::RngExt as _;
use rand::seq::SliceRandom as _;

use super::inspect::{self, Decoded, State};
use super::{Act, CREATOR, Sim, forge};

impl Sim {
    /// Runs the schedule, finishes, and checks everything.
    pub fn run(mut self) -> Result<Sim, String> {
        self.run_steps()?;
        self.finish()?;
        self.check_final()?;
        Ok(self)
    }

    /// Anti-entropy, as sync does it: every peer gets every entry it does not store (whoever
    /// has it, or was ever sent), in a random order, in a few batches; then the creator reports
    /// every fork and writes a last anchor, both delivered everywhere.
    pub fn finish(&mut self) -> Result<(), String> {
        self.note("anti-entropy".into());
        for p in 0..self.peers.len() {
            let l = self.peers[p].ledger();
            let key = self.peers[p].key();
            let theirs: Vec<EntryHash> = inspect::stored_entries(l)
                .into_iter()
                .filter(|(h, b)| !self.bytes.contains_key(h) && Decoded::new(b).author() == key)
                .map(|(h, _)| h)
                .collect();
            for h in theirs {
                self.register(p, h);
                self.created.remove(&h);
            }
        }
        for p in 0..self.peers.len() {
            let stored = inspect::stored_entries(self.peers[p].ledger());
            let mut mine: Vec<EntryHash> = self
                .all
                .iter()
                .filter(|h| !stored.contains_key(h))
                .copied()
                .collect();
            if mine.is_empty() {
                continue;
            }
            mine.shuffle(&mut self.rng);
            let parts = self.rng.random_range(1..=3);
            let size = mine.len().div_ceil(parts);
            for chunk in mine.chunks(size) {
                self.deliver(p, chunk.to_vec())?;
            }
            let (parked, waiting) = self.peers[p].ledger().parked();
            ensure!(
                self,
                parked == 0,
                "p{p}: {parked} entries still parked after anti-entropy, waiting for {waiting:?}"
            );
        }
        // Reports by members may have been refused or dropped; the creator's is final at once
        // (a second report of one author changes nothing).
        let mut acts = Vec::new();
        let mut reported = HashSet::new();
        for (author, a, b) in self.forks.clone() {
            if reported.insert(author) {
                acts.push(Act::Append(forge::report_fork(
                    &self.bytes[&a],
                    &self.bytes[&b],
                )));
            }
        }
        acts.push(Act::Append(forge::null()));
        let done = self.exec_ok(CREATOR, acts)?;
        let last: Vec<EntryHash> = done.appended.iter().map(|a| a.hash).collect();
        for p in 1..self.peers.len() {
            self.deliver(p, last.clone())?;
        }
        Ok(())
    }

    /// The properties that hold after anti-entropy.
    pub fn check_final(&mut self) -> Result<(), String> {
        let everything: BTreeSet<EntryHash> = self.all.iter().copied().collect();
        let reference = State::of(self.peers[CREATOR].ledger());
        let ref_results = inspect::results(self.peers[CREATOR].ledger());
        for p in 0..self.peers.len() {
            let l = self.peers[p].ledger();
            // 1: permutation invariance.
            ensure!(
                self,
                l.tail_len() == 0,
                "p{p}: {} entries unconfirmed after the last anchor",
                l.tail_len()
            );
            let st = State::of(l);
            if st != reference {
                let rows = inspect::row_diff(self.peers[CREATOR].ledger(), l);
                return Err(self.failure(format!(
                    "p{p} differs from the creator after anti-entropy: {}\n    {rows}",
                    reference.diff(&st)
                )));
            }
            let results = inspect::results(l);
            ensure!(
                self,
                results == ref_results,
                "p{p}: results differ from the creator's"
            );
            let stored: BTreeSet<EntryHash> = inspect::stored_entries(l).into_keys().collect();
            ensure!(
                self,
                stored == everything,
                "p{p} stores {} entries, {} exist",
                stored.len(),
                everything.len()
            );
            // 2 and 3: what the peer announced as confirmed is where it was, as it was.
            let confirmed = &self.peers[p].confirmed;
            ensure!(
                self,
                confirmed.as_slice() == &st.order[..confirmed.len()],
                "p{p}: confirmed order moved"
            );
            ensure!(
                self,
                confirmed.len() == st.order.len(),
                "p{p}: announced {} confirmations for {} entries",
                confirmed.len(),
                st.order.len()
            );
            for (h, o) in &self.peers[p].finals {
                let now = results.get(h).map(|r| r.1);
                ensure!(
                    self,
                    now == Some(*o),
                    "p{p}: {} was confirmed as {o:?}, is now {now:?}",
                    Sim::short(h)
                );
            }
            // The incrementally kept digest is the digest of the rows.
            let recomputed = inspect::recomputed_digest(l);
            ensure!(
                self,
                recomputed == l.view_digest(),
                "p{p}: kept digest {:?}, rows give {recomputed:?}",
                l.view_digest()
            );
            // 7: nothing acknowledged is lost.
            for h in &self.peers[p].acked {
                ensure!(
                    self,
                    results.contains_key(h),
                    "p{p}: acknowledged entry {} is not in the order",
                    Sim::short(h)
                );
            }
        }
        ensure!(
            self,
            self.global_confirmed == reference.order,
            "the longest announced confirmed order is not the final order"
        );
        self.check_causality(&reference.order)?;
        self.check_membership(&reference.order, &ref_results)?;
        self.check_forks()?;
        self.check_claims(&reference.order, &ref_results)?;
        // 6: rollback equivalence against a one-batch replay of everything.
        let mut entries: Vec<Vec<u8>> = self.all.iter().map(|h| self.bytes[h].to_vec()).collect();
        entries.shuffle(&mut self.rng);
        let fresh = match self.replay(&entries) {
            Ok(f) => f,
            Err(e) => return Err(self.failure(format!("final oracle replay: {e}"))),
        };
        let theirs = State::of(&fresh);
        ensure!(
            self,
            theirs == reference,
            "a one-batch replay of all entries differs from the peers: {}",
            reference.diff(&theirs)
        );
        // 14: reopening twice gives the same state.
        let p = self.rng.random_range(0..self.peers.len());
        self.restart(p)?;
        self.restart(p)?;
        Ok(())
    }

    /// 4: every entry sits after its prev and its deps.
    fn check_causality(&self, order: &[EntryHash]) -> Result<(), String> {
        let pos: HashMap<EntryHash, usize> =
            order.iter().enumerate().map(|(i, h)| (*h, i)).collect();
        for (i, h) in order.iter().enumerate() {
            for parent in self.decoded(h).parents() {
                let at = pos.get(&parent);
                ensure!(
                    self,
                    at.is_some_and(|&j| j < i),
                    "{} at {i} depends on {} at {at:?}",
                    Sim::short(h),
                    Sim::short(&parent)
                );
            }
        }
        Ok(())
    }

    /// 8 (and the freezing half of 12): replays membership along the final order and checks
    /// that exactly the entries whose author was not an active member (or was frozen, or wrote
    /// below its re-admission's `from_seq`) are dropped, and that dropped entries left no trace
    /// in the view. Also: everything a removed writer made after its removal (written by the
    /// creator, so final at once) and before a re-admission is dropped, and the last indexer
    /// cannot be removed.
    fn check_membership(
        &self,
        order: &[EntryHash],
        results: &HashMap<EntryHash, (u64, Outcome)>,
    ) -> Result<(), String> {
        let l = self.peers[CREATOR].ledger();
        let creator = self.peers[CREATOR].key();
        let traced: HashSet<u64> = inspect::kind_positions(l).into_iter().collect();
        let mut task_refs = HashSet::new();
        for t in inspect::tasks(l).values() {
            task_refs.insert(t.last_entry.clone());
            task_refs.insert(t.claim_entry.clone());
        }
        let mut active: HashMap<MemberKey, (bool, u64)> = HashMap::new();
        let mut frozen: HashMap<MemberKey, u64> = HashMap::new();
        for (i, h) in order.iter().enumerate() {
            let pos = i as u64;
            let outcome = results[h].1;
            let d = self.decoded(h);
            let author = d.author();
            if i == 0 {
                active.insert(author, (true, 0));
                continue;
            }
            let expected = if frozen.get(&author).is_some_and(|&f| f <= pos) {
                Some(DropReason::Frozen)
            } else {
                match active.get(&author) {
                    Some((true, from)) if d.header.seq < *from => Some(DropReason::Stale),
                    Some((true, _)) => None,
                    _ => Some(DropReason::NotMember),
                }
            };
            match expected {
                Some(r) => {
                    ensure!(
                        self,
                        outcome == Outcome::Dropped(r),
                        "{} at {pos} by {author:?} should be dropped ({r:?}), is {outcome:?}",
                        Sim::short(h)
                    );
                    ensure!(
                        self,
                        !traced.contains(&pos),
                        "dropped {} at {pos} is indexed by kind",
                        Sim::short(h)
                    );
                    ensure!(
                        self,
                        !task_refs.contains(h.0.as_slice()),
                        "dropped {} at {pos} changed a task",
                        Sim::short(h)
                    );
                }
                None => ensure!(
                    self,
                    !matches!(outcome, Outcome::Dropped(_)),
                    "{} at {pos} by an active member was {outcome:?}",
                    Sim::short(h)
                ),
            }
            for op in d.ops() {
                match op {
                    wire::op::Op::RemoveMember(r) if r.key == creator.0 && author == creator => {
                        ensure!(
                            self,
                            outcome == Outcome::Rejected(Code::LastIndexer),
                            "the creator removing itself at {pos} gave {outcome:?}"
                        );
                    }
                    _ if outcome != Outcome::Applied => {}
                    wire::op::Op::AddMember(a) => {
                        let key = MemberKey::from_slice(&a.key).expect("key");
                        let e = active.entry(key).or_insert((false, 0));
                        if !e.0 {
                            *e = (true, a.from_seq);
                        }
                    }
                    wire::op::Op::RemoveMember(r) => {
                        let key = MemberKey::from_slice(&r.key).expect("key");
                        active.entry(key).or_insert((false, 0)).0 = false;
                    }
                    wire::op::Op::ReportFork(f) => {
                        let hd =
                            <wire::EntryHeader as prost::Message>::decode(f.header_a.as_slice())
                                .expect("header");
                        let key = MemberKey::from_slice(&hd.author).expect("key");
                        frozen.entry(key).or_insert(pos);
                    }
                    _ => {}
                }
            }
        }
        // Made after an applied removal and before any later applied re-admission: dropped.
        for h in order {
            let Some(&made) = self.created.get(h) else {
                continue;
            };
            let author = self.decoded(h).author();
            let last = self
                .membership
                .iter()
                .filter(|c| {
                    c.key == author && c.tick < made && results[&c.hash].1 == Outcome::Applied
                })
                .max_by_key(|c| c.tick);
            if let Some(c) = last
                && !c.add
            {
                let o = results[h].1;
                ensure!(
                    self,
                    matches!(o, Outcome::Dropped(_)),
                    "{} was made after its author's removal {} was final, but is {o:?}",
                    Sim::short(h),
                    Sim::short(&c.hash)
                );
            }
        }
        Ok(())
    }

    /// 12: every fork was detected, and every replica froze its author (at one position, which
    /// the equal dumps already say).
    fn check_forks(&self) -> Result<(), String> {
        for (author, a, b) in &self.forks {
            for p in 0..self.peers.len() {
                let l = self.peers[p].ledger();
                let forks = l.reader().expect("reader").forks().expect("forks");
                let seen = forks.iter().any(|f| {
                    f.author == *author
                        && ({ [f.first, f.second] == [*a, *b] || [f.first, f.second] == [*b, *a] })
                });
                ensure!(
                    self,
                    seen,
                    "p{p} does not list the fork {}/{} of {author:?}: {forks:?}",
                    Sim::short(a),
                    Sim::short(b)
                );
                if !inspect::frozen(l).contains_key(author) {
                    let results = inspect::results(l);
                    let reports: Vec<String> = self
                        .all
                        .iter()
                        .filter(|h| {
                            self.decoded(h)
                                .ops()
                                .any(|o| matches!(o, wire::op::Op::ReportFork(_)))
                        })
                        .map(|h| format!("{}: {:?}", Sim::short(h), results.get(h)))
                        .collect();
                    return Err(self.failure(format!(
                        "p{p} did not freeze {author:?}; fork reports: {reports:?}; frozen: {:?}",
                        inspect::frozen(l)
                    )));
                }
            }
            let detected = self
                .peers
                .iter()
                .any(|p| p.forks_seen.iter().any(|f| f.0 == *author));
            ensure!(
                self,
                detected,
                "no peer announced ForkDetected for {author:?}"
            );
        }
        Ok(())
    }

    /// 5: replays tasks along the final order: a claim applies exactly when its task is open,
    /// loses with `TASK_ALREADY_CLAIMED` exactly when another claim holds it, and the view's
    /// tasks end as the replay says. (Only with the default TTL: short ones make claims expire.)
    fn check_claims(
        &self,
        order: &[EntryHash],
        results: &HashMap<EntryHash, (u64, Outcome)>,
    ) -> Result<(), String> {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Task {
            Open,
            Claimed(MemberKey),
            Complete,
        }
        if self.params.mix.claim_ttl_ms != 0 {
            return Ok(());
        }
        let mut tasks: HashMap<String, Task> = HashMap::new();
        for h in order {
            let d = self.decoded(h);
            let outcome = results[h].1;
            if matches!(outcome, Outcome::Dropped(_)) {
                continue;
            }
            let author = d.author();
            let applied = outcome == Outcome::Applied;
            for op in d.ops() {
                match op {
                    wire::op::Op::TaskCreate(_) if applied => {
                        let id = openpact_ledger::keys::api_id(&author, d.header.seq);
                        tasks.insert(id, Task::Open);
                    }
                    wire::op::Op::TaskClaim(c) => {
                        let before = tasks.get(&c.task_id).copied();
                        let want = match before {
                            None => Outcome::Rejected(Code::NotFound),
                            Some(Task::Open) => Outcome::Applied,
                            Some(Task::Claimed(_)) => Outcome::Rejected(Code::TaskAlreadyClaimed),
                            Some(Task::Complete) => Outcome::Rejected(Code::TaskNotOpen),
                        };
                        ensure!(
                            self,
                            outcome == want,
                            "claim {} of task {} in state {before:?} gave {outcome:?}, not {want:?}",
                            Sim::short(h),
                            c.task_id
                        );
                        if applied {
                            tasks.insert(c.task_id.clone(), Task::Claimed(author));
                        }
                    }
                    wire::op::Op::TaskRelease(t) if applied => {
                        let before = tasks.insert(t.task_id.clone(), Task::Open);
                        ensure!(
                            self,
                            before == Some(Task::Claimed(author)),
                            "release {} of task {} in state {before:?} applied",
                            Sim::short(h),
                            t.task_id
                        );
                    }
                    wire::op::Op::TaskComplete(t) if applied => {
                        let before = tasks.insert(t.task_id.clone(), Task::Complete);
                        let ok = matches!(before, Some(Task::Open))
                            || before == Some(Task::Claimed(author));
                        ensure!(
                            self,
                            ok,
                            "complete {} of task {} in state {before:?} applied",
                            Sim::short(h),
                            t.task_id
                        );
                    }
                    _ => {}
                }
            }
        }
        let l = self.peers[CREATOR].ledger();
        let rows = inspect::tasks(l);
        ensure!(
            self,
            rows.len() == tasks.len(),
            "the view has {} tasks, the order made {}",
            rows.len(),
            tasks.len()
        );
        for (id, row) in rows {
            let have = match row.status {
                1 => Some(Task::Open),
                2 => MemberKey::from_slice(&row.claimed_by).map(Task::Claimed),
                3 => Some(Task::Complete),
                _ => None,
            };
            let want = tasks.get(&id).copied();
            ensure!(
                self,
                have == want,
                "task {id}: the view says {have:?}, the order says {want:?}"
            );
        }
        Ok(())
    }
}
