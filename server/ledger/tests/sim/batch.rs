//! Batches: running a peer's ingests and appends in one commit, and checking what it
//! announced against what every peer announced before.

use std::collections::HashMap;
use std::rc::Rc;

use openpact_ledger::{
    Code, CommitReport, EntryHash, Error, Event, Ingested, Ledger, Outcome, Signer, wire,
};
use rand::RngExt as _;

use super::inspect::{self, State};
use super::{Act, Done, Sim, describe};

impl Sim {
    /// Runs `acts` in one batch on peer `p`. The outer `Err` is a property violation; the inner
    /// one is the ledger's error (a crash, or a bug the caller reports).
    pub fn exec(&mut self, p: usize, acts: Vec<Act>) -> Result<Result<Done, Error>, String> {
        self.tick += 1;
        let desc: Vec<String> = acts
            .iter()
            .map(|a| match a {
                Act::Deliver(h) => format!("recv {}", Sim::short(h)),
                Act::Raw(_) => "raw".into(),
                Act::Append(b) => format!("append {}", describe(b)),
            })
            .collect();
        self.note(format!("p{p} batch [{}]", desc.join(", ")));
        let pre_len = self.peers[p].confirmed.len();
        let result = {
            let bytes = &self.bytes;
            let peer = &mut self.peers[p];
            let signer = peer.signer.clone();
            let ledger = peer.ledger.as_mut().expect("the peer is up");
            run(ledger, &signer, self.now, &acts, bytes)
        };
        let done = match result {
            Ok(done) => done,
            Err(e) => return Ok(Err(e)),
        };
        self.stats.batches += 1;
        self.observe(p, &done.events, pre_len)?;
        for r in &done.appended {
            self.register(p, r.hash);
            self.peers[p].acked.push(r.hash);
            self.broadcast(p, r.hash);
        }
        let bodies = acts.iter().filter_map(|a| match a {
            Act::Append(b) => Some(b),
            _ => None,
        });
        for (b, h) in bodies.zip(&done.appends) {
            let Some(r) = h.and_then(|h| done.appended.iter().find(|r| r.hash == h)) else {
                continue;
            };
            if let Some(wire::op::Op::TaskCreate(_)) = b.ops.first().and_then(|o| o.op.as_ref())
                && r.outcome == Outcome::Applied
            {
                self.tasks.push(r.api_id.clone());
            }
        }
        for i in &done.ingested {
            match i {
                Ingested::Parked { .. } => self.stats.parked += 1,
                Ingested::Duplicate(_) => self.stats.duplicates += 1,
                _ => {}
            }
        }
        self.stats.refused += done.refused.len() as u64;
        self.spot_check(p)?;
        Ok(Ok(done))
    }

    /// Runs a batch that must commit.
    pub fn exec_ok(&mut self, p: usize, acts: Vec<Act>) -> Result<Done, String> {
        match self.exec(p, acts)? {
            Ok(done) => Ok(done),
            Err(e) => Err(self.failure(format!("a batch of p{p} failed: {e}"))),
        }
    }

    /// Runs a batch of deliveries that must all be valid.
    pub fn deliver(&mut self, p: usize, hashes: Vec<EntryHash>) -> Result<Done, String> {
        let done = self.exec_ok(p, hashes.into_iter().map(Act::Deliver).collect())?;
        self.no_invalid(p, &done)?;
        Ok(done)
    }

    /// Fails if a batch of valid entries reported one invalid.
    pub fn no_invalid(&self, p: usize, done: &Done) -> Result<(), String> {
        for (i, r) in done.ingested.iter().enumerate() {
            ensure!(
                self,
                !matches!(r, Ingested::Invalid(_)),
                "p{p}: valid entry #{i} of a batch ingested as {r:?}"
            );
        }
        for e in &done.events {
            ensure!(
                self,
                !matches!(e, Event::InvalidEntry { .. }),
                "p{p}: unexpected {e:?}"
            );
        }
        Ok(())
    }

