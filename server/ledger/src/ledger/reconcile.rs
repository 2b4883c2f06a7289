//! Reconciling the applied order with the desired one: confirming committed anchors' segments,
//! rolling the tail back to the first difference, and applying from there.

use std::sync::Arc;

use super::{
    Applied, AppliedPos, Batch, Event, ORDER_DIGEST_CONTEXT, decode_stored, genesis_params, key_of,
};
use crate::error::{Error, Result};
use crate::keys::{EntryHash, MemberKey};
use crate::order::{Epoch, Finalizer, SingleIndexer};
use crate::view::apply::{ApplyCtx, apply_entry};
use crate::view::tables::{OrderRow, ViewTable, api_id_key, pos_key, slot_bytes};
use crate::wire;

impl AppliedPos {
    /// The position's row in [`ViewTable::Order`].
    pub(super) fn order_row(&self) -> OrderRow {
        OrderRow {
            hash: self.hash.0.to_vec(),
            ledger_time: self.ledger_time,
            time_sensitive: self.time_sensitive,
            changes_indexers: self.changes_indexers,
            outcome: self.outcome.to_u16().into(),
            api_id: self.api_id.clone(),
            author: self.author.0.to_vec(),
            seq: self.seq,
        }
    }
}

impl Batch<'_, '_> {
    pub(super) fn reconcile(&mut self) -> Result<()> {
        while let Some(anchor) = SingleIndexer.next_anchor(&self.st.tail, &self.st.epoch) {
            let segment = self.st.tail.causal_past(&anchor);
            let anchor_time = self.st.tail.get(&anchor).map_or(0, |n| n.time_ms);
            let ledger_time = self.st.engine.ledger_time.max(anchor_time);
            self.align(&segment, ledger_time, true)?;
            self.confirm(segment.len(), anchor, ledger_time)?;
        }
        let desired: Vec<EntryHash> = self.st.tail.in_order().collect();
        let ledger_time = self.st.engine.ledger_time;
        self.align(&desired, ledger_time, false)
    }

    /// Makes the positions from `confirmed_len` on hold `desired`, applied with `ledger_time`:
    /// keeps the longest matching prefix, rolls back everything after it, applies the rest.
    /// With `confirming`, `desired` is a segment about to be confirmed (no undo rows kept) and
    /// applied positions after it may stay.
    fn align(&mut self, desired: &[EntryHash], ledger_time: u64, confirming: bool) -> Result<()> {
        let base = self.st.engine.confirmed_len;
        let applied = &self.st.applied;
        let k = desired
            .iter()
            .zip(applied.iter())
            .take_while(|(d, a)| {
                **d == a.hash && (!a.time_sensitive || a.ledger_time == ledger_time)
            })
            .count();
        if k < desired.len() || (!confirming && applied.len() > k) {
            self.rollback_to(base + k as u64)?;
        }
        for (j, hash) in desired.iter().enumerate().skip(k) {
            self.apply_at(base + j as u64, *hash, ledger_time, !confirming)?;
        }
        Ok(())
    }

    /// Rolls back applied positions from the end down to `pos`.
    fn rollback_to(&mut self, pos: u64) -> Result<()> {
        let end = self.st.engine.applied_len;
        if pos >= end {
            return Ok(());
        }
        for p in (pos..end).rev() {
            self.view.rollback_position(p)?;
        }
        let keep = (pos - self.st.engine.confirmed_len) as usize;
        for a in self.st.applied.drain(keep..) {
            self.before.entry(a.hash).or_insert(a.outcome);
        }
        self.st.engine.applied_len = pos;
        self.events.push(Event::TailRolledBack {
            from_pos: pos,
            count: end - pos,
        });
        Ok(())
    }

