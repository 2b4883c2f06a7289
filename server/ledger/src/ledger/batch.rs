//! Ingesting entries from peers and appending local ones, inside one batch.

use std::sync::Arc;

use prost::Message as _;
use redb::ReadableTable;

use super::{
    AppendResult, Batch, CommitReport, Event, Fresh, Ingested, PARKED_CAP, decode_stored,
    effective_deps_cap, genesis_params,
};
use crate::code::Code;
use crate::entry::{self, Draft, EntryRef, Header, VerifiedEntry};
use crate::error::{Error, Invalid, Result};
use crate::hashes::Sweep;
use crate::keys::{EntryHash, MemberKey, Signer};
use crate::order::{Epoch, Node};
use crate::view::apply::check_body;
use crate::view::tables::{MemberRow, STATE_ENGINE, ViewTable, split_stored, stored_value};
use crate::wire;

impl Batch<'_, '_> {
    /// Ingests an entry received from a peer, as its exact bytes. Invalid entries are reported
    /// (and announced), not stored; an `Err` is a storage failure.
    pub fn ingest(&mut self, bytes: &[u8]) -> Result<Ingested> {
        // Exact duplicates are common in sync: know them before paying for verification. Bytes
        // that share a known entry's header but differ are verified like any other.
        let hash = wire::SignedEntry::decode(bytes)
            .ok()
            .map(|s| entry::entry_hash(&s.header));
        if let Some(h) = hash
            && self.is_exact_duplicate(&h, bytes)?
        {
            return Ok(Ingested::Duplicate(h));
        }
        let e = match self.verifier.verify(bytes, &self.st.pact, self.st.deps_cap) {
            Ok(e) => e,
            Err(reason) => {
                self.events.push(Event::InvalidEntry {
                    hash,
                    reason: reason.clone(),
                });
                return Ok(Ingested::Invalid(reason));
            }
        };
        self.ingest_checked(e)
    }

    /// Ingests an entry the caller already ran through [`entry::verify`] for this pact (off
    /// the writer's thread, say). Its deps cap, chain and deps are checked here as for
    /// [`Batch::ingest`].
    pub fn ingest_verified(&mut self, e: VerifiedEntry) -> Result<Ingested> {
        if self.is_exact_duplicate(&e.hash, &e.bytes)? {
            return Ok(Ingested::Duplicate(e.hash));
        }
        if e.header.pact != self.st.pact && !(e.is_genesis() && e.hash.0 == self.st.pact.0) {
            return self.invalid(Some(e.hash), Invalid::ForeignPact);
        }
        self.ingest_checked(e)
    }

    /// Whether these exact bytes are stored or parked under `h`.
    fn is_exact_duplicate(&self, h: &EntryHash, bytes: &[u8]) -> Result<bool> {
        let stored = self.log.by_hash(h)?.is_some_and(|(_, _, v)| v == bytes);
        let parked = self
            .st
            .parked
            .entries
            .get(h)
            .is_some_and(|e| e.bytes == bytes);
        Ok(stored || parked)
    }

    fn ingest_checked(&mut self, e: VerifiedEntry) -> Result<Ingested> {
        let hash = e.hash;
        if self.st.tail.get(&hash).is_some()
            || self.st.parked.entries.contains_key(&hash)
            || self.log.index.contains(&hash)?
        {
            return Ok(Ingested::Duplicate(hash));
        }
        let first = self.insert_or_park(e)?;
        // Release entries that waited for this one, transitively.
        let mut ready = vec![hash];
        while let Some(h) = ready.pop() {
            let Some(waiters) = self.st.parked.waiting.remove(&h) else {
                continue;
            };
            for w in waiters {
                let Some(pe) = self.st.parked.entries.remove(&w) else {
                    continue;
                };
                if let Ingested::New(nh) = self.insert_or_park(pe)? {
                    ready.push(nh);
                }
            }
        }
        Ok(first)
    }

