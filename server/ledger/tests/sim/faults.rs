//! Faults: crashes at a random I/O call, and forged entries.

use openpact_ledger::{EntryHash, Event, Ingested, Invalid, PactId};
use rand::RngExt as _;
use rand::seq::IndexedRandom as _;

use super::batch::run;
use super::crash::Disk;
use super::inspect::{self, Decoded, State};
use super::{Act, Role, Sim, forge};

impl Sim {
    /// Crash consistency (property 7): peer `p` takes a batch with a crash armed at a random
    /// one of the batch's I/O calls (counted by a dry run on a copy of its disk), loses power
    /// (or is killed), and reopens from what its disk kept. The state must be exactly the last
    /// committed one, or exactly the failed batch's (it may land although it reported an
    /// error); whatever a committed batch acknowledged must be there.
    pub fn step_crash(&mut self, p: usize) -> Result<(), String> {
        // A clean restart first: the copy must start from exactly the peer's state (the causal
        // buffer lives in memory).
        self.restart(p)?;
        let pre = State::of(self.peers[p].ledger());
        let k = self.rng.random_range(0..=4);
        let msgs = self.take_msgs(p, k);
        let mut acts: Vec<Act> = msgs.iter().copied().map(Act::Deliver).collect();
        if self.peers[p].role != Role::Outsider
            && !self.peers[p].removed
            && self.rng.random_bool(0.7)
        {
            let body = self.random_app_body();
            let at = self.rng.random_range(0..=acts.len());
            acts.insert(at, Act::Append(body));
        }
        // The dry run: what the batch does, and how many I/O calls it makes.
        let copy = Disk::from_image(self.peers[p].disk.volatile());
        let mut twin = match copy.open() {
            Ok(t) => t,
            Err(e) => return Err(self.failure(format!("p{p}: opening a copy of its disk: {e}"))),
        };
        let calls = copy.io_calls();
        let signer = self.peers[p].signer.clone();
        if let Err(e) = run(&mut twin, &signer, self.now, &acts, &self.bytes) {
            return Err(self.failure(format!("p{p}: the dry run of a batch failed: {e}")));
        }
        let calls = copy.io_calls() - calls;
        let post = State::of(&twin);
        drop(twin);
        let power_loss = self.rng.random_bool(0.6);
        let budget = self.rng.random_range(0..=calls);
        self.note(format!(
            "p{p} crash armed after {budget} of {calls} I/O calls ({})",
            if power_loss { "power loss" } else { "kill" }
        ));
        self.peers[p].disk.fail_after(budget);
        let result = self.exec(p, acts.clone())?;
        let committed = match &result {
            Ok(_) => {
                let now = State::of(self.peers[p].ledger());
                ensure!(
                    self,
                    now == post,
                    "p{p}: the batch and its dry run differ: {}",
                    post.diff(&now)
                );
                true
            }
            Err(e) => {
                let crashed = self.peers[p].disk.crashed();
                ensure!(self, crashed, "p{p}: a batch failed without a crash: {e}");
                false
            }
        };
        self.peers[p].disk.crash_now();
        self.peers[p].ledger = None;
        let image = if power_loss {
            let disk = self.peers[p].disk.clone();
            disk.after_power_loss(&mut self.rng)
        } else {
            self.peers[p].disk.after_kill()
        };
        let disk = Disk::from_image(image);
        let reopened = disk.open();
        let l = match reopened {
            Ok(l) => l,
            Err(e) => {
                return Err(self.failure(format!("p{p}: reopening after the crash failed: {e}")));
            }
        };
        let recovered = State::of(&l);
        self.stats.journal_replays += disk.replayed();
        self.peers[p].disk = disk;
        self.peers[p].ledger = Some(l);
        match committed {
            true => {
                self.stats.crashes_after_commit += 1;
                ensure!(
                    self,
                    recovered == post,
                    "p{p}: a committed batch was lost in a crash: {}",
                    post.diff(&recovered)
                );
            }
            false if recovered == pre => {
                self.stats.crashes_lost += 1;
                // The senders would send again.
                for h in msgs {
                    self.send_now(p, h);
                }
            }
            false => {
                self.stats.crashes_landed += 1;
                ensure!(
                    self,
                    recovered == post,
                    "p{p}: after a crash the state is neither the last commit ({}) nor the failed batch's ({})",
                    pre.diff(&recovered),
                    post.diff(&recovered)
                );
                self.resync_confirmed(p)?;
                // The batch landed: its appends exist, and sync would spread them.
                let own = inspect::stored_entries(self.peers[p].ledger());
                let key = self.peers[p].key();
                let fresh: Vec<EntryHash> = own
                    .iter()
                    .filter(|(h, b)| !self.bytes.contains_key(h) && Decoded::new(b).author() == key)
                    .map(|(h, _)| *h)
                    .collect();
                for h in fresh {
                    self.register(p, h);
                    self.broadcast(p, h);
                }
            }
        }
        let l = self.peers[p].ledger();
        for h in &self.peers[p].acked {
            ensure!(
                self,
                inspect::has_entry(l, h),
                "p{p}: acknowledged entry {} lost in a crash",
                Sim::short(h)
            );
        }
        let (digest, recomputed) = (l.view_digest(), inspect::recomputed_digest(l));
        ensure!(
            self,
            digest == recomputed,
            "p{p}: after a crash the kept digest {digest:?} is not the rows' {recomputed:?}"
        );
        Ok(())
    }