    fn apply_at(
        &mut self,
        pos: u64,
        hash: EntryHash,
        ledger_time: u64,
        persist: bool,
    ) -> Result<()> {
        debug_assert_eq!(pos, self.st.engine.applied_len);
        let node = self
            .st
            .tail
            .get(&hash)
            .ok_or_else(|| Error::Corrupt("entry to apply is not in the tail".into()))?;
        let (author, seq, time_ms) = (node.author, node.seq, node.time_ms);
        // Entries stored by this batch are applied from memory; others are decoded once more.
        let (body, first_apply) = match self.fresh.get_mut(&hash) {
            Some(f) => (f.body.clone(), !std::mem::replace(&mut f.applied, true)),
            None => {
                let b = slot_bytes(
                    &self.log.entries,
                    self.log.branches.get()?,
                    &author,
                    seq,
                    &hash,
                )?
                .ok_or_else(|| Error::Corrupt("entry to apply is missing".into()))?;
                (Arc::new(decode_stored(&b)?.body), false)
            }
        };
        let genesis = seq == 0 && genesis_params(&body).is_some();
        self.view.begin_entry(pos, persist);
        let api_id = if genesis {
            String::new()
        } else {
            let base = crate::keys::api_id(&author, seq);
            let plain = api_id_key(&author, seq, None);
            // Only a forked slot can have its plain id taken by another branch. (An entry's own
            // id row never exists when it is applied: rolling it back removed it.)
            let taken = self.st.fork_slots.contains(&(author, seq))
                && self.view.get(ViewTable::ApiIds, &plain)?.is_some();
            let (id, key) = if taken {
                let suffix = [hash.0[0], hash.0[1]];
                (
                    format!("{base}~{}", hex::encode(suffix)),
                    api_id_key(&author, seq, Some(suffix)),
                )
            } else {
                (base, plain)
            };
            self.view.put(ViewTable::ApiIds, &key, &pos_key(pos))?;
            id
        };
        let ctx = ApplyCtx::new(
            pos,
            hash,
            author,
            seq,
            &api_id,
            self.st.pact,
            &body,
            ledger_time,
        );
        let applied = apply_entry(&mut self.view, &ctx)?;
        let outcome = applied.outcome;
        let time_sensitive = ctx.time_sensitive();
        let changes_indexers = applied.new_indexers.is_some();
        // The row must be the same on every peer that holds the same order. An unconfirmed entry
        // that did not read the time keeps 0 (peers may have applied it at different provisional
        // times); it gets its segment's time when confirmed.
        let ledger_time = if persist && !time_sensitive {
            0
        } else {
            ledger_time
        };
        let row = AppliedPos {
            hash,
            author,
            seq,
            ledger_time,
            time_sensitive,
            changes_indexers,
            outcome,
            api_id,
        };
        self.view
            .put_row(ViewTable::Order, &pos_key(pos), &row.order_row())?;
        self.view.end_entry()?;
        self.st.engine.applied_len = pos + 1;
        self.results.insert(
            hash,
            Applied {
                pos,
                outcome,
                api_id: row.api_id.clone(),
                ledger_time,
            },
        );
        let api_id = &row.api_id;
        // Every entry a batch stores is applied in that batch, so its first apply is here.
        if first_apply {
            let arrival = self.st.engine.next_arrival;
            self.st.engine.next_arrival += 1;
            self.log.arrival.insert(arrival, hash.0)?;
            self.events.push(Event::Applied {
                hash,
                api_id: api_id.clone(),
                pos,
                outcome,
                arrival,
                author,
                seq,
                time_ms,
                body: body.clone(),
            });
        } else if let Some(before) = self.before.get(&hash)
            && *before != outcome
        {
            self.events.push(Event::OutcomeChanged {
                hash,
                api_id: api_id.clone(),
                pos,
                before: *before,
                after: outcome,
            });
            self.before.insert(hash, outcome);
        }
        self.st.applied.push(row);
        Ok(())
    }

    /// Confirms the first `n` applied tail positions: the segment of `anchor`.
    fn confirm(&mut self, n: usize, anchor: EntryHash, ledger_time: u64) -> Result<()> {
        let base = self.st.engine.confirmed_len;
        let mut digest: [u8; 32] = self
            .st
            .engine
            .order_digest
            .as_slice()
            .try_into()
            .unwrap_or([0; 32]);
        let mut new_indexers = None;
        let segment: Vec<AppliedPos> = self.st.applied.drain(..n).collect();
        for (i, a) in segment.into_iter().enumerate() {
            let pos = base + i as u64;
            if a.ledger_time != ledger_time {
                // Applied in the tail without reading the time: record the segment's time now.
                // A confirmed position never rolls back, so no undo is noted for this.
                let row = AppliedPos {
                    ledger_time,
                    ..a.clone()
                }
                .order_row();
                self.view.put_row(ViewTable::Order, &pos_key(pos), &row)?;
                if let Some(r) = self.results.get_mut(&a.hash) {
                    r.ledger_time = ledger_time;
                }
            }
            digest = blake3::Hasher::new_derive_key(ORDER_DIGEST_CONTEXT)
                .update(&digest)
                .update(&a.hash.0)
                .finalize()
                .into();
            self.st.tail.remove(&a.hash);
            if a.changes_indexers {
                new_indexers = Some(a.hash);
            }
            self.events.push(Event::Confirmed {
                hash: a.hash,
                api_id: a.api_id,
                pos,
                outcome: a.outcome,
            });
        }
        let e = &mut self.st.engine;
        e.order_digest = digest.to_vec();
        e.confirmed_len = base + n as u64;
        e.ledger_time = ledger_time;
        e.anchors += 1;
        e.last_anchor = anchor.0.to_vec();
        self.view.forget_undo_below(e.confirmed_len)?;
        if let Some(changer) = new_indexers {
            let keys = self.indexers_set_by(&changer)?;
            let e = &mut self.st.engine;
            e.epoch += 1;
            e.epoch_start = anchor.0.to_vec();
            e.indexer = keys.first().map(|k| k.0.to_vec()).unwrap_or_default();
            self.st.epoch = Epoch {
                number: e.epoch,
                indexers: keys,
                start: Some(anchor),
            };
        }
        Ok(())
    }

    /// The indexer set named by the (applied) `SetIndexers` op of a stored entry.
    fn indexers_set_by(&self, hash: &EntryHash) -> Result<Vec<MemberKey>> {
        // An entry this batch stored is read from memory: a local append has no bytes yet.
        let body = match self.fresh.get(hash) {
            Some(f) => f.body.clone(),
            None => {
                let (_, _, b) = self
                    .log
                    .by_hash(hash)?
                    .ok_or_else(|| Error::Corrupt("indexer change entry missing".into()))?;
                Arc::new(decode_stored(&b)?.body)
            }
        };
        let mut keys = Vec::new();
        for op in &body.ops {
            if let Some(wire::op::Op::SetIndexers(s)) = &op.op {
                keys = s.keys.iter().map(|k| key_of(k)).collect::<Result<_>>()?;
            }
        }
        keys.sort();
        Ok(keys)
    }
}
