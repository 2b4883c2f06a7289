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
use crate::hashes::{HashIndex, bytes_by_hash, slot_of};
use crate::keys::{EntryHash, MemberKey, PactId};
use crate::order::{Epoch, Tail};
use crate::view::tables::{
    BRANCHES, ENTRIES, EngineRow, FORKS, HASHES, HEADS, LAYOUT_VERSION, OrderRow, STATE,
    STATE_ENGINE, STATE_LAYOUT, STATE_PACT_ID, ViewTable, pos_key, slot_bytes,
};
use crate::view::txn::Digest;

/// Refuses a file written in another layout (before any table of it is opened and misread).
pub(super) fn check_layout(state: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<()> {
    let layout = state
        .get(STATE_LAYOUT)?
        .and_then(|v| <[u8; 4]>::try_from(v.value()).ok())
        .map(u32::from_le_bytes);
    if layout == Some(LAYOUT_VERSION) {
        return Ok(());
    }
    let found = layout.map_or_else(|| "none".to_string(), |l| l.to_string());
    Err(Error::Layout(format!(
        "the ledger file has layout version {found}; this build reads only version \
         {LAYOUT_VERSION} (files of other versions are not converted: use the build that wrote \
         it, or remove the pact and join it again from a peer)"
    )))
}

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
    check_layout(&state_t)?;
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
        hashes: HashIndex::load(&txn)?,
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
    let hashes = txn.open_table(HASHES)?;
    let branches = txn.open_table(BRANCHES)?;
    let pending = st.hashes.pending().clone();
    let by_hash = |h: &EntryHash| -> Result<Vec<u8>> {
        match bytes_by_hash(&entries, (&hashes, &pending), &branches, h)? {
            Some((_, _, b)) => Ok(b),
            None => Err(Error::Corrupt(format!("entry {h} missing"))),
        }
    };
    if slot_of(&pending, &hashes, &EntryHash(pact.0))?.is_some() {
        let g = decode_stored(&by_hash(&EntryHash(pact.0))?)?;
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
        let header = decode_stored(&by_hash(&EntryHash(h.value()))?)?.header;
        st.heads.insert(
            EntryHash(h.value()),
            (lamport.value(), key_of(&header.author)?, header.seq),
        );
    }
    let order = txn.open_table(ViewTable::Order.def())?;
    for r in order.range::<&[u8]>(pos_key(st.engine.confirmed_len).as_slice()..)? {
        let (_, v) = r?;
        let row = OrderRow::decode(v.value()).map_err(|_| Error::Corrupt("order row".into()))?;
        let hash = hash_of(&row.hash)?;
        let author = key_of(&row.author)?;
        let bytes = slot_bytes(&entries, &branches, &author, row.seq, &hash)?
            .ok_or_else(|| Error::Corrupt("ordered entry missing".into()))?;
        st.tail
            .insert(hash, node_of(&decode_stored(&bytes)?.header)?);
        st.applied.push(AppliedPos {
            hash,
            author,
            seq: row.seq,
            ledger_time: row.ledger_time,
            time_sensitive: row.time_sensitive,
            changes_indexers: row.changes_indexers,
            outcome: u16::try_from(row.outcome)
                .ok()
                .and_then(Outcome::from_u16)
                .ok_or_else(|| Error::Corrupt("outcome".into()))?,
            api_id: row.api_id,
        });
    }
    if st.applied.len() as u64 != st.engine.applied_len - st.engine.confirmed_len {
        return Err(Error::Corrupt(
            "order rows do not match the engine state".into(),
        ));
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use redb::backends::InMemoryBackend;

    use super::*;
    use crate::keys::Signer;
    use crate::ledger::{Ledger, PactParams};

    #[test]
    fn a_file_of_another_layout_is_refused_when_opened_or_joined() {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .expect("in-memory database");
        let creator = Signer::from_seed([1; 32]);
        let ledger =
            Ledger::create(db, &creator, PactParams::named("p"), 1_000, [7; 32]).expect("create");
        let pact = ledger.pact_id();
        let db = ledger.database().clone();
        drop(ledger);
        let db = std::sync::Arc::into_inner(db).expect("sole owner");
        let txn = db.begin_write().expect("write");
        {
            let mut state = txn.open_table(STATE).expect("state");
            state
                .insert(STATE_LAYOUT, 1u32.to_le_bytes().as_slice())
                .expect("insert");
        }
        txn.commit().expect("commit");
        let expected = format!(
            "the ledger file has layout version 1; this build reads only version {LAYOUT_VERSION}"
        );
        let db = match Ledger::open(db) {
            Err(Error::Layout(m)) => {
                assert!(m.starts_with(&expected), "{m}");
                None
            }
            other => Some(other),
        };
        assert!(db.is_none(), "a layout 1 file was opened");
        // Joining checks the layout before opening any table of the file.
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .expect("in-memory database");
        let txn = db.begin_write().expect("write");
        {
            let mut state = txn.open_table(STATE).expect("state");
            state
                .insert(STATE_PACT_ID, pact.0.as_slice())
                .expect("insert");
            state
                .insert(STATE_LAYOUT, 1u32.to_le_bytes().as_slice())
                .expect("insert");
        }
        txn.commit().expect("commit");
        match Ledger::join(db, pact) {
            Err(Error::Layout(m)) => assert!(m.starts_with(&expected), "{m}"),
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("a layout 1 file was joined"),
        }
    }
}
