//! Comparisons with a reference: a fresh replay of the same entries, a byte copy of a peer
//! given the same batch, and the same entry offered twice.

use openpact_ledger::{EntryHash, Ingested, Ledger};
use rand::RngExt as _;
use rand::seq::{IndexedRandom as _, SliceRandom as _};

use super::batch::run;
use super::crash::Disk;
use super::inspect::{self, State};
use super::{Act, Role, Sim};

impl Sim {
    /// A stored entry is offered again: `Duplicate`, no events, nothing changes.
    pub fn step_idempotence(&mut self, p: usize) -> Result<(), String> {
        let stored = inspect::stored_entries(self.peers[p].ledger());
        let keys: Vec<&EntryHash> = stored.keys().collect();
        let Some(&&h) = keys.choose(&mut self.rng) else {
            return Ok(());
        };
        let before = self.quick(p);
        let dump_before = State::of(self.peers[p].ledger());
        let done = self.exec_ok(p, vec![Act::Raw(stored[&h].clone())])?;
        ensure!(
            self,
            done.ingested == [Ingested::Duplicate(h)],
            "p{p}: stored entry {} re-ingested as {:?}",
            Sim::short(&h),
            done.ingested
        );
        ensure!(
            self,
            done.events.is_empty(),
            "p{p}: re-ingesting {} gave events {:?}",
            Sim::short(&h),
            done.events
        );
        let after = self.quick(p);
        ensure!(
            self,
            before == after,
            "p{p}: re-ingesting {} changed {before:?} -> {after:?}",
            Sim::short(&h)
        );
        let dump_after = State::of(self.peers[p].ledger());
        ensure!(
            self,
            dump_before == dump_after,
            "p{p}: re-ingesting changed {}",
            dump_before.diff(&dump_after)
        );
        Ok(())
    }

    /// Rollback equivalence (property 6), mid-run: peer `p`, built incrementally with whatever
    /// rollbacks its deliveries caused, equals a fresh ledger that ingests all of `p`'s stored
    /// entries, shuffled, in one batch.
    pub fn check_oracle(&mut self, p: usize) -> Result<(), String> {
        let l = self.peers[p].ledger();
        let mut entries: Vec<Vec<u8>> = inspect::stored_entries(l).into_values().collect();
        if entries.is_empty() {
            return Ok(());
        }
        entries.shuffle(&mut self.rng);
        let mine = State::of(l);
        let fresh = match self.replay(&entries) {
            Ok(f) => f,
            Err(e) => return Err(self.failure(format!("oracle replay of p{p}: {e}"))),
        };
        let theirs = State::of(&fresh);
        self.stats.comparisons += 1;
        ensure!(
            self,
            mine == theirs,
            "p{p} differs from a one-batch replay of its {} entries: {}",
            entries.len(),
            mine.diff(&theirs)
        );
        Ok(())
    }

    /// A fresh ledger of this pact that ingested `entries` in one batch (all must be valid).
    pub fn replay(&self, entries: &[Vec<u8>]) -> Result<Ledger, String> {
        let mut fresh =
            Ledger::join(Disk::new(None).database(), self.pact).map_err(|e| e.to_string())?;
        let (res, _) = fresh
            .batch(|b| {
                entries
                    .iter()
                    .map(|e| b.ingest(e))
                    .collect::<openpact_ledger::Result<Vec<_>>>()
            })
            .map_err(|e| e.to_string())?;
        if let Some(bad) = res.iter().find(|r| matches!(r, Ingested::Invalid(_))) {
            return Err(format!("a valid entry was rejected: {bad:?}"));
        }
        Ok(fresh)
    }

    /// Apply purity (property 14): a peer and a byte-for-byte copy of its disk take the same
    /// batch (deliveries that may reorder the tail, and an append) and end with the same events
    /// and the same state; then the peer reopens twice and a batch that does nothing changes
    /// nothing.
    pub fn step_twin(&mut self, p: usize) -> Result<(), String> {
        // A clean restart first, so the twin starts from exactly the peer's state (the causal
        // buffer lives in memory and a copy of the disk would not have it).
        self.restart(p)?;
        let image = self.peers[p].disk.volatile();
        let mut twin = match Disk::from_image(image).open() {
            Ok(t) => t,
            Err(e) => {
                return Err(self.failure(format!("p{p}: opening a copy of its disk failed: {e}")));
            }
        };
        let k = self.rng.random_range(1..=5);
        let mut acts: Vec<Act> = (0..k)
            .filter_map(|_| self.all.choose(&mut self.rng).copied())
            .map(Act::Deliver)
            .collect();
        if self.peers[p].role != Role::Outsider && !self.peers[p].removed {
            let body = self.random_app_body();
            acts.push(Act::Append(body));
        }
        let signer = self.peers[p].signer.clone();
        let twin_done = match run(&mut twin, &signer, self.now, &acts, &self.bytes) {
            Ok(d) => d,
            Err(e) => return Err(self.failure(format!("p{p}'s twin failed a batch: {e}"))),
        };
        let done = self.exec_ok(p, acts)?;
        self.stats.comparisons += 1;
        ensure!(
            self,
            done.events == twin_done.events,
            "p{p} and its twin announced different events for one batch:\n  {:?}\n  {:?}",
            done.events,
            twin_done.events
        );
        ensure!(
            self,
            done.ingested == twin_done.ingested,
            "p{p} and its twin ingested differently"
        );
        let (a, b) = (State::of(self.peers[p].ledger()), State::of(&twin));
        ensure!(
            self,
            a == b,
            "p{p} and its twin differ after one batch: {}",
            a.diff(&b)
        );
        drop(twin);
        self.restart(p)?;
        self.restart(p)?;
        let before = self.quick(p);
        let done = self.exec_ok(p, Vec::new())?;
        ensure!(
            self,
            done.events.is_empty(),
            "p{p}: an empty batch after reopening gave events {:?}",
            done.events
        );
        ensure!(
            self,
            before == self.quick(p),
            "p{p}: an empty batch after reopening changed the state"
        );
        Ok(())
    }
}
