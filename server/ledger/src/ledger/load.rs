//! Rebuilding a ledger's in-memory state from its file.

use std::collections::{BTreeMap, HashSet};

use prost::Message as _;
use redb::{Database, ReadableDatabase, ReadableTable};

use super::{
    AppliedPos, Parked, State, decode_stored, effective_deps_cap, genesis_params, hash_of, key_of,
    node_of,
};
use crate::code::Outcome;
use crate::entry::DEFAULT_DEPS_CAP;
use crate::error::{Error, Result};
use crate::keys::{EntryHash, MemberKey, PactId};
use crate::order::{Epoch, Tail};
use crate::view::tables::{
    ENTRIES, EngineRow, FORKS, HEADS, LAYOUT_VERSION, OrderRow, ResultRow, STATE, STATE_ENGINE,
    STATE_LAYOUT, STATE_PACT_ID, ViewTable, pos_key,
};
use crate::view::txn::Digest;

/// Rebuilds the in-memory state from the database.
pub(super) fn load_state(db: &Database) -> Result<State> {
    let txn = db.begin_read()?;
    let state_t = txn.open_table(STATE).map_err(|e| match e {
        redb::TableError::TableDoesNotExist(_) => {
            Error::Corrupt("not an OpenPact ledger (no state table)".into())
        }
        e => e.into(),
    })?;
    let pact = state_t
        .get(STATE_PACT_ID)?
        .and_then(|v| PactId::from_slice(v.value()))
        .ok_or_else(|| Error::Corrupt("no pact id in the ledger file".into()))?;
    let layout = state_t
        .get(STATE_LAYOUT)?
        .and_then(|v| <[u8; 4]>::try_from(v.value()).ok())
        .map(u32::from_le_bytes);
    if layout != Some(LAYOUT_VERSION) {
        return Err(Error::Corrupt(format!(
            "ledger layout {layout:?}, this build reads {LAYOUT_VERSION}"
        )));
    }
    let engine = match state_t.get(STATE_ENGINE)? {
        Some(v) => EngineRow::decode(v.value())
            .map_err(|_| Error::Corrupt("engine state does not decode".into()))?,
        None => EngineRow {
            order_digest: vec![0; 32],
            view_digest: vec![0; 32],
            ..Default::default()
        },
    };
    let digest = Digest(
        engine
            .view_digest
            .as_slice()
            .try_into()
            .map_err(|_| Error::Corrupt("view digest".into()))?,
    );
    let mut st = State {
        pact,
        digest,
        deps_cap: DEFAULT_DEPS_CAP,
        epoch: Epoch {
            number: engine.epoch,
            indexers: Vec::new(),
            start: None,
        },
        tail: Tail::default(),
        applied: Vec::new(),
        heads: BTreeMap::new(),
        fork_slots: HashSet::new(),
        parked: Parked::default(),
        engine,
    };
    if !st.engine.indexer.is_empty() {
        st.epoch.indexers = vec![key_of(&st.engine.indexer)?];
    }
    if !st.engine.epoch_start.is_empty() {
        st.epoch.start = Some(hash_of(&st.engine.epoch_start)?);
    }
    let Ok(entries) = txn.open_table(ENTRIES) else {
        return Ok(st); // nothing ingested yet
    };
    if let Some(g) = entries.get(pact.0)? {
        let g = decode_stored(g.value())?;
        if let Some(p) = genesis_params(&g.body) {
            st.deps_cap = effective_deps_cap(p.deps_cap);
        }
        if st.epoch.indexers.is_empty() {
            st.epoch.indexers = vec![key_of(&g.header.author)?];
        }
    }
    for r in txn.open_table(FORKS)?.iter()? {
        let (slot, _) = r?;
        let (author, seq) = slot.value();
        st.fork_slots.insert((MemberKey(author), seq));
    }
    let heads = txn.open_table(HEADS)?;
    for r in heads.iter()? {
        let (h, lamport) = r?;
        let bytes = entries
            .get(h.value())?
            .ok_or_else(|| Error::Corrupt("head entry missing".into()))?;
        let header = decode_stored(bytes.value())?.header;
        st.heads.insert(
            EntryHash(h.value()),
            (lamport.value(), key_of(&header.author)?, header.seq),
        );
    }
    let order = txn.open_table(ViewTable::Order.def())?;
    let results = txn.open_table(ViewTable::Results.def())?;
    for r in order.range::<&[u8]>(pos_key(st.engine.confirmed_len).as_slice()..)? {
        let (_, v) = r?;
        let row = OrderRow::decode(v.value()).map_err(|_| Error::Corrupt("order row".into()))?;
        let hash = hash_of(&row.hash)?;
        let bytes = entries
            .get(hash.0)?
            .ok_or_else(|| Error::Corrupt("ordered entry missing".into()))?;
        st.tail
            .insert(hash, node_of(&decode_stored(bytes.value())?.header)?);
        let res = results
            .get(hash.0.as_slice())?
            .ok_or_else(|| Error::Corrupt("result row missing".into()))?;
        let res =
            ResultRow::decode(res.value()).map_err(|_| Error::Corrupt("result row".into()))?;
        st.applied.push(AppliedPos {
            hash,
            ledger_time: row.ledger_time,
            time_sensitive: row.time_sensitive,
            changes_indexers: row.changes_indexers,
            outcome: Outcome::from_u16(res.outcome as u16)
                .ok_or_else(|| Error::Corrupt("outcome".into()))?,
            api_id: res.api_id,
        });
    }
    if st.applied.len() as u64 != st.engine.applied_len - st.engine.confirmed_len {
        return Err(Error::Corrupt(
            "order rows do not match the engine state".into(),
        ));
    }
    Ok(st)
}