    /// A forged variant of a stored entry is offered to `p`: rejected with the right reason,
    /// and nothing changes.
    pub fn step_forge(&mut self, p: usize) -> Result<(), String> {
        let kind = self.rng.random_range(0..6u32);
        if kind < 2 {
            return self.step_corrupt_copy(p, kind == 0);
        }
        let l = self.peers[p].ledger();
        let stored = inspect::stored_entries(l);
        let genesis = EntryHash(self.pact.0);
        let candidates: Vec<&EntryHash> = stored.keys().filter(|h| **h != genesis).collect();
        let Some(&&target) = candidates.choose(&mut self.rng) else {
            return Ok(());
        };
        let bytes = stored[&target].clone();
        let d = Decoded::new(&bytes);
        let Some(author) = self.peer_of(&d.author()) else {
            return Ok(());
        };
        let signer = self.peers[author].signer.clone();
        let (forged, expected) = match kind {
            2 => {
                let l = d.header.lamport;
                let (_, f) = forge::resign(&signer, &bytes, |dr| dr.lamport = l + 1);
                (
                    f,
                    Invalid::Lamport {
                        got: l + 1,
                        expected: l,
                    },
                )
            }
            3 => {
                let other = PactId(self.rng.random());
                (
                    forge::resign(&signer, &bytes, |dr| dr.pact = other).1,
                    Invalid::ForeignPact,
                )
            }
            4 => {
                let deps = forge::fake_deps(65, &d.author());
                (
                    forge::resign(&signer, &bytes, |dr| dr.deps = deps).1,
                    Invalid::BadDeps,
                )
            }
            _ => {
                // A prev that is stored but is not the author's entry at seq - 1.
                if d.header.seq == 0 {
                    return Ok(());
                }
                let wrong: Vec<EntryHash> = stored
                    .iter()
                    .filter(|(h, b)| {
                        let o = Decoded::new(b);
                        Some(**h) != d.prev()
                            && !(o.author() == d.author() && o.header.seq + 1 == d.header.seq)
                    })
                    .map(|(h, _)| *h)
                    .collect();
                let Some(&prev) = wrong.choose(&mut self.rng) else {
                    return Ok(());
                };
                (
                    forge::resign(&signer, &bytes, |dr| dr.prev = Some(prev)).1,
                    Invalid::BrokenChain,
                )
            }
        };
        self.note(format!(
            "p{p} offered a forgery of {} ({expected:?})",
            Sim::short(&target)
        ));
        let before = self.quick(p);
        let done = self.exec_ok(p, vec![Act::Raw(forged)])?;
        ensure!(
            self,
            done.ingested == [Ingested::Invalid(expected.clone())],
            "p{p}: forgery ({expected:?}) ingested as {:?}",
            done.ingested
        );
        let announced = matches!(done.events.as_slice(), [Event::InvalidEntry { reason, .. }] if *reason == expected);
        ensure!(
            self,
            announced,
            "p{p}: forgery ({expected:?}) gave events {:?}",
            done.events
        );
        let after = self.quick(p);
        ensure!(
            self,
            before == after,
            "p{p}: a rejected forgery ({expected:?}) changed the state: {before:?} -> {after:?}"
        );
        self.stats.forgeries += 1;
        Ok(())
    }

    /// A corrupted copy of an entry (a flipped signature bit, or bytes that are not the
    /// canonical encoding) is offered to `p`. It shares the entry's header, and so its hash,
    /// but not its bytes: whether or not `p` stores the entry, the copy is verified, rejected
    /// and announced, and nothing changes.
    fn step_corrupt_copy(&mut self, p: usize, signature: bool) -> Result<(), String> {
        let Some(&target) = self.all.choose(&mut self.rng) else {
            return Ok(());
        };
        let bytes = self.bytes[&target].to_vec();
        let (forged, reason) = if signature {
            let bit = self.rng.random_range(0..512);
            (forge::tamper_signature(&bytes, bit), Invalid::Signature)
        } else {
            (
                forge::non_canonical(&bytes),
                Invalid::Malformed("signed entry not canonical"),
            )
        };
        let stored = inspect::has_entry(self.peers[p].ledger(), &target);
        self.note(format!(
            "p{p} offered a corrupted copy of {} ({reason:?}, stored: {stored})",
            Sim::short(&target)
        ));
        let before = self.quick(p);
        let done = self.exec_ok(p, vec![Act::Raw(forged)])?;
        let announced = matches!(done.events.as_slice(), [Event::InvalidEntry { reason: e, .. }] if *e == reason);
        ensure!(
            self,
            done.ingested == [Ingested::Invalid(reason.clone())] && announced,
            "p{p}: a corrupted copy ({reason:?}) of {} (stored: {stored}) gave {:?}, events {:?}",
            Sim::short(&target),
            done.ingested,
            done.events
        );
        let after = self.quick(p);
        ensure!(
            self,
            before == after,
            "p{p}: a corrupted copy changed the state: {before:?} -> {after:?}"
        );
        self.stats.forgeries += 1;
        Ok(())
    }
}