    /// Checks a committed batch's events against what the peer announced before: confirmed
    /// positions are dense and agree with every other peer, and nothing confirmed changes. An
    /// applied entry, built from the body its event carries, shows as a read of it does.
    fn observe(&mut self, p: usize, events: &[Event], pre_len: usize) -> Result<(), String> {
        let reader = self.peers[p]
            .ledger()
            .reader()
            .map_err(|e| self.failure(format!("p{p}: reader: {e}")))?;
        for ev in events {
            match ev {
                Event::Applied { hash, outcome, .. } => {
                    ensure!(
                        self,
                        !self.peers[p].finals.contains_key(hash),
                        "p{p}: confirmed entry {} applied again",
                        Sim::short(hash)
                    );
                    let shown = reader.applied_entry(ev);
                    let read = reader.entry_by_hash(hash);
                    ensure!(
                        self,
                        matches!((&shown, &read), (Ok(s), Ok(r)) if s == r),
                        "p{p}: entry {} as its event shows it: {shown:?}, as read: {read:?}",
                        Sim::short(hash)
                    );
                    if matches!(outcome, Outcome::Dropped(_)) {
                        self.stats.dropped += 1;
                    }
                }
                Event::TailRolledBack { from_pos, .. } => {
                    let confirmed = self.peers[p].confirmed.len() as u64;
                    ensure!(
                        self,
                        *from_pos >= confirmed,
                        "p{p}: rolled back from {from_pos}, below the confirmed length {confirmed}"
                    );
                    self.stats.rollbacks += 1;
                }
                Event::OutcomeChanged {
                    hash,
                    before,
                    after,
                    ..
                } => {
                    ensure!(
                        self,
                        !self.peers[p].finals.contains_key(hash),
                        "p{p}: outcome of confirmed entry {} changed from {before:?} to {after:?}",
                        Sim::short(hash)
                    );
                    self.stats.outcome_changes += 1;
                }
                Event::Confirmed {
                    hash, pos, outcome, ..
                } => {
                    self.confirm(p, *pos, *hash, *outcome)?;
                }
                Event::ForkDetected {
                    author,
                    first,
                    second,
                    ..
                } => {
                    self.peers[p].forks_seen.push((*author, *first, *second));
                }
                Event::InvalidEntry { .. } => {}
            }
        }
        self.peers[p].log.extend_from_slice(events);
        let peer = &self.peers[p];
        let len = peer.ledger().confirmed_len();
        ensure!(
            self,
            len as usize == peer.confirmed.len(),
            "p{p}: confirmed_len {len}, but Confirmed events announced {}",
            peer.confirmed.len()
        );
        ensure!(
            self,
            peer.confirmed.len() >= pre_len,
            "p{p}: confirmed_len went down from {pre_len}"
        );
        Ok(())
    }

    /// One confirmation, announced by peer `p` or read from its disk after a crash.
    fn confirm(
        &mut self,
        p: usize,
        pos: u64,
        hash: EntryHash,
        outcome: Outcome,
    ) -> Result<(), String> {
        let have = self.peers[p].confirmed.len() as u64;
        ensure!(
            self,
            pos == have,
            "p{p}: confirmed {} at {pos}, but its confirmed length was {have}",
            Sim::short(&hash)
        );
        match self.global_confirmed.get(pos as usize) {
            Some(g) => ensure!(
                self,
                *g == hash,
                "p{p} confirmed {} at {pos}, another peer confirmed {} there",
                Sim::short(&hash),
                Sim::short(g)
            ),
            None => self.global_confirmed.push(hash),
        }
        match self.global_finals.get(&hash) {
            Some(o) => ensure!(
                self,
                *o == outcome,
                "p{p} confirmed {} as {outcome:?}, another peer as {o:?}",
                Sim::short(&hash)
            ),
            None => {
                self.global_finals.insert(hash, outcome);
            }
        }
        if outcome == Outcome::Rejected(Code::TaskAlreadyClaimed) {
            self.stats.lost_claims += 1;
        }
        let peer = &mut self.peers[p];
        peer.confirmed.push(hash);
        peer.finals.insert(hash, outcome);
        Ok(())
    }