    /// Looks up lamport, author and seq of a known entry.
    fn known(&self, h: &EntryHash) -> Result<Option<(u64, MemberKey, u64)>> {
        if let Some(n) = self.st.tail.get(h) {
            return Ok(Some((n.lamport, n.author, n.seq)));
        }
        if let Some((l, a, s)) = self.st.heads.get(h) {
            return Ok(Some((*l, *a, *s)));
        }
        match self.log.by_hash(h)? {
            None => Ok(None),
            Some((author, seq, b)) => Ok(Some((decode_stored(&b)?.header.lamport, author, seq))),
        }
    }

    fn insert_or_park(&mut self, e: VerifiedEntry) -> Result<Ingested> {
        let hash = e.hash;
        let h = &e.header;
        // A genesis entry that verified is this pact's genesis (it hashes to the pact id).
        if !e.is_genesis() {
            if h.deps.len() > self.st.deps_cap as usize {
                return self.invalid(Some(hash), Invalid::BadDeps);
            }
            let mut missing = Vec::new();
            let mut max_lamport = 0;
            if let Some(prev) = h.prev {
                match self.known(&prev)? {
                    None => missing.push(prev),
                    Some((l, author, seq)) => {
                        if author != h.author || seq + 1 != h.seq {
                            return self.invalid(Some(hash), Invalid::BrokenChain);
                        }
                        max_lamport = l;
                    }
                }
            }
            for d in &h.deps {
                match self.known(&d.hash)? {
                    None => missing.push(d.hash),
                    Some((l, author, seq)) => {
                        if author != d.author || seq != d.seq {
                            return self.invalid(Some(hash), Invalid::BadDep);
                        }
                        max_lamport = max_lamport.max(l);
                    }
                }
            }
            if !missing.is_empty() {
                self.park(e, &missing);
                return Ok(Ingested::Parked { hash, missing });
            }
            if h.lamport != max_lamport + 1 {
                return self.invalid(
                    Some(hash),
                    Invalid::Lamport {
                        got: h.lamport,
                        expected: max_lamport + 1,
                    },
                );
            }
        }
        let VerifiedEntry {
            hash,
            bytes,
            header,
            body,
            ..
        } = e;
        self.store(hash, &header, body, Some(&bytes))?;
        Ok(Ingested::New(hash))
    }

    fn invalid(&mut self, hash: Option<EntryHash>, reason: Invalid) -> Result<Ingested> {
        self.events.push(Event::InvalidEntry {
            hash,
            reason: reason.clone(),
        });
        Ok(Ingested::Invalid(reason))
    }

    fn park(&mut self, e: VerifiedEntry, missing: &[EntryHash]) {
        let p = &mut self.st.parked;
        for m in missing {
            p.waiting.entry(*m).or_default().push(e.hash);
        }
        p.arrival.push_back(e.hash);
        p.entries.insert(e.hash, e);
        // The queue also holds hashes already released (removing them there would cost a scan),
        // so bound the queue itself: popping a released hash is a no-op, popping a waiting one
        // forgets the oldest waiting entry. Memory stays bounded either way.
        while p.arrival.len() > PARKED_CAP {
            let Some(old) = p.arrival.pop_front() else {
                break;
            };
            p.entries.remove(&old);
        }
    }

