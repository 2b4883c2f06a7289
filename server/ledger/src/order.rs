//! The order: the in-memory DAG of unconfirmed entries (the tail), and finality.
//!
//! The confirmed order is, for each committed anchor in commit order, the anchor's causal past
//! minus everything already confirmed, sorted by `(lamport, entry hash)`. The tail is every other
//! ingested entry, sorted the same way. Lamport strictly increases along causal edges, so both
//! sorts are valid topological orders. Only the tail is held in memory: confirmed entries never
//! move, so ordering work grows with the tail, not the history.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::keys::{EntryHash, MemberKey};

/// What the order needs to know about an unconfirmed entry.
#[derive(Clone, Debug)]
pub struct Node {
    /// Author.
    pub author: MemberKey,
    /// 0-based seq.
    pub seq: u64,
    /// Lamport number.
    pub lamport: u64,
    /// Informational time (an anchor's becomes ledger time).
    pub time_ms: u64,
    /// Previous entry of the author and deps: the entry's direct causal past.
    pub parents: Vec<EntryHash>,
}

/// The unconfirmed entries, with their DAG edges, sorted by `(lamport, hash)`.
#[derive(Default, Debug)]
pub struct Tail {
    nodes: HashMap<EntryHash, Node>,
    sorted: BTreeSet<(u64, EntryHash)>,
    /// Per author, its unconfirmed entries by seq (finality looks up the indexer's).
    authors: BTreeMap<MemberKey, BTreeSet<(u64, EntryHash)>>,
}

impl Tail {
    /// Adds an entry.
    pub fn insert(&mut self, hash: EntryHash, node: Node) {
        self.sorted.insert((node.lamport, hash));
        self.authors
            .entry(node.author)
            .or_default()
            .insert((node.seq, hash));
        self.nodes.insert(hash, node);
    }

    /// Removes an entry (it was confirmed).
    pub fn remove(&mut self, hash: &EntryHash) -> Option<Node> {
        let node = self.nodes.remove(hash)?;
        self.sorted.remove(&(node.lamport, *hash));
        if let Some(mine) = self.authors.get_mut(&node.author) {
            mine.remove(&(node.seq, *hash));
            if mine.is_empty() {
                self.authors.remove(&node.author);
            }
        }
        Some(node)
    }

    /// The entry, if it is unconfirmed.
    pub fn get(&self, hash: &EntryHash) -> Option<&Node> {
        self.nodes.get(hash)
    }

    /// Number of unconfirmed entries.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether every entry is confirmed.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// All unconfirmed entries in tail order.
    pub fn in_order(&self) -> impl Iterator<Item = EntryHash> + '_ {
        self.sorted.iter().map(|(_, h)| *h)
    }

    /// The unconfirmed part of `anchor`'s causal past (the anchor included), in order.
    pub fn causal_past(&self, anchor: &EntryHash) -> Vec<EntryHash> {
        let mut seen = HashSet::new();
        let mut stack = vec![*anchor];
        let mut out = Vec::new();
        while let Some(h) = stack.pop() {
            let Some(node) = self.nodes.get(&h) else {
                continue;
            };
            if !seen.insert(h) {
                continue;
            }
            out.push((node.lamport, h));
            stack.extend(node.parents.iter().copied());
        }
        out.sort();
        out.into_iter().map(|(_, h)| h).collect()
    }

    /// Whether `target` (a confirmed entry) is in the causal past of the tail entry `from`.
    pub fn reaches(&self, from: &EntryHash, target: &EntryHash) -> bool {
        let mut seen = HashSet::new();
        let mut stack = vec![*from];
        while let Some(h) = stack.pop() {
            if h == *target {
                return true;
            }
            let Some(node) = self.nodes.get(&h) else {
                continue;
            };
            if seen.insert(h) {
                stack.extend(node.parents.iter().copied());
            }
        }
        false
    }

    /// The tail entries written by `author`, lowest seq first.
    pub fn by_author(&self, author: &MemberKey) -> impl Iterator<Item = (u64, EntryHash)> + '_ {
        self.authors.get(author).into_iter().flatten().copied()
    }
}