    /// Re-reads a peer's confirmed order from its disk (after a crash lost the events of a batch
    /// that landed): what it announced must be a prefix, the rest is taken as announced now.
    pub fn resync_confirmed(&mut self, p: usize) -> Result<(), String> {
        let l = self.peers[p].ledger();
        let len = l.confirmed_len() as usize;
        let order = inspect::order(l);
        let results = inspect::results(l);
        let known = self.peers[p].confirmed.clone();
        ensure!(
            self,
            len >= known.len(),
            "p{p}: confirmed length {len} after recovery, {} before",
            known.len()
        );
        for (i, h) in known.iter().enumerate() {
            ensure!(
                self,
                order[i] == *h,
                "p{p}: confirmed position {i} holds {} after recovery, {} before",
                Sim::short(&order[i]),
                Sim::short(h)
            );
        }
        for (i, h) in order.iter().enumerate().take(len).skip(known.len()) {
            let outcome = results[h].1;
            self.confirm(p, i as u64, *h, outcome)?;
        }
        Ok(())
    }

    /// Reads a few confirmed positions back through the reader and the tables: they hold what
    /// was announced, with the announced outcome.
    fn spot_check(&mut self, p: usize) -> Result<(), String> {
        let n = self.peers[p].confirmed.len();
        if n == 0 {
            return Ok(());
        }
        let picks = [self.rng.random_range(0..n), n - 1];
        let peer = &self.peers[p];
        let reader = peer.ledger().reader().expect("reader");
        for pos in picks {
            let want = peer.confirmed[pos];
            let at = inspect::entry_at(peer.ledger(), pos as u64);
            ensure!(
                self,
                at == Some(want),
                "p{p}: confirmed position {pos} holds {at:?}, {} was confirmed there",
                Sim::short(&want)
            );
            let o = reader.outcome(&want).expect("outcome");
            let fin = peer.finals[&want];
            ensure!(
                self,
                o == Some((pos as u64, fin, true)),
                "p{p}: reader says {o:?} for {} confirmed at {pos} as {fin:?}",
                Sim::short(&want)
            );
        }
        Ok(())
    }

    // ---- restarts ----

    /// Closes a peer's ledger cleanly and opens it again from the same disk.
    pub fn restart(&mut self, p: usize) -> Result<(), String> {
        self.note(format!("p{p} restart"));
        self.stats.restarts += 1;
        let before = State::of(self.peers[p].ledger());
        self.peers[p].ledger = None;
        let l = self.peers[p].disk.open();
        let l = match l {
            Ok(l) => l,
            Err(e) => return Err(self.failure(format!("p{p}: reopening failed: {e}"))),
        };
        let after = State::of(&l);
        self.peers[p].ledger = Some(l);
        ensure!(
            self,
            before == after,
            "p{p}: a restart changed the state: {}",
            before.diff(&after)
        );
        Ok(())
    }

    /// The state the simple cross-checks compare: digests, lengths, parked entries.
    pub fn quick(&self, p: usize) -> (openpact_ledger::view::Digest, [u8; 32], u64, usize, usize) {
        let l = self.peers[p].ledger();
        (
            l.view_digest(),
            l.order_digest(),
            l.confirmed_len(),
            l.tail_len(),
            l.parked().0,
        )
    }
}

/// Runs acts in one batch on a ledger. Refused appends are noted and skipped (they change
/// nothing); any other error aborts the batch.
pub fn run(
    ledger: &mut Ledger,
    signer: &Signer,
    now: u64,
    acts: &[Act],
    bytes: &HashMap<EntryHash, Rc<[u8]>>,
) -> Result<Done, Error> {
    let mut ingested = Vec::new();
    let mut refused = Vec::new();
    let mut appends = Vec::new();
    let ((), report): ((), CommitReport) = ledger.batch(|b| {
        for act in acts {
            match act {
                Act::Deliver(h) => ingested.push(b.ingest(&bytes[h])?),
                Act::Raw(raw) => ingested.push(b.ingest(raw)?),
                Act::Append(body) => match b.append(signer, body.clone(), now) {
                    Ok(h) => appends.push(Some(h)),
                    Err(Error::Refused { code, .. }) => {
                        appends.push(None);
                        refused.push(code);
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        Ok(())
    })?;
    Ok(Done {
        ingested,
        appends,
        appended: report.appended,
        refused,
        events: report.events,
    })
}