    /// Stores a chain-checked entry and adds it to the tail. `bytes` is `None` for a local
    /// append still waiting for its signature; [`Batch::finish`] writes it once signed.
    fn store(
        &mut self,
        hash: EntryHash,
        h: &Header,
        body: wire::Body,
        bytes: Option<&[u8]>,
    ) -> Result<()> {
        let slot = (h.author.0, h.seq);
        let first = match self.log.entries.get(slot)? {
            None => self.unsigned_at(&h.author, h.seq),
            Some(v) => Some(split_stored(v.value()).ok_or_else(corrupt_entries)?.0),
        };
        // A local append (no bytes yet) is written with its signature at the end of the batch
        // (see `finish`); until then the batch knows it from memory only.
        if let Some(record) = &mut self.record
            && first != Some(hash)
        {
            record.push(bytes.map(<[u8]>::to_vec));
        }
        match first {
            None => {
                if let Some(bytes) = bytes {
                    self.log
                        .entries
                        .insert(slot, stored_value(&hash, bytes).as_slice())?;
                    self.log.index.insert(&hash, slot)?;
                }
            }
            Some(first) if first != hash => {
                if let Some(bytes) = bytes {
                    self.log.branches.get_mut()?.insert(hash.0, bytes)?;
                    self.log.index.insert(&hash, slot)?;
                }
                let forks = self.log.forks.get_mut()?;
                if forks.get(slot)?.is_none() {
                    forks.insert(slot, hash.0)?;
                }
                self.st.fork_slots.insert((h.author, h.seq));
                self.events.push(Event::ForkDetected {
                    author: h.author,
                    seq: h.seq,
                    first,
                    second: hash,
                });
            }
            Some(_) => {}
        }
        let mut parents = Vec::with_capacity(h.deps.len() + 1);
        parents.extend(h.prev);
        parents.extend(h.deps.iter().map(|d| d.hash));
        for p in &parents {
            if self.st.heads.remove(p).is_some() {
                self.log.heads.remove(p.0)?;
            }
        }
        self.st.heads.insert(hash, (h.lamport, h.author, h.seq));
        self.log.heads.insert(hash.0, h.lamport)?;
        if let Some(p) = genesis_params(&body)
            && h.seq == 0
        {
            self.st.deps_cap = effective_deps_cap(p.deps_cap);
            self.st.epoch = Epoch {
                number: 0,
                indexers: vec![h.author],
                start: None,
            };
            self.st.engine.indexer = h.author.0.to_vec();
        }
        self.fresh.insert(
            hash,
            Fresh {
                body: Arc::new(body),
                applied: false,
            },
        );
        self.st.tail.insert(
            hash,
            Node {
                author: h.author,
                seq: h.seq,
                lamport: h.lamport,
                time_ms: h.time_ms,
                parents,
            },
        );
        Ok(())
    }

    /// Appends a local entry by `signer` with the given body. Refused (changing nothing) when
    /// the signer is not an active member or the body breaks its schema.
    pub fn append(&mut self, signer: &Signer, body: wire::Body, now_ms: u64) -> Result<EntryHash> {
        let author = signer.public();
        if self.st.epoch.indexers.is_empty() {
            return Err(Error::refused(
                Code::PactNotReady,
                "The pact's genesis entry has not arrived yet.",
            ));
        }
        let member: Option<MemberRow> = self.view.get_row(ViewTable::Members, &author.0)?;
        if !member.is_some_and(|m| m.active) {
            return Err(Error::refused(
                Code::NotAMember,
                "This peer is not a member of the pact yet. Redeem an invite first.",
            ));
        }
        if let Err(code) = check_body(&body) {
            // The reasons spec/rest-api.md (section 1.3) names: the size, or the schema.
            let reason = if code == Code::PayloadTooLarge {
                "payload-too-large"
            } else {
                "schema"
            };
            return Err(Error::refused(
                code,
                format!("entry validation failed: {reason}"),
            ));
        }
        let pending = self
            .unsigned
            .iter()
            .rev()
            .find(|u| u.1 == author)
            .map(|u| (u.2, u.0));
        let own = match pending {
            Some(own) => Some(own),
            None => match self
                .log
                .entries
                .range((author.0, 0)..=(author.0, u64::MAX))?
                .next_back()
                .transpose()?
            {
                None => None,
                Some((k, v)) => Some((
                    k.value().1,
                    split_stored(v.value()).ok_or_else(corrupt_entries)?.0,
                )),
            },
        };
        let (seq, prev) = match own {
            Some((s, h)) => (s + 1, Some(h)),
            None => (0, None),
        };
        let mut max_lamport = match &prev {
            Some(p) => self.known(p)?.map_or(0, |k| k.0),
            None => 0,
        };
        // Deps: other authors' heads, most recent first, up to the cap.
        let mut heads: Vec<(u64, EntryHash, MemberKey, u64)> = self
            .st
            .heads
            .iter()
            .filter(|(_, (_, a, _))| *a != author)
            .map(|(h, (l, a, s))| (*l, *h, *a, *s))
            .collect();
        heads.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        heads.truncate(self.st.deps_cap as usize);
        let mut deps = Vec::with_capacity(heads.len());
        for (l, hash, a, seq) in heads {
            deps.push(EntryRef {
                author: a,
                seq,
                hash,
            });
            max_lamport = max_lamport.max(l);
        }
        let mut e = entry::prepare(
            author,
            Draft {
                pact: self.st.pact,
                seq,
                prev,
                deps,
                lamport: max_lamport + 1,
                epoch: self.st.epoch.number,
                time_ms: now_ms,
                body,
            },
        );
        let hash = e.hash;
        // Signing needs the encoded body only: the decoded one moves to the batch.
        let body = std::mem::take(&mut e.body);
        self.store(hash, &e.header, body, None)?;
        self.unsigned.push((hash, author, seq));
        self.sign_ahead.push(e, signer.clone());
        self.appended.push((hash, seq, now_ms));
        Ok(hash)
    }