/// What finality knows of the confirmed state.
#[derive(Clone, Debug)]
pub struct Epoch {
    /// Epoch number.
    pub number: u64,
    /// The indexers of the epoch.
    pub indexers: Vec<MemberKey>,
    /// The anchor the epoch starts at; `None` for epoch 0, which starts at genesis.
    pub start: Option<EntryHash>,
}

/// Decides the committed anchors: the only layer where finality rules differ.
pub trait Finalizer {
    /// The next committed anchor among the tail entries, if any. Called repeatedly after each
    /// insertion and each confirmed segment, so it sees epoch changes as they are confirmed.
    fn next_anchor(&self, tail: &Tail, epoch: &Epoch) -> Option<EntryHash>;
}

/// Finality with one indexer: each indexer entry is a committed anchor on arrival, in the
/// indexer's seq order. After an indexer change, the new indexer's first entry that has the
/// epoch's start anchor in its causal past is its first anchor.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleIndexer;

impl Finalizer for SingleIndexer {
    fn next_anchor(&self, tail: &Tail, epoch: &Epoch) -> Option<EntryHash> {
        let [indexer] = epoch.indexers.as_slice() else {
            return None;
        };
        // An indexer's own chain is linear and enters the tail in seq order, so the lowest-seq
        // candidate is the next anchor on every peer.
        tail.by_author(indexer)
            .map(|(_, h)| h)
            .find(|h| epoch.start.is_none_or(|start| tail.reaches(h, &start)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(author: u8, seq: u64, lamport: u64, parents: &[EntryHash]) -> Node {
        Node {
            author: MemberKey([author; 32]),
            seq,
            lamport,
            time_ms: 0,
            parents: parents.to_vec(),
        }
    }

    #[test]
    fn causal_past_is_sorted_and_stops_at_confirmed() {
        let mut t = Tail::default();
        let (a, b, c, d) = (
            EntryHash([1; 32]),
            EntryHash([2; 32]),
            EntryHash([3; 32]),
            EntryHash([4; 32]),
        );
        let confirmed = EntryHash([9; 32]);
        t.insert(a, node(1, 1, 2, &[confirmed]));
        t.insert(b, node(2, 0, 3, &[a]));
        t.insert(c, node(3, 0, 2, &[confirmed]));
        t.insert(d, node(1, 2, 4, &[a, b]));
        assert_eq!(t.causal_past(&d), vec![a, b, d]);
        assert_eq!(t.in_order().collect::<Vec<_>>(), vec![a, c, b, d]);
        assert!(t.reaches(&d, &confirmed));
        assert!(!t.reaches(&c, &a));
    }

    #[test]
    fn single_indexer_anchors_follow_the_indexer_chain() {
        let mut t = Tail::default();
        let (a, b, x) = (EntryHash([1; 32]), EntryHash([2; 32]), EntryHash([5; 32]));
        let start = EntryHash([9; 32]);
        t.insert(x, node(2, 0, 2, &[start]));
        t.insert(b, node(1, 6, 4, &[a, x]));
        t.insert(a, node(1, 5, 3, &[]));
        let epoch = Epoch {
            number: 1,
            indexers: vec![MemberKey([1; 32])],
            start: Some(start),
        };
        // a does not reach the epoch's start; b does (through x).
        assert_eq!(SingleIndexer.next_anchor(&t, &epoch), Some(b));
        let epoch0 = Epoch {
            number: 0,
            indexers: vec![MemberKey([1; 32])],
            start: None,
        };
        assert_eq!(SingleIndexer.next_anchor(&t, &epoch0), Some(a));
        let none = Epoch {
            number: 0,
            indexers: vec![MemberKey([7; 32])],
            start: None,
        };
        assert_eq!(SingleIndexer.next_anchor(&t, &none), None);
    }
}
