//! The random actions of a run. Each one checks what it can check on the spot.

use openpact_ledger::{Code, EntryHash, Ingested, MemberKey, Outcome};
use rand::RngExt as _;
use rand::seq::{IndexedRandom as _, SliceRandom as _};

use super::inspect;
use super::{Act, CREATOR, MembershipChange, Role, Sim, forge};

impl Sim {
    /// Runs the schedule's random actions.
    pub fn run_steps(&mut self) -> Result<(), String> {
        for _ in 0..self.params.steps {
            self.step()?;
        }
        Ok(())
    }

    /// One random action.
    pub fn step(&mut self) -> Result<(), String> {
        self.advance();
        // A disk writing behind gets to write a batch now and then, as its thread would.
        let q = self.rng.random_range(0..self.peers.len());
        if self.rng.random_bool(0.3)
            && let Err(e) = self.peers[q].disk.pump()
        {
            return Err(self.failure(format!("p{q}: writing behind failed: {e}")));
        }
        let m = self.params.mix;
        let weights = [
            m.deliver,
            m.write,
            m.anchor,
            m.claim_race,
            m.duplicate,
            m.restart,
            m.crash,
            m.membership,
            m.fork,
            m.forge,
            m.idempotence,
            m.oracle,
            m.twin,
        ];
        let total: u32 = weights.iter().sum();
        let mut x = self.rng.random_range(0..total.max(1));
        let mut action = 0;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                action = i;
                break;
            }
            x -= w;
        }
        let p = self.rng.random_range(0..self.peers.len());
        match action {
            0 => self.step_deliver(p),
            1 => self.step_write(p),
            2 => self.step_anchor(),
            3 => self.step_claim_race(),
            4 => {
                let h = *self.all.choose(&mut self.rng).expect("genesis at least");
                self.note(format!("dup {} to p{p}", Sim::short(&h)));
                self.send_now(p, h);
                Ok(())
            }
            5 => self.restart(p),
            6 => self.step_crash(p),
            7 => self.step_membership(),
            8 => self.step_fork(),
            9 => self.step_forge(p),
            10 => self.step_idempotence(p),
            11 => self.check_oracle(p),
            _ => self.step_twin(p),
        }
    }

    /// Peer `p` receives some messages.
    pub fn step_deliver(&mut self, p: usize) -> Result<(), String> {
        let k = self.rng.random_range(1..=6);
        let msgs = self.take_msgs(p, k);
        if msgs.is_empty() {
            return Ok(());
        }
        self.deliver(p, msgs).map(|_| ())
    }

    /// Peer `p` receives some messages and writes: app entries, a fork report it owes, or, if
    /// it is not (or no longer) a member, an entry built by hand.
    pub fn step_write(&mut self, p: usize) -> Result<(), String> {
        let k = self.rng.random_range(0..=3);
        let msgs = self.take_msgs(p, k);
        let outsider = self.peers[p].role == Role::Outsider || self.peers[p].removed;
        if outsider && self.rng.random_bool(0.6) {
            if !msgs.is_empty() {
                self.deliver(p, msgs)?;
            }
            let body = self.random_app_body();
            return self.write_by_hand(p, body).map(|_| ());
        }
        let mut acts: Vec<Act> = msgs.into_iter().map(Act::Deliver).collect();
        let report = self.owed_report(p);
        let bodies = match report.clone() {
            Some((_, body)) => vec![body],
            None => {
                let n = self.rng.random_range(1..=2);
                (0..n).map(|_| self.random_app_body()).collect()
            }
        };
        for b in bodies {
            let at = self.rng.random_range(0..=acts.len());
            acts.insert(at, Act::Append(b));
        }
        let done = self.exec_ok(p, acts)?;
        if let Some((author, _)) = report
            && done.appends.iter().any(Option::is_some)
        {
            self.peers[p].reported.insert(author);
        }
        self.no_invalid(p, &done)
    }

    /// Publishes an entry built without the local membership check (as a buggy or malicious
    /// writer would). Returns its hash.
    pub fn write_by_hand(
        &mut self,
        p: usize,
        body: openpact_ledger::wire::Body,
    ) -> Result<EntryHash, String> {
        let (hash, bytes) = forge::next_entry(
            self.peers[p].ledger(),
            &self.peers[p].signer,
            body,
            self.now,
            64,
        );
        let done = self.exec_ok(p, vec![Act::Raw(bytes)])?;
        ensure!(
            self,
            done.ingested == [Ingested::New(hash)],
            "p{p}: own hand-built entry ingested as {:?}",
            done.ingested
        );
        self.register(p, hash);
        self.peers[p].acked.push(hash);
        self.broadcast(p, hash);
        Ok(hash)
    }

    /// A `ReportFork` body for a fork `p` detected and has not reported, if `p` may report.
    fn owed_report(&self, p: usize) -> Option<(MemberKey, openpact_ledger::wire::Body)> {
        let peer = &self.peers[p];
        if peer.role == Role::Outsider || peer.removed {
            return None;
        }
        let key = peer.key();
        let (author, first, second) = *peer
            .forks_seen
            .iter()
            .find(|(a, _, _)| *a != key && !peer.reported.contains(a))?;
        let l = peer.ledger();
        let a = inspect::entry_bytes(l, &first)?;
        let b = inspect::entry_bytes(l, &second)?;
        Some((author, forge::report_fork(&a, &b)))
    }

    /// The creator writes an anchor, maybe receiving messages in the same batch. Its own writes
    /// are confirmed at once.
    pub fn step_anchor(&mut self) -> Result<(), String> {
        let k = self.rng.random_range(0..=4);
        let mut acts: Vec<Act> = self
            .take_msgs(CREATOR, k)
            .into_iter()
            .map(Act::Deliver)
            .collect();
        let at = self.rng.random_range(0..=acts.len());
        acts.insert(at, Act::Append(forge::null()));
        let done = self.exec_ok(CREATOR, acts)?;
        self.no_invalid(CREATOR, &done)?;
        let a = &done.appended;
        ensure!(
            self,
            a.len() == 1 && a[0].confirmed,
            "the creator's anchor is not confirmed at once: {a:?}"
        );
        Ok(())
    }

    /// Two or three writers claim one task, each before hearing of the others.
    pub fn step_claim_race(&mut self) -> Result<(), String> {
        let Some(task) = self.tasks.last().cloned() else {
            return self.step_write(CREATOR);
        };
        let task = if self.rng.random_bool(0.7) {
            task
        } else {
            self.tasks.choose(&mut self.rng).cloned().unwrap_or(task)
        };
        let mut writers = self.writers();
        writers.shuffle(&mut self.rng);
        let n = self.rng.random_range(2..=3).min(writers.len());
        for &p in &writers[..n] {
            let done = self.exec_ok(p, vec![Act::Append(forge::claim(&task))])?;
            self.no_invalid(p, &done)?;
        }
        Ok(())
    }

    /// The creator removes a member, re-admits one (with `from_seq` at its current height), or
    /// tries to remove itself (the last indexer, which must be rejected).
    pub fn step_membership(&mut self) -> Result<(), String> {
        if self.rng.random_ratio(1, 20) {
            let key = self.peers[CREATOR].key();
            let done = self.exec_ok(CREATOR, vec![Act::Append(forge::remove_member(&key))])?;
            let o = done.appended.first().map(|a| (a.outcome, a.confirmed));
            ensure!(
                self,
                o == Some((Outcome::Rejected(Code::LastIndexer), true)),
                "the creator removing itself gave {o:?}"
            );
            return Ok(());
        }
        let members: Vec<usize> = (0..self.peers.len())
            .filter(|&i| self.peers[i].role == Role::Member)
            .collect();
        let active: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| !self.peers[i].removed)
            .collect();
        let removed: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| self.peers[i].removed)
            .collect();
        let remove = !active.is_empty() && (removed.is_empty() || self.rng.random_bool(0.6));
        let (q, body) = if remove {
            let q = *active.choose(&mut self.rng).expect("active member");
            (q, forge::remove_member(&self.peers[q].key()))
        } else if let Some(&q) = removed.choose(&mut self.rng) {
            let from_seq = inspect::own_head(self.peers[q].ledger(), &self.peers[q].key())
                .map_or(0, |(s, _)| s + 1);
            (q, forge::add_member(&self.peers[q].key(), from_seq))
        } else {
            return Ok(());
        };
        let k = self.rng.random_range(0..=2);
        let mut acts: Vec<Act> = self
            .take_msgs(CREATOR, k)
            .into_iter()
            .map(Act::Deliver)
            .collect();
        acts.push(Act::Append(body));
        let done = self.exec_ok(CREATOR, acts)?;
        self.no_invalid(CREATOR, &done)?;
        let a = done.appended.first().expect("the creator is a member");
        ensure!(
            self,
            a.confirmed,
            "the creator's membership change is not confirmed at once"
        );
        self.peers[q].removed = remove;
        let key = self.peers[q].key();
        self.membership.push(MembershipChange {
            tick: self.tick,
            key,
            add: !remove,
            hash: a.hash,
        });
        Ok(())
    }

    /// A member writes two entries at one seq and sends one to some peers, the other to the rest.
    pub fn step_fork(&mut self) -> Result<(), String> {
        let members: Vec<usize> = (0..self.peers.len())
            .filter(|&i| self.peers[i].role == Role::Member)
            .collect();
        let Some(&x) = members.choose(&mut self.rng) else {
            return Ok(());
        };
        let l = self.peers[x].ledger();
        let signer = self.peers[x].signer.clone();
        let (a, a_bytes) =
            forge::next_entry(l, &signer, forge::knowledge("fork", "a"), self.now, 64);
        let (b, b_bytes) =
            forge::next_entry(l, &signer, forge::knowledge("fork", "b"), self.now, 64);
        self.note(format!(
            "p{x} forks: {} / {}",
            Sim::short(&a),
            Sim::short(&b)
        ));
        let done = self.exec_ok(x, vec![Act::Raw(a_bytes)])?;
        ensure!(
            self,
            done.ingested == [Ingested::New(a)],
            "p{x}: own fork branch ingested as {:?}",
            done.ingested
        );
        self.register(x, a);
        self.peers[x].acked.push(a);
        self.bytes.insert(b, b_bytes.into());
        self.created.insert(b, self.tick);
        self.all.push(b);
        for to in 0..self.peers.len() {
            if to == x {
                continue;
            }
            let h = if self.rng.random_bool(0.5) { a } else { b };
            self.send(to, h);
        }
        self.forks.push((self.peers[x].key(), a, b));
        self.stats.forks += 1;
        Ok(())
    }
}