    /// The local append of this batch at `(author, seq)`, if any (not written yet).
    fn unsigned_at(&self, author: &MemberKey, seq: u64) -> Option<EntryHash> {
        self.unsigned
            .iter()
            .find(|u| u.1 == *author && u.2 == seq)
            .map(|u| u.0)
    }

    /// Whether unconfirmed entries are waiting (an anchor by the indexer would confirm them).
    pub fn has_unconfirmed(&self) -> bool {
        !self.st.tail.is_empty()
    }

    /// Reconciles, records the engine state, and builds the report.
    pub(super) fn finish(mut self) -> Result<Finished> {
        self.reconcile()?;
        let signed = std::mem::take(&mut self.sign_ahead).finish()?;
        if signed.len() != self.unsigned.len() {
            return Err(Error::Corrupt("an append was not signed".into()));
        }
        // The journal record: local appends take their signed bytes, in the order stored.
        let mut local = signed.iter();
        let record = match self.record.take() {
            None => None,
            Some(r) => Some(
                r.into_iter()
                    .map(|e| match e {
                        Some(bytes) => Ok(bytes),
                        None => local
                            .next()
                            .cloned()
                            .ok_or_else(|| Error::Corrupt("an append was not signed".into())),
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        for ((hash, author, seq), bytes) in
            std::mem::take(&mut self.unsigned).into_iter().zip(signed)
        {
            let slot = (author.0, seq);
            // The slot is free: an append takes the seq after its author's last entry, and an
            // entry ingested later at the same seq went to the branches.
            if self.log.entries.get(slot)?.is_none() {
                self.log
                    .entries
                    .insert(slot, stored_value(&hash, &bytes).as_slice())?;
            } else {
                self.log
                    .branches
                    .get_mut()?
                    .insert(hash.0, bytes.as_slice())?;
            }
            self.log.index.insert(&hash, slot)?;
        }
        let st = &mut *self.st;
        st.engine.view_digest = self.view.digest().0.to_vec();
        st.digest = self.view.digest();
        self.log
            .state
            .insert(STATE_ENGINE, st.engine.encode_to_vec().as_slice())?;
        let mut appended = Vec::with_capacity(self.appended.len());
        for &(hash, seq, time_ms) in &self.appended {
            let a = self
                .results
                .remove(&hash)
                .ok_or_else(|| Error::Corrupt("appended entry was not applied".into()))?;
            appended.push(AppendResult {
                hash,
                api_id: a.api_id,
                pos: a.pos,
                outcome: a.outcome,
                confirmed: a.pos < st.engine.confirmed_len,
                seq,
                time_ms,
                ledger_time: a.ledger_time,
            });
        }
        // The hashes in memory move to their table a slice per durable commit, a share of it
        // in each batch.
        let sweep = if self.durable {
            Some(st.hashes.sweep(&mut self.log.index, &mut self.log.state)?)
        } else {
            st.hashes.advance(&mut self.log.index)?;
            None
        };
        Ok((
            CommitReport {
                events: self.events,
                appended,
            },
            record,
            sweep,
        ))
    }
}

/// What a finished batch hands its commit: the report, the journal record (with a journal) and
/// the step of the hash sweep (a durable commit).
pub(super) type Finished = (CommitReport, Option<Vec<Vec<u8>>>, Option<Sweep>);

fn corrupt_entries() -> Error {
    Error::Corrupt("bad row in log.entries".into())
}
